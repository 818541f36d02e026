#include "diag/client_headers.hpp"

#include <doctest/doctest.h>

using namespace agproxy;
using namespace agproxy::diag;

namespace {

std::vector<std::string> problems(KeyHeader header, std::string_view value, Severity severity) {
  std::vector<std::string> out;
  for (const HeaderFinding& finding : analyze_key_header(header, value)) {
    if (finding.severity == severity) {
      out.push_back(finding.problem);
    }
  }
  return out;
}

bool has(const std::vector<std::string>& items, const std::string& part) {
  for (const std::string& item : items) {
    if (item.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("parse_header_argument keeps what the client sends") {
  std::string error;
  auto header = parse_header_argument("Authorization: Bearer k ", error);
  REQUIRE(header);
  CHECK(header->name == "Authorization");
  CHECK(header->value == "Bearer k ");
  CHECK(parse_header_argument("x-api-key:k", error)->value == "k");
  CHECK(parse_header_argument("x-api-key: k\n", error)->value == "k\n");
  CHECK_FALSE(parse_header_argument("no colon here", error));
  CHECK(error.find("Name: value") != std::string::npos);
}

TEST_CASE("parse_curl_command extracts URL, method and headers") {
  std::string error;
  auto request = parse_curl_command(
      "curl -sS -X POST http://127.0.0.1:8045/v1/messages \\\n  -H 'x-api-key: sk-a b' \\\n"
      "  --header \"Authorization: Bearer \\\"q\\\"\" -d '{\"model\":\"m\"}' --compressed",
      error);
  REQUIRE(request);
  CHECK(*request->url == "http://127.0.0.1:8045/v1/messages");
  CHECK(*request->method == "POST");
  REQUIRE(request->headers.size() == 2);
  CHECK(request->headers[0].value == "sk-a b");
  CHECK(request->headers[1].value == "Bearer \"q\"");
  auto glued = parse_curl_command("curl -HAuthorization:x --url=http://h:1/p", error);
  REQUIRE(glued);
  CHECK(glued->headers[0].value == "x");
  CHECK(*glued->url == "http://h:1/p");
  CHECK(parse_curl_command("curl --oauth2-bearer tok http://h/", error)->headers[0].value ==
        "Bearer tok");
  CHECK_FALSE(parse_curl_command("curl -H 'open", error));
  CHECK(error.find("unterminated") != std::string::npos);
  CHECK_FALSE(parse_curl_command("curl -H 'a: b'", error));
  CHECK(error.find("no URL") != std::string::npos);
}

TEST_CASE("to_auth_request takes the first of each header, case-insensitively") {
  ClientRequest request;
  request.headers = {{"X-API-KEY", "one"}, {"x-api-key", "two"}, {"authorization", "Bearer k"}};
  const AuthRequest auth = to_auth_request(request, "GET", "/v1/models");
  CHECK(*auth.x_api_key == "one");
  CHECK(*auth.authorization == "Bearer k");
  CHECK_FALSE(auth.x_goog_api_key);
}

TEST_CASE("analyze_key_header") {
  using K = KeyHeader;
  CHECK(analyze_key_header(K::authorization, "Bearer sk-abc").empty());
  CHECK(analyze_key_header(K::x_api_key, "sk-abc").empty());
  CHECK(analyze_key_header(K::authorization, "sk-abc").empty()); // a bare key is compared whole

  CHECK(has(problems(K::authorization, "Bearersk-abc", Severity::fail), "glued"));
  CHECK(has(problems(K::authorization, "Bearer", Severity::fail), "no key after it"));
  CHECK(has(problems(K::authorization, "Bearer Bearer sk-abc", Severity::fail), "doubled"));
  CHECK(has(problems(K::authorization, "", Severity::fail), "empty"));
  CHECK(has(problems(K::authorization, "Bearer \"sk-abc\"", Severity::fail), "quotes"));
  CHECK(has(problems(K::x_api_key, "'sk-abc'", Severity::fail), "quotes"));
  CHECK(has(problems(K::x_api_key, " sk-abc", Severity::fail), "whitespace"));
  CHECK(has(problems(K::authorization, "Bearer sk-abc ", Severity::fail), "whitespace"));
  CHECK(has(problems(K::authorization, "Bearer sk-abc\n", Severity::fail), "line break"));
  CHECK(has(problems(K::x_goog_api_key, "sk-abc\r\n", Severity::fail), "line break"));
  CHECK(has(problems(K::authorization, "Bearer sk-…abcd", Severity::fail), "masked key"));
  CHECK(has(problems(K::authorization, "Bearer \xe2\x80\x9csk-abc\xe2\x80\x9d", Severity::fail),
            "non-ASCII"));
  CHECK(has(problems(K::x_api_key, "Bearer sk-abc", Severity::fail), "bare key"));
  CHECK(has(problems(K::authorization, "Basic dXNlcjpwYXNz", Severity::fail), "not Bearer"));

  CHECK(has(problems(K::authorization, "bearer sk-abc", Severity::warn), "Antigravity"));
  CHECK(problems(K::authorization, "bearer sk-abc", Severity::fail).empty());
  CHECK(has(problems(K::authorization, "Bearer   sk-abc", Severity::warn), "several spaces"));
  CHECK(problems(K::authorization, "Bearer   sk-abc", Severity::fail).empty());
}

TEST_CASE("provider_of_key and describe_key") {
  CHECK(*provider_of_key("sk-ant-api03-abcdef") == "an Anthropic API key");
  CHECK(*provider_of_key("sk-proj-abcdef") == "an OpenAI project key");
  CHECK(*provider_of_key("AIzaSyA-example") == "a Google (Gemini) API key");
  CHECK(*provider_of_key("sk-" + std::string(48, 'a')) == "an OpenAI API key");
  CHECK_FALSE(provider_of_key("sk-0123456789abcdef0123456789abcdef")); // agproxy's own shape
  CHECK(describe_key("sk-0123456789abcdef0123456789abcdef") ==
        "…cdef sha256:" + std::string("18164f31"));
  CHECK(describe_key("short").starts_with("(5 chars) sha256:"));
}
