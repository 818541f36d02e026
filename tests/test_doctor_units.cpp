// The doctor's parts on their own: the walks' check lists, the client evidence the header checks
// judge, the server's record of refused clients read into it, the names of clients.
#include "diag/doctor/clients.hpp"
#include "diag/doctor/evidence.hpp"
#include "diag/doctor/recorded.hpp"
#include "diag/doctor/walks.hpp"
#include "tests/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace agproxy::diag;
using namespace agproxy::test;

TEST_CASE("walk_401: the checks of DESIGN §4, in verdict order") {
  const doctor::Walk& walk = doctor::walk_401();
  CHECK(walk.topic == "401");
  std::vector<std::string_view> ids;
  std::vector<std::string_view> per_client;
  for (const doctor::Step& step : walk.steps) {
    if (step.check) {
      ids.push_back(step.id);
    }
    if (step.per_client) {
      per_client.push_back(step.id);
    }
  }
  REQUIRE(ids.size() == std::size(k_check_ids));
  for (size_t i = 0; i < ids.size(); ++i) {
    CHECK(ids[i] == k_check_ids[i]);
  }
  CHECK(per_client == std::vector<std::string_view>{"auth.effective_mode", "headers.conflict",
                                                    "headers.malformed", "headers.foreign_key",
                                                    "headers.key_mismatch"});
}

