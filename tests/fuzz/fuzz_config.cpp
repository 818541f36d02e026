// libFuzzer target: config parsing and validation, environment overrides, and secret masking.
#include "server/auth/secret.hpp"
#include "server/config/config.hpp"
#include "tests/fuzz/require.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <map>
#include <string>

using namespace agproxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider data(bytes, size);
  std::map<std::string, std::string, std::less<>> variables;
  for (const char* name : {"AGPROXY_PORT", "AGPROXY_AUTH_MODE", "AGPROXY_API_KEY",
                           "AGPROXY_ALLOW_LAN_ACCESS", "OPENAI_KEY"}) {
    if (data.ConsumeBool()) {
      variables[name] = data.ConsumeRandomLengthString(32);
    }
  }
  const std::string text = data.ConsumeRemainingBytesAsString();

  ConfigDocument document;
  try {
    document = parse_config(text, "fuzz.json");
  } catch (const Error&) {
    return 0; // refused with a message: what bad input should get
  }
  // Whatever validated, masking hides the proxy key and dumping never throws.
  const std::string& key = document.settings.api_key;
  const nlohmann::json masked = masked_config(document.json);
  const std::string dump = masked.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (key.size() >= 12) {
    FUZZ_REQUIRE(mask_secret(key).find(key) == std::string::npos);
    FUZZ_REQUIRE(masked.at("proxy").at("api_key") != key);
  }

  const Environment env = [&](std::string_view name) -> std::optional<std::string> {
    const auto found = variables.find(name);
    return found == variables.end() ? std::nullopt : std::optional(found->second);
  };
  try {
    const EffectiveSettings effective = apply_overrides(document.settings, env, Overrides{});
    FUZZ_REQUIRE(effective.settings.port >= 1 && effective.settings.port <= 65535);
  } catch (const Error&) {
  }
  for (size_t i = 0; i < document.settings.upstreams.size(); ++i) {
    try {
      for (const std::string& resolved : resolve_api_keys(document.settings.upstreams[i], i, env)) {
        FUZZ_REQUIRE(!resolved.empty());
      }
    } catch (const Error&) {
    }
  }
  return 0;
}
