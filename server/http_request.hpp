#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace httplib {
struct Request;
} // namespace httplib

namespace agproxy {

// Read the request line and headers in `head` (up to and including the blank line) into
// `request`. Return 0, or the status to refuse the request with: 400 (malformed: a bad request
// line, an unknown method, a target that is not a path, a bare CR or NUL, a header line without a
// colon or with a name that is not a token, obs-fold), 414 (request line over 8 KiB), 431 (a
// header line over 8 KiB, or over 100 headers).
int parse_request_head(std::string_view head, httplib::Request& request);

// A request body in chunked transfer coding (RFC 9112 §7.1), decoded as its bytes arrive. Past
// `max_body` decoded bytes the rest is read and dropped (too_large() tells); trailer fields are
// dropped.
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
  bool m_too_large = false;
};

} // namespace agproxy
