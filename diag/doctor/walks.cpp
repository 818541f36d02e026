#include "diag/doctor/walks.hpp"

#include "diag/doctor/recorded.hpp"

namespace agproxy::diag::doctor {

namespace {

constexpr Step k_steps_401[] = {
    check("config.load", check_config_load),
    check("server.reachable", check_server_reachable),
    check("health.probe", check_health_probe),
    // Without -H / --curl, the clients the server refused are the ones judged.
    input(read_recorded_denials),
    client_check("auth.effective_mode", check_auth_effective_mode),
    check("auth.api_key", check_auth_api_key),
    check("auth.simple_request", check_auth_simple_request),
    client_check("headers.conflict", check_headers_conflict),
    client_check("headers.malformed", check_headers_malformed),
    client_check("headers.foreign_key", check_headers_foreign_key),
    client_check("headers.key_mismatch", check_headers_key_mismatch),
    check("env.sdk", check_env_sdk),
    check("env.agents", check_env_agents),
    check("env.http_proxy", check_env_http_proxy),
    check("upstream.auth", check_upstream_auth),
};

std::string all_clear_401(const Context& context) {
  return std::string("No check fails: the proxy accepts the key as configured.") +
         (context.client ? ""
                         : " If a client still gets 401, pass its headers: -H 'Name: value' or "
                           "--curl '…'.");
}

constexpr Step k_steps_429[] = {
    check("config.load", check_config_load),
    check("server.reachable", check_server_reachable_with_key),
    check("throttle.guard", check_throttle_guard),
    check("upstream.route", check_upstream_route),
    check("upstream.quota", check_upstream_quota),
    check("upstream.keys", check_upstream_keys),
    check("client.retry", check_client_retry),
    check("upstream.probe", check_upstream_probe),
};

std::string all_clear_429(const Context& context) {
  return std::string("No check fails: neither the guard, the provider's limits, the keys nor the "
                     "clients' retries explain a 429 now.") +
         (context.options.model || context.options.probe_model
              ? ""
              : " If a client still gets 429, name its model (--model M) or send one request "
                "(--probe-model M).");
}

constexpr Walk k_walk_401{"401", k_steps_401, all_clear_401};
constexpr Walk k_walk_429{"429", k_steps_429, all_clear_429};

// Return whether the checks of `steps` are the checks `ids` name, in that order.
template <size_t N, size_t M>
constexpr bool same_ids(const Step (&steps)[N], const char* const (&ids)[M]) {
  size_t i = 0;
  for (const Step& step : steps) {
    if (step.id.empty()) { // an input (not its function pointer: not a constant under ASan)
      continue;
    }
    if (i == M || step.id != std::string_view(ids[i])) {
      return false;
    }
    ++i;
  }
  return i == M;
}
static_assert(same_ids(k_steps_401, k_check_ids), "k_check_ids lists the 401 walk");
static_assert(same_ids(k_steps_429, k_check_ids_429), "k_check_ids_429 lists the 429 walk");

// Return the first failing check's id.
std::optional<std::string> first_failing(const std::vector<CheckResult>& checks) {
  for (const CheckResult& result : checks) {
    if (result.status == CheckStatus::fail) {
      return result.id;
    }
  }
  return std::nullopt;
}

// Judge each client the server refused with the walk's client checks, over its own evidence.
std::vector<ClientDiagnosis> diagnose_recorded(const Walk& walk, Context& context) {
  std::vector<ClientDiagnosis> diagnoses;
  for (const RecordedClient& recorded : context.recorded.clients) {
    context.client = recorded.evidence;
    ClientDiagnosis diagnosis;
    diagnosis.name = recorded.name;
    diagnosis.address = recorded.address;
    diagnosis.user_agent = recorded.user_agent;
    if (const KeyHeaderEvidence* read = recorded.evidence.read(); read && read->key) {
      diagnosis.key_last4 = read->key->last4;
      diagnosis.key_sha256 = read->key->sha256;
    }
    diagnosis.summary = story_of(recorded, context.expected_key());
    diagnosis.requests = recorded.requests;
    diagnosis.first = recorded.first;
    diagnosis.last = recorded.last;
    diagnosis.seconds_ago = recorded.seconds_ago;
    diagnosis.routes = recorded.routes;
    diagnosis.reasons = recorded.reasons;
    for (const Step& step : walk.steps) {
      if (step.per_client) {
        CheckResult result = step.check(context, CheckResult(std::string(step.id)));
        result.trace.clear();
        diagnosis.checks.push_back(std::move(result));
      }
    }
    diagnosis.verdict = first_failing(diagnosis.checks);
    diagnoses.push_back(std::move(diagnosis));
  }
  if (!context.recorded.clients.empty()) {
    context.client = context.recorded.clients.front().evidence;
  }
  return diagnoses;
}

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
  context.read_arguments();
  DoctorReport report;
  report.topic = std::string(walk.topic);
  for (const Step& step : walk.steps) {
    if (step.read) {
      step.read(context);
      continue;
    }
    CheckResult result = step.check(context, CheckResult(std::string(step.id)));
    const std::optional<std::string> sender =
        context.client ? context.client->sender : std::nullopt;
    if (step.per_client && sender &&
        (result.status == CheckStatus::fail || result.status == CheckStatus::warn)) {
      const size_t count = context.recorded.clients.size();
      result.detail += std::string(result.detail.empty() ? "" : " ") + "(Judged on " + *sender +
                       (count == 1 ? ", the client the proxy refused.)"
                                   : ", the most recent of the " + std::to_string(count) +
                                         " clients the proxy refused.)");
    }
    report.checks.push_back(std::move(result));
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
    report.verdict = first_failing(report.checks);
  }
  report.clients = diagnose_recorded(walk, context);
  report.clients_window = context.recorded.window;
  report.all_clear = walk.all_clear(context);
  return report;
}

} // namespace agproxy::diag::doctor
