#include "diag/doctor/context.hpp"

#include "server/auth/secret.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace agproxy::diag::doctor {

namespace {

bool is_local_host(const std::string& host) {
  return host == "localhost" || host == "127.0.0.1" || host == "::1" || host.starts_with("127.");
}

} // namespace

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

std::string url_path(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) {
    return "/";
  }
  std::string path = url.substr(slash);
  return path.substr(0, path.find_first_of("?#"));
}

bool same_endpoint(const Target& a, const Target& b) {
  const bool hosts_match = a.host == b.host || (is_local_host(a.host) && is_local_host(b.host));
  return hosts_match && a.port == b.port;
}

std::optional<long> parse_duration(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  if (digits == 0 || digits > 9) {
    return std::nullopt;
  }
  const long count = std::stol(std::string(text.substr(0, digits)));
  const std::string_view unit = text.substr(digits);
  long scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  } else if (unit == "d") {
    scale = 86400;
  }
  if (scale == 0 || count == 0) {
    return std::nullopt;
  }
  return count * scale;
}

Protocol family_of_model(std::string_view model) {
  if (model.starts_with("claude")) {
    return Protocol::anthropic;
  }
  if (model.starts_with("gemini")) {
    return Protocol::gemini;
  }
  return Protocol::openai;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const std::string& item : items) {
    out += (out.empty() ? "" : separator) + item;
  }
  return out;
}

void Context::read_arguments() {
  if (options.since) {
    since_seconds = parse_duration(*options.since);
    if (!since_seconds) {
      throw UsageError("--since: '" + *options.since +
                       "' is not a duration such as 30s, 10m, 2h or 1d");
    }
    if (options.curl || !options.headers.empty()) {
      throw UsageError("--since limits the requests the proxy recorded; it does not go with -H "
                       "or --curl");
    }
  }
  std::optional<ClientRequest> request;
  if (options.curl) {
    std::string error;
    auto parsed = parse_curl_command(*options.curl, error);
    if (!parsed) {
      throw UsageError("--curl: " + error);
    }
    request = std::move(*parsed);
  }
  for (const std::string& argument : options.headers) {
    std::string error;
    auto header = parse_header_argument(argument, error);
    if (!header) {
      throw UsageError(error);
    }
    if (!request) {
      request = ClientRequest{};
    }
    request->headers.push_back(std::move(*header));
  }
  if (!request) {
    return;
  }
  std::string method = "GET";
  std::string path = "/v1/models";
  if (request->url) {
    path = url_path(*request->url);
    method = request->method.value_or("GET");
    if (!request->method) {
      // curl turns -d into a POST; the key check does not depend on the method except for health.
      method = path == "/healthz" || path == "/health" ? "GET" : "POST";
    }
  }
  client = evidence_from_request(*request, std::move(method), std::move(path));
}

namespace {

// Return why `response` to GET `path` shows nothing of what the server saw, or "" when it does.
std::string unavailable_reason(const Context& context, const ProbeResponse& response,
                               const std::string& path, ServerView& view) {
  if (response.error != TransportError::none) {
    return "GET " + path + " got no answer (" + response.error_text + ")";
  }
  if (response.status == 200) {
    return "";
  }
  const std::string reason = response.header("x-agproxy-reason").value_or("");
  if (response.status == 404) {
    view.not_served = true;
    return "the server does not serve " + path +
           " (Antigravity Tools, or an agproxy older than its record of requests), so it shows "
           "neither its guard nor its keys";
  }
  if (response.status == 429 && reason == "too_many_auth_failures") {
    view.blocked_here = true;
    if (const auto wait = parse_duration(response.header("retry-after").value_or(""))) {
      view.blocked_retry_after = *wait;
    }
    return "the brute-force guard refuses this machine's requests, the doctor's included";
  }
  if (context.is_proxy_401(response)) {
    return "the proxy refused the key the doctor sent for " + path + " (" +
           (reason.empty() ? "401" : reason) +
           "): pass the proxy's key with --key, or find out why: agproxy doctor 401" +
           context.config_flag();
  }
  if (response.status == 403 && reason == "not_loopback") {
    return "the server shows " + path +
           " only to clients on its own machine: run the doctor there (--url "
           "http://127.0.0.1:PORT)";
  }
  return "GET " + path + " answered " + std::to_string(response.status);
}

} // namespace

