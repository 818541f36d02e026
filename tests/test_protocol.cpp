#include "server/protocols/protocol.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace agproxy;
using nlohmann::json;

TEST_CASE("route_protocol") {
  struct Row {
    const char* path;
    Protocol protocol;
  };
  const Row table[] = {
      {"/v1/messages", Protocol::anthropic},
      {"/v1/messages/count_tokens", Protocol::anthropic},
      {"/v1beta/models/gemini-2.5-flash:generateContent", Protocol::gemini},
      {"/v1beta/models", Protocol::gemini},
      {"/v1/models/gemini-2.5-flash:streamGenerateContent", Protocol::gemini},
      {"/v1/models", Protocol::openai},
      {"/v1/models/gpt-4o", Protocol::openai},
      {"/v1/chat/completions", Protocol::openai},
      {"/v1/responses", Protocol::openai},
      {"/healthz", Protocol::openai},
      {"/", Protocol::openai},
      {"/v1betax", Protocol::openai},
  };
  for (const Row& row : table) {
    CAPTURE(row.path);
    CHECK(route_protocol(row.path) == row.protocol);
  }
}

TEST_CASE("error_body has each protocol's 401 shape") {
  const json openai = json::parse(
      error_body(Protocol::openai, ErrorKind::unauthenticated, "invalid_api_key", "msg"));
  CHECK(
      openai ==
      json{{"error",
            {{"message", "msg"}, {"type", "invalid_request_error"}, {"code", "invalid_api_key"}}}});

  const json anthropic = json::parse(
      error_body(Protocol::anthropic, ErrorKind::unauthenticated, "invalid_api_key", "msg"));
  CHECK(anthropic ==
        json{{"type", "error"}, {"error", {{"type", "authentication_error"}, {"message", "msg"}}}});

  const json gemini = json::parse(
      error_body(Protocol::gemini, ErrorKind::unauthenticated, "invalid_api_key", "msg"));
  CHECK(gemini ==
        json{{"error", {{"code", 401}, {"message", "msg"}, {"status", "UNAUTHENTICATED"}}}});
}

TEST_CASE("error_body maps other kinds and survives invalid UTF-8") {
  CHECK(http_status(ErrorKind::not_found) == 404);
  CHECK(http_status(ErrorKind::payload_too_large) == 413);
  CHECK(error_kind_for_status(413) == ErrorKind::payload_too_large);
  CHECK(error_kind_for_status(414) == ErrorKind::bad_request);
  CHECK(error_kind_for_status(503) == ErrorKind::internal);
  const json gemini =
      json::parse(error_body(Protocol::gemini, ErrorKind::not_found, "not_found", "no \xff route"));
  CHECK(gemini["error"]["status"] == "NOT_FOUND");
  CHECK(gemini["error"]["code"] == 404);
}

TEST_CASE("parse_protocol") {
  CHECK(parse_protocol("openai") == Protocol::openai);
  CHECK(parse_protocol("anthropic") == Protocol::anthropic);
  CHECK(parse_protocol("gemini") == Protocol::gemini);
  CHECK_FALSE(parse_protocol("OpenAI"));
}
