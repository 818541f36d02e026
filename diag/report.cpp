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

// The most clients the text report lists; --json lists them all.
constexpr size_t k_clients_shown = 10;

std::string ago(long seconds) {
  if (seconds < 120) {
    return std::to_string(seconds) + " s ago";
  }
  if (seconds < 2 * 3600) {
    return std::to_string(seconds / 60) + " min ago";
  }
  if (seconds < 2 * 86400) {
    return std::to_string(seconds / 3600) + " h ago";
  }
  return std::to_string(seconds / 86400) + " days ago";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

// Return the section that lists the clients the server refused, each with its cause.
std::string render_clients(const DoctorReport& report, bool color) {
  if (report.clients.empty()) {
    return "";
  }
  const std::string reset = color ? "\033[0m" : "";
  std::string out = "\nClients the proxy refused" +
                    (report.clients_window.empty() ? "" : " " + report.clients_window) +
                    ", most recent first:\n";
  for (size_t i = 0; i < report.clients.size() && i < k_clients_shown; ++i) {
    const ClientDiagnosis& client = report.clients[i];
    const CheckResult* cause = nullptr;
    for (const CheckResult& check : client.checks) {
      if (client.verdict && check.id == *client.verdict) {
        cause = &check;
      }
    }
    const Style style = style_of(cause ? CheckStatus::fail : CheckStatus::skip);
    out +=
        (color ? style.color : "") + std::string(style.mark) + reset + " " + client.summary + "\n";
    out += "    " + std::to_string(client.requests) +
           (client.requests == 1 ? " request" : " requests") +
           (client.seconds_ago ? ", the last " + ago(*client.seconds_ago) : "") + ": " +
           join(client.routes) + " → " + join(client.reasons) + "\n";
    if (cause) {
      out += "    cause (" + cause->id + "): " + cause->summary + "\n";
      if (!cause->fix.empty()) {
        out += "    fix: " + cause->fix + "\n";
      }
    } else {
      out += "    no check of its request fails with the proxy's settings now (they may have "
             "changed since)\n";
    }
  }
  if (report.clients.size() > k_clients_shown) {
    out += "… and " + std::to_string(report.clients.size() - k_clients_shown) +
           " more (--json lists them all)\n";
  }
  return out;
}

nlohmann::json checks_json(const std::vector<CheckResult>& checks) {
  nlohmann::json out = nlohmann::json::array();
  for (const CheckResult& check : checks) {
    out.push_back({{"id", check.id},
                   {"status", to_string(check.status)},
                   {"summary", check.summary},
                   {"detail", check.detail},
                   {"fix", check.fix}});
  }
  return out;
}

template <typename T>
nlohmann::json or_null(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json();
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
  out += render_clients(report, color);
  if (report.verdict) {
    const CheckResult& cause = report.check(*report.verdict);
    // A client check's verdict is about the most recent client the proxy refused, when it read
    // them: named with it.
    std::string whose;
    if (!report.clients.empty()) {
      const ClientDiagnosis& client = report.clients.front();
      for (const CheckResult& check : client.checks) {
        if (check.id == cause.id) {
          whose = ", " + client.name + " at " + client.address;
        }
      }
    }
    out += "\n" + bold + "Most likely cause" + reset + " (" + cause.id + whose +
           "): " + cause.summary + "\n";
    if (!cause.fix.empty()) {
      out += "Fix: " + cause.fix + "\n";
    }
  } else {
    out += "\n" + report.all_clear + "\n";
  }
  return out;
}

std::string render_json(const DoctorReport& report) {
  nlohmann::json out = {{"target", report.target},
                        {"config", or_null(report.config_path)},
                        {"effective_auth_mode", or_null(report.effective_auth_mode)},
                        {"checks", checks_json(report.checks)},
                        {"verdict", or_null(report.verdict)}};
  // Only when the server's record named refused clients, so the object keeps DESIGN §4's shape
  // otherwise.
  if (!report.clients.empty()) {
    nlohmann::json clients = nlohmann::json::array();
    for (const ClientDiagnosis& client : report.clients) {
      clients.push_back({{"client", client.name},
                         {"address", client.address},
                         {"user_agent", or_null(client.user_agent)},
                         {"key", client.key_last4 && client.key_sha256
                                     ? nlohmann::json{{"last4", *client.key_last4},
                                                      {"sha256", *client.key_sha256}}
                                     : nlohmann::json()},
                         {"summary", client.summary},
                         {"requests", client.requests},
                         {"first", client.first},
                         {"last", client.last},
                         {"seconds_ago", or_null(client.seconds_ago)},
                         {"routes", client.routes},
                         {"reasons", client.reasons},
                         {"checks", checks_json(client.checks)},
                         {"verdict", or_null(client.verdict)}});
    }
    out["clients"] = std::move(clients);
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

} // namespace agproxy::diag
