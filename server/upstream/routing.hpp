#pragma once

#include "server/config/config.hpp"
#include "server/protocols/protocol.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agproxy {

// Return whether `text` matches the glob `pattern` (`*` any run, `?` one character; neither
// matches a '/', so no pattern reaches past a path segment).
bool glob_match(std::string_view pattern, std::string_view text);

// What routing reads of a request's model.
struct ModelRead {
  // The model named, or nothing when the request names none.
  std::optional<std::string> model;
  // Whether the request cannot be routed safely: a body that is not JSON (NaN, Infinity and
  // numbers out of range included; a provider's parser could read another model from it), or a
  // Gemini model segment that is not a model name ([A-Za-z0-9._-]+).
  bool malformed = false;
};

// Read the model a request names: the JSON body's "model" (OpenAI, Anthropic), or the {model} of
// a Gemini path .../models/{model}:{action} (`path` as sent, still percent-encoded). A body is
// read as JSON unless `content_type` is multipart (such a request names no model).
ModelRead read_model(Protocol protocol, std::string_view path, std::string_view body,
                     std::string_view content_type = {});

// Return the model a request names (read_model's model; nothing when malformed).
std::optional<std::string> requested_model(Protocol protocol, std::string_view path,
                                           std::string_view body);

// The upstream chosen for a request, and the model to send it.
struct Route {
  size_t upstream = 0;              // index into ProxySettings::upstreams
  std::optional<std::string> model; // after model_map; nothing when the request names none
};

// Return the real model `upstream` maps `model` to (model_map: an exact key wins, then the glob
// key with the most literal characters, then file order), or nothing.
std::optional<std::string> map_model(const Upstream& upstream, std::string_view model);

// Return the first upstream, in file order, that serves `model` on `protocol`'s routes: its
// model_map keys, then its `models` globs; an upstream without `models` serves every model asked
// on its own family's routes (DESIGN §6). Upstreams of other families are considered only when
// the request is `translatable` (a generation request agproxy can translate). A request that names
// no model goes only to an upstream of its family without `models`: one that restricts its models
// is never reached without a model check.
std::optional<Route> choose_upstream(const std::vector<Upstream>& upstreams, Protocol protocol,
                                     const std::optional<std::string>& model,
                                     bool translatable = false);

// Return `path` with the Gemini model segment replaced by `model`.
std::string replace_path_model(std::string_view path, std::string_view model);

// Set the "model" of `body`, a JSON object, to `model` in place (each value of a duplicated key;
// added first when there is none), every other byte as it was; return false, `body` untouched,
// when it is not a JSON object.
bool replace_body_model(std::string& body, std::string_view model);

// Return the query string without any key=… parameter, its name compared as decoded (%6Bey is
// key) and without regard to case: a client's key never leaves the proxy.
std::string strip_key_parameter(std::string_view query);

// Return whether a client request header is forwarded upstream: not a key header (Authorization,
// x-api-key, x-goog-api-key, api-key), not hop-by-hop, not one the transport sets itself, not the
// proxy's own (x-agproxy-*), not one that speaks for the client's network or session (Forwarded,
// X-Forwarded-*, X-Real-IP, Cookie, Origin). Names listed in a Connection header are dropped by
// the caller.
bool forwarded_request_header(std::string_view name);

// Return whether an upstream response header is passed back to the client.
bool forwarded_response_header(std::string_view name);

// Return the provider credential header for `protocol` and `key`.
std::pair<std::string, std::string> credential_header(Protocol protocol, const std::string& key);

} // namespace agproxy
