#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace agproxy {

// The brute-force guard's settings (proxy.auth_throttle).
struct ThrottleSettings {
  // Failed authentications from one address, within one window, before it is refused; 0 = never.
  int max_failures = 20;
  std::chrono::seconds window{60};
  // Whether loopback clients are counted too (by default they are trusted).
  bool include_loopback = false;
};

// Counts failed authentications per client address; an address that reaches the limit is refused
// until its window ends. Memory is bounded: expired entries are dropped as new ones arrive.
class AuthThrottle {
public:
  using Clock = std::chrono::steady_clock;

  // Return how long `address` must still wait, or nothing when it may try.
  std::optional<std::chrono::seconds>
  blocked(const std::string& address, const ThrottleSettings& settings, Clock::time_point now);
  // Count one failed authentication from `address`.
  void record_failure(const std::string& address, const ThrottleSettings& settings,
                      Clock::time_point now);
  // Return the number of addresses tracked.
  size_t tracked() const;

  // One address with failures in its current window.
  struct Tracked {
    std::string address;
    int failures = 0;
    bool blocked = false;
    Clock::time_point window_end; // when its failures are forgotten (and a block lifts)
  };
  // Return up to `most` addresses with failures in their window at `now`, most failures first.
  std::vector<Tracked> failing(const ThrottleSettings& settings, Clock::time_point now,
                               size_t most) const;

private:
  struct Entry {
    Clock::time_point window_start;
    int failures = 0;
  };
  void prune(Clock::time_point now, std::chrono::seconds window);

  mutable std::mutex m_mutex;
  std::unordered_map<std::string, Entry> m_entries;
};

// Return whether `address` (a peer as the gateway reports it: IPv4 dotted, IPv6 text, IPv4-mapped
// addresses unmapped) is a loopback address.
bool is_loopback_address(const std::string& address);

} // namespace agproxy
