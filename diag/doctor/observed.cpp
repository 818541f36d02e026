#include "diag/doctor/observed.hpp"

#include "diag/doctor/clients.hpp"
#include "diag/http_probe.hpp"
#include "server/upstream/key_pool.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

namespace agproxy::diag::doctor {

namespace {

using nlohmann::json;

// The longest pause between two tries of one request: a provider's answer, and its error body
// read (at most 5 s), take no longer unless the provider is slow, which a 429 rarely is.
constexpr auto k_max_attempt_gap = std::chrono::seconds(10);

std::string text_of(const json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

template <class T>
std::optional<T> number_of(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_number()) {
    return std::nullopt;
  }
  return it->get<T>();
}

bool flag_of(const json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::optional<SystemTime> time_of(const json& object, const char* name) {
  return parse_utc(text_of(object, name));
}

// Return the digits of `text` at [at, at + count) as a number, or -1.
int digits(std::string_view text, size_t at, size_t count) {
  int value = 0;
  if (at + count > text.size()) {
    return -1;
  }
  const auto [end, error] = std::from_chars(text.data() + at, text.data() + at + count, value);
  return error == std::errc() && end == text.data() + at + count ? value : -1;
}

// Return a request that `event` is the first event of.
RequestSeen started_by(const EventSeen& event) {
  RequestSeen request;
  request.client = event.client;
  request.user_agent = event.user_agent;
  request.method = event.method;
  request.path = event.path;
  request.model = event.model;
  request.upstream = event.upstream;
  request.start = request.end = event.time;
  return request;
}

} // namespace

std::optional<SystemTime> parse_utc(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fff]Z
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text.back() != 'Z') {
    return std::nullopt;
  }
  const int year = digits(text, 0, 4), month = digits(text, 5, 2), day = digits(text, 8, 2);
  const int hour = digits(text, 11, 2), minute = digits(text, 14, 2), second = digits(text, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) {
    return std::nullopt;
  }
  int millis = 0;
  if (text.size() > 20) {
    if (text[19] != '.' || text.size() != 24 || (millis = digits(text, 20, 3)) < 0) {
      return std::nullopt;
    }
  }
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                         std::chrono::day(day)};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  return std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second) + std::chrono::milliseconds(millis);
}

std::string clock_time(SystemTime time) {
  const time_t seconds = std::chrono::system_clock::to_time_t(time);
  tm parts{};
  localtime_r(&seconds, &parts);
  char text[16];
  return std::string(text, std::strftime(text, sizeof text, "%H:%M:%S", &parts));
}

std::string span(long long seconds) {
  if (seconds < 120) {
    return std::to_string(seconds) + " s";
  }
  if (seconds < 2 * 3600) {
    return std::to_string(seconds / 60) + " min";
  }
  return std::to_string(seconds / 3600) + " h";
}

std::string time_and_distance(SystemTime time, SystemTime now) {
  const long long seconds = std::chrono::round<std::chrono::seconds>(time - now).count();
  return clock_time(time) +
         (seconds >= 0 ? " (in " + span(seconds) + ")" : " (" + span(-seconds) + " ago)");
}

std::string client_label(const std::string& address, const std::string& user_agent) {
  return client_name(user_agent.empty() ? std::nullopt
                                        : std::optional<std::string_view>(user_agent)) +
         " at " + (address.empty() ? std::string("an unknown address") : address);
}

size_t UpstreamSeen::count(std::string_view state) const {
  return static_cast<size_t>(std::count_if(keys.begin(), keys.end(),
                                           [&](const KeySeen& key) { return key.state == state; }));
}

const KeySeen* UpstreamSeen::key(std::string_view last4) const {
  for (const KeySeen& candidate : keys) {
    if (!last4.empty() && candidate.last4 == last4) {
      return &candidate;
    }
  }
  return nullptr;
}

const UpstreamSeen* StatusSeen::upstream(std::string_view name) const {
  for (const UpstreamSeen& candidate : upstreams) {
    if (candidate.name == name) {
      return &candidate;
    }
  }
  return nullptr;
}

bool EventSeen::is_attempt() const {
  if (kind == "rate_limited") {
    return reason != "all_keys_resting";
  }
  return kind == "upstream_error";
}

std::optional<SystemTime> EventSeen::limit_ends() const {
  if (limit && limit->reset_s) {
    return time + std::chrono::seconds(*limit->reset_s);
  }
  if (retry_after) {
    return time + std::chrono::seconds(*retry_after);
  }
  return std::nullopt;
}

