#include "server/upstream/rate_limit.hpp"

#include "server/upstream/key_pool.hpp"

namespace agproxy {
std::string_view to_string(LimitScope scope) {
  switch (scope) {
  case LimitScope::quota:
    return "quota";
  case LimitScope::rate:
    return "rate";
  case LimitScope::capacity:
    return "capacity";
  case LimitScope::unknown:
    break;
  }
  return "unknown";
}
ProviderLimit read_provider_limit(Protocol, int, const HeaderLookup& header, std::string_view,
                                  std::chrono::system_clock::time_point now) {
  ProviderLimit limit;
  limit.retry_after = parse_retry_after(header("Retry-After"), now);
  return limit;
}
} // namespace agproxy
