#include "server/upstream/http1/response_parser.hpp"

#include "server/text.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace agproxy {

namespace {

// The status line and headers of a response, interim ones included: more is no provider's answer,
// and the bound keeps a server that streams 1xx responses or headers from holding us forever.
constexpr size_t k_max_head = 256 << 10;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// Return the next element of the comma list `list` (trimmed, maybe empty) and drop it and its
// comma from `list`.
std::string_view next_element(std::string_view& list) {
  const size_t comma = list.find(',');
  const std::string_view element = trim(list.substr(0, comma));
  list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  return element;
}

} // namespace

size_t ResponseParser::feed(std::string_view input, std::string& body) {
  m_received = m_received || !input.empty();
  size_t used = 0;
  if (m_state == State::head) {
    used = feed_head(input);
  }
  if (m_state == State::body && used < input.size()) {
    used += feed_body(input.substr(used), body);
  }
  return used;
}

void ResponseParser::feed_eof() {
  if (m_state == State::head) {
    fail(m_received ? "connection closed inside the response head"
                    : "connection closed before the response");
  } else if (m_state == State::body) {
    if (m_framing == Framing::close) {
      m_state = State::done;
    } else {
      fail(m_framing == Framing::chunked ? "connection closed inside the chunked body"
                                         : "connection closed before Content-Length bytes came");
    }
  }
}

size_t ResponseParser::feed_head(std::string_view input) {
  size_t at = 0;
  while (m_state == State::head && at < input.size()) {
    const void* newline = std::memchr(input.data() + at, '\n', input.size() - at);
    if (newline == nullptr) {
      // A line cut by the end of this input: kept until its end comes.
      if (m_head_size + m_line.size() + (input.size() - at) > k_max_head) {
        fail("response head over 256 KiB");
      } else {
        m_line.append(input.substr(at));
      }
      return input.size();
    }
    const size_t end = static_cast<size_t>(static_cast<const char*>(newline) - input.data()) + 1;
    std::string_view line = input.substr(at, end - at);
    at = end;
    m_head_size += m_line.size() + line.size();
    if (m_head_size > k_max_head) {
      fail("response head over 256 KiB");
      break;
    }
    if (!m_line.empty()) {
      m_line.append(line);
      line = m_line;
    }
    // CRLF, or a bare LF from a sloppy server: either ends the line.
    line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    head_line(line);
    m_line.clear();
  }
  return at;
}

void ResponseParser::head_line(std::string_view line) {
  if (!m_status_seen) {
    status_line(line);
  } else if (line.empty()) {
    end_of_head();
  } else {
    header_line(line);
  }
}

void ResponseParser::status_line(std::string_view line) {
  // HTTP/1.x SP 3DIGIT [ SP reason ]: the reason is free text nobody acts on, so it is not read.
  constexpr std::string_view prefix = "HTTP/1.";
  if (line.size() < 12 || !line.starts_with(prefix) || !is_digit(line[7]) || line[8] != ' ' ||
      line[9] < '1' || line[9] > '9' || !is_digit(line[10]) || !is_digit(line[11]) ||
      (line.size() > 12 && line[12] != ' ')) {
    fail("bad status line");
    return;
  }
  m_status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (m_status == 101) {
    fail("101 Switching Protocols, and agproxy never asks to upgrade");
    return;
  }
  m_http10 = line[7] == '0';
  m_status_seen = true;
}

void ResponseParser::header_line(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    // obs-fold (RFC 9112 §5.2): a client may not guess what the line continues.
    fail("a header line starts with whitespace (obs-fold)");
    return;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    fail("a header line without a colon");
    return;
  }
  const std::string_view name = line.substr(0, colon);
  if (!is_token(name)) {
    fail("a header name that is not a token");
    return;
  }
  if (m_status < 200) {
    return; // an interim response's headers: read, checked and forgotten
  }
  const std::string_view value = trim(line.substr(colon + 1));
  // A control character inside a value (a bare CR, a NUL) is no header to pass to a client,
  // which might read it as a line break: the header is dropped. The framing headers still count,
  // as malformed ones, so that a dropped one cannot change where the body ends.
  const bool clean = !has_control(value);
  if (iequals(name, "Content-Length")) {
    // Digits alone; a list of equal values (a proxy joined repeated fields) is one value. Empty
    // list elements are ignored as RFC 9110 §5.6.1 asks; a control character is no digit.
    size_t values = 0;
    for (std::string_view list = value; !list.empty();) {
      const std::string_view element = next_element(list);
      if (element.empty()) {
        continue;
      }
      ++values;
      uint64_t length = 0;
      bool digits = true;
      for (const char c : element) {
        if (!is_digit(c) || length > (UINT64_MAX - static_cast<uint64_t>(c - '0')) / 10) {
          digits = false;
          break;
        }
        length = length * 10 + static_cast<uint64_t>(c - '0');
      }
      if (!digits) {
        m_cl_error = "a Content-Length that is not a number";
      } else if (m_cl_seen && length != m_content_length && m_cl_error == nullptr) {
        m_cl_error = "Content-Length values that differ";
      }
      m_cl_seen = true;
      m_content_length = length;
    }
    if (values == 0) {
      m_cl_seen = true;
      m_cl_error = "a Content-Length that is not a number";
    }
  } else if (iequals(name, "Transfer-Encoding")) {
    m_te_seen = true;
    m_te_bad = m_te_bad || !clean;
    // Only the last coding matters for framing: chunked there, or the body runs to the close.
    for (std::string_view list = value; !list.empty();) {
      const std::string_view element = next_element(list);
      if (!element.empty()) {
        m_te_chunked = iequals(trim(element.substr(0, element.find(';'))), "chunked");
      }
    }
  } else if (iequals(name, "Connection")) {
    // One we cannot read cleanly is taken as a close: reuse only on a clear answer.
    m_close = m_close || !clean || list_has_token(value, "close");
  }
  if (clean) {
    m_headers.emplace_back(name, value);
  }
}

