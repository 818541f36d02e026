#include "server/protocols/protocol.hpp"

#include <nlohmann/json.hpp>

namespace agproxy {

namespace {

struct ErrorVocabulary {
  int status;
  const char* openai_type;
  const char* anthropic_type;
  const char* gemini_status;
};

ErrorVocabulary vocabulary(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::unauthenticated:
    return {401, "invalid_request_error", "authentication_error", "UNAUTHENTICATED"};
  case ErrorKind::forbidden:
    return {403, "invalid_request_error", "permission_error", "PERMISSION_DENIED"};
  case ErrorKind::not_found:
    return {404, "invalid_request_error", "not_found_error", "NOT_FOUND"};
  case ErrorKind::method_not_allowed:
    return {405, "invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"};
  case ErrorKind::payload_too_large:
    return {413, "invalid_request_error", "request_too_large", "INVALID_ARGUMENT"};
  case ErrorKind::bad_request:
    return {400, "invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"};
  case ErrorKind::internal:
    return {500, "server_error", "api_error", "INTERNAL"};
  case ErrorKind::rate_limited:
    return {429, "rate_limit_error", "rate_limit_error", "RESOURCE_EXHAUSTED"};
  case ErrorKind::bad_gateway:
    return {502, "server_error", "api_error", "UNAVAILABLE"};
  case ErrorKind::gateway_timeout:
    return {504, "server_error", "api_error", "DEADLINE_EXCEEDED"};
  }
  return {500, "server_error", "api_error", "INTERNAL"};
}

} // namespace

std::optional<Protocol> parse_protocol(std::string_view text) {
  if (text == "openai") {
    return Protocol::openai;
  }
  if (text == "openai-responses") {
    return Protocol::openai_responses;
  }
  if (text == "anthropic") {
    return Protocol::anthropic;
  }
  if (text == "gemini") {
    return Protocol::gemini;
  }
  return std::nullopt;
}

std::string_view to_string(Protocol protocol) {
  switch (protocol) {
  case Protocol::openai:
    return "openai";
  case Protocol::openai_responses:
    return "openai-responses";
  case Protocol::anthropic:
    return "anthropic";
  case Protocol::gemini:
    return "gemini";
  }
  return "openai";
}

Protocol route_protocol(std::string_view path) {
  if (path.starts_with("/v1/messages")) {
    return Protocol::anthropic;
  }
  if (path == "/v1beta" || path.starts_with("/v1beta/")) {
    return Protocol::gemini;
  }
  constexpr std::string_view models = "/v1/models/";
  if (path.starts_with(models) && path.find(':', models.size()) != std::string_view::npos) {
    return Protocol::gemini; // @google/genai 3.x: /v1/models/{model}:{action}
  }
  if (path == "/v1/responses" || path.starts_with("/v1/responses/")) {
    return Protocol::openai_responses;
  }
  return Protocol::openai;
}

bool same_family(Protocol a, Protocol b) {
  const auto openai = [](Protocol p) {
    return p == Protocol::openai || p == Protocol::openai_responses;
  };
  return a == b || (openai(a) && openai(b));
}

int http_status(ErrorKind kind) {
  return vocabulary(kind).status;
}

ErrorKind error_kind_for_status(int status) {
  switch (status) {
  case 401:
    return ErrorKind::unauthenticated;
  case 403:
    return ErrorKind::forbidden;
  case 404:
    return ErrorKind::not_found;
  case 405:
    return ErrorKind::method_not_allowed;
  case 413:
    return ErrorKind::payload_too_large;
  case 429:
    return ErrorKind::rate_limited;
  case 502:
    return ErrorKind::bad_gateway;
  case 504:
    return ErrorKind::gateway_timeout;
  default:
    return status >= 500 ? ErrorKind::internal : ErrorKind::bad_request;
  }
}

std::string error_body(Protocol protocol, ErrorKind kind, std::string_view code,
                       std::string_view message) {
  const ErrorVocabulary v = vocabulary(kind);
  nlohmann::json body;
  switch (protocol) {
  case Protocol::openai:
  case Protocol::openai_responses:
    body = {{"error", {{"message", message}, {"type", v.openai_type}, {"code", code}}}};
    break;
  case Protocol::anthropic:
    body = {{"type", "error"}, {"error", {{"type", v.anthropic_type}, {"message", message}}}};
    break;
  case Protocol::gemini:
    body = {{"error", {{"code", v.status}, {"message", message}, {"status", v.gemini_status}}}};
    break;
  }
  // Replace rather than throw on invalid UTF-8: a request path is client-controlled.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace agproxy
