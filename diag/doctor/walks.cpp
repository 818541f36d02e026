#include "diag/doctor/walks.hpp"

namespace agproxy::diag::doctor {

namespace {

constexpr Check k_checks_401[] = {
    {"config.load", check_config_load},
    {"server.reachable", check_server_reachable},
    {"health.probe", check_health_probe},
    {"auth.effective_mode", check_auth_effective_mode},
    {"auth.api_key", check_auth_api_key},
    {"auth.simple_request", check_auth_simple_request},
    {"headers.conflict", check_headers_conflict},
    {"headers.malformed", check_headers_malformed},
    {"headers.foreign_key", check_headers_foreign_key},
    {"headers.key_mismatch", check_headers_key_mismatch},
    {"env.sdk", check_env_sdk},
    {"env.agents", check_env_agents},
    {"env.http_proxy", check_env_http_proxy},
    {"upstream.auth", check_upstream_auth},
};

std::string all_clear_401(const Context& context) {
  return std::string("No check fails: the proxy accepts the key as configured.") +
         (context.client ? ""
                         : " If a client still gets 401, pass its headers: -H 'Name: value' or "
                           "--curl '…'.");
}

constexpr Check k_checks_429[] = {
    {"config.load", check_config_load},       {"server.reachable", check_server_reachable_with_key},
    {"throttle.guard", check_throttle_guard}, {"upstream.route", check_upstream_route},
    {"upstream.quota", check_upstream_quota}, {"upstream.keys", check_upstream_keys},
    {"client.retry", check_client_retry},     {"upstream.probe", check_upstream_probe},
};

std::string all_clear_429(const Context& context) {
  return std::string("No check fails: neither the guard, the provider's limits, the keys nor the "
                     "clients' retries explain a 429 now.") +
         (context.options.model || context.options.probe_model
              ? ""
              : " If a client still gets 429, name its model (--model M) or send one request "
                "(--probe-model M).");
}

constexpr Walk k_walk_401{"401", k_checks_401, all_clear_401};
constexpr Walk k_walk_429{"429", k_checks_429, all_clear_429};

// Return whether `checks` are the checks `ids` name, in that order.
template <size_t N, size_t M>
constexpr bool same_ids(const Check (&checks)[N], const char* const (&ids)[M]) {
  if (N != M) {
    return false;
  }
  for (size_t i = 0; i < N; ++i) {
    if (checks[i].id != std::string_view(ids[i])) {
      return false;
    }
  }
  return true;
}
static_assert(same_ids(k_checks_401, k_check_ids), "k_check_ids lists the 401 walk");
static_assert(same_ids(k_checks_429, k_check_ids_429), "k_check_ids_429 lists the 429 walk");

} // namespace

const Walk& walk_401() {
  return k_walk_401;
}

const Walk& walk_429() {
  return k_walk_429;
}

DoctorReport run_walk(const Walk& walk, const DoctorOptions& options, const Environment& env,
                      HttpProber& prober) {
  if (options.timeout_seconds <= 0) {
    throw UsageError("--timeout must be more than 0 seconds");
  }
  Context context(options, env, prober);
  context.read_pasted_client();
  context.read_window();
  DoctorReport report;
  report.topic = std::string(walk.topic);
  for (const Check& check : walk.checks) {
    report.checks.push_back(check.run(context, CheckResult(std::string(check.id))));
  }
  report.target = context.target.base;
  if (!context.config_path.empty() && context.settings) {
    report.config_path = context.config_path;
  }
  if (auto mode = context.enforced_mode()) {
    report.effective_auth_mode = std::string(to_string(*mode));
  }
  report.all_clear = walk.all_clear(context);
  // An unreachable target explains every failure after it.
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

} // namespace agproxy::diag::doctor
