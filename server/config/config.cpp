#include "server/config/config.hpp"

#include "server/auth/origin.hpp"
#include "server/auth/secret.hpp"
#include "server/config/files.hpp"
#include "server/upstream/tls.hpp"

#include <cctype>
#include <cstdlib>
#include <map>
#include <set>
#include <system_error>

namespace agproxy {

namespace {

using nlohmann::json;

// Return a short rendering of a JSON value for an error message.
std::string show(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) {
    text = text.substr(0, 57) + "...";
  }
  return text;
}

std::string type_name(const json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) {
    return "an integer";
  }
  if (value.is_number_float()) {
    return "a number with a fraction";
  }
  if (value.is_string()) {
    return "a string";
  }
  if (value.is_boolean()) {
    return "a boolean";
  }
  if (value.is_array()) {
    return "an array";
  }
  if (value.is_object()) {
    return "an object";
  }
  return "null";
}

// Validation context: where the values come from, for every message.
struct Source {
  std::string where; // "in /path/config.json"

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw Error(field + ": " + problem + " (" + where + ")");
  }

  [[noreturn]] void wrong_type(const std::string& field, const json& value,
                               const std::string& expected) const {
    fail(field, "expected " + expected + ", found " + type_name(value) + " " + show(value));
  }
};

// Return the member `key` of `object` when present and not null.
const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    return nullptr;
  }
  return &*it;
}

int integer_in_range(const Source& source, const std::string& field, const json& value, int low,
                     int high) {
  if (!value.is_number_integer() && !value.is_number_unsigned()) {
    source.wrong_type(field, value,
                      "an integer from " + std::to_string(low) + " to " + std::to_string(high));
  }
  const long long number = value.get<long long>();
  if (number < low || number > high) {
    source.fail(field, show(value) + " is out of range; use an integer from " +
                           std::to_string(low) + " to " + std::to_string(high));
  }
  return static_cast<int>(number);
}

bool boolean(const Source& source, const std::string& field, const json& value) {
  if (!value.is_boolean()) {
    source.wrong_type(field, value, "true or false");
  }
  return value.get<bool>();
}

std::string string_value(const Source& source, const std::string& field, const json& value) {
  if (!value.is_string()) {
    source.wrong_type(field, value, "a string");
  }
  return value.get<std::string>();
}

AuthMode auth_mode_value(const Source& source, const std::string& field, const json& value) {
  const std::string text = string_value(source, field, value);
  auto mode = parse_auth_mode(text);
  if (!mode) {
    source.fail(field, show(value) + " is not an auth mode; use one of " +
                           std::string(auth_mode_choices()));
  }
  return *mode;
}

std::vector<std::string> string_list(const Source& source, const std::string& field,
                                     const json& value) {
  if (!value.is_array()) {
    source.wrong_type(field, value, "an array of strings");
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    out.push_back(string_value(source, field + "[" + std::to_string(i) + "]", value[i]));
  }
  return out;
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) {
    return false;
  }
  for (char c : name) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) {
      return false;
    }
  }
  return true;
}

