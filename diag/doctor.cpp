#include "diag/doctor.hpp"

#include "diag/agents.hpp"
#include "diag/client_headers.hpp"
#include "server/auth/secret.hpp"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace agproxy::diag {

namespace {

using nlohmann::json;

constexpr const char* k_realm = "realm=\"agproxy\"";

// What answers at the target, as far as the probes tell.
enum class ServerKind { unknown, agproxy, antigravity };

struct Target {
  std::string scheme;
  std::string host;
  int port = 0;
  std::string base; // scheme://host:port, no trailing slash
};

std::optional<Target> parse_url(const std::string& url) {
  Target target;
  size_t rest = 0;
  if (url.starts_with("http://")) {
    target.scheme = "http";
    rest = 7;
  } else if (url.starts_with("https://")) {
    target.scheme = "https";
    rest = 8;
  } else {
    return std::nullopt;
  }
  const size_t slash = url.find('/', rest);
  const std::string authority = url.substr(rest, slash == std::string::npos ? slash : slash - rest);
  std::string host = authority;
  std::string port;
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string::npos) {
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port = authority.substr(close + 2);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    return std::nullopt;
  }
  target.host = host;
  if (port.empty()) {
    target.port = target.scheme == "https" ? 443 : 80;
  } else {
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) {
      return std::nullopt;
    }
    target.port = std::stoi(port);
  }
  const std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  target.base = target.scheme + "://" + shown_host + ":" + std::to_string(target.port);
  return target;
}

// Return the path of `url` without its query ("/" when it has none).
std::string url_path(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) {
    return "/";
  }
  std::string path = url.substr(slash);
  return path.substr(0, path.find_first_of("?#"));
}

bool is_local_host(const std::string& host) {
  return host == "localhost" || host == "127.0.0.1" || host == "::1" || host.starts_with("127.");
}

bool same_endpoint(const Target& a, const Target& b) {
  const bool hosts_match = a.host == b.host || (is_local_host(a.host) && is_local_host(b.host));
  return hosts_match && a.port == b.port;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const std::string& item : items) {
    out += (out.empty() ? "" : separator) + item;
  }
  return out;
}

// Return `url` with any user:password@ masked.
class Doctor {
public:
  Doctor(const DoctorOptions& options, const Environment& env, HttpProber& prober)
      : m_options(options), m_env(env), m_prober(prober) {}

  DoctorReport run();

private:
  // Inputs.
  void read_client();
  // Checks, in order.
  CheckResult check_config();
  CheckResult check_reachable();
  CheckResult check_health();
  CheckResult check_effective_mode();
  CheckResult check_api_key();
  CheckResult check_simple_request();
  CheckResult check_conflict();
  CheckResult check_malformed();
  CheckResult check_foreign_key();
  CheckResult check_key_mismatch();
  CheckResult check_env_sdk();
  CheckResult check_env_agents();
  CheckResult check_http_proxy();
  CheckResult check_upstream();

  // Helpers.
  ProbeResponse probe(CheckResult& check, ProbeRequest request);
  std::string shown_header_value(const std::string& name, const std::string& value) const;
  std::string curl_for(const ProbeRequest& request) const;
  std::string config_flag() const;
  std::optional<AuthMode> enforced_mode() const;
  std::optional<std::string> configured_key() const;
  bool is_proxy_401(const ProbeResponse& response) const;
  bool reachable() const { return m_health && m_health->error == TransportError::none; }

  const DoctorOptions& m_options;
  const Environment& m_env;
  HttpProber& m_prober;

  std::string m_config_path;
  bool m_config_explicit = false;
  std::optional<ProxySettings> m_settings; // file + AGPROXY_* of this shell
  std::optional<AuthMode> m_config_mode;
  Target m_target;
  std::optional<ClientRequest> m_client;
  std::string m_client_method = "GET";
  std::string m_client_path = "/v1/models";

  std::optional<ProbeResponse> m_health;
  ServerKind m_kind = ServerKind::unknown;
  std::optional<AuthMode> m_observed_mode;
  std::optional<bool> m_observed_key_configured;
  std::optional<std::string> m_client_key; // the key the client's read header carries
  std::optional<KeyHeader> m_client_header;
};

std::string_view kind_name(ServerKind kind) {
  switch (kind) {
  case ServerKind::agproxy:
    return "agproxy";
  case ServerKind::antigravity:
    return "Antigravity Tools, by its answers";
  case ServerKind::unknown:
    break;
  }
  return "an HTTP server that is not agproxy";
}

void Doctor::read_client() {
  if (m_options.curl) {
    std::string error;
    auto parsed = parse_curl_command(*m_options.curl, error);
    if (!parsed) {
      throw UsageError("--curl: " + error);
    }
    m_client = std::move(*parsed);
  }
  for (const std::string& argument : m_options.headers) {
    std::string error;
    auto header = parse_header_argument(argument, error);
    if (!header) {
      throw UsageError(error);
    }
    if (!m_client) {
      m_client = ClientRequest{};
    }
    m_client->headers.push_back(std::move(*header));
  }
  if (m_client) {
    // Which header the proxy reads does not depend on the key or the mode.
    const AuthRequest request = to_auth_request(*m_client, "GET", "/v1/models");
    const AuthDecision decision = decide(AuthPolicy(AuthMode::strict, "-"), request);
    m_client_header = decision.header_read;
    if (decision.header_read) {
      m_client_key =
          std::string(key_in_header(*decision.header_read, *request.header(*decision.header_read)));
    }
  }
  if (m_client && m_client->url) {
    m_client_path = url_path(*m_client->url);
    m_client_method = m_client->method.value_or("GET");
    if (!m_client->method) {
      // curl turns -d into a POST; the key check does not depend on the method except for health.
      m_client_method = m_client_path == "/healthz" || m_client_path == "/health" ? "GET" : "POST";
    }
  }
}

