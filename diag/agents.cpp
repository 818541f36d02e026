#include "diag/agents.hpp"

#include "server/auth/secret.hpp"
#include "server/config/files.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <system_error>
#include <toml++/toml.h>

namespace agproxy::agents {

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr const char* k_provider_id = "agproxy";

// Return `text` split into lines (without their '\n'); a final newline adds no empty line.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) {
    lines.push_back(line);
  }
  return lines;
}

// Return `lines` joined with '\n', ending with one.
std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) {
    text += line + "\n";
  }
  return text;
}

// Return the JSON object in the file `text`, or an empty one when there is no file. JSON with
// comments is accepted (Gemini CLI allows them); they are not kept when the file is rewritten.
ordered_json parse_json_object(const std::optional<std::string>& text, const std::string& path) {
  if (!text || text->find_first_not_of(" \t\r\n") == std::string::npos) {
    return ordered_json::object();
  }
  ordered_json document;
  try {
    document = ordered_json::parse(*text, nullptr, true, true);
  } catch (const nlohmann::json::parse_error& e) {
    // The parser's message can quote the text around the error, which may hold a key.
    throw Error(path + " is not valid JSON (byte " + std::to_string(e.byte) +
                "); fix it or move it away, then run the command again");
  }
  if (!document.is_object()) {
    throw Error(path + " does not hold a JSON object; fix it or move it away");
  }
  return document;
}

// Return `document` as the file's new text, or the old text when nothing changed in meaning.
std::string json_text(const ordered_json& document, const std::optional<std::string>& before,
                      const std::string& path) {
  if (before && parse_json_object(before, path) == document) {
    return *before;
  }
  return document.dump(2) + "\n";
}

// Return the string at `document[key]`, or nothing.
std::optional<std::string> string_at(const ordered_json& object, const std::string& key) {
  if (object.is_object() && object.contains(key) && object[key].is_string()) {
    return object[key].get<std::string>();
  }
  return std::nullopt;
}

// Return `value` as a TOML basic string.
std::string toml_string(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

// Return the settings read from `path`'s text; throws Error naming the file when it is not TOML.
toml::table parse_toml(const std::string& text, const std::string& path) {
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    throw Error(path + " is not valid TOML (line " + std::to_string(e.source().begin.line) + ": " +
                std::string(e.description()) + "); fix it, then run the command again");
  }
}

const std::regex k_table_header(R"(^\s*\[.*$)");
const std::regex k_agproxy_header(
    R"(^\s*\[\s*model_providers\s*\.\s*("agproxy"|'agproxy'|agproxy)\s*\]\s*(#.*)?$)");

// Return the regex matching a line that assigns `key` (bare or quoted).
std::regex key_line(const std::string& key) {
  return std::regex("^\\s*(" + key + "|\"" + key + "\"|'" + key + "')\\s*=.*$");
}

// Return the index of the first line in [from, to) that matches `pattern`, or `to`.
size_t find_line(const std::vector<std::string>& lines, size_t from, size_t to,
                 const std::regex& pattern) {
  for (size_t i = from; i < to; ++i) {
    if (std::regex_match(lines[i], pattern)) {
      return i;
    }
  }
  return to;
}

// Return the index one past the last line in [from, to) that is neither blank nor a comment.
size_t end_of_content(const std::vector<std::string>& lines, size_t from, size_t to) {
  size_t end = from;
  for (size_t i = from; i < to; ++i) {
    const size_t first = lines[i].find_first_not_of(" \t\r");
    if (first != std::string::npos && lines[i][first] != '#') {
      end = i + 1;
    }
  }
  return end;
}