Upstream parse_upstream(const Source& source, const std::string& field, const json& value) {
  if (!value.is_object()) {
    source.wrong_type(field, value, "an object with name, protocol, base_url and api_keys");
  }
  Upstream upstream;
  const json* name = member(value, "name");
  if (!name) {
    source.fail(field + ".name", "missing; every upstream needs a name");
  }
  upstream.name = string_value(source, field + ".name", *name);
  if (upstream.name.empty()) {
    source.fail(field + ".name", "is empty; give the upstream a name");
  }
  const json* protocol = member(value, "protocol");
  if (!protocol) {
    source.fail(field + ".protocol",
                "missing; use one of openai, openai-responses, anthropic, gemini");
  }
  auto parsed = parse_protocol(string_value(source, field + ".protocol", *protocol));
  if (!parsed) {
    source.fail(field + ".protocol",
                show(*protocol) +
                    " is not a protocol; use one of openai, openai-responses, anthropic, gemini");
  }
  upstream.protocol = *parsed;
  const json* base_url = member(value, "base_url");
  if (!base_url) {
    source.fail(field + ".base_url", "missing; e.g. \"https://api.openai.com\"");
  }
  upstream.base_url = string_value(source, field + ".base_url", *base_url);
  if (!upstream.base_url.starts_with("http://") && !upstream.base_url.starts_with("https://")) {
    source.fail(field + ".base_url",
                "\"" + mask_url(upstream.base_url) + "\" is not an http:// or https:// URL");
  }
  if (const json* keys = member(value, "api_keys")) {
    if (!keys->is_array()) {
      source.wrong_type(field + ".api_keys", *keys, "an array of strings");
    }
    for (size_t i = 0; i < keys->size(); ++i) {
      const std::string item = field + ".api_keys[" + std::to_string(i) + "]";
      if (!(*keys)[i].is_string()) {
        source.fail(item, "expected a string, found " + type_name((*keys)[i]));
      }
      std::string key = (*keys)[i].get<std::string>();
      if (key.empty()) {
        source.fail(item, "is empty; remove it or give a key or env:NAME");
      }
      if (key.starts_with("env:") && !valid_env_name(std::string_view(key).substr(4))) {
        source.fail(item, "\"" + key + "\" does not name an environment variable (env:NAME)");
      }
      if (!key.starts_with("env:") && check_api_key(key)) {
        source.fail(item, "contains a space, a control character or non-ASCII (value not shown)");
      }
      upstream.api_keys.push_back(std::move(key));
    }
  }
  if (const json* models = member(value, "models")) {
    upstream.models = string_list(source, field + ".models", *models);
  }
  if (const json* ca_file = member(value, "ca_file")) {
    upstream.ca_file = string_value(source, field + ".ca_file", *ca_file);
    if (auto problem = check_ca_file(upstream.ca_file)) {
      source.fail(field + ".ca_file",
                  upstream.ca_file.empty() ? *problem : "\"" + upstream.ca_file + "\" " + *problem);
    }
  }
  if (const json* verify = member(value, "tls_verify")) {
    upstream.tls_verify = boolean(source, field + ".tls_verify", *verify);
  }
  if (const json* proxy = member(value, "proxy")) {
    upstream.proxy = string_value(source, field + ".proxy", *proxy);
    const std::string_view url = upstream.proxy;
    const size_t scheme = url.find("://");
    const std::string_view kind = scheme == std::string_view::npos ? "" : url.substr(0, scheme);
    const std::string_view rest = scheme == std::string_view::npos ? "" : url.substr(scheme + 3);
    if ((kind != "http" && kind != "https" && kind != "socks5" && kind != "socks5h") ||
        rest.empty() || rest.front() == '/' || rest.find_first_of(" \t\r\n") != std::string::npos) {
      source.fail(field + ".proxy",
                  "\"" + mask_url(upstream.proxy) +
                      "\" is not a proxy URL; write http://host:port, https://host:port or "
                      "socks5://host:port (user:password@ before the host when it needs them)");
    }
  }
  if (const json* map = member(value, "model_map")) {
    if (!map->is_object()) {
      source.wrong_type(field + ".model_map", *map, "an object of \"alias\": \"real-model\"");
    }
    for (const auto& [alias, real] : map->items()) {
      upstream.model_map.emplace_back(alias,
                                      string_value(source, field + ".model_map." + alias, real));
    }
  }
  return upstream;
}

