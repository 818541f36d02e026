#include "server/observe/events.hpp"

#include "server/auth/secret.hpp"
#include "server/text.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <httplib.h>

namespace agproxy {

namespace {

constexpr size_t k_max_path = 256;
constexpr size_t k_max_user_agent = 200;

nlohmann::json or_null(const std::string& text) {
  return text.empty() ? nlohmann::json() : nlohmann::json(text);
}

template <class T>
nlohmann::json or_null(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json();
}

nlohmann::json to_json(const KeyPrint& print) {
  return {{"last4", print.last4}, {"sha256", print.sha256}};
}

// Return the positive integer `text`, or nothing.
std::optional<long long> positive_integer(std::string_view text) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1) {
    return std::nullopt;
  }
  return value;
}

} // namespace

std::string_view to_string(EventKind kind) {
  switch (kind) {
  case EventKind::denied:
    return "denied";
  case EventKind::throttled:
    return "throttled";
  case EventKind::rate_limited:
    return "rate_limited";
  case EventKind::upstream_error:
    return "upstream_error";
  }
  return "denied";
}

std::optional<EventKind> parse_event_kind(std::string_view name) {
  for (EventKind kind : {EventKind::denied, EventKind::throttled, EventKind::rate_limited,
                         EventKind::upstream_error}) {
    if (name == to_string(kind)) {
      return kind;
    }
  }
  return std::nullopt;
}

uint64_t next_request_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

KeyPrint key_print(std::string_view key) {
  return {key.size() >= 8 ? std::string(key.substr(key.size() - 4)) : std::string(),
          fingerprint(key)};
}

Event event_for(EventKind kind, const httplib::Request& request) {
  Event event;
  event.time = std::chrono::system_clock::now();
  event.kind = kind;
  event.method = printable(request.method, 16);
  event.path = printable(request.path, k_max_path);
  event.client = request.remote_addr;
  if (auto it = request.headers.find("User-Agent"); it != request.headers.end()) {
    event.user_agent = printable(it->second, k_max_user_agent);
  }
  return event;
}

void describe_key_headers(Event& event, const httplib::Request& request, const AuthPolicy& policy) {
  for (KeyHeader which : k_key_headers) {
    const auto it = request.headers.find(std::string(header_name(which)));
    if (it == request.headers.end()) {
      continue;
    }
    const std::string_view key = key_in_header(which, it->second);
    HeaderSeen seen{which, std::nullopt, provider_of_key(key),
                    analyze_key_header(which, it->second)};
    if (!key.empty()) {
      seen.key = key_print(key);
    }
    if (event.headers.empty()) { // the first present is the one read (DESIGN §3)
      event.key_header = which;
      if (!key.empty()) {
        event.matches_proxy_key = policy.key_configured() && policy.key_matches(key);
      }
    }
    event.headers.push_back(std::move(seen));
  }
}

nlohmann::json to_json(const Event& event) {
  nlohmann::json headers = nlohmann::json::array();
  nlohmann::json ignored = nlohmann::json::array();
  for (const HeaderSeen& seen : event.headers) {
    nlohmann::json findings = nlohmann::json::array();
    for (const HeaderFinding& finding : seen.findings) {
      findings.push_back({{"severity", finding.severity == Severity::fail ? "fail" : "warn"},
                          {"problem", finding.problem},
                          {"fix", finding.fix}});
    }
    headers.push_back({{"name", header_name(seen.header)},
                       {"key", seen.key ? to_json(*seen.key) : nlohmann::json()},
                       {"provider", or_null(seen.provider)},
                       {"findings", std::move(findings)}});
    if (&seen != &event.headers.front()) {
      ignored.push_back(header_name(seen.header));
    }
  }
  nlohmann::json limit;
  if (event.limit) {
    limit = {{"scope", event.limit->scope},
             {"detail", event.limit->detail},
             {"reset_s", or_null(event.limit->reset_seconds)}};
  }
  const HeaderSeen* read = event.key_header ? &event.headers.front() : nullptr;
  return {{"time", format_utc(event.time)},
          {"request", event.request},
          {"kind", to_string(event.kind)},
          {"method", event.method},
          {"path", event.path},
          {"client", event.client},
          {"user_agent", or_null(event.user_agent)},
          {"model", or_null(event.model)},
          {"key_header",
           event.key_header ? nlohmann::json(header_name(*event.key_header)) : nlohmann::json()},
          {"ignored_headers", std::move(ignored)},
          {"key", read && read->key ? to_json(*read->key) : nlohmann::json()},
          {"headers", std::move(headers)},
          {"matches_proxy_key", or_null(event.matches_proxy_key)},
          {"reason", event.reason},
          {"status", event.status},
          {"upstream", or_null(event.upstream)},
          {"provider_key_last4", or_null(event.provider_key_last4)},
          {"retry_after", or_null(event.retry_after)},
          {"origin", event.from_provider ? "provider" : "agproxy"},
          {"limit", std::move(limit)},
          {"failures", or_null(event.failures)},
          {"passed_on", event.passed_on}};
}

std::optional<EventQuery> parse_event_query(const httplib::Request& request, std::string& error) {
  EventQuery query;
  for (const auto& [name, value] : request.params) {
    if (name == "kind") {
      std::string_view rest = value;
      while (true) {
        const size_t comma = rest.find(',');
        const std::string_view word = rest.substr(0, comma);
        const auto kind = parse_event_kind(word);
        if (!kind) {
          error = "kind: '" + printable(word, 40) +
                  "' is not an event kind; it takes denied, throttled, rate_limited or "
                  "upstream_error (comma-separated for several)";
          return std::nullopt;
        }
        query.kinds.push_back(*kind);
        if (comma == std::string_view::npos) {
          break;
        }
        rest.remove_prefix(comma + 1);
      }
    } else if (name == "limit") {
      const auto limit = positive_integer(value);
      if (!limit || *limit > static_cast<long long>(EventRing::k_default_capacity)) {
        error = "limit: '" + printable(value, 40) + "' is not a whole number from 1 to " +
                std::to_string(EventRing::k_default_capacity);
        return std::nullopt;
      }
      query.limit = static_cast<size_t>(*limit);
    } else if (name == "since") {
      const auto since = positive_integer(value);
      if (!since) {
        error = "since: '" + printable(value, 40) +
                "' is not a whole number of seconds (1 or more): the events of the last N seconds";
        return std::nullopt;
      }
      query.since = std::chrono::seconds(*since);
    } else {
      error = "unknown parameter '" + printable(name, 40) +
              "'; /agproxy/events takes kind, limit and since";
      return std::nullopt;
    }
  }
  return query;
}

void EventRing::record(Event event) {
  std::lock_guard lock(m_mutex);
  if (m_events.size() >= m_capacity) {
    m_events.pop_front();
  }
  m_events.push_back(std::move(event));
  ++m_recorded;
}

std::vector<Event> EventRing::select(const EventQuery& query,
                                     std::chrono::system_clock::time_point now) const {
  std::vector<Event> out;
  std::lock_guard lock(m_mutex);
  for (auto it = m_events.rbegin(); it != m_events.rend(); ++it) {
    if (query.limit != 0 && out.size() >= query.limit) {
      break;
    }
    if (query.since && now - it->time > *query.since) {
      break; // older ones are older still
    }
    if (!query.kinds.empty() &&
        std::find(query.kinds.begin(), query.kinds.end(), it->kind) == query.kinds.end()) {
      continue;
    }
    out.push_back(*it);
  }
  return out;
}

uint64_t EventRing::recorded() const {
  std::lock_guard lock(m_mutex);
  return m_recorded;
}

} // namespace agproxy
