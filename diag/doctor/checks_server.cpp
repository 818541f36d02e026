#include "diag/doctor/checks.hpp"
#include "server/auth/throttle.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

namespace agproxy::diag::doctor {

namespace {

using nlohmann::json;

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

} // namespace

CheckResult check_config_load(Context& context, CheckResult check) {
  context.config_explicit = context.options.config_path.has_value();
  ConfigLocation location;
  try {
    location = locate_config(context.options.config_path, context.env);
  } catch (const Error& e) {
    check.status = CheckStatus::warn;
    check.summary = "no config file could be located";
    check.detail = e.what();
    check.fix = "pass --config PATH";
    return check;
  }
  context.config_path = location.path;
  std::error_code ec;
  std::string antigravity_note;
  if (!std::filesystem::exists(location.path, ec) && location.source != PathSource::flag &&
      location.source != PathSource::agproxy_config_env) {
    const auto home = context.env("HOME");
    const std::string antigravity = home ? *home + "/.antigravity_tools/gui_config.json" : "";
    if (!antigravity.empty() && std::filesystem::exists(antigravity, ec)) {
      antigravity_note = "no agproxy config at " + location.path + "; using Antigravity Tools' " +
                         antigravity + ". ";
      context.config_path = antigravity;
      context.config_explicit = true;
    }
  }
  ConfigDocument document;
  try {
    document = load_config(context.config_path);
  } catch (const Error& e) {
    check.status = CheckStatus::fail;
    check.summary = context.config_path + " does not load: the proxy refuses this file";
    check.detail = antigravity_note + e.what() +
                   ". A running proxy keeps the settings it had before the edit (its log says "
                   "'config reload refused'); a new one will not start.";
    check.fix =
        "fix the field named above, then check: agproxy config validate" + context.config_flag();
    return check;
  }
  if (!document.exists) {
    check.status = CheckStatus::warn;
    check.summary = "no config file at " + context.config_path;
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
    effective = apply_overrides(document.settings, context.env, {});
  } catch (const Error& e) {
    check.status = CheckStatus::fail;
    check.summary = "an AGPROXY_* variable in this shell is invalid";
    check.detail = e.what();
    check.fix = "unset it or correct it";
    return check;
  }
  context.settings = effective.settings;
  context.config_mode =
      effective_auth_mode(context.settings->auth_mode, context.settings->allow_lan_access);
  check.status = CheckStatus::pass;
  check.summary =
      "read " + context.config_path + ": " +
      explain_effective_mode(context.settings->auth_mode, context.settings->allow_lan_access);
  std::vector<std::string> overrides;
  for (const auto& [field, source] : effective.overridden) {
    overrides.push_back(field + " from " + source);
  }
  check.detail =
      antigravity_note + "auth_mode=" + std::string(to_string(context.settings->auth_mode)) +
      ", allow_lan_access=" + (context.settings->allow_lan_access ? "true" : "false") +
      ", api_key " +
      (context.settings->api_key_present ? describe_key(context.settings->api_key) : "(absent)") +
      ", port " + std::to_string(context.settings->port) +
      (overrides.empty() ? "" : "; overridden in this shell: " + join(overrides, ", "));
  return check;
}

CheckResult check_server_reachable(Context& context, CheckResult check) {
  // The target: --url, else the pasted curl command's, else the config's port on loopback.
  std::string url = "http://127.0.0.1:" +
                    std::to_string(context.settings ? context.settings->port : k_default_port);
  if (context.options.url) {
    url = *context.options.url;
  } else if (context.client && context.client->url) {
    url = *context.client->url;
  }
  auto target = parse_url(url);
  if (!target) {
    throw UsageError("--url: '" + url + "' is not an http:// or https:// URL with a host");
  }
  context.target = *target;
  std::vector<std::pair<std::string, std::string>> headers;
  if (const auto key = context.expected_key(); context.health_with_key && key && !key->empty()) {
    headers.emplace_back("Authorization", "Bearer " + *key);
  }
  context.health =
      context.probe(check.trace, {"GET", context.target.base + "/healthz", headers, "", 0});
  const ProbeResponse& health = *context.health;
  const std::string where = context.target.host + ":" + std::to_string(context.target.port);
  const std::string timeout = std::to_string(static_cast<int>(context.options.timeout_seconds));
  switch (health.error) {
  case TransportError::none:
    break;
  case TransportError::refused:
    check.summary = "nothing listens at " + where + " (connection refused)";
    check.fix =
        "start the proxy: agproxy serve" + context.config_flag() +
        (context.settings && context.target.port != context.settings->port
             ? " (or point --url at proxy.port " + std::to_string(context.settings->port) + ")"
             : "");
    break;
  case TransportError::timeout:
    check.summary = where + " gave no HTTP answer within " + timeout + " s (timeout)";
    check.fix =
        "see what holds the port: ss -ltnp 'sport = :" + std::to_string(context.target.port) +
        "'; a firewall may drop the connection";
    break;
  case TransportError::no_answer:
    check.summary = "something at " + where + " closed the connection without an HTTP answer";
    check.fix =
        "see what holds the port: ss -ltnp 'sport = :" + std::to_string(context.target.port) + "'";
    break;
  case TransportError::not_http:
    check.summary = "something at " + where + " answers, but not in HTTP";
    check.fix =
        "see what holds the port: ss -ltnp 'sport = :" + std::to_string(context.target.port) +
        "'; https:// vs http:// mixed up?";
    break;
  case TransportError::unresolved:
    check.summary = "the host " + context.target.host + " does not resolve";
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
    context.kind = ServerKind::agproxy;
    if (body["auth_mode"].is_string()) {
      context.observed_mode = parse_auth_mode(body["auth_mode"].get<std::string>());
    }
    if (body["api_key_configured"].is_boolean()) {
      context.observed_key_configured = body["api_key_configured"].get<bool>();
    }
  } else if (challenge.find(k_realm) != std::string::npos || health.header("x-agproxy-reason")) {
    context.kind = ServerKind::agproxy;
  } else if ((health.status == 200 && body.is_object() && body.contains("status")) ||
             (health.status == 401 && health.body.empty() && challenge.empty())) {
    context.kind = ServerKind::antigravity;
  }
  check.status = CheckStatus::pass;
  std::string version;
  if (body.is_object() && body.contains("version") && body["version"].is_string()) {
    version = " " + body["version"].get<std::string>();
  }
  check.summary = "HTTP answers at " + context.target.base + " (" +
                  std::string(kind_name(context.kind)) + version + ")";
  return check;
}

CheckResult check_server_reachable_with_key(Context& context, CheckResult check) {
  context.health_with_key = true;
  return check_server_reachable(context, std::move(check));
}

CheckResult check_health_probe(Context& context, CheckResult check) {
  if (!context.reachable()) {
    check.summary = "skipped: no HTTP answer at the target";
    return check;
  }
  const ProbeResponse& health = *context.health;
  check.trace.push_back("(the GET /healthz of server.reachable, without auth headers)");
  if (health.status == 200) {
    check.status = CheckStatus::pass;
    check.summary = "GET /healthz without a key: 200";
    if (context.observed_mode) {
      check.summary += " (auth mode " + std::string(to_string(*context.observed_mode)) + ")";
    }
    return check;
  }
  if (health.status == 401) {
    if (context.is_proxy_401(health)) {
      check.status = CheckStatus::pass;
      check.summary = "GET /healthz without a key: 401, so the proxy runs in strict mode (only "
                      "strict guards /healthz)";
      context.observed_mode = AuthMode::strict;
      if (auto reason = health.header("x-agproxy-reason");
          reason && *reason == "proxy_api_key_empty") {
        context.observed_key_configured = false;
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
    context.kind = ServerKind::agproxy;
    const std::string wait = health.header("retry-after").value_or("?");
    check.summary = "the proxy refuses this address for " + wait +
                    " s after too many failed keys (proxy.auth_throttle)";
    check.detail = "Every request from here gets 429 until the window ends, the right key "
                   "included; the failed keys came from a client on this address.";
    check.fix = "wait " + wait + " s, then send the right key (agproxy key show --reveal" +
                context.config_flag() +
                "); loopback is exempt unless auth_throttle.include_loopback";
    return check;
  }
  if (health.status == 404) {
    check.summary = "GET /healthz answered 404: the server at " + context.target.base +
                    " is not agproxy or Antigravity Tools";
    check.detail = "Another service holds this port, so clients pointed here never reach the "
                   "proxy; their 401 (if any) is that service's.";
  } else {
    check.summary = "GET /healthz answered " + std::to_string(health.status) +
                    ", which neither agproxy nor Antigravity Tools does";
  }
  check.fix = "find what listens there: ss -ltnp 'sport = :" + std::to_string(context.target.port) +
              "'; run the proxy on its own port (proxy.port" +
              (context.settings ? " = " + std::to_string(context.settings->port) : "") + ")";
  return check;
}

namespace {

// Return the guard's settings in words, e.g. "proxy.auth_throttle: 20 failed keys in 60 s,
// loopback exempt".
std::string guard_settings(int max_failures, long long window_s, bool include_loopback) {
  return "proxy.auth_throttle: " + std::to_string(max_failures) + " failed keys in " +
         std::to_string(window_s) + " s, loopback " + (include_loopback ? "counted" : "exempt");
}

// Return the fix of a block of `address` lifting at `lifts` ("HH:MM:SS").
std::string guard_fix(const Context& context, const std::string& address, const std::string& lifts,
                      int max_failures) {
  return "fix the client's key (why the proxy refuses it: agproxy doctor 401" +
         context.config_flag() + "), then wait until " + lifts +
         "; or raise proxy.auth_throttle.max_failures (now " + std::to_string(max_failures) + ")" +
         (is_loopback_address(address)
              ? " or set proxy.auth_throttle.include_loopback to false (loopback clients are "
                "trusted by default)"
              : std::string());
}

} // namespace

CheckResult check_throttle_guard(Context& context, CheckResult check) {
  if (!context.reachable()) {
    check.summary = "skipped: no HTTP answer at the target";
    return check;
  }
  const ServerView& view = context.observe(check.trace);
  if (view.blocked_here) {
    const auto now = std::chrono::system_clock::now();
    const long long wait = view.blocked_retry_after.value_or(0);
    const std::string lifts = clock_time(now + std::chrono::seconds(wait));
    const std::string& address = context.target.host;
    check.status = CheckStatus::fail;
    check.summary = "agproxy's brute-force guard blocks this machine (" + address +
                    "), the doctor included: too many failed keys from it; the block lifts at " +
                    time_and_distance(now + std::chrono::seconds(wait), now);
    check.detail = "Every request from " + address +
                   " gets agproxy's own 429 (too_many_auth_failures, Retry-After " +
                   std::to_string(wait) +
                   ") until its window ends, the right key included, so the server's record "
                   "cannot be read either. A client on this machine sent wrong keys";
    if (context.settings) {
      const ThrottleSettings& guard = context.settings->auth_throttle;
      check.detail +=
          " (" + guard_settings(guard.max_failures, guard.window.count(), guard.include_loopback) +
          ", as the config read says)";
    }
    check.detail += ".";
    check.fix = guard_fix(context, address, lifts,
                          context.settings ? context.settings->auth_throttle.max_failures : 0);
    return check;
  }
  if (!view.read()) {
    check.summary = "skipped: " + view.unavailable;
    return check;
  }
  const StatusSeen& status = *view.status;
  const std::string settings =
      guard_settings(status.max_failures, status.window_s, status.include_loopback);
  if (status.max_failures <= 0) {
    check.status = CheckStatus::pass;
    check.summary = "the brute-force guard is off (proxy.auth_throttle.max_failures 0)";
    return check;
  }
  std::vector<const GuardClient*> blocked, near;
  for (const GuardClient& client : status.clients) {
    if (client.blocked) {
      blocked.push_back(&client);
    } else if (client.failures * 2 >= status.max_failures) {
      near.push_back(&client);
    }
  }
  // What the events tell of an address: its User-Agent, its last refused key, the guard's 429s.
  const auto story = [&](const std::string& address, std::string& user_agent) {
    const EventSeen* denied = nullptr;
    int throttled = 0;
    for (auto it = view.events.rbegin(); it != view.events.rend(); ++it) {
      if (it->client != address) {
        continue;
      }
      if (user_agent.empty() && (it->kind == "denied" || it->kind == "throttled")) {
        user_agent = it->user_agent;
      }
      denied = !denied && it->kind == "denied" ? &*it : denied;
      throttled += it->kind == "throttled" ? 1 : 0;
    }
    std::string out;
    if (denied) {
      out += " Its last refused request: " + denied->method + " " + denied->path + " with " +
             (denied->key_last4.empty() && denied->key_sha256.empty()
                  ? std::string("no key")
                  : "a key …" + denied->key_last4 + " sha256:" + denied->key_sha256) +
             (denied->key_header.empty() ? "" : " in " + denied->key_header) + " (" +
             denied->reason + ").";
    }
    if (throttled > 0) {
      out += " The guard has refused " + std::to_string(throttled) + " of its requests since" +
             (view.window.empty() ? "" : " (" + view.window + ")") + ".";
    }
    return out;
  };
  if (!blocked.empty()) {
    const GuardClient& first = *blocked.front();
    std::string user_agent;
    const std::string told = story(first.address, user_agent);
    const SystemTime until =
        first.until.value_or(status.now + std::chrono::seconds(first.retry_after_s));
    check.status = CheckStatus::fail;
    check.summary = "agproxy's brute-force guard blocks " +
                    client_label(first.address, user_agent) + ": " +
                    std::to_string(first.failures) + " failed keys; the block lifts at " +
                    time_and_distance(until, status.now);
    check.detail = "Every request from " + first.address +
                   " gets agproxy's own 429 (too_many_auth_failures) until its window ends, the "
                   "right key included." +
                   told + " " + settings + ".";
    if (blocked.size() > 1) {
      std::vector<std::string> others;
      for (size_t i = 1; i < blocked.size(); ++i) {
        others.push_back(blocked[i]->address + " (" + std::to_string(blocked[i]->failures) +
                         " failed keys, until " + clock_time(blocked[i]->until.value_or(until)) +
                         ")");
      }
      check.detail += " Also blocked: " + join(others, ", ") + ".";
    }
    check.fix = guard_fix(context, first.address, clock_time(until), status.max_failures);
    return check;
  }
  if (!near.empty()) {
    const GuardClient& first = *near.front();
    std::string user_agent;
    const std::string told = story(first.address, user_agent);
    check.status = CheckStatus::warn;
    check.summary = client_label(first.address, user_agent) + " has " +
                    std::to_string(first.failures) + " of the " +
                    std::to_string(status.max_failures) +
                    " failed keys the guard allows: a few more and it gets 429s";
    check.detail = told.empty() ? settings + "." : told.substr(1) + " " + settings + ".";
    check.fix = "fix the client's key (why the proxy refuses it: agproxy doctor 401" +
                context.config_flag() + ")";
    return check;
  }
  check.status = CheckStatus::pass;
  check.summary = "the brute-force guard blocks no client (" + settings + ")";
  return check;
}

} // namespace agproxy::diag::doctor
