// libFuzzer target: what a provider's error answer says of its limits. The input is written like
// an answer: a first line "STATUS PROTOCOL", header lines "name: value", a blank line, the body.
// For any bytes the reading does not throw, quotes nothing but identifiers in its detail, and
// asks for a delay between none and the longest one read.
#include "server/text.hpp"
#include "server/upstream/rate_limit.hpp"
#include "tests/fuzz/require.hpp"

#include <string>
#include <utility>
#include <vector>

using namespace agproxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(bytes), size);
  const size_t blank = input.find("\n\n");
  const std::string_view head = input.substr(0, blank);
  const std::string_view body = blank == std::string_view::npos ? "" : input.substr(blank + 2);

  int status = 0;
  Protocol protocol = Protocol::openai;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  size_t at = 0;
  for (bool first = true; at <= head.size(); first = false) {
    const size_t end = std::min(head.find('\n', at), head.size());
    const std::string_view line = head.substr(at, end - at);
    at = end + 1;
    if (first) {
      for (size_t i = 0; i < line.size() && i < 3 && line[i] >= '0' && line[i] <= '9'; ++i) {
        status = status * 10 + (line[i] - '0');
      }
      const size_t space = line.find(' ');
      if (space != std::string_view::npos) {
        protocol = parse_protocol(line.substr(space + 1)).value_or(Protocol::openai);
      }
      continue;
    }
    const size_t colon = line.find(": ");
    if (colon != std::string_view::npos) {
      headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
  }
  const HeaderLookup lookup = [&headers](std::string_view name) {
    for (const auto& [header, value] : headers) {
      if (iequals(header, name)) {
        return std::string(value);
      }
    }
    return std::string();
  };

  const ProviderLimit limit =
      read_provider_limit(protocol, status, lookup, body, std::chrono::system_clock::now());
  FUZZ_REQUIRE(!limit.detail.empty());
  FUZZ_REQUIRE(limit.detail.size() <= 400);
  for (char c : limit.detail) {
    FUZZ_REQUIRE(c >= ' ' && c <= '~');
  }
  if (limit.retry_after) {
    FUZZ_REQUIRE(limit.retry_after->count() >= 0);
    FUZZ_REQUIRE(limit.retry_after->count() <= 999'999'999);
  }
  FUZZ_REQUIRE(limit.key_invalid || (status != 401 && status != 403));

  if (const auto duration = parse_duration(body.substr(0, 64))) {
    FUZZ_REQUIRE(duration->count() >= 0);
    FUZZ_REQUIRE(duration->count() <= 999'999'999'000);
  }
  return 0;
}