ProxySettings parse_proxy(const Source& source, const json& document) {
  ProxySettings settings;
  if (!document.is_object()) {
    source.wrong_type("(top level)", document, "a JSON object with a \"proxy\" object");
  }
  const json* proxy = member(document, "proxy");
  if (!proxy) {
    return settings;
  }
  if (!proxy->is_object()) {
    source.wrong_type("proxy", *proxy, "an object");
  }
  if (const json* v = member(*proxy, "port")) {
    settings.port = integer_in_range(source, "proxy.port", *v, 1, 65535);
  }
  if (const json* v = member(*proxy, "allow_lan_access")) {
    settings.allow_lan_access = boolean(source, "proxy.allow_lan_access", *v);
  }
  if (const json* v = member(*proxy, "auth_mode")) {
    settings.auth_mode = auth_mode_value(source, "proxy.auth_mode", *v);
  }
  if (const json* v = member(*proxy, "api_key")) {
    if (!v->is_string()) {
      source.fail("proxy.api_key", "expected a string, found " + type_name(*v));
    }
    settings.api_key = v->get<std::string>();
    settings.api_key_present = true;
    if (auto problem = check_api_key(settings.api_key)) {
      source.fail("proxy.api_key", *problem);
    }
  }
  if (const json* v = member(*proxy, "request_timeout")) {
    settings.request_timeout = integer_in_range(source, "proxy.request_timeout", *v, 1, 86400);
  }
  if (const json* v = member(*proxy, "upstreams")) {
    if (!v->is_array()) {
      source.wrong_type("proxy.upstreams", *v, "an array of upstream objects");
    }
    std::set<std::string> names;
    for (size_t i = 0; i < v->size(); ++i) {
      const std::string field = "proxy.upstreams[" + std::to_string(i) + "]";
      Upstream upstream = parse_upstream(source, field, (*v)[i]);
      if (!names.insert(upstream.name).second) {
        source.fail(field + ".name", "\"" + upstream.name + "\" is used by another upstream");
      }
      settings.upstreams.push_back(std::move(upstream));
    }
  }
  if (const json* v = member(*proxy, "cors_origins")) {
    settings.cors_origins = string_list(source, "proxy.cors_origins", *v);
    for (size_t i = 0; i < settings.cors_origins.size(); ++i) {
      if (auto problem = check_origin_entry(settings.cors_origins[i])) {
        source.fail("proxy.cors_origins[" + std::to_string(i) + "]",
                    show((*v)[i]) + " " + *problem);
      }
    }
  }
  if (const json* v = member(*proxy, "allowed_hosts")) {
    settings.allowed_hosts = string_list(source, "proxy.allowed_hosts", *v);
    for (size_t i = 0; i < settings.allowed_hosts.size(); ++i) {
      const std::string& host = settings.allowed_hosts[i];
      if (host.empty() || host.find_first_of(":/[]@ \t") != std::string::npos) {
        source.fail("proxy.allowed_hosts[" + std::to_string(i) + "]",
                    show((*v)[i]) + " is not a host name; write the name alone, without scheme "
                                    "or port, e.g. \"myhost.lan\"");
      }
    }
  }
  if (const json* v = member(*proxy, "max_connections")) {
    settings.max_connections = integer_in_range(source, "proxy.max_connections", *v, 1, 1000000);
  }
  if (const json* v = member(*proxy, "max_connections_per_client")) {
    settings.max_connections_per_client =
        integer_in_range(source, "proxy.max_connections_per_client", *v, 1, 1000000);
  }
  if (const json* v = member(*proxy, "body_timeout")) {
    settings.body_timeout = integer_in_range(source, "proxy.body_timeout", *v, 1, 86400);
  }
  if (const json* v = member(*proxy, "body_min_rate")) {
    settings.body_min_rate = integer_in_range(source, "proxy.body_min_rate", *v, 0, 1 << 30);
  }
  if (const json* v = member(*proxy, "drain_seconds")) {
    settings.drain_seconds = integer_in_range(source, "proxy.drain_seconds", *v, 0, 3600);
  }
  if (const json* v = member(*proxy, "metrics_lan")) {
    settings.metrics_lan = boolean(source, "proxy.metrics_lan", *v);
  }
  if (const json* v = member(*proxy, "echo_model")) {
    settings.echo_model = boolean(source, "proxy.echo_model", *v);
  }
  if (const json* v = member(*proxy, "auth_throttle")) {
    if (!v->is_object()) {
      source.wrong_type("proxy.auth_throttle", *v,
                        "an object with max_failures, window_seconds, include_loopback");
    }
    ThrottleSettings& throttle = settings.auth_throttle;
    if (const json* n = member(*v, "max_failures")) {
      throttle.max_failures =
          integer_in_range(source, "proxy.auth_throttle.max_failures", *n, 0, 1000000);
    }
    if (const json* n = member(*v, "window_seconds")) {
      throttle.window = std::chrono::seconds(
          integer_in_range(source, "proxy.auth_throttle.window_seconds", *n, 1, 86400));
    }
    if (const json* n = member(*v, "include_loopback")) {
      throttle.include_loopback = boolean(source, "proxy.auth_throttle.include_loopback", *n);
    }
  }
  return settings;
}

std::optional<bool> parse_bool_text(std::string_view text) {
  static const std::map<std::string_view, bool> k_words = {
      {"true", true},   {"1", true},  {"yes", true}, {"on", true},
      {"false", false}, {"0", false}, {"no", false}, {"off", false}};
  auto it = k_words.find(text);
  return it == k_words.end() ? std::nullopt : std::optional<bool>(it->second);
}

