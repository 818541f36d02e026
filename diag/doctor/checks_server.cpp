#include "diag/doctor/checks.hpp"

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
  context.health = context.probe(check.trace, {"GET", context.target.base + "/healthz", {}, "", 0});
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

} // namespace agproxy::diag::doctor