// Codex CLI: `model_provider = "agproxy"` at the top level and a [model_providers.agproxy] table.
// toml++ drops comments and reorders tables when it writes, so the text is edited line by line
// where agproxy's settings live, and the result is parsed again and checked before it is used.
FileChange plan_codex(const std::string& home, const ProxyTarget& target) {
  FileChange change;
  change.path = home + "/.codex/config.toml";
  change.before = read_file_if_exists(change.path);
  const std::string before = change.before.value_or("");
  const toml::table old_settings = parse_toml(before, change.path);
  if (auto token = old_settings.at_path("model_providers.agproxy.experimental_bearer_token")
                       .value<std::string>()) {
    change.secrets.push_back(*token);
  }

  const std::vector<std::pair<std::string, std::string>> wanted = {
      {"name", toml_string(k_provider_id)},
      {"base_url", toml_string(target.url + "/v1")},
      {"wire_api", toml_string("responses")},
      {"experimental_bearer_token", toml_string(target.key)},
  };
  std::vector<std::string> lines = split_lines(before);

  // The agproxy table: replace or add agproxy's keys, drop env_key (Codex prefers it to the
  // token, and fails when it names an unset variable).
  size_t header = find_line(lines, 0, lines.size(), k_agproxy_header);
  if (header == lines.size()) {
    if (!lines.empty() && !lines.back().empty()) {
      lines.emplace_back();
    }
    lines.push_back("[model_providers.agproxy]");
    for (const auto& [key, value] : wanted) {
      lines.push_back(key + " = " + value);
    }
  } else {
    auto body_end = [&] {
      return find_line(lines, header + 1, lines.size(), k_table_header);
    };
    const size_t env_key = find_line(lines, header + 1, body_end(), key_line("env_key"));
    if (env_key != body_end()) {
      lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(env_key));
      change.removed.push_back("env_key (Codex reads the key from that variable instead of "
                               "experimental_bearer_token, and fails when it is unset)");
    }
    for (const auto& [key, value] : wanted) {
      const size_t end = body_end();
      const size_t at = find_line(lines, header + 1, end, key_line(key));
      if (at != end) {
        lines[at] = key + " = " + value;
      } else {
        const size_t content_end = end_of_content(lines, header + 1, end);
        lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(content_end), key + " = " + value);
      }
    }
  }

  // The top-level keys choosing the provider (and, with a model map, the model).
  std::vector<std::pair<std::string, std::string>> top = {
      {"model_provider", toml_string(k_provider_id)}};
  if (!target.model.empty()) {
    top.emplace_back("model", toml_string(target.model));
  }
  for (const auto& [key, value] : top) {
    const size_t first_table = find_line(lines, 0, lines.size(), k_table_header);
    const std::string line = key + " = " + value;
    const size_t current = find_line(lines, 0, first_table, key_line(key));
    if (current != first_table) {
      lines[current] = line;
    } else {
      const size_t at = end_of_content(lines, 0, first_table);
      lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at), line);
      if (at == 0 && lines.size() > 1 && !lines[1].empty()) {
        lines.insert(lines.begin() + 1, "");
      }
    }
  }
  change.after = join_lines(lines);
  if (change.before && change.before == change.after) {
    return change;
  }

  // Check the edit did what it meant to; a file laid out in a way the line edit cannot follow
  // (dotted keys, an inline table, multi-line values) is left alone.
  const toml::table settings = parse_toml(change.after, change.path + " (as edited)");
  const toml::table* table = settings.at_path("model_providers.agproxy").as_table();
  const bool ok = settings["model_provider"].value<std::string>() == k_provider_id && table &&
                  (*table)["base_url"].value<std::string>() == target.url + "/v1" &&
                  (*table)["experimental_bearer_token"].value<std::string>() == target.key &&
                  (*table)["wire_api"].value<std::string>() == "responses" &&
                  !table->contains("env_key") &&
                  (target.model.empty() || settings["model"].value<std::string>() == target.model);
  if (!ok) {
    throw Error("cannot edit " + change.path +
                " safely (agproxy's settings are laid out in a way this command does not edit); "
                "set model_provider = \"agproxy\" and a [model_providers.agproxy] table with "
                "base_url = \"" +
                target.url +
                "/v1\", wire_api = \"responses\" and experimental_bearer_token = <the proxy key "
                "from 'agproxy key show --reveal'> by hand");
  }
  return change;
}

