#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace agproxy {

// Return whether `a` and `b` are equal ignoring ASCII case (HTTP header names, auth schemes).
bool iequals(std::string_view a, std::string_view b);

// Return whether `text` is an HTTP token (RFC 9110 §5.6.2: a header name, a method), not empty.
bool is_token(std::string_view text);

// Return whether `text` holds a control character other than a horizontal tab (no header value
// may: a bare CR could be read as a line break).
bool has_control(std::string_view text);

// Return whether the comma-separated header value `list` holds `token` (any case), e.g. a
// Connection header naming "close".
bool list_has_token(std::string_view list, std::string_view token);

// Return `text` with control and non-ASCII bytes escaped as \xNN, cut to `max` bytes (with "…"),
// so that what a client sent cannot forge a log line or break a JSON document.
std::string printable(std::string_view text, size_t max = std::string_view::npos);

// Return `time` as RFC 3339 UTC with milliseconds, e.g. "2026-12-03T10:59:58.123Z".
std::string format_utc(std::chrono::system_clock::time_point time);

} // namespace agproxy
