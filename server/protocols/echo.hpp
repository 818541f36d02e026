#pragma once

#include "server/protocols/ir.hpp"
#include "server/protocols/protocol.hpp"

#include <string>

namespace httplib {
struct Request;
struct Response;
} // namespace httplib

namespace agproxy {

// Return the text of the last user turn of `conversation` (the tool result's text when the turn
// only answers a tool call), or "" when there is none.
std::string last_user_text(const ir::Conversation& conversation);

// Answer as the built-in agproxy-echo model: the last user message comes back in the route's
// family's shape (every family, the Responses API included), streamed as the family streams when
// the request asks for a stream.
void answer_echo(const httplib::Request& request, httplib::Response& response, Protocol protocol);

} // namespace agproxy