TEST_CASE("evidence_from_request") {
  ClientRequest request;
  request.headers = {{"x-api-key", k_key},
                     {"Content-Type", "application/json"},
                     {"authorization", std::string("Bearer") + k_other},
                     {"Authorization", std::string("Bearer ") + k_key}};
  const doctor::ClientEvidence evidence =
      doctor::evidence_from_request(request, "POST", "/v1/messages");
  CHECK(evidence.method == "POST");
  CHECK(evidence.path == "/v1/messages");
  // In the order the proxy reads them, each header's first occurrence.
  REQUIRE(evidence.headers.size() == 2);
  const doctor::KeyHeaderEvidence& read = *evidence.read();
  CHECK(read.header == agproxy::KeyHeader::authorization);
  CHECK(read.value == std::string("Bearer") + k_other);
  CHECK_FALSE(read.findings.empty()); // 'Bearer' glued to the key
  CHECK(evidence.headers[1].header == agproxy::KeyHeader::x_api_key);
  CHECK(evidence.headers[1].key->shown == agproxy::describe_key(k_key));
  CHECK(evidence.headers[1].key->last4 == "cdef");
  CHECK(evidence.headers[1].carries(k_key));
  CHECK_FALSE(read.carries(k_key));
  CHECK_FALSE(read.same_key_as(evidence.headers[1]));
  // Every key header line as sent, for the replay; no other header.
  CHECK(evidence.replay.size() == 3);

  ClientRequest anthropic;
  anthropic.headers = {{"x-api-key", "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}};
  CHECK(doctor::evidence_from_request(anthropic, "GET", "/v1/models").read()->provider);
  CHECK_FALSE(doctor::evidence_from_request(ClientRequest{}, "GET", "/v1/models").read());
}

TEST_CASE("KeyPrint: compares keys by their print") {
  const doctor::KeyPrint print = doctor::KeyPrint::of(k_key);
  CHECK(print.matches(k_key));
  CHECK_FALSE(print.matches(k_other));
  CHECK(print == doctor::KeyPrint::of(k_key));
  doctor::KeyHeaderEvidence recorded; // a header known by its key's print only
  recorded.key = print;
  CHECK(recorded.carries(k_key));
  CHECK_FALSE(recorded.carries(k_other));
}

TEST_CASE("setup_agent: the coding agents agproxy client setup wires, by client name") {
  using doctor::setup_agent;
  CHECK(setup_agent("Claude Code 2.1.332") == "claude-code");
  CHECK(setup_agent("Codex CLI 0.171.0") == "codex");
  CHECK(setup_agent("Gemini CLI 0.61.0") == "gemini-cli");
  CHECK_FALSE(setup_agent("Codex in VS Code 1.0"));
  CHECK_FALSE(setup_agent("curl 8.5.0"));
}

TEST_CASE("client_name: the program behind a User-Agent") {
  using doctor::client_name;
  CHECK(client_name("claude-cli/2.1.332 (external, cli)") == "Claude Code 2.1.332");
  CHECK(client_name("codex_exec/0.171.0 (Ubuntu 24.4.0; x86_64) xterm-256color") ==
        "Codex CLI 0.171.0");
  CHECK(client_name("codex_cli_rs/0.171.0 (Mac OS 15.1.0; arm64)") == "Codex CLI 0.171.0");
  CHECK(client_name("GeminiCLI/0.61.0 (linux; x64)") == "Gemini CLI 0.61.0");
  CHECK(client_name("OpenAI/JS 5.12.2") == "OpenAI JS SDK 5.12.2");
  CHECK(client_name("OpenAI/Python 1.99.1") == "OpenAI Python SDK 1.99.1");
  CHECK(client_name("Anthropic/JS 0.60.0") == "Anthropic JS SDK 0.60.0");
  CHECK(client_name("google-genai-sdk/1.30.0 gl-node/v22.18.0") == "Google Gen AI SDK 1.30.0");
  CHECK(client_name("curl/8.5.0") == "curl 8.5.0");
  CHECK(client_name("python-requests/2.32.3") == "Python requests 2.32.3");
  CHECK(client_name("python-httpx/0.28.1") == "Python httpx 0.28.1");
  // Anything else as it is, cut and made printable; none at all said so.
  CHECK(client_name("MyTool/1.0") == "MyTool/1.0");
  CHECK(client_name(std::string(100, 'x')) == std::string(48, 'x') + "…");
  CHECK(client_name("evil\033[31m") == "evil?[31m");
  CHECK(client_name(std::nullopt) == "a client without a User-Agent");
  CHECK(client_name("") == "a client without a User-Agent");
  // A cut never splits a character.
  CHECK(doctor::printable(std::string(47, 'x') + "é", 48) == std::string(47, 'x') + "…");
}

TEST_CASE("parse_duration") {
  using doctor::parse_duration;
  CHECK(parse_duration("30s") == 30);
  CHECK(parse_duration("10m") == 600);
  CHECK(parse_duration("2h") == 7200);
  CHECK(parse_duration("1d") == 86400);
  CHECK(parse_duration("45") == 45);
  for (const char* bad : {"", "0s", "m", "10x", "-5m", "1.5h", "10 m", "9999999999s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad));
  }
}

namespace {

// A denied event as GET /agproxy/events answers it (the spec's shape).
nlohmann::json denied(const std::string& time, const std::string& user_agent,
                      const nlohmann::json& headers, std::optional<bool> matches) {
  const nlohmann::json key = headers.empty() ? nlohmann::json() : nlohmann::json(headers[0]["key"]);
  return {{"time", time},
          {"kind", "denied"},
          {"method", "POST"},
          {"path", "/v1/messages"},
          {"client", "127.0.0.1"},
          {"user_agent", user_agent},
          {"key", key},
          {"headers", headers},
          {"matches_proxy_key", matches ? nlohmann::json(*matches) : nlohmann::json()},
          {"reason", headers.empty() ? "missing_api_key" : "invalid_api_key"},
          {"status", 401}};
}

nlohmann::json header(const std::string& name, const std::string& key) {
  const doctor::KeyPrint print = doctor::KeyPrint::of(key);
  return {{"name", name},
          {"key", {{"last4", print.last4}, {"sha256", print.sha256}}},
          {"provider", nullptr},
          {"findings", nlohmann::json::array()}};
}

} // namespace

TEST_CASE("parse_denials: grouped by address, User-Agent and key, most recent first") {
  const std::string claude = "claude-cli/2.1.332 (external, cli)";
  const nlohmann::json answer = {
      {"now", "2026-12-03T11:00:00.000Z"},
      {"capacity", 512},
      {"recorded", 5},
      {"events",
       {denied("2026-12-03T10:59:58.500Z", claude,
               {header("authorization", k_other), header("x-api-key", k_key)}, false),
        denied("2026-12-03T10:59:50.000Z", "curl/8.5.0", nlohmann::json::array(), std::nullopt),
        denied("2026-12-03T10:59:40.000Z", claude,
               {header("authorization", k_other), header("x-api-key", k_key)}, false),
        denied("2026-12-03T10:59:30.000Z", "agproxy-doctor/0.1.0", nlohmann::json::array(),
               std::nullopt)}}};
  const auto clients = doctor::parse_denials(answer.dump());
  REQUIRE(clients);
  REQUIRE(clients->size() == 2); // the doctor's own probe left out
  const doctor::RecordedClient& first = (*clients)[0];
  CHECK(first.name == "Claude Code 2.1.332");
  CHECK(first.requests == 2);
  CHECK(first.last == "2026-12-03T10:59:58.500Z");
  CHECK(first.first == "2026-12-03T10:59:40.000Z");
  CHECK(first.seconds_ago == 1);
  CHECK(first.routes == std::vector<std::string>{"POST /v1/messages"});
  CHECK(first.reasons == std::vector<std::string>{"invalid_api_key"});
  CHECK(first.evidence.sender == "Claude Code 2.1.332 at 127.0.0.1");
  CHECK(first.evidence.answer == "401 (invalid_api_key)");
  REQUIRE(first.evidence.headers.size() == 2);
  CHECK(first.evidence.read()->header == agproxy::KeyHeader::authorization);
  CHECK_FALSE(first.evidence.read()->value); // never a key from the record
  CHECK(first.evidence.headers[1].carries(k_key));

  CHECK(doctor::story_of(first, std::string(k_key)) ==
        "Claude Code 2.1.332 at 127.0.0.1 sent Authorization (a key …3210 that is not the proxy "
        "key); its x-api-key, which carries the proxy key, was ignored. Claude Code sends "
        "Authorization from ANTHROPIC_AUTH_TOKEN or an apiKeyHelper (in its environment or "
        "~/.claude/settings.json). 'agproxy client setup claude-code' points it at the proxy with "
        "the proxy key alone");
  // Without the proxy key the server's judgement of the header read stands.
  CHECK(doctor::story_of(first, std::nullopt) ==
        "Claude Code 2.1.332 at 127.0.0.1 sent Authorization (a key …3210 that is not the proxy "
        "key); its x-api-key was ignored. Claude Code sends Authorization from "
        "ANTHROPIC_AUTH_TOKEN or an apiKeyHelper (in its environment or ~/.claude/settings.json). "
        "'agproxy client setup claude-code' points it at the proxy with the proxy key alone");
  CHECK(doctor::story_of((*clients)[1], std::string(k_key)) ==
        "curl 8.5.0 at 127.0.0.1 sent no key");

  CHECK_FALSE(doctor::parse_denials("<html>"));
  CHECK_FALSE(doctor::parse_denials(R"({"status":"ok"})"));
  CHECK(doctor::parse_denials(R"({"events":[]})")->empty());
}
