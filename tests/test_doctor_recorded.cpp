// `agproxy doctor 401` without -H / --curl (DESIGN §8): the real server refuses real requests of
// several clients, then the real doctor reads its record and names each client and the cause.
#include "diag/doctor.hpp"
#include "tests/support.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

using namespace agproxy::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* k_google = "AIzaSyA0123456789abcdefghijklmnopqrstuv";
constexpr const char* k_third = "sk-00000000000000000000000000001111";

struct Run {
  int exit_code;
  json report;
  std::string text;

  const json& client(size_t i) const { return report["clients"][i]; }
  std::string summary(const std::string& id) const {
    for (const json& check : report["checks"]) {
      if (check["id"] == id) {
        return check["summary"];
      }
    }
    return "(missing)";
  }
};

// Run the doctor as a script (--json) and as a person (-v), check what both share and that no key
// shows.
Run doctor(std::vector<std::string> args) {
  const Env env = {{"HOME", "/nonexistent-agproxy-home"}};
  std::vector<std::string> json_args = {"doctor", "401", "--json"};
  json_args.insert(json_args.end(), args.begin(), args.end());
  const RunResult as_json = run_agproxy(json_args, env);
  std::vector<std::string> text_args = {"doctor", "401", "-v"};
  text_args.insert(text_args.end(), args.begin(), args.end());
  const RunResult as_text = run_agproxy(text_args, env);
  CHECK(as_json.exit_code == as_text.exit_code);
  Run run{as_json.exit_code, json::parse(as_json.out, nullptr, false), as_text.out};
  const std::string raw = as_json.out + as_json.err;
  REQUIRE_MESSAGE(run.report.is_object(), raw);
  // The checks of DESIGN §4, in order, whatever the record holds.
  REQUIRE(run.report["checks"].size() == std::size(agproxy::diag::k_check_ids));
  for (size_t i = 0; i < std::size(agproxy::diag::k_check_ids); ++i) {
    CHECK(run.report["checks"][i]["id"] == agproxy::diag::k_check_ids[i]);
  }
  for (const char* secret : {k_key, k_other, k_google, k_third}) {
    CHECK_FALSE(contains(as_json.out + as_text.out + as_text.err, secret));
  }
  return run;
}

struct Server {
  TempDir dir;
  std::string config;
  std::unique_ptr<ServeProcess> process;

  explicit Server(const std::string& mode) {
    config = dir.file("config.json");
    write_text(config, config_json(mode, false, k_key));
    process = std::make_unique<ServeProcess>(std::vector<std::string>{"--config", config}, Env{});
  }
  std::vector<std::string> args() const {
    return {"--config", config, "--url", "http://127.0.0.1:" + std::to_string(process->port())};
  }
  // Send a request the proxy refuses, as the client `user_agent` sends it.
  void refused(const std::string& user_agent, const std::string& method, const std::string& path,
               httplib::Headers headers) const {
    httplib::Client client("127.0.0.1", process->port());
    headers.emplace("User-Agent", user_agent);
    auto result = method == "GET" ? client.Get(path, headers)
                                  : client.Post(path, headers, "{}", "application/json");
    REQUIRE(result);
    REQUIRE(result->status == 401);
  }
};

} // namespace

