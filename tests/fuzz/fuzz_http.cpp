// libFuzzer target: the gateway's HTTP request reading — the request head parser, the path check,
// the chunked body decoder and the model read from a body — from arbitrary bytes, with
// properties: a head accepted has CRLF line ends, a known method, token header names and values
// without control characters, and a path that stays below any base_url however a provider (or a
// proxy in between) decodes and normalises it; the decoder accepts CRLF framing only, consumes no
// more than it is given, decodes the same however its input is cut, and decodes its own encoding
// of any body back; the model read as events is the one a parsed document holds.
#include "server/http/http_request.hpp"
#include "server/upstream/routing.hpp"
#include "tests/fuzz/require.hpp"

#include <algorithm>
#include <cctype>
#include <fuzzer/FuzzedDataProvider.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

using namespace agproxy;

namespace {

// Decode %XX escapes in `text` once.
std::string percent_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The deepest the most lenient reader could take `path` to: decoded until nothing changes (double
// encodings too), backslashes read as slashes, then dot segments resolved (RFC 3986 §5.2.4).
// Returns the segments, or nothing when a ".." climbs above the start.
std::optional<std::vector<std::string>> leniently_resolved(std::string_view path) {
  std::string decoded(path);
  for (std::string next = percent_decode(decoded); next != decoded; next = percent_decode(next)) {
    decoded = next;
  }
  std::vector<std::string> segments;
  size_t start = 0;
  while (start <= decoded.size()) {
    const size_t end = std::min(decoded.find_first_of("/\\", start), decoded.size());
    const std::string segment = decoded.substr(start, end - start);
    if (segment == "..") {
      if (segments.empty()) {
        return std::nullopt;
      }
      segments.pop_back();
    } else if (segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  return segments;
}

void check_path(std::string_view path) {
  if (!safe_request_path(path)) {
    return;
  }
  // Appended to a base_url's path "/base", the path stays below it for every reader: a "..",
  // however encoded, never climbs, and no '?', '#' or NUL hides in it.
  const auto resolved = leniently_resolved("/base" + std::string(path));
  FUZZ_REQUIRE(resolved && resolved->size() >= 2 && (*resolved)[1] == "base");
  const std::string once = percent_decode(path);
  FUZZ_REQUIRE(once.find_first_of(std::string_view("?#\0", 3)) == std::string::npos);
}

void check_head(std::string_view head) {
  httplib::Request request;
  const int status = parse_request_head(head, request);
  FUZZ_REQUIRE(status == 0 || status == 400 || status == 414 || status == 431);
  if (status != 0) {
    return;
  }
  // No bare LF up to the end of the head (what follows the blank line is not the head's).
  const std::string_view read = head.substr(0, head.find("\r\n\r\n"));
  for (size_t at = read.find('\n'); at != std::string_view::npos; at = read.find('\n', at + 1)) {
    FUZZ_REQUIRE(at > 0 && read[at - 1] == '\r');
  }
  FUZZ_REQUIRE(
      safe_request_path(std::string_view(request.target).substr(0, request.target.find('?'))));
  FUZZ_REQUIRE(request.target.find('#') == std::string::npos);
  FUZZ_REQUIRE(request.method == "GET" || request.method == "HEAD" || request.method == "POST" ||
               request.method == "PUT" || request.method == "DELETE" ||
               request.method == "OPTIONS" || request.method == "PATCH");
  FUZZ_REQUIRE(!request.target.empty() && request.target.front() == '/');
  FUZZ_REQUIRE(request.version == "HTTP/1.1" || request.version == "HTTP/1.0");
  FUZZ_REQUIRE(request.headers.size() <= 100);
  for (const auto& [name, value] : request.headers) {
    FUZZ_REQUIRE(!name.empty());
    FUZZ_REQUIRE(name.find_first_of(std::string_view(" \t:\r\n\0", 6)) == std::string::npos);
    FUZZ_REQUIRE(std::none_of(value.begin(), value.end(), [](char c) {
      const auto byte = static_cast<unsigned char>(c);
      return (byte < 0x20 && c != '\t') || byte == 0x7f;
    }));
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
  check_path(data.ConsumeRandomLengthString(256));

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
    // Accepted framing ends as CRLF framing does: the last chunk's (or trailer's) CRLF.
    const std::string_view used =
        std::string_view(input).substr(0, input.size() - whole.left.size());
    FUZZ_REQUIRE(used.ends_with("\r\n"));
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
