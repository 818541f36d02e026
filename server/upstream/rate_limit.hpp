#pragma once

#include "server/protocols/protocol.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace agproxy {

// What kind of limit a provider's error answer names.
enum class LimitScope {
  quota,    // used up for a long while: a daily quota, a billing quota; retrying soon will not help
  rate,     // a per-minute or per-second rate limit; it lifts within the window
  capacity, // the provider has no capacity for the model right now; no fault of the key
  unknown,  // nothing in the answer says
};

// Return the spelling of `scope` in agproxy's events ("quota", "rate", "capacity", "unknown").
std::string_view to_string(LimitScope scope);

// What a provider's error answer says about its limits and the key it was sent.
struct ProviderLimit {
  LimitScope scope = LimitScope::unknown;
  // How long to wait before the limit lifts: Retry-After when sent, else the provider's own delay
  // or reset time from the body or its rate-limit headers; rounded up to whole seconds.
  std::optional<std::chrono::seconds> retry_after;
  // The evidence in a few words, never a message's free text (which can quote anything), e.g.
  // "quotaId GenerateRequestsPerDayPerProjectPerModel-FreeTier (limit 50)".
  std::string detail;
  // Whether the provider refused the key itself: any 401 or 403, and Gemini's 400 for a bad key.
  bool key_invalid = false;
};

// Return a header's value by its name (case-insensitive), or "" when absent.
using HeaderLookup = std::function<std::string(std::string_view name)>;

// Return what the error answer (`status`, `headers`, `body`) of a provider speaking `protocol`
// says about its limits. Reads Google's error details (QuotaFailure, RetryInfo, ErrorInfo),
// OpenAI's error code and x-ratelimit-* headers and Anthropic's error type and
// anthropic-ratelimit-* headers, whatever the protocol (an OpenAI-compatible endpoint may be Gemini
// behind); `protocol` names the provider when the body does not. `body` is untrusted: never throws;
// one over 256 KiB is not parsed.
ProviderLimit read_provider_limit(Protocol protocol, int status, const HeaderLookup& headers,
                                  std::string_view body, std::chrono::system_clock::time_point now);

// Return the duration `text` writes in Go's or protobuf's JSON style ("29s", "1.5s", "20ms",
// "6m0s", "1h2m3.5s"), rounded up to milliseconds, or nothing when it is not one.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

} // namespace agproxy