std::string Doctor::config_flag() const {
  return m_config_explicit ? " --config '" + m_config_path + "'" : "";
}

std::optional<AuthMode> Doctor::enforced_mode() const {
  return m_observed_mode ? m_observed_mode : m_config_mode;
}

std::optional<std::string> Doctor::configured_key() const {
  if (m_settings && m_settings->api_key_present) {
    return m_settings->api_key;
  }
  return std::nullopt;
}

bool Doctor::is_proxy_401(const ProbeResponse& response) const {
  if (response.status != 401) {
    return false;
  }
  const std::string challenge = response.header("www-authenticate").value_or("");
  if (challenge.find(k_realm) != std::string::npos || response.header("x-agproxy-reason")) {
    return true;
  }
  // Antigravity Tools answers its own 401s with no challenge and an empty body.
  return m_kind == ServerKind::antigravity && response.body.empty();
}

std::string Doctor::shown_header_value(const std::string& name, const std::string& value) const {
  const bool is_key_header = std::any_of(k_key_headers.begin(), k_key_headers.end(),
                                         [&](KeyHeader which) { return is_header(name, which); });
  if (!is_key_header) {
    return value;
  }
  const AuthorizationKey parsed = parse_authorization(value);
  if (parsed.bearer) {
    return std::string(value.substr(0, value.size() - parsed.key.size())) + mask_secret(parsed.key);
  }
  return mask_secret(value);
}

std::string Doctor::curl_for(const ProbeRequest& request) const {
  std::string command = "curl -i";
  if (request.method != "GET") {
    command += request.method == "HEAD" ? " -I" : " -X " + request.method;
  }
  command += " '" + request.url + "'";
  const auto key = configured_key();
  for (const auto& [name, value] : request.headers) {
    std::string shown = shown_header_value(name, value);
    if (key && !key->empty() && value.find(*key) != std::string::npos) {
      shown =
          value.substr(0, value.find(*key)) + "$(agproxy key show --reveal" + config_flag() + ")";
    }
    command += " -H \"" + name + ": " + shown + "\"";
  }
  if (!request.body.empty()) {
    command += " -d '" + request.body + "'";
  }
  return command;
}

ProbeResponse Doctor::probe(CheckResult& check, ProbeRequest request) {
  request.timeout_seconds = m_options.timeout_seconds;
  check.trace.push_back("> " + request.method + " " + request.url);
  for (const auto& [name, value] : request.headers) {
    check.trace.push_back("> " + name + ": " + shown_header_value(name, value));
  }
  ProbeResponse response = m_prober.send(request);
  if (response.error != TransportError::none) {
    check.trace.push_back("< (no HTTP answer: " + response.error_text + ")");
  } else {
    check.trace.push_back("< " + std::to_string(response.status));
    for (const char* name : {"www-authenticate", "x-agproxy-reason", "content-type"}) {
      if (auto value = response.header(name)) {
        check.trace.push_back("< " + std::string(name) + ": " + *value);
      }
    }
    if (!response.body.empty()) {
      check.trace.push_back("< " + response.body.substr(0, 300));
    }
  }
  check.trace.push_back("  reproduce: " + curl_for(request));
  return response;
}

CheckResult Doctor::check_config() {
  CheckResult check{"config.load"};
  m_config_explicit = m_options.config_path.has_value();
  ConfigLocation location;
  try {
    location = locate_config(m_options.config_path, m_env);
  } catch (const Error& e) {
    check.status = CheckStatus::warn;
    check.summary = "no config file could be located";
    check.detail = e.what();
    check.fix = "pass --config PATH";
    return check;
  }
  m_config_path = location.path;
  std::error_code ec;
  std::string antigravity_note;
  if (!std::filesystem::exists(location.path, ec) && location.source != PathSource::flag &&
      location.source != PathSource::agproxy_config_env) {
    const auto home = m_env("HOME");
    const std::string antigravity = home ? *home + "/.antigravity_tools/gui_config.json" : "";
    if (!antigravity.empty() && std::filesystem::exists(antigravity, ec)) {
      antigravity_note = "no agproxy config at " + location.path + "; using Antigravity Tools' " +
                         antigravity + ". ";
      m_config_path = antigravity;
      m_config_explicit = true;
    }
  }
  ConfigDocument document;
  try {
    document = load_config(m_config_path);
  } catch (const Error& e) {
    check.status = CheckStatus::fail;
    check.summary = m_config_path + " does not load: the proxy refuses this file";
    check.detail = antigravity_note + e.what() +
                   ". A running proxy keeps the settings it had before the edit (its log says "
                   "'config reload refused'); a new one will not start.";
    check.fix = "fix the field named above, then check: agproxy config validate" + config_flag();
    return check;
  }
  if (!document.exists) {
    check.status = CheckStatus::warn;
    check.summary = "no config file at " + m_config_path;
    check.detail = "The checks below rely on what the server answers. (Looked at " +
                   std::string(to_string(location.source)) +
                   ", and at Antigravity Tools' "
                   "~/.antigravity_tools/gui_config.json.)";
    check.fix =
        "pass the file the proxy runs with: --config PATH (or create one: agproxy config init)";
    return check;
  }
  EffectiveSettings effective;
  try {
    effective = apply_overrides(document.settings, m_env, {});
  } catch (const Error& e) {
    check.status = CheckStatus::fail;
    check.summary = "an AGPROXY_* variable in this shell is invalid";
    check.detail = e.what();
    check.fix = "unset it or correct it";
    return check;
  }
  m_settings = effective.settings;
  m_config_mode = effective_auth_mode(m_settings->auth_mode, m_settings->allow_lan_access);
  check.status = CheckStatus::pass;
  check.summary = "read " + m_config_path + ": " +
                  explain_effective_mode(m_settings->auth_mode, m_settings->allow_lan_access);
  std::vector<std::string> overrides;
  for (const auto& [field, source] : effective.overridden) {
    overrides.push_back(field + " from " + source);
  }
  check.detail = antigravity_note + "auth_mode=" + std::string(to_string(m_settings->auth_mode)) +
                 ", allow_lan_access=" + (m_settings->allow_lan_access ? "true" : "false") +
                 ", api_key " +
                 (m_settings->api_key_present ? describe_key(m_settings->api_key) : "(absent)") +
                 ", port " + std::to_string(m_settings->port) +
                 (overrides.empty() ? "" : "; overridden in this shell: " + join(overrides, ", "));
  return check;
}

