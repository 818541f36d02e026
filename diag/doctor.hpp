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

// What `agproxy doctor 401` was asked.
struct DoctorOptions {
  std::optional<std::string> url;
  std::optional<std::string> config_path;
  std::optional<std::string> key;
  std::vector<std::string> headers;
  std::optional<std::string> curl;
  std::optional<std::string> probe_model;
  // The coding agent env.agents limits itself to ("claude-code", "codex", "gemini-cli").
  std::optional<std::string> client;
  double timeout_seconds = 2;
};

// The whole diagnosis.
struct DoctorReport {
  // The walk that made it: "401".
  std::string topic = "401";
  std::string target;
  std::optional<std::string> config_path;
  std::optional<std::string> effective_auth_mode;
  std::vector<CheckResult> checks;
  // The id of the failing check that explains the 401, if any fails.
  std::optional<std::string> verdict;

  // Return the exit code: 0 no failing check, 1 a failing check, 3 proxy unreachable.
  int exit_code() const;
  // Return the check with `id`.
  const CheckResult& check(std::string_view id) const;
};

// The check ids in the order they run and decide the verdict.
inline constexpr const char* k_check_ids[] = {
    "config.load",         "server.reachable",     "health.probe",     "auth.effective_mode",
    "auth.api_key",        "auth.simple_request",  "headers.conflict", "headers.malformed",
    "headers.foreign_key", "headers.key_mismatch", "env.sdk",          "env.agents",
    "env.http_proxy",      "upstream.auth"};

// Walk the 401 checks (diag/doctor/walks.cpp) against the target and config of `options`, reading
// `env` (never changing it) and sending probes with `prober`. Throws UsageError for bad arguments.
DoctorReport run_doctor_401(const DoctorOptions& options, const Environment& env,
                            HttpProber& prober);

} // namespace agproxy::diag