// Claude Code: ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY (sent as x-api-key) in the settings'
// `env` block. ANTHROPIC_AUTH_TOKEN and apiKeyHelper go: with them Claude Code also sends
// Authorization, which the proxy reads first.
FileChange plan_claude(const std::string& home, const ProxyTarget& target) {
  FileChange change;
  change.path = home + "/.claude/settings.json";
  change.before = read_file_if_exists(change.path);
  ordered_json settings = parse_json_object(change.before, change.path);
  if (settings.contains("env") && !settings["env"].is_object()) {
    throw Error(change.path + ": \"env\" is not an object; fix it, then run the command again");
  }
  ordered_json& env = settings["env"];
  if (env.is_null()) {
    env = ordered_json::object();
  }
  for (const char* name : {"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"}) {
    if (auto value = string_at(env, name)) {
      change.secrets.push_back(*value);
    }
  }
  env["ANTHROPIC_BASE_URL"] = target.url;
  env["ANTHROPIC_API_KEY"] = target.key;
  if (!target.model.empty()) {
    env["ANTHROPIC_MODEL"] = target.model;
  }
  if (!target.fast_model.empty()) {
    // The older and the newer name of the small fast model's variable.
    env["ANTHROPIC_SMALL_FAST_MODEL"] = target.fast_model;
    env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] = target.fast_model;
  }
  if (env.erase("ANTHROPIC_AUTH_TOKEN") > 0) {
    change.removed.push_back("env.ANTHROPIC_AUTH_TOKEN (Claude Code would also send it as "
                             "Authorization: Bearer, which the proxy reads first)");
  }
  if (settings.erase("apiKeyHelper") > 0) {
    change.removed.push_back("apiKeyHelper (its key would go out as Authorization too)");
  }
  change.after = json_text(settings, change.before, change.path);
  return change;
}

// Gemini CLI: the API-key auth type in settings.json.
FileChange plan_gemini_settings(const std::string& home, const ProxyTarget& target) {
  FileChange change;
  change.path = home + "/.gemini/settings.json";
  change.before = read_file_if_exists(change.path);
  ordered_json settings = parse_json_object(change.before, change.path);
  const bool bad_security = settings.contains("security") && !settings["security"].is_object();
  if (bad_security || (settings.contains("security") && settings["security"].contains("auth") &&
                       !settings["security"]["auth"].is_object())) {
    throw Error(change.path + ": \"security.auth\" is not an object; fix it first");
  }
  settings["security"]["auth"]["selectedType"] = "gemini-api-key";
  if (!target.model.empty()) {
    if (settings.contains("model") && !settings["model"].is_object()) {
      throw Error(change.path + ": \"model\" is not an object; fix it first");
    }
    settings["model"]["name"] = target.model;
  }
  change.after = json_text(settings, change.before, change.path);
  return change;
}

// Return the variable a .env line assigns, or "" (comments, blank or other lines).
std::string dotenv_name(const std::string& line) {
  static const std::regex assignment(R"(^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=.*$)");
  std::smatch match;
  return std::regex_match(line, match, assignment) ? match[1].str() : "";
}

// Return the value a .env line assigns, without quotes.
std::string dotenv_value(const std::string& line) {
  std::string value = line.substr(line.find('=') + 1);
  const size_t first = value.find_first_not_of(" \t");
  value = first == std::string::npos ? "" : value.substr(first);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r')) {
    value.pop_back();
  }
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front()) {
    value = value.substr(1, value.size() - 2);
  }
  return value;
}

// Return the variables a .env file's text assigns, last assignment winning.
std::vector<std::pair<std::string, std::string>> parse_dotenv(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> values;
  for (const std::string& line : split_lines(text)) {
    const std::string name = dotenv_name(line);
    if (name.empty()) {
      continue;
    }
    const std::string value = dotenv_value(line);
    auto existing = std::find_if(values.begin(), values.end(),
                                 [&](const auto& entry) { return entry.first == name; });
    if (existing != values.end()) {
      existing->second = value;
    } else {
      values.emplace_back(name, value);
    }
  }
  return values;
}

