#pragma once

#include "server/auth/auth.hpp"
#include "server/auth/key_header.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace httplib {
struct Request;
} // namespace httplib

// The notable requests the server remembers for the doctor (DESIGN §7): a bounded ring in memory,
// served at GET /agproxy/events. An event never holds a key: keys are kept as fingerprints.
namespace agproxy {

enum class EventKind { denied, throttled, rate_limited, upstream_error };

// Return "denied", "throttled", "rate_limited" or "upstream_error".
std::string_view to_string(EventKind kind);
// Return the kind named `name`, or nothing.
std::optional<EventKind> parse_event_kind(std::string_view name);

// A key as an event shows it: its last 4 characters and an 8-hex SHA-256 prefix.
struct KeyPrint {
  std::string last4;
  std::string sha256;
};

// Return the fingerprint of `key`.
KeyPrint key_print(std::string_view key);

// One key header a denied client sent, judged as the doctor judges a pasted one.
struct HeaderSeen {
  KeyHeader header;
  std::optional<KeyPrint> key;         // nothing when the header carries no key
  std::optional<std::string> provider; // provider_of_key() of its key
  std::vector<HeaderFinding> findings; // analyze_key_header() of its value
};

// What kind of limit a provider's 429 (or capacity error) is (DESIGN §8).
struct LimitSeen {
  std::string scope; // "quota", "rate", "capacity" or "unknown"
  std::string detail;
  std::optional<long long> reset_seconds;
};

struct Event {
  std::chrono::system_clock::time_point time;
  // The client request it is about: the tries of one forwarded request share it.
  uint64_t request = 0;
  EventKind kind = EventKind::denied;
  std::string method, path, client, user_agent, model;
  std::optional<KeyHeader> key_header;   // the header the key was read from
  std::vector<HeaderSeen> headers;       // every key header present, in the order read
  std::optional<bool> matches_proxy_key; // nothing when no key was read
  std::string reason;
  int status = 0;
  std::string upstream, provider_key_last4; // empty: none
  std::optional<long long> retry_after;     // seconds
  bool from_provider = false;
  std::optional<LimitSeen> limit;
  std::optional<int> failures; // throttled: failures counted for the address
  // A provider's answer to this try was the one the client got (not retried with another key).
  bool passed_on = false;
};

// Return a new request id for events (unique in this process, from 1).
uint64_t next_request_id();

// Return a new event of `kind` about `request`: time, method, path (never the query), client
// address, User-Agent, all made printable and bounded.
Event event_for(EventKind kind, const httplib::Request& request);

// Fill `event`'s key headers from `request`: the fingerprint, provider format and form problems
// of each key header present, which one was read, and whether its key is `policy`'s.
void describe_key_headers(Event& event, const httplib::Request& request, const AuthPolicy& policy);

// Return `event` as the JSON object of GET /agproxy/events.
nlohmann::json to_json(const Event& event);

// Which events a reader wants.
struct EventQuery {
  std::vector<EventKind> kinds; // empty: all
  size_t limit = 0;             // 0: all
  std::optional<std::chrono::seconds> since;
};

// Return the query of GET /agproxy/events?kind=K[,K]&limit=N&since=S read from its parameters,
// or an error naming the parameter.
std::optional<EventQuery> parse_event_query(const httplib::Request& request, std::string& error);

// The last `capacity` events, newest first; safe to share between threads.
class EventRing {
public:
  static constexpr size_t k_default_capacity = 512;

  explicit EventRing(size_t capacity = k_default_capacity) : m_capacity(capacity) {}

  // Remember `event`, forgetting the oldest when full.
  void record(Event event);
  // Return the events `query` selects, newest first.
  std::vector<Event> select(const EventQuery& query,
                            std::chrono::system_clock::time_point now) const;
  // Return how many events were recorded since start.
  uint64_t recorded() const;
  size_t capacity() const { return m_capacity; }

private:
  const size_t m_capacity;
  mutable std::mutex m_mutex;
  std::deque<Event> m_events; // newest at the back
  uint64_t m_recorded = 0;
};

} // namespace agproxy
