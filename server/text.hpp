#pragma once

#include <string_view>

namespace agproxy {

// Return whether `a` and `b` are equal ignoring ASCII case (HTTP header names, auth schemes).
bool iequals(std::string_view a, std::string_view b);

// Return whether the comma-separated header value `list` holds `token` (any case), e.g. a
// Connection header naming "close".
bool list_has_token(std::string_view list, std::string_view token);

} // namespace agproxy
