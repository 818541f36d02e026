#pragma once

#include "server/gateway.hpp"
#include "server/log.hpp"
#include "server/protocol.hpp"

#include <string>

namespace httplib {
struct Request;
struct Response;
} // namespace httplib

namespace agproxy {

// The built-in model that echoes the last user message, in every protocol's shape.
inline constexpr const char* k_echo_model = "agproxy-echo";

// Answer an authenticated request for a provider route: choose the upstream by protocol and model,
// rewrite the model, swap the client's credentials for a provider key (rotating past rate-limited
// ones), and stream the answer back. Errors come in the route's protocol shape. Sets `upstream`
// to the upstream's name for the request log.
void forward_request(const httplib::Request& request, httplib::Response& response,
                     const RuntimeConfig& config, Protocol protocol, Logger& logger,
                     std::string& upstream);

} // namespace agproxy
