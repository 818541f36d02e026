#include "diag/agents.hpp"
#include "diag/doctor/checks.hpp"
#include "server/auth/secret.hpp"

#include <algorithm>
#include <sstream>

namespace agproxy::diag::doctor {

CheckResult check_env_sdk(Context& context, CheckResult check) {
  auto var = [&](const char* name) -> std::optional<std::string> {
    auto value = context.env(name);
    return value && !value->empty() ? value : std::nullopt;
  };
  struct Client {
    std::string name;
    std::string path;
    std::vector<std::pair<std::string, std::string>> headers; // header, variable
    std::optional<std::string> base_url;
    std::string base_var;
    std::string note;
  };
  std::vector<Client> clients;
  if (var("OPENAI_API_KEY") || var("OPENAI_BASE_URL")) {
    Client c{"OpenAI SDK",           "/v1/chat/completions", {},
             var("OPENAI_BASE_URL"), "OPENAI_BASE_URL",      ""};
    if (var("OPENAI_API_KEY")) {
      c.headers.emplace_back("Authorization", "OPENAI_API_KEY");
    }
    clients.push_back(c);
  }
  if (var("ANTHROPIC_API_KEY") || var("ANTHROPIC_AUTH_TOKEN") || var("ANTHROPIC_BASE_URL")) {
    Client c{"Claude Code / @anthropic-ai/sdk", "/v1/messages",       {},
             var("ANTHROPIC_BASE_URL"),         "ANTHROPIC_BASE_URL", ""};
    if (var("ANTHROPIC_AUTH_TOKEN")) {
      c.headers.emplace_back("Authorization", "ANTHROPIC_AUTH_TOKEN");
    }
    if (var("ANTHROPIC_API_KEY")) {
      c.headers.emplace_back("x-api-key", "ANTHROPIC_API_KEY");
    }
    if (c.headers.size() == 2) {
      c.note = " (Claude Code and @anthropic-ai/sdk before 1.0 send both headers; 1.x sends one "
               "'Authorization: Bearer', the API key winning)";
    }
    clients.push_back(c);
  }
  if (var("GOOGLE_API_KEY") || var("GEMINI_API_KEY") || var("GOOGLE_GEMINI_BASE_URL")) {
    Client c{"@google/genai",
             "/v1beta/models/gemini:generateContent",
             {},
             var("GOOGLE_GEMINI_BASE_URL"),
             "GOOGLE_GEMINI_BASE_URL",
             ""};
    if (var("GOOGLE_API_KEY")) {
      c.headers.emplace_back("x-goog-api-key", "GOOGLE_API_KEY");
      if (var("GEMINI_API_KEY")) {
        c.note = " (GOOGLE_API_KEY wins over GEMINI_API_KEY)";
      }
    } else if (var("GEMINI_API_KEY")) {
      c.headers.emplace_back("x-goog-api-key", "GEMINI_API_KEY");
    }
    clients.push_back(c);
  }
  if (clients.empty()) {
    check.summary = "skipped: no OPENAI_*, ANTHROPIC_* or GEMINI/GOOGLE_* variables set";
    return check;
  }
  const std::optional<AuthMode> mode = context.enforced_mode();
  const auto key = context.options.key ? context.options.key : context.configured_key();
  std::vector<std::string> failures, warnings, lines;
  for (const Client& c : clients) {
    ClientRequest request;
    std::vector<std::string> sent;
    for (const auto& [header, variable] : c.headers) {
      const std::string value = *var(variable.c_str());
      request.headers.push_back({header, header == "Authorization" ? "Bearer " + value : value});
      sent.push_back(header + " from " + variable + " " + describe_key(value));
    }
    std::string line =
        c.name + " sends " + (sent.empty() ? "no key" : join(sent, " and ")) + c.note;
    if (mode && key) {
      const AuthDecision decision =
          decide(AuthPolicy(*mode, *key), to_auth_request(request, "POST", c.path));
      if (!decision.allowed) {
        std::string problem =
            c.name + ": the proxy would answer 401 " + std::string(to_string(decision.reason));
        if (decision.header_read && !decision.headers_ignored.empty()) {
          problem += " (it reads " + std::string(header_name(*decision.header_read)) + " first; " +
                     std::string(header_name(decision.headers_ignored[0])) + " is ignored)";
        }
        failures.push_back(problem);
      }
    }
    if (c.base_url) {
      auto base = parse_url(*c.base_url);
      if (!base) {
        warnings.push_back(c.base_var + "=" + mask_url(*c.base_url) + " is not a URL");
      } else if (context.reachable() && !same_endpoint(*base, context.target)) {
        warnings.push_back(c.base_var + " points at " + base->base + ", not the proxy at " +
                           context.target.base + ": that client's 401 comes from there");
      } else if (c.base_var == "OPENAI_BASE_URL" && !url_path(*c.base_url).starts_with("/v1")) {
        warnings.push_back("OPENAI_BASE_URL should end in /v1 (" + context.target.base + "/v1)");
      }
    } else if (!c.headers.empty()) {
      warnings.push_back(c.base_var + " is unset: " + c.name +
                         " calls the provider directly, "
                         "not the proxy");
    }
    lines.push_back(line);
  }
  if (!failures.empty()) {
    check.status = CheckStatus::fail;
    check.summary = failures.front();
    check.detail = join(lines, "; ") + ". " + join(failures, "; ") +
                   (warnings.empty() ? "" : ". Also: " + join(warnings, "; "));
    check.fix = "set the variables to the proxy key (agproxy key show --reveal" +
                context.config_flag() +
                "), and unset the ones that should not be sent (e.g. unset ANTHROPIC_AUTH_TOKEN)";
    return check;
  }
  check.status = warnings.empty() ? CheckStatus::pass : CheckStatus::warn;
  check.summary = warnings.empty() ? "the SDKs' variables send the proxy key" : warnings.front();
  check.detail = join(lines, "; ") + (warnings.size() > 1 ? ". Also: " + join(warnings, "; ") : "");
  if (!warnings.empty()) {
    check.fix = "export OPENAI_BASE_URL=" + context.target.base +
                "/v1 ANTHROPIC_BASE_URL=" + context.target.base +
                " GOOGLE_GEMINI_BASE_URL=" + context.target.base;
  }
  return check;
}

// The coding agents' own settings (DESIGN §9), read as `agproxy client show` reads them.
CheckResult check_env_agents(Context& context, CheckResult check) {
  const std::optional<std::string> home = context.env("HOME");
  if (!home || home->empty()) {
    check.summary = "skipped: HOME is not set, so no agent's settings can be read";
    return check;
  }
  const auto key = context.options.key ? context.options.key : context.configured_key();
  std::vector<std::string> failures, fixes, lines;
  for (const agents::Agent agent : agents::all_agents()) {
    const std::string name(agents::to_string(agent));
    if (context.options.client && *context.options.client != name) {
      continue;
    }
    const agents::Wiring wiring = agents::read_wiring(agent, *home, context.env);
    const bool configured = std::any_of(wiring.files.begin(), wiring.files.end(),
                                        [](const auto& file) { return file.second; });
    const bool at_proxy =
        wiring.base_url && wiring.base_url->value.starts_with(context.target.base);
    if (!at_proxy) {
      if (configured || wiring.base_url) {
        lines.push_back(name + " is not pointed at this proxy" +
                        (wiring.base_url ? " (" + mask_url(wiring.base_url->value) + " from " +
                                               wiring.base_url->source + ")"
                                         : ""));
      }
      continue;
    }
    for (const agents::Trap& trap : wiring.traps) {
      failures.push_back(name + ": " + trap.message);
      fixes.push_back(trap.fix);
    }
    if (wiring.key && key && wiring.key->value != *key) {
      failures.push_back(name + " sends " + describe_key(wiring.key->value) + " from " +
                         wiring.key->source + ", not the proxy key " + describe_key(*key));
      fixes.push_back("agproxy client setup " + name + context.config_flag());
    } else if (wiring.traps.empty() && wiring.key) {
      lines.push_back(name + " sends the proxy key (" + join(wiring.headers, ", ") + ", from " +
                      wiring.key->source + ")");
    }
  }
  if (!failures.empty()) {
    check.status = CheckStatus::fail;
    check.summary = failures.front();
    check.detail = join(failures, "; ") + (lines.empty() ? "" : ". Also: " + join(lines, "; "));
    check.fix = join(fixes, "; ");
    return check;
  }
  if (lines.empty()) {
    check.summary = "skipped: no coding agent (Claude Code, Codex CLI, Gemini CLI) is set up here";
    return check;
  }
  const bool any_at_proxy = std::any_of(lines.begin(), lines.end(), [](const std::string& line) {
    return line.find("sends the proxy key") != std::string::npos;
  });
  check.status = any_at_proxy ? CheckStatus::pass : CheckStatus::skip;
  check.summary = any_at_proxy ? "the coding agents pointed at the proxy send its key"
                               : "skipped: no coding agent is pointed at this proxy";
  check.detail = join(lines, "; ");
  return check;
}

CheckResult check_env_http_proxy(Context& context, CheckResult check) {
  const bool https = context.target.scheme == "https";
  std::optional<std::pair<std::string, std::string>> proxy;
  const std::vector<const char*> names =
      https ? std::vector<const char*>{"HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"}
            : std::vector<const char*>{"HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"};
  for (const char* name : names) {
    if (auto value = context.env(name); value && !value->empty()) {
      proxy = std::make_pair(std::string(name), *value);
      break;
    }
  }
  if (!proxy) {
    check.status = CheckStatus::pass;
    check.summary = "no " + std::string(https ? "HTTPS_PROXY" : "HTTP_PROXY") + " or ALL_PROXY set";
    return check;
  }
  std::string no_proxy = context.env("NO_PROXY").value_or(context.env("no_proxy").value_or(""));
  bool covered = false;
  std::stringstream entries(no_proxy);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    entry.erase(0, entry.find_first_not_of(" \t"));
    entry.erase(entry.find_last_not_of(" \t") + 1);
    if (entry.empty()) {
      continue;
    }
    const std::string host =
        entry.substr(0, entry.rfind(':') == std::string::npos || entry.find(':') != entry.rfind(':')
                            ? std::string::npos
                            : entry.rfind(':'));
    const std::string bare = host.starts_with(".") ? host.substr(1) : host;
    covered = covered || entry == "*" || bare == context.target.host ||
              (context.target.host.ends_with("." + bare)) ||
              (context.target.host.starts_with("127.") &&
               (entry == "127.0.0.0/8" || entry == "127.0.0.1/8"));
  }
  if (covered) {
    check.status = CheckStatus::pass;
    check.summary = proxy->first + " is set, and NO_PROXY covers " + context.target.host;
    return check;
  }
  check.status = CheckStatus::fail;
  check.summary = proxy->first + "=" + mask_url(proxy->second) +
                  " is set and NO_PROXY does not "
                  "cover " +
                  context.target.host;
  check.detail = "SDKs (Python httpx/requests, Node with a proxy agent, Go) send requests for " +
                 context.target.base +
                 " to that proxy, which answers for itself (401/407/502) or "
                 "cannot reach your loopback address at all. The doctor's own probes bypass it.";
  check.fix = "export NO_PROXY=127.0.0.1,localhost,::1" + (no_proxy.empty() ? "" : "," + no_proxy);
  return check;
}

} // namespace agproxy::diag::doctor
