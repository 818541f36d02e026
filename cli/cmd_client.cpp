#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "diag/agents.hpp"
#include "diag/doctor.hpp"
#include "diag/http_probe.hpp"
#include "server/auth/secret.hpp"
#include "server/protocols/echo.hpp"
#include "server/upstream/forward.hpp"
#include "server/upstream/routing.hpp"

#include <iostream>
#include <memory>

namespace agproxy::cli {

namespace {

struct ClientFlags {
  CommonOptions common;
  std::string agent;
  bool dry_run = false;
  // ROLE=MODEL entries of --model-map.
  std::vector<std::string> model_map;
};

// Return the home directory the agents read their settings from.
std::string home_directory(const Environment& env) {
  const std::optional<std::string> home = env("HOME");
  if (!home || home->empty()) {
    throw Error("HOME is not set; the agents' settings live under it");
  }
  return *home;
}

// The proxy as the agents should reach it: its local URL and its key, read as `agproxy key show`
// reads them. `required` makes a missing config file an error.
struct ProxyView {
  std::string config_path;
  std::optional<agents::ProxyTarget> target;
  // What the proxy serves, to check a model map against.
  std::vector<Upstream> upstreams;
  bool echo_model = false;
};

ProxyView read_proxy(const ClientFlags& flags, const Environment& env, bool required) {
  const ConfigLocation location = locate_config(flags.common.config_path, env);
  ProxyView view{location.path, std::nullopt, {}, false};
  const ConfigDocument document = load_config(location.path);
  const EffectiveSettings effective = apply_overrides(document.settings, env, {});
  const bool key_from_env = env("AGPROXY_API_KEY").has_value();
  if ((!document.exists && !key_from_env) || !effective.settings.api_key_present ||
      effective.settings.api_key.empty()) {
    if (required) {
      throw Error(
          (document.exists ? "proxy.api_key is not set in " : "no config file at ") +
          location.path +
          "; create one with 'agproxy config init' (or 'agproxy key regenerate'), then run this "
          "again");
    }
    return view;
  }
  view.target = agents::ProxyTarget{"http://127.0.0.1:" + std::to_string(effective.settings.port),
                                    effective.settings.api_key, "", ""};
  view.upstreams = effective.settings.upstreams;
  view.echo_model = effective.settings.echo_model.value_or(effective.settings.upstreams.empty());
  return view;
}

agents::Agent agent_named(const std::string& name) {
  if (auto agent = agents::parse_agent(name)) {
    return *agent;
  }
  throw Error("unknown agent '" + name + "' (one of: claude-code, codex, gemini-cli)");
}

// The API family each agent speaks, for checking that the proxy serves a model to it.
Protocol family_of_agent(agents::Agent agent) {
  switch (agent) {
  case agents::Agent::claude_code:
    return Protocol::anthropic;
  case agents::Agent::codex:
    return Protocol::openai_responses;
  case agents::Agent::gemini_cli:
    break;
  }
  return Protocol::gemini;
}

// Set the models of --model-map (main=MODEL, fast=MODEL) in `target`, each one the proxy serves to
// `agent`'s family (an upstream's models or model_map, translated if need be, or the echo model).
void apply_model_map(const ClientFlags& flags, agents::Agent agent, const ProxyView& proxy,
                     agents::ProxyTarget& target) {
  for (const std::string& entry : flags.model_map) {
    const size_t equals = entry.find('=');
    const std::string role = entry.substr(0, equals);
    const std::string model = equals == std::string::npos ? "" : entry.substr(equals + 1);
    if (model.empty() || (role != "main" && role != "fast")) {
      throw diag::UsageError("--model-map takes main=MODEL or fast=MODEL, not '" + entry + "'");
    }
    if (role == "fast" && agent != agents::Agent::claude_code) {
      throw diag::UsageError("--model-map fast=MODEL is Claude Code's small fast model; " +
                             std::string(agents::to_string(agent)) + " has none");
    }
    const bool echo = proxy.echo_model && model == k_echo_model;
    if (!echo && !choose_upstream(proxy.upstreams, family_of_agent(agent), model, true)) {
      throw Error("no upstream in " + proxy.config_path + " serves model '" + model +
                  "'; list it in an upstream's models or model_map (proxy.upstreams), or choose "
                  "one that is (agproxy config show)");
    }
    (role == "main" ? target.model : target.fast_model) = model;
  }
}

int setup(const ClientFlags& flags) {
  const Environment env = process_environment();
  const agents::Agent agent = agent_named(flags.agent);
  const std::string home = home_directory(env);
  const ProxyView proxy = read_proxy(flags, env, true);
  agents::ProxyTarget target = *proxy.target;
  try {
    apply_model_map(flags, agent, proxy, target);
  } catch (const diag::UsageError& e) {
    print_error(e.what());
    return k_exit_usage;
  }
  const std::vector<agents::FileChange> changes = agents::plan_setup(agent, home, target);
  bool changed = false;
  for (const agents::FileChange& change : changes) {
    if (!change.changes()) {
      std::cout << change.path << ": no change\n";
      continue;
    }
    changed = true;
    std::cout << agents::render_diff(change, {target.key});
    for (const std::string& removed : change.removed) {
      std::cout << "removed " << removed << "\n";
    }
  }
  if (!changed) {
    std::cout << "no change: " << agents::to_string(agent) << " already uses the proxy at "
              << target.url << "\n";
    return k_exit_ok;
  }
  if (flags.dry_run) {
    std::cout << "dry run: nothing written\n";
    return k_exit_ok;
  }
  agents::apply_setup(changes);
  for (const agents::FileChange& change : changes) {
    if (change.changes()) {
      std::cout << "wrote " << change.path << " (mode 0600; 'agproxy client undo "
                << agents::to_string(agent) << "' restores the original)\n";
    }
  }
  return k_exit_ok;
}

int undo(const ClientFlags& flags) {
  const Environment env = process_environment();
  const agents::Agent agent = agent_named(flags.agent);
  const std::vector<agents::UndoStep> steps = agents::plan_undo(agent, home_directory(env));
  if (steps.empty()) {
    std::cout << "nothing to undo: no agproxy backup of " << agents::to_string(agent)
              << "'s settings\n";
    return k_exit_ok;
  }
  // No diff here: the backup holds whatever keys the user had before, which agproxy cannot tell
  // apart from other values to mask them.
  agents::apply_undo(steps);
  for (const agents::UndoStep& step : steps) {
    if (step.remove) {
      std::cout << "removed " << step.change.path << " (agproxy client setup created it)\n";
    } else {
      std::cout << "restored " << step.change.path << " from "
                << agents::backup_path(step.change.path) << "\n";
    }
  }
  return k_exit_ok;
}

// What the running proxy said to the agent's key: nothing when the agent is not pointed at the
// proxy or sends no key.
struct Verdict {
  bool reached = false;
  int status = 0;
  std::string reason; // x-agproxy-reason of a 401
};

// Ask the running proxy whether it accepts the key `wiring` sends, as the agent sends it (the
// header the proxy reads first), with one GET of its model list.
std::optional<Verdict> ask_proxy(const agents::Wiring& wiring,
                                 const std::optional<agents::ProxyTarget>& proxy) {
  if (!proxy || !wiring.key || !wiring.base_url ||
      !wiring.base_url->value.starts_with(proxy->url) || wiring.headers.empty()) {
    return std::nullopt;
  }
  const std::string& header = wiring.headers.front();
  diag::ProbeRequest request;
  request.url = proxy->url + "/v1/models";
  if (header.starts_with("Authorization")) {
    request.headers.emplace_back("Authorization", "Bearer " + wiring.key->value);
  } else {
    request.headers.emplace_back(header, wiring.key->value);
  }
  diag::CurlProber prober;
  const diag::ProbeResponse response = prober.send(request);
  Verdict verdict;
  verdict.reached = response.error == diag::TransportError::none;
  verdict.status = response.status;
  verdict.reason = response.header("x-agproxy-reason").value_or("");
  return verdict;
}

// Return `verdict` in words.
std::string describe(const Verdict& verdict, const std::string& url) {
  if (!verdict.reached) {
    return "the proxy at " + url + " is not running (start it: agproxy serve)";
  }
  if (verdict.status == 200) {
    return "accepted by the running proxy";
  }
  return "REFUSED by the running proxy: " + std::to_string(verdict.status) +
         (verdict.reason.empty() ? "" : " " + verdict.reason) + " (agproxy doctor 401 tells why)";
}

// Return `wiring` as JSON for `client show --json`; keys only masked and fingerprinted.
nlohmann::json wiring_json(const agents::Wiring& wiring,
                           const std::optional<agents::ProxyTarget>& proxy) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& [path, exists] : wiring.files) {
    files.push_back({{"path", path}, {"exists", exists}});
  }
  nlohmann::json out = {{"agent", agents::to_string(wiring.agent)},
                        {"files", files},
                        {"headers", wiring.headers},
                        {"base_url", nullptr},
                        {"key", nullptr}};
  if (wiring.base_url) {
    out["base_url"] = {{"value", mask_url(wiring.base_url->value)},
                       {"source", wiring.base_url->source},
                       {"is_proxy", proxy && wiring.base_url->value.starts_with(proxy->url)}};
  }
  if (wiring.key) {
    out["key"] = {{"masked", mask_secret(wiring.key->value)},
                  {"fingerprint", fingerprint(wiring.key->value)},
                  {"source", wiring.key->source},
                  {"matches_proxy_key", proxy ? nlohmann::json(wiring.key->value == proxy->key)
                                              : nlohmann::json(nullptr)}};
  }
  out["traps"] = nlohmann::json::array();
  for (const agents::Trap& trap : wiring.traps) {
    out["traps"].push_back({{"id", trap.id}, {"message", trap.message}, {"fix", trap.fix}});
  }
  out["notes"] = wiring.notes;
  out["running_proxy"] = nullptr;
  if (const std::optional<Verdict> verdict = ask_proxy(wiring, proxy)) {
    out["running_proxy"] = {
        {"reached", verdict->reached},
        {"status", verdict->reached ? nlohmann::json(verdict->status) : nlohmann::json(nullptr)},
        {"accepted", verdict->reached && verdict->status == 200},
        {"reason", verdict->reason}};
  }
  return out;
}

