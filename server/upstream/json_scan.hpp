#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agproxy {

// What a scan of a JSON text found.
struct JsonScan {
  // Whether the text is one JSON value as nlohmann::json::accept judges it: RFC 8259 (no NaN,
  // Infinity, comments or trailing commas), strings of well-formed UTF-8 without lone surrogates,
  // numbers a double holds (1e400 is refused), a UTF-8 BOM allowed in front, and anything after a
  // NUL byte that follows the value ignored.
  bool valid = false;
  // The last value of the top-level member asked for, decoded, when the text is a valid object
  // and that value is a string ("model": 3 after "model": "a" leaves nothing, as in a document).
  std::optional<std::string> member;
};

// Return whether `text` is JSON and the string value of its top-level member `name` (a key
// written without escapes; the text's keys may use them). Only lexes: no value is built and no
// string copied but that member's, so a 32 MiB prompt costs no memory; nesting is tracked with a
// bit per level, not recursion.
JsonScan scan_json_member(std::string_view text, std::string_view name);

// Where a JSON object's top-level member is, in bytes from the text's start.
struct JsonMemberSpans {
  // Where the object's '{' is.
  std::optional<size_t> object;
  // Each value of the member (offset, length), first to last: a duplicate key has several.
  std::vector<std::pair<size_t, size_t>> values;
};

// Return where the top-level member `name` (as for scan_json_member) of the JSON object `text`
// is, or nothing when `text` is not a JSON object.
std::optional<JsonMemberSpans> find_json_member(std::string_view text, std::string_view name);

} // namespace agproxy