TEST_CASE("doctor: without headers it names each client the proxy refused, and the cause") {
  Server server("all_except_health");
  server.refused("curl/8.5.0", "GET", "/v1/models", {});
  server.refused("GeminiCLI/0.61.0 (linux; x64) google-genai-sdk/1.30.0 gl-node/v22.18.0", "POST",
                 "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
                 {{"x-goog-api-key", k_google}});
  server.refused("codex_exec/0.171.0 (Ubuntu 24.4.0; x86_64) xterm-256color", "POST",
                 "/v1/responses", {{"Authorization", std::string("Bearer") + k_key}});
  for (int i = 0; i < 2; ++i) {
    server.refused("claude-cli/2.1.332 (external, cli)", "POST", "/v1/messages?beta=true",
                   {{"Authorization", std::string("Bearer ") + k_other}, {"x-api-key", k_third}});
  }

  const Run run = doctor(server.args());
  CHECK(run.exit_code == 1);
  REQUIRE(run.report["clients"].size() == 4); // the doctor's own requests are not among them
  // The most recent first: Claude Code, its two requests as one client.
  const json& claude = run.client(0);
  CHECK(claude["client"] == "Claude Code 2.1.332");
  CHECK(claude["address"] == "127.0.0.1");
  CHECK(claude["user_agent"] == "claude-cli/2.1.332 (external, cli)");
  CHECK(claude["requests"] == 2);
  CHECK(claude["key"]["last4"] == "3210");
  CHECK(claude["summary"] ==
        "Claude Code 2.1.332 at 127.0.0.1 sent Authorization (a key …3210 that is not the proxy "
        "key); its x-api-key was ignored. Claude Code sends Authorization from "
        "ANTHROPIC_AUTH_TOKEN or an apiKeyHelper (in its environment or ~/.claude/settings.json). "
        "'agproxy client setup claude-code' points it at the proxy with the proxy key alone");
  CHECK(claude["verdict"] == "headers.conflict");
  CHECK(claude["reasons"] == json::array({"invalid_api_key"}));
  CHECK(claude["seconds_ago"].is_number());
  // The report's checks judge the most recent client.
  CHECK(run.report["verdict"] == "headers.conflict");
  CHECK(contains(run.summary("headers.key_mismatch"), "…3210"));

  const json& codex = run.client(1);
  CHECK(codex["client"] == "Codex CLI 0.171.0");
  CHECK(codex["verdict"] == "headers.malformed");
  CHECK(contains(codex["summary"], "sent a malformed Authorization: 'Bearer' is glued to the key"));
  CHECK(contains(codex["summary"], "'agproxy client setup codex'"));
  CHECK(codex["reasons"] == json::array({"malformed_authorization"}));

  const json& gemini = run.client(2);
  CHECK(gemini["client"] == "Gemini CLI 0.61.0");
  CHECK(gemini["verdict"] == "headers.foreign_key");
  CHECK(
      contains(gemini["summary"], "Gemini CLI 0.61.0 at 127.0.0.1 sent a Google (Gemini) API key"));
  CHECK(contains(gemini["summary"], "in x-goog-api-key instead of the proxy key"));

  const json& curl = run.client(3);
  CHECK(curl["client"] == "curl 8.5.0");
  CHECK(curl["summary"] == "curl 8.5.0 at 127.0.0.1 sent no key"); // (no agent to set up)
  CHECK(curl["verdict"] == "auth.effective_mode");
  CHECK(curl["routes"] == json::array({"GET /v1/models"}));
  CHECK(curl["key"].is_null());

  // What a person reads: each client in a sentence, with its cause and fix.
  CHECK(contains(run.text, "Clients the proxy refused, most recent first:"));
  CHECK(contains(run.text, "✗ Claude Code 2.1.332 at 127.0.0.1 sent Authorization (a key …3210 "
                           "that is not the proxy key); its x-api-key was ignored"));
  CHECK(contains(run.text, "2 requests, the last "));
  CHECK(contains(run.text, "cause (headers.malformed): 'Bearer' is glued to the key"));
  CHECK(contains(run.text, "cause (auth.effective_mode): curl 8.5.0 at 127.0.0.1 sent no key, "
                           "and auth mode all_except_health requires one for GET /v1/models"));
  CHECK(contains(run.text, "(Judged on Claude Code 2.1.332 at 127.0.0.1, the most recent of the 4 "
                           "clients the proxy refused.)"));
  CHECK(contains(run.text, "Most likely cause (headers.conflict, Claude Code 2.1.332 at "
                           "127.0.0.1): "));
  CHECK(contains(run.text, "/agproxy/events?kind=denied"));

  // Claude Code sending the proxy key in x-api-key, where Authorization wins: a new client (its
  // key read differs), named with what it got wrong.
  server.refused("claude-cli/2.1.332 (external, cli)", "POST", "/v1/messages",
                 {{"Authorization", std::string("Bearer ") + k_third}, {"x-api-key", k_key}});
  const Run again = doctor(server.args());
  REQUIRE(again.report["clients"].size() == 5);
  CHECK(contains(again.client(0)["summary"],
                 "Claude Code 2.1.332 at 127.0.0.1 sent Authorization (a key …1111 that is not the "
                 "proxy key); its x-api-key, which carries the proxy key, was ignored. "));
  CHECK(contains(again.summary("headers.conflict"), "your correct x-api-key is never consulted"));

  // A window with none of them: said so, and nothing fails.
  std::this_thread::sleep_for(1100ms);
  std::vector<std::string> recent = server.args();
  recent.insert(recent.end(), {"--since", "1s"});
  const Run quiet = doctor(recent);
  CHECK(quiet.exit_code == 0);
  CHECK_FALSE(quiet.report.contains("clients"));
  CHECK(contains(quiet.summary("headers.conflict"),
                 "skipped: the proxy recorded no refused request in the last 1s"));
}

TEST_CASE("doctor: the doctor's own refused probes are not clients (strict mode)") {
  Server server("strict"); // the doctor's GET /healthz without a key is refused here
  for (int i = 0; i < 2; ++i) {
    const Run run = doctor(server.args());
    CHECK(run.exit_code == 0);
    CHECK_FALSE(run.report.contains("clients"));
    CHECK(contains(run.summary("headers.conflict"), "the proxy recorded no refused request"));
  }
  server.refused("python-httpx/0.28.1", "POST", "/v1/chat/completions",
                 {{"Authorization", "Bearer Bearer " + std::string(k_key)}});
  const Run run = doctor(server.args());
  REQUIRE(run.report["clients"].size() == 1);
  CHECK(run.client(0)["client"] == "Python httpx 0.28.1");
  CHECK(run.report["verdict"] == "headers.malformed");
}

TEST_CASE("doctor: --since takes a duration, and only without -H / --curl") {
  CHECK(run_agproxy({"doctor", "401", "--since", "10x"}, {}).exit_code == 2);
  CHECK(run_agproxy({"doctor", "401", "--since", "0s"}, {}).exit_code == 2);
  const RunResult with_headers =
      run_agproxy({"doctor", "401", "--since", "10m", "-H", "x-api-key: x"}, {});
  CHECK(with_headers.exit_code == 2);
  CHECK(contains(with_headers.err, "--since"));
}
