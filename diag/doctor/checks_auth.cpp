#include "diag/doctor/checks.hpp"
#include "server/auth/secret.hpp"

namespace agproxy::diag::doctor {

CheckResult check_auth_effective_mode(Context& context, CheckResult check) {
  if (context.reachable() && !context.observed_mode && (context.health->status == 200)) {
    // /healthz passes without a key: off or all_except_health. /v1/models tells which.
    const ProbeResponse models =
        context.probe(check.trace, {"GET", context.target.base + "/v1/models", {}, "", 0});
    if (models.status == 200) {
      context.observed_mode = AuthMode::off;
    } else if (context.is_proxy_401(models)) {
      context.observed_mode = AuthMode::all_except_health;
    }
  }
  const std::optional<AuthMode> mode = context.enforced_mode();
  if (!mode) {
    check.summary = "skipped: neither the config nor the server tells the auth mode";
    return check;
  }
  const std::string mode_name(to_string(*mode));
  std::string why;
  if (context.settings) {
    why = explain_effective_mode(context.settings->auth_mode, context.settings->allow_lan_access);
  }
  if (context.observed_mode && context.config_mode &&
      *context.observed_mode != *context.config_mode) {
    check.status = CheckStatus::fail;
    check.summary = "the server enforces " + mode_name + ", but the config implies " +
                    std::string(to_string(*context.config_mode)) + " (" + why + ")";
    check.detail = "The running proxy uses other settings than " + context.config_path +
                   ": an instance started before the file changed, another config file "
                   "(--config, AGPROXY_CONFIG), a --auth-mode or --allow-lan flag, or "
                   "AGPROXY_AUTH_MODE / AGPROXY_ALLOW_LAN_ACCESS in its environment.";
    check.fix = "restart it with this file: agproxy serve" + context.config_flag() +
                " (or pass --config with the file it runs with)";
    return check;
  }
  if (context.client) {
    // Whether the route needs a key depends on the mode, the method and the path alone.
    const ClientEvidence& client = *context.client;
    const AuthPolicy policy(*mode, context.configured_key().value_or("(unknown)"));
    const AuthRequest request{client.method, client.path, std::nullopt, std::nullopt, std::nullopt};
    if (decide(policy, request).key_required && !client.read()) {
      check.status = CheckStatus::fail;
      check.summary = (client.sender ? *client.sender + " sent no key"
                                     : std::string("your request carries no key")) +
                      ", and auth mode " + mode_name + " requires one for " + client.method + " " +
                      client.path;
      check.detail =
          (context.settings && context.settings->auth_mode == AuthMode::auto_ &&
                   context.settings->allow_lan_access
               ? "auth_mode=auto with allow_lan_access=true behaves as all_except_health: turning "
                 "LAN access on turned auth on. "
               : "") +
          std::string("Only GET/HEAD /healthz pass without a key in all_except_health; nothing "
                      "does in strict.");
      check.fix = "send the key: -H \"Authorization: Bearer $(agproxy key show --reveal" +
                  context.config_flag() + ")\"" +
                  (context.settings && context.settings->auth_mode == AuthMode::auto_
                       ? "; or, for no auth on this machine only, set proxy.allow_lan_access to "
                         "false (auto → off)"
                       : "");
      return check;
    }
  }
  if (context.settings && context.settings->allow_lan_access && *mode == AuthMode::off) {
    check.status = CheckStatus::warn;
    check.summary = "auth is off while the proxy is reachable from the LAN";
    check.detail = "Anyone on the network can use the provider keys behind it.";
    check.fix = "set proxy.auth_mode to \"auto\" or \"all_except_health\"";
    return check;
  }
  check.status = CheckStatus::pass;
  check.summary = "auth mode " + mode_name +
                  (context.observed_mode && context.config_mode ? ", as the config implies"
                   : context.observed_mode                      ? " (observed)"
                                           : " (from the config; server not checked)") +
                  (why.empty() ? "" : ": " + why);
  return check;
}

CheckResult check_auth_api_key(Context& context, CheckResult check) {
  const std::optional<AuthMode> mode = context.enforced_mode();
  if (!mode) {
    check.summary = "skipped: the auth mode is unknown";
    return check;
  }
  if (*mode == AuthMode::off) {
    check.status = CheckStatus::pass;
    check.summary = "auth is off: no key is checked";
    return check;
  }
  const bool config_empty = context.settings && context.settings->api_key.empty();
  const bool server_empty = context.observed_key_configured == false;
  if (config_empty || server_empty) {
    check.status = CheckStatus::fail;
    check.summary = "auth is on (" + std::string(to_string(*mode)) +
                    ") but the proxy's api_key is empty: every request that needs the key is "
                    "denied";
    check.detail =
        std::string(server_empty ? "The server reports api_key_configured=false. " : "") +
        "Its log says: Proxy auth is enabled but api_key is empty; denying request";
    check.fix = "agproxy key regenerate" + context.config_flag() +
                " (a running proxy uses the new key within 1 s)";
    return check;
  }
  check.status = CheckStatus::pass;
  check.summary = "a proxy key is configured" +
                  (context.configured_key() ? " (" + describe_key(*context.configured_key()) + ")"
                                            : std::string());
  return check;
}

CheckResult check_auth_simple_request(Context& context, CheckResult check) {
  if (!context.reachable()) {
    check.summary = "skipped: no HTTP answer at the target";
    return check;
  }
  const bool from_flag = context.options.key.has_value();
  const std::optional<std::string> key = from_flag ? context.options.key : context.configured_key();
  if (!key || key->empty()) {
    check.summary = "skipped: no key to try (pass --key KEY, or --config with the proxy's file)";
    return check;
  }
  const ProbeResponse response = context.probe(
      check.trace,
      {"GET", context.target.base + "/v1/models", {{"Authorization", "Bearer " + *key}}, "", 0});
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
  if (context.is_proxy_401(response)) {
    check.status = CheckStatus::fail;
    const std::string reason = response.header("x-agproxy-reason").value_or("401");
    check.summary = "the proxy refuses the " +
                    std::string(from_flag ? "key you passed" : "configured key") + " (" +
                    describe_key(*key) + "): " + reason;
    if (from_flag) {
      check.detail = "The key given with --key is not the proxy's key.";
      check.fix = "compare with the proxy's: agproxy key show" + context.config_flag();
    } else {
      check.detail = "The key in " + context.config_path +
                     " is not the key the running server checks: it has not reloaded the file "
                     "(an old version, or a reload refused: see its log), it is another instance, "
                     "or AGPROXY_API_KEY / --api-key overrides the file in its environment.";
      check.fix = "restart the proxy with this file: agproxy serve" + context.config_flag();
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

} // namespace agproxy::diag::doctor