// Print `wiring` for a person.
void print_wiring(const agents::Wiring& wiring, const std::optional<agents::ProxyTarget>& proxy) {
  std::cout << agents::to_string(wiring.agent) << "\n";
  for (const auto& [path, exists] : wiring.files) {
    std::cout << "  file:     " << path << (exists ? "" : " (none)") << "\n";
  }
  if (wiring.base_url) {
    std::cout << "  base URL: " << mask_url(wiring.base_url->value) << "  ("
              << wiring.base_url->source << ")";
    if (proxy) {
      std::cout << (wiring.base_url->value.starts_with(proxy->url) ? "  the proxy"
                                                                   : "  not the proxy");
    }
    std::cout << "\n";
  }
  std::string headers;
  for (const std::string& header : wiring.headers) {
    headers += (headers.empty() ? "" : " and ") + header;
  }
  std::cout << "  sends:    " << (wiring.key ? headers : "no key") << "\n";
  if (wiring.key) {
    std::cout << "  key:      " << mask_secret(wiring.key->value) << " (sha256 "
              << fingerprint(wiring.key->value) << ", " << wiring.key->source << ")";
    if (proxy) {
      std::cout << (wiring.key->value == proxy->key ? "  matches the proxy key"
                                                    : "  NOT the proxy key");
    }
    std::cout << "\n";
    if (const std::optional<Verdict> verdict = ask_proxy(wiring, proxy)) {
      std::cout << "  proxy:    " << describe(*verdict, proxy->url) << "\n";
    }
  }
  for (const agents::Trap& trap : wiring.traps) {
    std::cout << "  ✗ " << trap.message << "\n    fix: " << trap.fix << "\n";
  }
  for (const std::string& note : wiring.notes) {
    std::cout << "  note: " << note << "\n";
  }
}

