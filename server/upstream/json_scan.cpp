#include "server/upstream/json_scan.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace agproxy {

namespace {

// The digits of 2^1024 - 2^970, the smallest number strtod (and so nlohmann) rounds to infinity:
// halfway between DBL_MAX and 2^1024, a tie that rounds to even, up. It lies in [1e308, 1e309).
constexpr std::string_view k_overflow_digits =
    "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977"
    "587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845"
    "817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559"
    "699508093042880177904174497792";
constexpr int k_overflow_exponent = 308;

// An exponent is read up to this, beyond which every mantissa a body can hold overflows or
// underflows alike.
constexpr int64_t k_exponent_cap = int64_t{1} << 50;

// Bytes that stand for themselves in a string: printable ASCII but the quote and the backslash.
constexpr std::array<bool, 256> k_plain = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) {
    plain[static_cast<size_t>(c)] = c != '"' && c != '\\';
  }
  return plain;
}();

// The open containers, a bit each (set for an object): 4,096 levels in place, deeper ones on the
// heap, so that no depth costs recursion.
class Nesting {
public:
  size_t depth() const { return m_depth; }
  void push(bool object) {
    uint64_t& bits = word(m_depth / 64);
    const uint64_t bit = uint64_t{1} << (m_depth % 64);
    bits = object ? bits | bit : bits & ~bit;
    ++m_depth;
  }
  void pop() { --m_depth; }
  // Return whether the innermost open container is an object (depth() > 0).
  bool in_object() {
    const size_t at = m_depth - 1;
    return (word(at / 64) >> (at % 64)) & 1;
  }

private:
  uint64_t& word(size_t index) {
    if (index < m_inline.size()) {
      return m_inline[index];
    }
    index -= m_inline.size();
    if (index >= m_spill.size()) {
      m_spill.resize(index + 1);
    }
    return m_spill[index];
  }
  std::array<uint64_t, 64> m_inline{};
  std::vector<uint64_t> m_spill;
  size_t m_depth = 0;
};

bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

