#pragma once

#include "server/http/http_request.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agproxy {

// An HTTP/1.1 response (RFC 9112) read incrementally from an upstream connection: the status line
// and headers, interim 1xx responses skipped, then the body framed by Content-Length, chunked
// transfer coding or the close. Lenient where providers are sloppy (a bare LF ends a head line),
// strict where a wrong guess would desynchronise a reused connection (framing, obs-fold, names).
// Its outcome does not depend on how the bytes are cut into feed() calls.
class ResponseParser {
public:
  enum class State { head, body, done, failed };

  // Start reading a response; `head_request`: it answers a HEAD request, so it has no body
  // whatever its headers say.
  explicit ResponseParser(bool head_request = false) : m_head_request(head_request) {}

  // Read what `input` holds, appending body bytes (decoded: chunk framing removed) to `body`;
  // return how many bytes of `input` were used. Stops at the end of the message: bytes after it
  // are not used (the caller then knows the server sent more than one answer and closes).
  size_t feed(std::string_view input, std::string& body);
  // Note that the server closed the connection: it ends a body delimited by the close, and makes
  // anything else unfinished failed.
  void feed_eof();
  // Return where the reading stands.
  State state() const { return m_state; }
  // Return whether the final status line and headers are in (1xx interim responses are skipped).
  bool head_done() const { return m_head_done; }
  // Return the final response's status once head_done(), else 0.
  int status() const { return m_head_done ? m_status : 0; }
  // Return the headers of the final response in order, names as sent, values trimmed of spaces
  // and tabs; a header whose value holds a control character is left out.
  const std::vector<std::pair<std::string, std::string>>& headers() const { return m_headers; }
  // Return whether the connection may carry another request once this message is done: HTTP/1.1,
  // no `Connection: close` (token match, case-insensitive, in a comma list), and a body framed by
  // Content-Length or chunked (or none). HTTP/1.0 is never reused.
  bool keep_alive() const { return m_state != State::failed && m_head_done && m_keep_alive; }
  // Return what was wrong when state() is failed (a short sentence for a log, no raw bytes of the
  // response).
  const std::string& error() const { return m_error; }
  // Return whether no byte at all was fed: a reused connection the server closed before
  // answering, so the request may be retried on a new one.
  bool nothing_received() const { return !m_received; }

private:
  enum class Framing : uint8_t { none, length, chunked, close };

  size_t feed_head(std::string_view input);
  size_t feed_body(std::string_view input, std::string& body);
  size_t feed_chunked(std::string_view input, std::string& body);
  void head_line(std::string_view line);
  void status_line(std::string_view line);
  void header_line(std::string_view line);
  void end_of_head();
  void fail(const char* why);

  bool m_head_request;
  bool m_received = false;
  bool m_head_done = false;
  bool m_keep_alive = false;
  State m_state = State::head;
  Framing m_framing = Framing::none;

  // The head: a line not yet ended (only when it spans feed() calls), the head's bytes so far
  // (interim responses included), whether the current response's status line is in.
  std::string m_line;
  size_t m_head_size = 0;
  bool m_status_seen = false;
  int m_status = 0;
  bool m_http10 = false;

  // What the final response's headers say of its framing and of the connection.
  bool m_te_seen = false;
  bool m_te_chunked = false;
  bool m_te_bad = false;
  bool m_cl_seen = false;
  const char* m_cl_error = nullptr;
  uint64_t m_content_length = 0;
  bool m_close = false;
  std::vector<std::pair<std::string, std::string>> m_headers;

  // The body: bytes a Content-Length still owes; a chunk-size or trailer line the decoder has
  // seen only part of (it wants whole lines, and feed() uses all it is given).
  uint64_t m_remaining = 0;
  ChunkedDecoder m_chunked{SIZE_MAX};
  std::string m_pending;

  std::string m_error;
};

} // namespace agproxy