CheckResult Doctor::check_reachable() {
  CheckResult check{"server.reachable"};
  // The target: --url, else the pasted curl command's, else the config's port on loopback.
  std::string url =
      "http://127.0.0.1:" + std::to_string(m_settings ? m_settings->port : k_default_port);
  if (m_options.url) {
    url = *m_options.url;
  } else if (m_client && m_client->url) {
    url = *m_client->url;
  }
  auto target = parse_url(url);
  if (!target) {
    throw UsageError("--url: '" + url + "' is not an http:// or https:// URL with a host");
  }
  m_target = *target;
  m_health = probe(check, {"GET", m_target.base + "/healthz", {}, "", 0});
  const ProbeResponse& health = *m_health;
  const std::string where = m_target.host + ":" + std::to_string(m_target.port);
  const std::string timeout = std::to_string(static_cast<int>(m_options.timeout_seconds));
  switch (health.error) {
  case TransportError::none:
    break;
  case TransportError::refused:
    check.summary = "nothing listens at " + where + " (connection refused)";
    check.fix = "start the proxy: agproxy serve" + config_flag() +
                (m_settings && m_target.port != m_settings->port
                     ? " (or point --url at proxy.port " + std::to_string(m_settings->port) + ")"
                     : "");
    break;
  case TransportError::timeout:
    check.summary = where + " gave no HTTP answer within " + timeout + " s (timeout)";
    check.fix = "see what holds the port: ss -ltnp 'sport = :" + std::to_string(m_target.port) +
                "'; a firewall may drop the connection";
    break;
  case TransportError::no_answer:
    check.summary = "something at " + where + " closed the connection without an HTTP answer";
    check.fix =
        "see what holds the port: ss -ltnp 'sport = :" + std::to_string(m_target.port) + "'";
    break;
  case TransportError::not_http:
    check.summary = "something at " + where + " answers, but not in HTTP";
    check.fix = "see what holds the port: ss -ltnp 'sport = :" + std::to_string(m_target.port) +
                "'; https:// vs http:// mixed up?";
    break;
  case TransportError::unresolved:
    check.summary = "the host " + m_target.host + " does not resolve";
    check.fix = "use --url http://127.0.0.1:PORT";
    break;
  case TransportError::other:
    check.summary = "no HTTP answer from " + where;
    check.fix = "check --url";
    break;
  }
  if (health.error != TransportError::none) {
    check.status = CheckStatus::fail;
    check.detail = health.error_text + ". Every client request fails here before any auth.";
    return check;
  }

  const json body = json::parse(health.body, nullptr, false);
  const std::string challenge = health.header("www-authenticate").value_or("");
  if (body.is_object() && body.contains("api_key_configured") && body.contains("auth_mode")) {
    m_kind = ServerKind::agproxy;
    if (body["auth_mode"].is_string()) {
      m_observed_mode = parse_auth_mode(body["auth_mode"].get<std::string>());
    }
    if (body["api_key_configured"].is_boolean()) {
      m_observed_key_configured = body["api_key_configured"].get<bool>();
    }
  } else if (challenge.find(k_realm) != std::string::npos || health.header("x-agproxy-reason")) {
    m_kind = ServerKind::agproxy;
  } else if ((health.status == 200 && body.is_object() && body.contains("status")) ||
             (health.status == 401 && health.body.empty() && challenge.empty())) {
    m_kind = ServerKind::antigravity;
  }
  check.status = CheckStatus::pass;
  std::string version;
  if (body.is_object() && body.contains("version") && body["version"].is_string()) {
    version = " " + body["version"].get<std::string>();
  }
  check.summary =
      "HTTP answers at " + m_target.base + " (" + std::string(kind_name(m_kind)) + version + ")";
  return check;
}

