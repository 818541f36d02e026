#include "server/upstream/key_pool.hpp"

#include <algorithm>
#include <curl/curl.h>

namespace agproxy {

namespace {

// The longest rest a Retry-After can ask for (nine digits of delta-seconds, ~31 years).
constexpr time_t k_max_retry_after_seconds = 999'999'999;

} // namespace

std::string_view to_string(RestCause cause) {
  switch (cause) {
  case RestCause::rate_limited:
    return "rate_limited";
  case RestCause::quota:
    return "quota";
  case RestCause::capacity:
    return "capacity";
  case RestCause::refused:
    return "refused";
  }
  return "rate_limited";
}

KeyPool::KeyPool(std::vector<std::string> keys)
    : m_keys(std::move(keys)), m_usable_from(m_keys.size(), Clock::time_point::min()),
      m_cause(m_keys.size(), RestCause::rate_limited), m_last_status(m_keys.size()) {}

std::optional<size_t> KeyPool::next(Clock::time_point now, const std::vector<size_t>& tried) {
  std::lock_guard lock(m_mutex);
  for (size_t step = 0; step < m_keys.size(); ++step) {
    const size_t index = (m_cursor + step) % m_keys.size();
    if (m_usable_from[index] > now || std::find(tried.begin(), tried.end(), index) != tried.end()) {
      continue;
    }
    m_cursor = (index + 1) % m_keys.size();
    return index;
  }
  return std::nullopt;
}

KeyPool::Clock::time_point KeyPool::soonest_usable(Clock::time_point now) const {
  std::lock_guard lock(m_mutex);
  Clock::time_point soonest = Clock::time_point::max();
  for (const Clock::time_point& from : m_usable_from) {
    soonest = std::min(soonest, std::max(from, now));
  }
  return m_keys.empty() ? now : soonest;
}

void KeyPool::rest(size_t index, Clock::duration duration, Clock::time_point now, RestCause cause) {
  std::lock_guard lock(m_mutex);
  if (now + duration > m_usable_from[index]) {
    m_usable_from[index] = now + duration;
    m_cause[index] = cause;
  }
}

std::vector<KeyPool::KeyState> KeyPool::states(Clock::time_point now) const {
  std::vector<KeyState> out;
  std::lock_guard lock(m_mutex);
  for (size_t i = 0; i < m_keys.size(); ++i) {
    out.push_back({m_usable_from[i],
                   m_usable_from[i] > now ? std::optional<RestCause>(m_cause[i]) : std::nullopt,
                   m_last_status[i].load(std::memory_order_relaxed)});
  }
  return out;
}

std::optional<std::chrono::seconds> parse_retry_after(const std::string& value,
                                                      std::chrono::system_clock::time_point now) {
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) { // more than k_max_retry_after_seconds
      return std::nullopt;
    }
    return std::chrono::seconds(std::stol(value));
  }
  const time_t when = curl_getdate(value.c_str(), nullptr);
  if (when < 0) {
    return std::nullopt;
  }
  // In whole seconds of time_t: a date thousands of years ahead would overflow the clock's
  // nanoseconds. Capped like the delta-seconds form.
  const time_t delta = when - std::chrono::system_clock::to_time_t(now);
  return std::chrono::seconds(std::clamp<time_t>(delta, 0, k_max_retry_after_seconds));
}

} // namespace agproxy
