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

constexpr Walk k_walk_401{"401", k_checks_401};

} // namespace

const Walk& walk_401() {
  return k_walk_401;
}

DoctorReport run_walk(const Walk& walk, const DoctorOptions& options, const Environment& env,
                      HttpProber& prober) {
  if (options.timeout_seconds <= 0) {
    throw UsageError("--timeout must be more than 0 seconds");
  }
  Context context(options, env, prober);
  context.read_pasted_client();
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