CheckResult Doctor::check_health() {
  CheckResult check{"health.probe"};
  if (!reachable()) {
    check.summary = "skipped: no HTTP answer at the target";
    return check;
  }
  const ProbeResponse& health = *m_health;
  check.trace.push_back("(the GET /healthz of server.reachable, without auth headers)");
  if (health.status == 200) {
    check.status = CheckStatus::pass;
    check.summary = "GET /healthz without a key: 200";
    if (m_observed_mode) {
      check.summary += " (auth mode " + std::string(to_string(*m_observed_mode)) + ")";
    }
    return check;
  }
  if (health.status == 401) {
    if (is_proxy_401(health)) {
      check.status = CheckStatus::pass;
      check.summary = "GET /healthz without a key: 401, so the proxy runs in strict mode (only "
                      "strict guards /healthz)";
      m_observed_mode = AuthMode::strict;
      if (auto reason = health.header("x-agproxy-reason");
          reason && *reason == "proxy_api_key_empty") {
        m_observed_key_configured = false;
      }
    } else {
      check.status = CheckStatus::warn;
      check.summary = "GET /healthz answered 401 without agproxy's realm: probably not the proxy";
      check.fix = "check that --url is the proxy's address";
    }
    return check;
  }
  check.status = CheckStatus::fail;
  if (health.status == 429 && health.header("x-agproxy-reason") == "too_many_auth_failures") {
    m_kind = ServerKind::agproxy;
    const std::string wait = health.header("retry-after").value_or("?");
    check.summary = "the proxy refuses this address for " + wait +
                    " s after too many failed keys (proxy.auth_throttle)";
    check.detail = "Every request from here gets 429 until the window ends, the right key "
                   "included; the failed keys came from a client on this address.";
    check.fix = "wait " + wait + " s, then send the right key (agproxy key show --reveal" +
                config_flag() + "); loopback is exempt unless auth_throttle.include_loopback";
    return check;
  }
  if (health.status == 404) {
    check.summary = "GET /healthz answered 404: the server at " + m_target.base +
                    " is not agproxy or Antigravity Tools";
    check.detail = "Another service holds this port, so clients pointed here never reach the "
                   "proxy; their 401 (if any) is that service's.";
  } else {
    check.summary = "GET /healthz answered " + std::to_string(health.status) +
                    ", which neither agproxy nor Antigravity Tools does";
  }
  check.fix = "find what listens there: ss -ltnp 'sport = :" + std::to_string(m_target.port) +
              "'; run the proxy on its own port (proxy.port" +
              (m_settings ? " = " + std::to_string(m_settings->port) : "") + ")";
  return check;
}

CheckResult Doctor::check_effective_mode() {
  CheckResult check{"auth.effective_mode"};
  if (reachable() && !m_observed_mode && (m_health->status == 200)) {
    // /healthz passes without a key: off or all_except_health. /v1/models tells which.
    const ProbeResponse models = probe(check, {"GET", m_target.base + "/v1/models", {}, "", 0});
    if (models.status == 200) {
      m_observed_mode = AuthMode::off;
    } else if (is_proxy_401(models)) {
      m_observed_mode = AuthMode::all_except_health;
    }
  }
  const std::optional<AuthMode> mode = enforced_mode();
  if (!mode) {
    check.summary = "skipped: neither the config nor the server tells the auth mode";
    return check;
  }
  const std::string mode_name(to_string(*mode));
  std::string why;
  if (m_settings) {
    why = explain_effective_mode(m_settings->auth_mode, m_settings->allow_lan_access);
  }
  if (m_observed_mode && m_config_mode && *m_observed_mode != *m_config_mode) {
    check.status = CheckStatus::fail;
    check.summary = "the server enforces " + mode_name + ", but the config implies " +
                    std::string(to_string(*m_config_mode)) + " (" + why + ")";
    check.detail = "The running proxy uses other settings than " + m_config_path +
                   ": an instance started before the file changed, another config file "
                   "(--config, AGPROXY_CONFIG), a --auth-mode or --allow-lan flag, or "
                   "AGPROXY_AUTH_MODE / AGPROXY_ALLOW_LAN_ACCESS in its environment.";
    check.fix = "restart it with this file: agproxy serve" + config_flag() +
                " (or pass --config with the file it runs with)";
    return check;
  }
  if (m_client) {
    const AuthPolicy policy(*mode, configured_key().value_or("(unknown)"));
    const AuthDecision decision =
        decide(policy, to_auth_request(*m_client, m_client_method, m_client_path));
    if (decision.key_required && !decision.header_read) {
      check.status = CheckStatus::fail;
      check.summary = "your request carries no key, and auth mode " + mode_name +
                      " requires one for " + m_client_method + " " + m_client_path;
      check.detail =
          (m_settings && m_settings->auth_mode == AuthMode::auto_ && m_settings->allow_lan_access
               ? "auth_mode=auto with allow_lan_access=true behaves as all_except_health: turning "
                 "LAN access on turned auth on. "
               : "") +
          std::string("Only GET/HEAD /healthz pass without a key in all_except_health; nothing "
                      "does in strict.");
      check.fix = "send the key: -H \"Authorization: Bearer $(agproxy key show --reveal" +
                  config_flag() + ")\"" +
                  (m_settings && m_settings->auth_mode == AuthMode::auto_
                       ? "; or, for no auth on this machine only, set proxy.allow_lan_access to "
                         "false (auto → off)"
                       : "");
      return check;
    }
  }
  if (m_settings && m_settings->allow_lan_access && *mode == AuthMode::off) {
    check.status = CheckStatus::warn;
    check.summary = "auth is off while the proxy is reachable from the LAN";
    check.detail = "Anyone on the network can use the provider keys behind it.";
    check.fix = "set proxy.auth_mode to \"auto\" or \"all_except_health\"";
    return check;
  }
  check.status = CheckStatus::pass;
  check.summary = "auth mode " + mode_name +
                  (m_observed_mode && m_config_mode ? ", as the config implies"
                   : m_observed_mode                ? " (observed)"
                                                    : " (from the config; server not checked)") +
                  (why.empty() ? "" : ": " + why);
  return check;
}

