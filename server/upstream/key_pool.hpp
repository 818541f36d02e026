#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agproxy {

// Why a key rests: a provider's rate limit, its quota or model capacity (a 429 or a 529/503
// overload), or a refusal of the key itself (401/403, Gemini's API_KEY_INVALID), which takes it
// out.
enum class RestCause { rate_limited, quota, capacity, refused };

// Return "rate_limited", "quota", "capacity" or "refused".
std::string_view to_string(RestCause cause);

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
  // Rest the key at `index` until now + `duration` for `cause` (never shortening a longer rest).
  void rest(size_t index, Clock::duration duration, Clock::time_point now,
            RestCause cause = RestCause::rate_limited);
  // Remember that the provider answered the key at `index` with `status`.
  void note_status(size_t index, int status) {
    m_last_status[index].store(status, std::memory_order_relaxed);
  }

  // One key as GET /agproxy/status shows it.
  struct KeyState {
    Clock::time_point usable_from;  // in the past: usable now
    std::optional<RestCause> cause; // why it rests (when it does)
    int last_status = 0;            // 0: not used yet
  };
  // Return the state of every key at `now`, in order.
  std::vector<KeyState> states(Clock::time_point now) const;

private:
  std::vector<std::string> m_keys;
  mutable std::mutex m_mutex;
  std::vector<Clock::time_point> m_usable_from;
  std::vector<RestCause> m_cause;
  std::vector<std::atomic<int>> m_last_status;
  size_t m_cursor = 0;
};

// Return the delay a Retry-After value asks for (delta-seconds or an HTTP date), or nothing when
// it is absent or unreadable.
std::optional<std::chrono::seconds> parse_retry_after(const std::string& value,
                                                      std::chrono::system_clock::time_point now);

} // namespace agproxy