std::optional<int> parse_int_text(std::string_view text) {
  if (text.empty() || text.size() > 9) {
    return std::nullopt;
  }
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

// Return whether a field called `name` holds a secret (api_key, api_keys, token, password, …).
bool is_secret_field(std::string name) {
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  for (const std::string word : {"key", "keys", "token", "secret", "password"}) {
    if (name == word || name.ends_with("_" + word) || name.ends_with("-" + word)) {
      return true;
    }
  }
  return false;
}

void mask_value(json& value) {
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    if (!text.starts_with("env:")) {
      value = mask_secret(text);
    }
  } else if (value.is_array()) {
    for (json& item : value) {
      mask_value(item);
    }
  }
}

// Mask every secret-named field anywhere in `value`: Antigravity files carry more than ours.
void mask_secrets_in(json& value) {
  if (value.is_object()) {
    for (auto& [name, item] : value.items()) {
      if (is_secret_field(name)) {
        mask_value(item);
      } else if ((name == "base_url" || name == "proxy") && item.is_string()) {
        item = mask_url(item.get<std::string>()); // its userinfo and query may hold credentials
      } else {
        mask_secrets_in(item);
      }
    }
  } else if (value.is_array()) {
    for (json& item : value) {
      mask_secrets_in(item);
    }
  }
}

} // namespace

Environment process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (!value) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

std::string_view to_string(PathSource source) {
  switch (source) {
  case PathSource::flag:
    return "--config";
  case PathSource::agproxy_config_env:
    return "$AGPROXY_CONFIG";
  case PathSource::xdg_config_home:
    return "$XDG_CONFIG_HOME";
  case PathSource::home:
    return "default location";
  }
  return "default location";
}

ConfigLocation locate_config(const std::optional<std::string>& flag, const Environment& env) {
  if (flag && !flag->empty()) {
    return {*flag, PathSource::flag};
  }
  if (auto path = env("AGPROXY_CONFIG"); path && !path->empty()) {
    return {*path, PathSource::agproxy_config_env};
  }
  if (auto xdg = env("XDG_CONFIG_HOME"); xdg && !xdg->empty()) {
    return {*xdg + "/agproxy/config.json", PathSource::xdg_config_home};
  }
  auto home = env("HOME");
  if (!home || home->empty()) {
    throw Error("cannot find the config file: $HOME is not set; pass --config PATH or set "
                "AGPROXY_CONFIG");
  }
  return {*home + "/.config/agproxy/config.json", PathSource::home};
}

ConfigDocument parse_config(std::string_view text, const std::string& path) {
  ConfigDocument document;
  document.path = path;
  document.exists = true;
  document.json = json::parse(text, nullptr, false);
  if (document.json.is_discarded()) {
    // Parse again with exceptions on for the position of the first error.
    try {
      const json again = json::parse(text);
    } catch (const json::exception& e) { // parse_error, or out_of_range for a number like 1E999
      std::string what = e.what();
      if (auto bracket = what.find("] ");
          what.starts_with("[json") && bracket != std::string::npos) {
        what = what.substr(bracket + 2);
      }
      throw Error(path + " is not valid JSON: " + what);
    }
    throw Error(path + " is not valid JSON");
  }
  document.settings = parse_proxy(Source{"in " + path}, document.json);
  return document;
}

ConfigDocument load_config(const std::string& path) {
  std::optional<std::string> text;
  try {
    text = read_file_if_exists(path);
  } catch (const std::system_error& e) {
    throw Error("cannot read the config file: " + std::string(e.what()));
  }
  if (!text) {
    ConfigDocument document;
    document.path = path;
    return document;
  }
  return parse_config(*text, path);
}

ConfigDocument default_config(const std::string& path) {
  ConfigDocument document;
  document.path = path;
  document.json = {{"proxy",
                    {{"port", k_default_port},
                     {"allow_lan_access", false},
                     {"auth_mode", "auto"},
                     {"api_key", generate_api_key()},
                     {"request_timeout", k_default_request_timeout},
                     {"upstreams", json::array()}}}};
  document.settings = parse_proxy(Source{"defaults"}, document.json);
  return document;
}

void save_config(ConfigDocument& document) {
  try {
    write_file_atomic(document.path, document.json.dump(2) + "\n", 0600);
  } catch (const std::system_error& e) {
    throw Error("cannot save the config file: " + std::string(e.what()));
  }
  document.exists = true;
}