CheckResult Doctor::check_api_key() {
  CheckResult check{"auth.api_key"};
  const std::optional<AuthMode> mode = enforced_mode();
  if (!mode) {
    check.summary = "skipped: the auth mode is unknown";
    return check;
  }
  if (*mode == AuthMode::off) {
    check.status = CheckStatus::pass;
    check.summary = "auth is off: no key is checked";
    return check;
  }
  const bool config_empty = m_settings && m_settings->api_key.empty();
  const bool server_empty = m_observed_key_configured == false;
  if (config_empty || server_empty) {
    check.status = CheckStatus::fail;
    check.summary = "auth is on (" + std::string(to_string(*mode)) +
                    ") but the proxy's api_key is empty: every request that needs the key is "
                    "denied";
    check.detail =
        std::string(server_empty ? "The server reports api_key_configured=false. " : "") +
        "Its log says: Proxy auth is enabled but api_key is empty; denying request";
    check.fix =
        "agproxy key regenerate" + config_flag() + " (a running proxy uses the new key within 1 s)";
    return check;
  }
  check.status = CheckStatus::pass;
  check.summary = "a proxy key is configured" +
                  (configured_key() ? " (" + describe_key(*configured_key()) + ")" : std::string());
  return check;
}

CheckResult Doctor::check_simple_request() {
  CheckResult check{"auth.simple_request"};
  if (!reachable()) {
    check.summary = "skipped: no HTTP answer at the target";
    return check;
  }
  const bool from_flag = m_options.key.has_value();
  const std::optional<std::string> key = from_flag ? m_options.key : configured_key();
  if (!key || key->empty()) {
    check.summary = "skipped: no key to try (pass --key KEY, or --config with the proxy's file)";
    return check;
  }
  const ProbeResponse response = probe(
      check, {"GET", m_target.base + "/v1/models", {{"Authorization", "Bearer " + *key}}, "", 0});
  const std::string shown = "'Authorization: Bearer " + mask_secret(*key) + "'";
  if (response.error != TransportError::none) {
    check.status = CheckStatus::fail;
    check.summary = "GET /v1/models got no answer: " + response.error_text;
    return check;
  }
  if (response.status >= 200 && response.status < 300) {
    check.status = CheckStatus::pass;
    check.summary = "GET /v1/models with only " + shown + ": " + std::to_string(response.status);
    return check;
  }
  if (is_proxy_401(response)) {
    check.status = CheckStatus::fail;
    const std::string reason = response.header("x-agproxy-reason").value_or("401");
    check.summary = "the proxy refuses the " +
                    std::string(from_flag ? "key you passed" : "configured key") + " (" +
                    describe_key(*key) + "): " + reason;
    if (from_flag) {
      check.detail = "The key given with --key is not the proxy's key.";
      check.fix = "compare with the proxy's: agproxy key show" + config_flag();
    } else {
      check.detail = "The key in " + m_config_path +
                     " is not the key the running server checks: it has not reloaded the file "
                     "(an old version, or a reload refused: see its log), it is another instance, "
                     "or AGPROXY_API_KEY / --api-key overrides the file in its environment.";
      check.fix = "restart the proxy with this file: agproxy serve" + config_flag();
    }
    return check;
  }
  if (response.status == 401) {
    check.status = CheckStatus::fail;
    check.summary = "401 without agproxy's realm: that answer did not come from agproxy";
    check.fix = "check --url";
    return check;
  }
  check.status = CheckStatus::warn;
  check.summary =
      "GET /v1/models with only " + shown + " answered " + std::to_string(response.status);
  return check;
}

CheckResult Doctor::check_conflict() {
  CheckResult check{"headers.conflict"};
  if (!m_client) {
    check.summary = "skipped: pass the failing client's headers with -H 'Name: value' "
                    "(repeatable) or --curl '<its curl command>'";
    return check;
  }
  const AuthRequest request = to_auth_request(*m_client, m_client_method, m_client_path);
  std::vector<KeyHeader> present;
  for (KeyHeader which : k_key_headers) {
    if (request.header(which)) {
      present.push_back(which);
    }
  }
  if (present.size() <= 1) {
    check.status = CheckStatus::pass;
    check.summary = present.empty()
                        ? "no auth header sent"
                        : "one auth header (" + std::string(header_name(present[0])) + ")";
    return check;
  }
  std::vector<std::string> names;
  std::set<std::string> keys;
  for (KeyHeader which : present) {
    names.push_back(std::string(header_name(which)));
    keys.insert(std::string(key_in_header(which, *request.header(which))));
  }
  const std::string read(header_name(present[0]));
  if (keys.size() == 1) {
    check.status = CheckStatus::pass;
    check.summary = join(names, ", ") + " carry the same key; " + read + " is read";
    return check;
  }
  const auto key = configured_key();
  const std::string read_key(key_in_header(present[0], *request.header(present[0])));
  std::optional<std::string> right_ignored;
  for (size_t i = 1; i < present.size(); ++i) {
    if (key && std::string(key_in_header(present[i], *request.header(present[i]))) == *key) {
      right_ignored = std::string(header_name(present[i]));
    }
  }
  const std::vector<std::string> ignored(names.begin() + 1, names.end());
  const std::string precedence = "The proxy reads Authorization, then x-api-key, then "
                                 "x-goog-api-key, and uses the first present: here " +
                                 read + "; " + join(ignored, " and ") +
                                 (ignored.size() == 1 ? " is" : " are") + " never consulted.";
  if (key && read_key == *key) {
    check.status = CheckStatus::warn;
    check.summary = "several auth headers with different keys; " + read + " (read first) is right";
    check.detail = precedence;
    check.fix = "send only '" + read + "'";
    return check;
  }
  check.status = CheckStatus::fail;
  check.summary = read + " is read first and its key is wrong" +
                  (right_ignored ? "; your correct " + *right_ignored + " is never consulted"
                                 : "; the headers carry different keys");
  check.detail = precedence;
  check.fix = right_ignored ? "remove the " + read + " header (or put the proxy key in it)"
                            : "send one header with the proxy key: 'Authorization: Bearer <key>'";
  return check;
}