int hex_value(unsigned char c) {
  if (is_digit(c)) {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Return the four hex digits at `p` as a number (the caller has checked that they are there).
int hex4(const unsigned char* p) {
  int value = 0;
  for (int i = 0; i < 4; ++i) {
    const int digit = hex_value(p[i]);
    if (digit < 0) {
      return -1;
    }
    value = value * 16 + digit;
  }
  return value;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Return the text of a string's contents (between its quotes) that the scan found valid.
std::string decode(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  const unsigned char* const end = p + raw.size();
  while (p < end) {
    if (*p != '\\') {
      out += static_cast<char>(*p++);
      continue;
    }
    const unsigned char kind = p[1];
    p += 2;
    switch (kind) {
    case 'b':
      out += '\b';
      break;
    case 'f':
      out += '\f';
      break;
    case 'n':
      out += '\n';
      break;
    case 'r':
      out += '\r';
      break;
    case 't':
      out += '\t';
      break;
    case 'u': {
      uint32_t cp = static_cast<uint32_t>(hex4(p));
      p += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<uint32_t>(hex4(p + 2)) - 0xDC00);
        p += 6;
      }
      append_utf8(out, cp);
      break;
    }
    default: // '"', '\\', '/'
      out += static_cast<char>(kind);
    }
  }
  return out;
}

// A cursor over the text that validates as nlohmann's lexer does, one token at a time.
class Scanner {
public:
  explicit Scanner(std::string_view text)
      : m_begin(reinterpret_cast<const unsigned char*>(text.data())), m_p(m_begin),
        m_end(m_begin + text.size()) {}

  // Scan the whole text; where the member's values are goes to `spans` when given.
  JsonScan scan(std::string_view name, JsonMemberSpans* spans = nullptr);

private:
  enum class Step { value, key, after_value };

  int peek() const { return m_p < m_end ? *m_p : -1; }

  void skip_whitespace() {
    while (m_p < m_end && (*m_p == ' ' || *m_p == '\t' || *m_p == '\n' || *m_p == '\r')) {
      ++m_p;
    }
  }

  // Scan a string from its opening quote: its raw contents, and whether they hold an escape.
  bool string(std::string_view& raw, bool& escaped) {
    const unsigned char* const begin = ++m_p;
    escaped = false;
    for (;;) {
      while (m_p < m_end && k_plain[*m_p]) {
        ++m_p;
      }
      if (m_p == m_end) {
        return false;
      }
      if (*m_p == '"') {
        raw = std::string_view(reinterpret_cast<const char*>(begin), m_p - begin);
        ++m_p;
        return true;
      }
      if (*m_p == '\\') {
        escaped = true;
        if (!escape()) {
          return false;
        }
      } else if (!utf8_sequence()) { // a control character is none
        return false;
      }
    }
  }

  bool escape() {
    if (m_end - m_p < 2) {
      return false;
    }
    switch (m_p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
      m_p += 2;
      return true;
    case 'u':
      break;
    default:
      return false;
    }
    m_p += 2;
    const int cp = code_unit();
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      // A high surrogate must be followed by an escaped low one.
      if (m_end - m_p < 2 || m_p[0] != '\\' || m_p[1] != 'u') {
        return false;
      }
      m_p += 2;
      const int low = code_unit();
      return low >= 0xDC00 && low <= 0xDFFF;
    }
    return cp >= 0 && !(cp >= 0xDC00 && cp <= 0xDFFF);
  }

  // Read the four hex digits of a \u escape: their value, or -1.
  int code_unit() {
    if (m_end - m_p < 4) {
      return -1;
    }
    const int value = hex4(m_p);
    m_p += 4;
    return value;
  }

  // Scan one well-formed UTF-8 sequence of two to four bytes (RFC 3629: no overlong forms, no
  // surrogates, nothing above U+10FFFF).
  bool utf8_sequence() {
    const unsigned char lead = *m_p;
    unsigned char low = 0x80, high = 0xBF;
    ptrdiff_t continuations = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
      continuations = 1;
    } else if (lead == 0xE0) {
      continuations = 2;
      low = 0xA0;
    } else if (lead == 0xED) {
      continuations = 2;
      high = 0x9F;
    } else if (lead >= 0xE1 && lead <= 0xEF) {
      continuations = 2;
    } else if (lead == 0xF0) {
      continuations = 3;
      low = 0x90;
    } else if (lead >= 0xF1 && lead <= 0xF3) {
      continuations = 3;
    } else if (lead == 0xF4) {
      continuations = 3;
      high = 0x8F;
    } else {
      return false;
    }
    if (m_end - m_p <= continuations || m_p[1] < low || m_p[1] > high) {
      return false;
    }
    for (ptrdiff_t i = 2; i <= continuations; ++i) {
      if (m_p[i] < 0x80 || m_p[i] > 0xBF) {
        return false;
      }
    }
    m_p += continuations + 1;
    return true;
  }

  bool literal(std::string_view word) {
    if (static_cast<size_t>(m_end - m_p) < word.size() ||
        std::memcmp(m_p, word.data(), word.size()) != 0) {
      return false;
    }
    m_p += word.size();
    return true;
  }

  // Scan a number (RFC 8259's grammar) that a double holds: strtod must not round it to infinity.
  bool number() {
    if (*m_p == '-') {
      ++m_p;
    }
    if (m_p == m_end || !is_digit(*m_p)) {
      return false;
    }
    const unsigned char* const integer = m_p;
    if (*m_p++ != '0') {
      while (m_p < m_end && is_digit(*m_p)) {
        ++m_p;
      }
    }
    const unsigned char* const integer_end = m_p;
    const unsigned char* fraction = m_p;
    if (m_p < m_end && *m_p == '.') {
      fraction = ++m_p;
      if (m_p == m_end || !is_digit(*m_p)) {
        return false;
      }
      while (m_p < m_end && is_digit(*m_p)) {
        ++m_p;
      }
    }
    const unsigned char* const mantissa_end = m_p;
    int64_t exponent = 0;
    if (m_p < m_end && (*m_p == 'e' || *m_p == 'E')) {
      ++m_p;
      const bool negative = m_p < m_end && *m_p == '-';
      if (m_p < m_end && (*m_p == '-' || *m_p == '+')) {
        ++m_p;
      }
      if (m_p == m_end || !is_digit(*m_p)) {
        return false;
      }
      for (; m_p < m_end && is_digit(*m_p); ++m_p) {
        if (exponent < k_exponent_cap) {
          exponent = exponent * 10 + (*m_p - '0');
        }
      }
      exponent = negative ? -exponent : exponent;
    }
    // The power of ten of the first significant digit decides, but for [1e308, 1e309).
    const unsigned char* first = integer;
    int64_t power = integer_end - integer - 1;
    if (*integer == '0') {
      first = fraction;
      while (first < mantissa_end && *first == '0') {
        ++first;
      }
      if (first == mantissa_end) {
        return true; // zero
      }
      power = -(first - fraction) - 1;
    }
    power += exponent;
    if (power != k_overflow_exponent) {
      return power < k_overflow_exponent;
    }
    size_t i = 0;
    for (const unsigned char* p = first; p < mantissa_end; ++p) {
      if (*p == '.') {
        continue;
      }
      if (i == k_overflow_digits.size()) {
        return false; // the overflow's digits and more
      }
      if (static_cast<char>(*p) != k_overflow_digits[i]) {
        return static_cast<char>(*p) < k_overflow_digits[i];
      }
      ++i;
    }
    return i < k_overflow_digits.size(); // (the overflow's own digits do not end in zeros)
  }

  const unsigned char* const m_begin;
  const unsigned char* m_p;
  const unsigned char* const m_end;
};

