// libFuzzer target: the HTTP/1.1 response parser of the upstream client, from arbitrary bytes,
// with properties: a feed uses no more than it is given, and nothing once the message is done; the
// outcome (state, status, headers, body, what is used, keep_alive, error) is the same however the
// input is cut; a head read holds a final status (not 1xx) and token names with trimmed values
// free of control characters; and any body framed by Content-Length or chunked coding (in pieces
// of fuzzer-chosen sizes) reads back as itself, ending where the message ends.
#include "server/upstream/http1/response_parser.hpp"
#include "tests/fuzz/require.hpp"

#include <algorithm>
#include <cstdio>
#include <fuzzer/FuzzedDataProvider.h>
#include <string>
#include <vector>

using namespace agproxy;

namespace {

// What reading a response came to.
struct Outcome {
  ResponseParser::State state;
  bool head_done;
  int status;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  size_t used;
  bool keep_alive;
  std::string error;
};

// Read `input` in pieces of the sizes `cuts` gives (cycled; none: whole), then the close when
// `eof`.
Outcome read(std::string_view input, const std::vector<size_t>& cuts, bool head_request, bool eof) {
  ResponseParser parser(head_request);
  Outcome out{};
  size_t at = 0;
  bool stopped = false;
  for (size_t i = 0; at < input.size(); ++i) {
    const size_t step = cuts.empty() ? input.size() : cuts[i % cuts.size()];
    const std::string_view piece = input.substr(at, step);
    at += piece.size();
    const size_t before = out.body.size();
    const size_t used = parser.feed(piece, out.body);
    FUZZ_REQUIRE(used <= piece.size());
    if (stopped) {
      // Once it left bytes unused, the message is over: it takes nothing more.
      FUZZ_REQUIRE(used == 0 && out.body.size() == before);
    } else {
      out.used += used;
      stopped = used < piece.size();
    }
    FUZZ_REQUIRE(!stopped || parser.state() == ResponseParser::State::done ||
                 parser.state() == ResponseParser::State::failed);
  }
  if (eof) {
    parser.feed_eof();
    FUZZ_REQUIRE(parser.state() != ResponseParser::State::head);
    FUZZ_REQUIRE(parser.nothing_received() == input.empty());
  }
  out.state = parser.state();
  out.head_done = parser.head_done();
  out.status = parser.status();
  out.headers = parser.headers();
  out.keep_alive = parser.keep_alive();
  out.error = parser.error();
  return out;
}

bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return (byte < 0x20 && c != '\t') || byte == 0x7f;
}

void check_outcome(const Outcome& out) {
  FUZZ_REQUIRE((out.state == ResponseParser::State::failed) == !out.error.empty());
  FUZZ_REQUIRE(!out.keep_alive || out.head_done);
  if (!out.head_done) {
    FUZZ_REQUIRE(out.status == 0 && out.body.empty());
    return;
  }
  FUZZ_REQUIRE(out.status >= 200 && out.status <= 999);
  for (const auto& [name, value] : out.headers) {
    FUZZ_REQUIRE(!name.empty());
    FUZZ_REQUIRE(name.find_first_of(std::string_view(" \t:\r\n\0", 6)) == std::string::npos);
    FUZZ_REQUIRE(std::none_of(value.begin(), value.end(), is_control));
    FUZZ_REQUIRE(value.empty() || (value.front() != ' ' && value.front() != '\t' &&
                                   value.back() != ' ' && value.back() != '\t'));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider data(bytes, size);
  const bool head_request = data.ConsumeBool();
  const bool eof = data.ConsumeBool();
  std::vector<size_t> cuts;
  for (int i = 0; i < 4; ++i) {
    cuts.push_back(data.ConsumeIntegralInRange<size_t>(1, 64));
  }
  const std::string input = data.ConsumeRandomLengthString(4096);

  // However the input is cut, the outcome is the same.
  const Outcome whole = read(input, {}, head_request, eof);
  const Outcome cut = read(input, cuts, head_request, eof);
  const Outcome bytewise = read(input, {1}, head_request, eof);
  check_outcome(whole);
  for (const Outcome* other : {&cut, &bytewise}) {
    FUZZ_REQUIRE(other->state == whole.state);
    FUZZ_REQUIRE(other->head_done == whole.head_done);
    FUZZ_REQUIRE(other->status == whole.status);
    FUZZ_REQUIRE(other->headers == whole.headers);
    FUZZ_REQUIRE(other->body == whole.body);
    FUZZ_REQUIRE(other->keep_alive == whole.keep_alive);
    FUZZ_REQUIRE(other->error == whole.error);
    FUZZ_REQUIRE(whole.state != ResponseParser::State::done || other->used == whole.used);
  }

  // Any body, framed by Content-Length or in chunks of the cut sizes, reads back as itself and
  // the message ends where its framing says.
  const std::string body = data.ConsumeRemainingBytesAsString();
  std::string by_length =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t at = 0, i = 0; at < body.size(); ++i) {
    const size_t n = std::min(cuts[i % cuts.size()], body.size() - at);
    char line[32];
    std::snprintf(line, sizeof line, "%zx;i=%zu\r\n", n, i);
    chunked += line + body.substr(at, n) + "\r\n";
    at += n;
  }
  chunked += "0\r\nTrailer: t\r\n\r\n";
  for (const std::string* message : {&by_length, &chunked}) {
    const Outcome round = read(*message + "HTTP/1.1 200 OK\r\n\r\n", cuts, false, false);
    FUZZ_REQUIRE(round.state == ResponseParser::State::done);
    FUZZ_REQUIRE(round.body == body);
    FUZZ_REQUIRE(round.used == message->size());
    FUZZ_REQUIRE(round.keep_alive);
  }
  return 0;
}