CheckResult Doctor::check_malformed() {
  CheckResult check{"headers.malformed"};
  if (!m_client) {
    check.summary = "skipped: no client headers (-H or --curl)";
    return check;
  }
  const AuthRequest request = to_auth_request(*m_client, m_client_method, m_client_path);
  std::vector<HeaderFinding> failures;
  std::vector<HeaderFinding> warnings;
  bool first = true;
  for (KeyHeader which : k_key_headers) {
    auto value = request.header(which);
    if (!value) {
      continue;
    }
    for (HeaderFinding& finding : analyze_key_header(which, *value)) {
      // A flaw in a header the proxy never reads cannot cause the 401.
      (finding.severity == Severity::fail && first ? failures : warnings).push_back(finding);
    }
    first = false;
  }
  auto describe = [](const std::vector<HeaderFinding>& findings) {
    std::vector<std::string> lines;
    for (const HeaderFinding& f : findings) {
      lines.push_back(std::string(header_name(f.header)) + ": " + f.problem);
    }
    return join(lines, "; ");
  };
  if (!failures.empty()) {
    check.status = CheckStatus::fail;
    check.summary = failures.front().problem;
    check.detail = describe(failures) + (warnings.empty() ? "" : "; also: " + describe(warnings));
    check.fix = failures.front().fix;
  } else if (!warnings.empty()) {
    check.status = CheckStatus::warn;
    check.summary = warnings.front().problem;
    check.detail = describe(warnings);
    check.fix = warnings.front().fix;
  } else {
    check.status = CheckStatus::pass;
    check.summary = "the auth headers are well-formed";
  }
  return check;
}

CheckResult Doctor::check_foreign_key() {
  CheckResult check{"headers.foreign_key"};
  if (!m_client) {
    check.summary = "skipped: no client headers (-H or --curl)";
    return check;
  }
  if (!m_client_key) {
    check.status = CheckStatus::pass;
    check.summary = "the client sends no key";
    return check;
  }
  const auto key = configured_key();
  if (key && *m_client_key == *key) {
    check.status = CheckStatus::pass;
    check.summary = "the client sends the proxy key";
    return check;
  }
  if (auto provider = provider_of_key(*m_client_key)) {
    check.status = CheckStatus::fail;
    check.summary = "the client sends " + *provider + " (" + describe_key(*m_client_key) +
                    ") instead of the proxy key";
    check.detail = "Clients authenticate to agproxy with the proxy key; provider keys belong in "
                   "proxy.upstreams[].api_keys, where agproxy injects them.";
    check.fix = "give the client the proxy key: agproxy key show --reveal" + config_flag();
    return check;
  }
  check.status = CheckStatus::pass;
  check.summary = "the client's key is not in a provider's format";
  return check;
}

CheckResult Doctor::check_key_mismatch() {
  CheckResult check{"headers.key_mismatch"};
  if (!m_client) {
    check.summary = "skipped: no client headers (-H or --curl)";
    return check;
  }
  if (!m_client_key) {
    check.summary = "skipped: the client sends no key";
    return check;
  }
  const auto key = m_options.key ? m_options.key : configured_key();
  std::string observed;
  if (reachable()) {
    // Evidence: replay the client's key headers on a read-only route and compare with the
    // prediction. Values with CR/LF are not replayed: they would break the request itself.
    ProbeRequest replay{"GET", m_target.base + "/v1/models", {}, "", 0};
    bool safe = true;
    for (const ClientHeader& header : m_client->headers) {
      for (KeyHeader which : k_key_headers) {
        if (is_header(header.name, which)) {
          safe = safe && header.value.find_first_of("\r\n") == std::string::npos;
          replay.headers.emplace_back(header.name, header.value);
        }
      }
    }
    if (safe) {
      const ProbeResponse response = probe(check, replay);
      if (response.error == TransportError::none) {
        observed =
            " The server answers these headers with " + std::to_string(response.status) +
            (response.header("x-agproxy-reason") ? " (" + *response.header("x-agproxy-reason") + ")"
                                                 : std::string()) +
            ".";
      }
    }
  }
  if (!key) {
    check.summary = "skipped: no configured key to compare with (pass --config or --key)";
    check.detail = observed;
    return check;
  }
  if (*m_client_key == *key) {
    check.status = CheckStatus::pass;
    check.summary = "the client sends the " + std::string(m_options.key ? "given" : "configured") +
                    " key (" + describe_key(*key) + ")";
    check.detail = observed;
    return check;
  }
  check.status = CheckStatus::fail;
  check.summary = "the client's key " + describe_key(*m_client_key) + " is not the " +
                  (m_options.key ? "given" : "configured") + " key " + describe_key(*key);
  check.detail = "Read from " + std::string(header_name(*m_client_header)) + "." + observed;
  check.fix = "use the proxy key: agproxy key show --reveal" + config_flag();
  return check;
}