int show(const ClientFlags& flags) {
  const Environment env = process_environment();
  std::vector<agents::Agent> selected = agents::all_agents();
  if (!flags.agent.empty()) {
    selected = {agent_named(flags.agent)};
  }
  const std::string home = home_directory(env);
  const ProxyView proxy = read_proxy(flags, env, false);
  std::vector<agents::Wiring> wirings;
  for (agents::Agent agent : selected) {
    wirings.push_back(agents::read_wiring(agent, home, env));
  }
  if (flags.common.json) {
    nlohmann::json out = {{"config", proxy.config_path}, {"proxy", nullptr}};
    if (proxy.target) {
      out["proxy"] = {{"url", proxy.target->url},
                      {"key", mask_secret(proxy.target->key)},
                      {"fingerprint", fingerprint(proxy.target->key)}};
    }
    out["agents"] = nlohmann::json::array();
    for (const agents::Wiring& wiring : wirings) {
      out["agents"].push_back(wiring_json(wiring, proxy.target));
    }
    std::cout << out.dump() << "\n";
    return k_exit_ok;
  }
  if (proxy.target) {
    std::cout << "proxy: " << proxy.target->url << ", key " << mask_secret(proxy.target->key)
              << " (sha256 " << fingerprint(proxy.target->key) << ", " << proxy.config_path
              << ")\n";
  } else {
    std::cout << "proxy: no key configured at " << proxy.config_path
              << " (keys cannot be compared)\n";
  }
  for (const agents::Wiring& wiring : wirings) {
    std::cout << "\n";
    print_wiring(wiring, proxy.target);
  }
  return k_exit_ok;
}

} // namespace

