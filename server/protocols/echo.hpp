#pragma once

#include "server/protocols/protocol.hpp"

#include <string>
#include <string_view>

namespace httplib {
struct Request;
struct Response;
} // namespace httplib

namespace agproxy {

// Return the text of the last user message of a request body in `protocol`'s shape (OpenAI
// messages, Anthropic messages, Gemini contents), or "" when there is none.
std::string last_user_text(Protocol protocol, std::string_view body);

// Answer as the built-in agproxy-echo model: the last user message comes back in the route's
// protocol shape, streamed as the protocol streams when the request asks for a stream.
void answer_echo(const httplib::Request& request, httplib::Response& response, Protocol protocol);

} // namespace agproxy