// Gemini CLI: GEMINI_API_KEY (sent as x-goog-api-key) and GOOGLE_GEMINI_BASE_URL in ~/.gemini/.env.
FileChange plan_gemini_env(const std::string& home, const ProxyTarget& target) {
  FileChange change;
  change.path = home + "/.gemini/.env";
  change.before = read_file_if_exists(change.path);
  const std::vector<std::pair<std::string, std::string>> wanted = {
      {"GEMINI_API_KEY", target.key}, {"GOOGLE_GEMINI_BASE_URL", target.url}};
  const std::vector<std::pair<std::string, std::string>> conflicting = {
      {"GOOGLE_API_KEY", "a second key; Google's SDK prefers it to GEMINI_API_KEY"},
      {"GOOGLE_GENAI_USE_VERTEXAI", "sends Gemini CLI to Vertex AI instead"},
      {"GOOGLE_GENAI_USE_GCA", "sends Gemini CLI to Google login instead"}};
  std::vector<std::string> lines;
  std::vector<std::string> written;
  for (const std::string& line : split_lines(change.before.value_or(""))) {
    const std::string name = dotenv_name(line);
    if (name == "GEMINI_API_KEY" || name == "GOOGLE_API_KEY") {
      change.secrets.push_back(dotenv_value(line));
    }
    auto conflict = std::find_if(conflicting.begin(), conflicting.end(),
                                 [&](const auto& entry) { return entry.first == name; });
    if (conflict != conflicting.end()) {
      change.removed.push_back(name + " (" + conflict->second + ")");
      continue;
    }
    auto want = std::find_if(wanted.begin(), wanted.end(),
                             [&](const auto& entry) { return entry.first == name; });
    if (want == wanted.end()) {
      lines.push_back(line);
    } else if (std::find(written.begin(), written.end(), name) == written.end()) {
      lines.push_back(name + "=" + want->second);
      written.push_back(name);
    }
  }
  for (const auto& [name, value] : wanted) {
    if (std::find(written.begin(), written.end(), name) == written.end()) {
      lines.push_back(name + "=" + value);
    }
  }
  change.after = join_lines(lines);
  return change;
}

// The files agproxy may change for `agent`.
std::vector<std::string> agent_files(Agent agent, const std::string& home) {
  switch (agent) {
  case Agent::claude_code:
    return {home + "/.claude/settings.json"};
  case Agent::codex:
    return {home + "/.codex/config.toml"};
  case Agent::gemini_cli:
    return {home + "/.gemini/settings.json", home + "/.gemini/.env"};
  }
  return {};
}

// Return `path` with the home directory shown as "~".
std::string shown_path(const std::string& path, const std::string& home) {
  if (!home.empty() && path.starts_with(home + "/")) {
    return "~" + path.substr(home.size());
  }
  return path;
}

// Return `text` with every secret of `secrets` replaced by its masked form.
std::string masked(std::string text, const std::vector<std::string>& secrets) {
  std::vector<std::string> sorted = secrets;
  // Longer secrets first, so that one holding another is masked whole.
  std::sort(sorted.begin(), sorted.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& secret : sorted) {
    if (secret.size() < 6) {
      continue; // too short to find without masking unrelated text; such keys are never shown
    }
    const std::string mask = mask_secret(secret);
    for (size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + mask.size())) {
      text.replace(at, secret.size(), mask);
    }
  }
  return text;
}

// The Claude Code wiring: settings.json's env block is applied over the process environment.
Wiring read_claude(const std::string& home, const Environment& env) {
  Wiring wiring{Agent::claude_code, {}, {}, {}, {}, {}, {}};
  const std::string path = home + "/.claude/settings.json";
  const std::string where = shown_path(path, home) + " env";
  ordered_json settings = ordered_json::object();
  try {
    const std::optional<std::string> text = read_file_if_exists(path);
    wiring.files.emplace_back(path, text.has_value());
    settings = parse_json_object(text, path);
  } catch (const std::exception& e) {
    wiring.traps.push_back({"claude.settings_unreadable", e.what(),
                            "fix the file, or run 'agproxy client setup claude-code'"});
  }
  const ordered_json file_env = settings.value("env", ordered_json::object());
  auto lookup = [&](const char* name) -> std::optional<Sourced> {
    if (auto value = string_at(file_env, name); value && !value->empty()) {
      return Sourced{*value, where};
    }
    if (auto value = env(name); value && !value->empty()) {
      return Sourced{*value, std::string("$") + name + " (environment)"};
    }
    return std::nullopt;
  };
  wiring.base_url = lookup("ANTHROPIC_BASE_URL");
  if (!wiring.base_url) {
    wiring.base_url = Sourced{"https://api.anthropic.com", "default"};
  }
  const std::optional<Sourced> api_key = lookup("ANTHROPIC_API_KEY");
  const std::optional<Sourced> token = lookup("ANTHROPIC_AUTH_TOKEN");
  if (token) {
    wiring.headers.push_back("Authorization: Bearer");
    wiring.key = token;
  }
  if (api_key) {
    wiring.headers.push_back("x-api-key");
    if (!wiring.key) {
      wiring.key = api_key;
    }
  }
  if (api_key && token) {
    wiring.traps.push_back(
        {"claude.both_keys",
         "ANTHROPIC_API_KEY (" + api_key->source + ") and ANTHROPIC_AUTH_TOKEN (" + token->source +
             ") are both set: Claude Code sends x-api-key and Authorization, and the proxy reads "
             "Authorization",
         "remove ANTHROPIC_AUTH_TOKEN, or run 'agproxy client setup claude-code'"});
  }
  if (settings.contains("apiKeyHelper")) {
    wiring.notes.push_back("apiKeyHelper in " + shown_path(path, home) +
                           " supplies a key too (sent as x-api-key and Authorization)");
  }
  if (!api_key && !token) {
    wiring.traps.push_back({"claude.no_key", "Claude Code has no API key for the proxy",
                            "run 'agproxy client setup claude-code'"});
  }
  return wiring;
}

