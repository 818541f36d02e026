#pragma once

#include "diag/doctor/checks.hpp"

#include <span>
#include <string_view>

// The doctor's walks: each topic (`doctor 401`, …) is an ordered list of checks over one Context,
// run by one runner and rendered by diag/report.cpp.
namespace agproxy::diag::doctor {

// One check of a walk: its stable id and the function that runs it.
struct Check {
  std::string_view id;
  CheckFunction run;
};

// A topic's checks in the order they run and decide the verdict.
struct Walk {
  std::string_view topic;
  std::span<const Check> checks;
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
