#pragma once
#include "server/protocols/protocol.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

// What a provider's error answer says of its limit (DESIGN §8): a quota, a rate limit, model
// capacity; when it ends; whether the key itself is invalid. For now only Retry-After is read.
namespace agproxy {

enum class LimitScope { quota, rate, capacity, unknown };
std::string_view to_string(LimitScope scope);
struct ProviderLimit {
  LimitScope scope = LimitScope::unknown;
  std::optional<std::chrono::seconds> retry_after;
  std::optional<std::chrono::seconds> reset;
  std::string detail;
  bool key_invalid = false;
};
using HeaderLookup = std::function<std::string(std::string_view)>;
ProviderLimit read_provider_limit(Protocol protocol, int status, const HeaderLookup& header,
                                  std::string_view body, std::chrono::system_clock::time_point now);
} // namespace agproxy
