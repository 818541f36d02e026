#pragma once

#include "diag/http_probe.hpp"
#include "server/config/config.hpp"

#include <optional>
#include <string>
#include <vector>

namespace agproxy::diag {

// A problem with the doctor's own arguments (exit 2), as opposed to a finding.
class UsageError : public Error {
public:
  using Error::Error;
};

// The outcome of one check.
enum class CheckStatus { pass, warn, fail, skip };

// Return "pass", "warn", "fail" or "skip".
std::string_view to_string(CheckStatus status);

// One check of the report, with a stable id (DESIGN §4).
struct CheckResult {
  // Start a check `id`, skipped until it says otherwise.
  explicit CheckResult(std::string check_id = {}) : id(std::move(check_id)) {}

  std::string id;
  CheckStatus status = CheckStatus::skip;
  std::string summary;
  std::string detail;
  std::string fix;
  // Redacted request/response lines and a reproducing curl command, shown with -v.
  std::vector<std::string> trace;
};

// What `agproxy doctor 401` or `doctor 429` was asked.
struct DoctorOptions {
  std::optional<std::string> url;
  std::optional<std::string> config_path;
  std::optional<std::string> key;
  std::vector<std::string> headers;
  std::optional<std::string> curl;
  std::optional<std::string> probe_model;
  // The coding agent env.agents limits itself to ("claude-code", "codex", "gemini-cli").
  std::optional<std::string> client;
  // doctor 429: the model the failing client asks for.
  std::optional<std::string> model;
  // How far back the server's record is read ("30s", "10m", "2h", "1d"): doctor 401 without -H /
  // --curl, doctor 429.
  std::optional<std::string> since;
  double timeout_seconds = 2;
};

// A client the server recorded as refused (DESIGN §8), judged by the checks that judge a client's
// request: its requests grouped by address, User-Agent and key.
struct ClientDiagnosis {
  // The client by name ("Claude Code 2.1.332", from its User-Agent) and address.
  std::string name;
  std::string address;
  std::optional<std::string> user_agent;
  // The key it sent, as its last 4 characters and an 8-hex SHA-256 prefix.
  std::optional<std::string> key_last4;
  std::optional<std::string> key_sha256;
  // What it sent and what came of it, in one sentence.
  std::string summary;
  int requests = 0;
  // When its first and last refused requests were, as the server wrote them (RFC 3339).
  std::string first;
  std::string last;
  // How long ago the last was, by the server's clock.
  std::optional<long> seconds_ago;
  // Its refused requests' methods and paths ("POST /v1/messages") and the reasons, each once,
  // most recent first.
  std::vector<std::string> routes;
  std::vector<std::string> reasons;
  // The client checks' results over its most recent request, and the first that fails.
  std::vector<CheckResult> checks;
  std::optional<std::string> verdict;
};

// The whole diagnosis.
struct DoctorReport {
  // The walk that made it: "401" or "429".
  std::string topic = "401";
  std::string target;
  std::optional<std::string> config_path;
  std::optional<std::string> effective_auth_mode;
  std::vector<CheckResult> checks;
  // The id of the failing check that explains the error, if any fails.
  std::optional<std::string> verdict;
  // The last line of the text report when no check fails.
  std::string all_clear;
  // Without -H / --curl: the clients the server recorded as refused, most recent first (the
  // client checks above judge the first), and the window read ("in the last 10m", or empty).
  std::vector<ClientDiagnosis> clients;
  std::string clients_window;

  // Return the exit code: 0 no failing check, 1 a failing check, 3 proxy unreachable.
  int exit_code() const;
  // Return the check with `id`.
  const CheckResult& check(std::string_view id) const;
};

// The check ids of `doctor 401` in the order they run and decide the verdict.
inline constexpr const char* k_check_ids[] = {
    "config.load",         "server.reachable",     "health.probe",     "auth.effective_mode",
    "auth.api_key",        "auth.simple_request",  "headers.conflict", "headers.malformed",
    "headers.foreign_key", "headers.key_mismatch", "env.sdk",          "env.agents",
    "env.http_proxy",      "upstream.auth"};

// The check ids of `doctor 429` in the order they run and decide the verdict (DESIGN §8).
inline constexpr const char* k_check_ids_429[] = {
    "config.load",    "server.reachable", "throttle.guard", "upstream.route",
    "upstream.quota", "upstream.keys",    "client.retry",   "upstream.probe"};

// Walk the 401 checks (diag/doctor/walks.cpp) against the target and config of `options`, reading
// `env` (never changing it) and sending probes with `prober`. Throws UsageError for bad arguments.
DoctorReport run_doctor_401(const DoctorOptions& options, const Environment& env,
                            HttpProber& prober);

// Walk the 429 checks (diag/doctor/walks.cpp) as run_doctor_401 walks the 401 ones, reading also
// what the server saw (GET /agproxy/status and /agproxy/events).
DoctorReport run_doctor_429(const DoctorOptions& options, const Environment& env,
                            HttpProber& prober);

} // namespace agproxy::diag
