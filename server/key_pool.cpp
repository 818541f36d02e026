#include "server/key_pool.hpp"

#include <algorithm>
#include <curl/curl.h>

namespace agproxy {

KeyPool::KeyPool(std::vector<std::string> keys)
    : m_keys(std::move(keys)), m_usable_from(m_keys.size(), Clock::time_point::min()) {}

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

void KeyPool::rest(size_t index, Clock::duration duration, Clock::time_point now) {
  std::lock_guard lock(m_mutex);
  m_usable_from[index] = std::max(m_usable_from[index], now + duration);
}

std::optional<std::chrono::seconds> parse_retry_after(const std::string& value,
                                                      std::chrono::system_clock::time_point now) {
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) {
      return std::nullopt;
    }
    return std::chrono::seconds(std::stol(value));
  }
  const time_t when = curl_getdate(value.c_str(), nullptr);
  if (when < 0) {
    return std::nullopt;
  }
  const auto delta = std::chrono::system_clock::from_time_t(when) - now;
  return std::chrono::seconds(
      std::max<long long>(0, std::chrono::duration_cast<std::chrono::seconds>(delta).count()));
}

} // namespace agproxy
