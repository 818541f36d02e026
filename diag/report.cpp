#include "diag/report.hpp"

#include <nlohmann/json.hpp>

namespace agproxy::diag {

namespace {

struct Style {
  const char* mark;
  const char* color;
};

Style style_of(CheckStatus status) {
  switch (status) {
  case CheckStatus::pass:
    return {"✓", "\033[32m"};
  case CheckStatus::warn:
    return {"!", "\033[33m"};
  case CheckStatus::fail:
    return {"✗", "\033[31m"};
  case CheckStatus::skip:
    break;
  }
  return {"-", "\033[2m"};
}

} // namespace

std::string render_text(const DoctorReport& report, bool color, bool verbose) {
  const std::string reset = color ? "\033[0m" : "";
  const std::string bold = color ? "\033[1m" : "";
  std::string out = bold + "agproxy doctor " + report.topic + reset + ": " + report.target;
  out += report.config_path ? " (config " + *report.config_path + ")\n" : " (no config)\n";
  for (const CheckResult& check : report.checks) {
    const Style style = style_of(check.status);
    std::string id = check.id;
    id.resize(22, ' ');
    out += (color ? style.color : "") + std::string(style.mark) + " " + id + reset + check.summary +
           "\n";
    const bool expand =
        verbose || check.status == CheckStatus::fail || check.status == CheckStatus::warn;
    if (expand && !check.detail.empty()) {
      out += "    " + check.detail + "\n";
    }
    if (expand && !check.fix.empty()) {
      out += "    fix: " + check.fix + "\n";
    }
    if (verbose) {
      for (const std::string& line : check.trace) {
        out += "      " + line + "\n";
      }
    }
  }
  if (report.verdict) {
    const CheckResult& cause = report.check(*report.verdict);
    out +=
        "\n" + bold + "Most likely cause" + reset + " (" + cause.id + "): " + cause.summary + "\n";
    if (!cause.fix.empty()) {
      out += "Fix: " + cause.fix + "\n";
    }
  } else {
    out += "\n" + report.all_clear + "\n";
  }
  return out;
}

std::string render_json(const DoctorReport& report) {
  nlohmann::json checks = nlohmann::json::array();
  for (const CheckResult& check : report.checks) {
    checks.push_back({{"id", check.id},
                      {"status", to_string(check.status)},
                      {"summary", check.summary},
                      {"detail", check.detail},
                      {"fix", check.fix}});
  }
  const nlohmann::json out = {
      {"target", report.target},
      {"config", report.config_path ? nlohmann::json(*report.config_path) : nlohmann::json()},
      {"effective_auth_mode",
       report.effective_auth_mode ? nlohmann::json(*report.effective_auth_mode) : nlohmann::json()},
      {"checks", checks},
      {"verdict", report.verdict ? nlohmann::json(*report.verdict) : nlohmann::json()}};
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

} // namespace agproxy::diag