std::optional<StatusSeen> parse_status(std::string_view body) {
  const json root = json::parse(body, nullptr, false);
  if (!root.is_object() || !root.contains("upstreams") || !root["upstreams"].is_array() ||
      !root.contains("guard") || !root["guard"].is_object()) {
    return std::nullopt;
  }
  StatusSeen status;
  status.now = time_of(root, "now").value_or(std::chrono::system_clock::now());
  const json& guard = root["guard"];
  status.max_failures = number_of<int>(guard, "max_failures").value_or(0);
  status.window_s = number_of<long long>(guard, "window_s").value_or(0);
  status.include_loopback = flag_of(guard, "include_loopback");
  if (guard.contains("clients") && guard["clients"].is_array()) {
    for (const json& client : guard["clients"]) {
      if (!client.is_object()) {
        continue;
      }
      status.clients.push_back({text_of(client, "client"),
                                number_of<int>(client, "failures").value_or(0),
                                flag_of(client, "blocked"), time_of(client, "until"),
                                number_of<long long>(client, "retry_after_s").value_or(0)});
    }
  }
  for (const json& upstream : root["upstreams"]) {
    if (!upstream.is_object()) {
      continue;
    }
    UpstreamSeen seen{text_of(upstream, "name"),
                      text_of(upstream, "protocol"),
                      {},
                      number_of<int>(upstream, "last_status")};
    if (upstream.contains("keys") && upstream["keys"].is_array()) {
      for (const json& key : upstream["keys"]) {
        if (key.is_object()) {
          seen.keys.push_back({text_of(key, "last4"), text_of(key, "state"), time_of(key, "until"),
                               number_of<long long>(key, "retry_after_s"), text_of(key, "why"),
                               number_of<int>(key, "last_status")});
        }
      }
    }
    status.upstreams.push_back(std::move(seen));
  }
  return status;
}

std::optional<std::vector<EventSeen>> parse_events(std::string_view body, SystemTime& now) {
  const json root = json::parse(body, nullptr, false);
  if (!root.is_object() || !root.contains("events") || !root["events"].is_array()) {
    return std::nullopt;
  }
  now = time_of(root, "now").value_or(std::chrono::system_clock::now());
  std::vector<EventSeen> events;
  for (const json& event : root["events"]) {
    if (!event.is_object()) {
      continue;
    }
    const auto time = time_of(event, "time");
    if (!time) {
      continue;
    }
    if (text_of(event, "user_agent").starts_with(k_probe_user_agent_product)) {
      continue; // the doctor's own probes
    }
    EventSeen seen;
    seen.time = *time;
    seen.kind = text_of(event, "kind");
    seen.method = text_of(event, "method");
    seen.path = text_of(event, "path");
    seen.client = text_of(event, "client");
    seen.user_agent = text_of(event, "user_agent");
    seen.model = text_of(event, "model");
    seen.reason = text_of(event, "reason");
    seen.upstream = text_of(event, "upstream");
    seen.provider_key_last4 = text_of(event, "provider_key_last4");
    seen.key_header = text_of(event, "key_header");
    if (event.contains("key") && event["key"].is_object()) {
      seen.key_last4 = text_of(event["key"], "last4");
      seen.key_sha256 = text_of(event["key"], "sha256");
    }
    seen.status = number_of<int>(event, "status").value_or(0);
    seen.retry_after = number_of<long long>(event, "retry_after");
    seen.from_provider = text_of(event, "origin") == "provider";
    if (event.contains("limit") && event["limit"].is_object()) {
      const json& limit = event["limit"];
      seen.limit = LimitInfo{text_of(limit, "scope"), text_of(limit, "detail"),
                             number_of<long long>(limit, "reset_s")};
    }
    seen.failures = number_of<int>(event, "failures");
    seen.request = number_of<uint64_t>(event, "request").value_or(0);
    seen.passed_on = event.value("passed_on", false) == true;
    events.push_back(std::move(seen));
  }
  // The server lists the newest first (events of one millisecond too).
  std::reverse(events.begin(), events.end());
  std::stable_sort(events.begin(), events.end(),
                   [](const EventSeen& a, const EventSeen& b) { return a.time < b.time; });
  return events;
}

