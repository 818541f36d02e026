#include "server/http_request.hpp"

#include <algorithm>
#include <array>
#include <httplib.h>

namespace agproxy {

namespace {

// A request line; a header line; the headers of a request.
constexpr size_t k_max_line = 8 << 10;
constexpr size_t k_max_headers = 100;
// A chunk-size line (with its extensions), a trailer field line.
constexpr size_t k_max_chunk_line = 1024;

// The characters of an HTTP token (RFC 9110 §5.6.2), by byte value.
constexpr std::array<bool, 256> k_token_chars = [] {
  std::array<bool, 256> table{};
  for (const char c : std::string_view("!#$%&'*+-.^_`|~")) {
    table[static_cast<unsigned char>(c)] = true;
  }
  for (int c = 0; c < 256; ++c) {
    table[c] =
        table[c] || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  }
  return table;
}();

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return k_token_chars[static_cast<unsigned char>(c)];
  });
}

bool known_method(std::string_view method) {
  static constexpr std::string_view k_methods[] = {"GET",    "HEAD",    "POST", "PUT",
                                                   "DELETE", "OPTIONS", "PATCH"};
  return std::find(std::begin(k_methods), std::end(k_methods), method) != std::end(k_methods);
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

} // namespace

int parse_request_head(std::string_view head, httplib::Request& request) {
  size_t headers = 0;
  bool first = true;
  while (!head.empty()) {
    const size_t newline = head.find('\n');
    std::string_view line = head.substr(0, newline);
    head = newline == std::string_view::npos ? std::string_view() : head.substr(newline + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.size() > k_max_line) {
      return first ? 414 : 431;
    }
    if (line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
      return 400; // a bare CR, a NUL (RFC 9112 §2.2, RFC 9110 §5.5)
    }
    if (first) {
      // method SP request-target SP HTTP-version (RFC 9112 §3)
      first = false;
      const size_t space1 = line.find(' ');
      const size_t space2 = space1 == std::string_view::npos ? space1 : line.find(' ', space1 + 1);
      if (space2 == std::string_view::npos ||
          line.find(' ', space2 + 1) != std::string_view::npos) {
        return 400;
      }
      const std::string_view method = line.substr(0, space1);
      const std::string_view target = line.substr(space1 + 1, space2 - space1 - 1);
      const std::string_view version = line.substr(space2 + 1);
      if (!known_method(method) || (version != "HTTP/1.1" && version != "HTTP/1.0") ||
          target.empty() || target.front() != '/' ||
          std::any_of(target.begin(), target.end(),
                      [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
        return 400;
      }
      request.method = method;
      request.target = target;
      request.version = version;
      const size_t mark = target.find('?');
      request.path = httplib::detail::decode_url(std::string(target.substr(0, mark)), false);
      if (mark != std::string_view::npos) {
        httplib::detail::parse_query_text(std::string(target.substr(mark + 1)), request.params);
      }
      continue;
    }
    if (line.empty()) {
      break; // the end of the head
    }
    if (line.front() == ' ' || line.front() == '\t') {
      return 400; // obs-fold (RFC 9112 §5.2)
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
      return 400;
    }
    if (++headers > k_max_headers) {
      return 431;
    }
    request.headers.emplace(std::string(line.substr(0, colon)),
                            std::string(trim_ows(line.substr(colon + 1))));
  }
  return first ? 400 : 0;
}

ChunkedDecoder::Status ChunkedDecoder::feed(std::string_view input, std::string& body,
                                            size_t& consumed) {
  consumed = 0;
  while (m_state != State::done) {
    const std::string_view rest = input.substr(consumed);
    if (m_state == State::size_line || m_state == State::trailer) {
      const size_t newline = rest.find('\n');
      if (newline == std::string_view::npos) {
        return rest.size() > k_max_chunk_line ? Status::malformed : Status::more;
      }
      if (newline > k_max_chunk_line) {
        return Status::malformed;
      }
      std::string_view line = rest.substr(0, newline);
      consumed += newline + 1;
      m_raw += newline + 1;
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      if (m_state == State::trailer) {
        if (line.empty()) {
          m_state = State::done;
        }
        continue; // a trailer field: dropped
      }
      // chunk-size [ chunk-ext ]: hex digits, then extensions after ';' (ignored).
      const std::string_view hex = trim_ows(line.substr(0, line.find(';')));
      if (hex.empty() || hex.size() > 15 ||
          hex.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
        return Status::malformed;
      }
      m_chunk_left = std::stoull(std::string(hex), nullptr, 16);
      m_state = m_chunk_left == 0 ? State::trailer : State::data;
    } else if (m_state == State::data) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(m_chunk_left, rest.size()));
      if (take == 0) {
        return Status::more;
      }
      if (!m_too_large) {
        body.append(rest.substr(0, take));
        if (body.size() > m_max_body) {
          m_too_large = true;
          std::string().swap(body);
        }
      }
      consumed += take;
      m_raw += take;
      m_chunk_left -= take;
      if (m_chunk_left == 0) {
        m_state = State::data_end;
      }
    } else { // data_end: the CRLF (or LF) after a chunk's data
      if (rest.empty() || (rest[0] == '\r' && rest.size() < 2)) {
        return Status::more;
      }
      const size_t length = rest[0] == '\r' ? 2 : 1;
      if (rest[length - 1] != '\n') {
        return Status::malformed;
      }
      consumed += length;
      m_raw += length;
      m_state = State::size_line;
    }
  }
  return Status::done;
}

} // namespace agproxy