// The coding agents' own settings (DESIGN §9), read as `agproxy client show` reads them.
CheckResult Doctor::check_env_agents() {
  CheckResult check{"env.agents"};
  const std::optional<std::string> home = m_env("HOME");
  if (!home || home->empty()) {
    check.summary = "skipped: HOME is not set, so no agent's settings can be read";
    return check;
  }
  const auto key = m_options.key ? m_options.key : configured_key();
  std::vector<std::string> failures, fixes, lines;
  for (const agents::Agent agent : agents::all_agents()) {
    const std::string name(agents::to_string(agent));
    if (m_options.client && *m_options.client != name) {
      continue;
    }
    const agents::Wiring wiring = agents::read_wiring(agent, *home, m_env);
    const bool configured = std::any_of(wiring.files.begin(), wiring.files.end(),
                                        [](const auto& file) { return file.second; });
    const bool at_proxy = wiring.base_url && wiring.base_url->value.starts_with(m_target.base);
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
      fixes.push_back("agproxy client setup " + name + config_flag());
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

CheckResult Doctor::check_env_sdk() {
  CheckResult check{"env.sdk"};
  auto var = [&](const char* name) -> std::optional<std::string> {
    auto value = m_env(name);
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
  const std::optional<AuthMode> mode = enforced_mode();
  const auto key = m_options.key ? m_options.key : configured_key();
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
      } else if (reachable() && !same_endpoint(*base, m_target)) {
        warnings.push_back(c.base_var + " points at " + base->base + ", not the proxy at " +
                           m_target.base + ": that client's 401 comes from there");
      } else if (c.base_var == "OPENAI_BASE_URL" && !url_path(*c.base_url).starts_with("/v1")) {
        warnings.push_back("OPENAI_BASE_URL should end in /v1 (" + m_target.base + "/v1)");
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
    check.fix = "set the variables to the proxy key (agproxy key show --reveal" + config_flag() +
                "), and unset the ones that should not be sent (e.g. unset ANTHROPIC_AUTH_TOKEN)";
    return check;
  }
  check.status = warnings.empty() ? CheckStatus::pass : CheckStatus::warn;
  check.summary = warnings.empty() ? "the SDKs' variables send the proxy key" : warnings.front();
  check.detail = join(lines, "; ") + (warnings.size() > 1 ? ". Also: " + join(warnings, "; ") : "");
  if (!warnings.empty()) {
    check.fix = "export OPENAI_BASE_URL=" + m_target.base +
                "/v1 ANTHROPIC_BASE_URL=" + m_target.base +
                " GOOGLE_GEMINI_BASE_URL=" + m_target.base;
  }
  return check;
}

CheckResult Doctor::check_http_proxy() {
  CheckResult check{"env.http_proxy"};
  const bool https = m_target.scheme == "https";
  std::optional<std::pair<std::string, std::string>> proxy;
  const std::vector<const char*> names =
      https ? std::vector<const char*>{"HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"}
            : std::vector<const char*>{"HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"};
  for (const char* name : names) {
    if (auto value = m_env(name); value && !value->empty()) {
      proxy = std::make_pair(std::string(name), *value);
      break;
    }
  }
  if (!proxy) {
    check.status = CheckStatus::pass;
    check.summary = "no " + std::string(https ? "HTTPS_PROXY" : "HTTP_PROXY") + " or ALL_PROXY set";
    return check;
  }
  std::string no_proxy = m_env("NO_PROXY").value_or(m_env("no_proxy").value_or(""));
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
    covered =
        covered || entry == "*" || bare == m_target.host || (m_target.host.ends_with("." + bare)) ||
        (m_target.host.starts_with("127.") && (entry == "127.0.0.0/8" || entry == "127.0.0.1/8"));
  }
  if (covered) {
    check.status = CheckStatus::pass;
    check.summary = proxy->first + " is set, and NO_PROXY covers " + m_target.host;
    return check;
  }
  check.status = CheckStatus::fail;
  check.summary = proxy->first + "=" + mask_url(proxy->second) +
                  " is set and NO_PROXY does not "
                  "cover " +
                  m_target.host;
  check.detail = "SDKs (Python httpx/requests, Node with a proxy agent, Go) send requests for " +
                 m_target.base +
                 " to that proxy, which answers for itself (401/407/502) or "
                 "cannot reach your loopback address at all. The doctor's own probes bypass it.";
  check.fix = "export NO_PROXY=127.0.0.1,localhost,::1" + (no_proxy.empty() ? "" : "," + no_proxy);
  return check;
}

CheckResult Doctor::check_upstream() {
  CheckResult check{"upstream.auth"};
  if (!m_options.probe_model) {
    check.summary = "skipped: pass --probe-model MODEL to send one request through to the "
                    "provider (it may cost a provider call)";
    return check;
  }
  if (!reachable()) {
    check.summary = "skipped: no HTTP answer at the target";
    return check;
  }
  const auto key = m_options.key ? m_options.key : configured_key();
  const std::string& model = *m_options.probe_model;
  ProbeRequest request{"POST", "", {{"Content-Type", "application/json"}}, "", 0};
  if (model.starts_with("claude")) {
    request.url = m_target.base + "/v1/messages";
    request.headers.emplace_back("anthropic-version", "2023-06-01");
    request.body = json{{"model", model},
                        {"max_tokens", 1},
                        {"messages", json::array({{{"role", "user"}, {"content", "ping"}}})}}
                       .dump();
  } else if (model.starts_with("gemini")) {
    request.url = m_target.base + "/v1beta/models/" + model + ":generateContent";
    request.body = json{{"contents", json::array({{{"parts", json::array({{{"text", "ping"}}})}}})},
                        {"generationConfig", {{"maxOutputTokens", 1}}}}
                       .dump();
  } else {
    request.url = m_target.base + "/v1/chat/completions";
    request.body = json{{"model", model},
                        {"max_tokens", 1},
                        {"messages", json::array({{{"role", "user"}, {"content", "ping"}}})}}
                       .dump();
  }
  if (key) {
    request.headers.emplace_back("Authorization", "Bearer " + *key);
  }
  const ProbeResponse response = probe(check, request);
  const std::string sent = "sent one request for " + model +
                           " through the proxy (it may cost a "
                           "provider call): ";
  if (response.error != TransportError::none) {
    check.status = CheckStatus::warn;
    check.summary = sent + "no answer (" + response.error_text + ")";
    return check;
  }
  const std::string status = std::to_string(response.status);
  if (response.status >= 200 && response.status < 300) {
    check.status = CheckStatus::pass;
    check.summary = sent + status + ": the provider accepted its key";
    return check;
  }
  if (is_proxy_401(response)) {
    check.status = CheckStatus::warn;
    check.summary = sent + "the proxy itself refused it (" +
                    response.header("x-agproxy-reason").value_or("401") + "); see the checks above";
    return check;
  }
  if (response.status == 401 || response.status == 403) {
    check.status = CheckStatus::fail;
    check.summary = sent + status +
                    " from the provider (no agproxy realm): the provider refused "
                    "its key — not a proxy problem";
    check.detail = "The proxy accepted your key and forwarded the request" +
                   (response.header("x-agproxy-upstream")
                        ? " to upstream " + *response.header("x-agproxy-upstream")
                        : std::string()) +
                   (response.header("x-agproxy-key")
                        ? " with provider key " + *response.header("x-agproxy-key")
                        : std::string()) +
                   "; the provider answered: " + response.body.substr(0, 200);
    check.fix = "check the provider key in proxy.upstreams[].api_keys (agproxy config show" +
                config_flag() + ")";
    return check;
  }
  if (response.status == 502 && response.body.find("upstream_tls_error") != std::string::npos) {
    check.status = CheckStatus::fail;
    check.summary = sent + "502: the proxy could not make a TLS connection to upstream " +
                    response.header("x-agproxy-upstream").value_or("(unnamed)");
    check.detail = "The proxy accepted your key, but the provider's certificate was not trusted or "
                   "the handshake failed: " +
                   response.body.substr(0, 300);
    check.fix = "if the provider uses a private CA or a self-signed certificate, set that "
                "upstream's \"ca_file\" to its CA certificate (PEM) in the config (agproxy "
                "config show" +
                config_flag() + "); otherwise check its base_url and proxy";
    return check;
  }
  check.status = CheckStatus::warn;
  check.summary = sent + status + ": " + response.body.substr(0, 160);
  return check;
}

DoctorReport Doctor::run() {
  read_client();
  DoctorReport report;
  report.checks.push_back(check_config());
  report.checks.push_back(check_reachable());
  report.checks.push_back(check_health());
  report.checks.push_back(check_effective_mode());
  report.checks.push_back(check_api_key());
  report.checks.push_back(check_simple_request());
  report.checks.push_back(check_conflict());
  report.checks.push_back(check_malformed());
  report.checks.push_back(check_foreign_key());
  report.checks.push_back(check_key_mismatch());
  report.checks.push_back(check_env_sdk());
  report.checks.push_back(check_env_agents());
  report.checks.push_back(check_http_proxy());
  report.checks.push_back(check_upstream());
  report.target = m_target.base;
  if (!m_config_path.empty() && m_settings) {
    report.config_path = m_config_path;
  }
  if (auto mode = enforced_mode()) {
    report.effective_auth_mode = std::string(to_string(*mode));
  }
  if (report.check("server.reachable").status == CheckStatus::fail) {
    report.verdict = "server.reachable";
  } else {
    for (const CheckResult& check : report.checks) {
      if (check.status == CheckStatus::fail) {
        report.verdict = check.id;
        break;
      }
    }
  }
  return report;
}

} // namespace

std::string_view to_string(CheckStatus status) {
  switch (status) {
  case CheckStatus::pass:
    return "pass";
  case CheckStatus::warn:
    return "warn";
  case CheckStatus::fail:
    return "fail";
  case CheckStatus::skip:
    return "skip";
  }
  return "skip";
}

int DoctorReport::exit_code() const {
  if (verdict == std::optional<std::string>("server.reachable")) {
    return 3;
  }
  return verdict ? 1 : 0;
}

const CheckResult& DoctorReport::check(std::string_view id) const {
  for (const CheckResult& result : checks) {
    if (result.id == id) {
      return result;
    }
  }
  throw std::out_of_range("no check " + std::string(id));
}

DoctorReport run_doctor_401(const DoctorOptions& options, const Environment& env,
                            HttpProber& prober) {
  if (options.timeout_seconds <= 0) {
    throw UsageError("--timeout must be more than 0 seconds");
  }
  return Doctor(options, env, prober).run();
}

} // namespace agproxy::diag
