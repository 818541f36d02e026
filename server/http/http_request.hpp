#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace httplib {
struct Request;
} // namespace httplib

namespace agproxy {

// Return whether `path` (a request target's path, still percent-encoded) may be appended to an
// upstream's base_url as it is: it starts with '/', every byte outside an escape is one RFC 3986
// allows in a path, every escape is well-formed, and no segment is a dot segment (raw or encoded)
// nor holds an encoded '/', backslash, '?', '#', '%' (double encoding) or control character. Such a
// path cannot climb above the base_url's own path, whoever normalises it.
bool safe_request_path(std::string_view path);

// Read the request line and headers in `head` (up to and including the blank line) into
// `request`. Return 0, or the status to refuse the request with: 400 (malformed: a line not ended
// by CRLF, a bad request line, an unknown method, a target whose path is not safe_request_path()
// or that holds '#' or non-ASCII bytes, a control character in a header value, a header line
// without a colon or with a name that is not a token, obs-fold), 414 (request line over 8 KiB),
// 431 (a header line over 8 KiB, or over 100 headers). `request.path` is the decoded path,
// `request.target` the target as sent.
int parse_request_head(std::string_view head, httplib::Request& request);

// A request body in chunked transfer coding (RFC 9112 §7.1), decoded as its bytes arrive. Past
// `max_body` decoded bytes the rest is read and dropped (too_large() tells); trailer fields are
// dropped, and more than 16 KiB of them is malformed. Strict: lines end with CRLF, a chunk size is
// hex digits alone, extensions hold no control characters.
class ChunkedDecoder {
public:
  enum class Status { more, done, malformed };

  explicit ChunkedDecoder(size_t max_body) : m_max_body(max_body) {}

  // Decode what `input` holds, appending body bytes to `body`; set `consumed` to the bytes of
  // `input` used (the rest belongs to what follows, or has yet to be completed by more input).
  Status feed(std::string_view input, std::string& body, size_t& consumed);
  // Return whether the decoded body went past max_body (its bytes were dropped from there).
  bool too_large() const { return m_too_large; }
  // Return the bytes read so far as sent, framing included.
  uint64_t raw_bytes() const { return m_raw; }

private:
  enum class State : uint8_t { size_line, data, data_end, trailer, done };

  size_t m_max_body;
  State m_state = State::size_line;
  uint64_t m_chunk_left = 0;
  uint64_t m_raw = 0;
  size_t m_trailer = 0;
  bool m_too_large = false;
};

} // namespace agproxy