void set_api_key(ConfigDocument& document, const std::string& key) {
  if (!document.json.is_object()) {
    document.json = json::object();
  }
  json& proxy = document.json["proxy"];
  if (!proxy.is_object()) {
    proxy = json::object();
  }
  proxy["api_key"] = key;
  document.settings.api_key = key;
  document.settings.api_key_present = true;
}

EffectiveSettings apply_overrides(const ProxySettings& file, const Environment& env,
                                  const Overrides& flags) {
  EffectiveSettings out{file, {}};
  ProxySettings& s = out.settings;
  auto env_value = [&](const char* name) -> std::optional<std::string> {
    auto value = env(name);
    if (value && value->empty()) {
      return std::nullopt; // an empty variable counts as unset
    }
    return value;
  };

  if (auto v = env_value("AGPROXY_API_KEY")) {
    if (auto problem = check_api_key(*v)) {
      throw Error("AGPROXY_API_KEY: " + *problem);
    }
    s.api_key = *v;
    s.api_key_present = true;
    out.overridden.emplace_back("proxy.api_key", "AGPROXY_API_KEY");
  }
  if (auto v = env_value("AGPROXY_AUTH_MODE")) {
    auto mode = parse_auth_mode(*v);
    if (!mode) {
      throw Error("AGPROXY_AUTH_MODE: \"" + *v + "\" is not an auth mode; use one of " +
                  std::string(auth_mode_choices()));
    }
    s.auth_mode = *mode;
    out.overridden.emplace_back("proxy.auth_mode", "AGPROXY_AUTH_MODE");
  }
  if (auto v = env_value("AGPROXY_PORT")) {
    auto port = parse_int_text(*v);
    if (!port || *port < 1 || *port > 65535) {
      throw Error("AGPROXY_PORT: \"" + *v + "\" is not a port; use an integer from 1 to 65535");
    }
    s.port = *port;
    out.overridden.emplace_back("proxy.port", "AGPROXY_PORT");
  }
  if (auto v = env_value("AGPROXY_ALLOW_LAN_ACCESS")) {
    auto on = parse_bool_text(*v);
    if (!on) {
      throw Error("AGPROXY_ALLOW_LAN_ACCESS: \"" + *v +
                  "\" is not a boolean; use true or false (also 1/0, yes/no, on/off)");
    }
    s.allow_lan_access = *on;
    out.overridden.emplace_back("proxy.allow_lan_access", "AGPROXY_ALLOW_LAN_ACCESS");
  }

  if (flags.api_key) {
    if (auto problem = check_api_key(*flags.api_key)) {
      throw Error("--api-key: " + *problem);
    }
    s.api_key = *flags.api_key;
    s.api_key_present = true;
    out.overridden.emplace_back("proxy.api_key", "--api-key");
  }
  if (flags.auth_mode) {
    s.auth_mode = *flags.auth_mode;
    out.overridden.emplace_back("proxy.auth_mode", "--auth-mode");
  }
  if (flags.port) {
    s.port = *flags.port;
    out.overridden.emplace_back("proxy.port", "--port");
  }
  if (flags.allow_lan_access) {
    s.allow_lan_access = *flags.allow_lan_access;
    out.overridden.emplace_back("proxy.allow_lan_access", "--allow-lan");
  }
  return out;
}

std::optional<std::string> check_api_key(std::string_view key) {
  for (char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      return "the key contains a space, a control character or non-ASCII, which no HTTP header "
             "can carry intact (value not shown); generate one with 'agproxy key regenerate'";
    }
  }
  return std::nullopt;
}

std::vector<std::string> resolve_api_keys(const Upstream& upstream, size_t index,
                                          const Environment& env) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < upstream.api_keys.size(); ++i) {
    const std::string& entry = upstream.api_keys[i];
    if (!entry.starts_with("env:")) {
      keys.push_back(entry);
      continue;
    }
    const std::string name = entry.substr(4);
    auto value = env(name);
    if (!value || value->empty()) {
      throw Error("proxy.upstreams[" + std::to_string(index) + "].api_keys[" + std::to_string(i) +
                  "]: environment variable " + name + " is not set (upstream \"" + upstream.name +
                  "\")");
    }
    keys.push_back(*value);
  }
  return keys;
}

json masked_config(const json& document) {
  json out = document;
  mask_secrets_in(out);
  return out;
}

} // namespace agproxy
