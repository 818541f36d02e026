#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace agproxy {

// One provider's keys, handed out round-robin; a key the provider rate-limits (429) cools down for
// a while, one it refuses (401/403) is taken out for longer. Safe to share between threads.
class KeyPool {
public:
  using Clock = std::chrono::steady_clock;

  // Build a pool over `keys` (already resolved: no env: entries).
  explicit KeyPool(std::vector<std::string> keys);

  // Return the number of keys.
  size_t size() const { return m_keys.size(); }
  // Return the key at `index`.
  const std::string& key(size_t index) const { return m_keys[index]; }
  // Return whether the pool holds exactly `keys`, in order.
  bool holds(const std::vector<std::string>& keys) const { return keys == m_keys; }

  // Return the next usable key's index, round-robin, skipping `tried`; nothing when every key not
  // tried is resting.
  std::optional<size_t> next(Clock::time_point now, const std::vector<size_t>& tried);
  // Return whether some key is usable at `now`.
  bool any_usable(Clock::time_point now) const { return soonest_usable(now) <= now; }
  // Return when the first resting key becomes usable again (now when one is usable).
  Clock::time_point soonest_usable(Clock::time_point now) const;
  // Rest the key at `index` until now + `duration` (never shortening a longer rest).
  void rest(size_t index, Clock::duration duration, Clock::time_point now);

private:
  std::vector<std::string> m_keys;
  mutable std::mutex m_mutex;
  std::vector<Clock::time_point> m_usable_from;
  size_t m_cursor = 0;
};

// Return the delay a Retry-After value asks for (delta-seconds or an HTTP date), or nothing when
// it is absent or unreadable.
std::optional<std::chrono::seconds> parse_retry_after(const std::string& value,
                                                      std::chrono::system_clock::time_point now);

} // namespace agproxy
