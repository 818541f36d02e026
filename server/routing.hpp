#pragma once

#include "server/config.hpp"
#include "server/protocol.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agproxy {

// Return whether `text` matches the glob `pattern` (`*` any run, `?` one character).
bool glob_match(std::string_view pattern, std::string_view text);

// Return the model a request names: the JSON body's "model" (OpenAI, Anthropic), or the
// {model} of a Gemini path .../models/{model}:{action}. Nothing when it names none.
std::optional<std::string> requested_model(Protocol protocol, std::string_view path,
                                           std::string_view body);

// The upstream chosen for a request, and the model to send it.
struct Route {
  size_t upstream = 0;              // index into ProxySettings::upstreams
  std::optional<std::string> model; // after model_map; nothing when the request names none
};

// Return the first upstream of `protocol` that serves `model` (its model_map aliases, then its
// globs; an upstream without globs serves every model), or nothing.
std::optional<Route> choose_upstream(const std::vector<Upstream>& upstreams, Protocol protocol,
                                     const std::optional<std::string>& model);

// Return `path` with the Gemini model segment replaced by `model`.
std::string replace_path_model(std::string_view path, std::string_view model);

// Return `body` (JSON) with its "model" set to `model`, or nothing when the body is not a JSON
// object.
std::optional<std::string> replace_body_model(std::string_view body, std::string_view model);

// Return the query string without any key=… parameter (a client's key never leaves the proxy).
std::string strip_key_parameter(std::string_view query);

// Return whether a client request header is forwarded upstream: not a key header, not hop-by-hop,
// not one the transport sets itself.
bool forwarded_request_header(std::string_view name);

// Return whether an upstream response header is passed back to the client.
bool forwarded_response_header(std::string_view name);

// Return the provider credential header for `protocol` and `key`.
std::pair<std::string, std::string> credential_header(Protocol protocol, const std::string& key);

} // namespace agproxy
