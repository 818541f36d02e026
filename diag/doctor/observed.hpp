#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// What the server saw (GET /agproxy/status and /agproxy/events, DESIGN §7) as the doctor reads
// it: the guard's clients, each upstream's keys, and the notable requests grouped into the
// requests that made them. Keys appear only as their last 4 characters and a SHA-256 prefix.
namespace agproxy::diag::doctor {

using SystemTime = std::chrono::system_clock::time_point;

// Return the time of an RFC 3339 UTC timestamp as the server writes it
// ("2026-12-03T10:59:58.123Z"), or nothing.
std::optional<SystemTime> parse_utc(std::string_view text);

// Return `time` as this machine's wall-clock time, "HH:MM:SS".
std::string clock_time(SystemTime time);

// Return `time` and how far it is from `now`: "10:59:58 (in 42 s)" or "10:59:58 (42 s ago)".
std::string time_and_distance(SystemTime time, SystemTime now);

// Return "N s", "N min", "N h" for a span of `seconds` (rounded down past a minute).
std::string span(long long seconds);

// Return how the doctor names a client: by its User-Agent (client_name) and address, e.g.
// "Claude Code 2.1.332 at 127.0.0.1".
std::string client_label(const std::string& address, const std::string& user_agent);

// A client address the brute-force guard counts failures for.
struct GuardClient {
  std::string address;
  int failures = 0;
  bool blocked = false;
  // When its window ends (and a block lifts).
  std::optional<SystemTime> until;
  long long retry_after_s = 0;
};

// One provider key of an upstream, as the server shows it.
struct KeySeen {
  std::string last4;
  // "active", "resting" or "out".
  std::string state;
  std::optional<SystemTime> until;
  std::optional<long long> retry_after_s;
  // Why it rests: "rate_limited", "quota", "capacity" or "refused"; empty when active.
  std::string why;
  std::optional<int> last_status;
};

// One upstream, as the server shows it.
struct UpstreamSeen {
  std::string name;
  std::string protocol;
  std::vector<KeySeen> keys;
  std::optional<int> last_status;

  // Return how many of its keys are in `state`.
  size_t count(std::string_view state) const;
  // Return its key ending in `last4`, if it has one.
  const KeySeen* key(std::string_view last4) const;
};

// GET /agproxy/status.
struct StatusSeen {
  SystemTime now;
  int max_failures = 0;
  long long window_s = 0;
  bool include_loopback = false;
  // Clients with failures in their window, most first.
  std::vector<GuardClient> clients;
  std::vector<UpstreamSeen> upstreams;

  // Return the upstream named `name`, if the server runs one.
  const UpstreamSeen* upstream(std::string_view name) const;
};

// What kind of limit a provider's answer said it was.
struct LimitInfo {
  // "quota", "rate", "capacity" or "unknown".
  std::string scope;
  std::string detail;
  std::optional<long long> reset_s;
};

// One event of GET /agproxy/events.
struct EventSeen {
  SystemTime time;
  // "denied", "throttled", "rate_limited" or "upstream_error".
  std::string kind;
  std::string method, path, client, user_agent, model, reason, upstream, provider_key_last4;
  // The fingerprint of the key the client sent (denied events).
  std::string key_header, key_last4, key_sha256;
  int status = 0;
  std::optional<long long> retry_after;
  bool from_provider = false;
  std::optional<LimitInfo> limit;
  std::optional<int> failures;
  // The client request it is about (0: a server that does not say), and whether the answer it
  // records is the one the client got.
  uint64_t request = 0;
  bool passed_on = false;

  // Return whether it records one attempt of a forwarded request (one provider key tried).
  bool is_attempt() const;
  // Return when the limit it records ends: its reset, else its Retry-After, from its time.
  std::optional<SystemTime> limit_ends() const;
};

// One client request as its events tell it: the keys tried for it and what the client got.
struct RequestSeen {
  std::string client, user_agent, method, path, model, upstream;
  SystemTime start, end;
  // Each key tried for it that did not answer (a provider's 429, refusal or error), oldest first.
  std::vector<const EventSeen*> attempts;
  // agproxy's own answer, when it gave one: a denial, the guard's 429, every key resting, a
  // timeout.
  const EventSeen* own = nullptr;
  // What the client got, when the events tell (a request whose last try succeeded leaves none).
  std::optional<int> answered;
  // The Retry-After it got with that answer.
  std::optional<long long> retry_after;
  // Whether the answer was the provider's last, passed on after every try.
  bool passed_on = false;
};

// What the server saw, as far as the doctor could read it.
struct ServerView {
  // Why it could not be read; empty when it was.
  std::string unavailable;
  // Whether the server has no such routes (404): Antigravity Tools, or an older agproxy.
  bool not_served = false;
  // Whether the guard refuses this machine's requests (so none of it could be read), and the
  // Retry-After it said.
  bool blocked_here = false;
  std::optional<long long> blocked_retry_after;
  std::optional<StatusSeen> status;
  // Oldest first, within the window read.
  std::vector<EventSeen> events;
  // The server's clock when it answered the events.
  SystemTime now;
  // "in the last 10m", or "" for the whole record.
  std::string window;

  // Return whether the status and events were read.
  bool read() const { return status.has_value(); }
  // Return the events grouped into the requests that made them, oldest first.
  std::vector<RequestSeen> requests() const;
};

// Return the status in an answer of GET /agproxy/status, or nothing when `body` is not one.
std::optional<StatusSeen> parse_status(std::string_view body);

// Return the events in an answer of GET /agproxy/events, oldest first, but those of the doctor's
// own probes (k_probe_user_agent_product), and set `now` to the server's clock; nothing when
// `body` is not one.
std::optional<std::vector<EventSeen>> parse_events(std::string_view body, SystemTime& now);

// Return the requests `events` (oldest first) record, oldest first: the attempts of one request
// follow each other from one client for one route, each with another key, at most
// min(3, keys of its upstream) of them (the tries agproxy makes); `status` gives the keys.
std::vector<RequestSeen> group_requests(const std::vector<EventSeen>& events,
                                        const StatusSeen* status);

} // namespace agproxy::diag::doctor