void add_client_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ClientFlags>();
  const std::vector<std::string> names = {"claude-code", "codex", "gemini-cli"};
  CLI::App* client =
      app.add_subcommand("client", "Wire coding agents (Claude Code, Codex CLI, Gemini CLI) to the "
                                   "proxy, and show how they are wired");
  client->require_subcommand(1);
  client->footer("Exit status: 0 success, 1 error (no proxy key, a settings file that does not "
                 "parse or cannot be written), 2 usage error.");

  CLI::App* setup_command = client->add_subcommand(
      "setup", "Write the agent's own settings so that it uses the proxy and its key (backup, "
               "atomic write, mode 0600); print the change as a diff, keys masked");
  setup_command->add_option("AGENT", flags->agent, "claude-code, codex or gemini-cli")
      ->required()
      ->check(CLI::IsMember(names));
  setup_command->add_flag("--dry-run", flags->dry_run, "Print the diff only; write nothing");
  setup_command
      ->add_option("--model-map", flags->model_map,
                   "main=MODEL (and for Claude Code fast=MODEL): set the model the agent asks for "
                   "to one the proxy serves (repeatable)")
      ->type_name("ROLE=MODEL");
  add_config_option(*setup_command, flags->common);
  setup_command->callback([flags, &exit_code] { exit_code = setup(*flags); });

  CLI::App* show_command = client->add_subcommand(
      "show", "Print each agent's wiring as it will read it: base URL, header, key fingerprint, "
              "whether it is the proxy key, traps");
  show_command->add_option("AGENT", flags->agent, "Only this agent")->check(CLI::IsMember(names));
  add_config_option(*show_command, flags->common);
  add_json_option(*show_command, flags->common, "the agents' wiring");
  show_command->callback([flags, &exit_code] { exit_code = show(*flags); });

  CLI::App* undo_command = client->add_subcommand(
      "undo", "Restore the agent's settings files from the backups client setup made");
  undo_command->add_option("AGENT", flags->agent, "claude-code, codex or gemini-cli")
      ->required()
      ->check(CLI::IsMember(names));
  undo_command->callback([flags, &exit_code] { exit_code = undo(*flags); });
}

} // namespace agproxy::cli
