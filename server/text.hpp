#pragma once

#include <string_view>

namespace agproxy {

// Return whether `a` and `b` are equal ignoring ASCII case (HTTP header names, auth schemes).
bool iequals(std::string_view a, std::string_view b);

} // namespace agproxy
