// libFuzzer target: the gateway's HTTP request reading — the request head parser, the chunked
// body decoder and the model read from a body — from arbitrary bytes, with properties: a head
// accepted has a known method, a path, token header names and clean values; the decoder consumes
// no more than it is given, decodes the same however its input is cut, and decodes its own
// encoding of any body back; the model read as events is the one a parsed document holds.
#include "server/http_request.hpp"
#include "server/routing.hpp"
#include "tests/fuzz/require.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <string>

using namespace agproxy;

namespace {

void check_head(std::string_view head) {
  httplib::Request request;
  const int status = parse_request_head(head, request);
  FUZZ_REQUIRE(status == 0 || status == 400 || status == 414 || status == 431);
  if (status != 0) {
    return;
  }
  FUZZ_REQUIRE(request.method == "GET" || request.method == "HEAD" || request.method == "POST" ||
               request.method == "PUT" || request.method == "DELETE" ||
               request.method == "OPTIONS" || request.method == "PATCH");
  FUZZ_REQUIRE(!request.target.empty() && request.target.front() == '/');
  FUZZ_REQUIRE(request.version == "HTTP/1.1" || request.version == "HTTP/1.0");
  FUZZ_REQUIRE(request.headers.size() <= 100);
  for (const auto& [name, value] : request.headers) {
    FUZZ_REQUIRE(!name.empty());
    FUZZ_REQUIRE(name.find_first_of(std::string_view(" \t:\r\n\0", 6)) == std::string::npos);
    FUZZ_REQUIRE(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    FUZZ_REQUIRE(value.empty() || (value.front() != ' ' && value.back() != ' '));
  }
}

// Decode `input` fed in pieces of the given sizes (cycled); return the status, the body, and the
// bytes left unconsumed.
struct Decoded {
  ChunkedDecoder::Status status;
  std::string body;
  std::string left;
  bool too_large;
};

Decoded decode(std::string_view input, const std::vector<size_t>& cuts, size_t limit) {
  ChunkedDecoder decoder(limit);
  Decoded out{ChunkedDecoder::Status::more, {}, {}, false};
  std::string pending;
  size_t at = 0;
  for (size_t i = 0; at < input.size() && out.status == ChunkedDecoder::Status::more; ++i) {
    const size_t step = std::max<size_t>(1, cuts.empty() ? input.size() : cuts[i % cuts.size()]);
    pending.append(input.substr(at, step));
    at += std::min(step, input.size() - at);
    size_t consumed = 0;
    out.status = decoder.feed(pending, out.body, consumed);
    FUZZ_REQUIRE(consumed <= pending.size());
    pending.erase(0, consumed);
  }
  out.left = pending + std::string(input.substr(at));
  out.too_large = decoder.too_large();
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider data(bytes, size);
  const std::string head = data.ConsumeRandomLengthString(2048);
  check_head(head);

  const std::string json_body = data.ConsumeRandomLengthString(512);
  const nlohmann::json document = nlohmann::json::parse(json_body, nullptr, false);
  std::optional<std::string> expected;
  if (document.is_object() && document.contains("model") && document["model"].is_string()) {
    expected = document["model"].get<std::string>();
  }
  FUZZ_REQUIRE(requested_model(Protocol::openai, "/v1/chat/completions", json_body) == expected);

  std::vector<size_t> cuts;
  for (int i = 0; i < 4; ++i) {
    cuts.push_back(data.ConsumeIntegralInRange<size_t>(1, 64));
  }
  const size_t limit = data.ConsumeIntegralInRange<size_t>(0, 4096);
  const std::string input = data.ConsumeRandomLengthString(4096);
  // However the input is cut, the outcome is the same.
  const Decoded whole = decode(input, {}, limit);
  const Decoded cut = decode(input, cuts, limit);
  FUZZ_REQUIRE(whole.status == cut.status);
  if (whole.status == ChunkedDecoder::Status::done) {
    FUZZ_REQUIRE(whole.body == cut.body);
    FUZZ_REQUIRE(whole.left == cut.left);
    FUZZ_REQUIRE(whole.too_large == cut.too_large);
    FUZZ_REQUIRE(!whole.too_large || whole.body.empty());
    FUZZ_REQUIRE(whole.too_large || whole.body.size() <= limit);
  }

  // Any body, encoded in chunks of the cut sizes, decodes back to itself.
  const std::string body = data.ConsumeRemainingBytesAsString();
  std::string encoded;
  for (size_t at = 0, i = 0; at < body.size(); ++i) {
    const size_t n = std::min(cuts[i % cuts.size()], body.size() - at);
    char line[32];
    std::snprintf(line, sizeof line, "%zx\r\n", n);
    encoded += line + body.substr(at, n) + "\r\n";
    at += n;
  }
  encoded += "0\r\n\r\n";
  const Decoded round = decode(encoded + "NEXT", cuts, body.size());
  FUZZ_REQUIRE(round.status == ChunkedDecoder::Status::done);
  FUZZ_REQUIRE(round.body == body);
  FUZZ_REQUIRE(round.left == "NEXT");
  return 0;
}
