#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace agproxy {

// The API families the gateway speaks, to clients and to providers; each has its own error shape
// and credential header (OpenAI's Chat Completions and Responses share theirs).
enum class Protocol { openai, openai_responses, anthropic, gemini };

// Return the protocol named by `text` ("openai", "openai-responses", "anthropic", "gemini"), or
// nothing.
std::optional<Protocol> parse_protocol(std::string_view text);

// Return the config spelling of `protocol`.
std::string_view to_string(Protocol protocol);

// Return the family a request path belongs to: Anthropic for /v1/messages…, Gemini for /v1beta/…
// and /v1/models/{model}:{action}, OpenAI Responses for /v1/responses…, OpenAI (Chat
// Completions) for everything else.
Protocol route_protocol(std::string_view path);

// The kinds of error the proxy itself answers with, each mapped to every protocol's vocabulary.
enum class ErrorKind {
  unauthenticated,    // 401
  forbidden,          // 403
  not_found,          // 404
  method_not_allowed, // 405
  payload_too_large,  // 413
  bad_request,        // 400 and other 4xx from the HTTP layer
  internal,           // 500
  rate_limited,       // 429
  bad_gateway,        // 502
  gateway_timeout,    // 504
};

// Return whether `a` and `b` are the same family for routing (the two OpenAI APIs are one: an
// upstream without `models` serves both).
bool same_family(Protocol a, Protocol b);

// Return the HTTP status of `kind`.
int http_status(ErrorKind kind);

// Return the error kind an answer with HTTP `status` corresponds to.
ErrorKind error_kind_for_status(int status);

// Return a JSON error body in the shape `protocol`'s SDKs parse. `code` is the machine-readable
// reason (OpenAI's "code" field); `message` is what the user reads.
std::string error_body(Protocol protocol, ErrorKind kind, std::string_view code,
                       std::string_view message);

} // namespace agproxy