// The Codex CLI wiring: the provider config.toml selects, and its key source.
Wiring read_codex(const std::string& home, const Environment& env) {
  Wiring wiring{Agent::codex, {}, {}, {"Authorization: Bearer"}, {}, {}, {}};
  const std::string path = home + "/.codex/config.toml";
  const std::string where = shown_path(path, home);
  toml::table settings;
  try {
    const std::optional<std::string> text = read_file_if_exists(path);
    wiring.files.emplace_back(path, text.has_value());
    settings = parse_toml(text.value_or(""), path);
  } catch (const std::exception& e) {
    wiring.traps.push_back(
        {"codex.config_unreadable", e.what(), "fix the file, or run 'agproxy client setup codex'"});
    return wiring;
  }
  const std::string provider = settings["model_provider"].value_or(std::string("openai"));
  const toml::table* table = settings["model_providers"][provider].as_table();
  if (provider == "openai" && !table) {
    if (auto url = env("OPENAI_BASE_URL"); url && !url->empty()) {
      wiring.base_url = Sourced{*url, "$OPENAI_BASE_URL (environment)"};
    } else {
      wiring.base_url = Sourced{"https://api.openai.com/v1", "default (provider openai)"};
    }
    if (auto key = env("OPENAI_API_KEY"); key && !key->empty()) {
      wiring.key = Sourced{*key, "$OPENAI_API_KEY (environment)"};
    }
    wiring.notes.push_back("model_provider is \"openai\" (the default): Codex uses its own login "
                           "(~/.codex/auth.json) unless OPENAI_BASE_URL points elsewhere");
    return wiring;
  }
  if (!table) {
    wiring.traps.push_back({"codex.provider_missing",
                            "model_provider = \"" + provider + "\" in " + where +
                                " has no [model_providers." + provider + "] table",
                            "run 'agproxy client setup codex'"});
    return wiring;
  }
  const std::string table_where = where + " [model_providers." + provider + "]";
  if (auto url = (*table)["base_url"].value<std::string>()) {
    wiring.base_url = Sourced{*url, table_where};
  }
  if ((*table)["wire_api"].value_or(std::string("chat")) != "responses") {
    wiring.notes.push_back(table_where +
                           ": wire_api is not \"responses\" (Codex 0.171 speaks Responses only)");
  }
  if (auto env_key = (*table)["env_key"].value<std::string>()) {
    if (auto value = env(*env_key); value && !value->empty()) {
      wiring.key = Sourced{*value, "$" + *env_key + " (environment, env_key in " + where + ")"};
    } else {
      wiring.traps.push_back(
          {"codex.env_key_unset",
           table_where + " has env_key = \"" + *env_key +
               "\", which is not set here: Codex sends no key (and fails)",
           "run 'agproxy client setup codex' (writes the key into the table), or export " +
               *env_key + " in the agent's environment"});
      return wiring;
    }
  } else if (auto token = (*table)["experimental_bearer_token"].value<std::string>()) {
    wiring.key = Sourced{*token, table_where + " experimental_bearer_token"};
  } else {
    wiring.traps.push_back(
        {"codex.no_key", table_where + " gives Codex no key", "run 'agproxy client setup codex'"});
  }
  return wiring;
}

