#include "server/auth/throttle.hpp"

#include <algorithm>

namespace agproxy {

namespace {

constexpr size_t k_prune_above = 10000;

} // namespace

bool is_loopback_address(const std::string& address) {
  return address.starts_with("127.") || address == "::1" || address.starts_with("::ffff:127.");
}

std::optional<std::chrono::seconds> AuthThrottle::blocked(const std::string& address,
                                                          const ThrottleSettings& settings,
                                                          Clock::time_point now) {
  if (settings.max_failures <= 0 || (!settings.include_loopback && is_loopback_address(address))) {
    return std::nullopt;
  }
  std::lock_guard lock(m_mutex);
  auto it = m_entries.find(address);
  if (it == m_entries.end() || it->second.failures < settings.max_failures) {
    return std::nullopt;
  }
  const Clock::time_point end = it->second.window_start + settings.window;
  if (now >= end) {
    m_entries.erase(it);
    return std::nullopt;
  }
  return std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(end - now));
}

void AuthThrottle::record_failure(const std::string& address, const ThrottleSettings& settings,
                                  Clock::time_point now) {
  if (settings.max_failures <= 0 || (!settings.include_loopback && is_loopback_address(address))) {
    return;
  }
  std::lock_guard lock(m_mutex);
  if (m_entries.size() > k_prune_above) {
    prune(now, settings.window);
  }
  if (m_entries.size() > 10 * k_prune_above) {
    // Very many addresses within one window: forget those not yet refused, keep the refused.
    for (auto it = m_entries.begin(); it != m_entries.end();) {
      it = it->second.failures < settings.max_failures ? m_entries.erase(it) : std::next(it);
    }
  }
  Entry& entry = m_entries[address];
  if (entry.failures == 0 || now - entry.window_start >= settings.window) {
    entry = Entry{now, 0};
  }
  ++entry.failures;
}

size_t AuthThrottle::tracked() const {
  std::lock_guard lock(m_mutex);
  return m_entries.size();
}

std::vector<AuthThrottle::Tracked> AuthThrottle::failing(const ThrottleSettings& settings,
                                                         Clock::time_point now, size_t most) const {
  std::vector<Tracked> out;
  {
    std::lock_guard lock(m_mutex);
    for (const auto& [address, entry] : m_entries) {
      const Clock::time_point end = entry.window_start + settings.window;
      if (entry.failures > 0 && now < end) {
        out.push_back({address, entry.failures,
                       settings.max_failures > 0 && entry.failures >= settings.max_failures, end});
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Tracked& a, const Tracked& b) { return a.failures > b.failures; });
  if (out.size() > most) {
    out.resize(most);
  }
  return out;
}

void AuthThrottle::prune(Clock::time_point now, std::chrono::seconds window) {
  for (auto it = m_entries.begin(); it != m_entries.end();) {
    it = now - it->second.window_start >= window ? m_entries.erase(it) : std::next(it);
  }
}

} // namespace agproxy
