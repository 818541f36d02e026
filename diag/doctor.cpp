#include "diag/doctor.hpp"

#include "diag/doctor/walks.hpp"

namespace agproxy::diag {

std::string_view to_string(CheckStatus status) {
  switch (status) {
  case CheckStatus::pass:
    return "pass";
  case CheckStatus::warn:
    return "warn";
  case CheckStatus::fail:
    return "fail";
  case CheckStatus::skip:
    return "skip";
  }
  return "skip";
}

int DoctorReport::exit_code() const {
  if (verdict == std::optional<std::string>("server.reachable")) {
    return 3;
  }
  return verdict ? 1 : 0;
}

const CheckResult& DoctorReport::check(std::string_view id) const {
  for (const CheckResult& result : checks) {
    if (result.id == id) {
      return result;
    }
  }
  throw std::out_of_range("no check " + std::string(id));
}

DoctorReport run_doctor_401(const DoctorOptions& options, const Environment& env,
                            HttpProber& prober) {
  return doctor::run_walk(doctor::walk_401(), options, env, prober);
}

} // namespace agproxy::diag
