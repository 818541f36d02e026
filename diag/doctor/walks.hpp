#pragma once

#include "diag/doctor/checks.hpp"

#include <span>
#include <string_view>

// The doctor's walks: each topic (`doctor 401`, …) is an ordered list of steps over one Context,
// run by one runner and rendered by diag/report.cpp.
namespace agproxy::diag::doctor {

// One step of a walk: a check, or the reading of an input that the checks after it judge.
struct Step {
  // The check's stable id; empty for an input.
  std::string_view id;
  CheckFunction check = nullptr;
  // Whether the check judges the client's request, and so runs again for each client the server
  // recorded.
  bool per_client = false;
  // An input's reading.
  void (*read)(Context& context) = nullptr;
};

// Return the step of check `id`.
constexpr Step check(std::string_view id, CheckFunction run) {
  return {id, run, false, nullptr};
}

// Return the step of check `id`, which judges the client's request.
constexpr Step client_check(std::string_view id, CheckFunction run) {
  return {id, run, true, nullptr};
}

// Return the step that reads an input.
constexpr Step input(void (*read)(Context& context)) {
  return {{}, nullptr, false, read};
}

// A topic's steps, the checks in the order they run and decide the verdict.
struct Walk {
  std::string_view topic;
  std::span<const Step> steps;
  // Return the last line of the report when no check fails.
  std::string (*all_clear)(const Context& context);
};

// Return the walk of `doctor 401` (the checks of DESIGN §4).
const Walk& walk_401();

// Return the walk of `doctor 429` (the checks of DESIGN §8).
const Walk& walk_429();

// Run `walk` against the target and config of `options`, reading `env` (never changing it) and
// sending probes with `prober`. Throws UsageError for bad arguments.
DoctorReport run_walk(const Walk& walk, const DoctorOptions& options, const Environment& env,
                      HttpProber& prober);

} // namespace agproxy::diag::doctor
