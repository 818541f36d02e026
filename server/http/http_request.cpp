#include "server/http/http_request.hpp"

#include "server/text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <httplib.h>

namespace agproxy {

namespace {

// A request line; a header line; the headers of a request.
constexpr size_t k_max_line = 8 << 10;
constexpr size_t k_max_headers = 100;
// A chunk-size line (with its extensions), a trailer field line.
constexpr size_t k_max_chunk_line = 1024;
// The trailer section of a chunked body, all its lines together (its fields are dropped).
constexpr size_t k_max_trailer = 16 << 10;

// The characters a path segment may hold as they are (RFC 3986 pchar, without '%').
constexpr std::array<bool, 256> k_path_chars = [] {
  std::array<bool, 256> table{};
  for (const char c : std::string_view("-._~!$&'()*+,;=:@")) {
    table[static_cast<unsigned char>(c)] = true;
  }
  for (int c = 0; c < 256; ++c) {
    table[c] =
        table[c] || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  }
  return table;
}();

// Return the value of the hex digit `c`.
int hex_digit(char c) {
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
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

bool safe_request_path(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return false;
  }
  // Segment by segment: what a segment decodes to decides whether it is a dot segment.
  for (size_t start = 1; start <= path.size();) {
    const size_t slash = std::min(path.find('/', start), path.size());
    size_t length = 0, dots = 0; // of the segment as decoded
    for (size_t i = start; i < slash; ++i) {
      const char c = path[i];
      if (c != '%') {
        if (!k_path_chars[static_cast<unsigned char>(c)]) {
          return false; // a byte RFC 3986 wants percent-encoded: a backslash, '#', a space,
                        // non-ASCII, ...
        }
        ++length;
        dots += c == '.';
        continue;
      }
      if (i + 2 >= slash || !std::isxdigit(static_cast<unsigned char>(path[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
        return false; // a broken escape
      }
      const auto byte =
          static_cast<unsigned char>(hex_digit(path[i + 1]) * 16 + hex_digit(path[i + 2]));
      // An encoded '/', backslash, '?', '#' or '%' (double encoding), or a control character: each
      // would be read differently by the provider or a proxy in between.
      if (byte < 0x20 || byte == 0x7f || byte == '/' || byte == '\\' || byte == '?' ||
          byte == '#' || byte == '%') {
        return false;
      }
      ++length;
      dots += byte == '.';
      i += 2;
    }
    if ((length == 1 || length == 2) && dots == length) { // "." or ".."
      return false;
    }
    start = slash + 1;
  }
  return true;
}

int parse_request_head(std::string_view head, httplib::Request& request) {
  size_t headers = 0;
  bool first = true;
  while (!head.empty()) {
    const size_t newline = head.find('\n');
    std::string_view line = head.substr(0, newline);
    head = newline == std::string_view::npos ? std::string_view() : head.substr(newline + 1);
    // Every line ends with CRLF (RFC 9112 §2.2): a bare LF is read differently by other parsers.
    if (newline == std::string_view::npos || line.empty() || line.back() != '\r') {
      return 400;
    }
    line.remove_suffix(1);
    if (line.size() > k_max_line) {
      return first ? 414 : 431;
    }
    if (first) {
      if (line.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) {
        return 400;
      }
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
      const size_t mark = target.find('?');
      const std::string_view path = target.substr(0, mark);
      if (!known_method(method) || (version != "HTTP/1.1" && version != "HTTP/1.0") ||
          !safe_request_path(path) || std::any_of(target.begin(), target.end(), [](char c) {
            const auto byte = static_cast<unsigned char>(c);
            return byte <= 0x20 || byte >= 0x7f || c == '#';
          })) {
        return 400;
      }
      request.method = method;
      request.target = target;
      request.version = version;
      request.path = httplib::detail::decode_url(std::string(path), false);
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
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (has_control(value)) {
      return 400; // a bare CR, a NUL or another control character (RFC 9110 §5.5)
    }
    if (++headers > k_max_headers) {
      return 431;
    }
    request.headers.emplace(std::string(line.substr(0, colon)), std::string(value));
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
      if (newline > k_max_chunk_line || newline == 0 || rest[newline - 1] != '\r') {
        return Status::malformed; // too long, or a bare LF
      }
      const std::string_view line = rest.substr(0, newline - 1);
      consumed += newline + 1;
      m_raw += newline + 1;
      if (m_state == State::trailer) {
        m_trailer += newline + 1;
        if (m_trailer > k_max_trailer || has_control(line)) {
          return Status::malformed;
        }
        if (line.empty()) {
          m_state = State::done;
        }
        continue; // a trailer field: dropped
      }
      // chunk-size [ ";" chunk-ext ]: hex digits with nothing around them (RFC 9112 §7.1), and
      // extensions (ignored) without control characters.
      const size_t semicolon = std::min(line.find(';'), line.size());
      const std::string_view hex = line.substr(0, semicolon);
      if (hex.empty() || hex.size() > 15 ||
          hex.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos ||
          has_control(line.substr(semicolon))) {
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
    } else { // data_end: the CRLF after a chunk's data
      if (rest.size() < 2) {
        return rest.empty() || rest[0] == '\r' ? Status::more : Status::malformed;
      }
      if (rest[0] != '\r' || rest[1] != '\n') {
        return Status::malformed;
      }
      consumed += 2;
      m_raw += 2;
      m_state = State::size_line;
    }
  }
  return Status::done;
}

} // namespace agproxy