const ServerView& Context::observe(std::vector<std::string>& trace) {
  if (server_view) {
    trace.push_back("(what the server saw, read by an earlier check)");
    return *server_view;
  }
  ServerView& view = server_view.emplace();
  if (since_seconds) {
    view.window = "in the last " + *options.since;
  }
  if (!reachable()) {
    view.unavailable = "no HTTP answer at the target";
    return view;
  }
  if (health->status == 429 && health->header("x-agproxy-reason") == "too_many_auth_failures") {
    view.unavailable = unavailable_reason(*this, *health, "/healthz", view);
    return view;
  }
  std::vector<std::pair<std::string, std::string>> headers;
  if (const auto key = expected_key(); key && !key->empty()) {
    headers.emplace_back("Authorization", "Bearer " + *key);
  }
  const ProbeResponse status =
      probe(trace, {"GET", target.base + "/agproxy/status", headers, "", 0});
  view.unavailable = unavailable_reason(*this, status, "/agproxy/status", view);
  if (!view.unavailable.empty()) {
    return view;
  }
  const std::string events_path =
      "/agproxy/events" + (since_seconds ? "?since=" + std::to_string(*since_seconds) : "");
  const ProbeResponse events = probe(trace, {"GET", target.base + events_path, headers, "", 0});
  view.unavailable = unavailable_reason(*this, events, "/agproxy/events", view);
  if (!view.unavailable.empty()) {
    return view;
  }
  auto parsed_status = parse_status(status.body);
  auto parsed_events = parse_events(events.body, view.now);
  if (!parsed_status || !parsed_events) {
    view.unavailable = "the server's /agproxy/status or /agproxy/events is not agproxy's";
    return view;
  }
  view.status = std::move(parsed_status);
  view.events = std::move(*parsed_events);
  return view;
}

ProbeRequest Context::model_request(const std::string& asked) const {
  using nlohmann::json;
  ProbeRequest request{"POST", "", {{"Content-Type", "application/json"}}, "", 0};
  const json messages = json::array({{{"role", "user"}, {"content", "ping"}}});
  switch (family_of_model(asked)) {
  case Protocol::anthropic:
    request.url = target.base + "/v1/messages";
    request.headers.emplace_back("anthropic-version", "2023-06-01");
    request.body = json{{"model", asked}, {"max_tokens", 1}, {"messages", messages}}.dump();
    break;
  case Protocol::gemini:
    request.url = target.base + "/v1beta/models/" + asked + ":generateContent";
    request.body = json{{"contents", json::array({{{"parts", json::array({{{"text", "ping"}}})}}})},
                        {"generationConfig", {{"maxOutputTokens", 1}}}}
                       .dump();
    break;
  case Protocol::openai:
  case Protocol::openai_responses:
    request.url = target.base + "/v1/chat/completions";
    request.body = json{{"model", asked}, {"max_tokens", 1}, {"messages", messages}}.dump();
    break;
  }
  if (const auto key = expected_key()) {
    request.headers.emplace_back("Authorization", "Bearer " + *key);
  }
  return request;
}

std::string Context::config_flag() const {
  return config_explicit ? " --config '" + config_path + "'" : "";
}

std::optional<AuthMode> Context::enforced_mode() const {
  return observed_mode ? observed_mode : config_mode;
}

std::optional<std::string> Context::configured_key() const {
  if (settings && settings->api_key_present) {
    return settings->api_key;
  }
  return std::nullopt;
}

std::optional<std::string> Context::expected_key() const {
  return options.key ? options.key : configured_key();
}

bool Context::is_proxy_401(const ProbeResponse& response) const {
  if (response.status != 401) {
    return false;
  }
  const std::string challenge = response.header("www-authenticate").value_or("");
  if (challenge.find(k_realm) != std::string::npos || response.header("x-agproxy-reason")) {
    return true;
  }
  // Antigravity Tools answers its own 401s with no challenge and an empty body.
  return kind == ServerKind::antigravity && response.body.empty();
}

std::string Context::shown_header_value(const std::string& name, const std::string& value) const {
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

std::string Context::curl_for(const ProbeRequest& request) const {
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

ProbeResponse Context::probe(std::vector<std::string>& trace, ProbeRequest request) {
  request.timeout_seconds = options.timeout_seconds;
  trace.push_back("> " + request.method + " " + request.url);
  for (const auto& [name, value] : request.headers) {
    trace.push_back("> " + name + ": " + shown_header_value(name, value));
  }
  ProbeResponse response = prober.send(request);
  if (response.error != TransportError::none) {
    trace.push_back("< (no HTTP answer: " + response.error_text + ")");
  } else {
    trace.push_back("< " + std::to_string(response.status));
    for (const char* name : {"www-authenticate", "x-agproxy-reason", "content-type"}) {
      if (auto value = response.header(name)) {
        trace.push_back("< " + std::string(name) + ": " + *value);
      }
    }
    if (!response.body.empty()) {
      trace.push_back("< " + response.body.substr(0, 300));
    }
  }
  trace.push_back("  reproduce: " + curl_for(request));
  return response;
}

} // namespace agproxy::diag::doctor
