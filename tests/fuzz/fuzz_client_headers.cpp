// libFuzzer target: the doctor's reading of -H arguments and pasted curl commands, and its header
// analysis.
#include "diag/client_headers.hpp"
#include "tests/fuzz/require.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <string>

using namespace agproxy;
using namespace agproxy::diag;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider data(bytes, size);
  const std::string argument = data.ConsumeRandomLengthString(256);
  const std::string command = data.ConsumeRemainingBytesAsString();

  std::string error;
  if (const auto header = parse_header_argument(argument, error)) {
    for (const KeyHeader key_header : k_key_headers) {
      if (is_header(header->name, key_header)) {
        for (const HeaderFinding& finding : analyze_key_header(key_header, header->value)) {
          FUZZ_REQUIRE(!finding.problem.empty() && !finding.fix.empty());
        }
        const std::string_view key = key_in_header(key_header, header->value);
        // The key shown is never the key itself once it is long enough to be a real one.
        if (key.size() >= 12) {
          FUZZ_REQUIRE(describe_key(key).find(key) == std::string::npos);
        }
      }
    }
  } else {
    FUZZ_REQUIRE(!error.empty());
  }

  error.clear();
  if (split_shell_words(command, error)) {
    FUZZ_REQUIRE(error.empty());
  } else {
    FUZZ_REQUIRE(!error.empty());
  }
  error.clear();
  if (const auto request = parse_curl_command(command, error)) {
    const AuthRequest auth = to_auth_request(*request, request->method.value_or("GET"), "/");
    (void)auth;
  } else {
    FUZZ_REQUIRE(!error.empty());
  }
  return 0;
}