namespace {

// Group events that name their request (agproxy from 0.1 with request ids): exactly.
std::vector<RequestSeen> group_by_id(const std::vector<EventSeen>& events) {
  std::vector<RequestSeen> requests;
  std::map<uint64_t, size_t> index;
  for (const EventSeen& event : events) {
    const auto [it, fresh] = index.try_emplace(event.request, requests.size());
    if (fresh) {
      requests.push_back(started_by(event));
    }
    RequestSeen& request = requests[it->second];
    request.end = event.time;
    if (event.kind == "denied" || event.kind == "throttled" || !event.is_attempt()) {
      request.own = &event; // agproxy's own answer: a denial, the guard, every key resting
      request.answered = event.status;
      request.retry_after = event.retry_after;
      continue;
    }
    request.attempts.push_back(&event);
    if (event.passed_on) {
      request.passed_on = true;
      request.answered = event.status;
      request.retry_after = event.retry_after;
    } else if (event.reason == "upstream_timeout" || event.reason == "upstream_tls_error") {
      request.answered = event.reason == "upstream_timeout" ? 504 : 502;
    }
  }
  return requests;
}

} // namespace

std::vector<RequestSeen> group_requests(const std::vector<EventSeen>& events,
                                        const StatusSeen* status) {
  if (!events.empty() && std::all_of(events.begin(), events.end(),
                                     [](const EventSeen& event) { return event.request != 0; })) {
    return group_by_id(events);
  }
  // An older server: the tries of one request are told apart by who sent it, where, when, and
  // how many keys its upstream has.
  const auto tries_of = [&](const std::string& upstream) -> size_t {
    const UpstreamSeen* seen = status ? status->upstream(upstream) : nullptr;
    const size_t keys = seen ? seen->keys.size() : k_max_key_attempts;
    return std::max<size_t>(1, std::min(k_max_key_attempts, keys));
  };
  using Identity =
      std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>;
  std::vector<RequestSeen> requests;
  std::map<Identity, size_t> open; // a request whose tries may go on, by its identity
  for (const EventSeen& event : events) {
    if (event.kind == "denied" || event.kind == "throttled") {
      RequestSeen request = started_by(event);
      request.own = &event;
      request.answered = event.status;
      request.retry_after = event.retry_after;
      requests.push_back(std::move(request));
      continue;
    }
    const Identity identity{event.client, event.user_agent, event.method,
                            event.path,   event.model,      event.upstream};
    RequestSeen* current = nullptr;
    if (const auto it = open.find(identity); it != open.end()) {
      RequestSeen& candidate = requests[it->second];
      const bool key_tried =
          !event.provider_key_last4.empty() &&
          std::any_of(candidate.attempts.begin(), candidate.attempts.end(),
                      [&](const EventSeen* tried) {
                        return tried->provider_key_last4 == event.provider_key_last4;
                      });
      // agproxy answers itself only after a 429 (every key resting); after any other answer of
      // the last try, that answer is passed on.
      const bool fits =
          event.is_attempt()
              ? candidate.attempts.size() < tries_of(event.upstream) && !key_tried
              : !candidate.attempts.empty() && candidate.attempts.back()->status == 429;
      if (event.time - candidate.end <= k_max_attempt_gap && fits) {
        current = &candidate;
      }
      open.erase(it);
    }
    if (!current) {
      requests.push_back(started_by(event));
      current = &requests.back();
    }
    current->end = event.time;
    if (!event.is_attempt()) {
      // Every key resting: agproxy's own 429.
      current->own = &event;
      current->answered = event.status;
      current->retry_after = event.retry_after;
      continue;
    }
    current->attempts.push_back(&event);
    if (event.reason == "upstream_timeout" || event.reason == "upstream_tls_error") {
      current->answered = event.reason == "upstream_timeout" ? 504 : 502;
      continue;
    }
    open[identity] = static_cast<size_t>(current - requests.data());
  }
  for (RequestSeen& request : requests) {
    if (request.answered || request.attempts.empty() ||
        request.attempts.size() < tries_of(request.upstream)) {
      continue;
    }
    // Every try failed and agproxy did not answer itself: the last answer was passed on.
    const EventSeen& last = *request.attempts.back();
    request.passed_on = true;
    request.answered = last.status != 0 ? last.status : 502;
    request.retry_after = last.retry_after;
  }
  return requests;
}

std::vector<RequestSeen> ServerView::requests() const {
  return group_requests(events, status ? &*status : nullptr);
}

} // namespace agproxy::diag::doctor
