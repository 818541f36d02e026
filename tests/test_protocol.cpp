#include "server/protocols/ir.hpp"
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
      {"/v1/responses", Protocol::openai_responses},
      {"/v1/responses/resp_1", Protocol::openai_responses},
      {"/v1/responsesx", Protocol::openai},
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

TEST_CASE("ir::join_call_id: any signature comes back from the joined id") {
  const std::string signatures[] = {
      "",
      "CiQBjz1rX+/abc==",                  // standard base64, as Gemini's are: kept readable
      "sig-fake-1",                        // not base64: encoded
      std::string("\x00\xff\x80 \"\\", 6), // any bytes
      std::string(3000, '+'),
  };
  for (const std::string& signature : signatures) {
    CAPTURE(signature);
    const std::string joined = ir::join_call_id("call_7", signature);
    CHECK(joined.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.") ==
          std::string::npos);
    CHECK(ir::split_call_id(joined) == std::pair<std::string, std::string>("call_7", signature));
  }
  CHECK(ir::join_call_id("call_7", "") == "call_7");
  CHECK(ir::split_call_id("toolu_plain") == std::pair<std::string, std::string>("toolu_plain", ""));
}
