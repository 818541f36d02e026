// libFuzzer target: the auth decision from raw header values (DESIGN §3), under every mode.
#include "server/auth/auth.hpp"
#include "tests/fuzz/require.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <string>

using namespace agproxy;

namespace {

std::optional<std::string_view> maybe_header(FuzzedDataProvider& data, std::string& storage) {
  if (!data.ConsumeBool()) {
    return std::nullopt;
  }
  storage = data.ConsumeRandomLengthString(256);
  return std::string_view(storage);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider data(bytes, size);
  const auto mode = data.PickValueInArray(
      {AuthMode::off, AuthMode::strict, AuthMode::all_except_health, AuthMode::auto_});
  const bool lan = data.ConsumeBool();
  const std::string key = data.ConsumeRandomLengthString(64);
  const std::string method = data.ConsumeRandomLengthString(16);
  const std::string path = data.ConsumeRandomLengthString(128);
  std::string authorization, x_api_key, x_goog_api_key;
  AuthRequest request{method, path, maybe_header(data, authorization),
                      maybe_header(data, x_api_key), maybe_header(data, x_goog_api_key)};

  const AuthMode effective = effective_auth_mode(mode, lan);
  FUZZ_REQUIRE(effective != AuthMode::auto_);
  const AuthPolicy policy(effective, key);
  const AuthDecision decision = decide(policy, request);

  // A denial always names its reason, and an allowed request never carries one.
  FUZZ_REQUIRE(decision.allowed == (decision.reason == DenyReason::none));
  if (effective == AuthMode::off || method == "OPTIONS") {
    FUZZ_REQUIRE(decision.allowed);
  }
  if (!decision.allowed) {
    FUZZ_REQUIRE(decision.key_required);
    FUZZ_REQUIRE(!describe_denial(decision, effective).empty());
  }
  // The key read is the first header present, and every later one present is reported ignored.
  if (decision.header_read) {
    for (const KeyHeader header : k_key_headers) {
      if (header == *decision.header_read) {
        break;
      }
      FUZZ_REQUIRE(!request.header(header));
    }
  }
  // Allowed with a key required means the key read matches the configured one.
  if (decision.allowed && decision.key_required) {
    FUZZ_REQUIRE(decision.header_read.has_value());
    std::string_view sent = *request.header(*decision.header_read);
    if (*decision.header_read == KeyHeader::authorization) {
      // The part after "Bearer "; or, glued or without the scheme, the whole value (which matches
      // only a configured key that is that whole value).
      sent = parse_authorization(sent).key;
    }
    FUZZ_REQUIRE(!key.empty() && sent == key);
  }
  // The key parsed from Authorization is a part of the value.
  if (request.authorization) {
    const AuthorizationKey parsed = parse_authorization(*request.authorization);
    FUZZ_REQUIRE(parsed.key.empty() ||
                 (parsed.key.data() >= request.authorization->data() &&
                  parsed.key.data() + parsed.key.size() <=
                      request.authorization->data() + request.authorization->size()));
  }
  return 0;
}
