// libFuzzer target: SSE framing of a provider stream (where a heartbeat may go) and Retry-After.
// The framing is checked against a plain line splitter written from the spec, and must not depend
// on how the stream was cut into chunks.
#include "server/protocols/sse.hpp"
#include "server/upstream/key_pool.hpp"
#include "tests/fuzz/require.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <string>

using namespace agproxy;

namespace {

// Return whether `stream` ends at an event boundary: it is empty, or its last line is empty and
// complete (lines end with CRLF, LF or CR; a CR at the very end completes a line).
bool reference_boundary(std::string_view stream) {
  bool last_line_empty = true, last_line_complete = true;
  size_t i = 0;
  while (i < stream.size()) {
    const size_t start = i;
    while (i < stream.size() && stream[i] != '\n' && stream[i] != '\r') {
      ++i;
    }
    last_line_empty = i == start;
    if (i == stream.size()) {
      last_line_complete = false;
      break;
    }
    if (stream[i] == '\r' && i + 1 < stream.size() && stream[i + 1] == '\n') {
      ++i;
    }
    ++i;
    last_line_complete = true;
  }
  return last_line_complete && last_line_empty;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider data(bytes, size);
  const std::string retry_after = data.ConsumeRandomLengthString(64);
  if (const auto delay = parse_retry_after(retry_after, std::chrono::system_clock::now())) {
    FUZZ_REQUIRE(delay->count() >= 0);
  }

  const std::string stream = data.ConsumeRemainingBytesAsString();
  SseFraming whole;
  whole.feed(stream);
  FUZZ_REQUIRE(whole.at_boundary() == reference_boundary(stream));

  // The same stream in chunks whose sizes come from its own bytes, checked after each chunk
  // against the stream fed a byte at a time (linear: a reference check per prefix would not be).
  SseFraming chunked, bytewise;
  size_t at = 0;
  while (at < stream.size()) {
    const size_t length = 1 + static_cast<unsigned char>(stream[at]) % 7;
    const std::string_view chunk = std::string_view(stream).substr(at, length);
    chunked.feed(chunk);
    for (const char byte : chunk) {
      bytewise.feed(std::string_view(&byte, 1));
    }
    at += chunk.size();
    FUZZ_REQUIRE(chunked.at_boundary() == bytewise.at_boundary());
  }
  FUZZ_REQUIRE(chunked.at_boundary() == whole.at_boundary());
  return 0;
}