// The Gemini CLI wiring: the auth type from settings.json; key and base URL from the environment,
// else ~/.gemini/.env (read only in a trusted folder).
Wiring read_gemini(const std::string& home, const Environment& env) {
  Wiring wiring{Agent::gemini_cli, {}, {}, {"x-goog-api-key"}, {}, {}, {}};
  const std::string settings_path = home + "/.gemini/settings.json";
  const std::string env_path = home + "/.gemini/.env";
  ordered_json settings = ordered_json::object();
  std::vector<std::pair<std::string, std::string>> dotenv;
  try {
    const std::optional<std::string> text = read_file_if_exists(settings_path);
    wiring.files.emplace_back(settings_path, text.has_value());
    settings = parse_json_object(text, settings_path);
  } catch (const std::exception& e) {
    wiring.traps.push_back({"gemini.settings_unreadable", e.what(),
                            "fix the file, or run 'agproxy client setup gemini-cli'"});
  }
  try {
    const std::optional<std::string> text = read_file_if_exists(env_path);
    wiring.files.emplace_back(env_path, text.has_value());
    dotenv = parse_dotenv(text.value_or(""));
  } catch (const std::exception& e) {
    wiring.traps.push_back({"gemini.env_unreadable", e.what(), "fix the file's permissions"});
  }
  auto lookup = [&](const std::string& name) -> std::optional<Sourced> {
    if (auto value = env(name); value && !value->empty()) {
      return Sourced{*value, "$" + name + " (environment)"};
    }
    for (const auto& [key, value] : dotenv) {
      if (key == name && !value.empty()) {
        return Sourced{value, shown_path(env_path, home)};
      }
    }
    return std::nullopt;
  };
  const std::string selected =
      settings.contains("security") && settings["security"].is_object() &&
              settings["security"].contains("auth") && settings["security"]["auth"].is_object()
          ? string_at(settings["security"]["auth"], "selectedType").value_or("")
          : "";
  if (selected != "gemini-api-key") {
    wiring.traps.push_back(
        {"gemini.auth_type",
         "security.auth.selectedType in " + shown_path(settings_path, home) + " is " +
             (selected.empty() ? std::string("not set") : "\"" + selected + "\"") +
             ", not \"gemini-api-key\": Gemini CLI does not use the API key",
         "run 'agproxy client setup gemini-cli'"});
  }
  wiring.base_url = lookup("GOOGLE_GEMINI_BASE_URL");
  if (!wiring.base_url) {
    wiring.base_url = Sourced{"https://generativelanguage.googleapis.com", "default"};
  }
  wiring.key = lookup("GEMINI_API_KEY");
  if (auto google = lookup("GOOGLE_API_KEY")) {
    wiring.notes.push_back("GOOGLE_API_KEY is set too (" + google->source +
                           "); Google's SDK prefers it to GEMINI_API_KEY");
  }
  if (!wiring.key) {
    wiring.traps.push_back({"gemini.no_key", "Gemini CLI has no GEMINI_API_KEY",
                            "run 'agproxy client setup gemini-cli'"});
  }
  if (env("GEMINI_CLI_TRUST_WORKSPACE") != "true") {
    wiring.notes.push_back(
        "Gemini CLI reads " + shown_path(env_path, home) +
        " only in a trusted folder, and refuses to run headless (-p) in an untrusted one: run "
        "'gemini --skip-trust ...', set GEMINI_CLI_TRUST_WORKSPACE=true, or trust the folder "
        "once in interactive mode");
  }
  return wiring;
}

// Return the lines of a unified diff of `a` against `b`, 3 lines of context per hunk.
std::string unified_diff(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const size_t n = a.size();
  const size_t m = b.size();
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  std::vector<std::vector<size_t>> lcs(n + 1, std::vector<size_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  struct Op {
    char kind;
    size_t a_line;
    size_t b_line;
    std::string text;
  };
  std::vector<Op> ops;
  size_t i = 0;
  size_t j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      ops.push_back({' ', i, j, a[i]});
      ++i;
      ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push_back({'-', i, j, a[i]});
      ++i;
    } else {
      ops.push_back({'+', i, j, b[j]});
      ++j;
    }
  }
  constexpr size_t k_context = 3;
  std::string out;
  size_t k = 0;
  while (k < ops.size()) {
    if (ops[k].kind == ' ') {
      ++k;
      continue;
    }
    const size_t start = k >= k_context ? k - k_context : 0;
    size_t end = k;
    size_t unchanged = 0;
    while (end < ops.size() && unchanged <= 2 * k_context) {
      unchanged = ops[end].kind == ' ' ? unchanged + 1 : 0;
      ++end;
    }
    // Trim trailing context to k_context lines.
    while (end > start && unchanged > k_context) {
      --end;
      --unchanged;
    }
    size_t a_count = 0;
    size_t b_count = 0;
    for (size_t x = start; x < end; ++x) {
      a_count += ops[x].kind != '+';
      b_count += ops[x].kind != '-';
    }
    out += "@@ -" + std::to_string(ops[start].a_line + (a_count ? 1 : 0)) + "," +
           std::to_string(a_count) + " +" + std::to_string(ops[start].b_line + (b_count ? 1 : 0)) +
           "," + std::to_string(b_count) + " @@\n";
    for (size_t x = start; x < end; ++x) {
      out += ops[x].kind + ops[x].text + "\n";
    }
    k = end;
  }
  return out;
}

} // namespace