void ResponseParser::end_of_head() {
  if (m_status < 200) {
    // An interim response (100 Continue, 103 Early Hints): the final one follows.
    m_status_seen = false;
    return;
  }
  m_head_done = true;
  // RFC 9112 §6.3, in its order.
  if (m_head_request || m_status == 204 || m_status == 304) {
    m_framing = Framing::none;
  } else if (m_te_seen) {
    if (m_te_bad) {
      fail("a control character in Transfer-Encoding");
      return;
    }
    m_framing = m_te_chunked ? Framing::chunked : Framing::close;
  } else if (m_cl_seen) {
    if (m_cl_error != nullptr) {
      fail(m_cl_error);
      return;
    }
    m_framing = Framing::length;
    m_remaining = m_content_length;
  } else {
    m_framing = Framing::close;
  }
  // Both Transfer-Encoding and Content-Length is how request smuggling starts: whatever this
  // server meant, the connection is not trusted with another request.
  m_keep_alive = !m_http10 && !m_close && m_framing != Framing::close && !(m_te_seen && m_cl_seen);
  const bool empty =
      m_framing == Framing::none || (m_framing == Framing::length && m_remaining == 0);
  m_state = empty ? State::done : State::body;
}

size_t ResponseParser::feed_body(std::string_view input, std::string& body) {
  switch (m_framing) {
  case Framing::length: {
    const size_t take = static_cast<size_t>(std::min<uint64_t>(m_remaining, input.size()));
    body.append(input.data(), take);
    m_remaining -= take;
    if (m_remaining == 0) {
      m_state = State::done;
    }
    return take;
  }
  case Framing::chunked:
    return feed_chunked(input, body);
  case Framing::close:
    body.append(input);
    return input.size();
  case Framing::none:
    break;
  }
  return 0;
}

size_t ResponseParser::feed_chunked(std::string_view input, std::string& body) {
  size_t at = 0;
  while (m_state == State::body && at < input.size()) {
    ChunkedDecoder::Status status;
    size_t consumed = 0;
    if (m_pending.empty()) {
      // The common case: the decoder reads this input in place.
      status = m_chunked.feed(input.substr(at), body, consumed);
      at += consumed;
      if (status == ChunkedDecoder::Status::more) {
        // What it left is the start of a line (or the CR after a chunk's data): kept for the
        // rest of it.
        m_pending.assign(input.substr(at));
        at = input.size();
      }
    } else {
      // The rest of a kept line, up to its LF: the decoder then has the whole line, and the
      // chunk data after it is read in place on the next turn.
      const size_t newline = input.find('\n', at);
      const size_t end = newline == std::string_view::npos ? input.size() : newline + 1;
      const size_t kept = m_pending.size();
      m_pending.append(input.substr(at, end - at));
      status = m_chunked.feed(m_pending, body, consumed);
      if (status == ChunkedDecoder::Status::done) {
        // Bytes of this input the decoder did not use are not the message's.
        at += consumed > kept ? consumed - kept : 0;
      } else {
        at = end;
      }
      m_pending.erase(0, consumed);
    }
    if (status == ChunkedDecoder::Status::malformed) {
      fail("bad chunked framing");
    } else if (status == ChunkedDecoder::Status::done) {
      m_state = State::done;
    }
  }
  return at;
}

void ResponseParser::fail(const char* why) {
  m_state = State::failed;
  m_error = why;
}

} // namespace agproxy