JsonScan Scanner::scan(std::string_view name, JsonMemberSpans* spans) {
  if (m_end - m_p >= 3 && m_p[0] == 0xEF && m_p[1] == 0xBB && m_p[2] == 0xBF) {
    m_p += 3; // nlohmann skips a byte order mark
  }
  JsonScan result;
  Nesting nesting;
  bool member_next = false;                   // the value about to be read is the member's
  const unsigned char* open_member = nullptr; // where a member's object or array began
  const auto found = [&](const unsigned char* start) {
    if (spans) {
      spans->values.emplace_back(start - m_begin, m_p - start);
    }
  };
  // Close the innermost container (the cursor past its end).
  const auto close = [&] {
    nesting.pop();
    if (open_member && nesting.depth() == 1) {
      found(open_member);
      open_member = nullptr;
    }
  };
  Step step = Step::value;
  for (;;) {
    skip_whitespace();
    switch (step) {
    case Step::value: {
      const bool member = member_next;
      member_next = false;
      const int c = peek();
      const unsigned char* const start = m_p;
      if (c == '{' || c == '[') {
        if (member) {
          result.member.reset(); // "model": {...} or [...]
          open_member = start;
        }
        if (spans && nesting.depth() == 0) {
          spans->object = c == '{' ? std::optional<size_t>(start - m_begin) : std::nullopt;
        }
        ++m_p;
        nesting.push(c == '{');
        skip_whitespace();
        if (peek() == (c == '{' ? '}' : ']')) {
          ++m_p;
          close();
          step = Step::after_value;
        } else {
          step = c == '{' ? Step::key : Step::value;
        }
        continue;
      }
      bool ok = false;
      if (c == '"') {
        std::string_view raw;
        bool escaped = false;
        ok = string(raw, escaped);
        if (ok && member) {
          result.member = escaped ? decode(raw) : std::string(raw);
        }
      } else {
        if (c == 't') {
          ok = literal("true");
        } else if (c == 'f') {
          ok = literal("false");
        } else if (c == 'n') {
          ok = literal("null");
        } else if (c == '-' || (c >= '0' && c <= '9')) {
          ok = number();
        }
        if (member) {
          result.member.reset(); // "model": 3 and the like
        }
      }
      if (!ok) {
        return {};
      }
      if (member) {
        found(start);
      }
      step = Step::after_value;
      continue;
    }
    case Step::key: {
      std::string_view raw;
      bool escaped = false;
      if (peek() != '"' || !string(raw, escaped)) {
        return {};
      }
      skip_whitespace();
      if (peek() != ':') {
        return {};
      }
      ++m_p;
      // A key with escapes is decoded only when it is short enough to spell `name`.
      member_next = nesting.depth() == 1 &&
                    (escaped ? raw.size() <= 6 * name.size() && decode(raw) == name : raw == name);
      step = Step::value;
      continue;
    }
    case Step::after_value:
      if (nesting.depth() == 0) {
        // nlohmann's lexer takes a NUL byte for the end of the input.
        if (m_p != m_end && *m_p != 0) {
          return {};
        }
        result.valid = true;
        return result;
      }
      if (peek() == ',') {
        ++m_p;
        step = nesting.in_object() ? Step::key : Step::value;
        continue;
      }
      if (peek() != (nesting.in_object() ? '}' : ']')) {
        return {};
      }
      ++m_p;
      close();
      continue;
    }
  }
}

} // namespace

JsonScan scan_json_member(std::string_view text, std::string_view name) {
  return Scanner(text).scan(name);
}

std::optional<JsonMemberSpans> find_json_member(std::string_view text, std::string_view name) {
  JsonMemberSpans spans;
  if (!Scanner(text).scan(name, &spans).valid || !spans.object) {
    return std::nullopt;
  }
  return spans;
}

} // namespace agproxy