const std::vector<Agent>& all_agents() {
  static const std::vector<Agent> agents = {Agent::claude_code, Agent::codex, Agent::gemini_cli};
  return agents;
}

std::string_view to_string(Agent agent) {
  switch (agent) {
  case Agent::claude_code:
    return "claude-code";
  case Agent::codex:
    return "codex";
  case Agent::gemini_cli:
    return "gemini-cli";
  }
  return "?";
}

std::optional<Agent> parse_agent(std::string_view name) {
  for (Agent agent : all_agents()) {
    if (to_string(agent) == name) {
      return agent;
    }
  }
  return std::nullopt;
}

std::vector<FileChange> plan_setup(Agent agent, const std::string& home,
                                   const ProxyTarget& target) {
  try {
    switch (agent) {
    case Agent::claude_code:
      return {plan_claude(home, target)};
    case Agent::codex:
      return {plan_codex(home, target)};
    case Agent::gemini_cli:
      return {plan_gemini_settings(home, target), plan_gemini_env(home, target)};
    }
  } catch (const std::system_error& e) {
    throw Error(e.what());
  }
  return {};
}

std::string backup_path(const std::string& path) {
  return path + ".agproxy-backup";
}

std::string created_marker_path(const std::string& path) {
  return path + ".agproxy-created";
}

void apply_setup(const std::vector<FileChange>& changes) {
  for (const FileChange& change : changes) {
    if (!change.changes()) {
      continue;
    }
    const std::string backup = backup_path(change.path);
    const std::string marker = created_marker_path(change.path);
    if (!read_file_if_exists(backup) && !read_file_if_exists(marker)) {
      if (change.before) {
        write_file_atomic(backup, *change.before, 0600);
      } else {
        write_file_atomic(marker,
                          "agproxy client setup created " + change.path +
                              "; 'agproxy client undo' removes it\n",
                          0600);
      }
    }
    write_file_atomic(change.path, change.after, 0600);
  }
}

std::vector<UndoStep> plan_undo(Agent agent, const std::string& home) {
  std::vector<UndoStep> steps;
  for (const std::string& path : agent_files(agent, home)) {
    UndoStep step;
    step.change.path = path;
    step.change.before = read_file_if_exists(path);
    if (auto original = read_file_if_exists(backup_path(path))) {
      step.change.after = *original;
    } else if (read_file_if_exists(created_marker_path(path))) {
      step.remove = true;
    } else {
      continue;
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

void apply_undo(const std::vector<UndoStep>& steps) {
  for (const UndoStep& step : steps) {
    const std::string& path = step.change.path;
    if (step.remove) {
      if (std::remove(path.c_str()) != 0 && errno != ENOENT) {
        throw std::system_error(errno, std::generic_category(), "cannot remove " + path);
      }
      std::remove(created_marker_path(path).c_str());
    } else {
      write_file_atomic(path, step.change.after, 0600);
      std::remove(backup_path(path).c_str());
    }
  }
}

std::string render_diff(const FileChange& change, const std::vector<std::string>& mask) {
  if (!change.changes()) {
    return "";
  }
  std::vector<std::string> secrets = mask;
  secrets.insert(secrets.end(), change.secrets.begin(), change.secrets.end());
  const std::string body =
      unified_diff(split_lines(change.before.value_or("")), split_lines(change.after));
  const std::string from = change.before ? change.path : "/dev/null";
  return masked("--- " + from + "\n+++ " + change.path + "\n" + body, secrets);
}

Wiring read_wiring(Agent agent, const std::string& home, const Environment& env) {
  switch (agent) {
  case Agent::claude_code:
    return read_claude(home, env);
  case Agent::codex:
    return read_codex(home, env);
  case Agent::gemini_cli:
    return read_gemini(home, env);
  }
  return Wiring{agent, {}, {}, {}, {}, {}, {}};
}

} // namespace agproxy::agents
