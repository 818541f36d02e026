#pragma once

#include "server/protocols/protocol.hpp"

#include <string_view>

namespace httplib {
struct Response;
} // namespace httplib

namespace agproxy {

inline constexpr const char* k_json_type = "application/json";

// Answer with the proxy's own error: `kind`'s status and a body in `protocol`'s shape.
void send_error(httplib::Response& response, Protocol protocol, ErrorKind kind,
                std::string_view code, std::string_view message);

} // namespace agproxy
