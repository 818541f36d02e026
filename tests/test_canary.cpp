// Secrets: with canary keys for the proxy and the providers, no response to a client, log line,
// error message or doctor output holds one. (support.cpp checks every agproxy serve log and
// command output of the whole suite for them too.)
#include "tests/fake_provider.hpp"
#include "tests/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace agproxy::test;
using nlohmann::json;

namespace {

json upstream(const std::string& name, const std::string& protocol, const std::string& url,
              const std::string& key, const std::string& models) {
  return {{"name", name},
          {"protocol", protocol},
          {"base_url", url},
          {"api_keys", {key}},
          {"models", {models}}};
}

std::string request(const std::string& method, const std::string& target,
                    const std::string& headers, const std::string& body = "") {
  return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers +
         (body.empty() ? ""
                       : "Content-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n") +
         "\r\n" + body;
}

} // namespace

TEST_CASE("secrets: canary keys reach no client, log or doctor output") {
  TempDir dir;
  FakeProvider provider;
  const json upstreams = json::array({
      upstream("oa", "openai", provider.url(), k_provider_canary, "gpt-*"),
      upstream("an", "anthropic", provider.url(), k_provider_canary, "claude-*"),
      upstream("ge", "gemini", provider.url(), k_provider_canary, "gemini-*"),
      upstream("limited", "openai", provider.url(), k_limited_canary, "limited"),
      upstream("refused", "openai", provider.url(), k_refused_canary, "refused"),
      upstream("failing", "openai", provider.url(), k_failing_canary, "failing"),
      upstream("gone", "openai", "http://127.0.0.1:1", k_provider_canary, "gone"),
  });
  const std::string config = dir.file("c.json");
  write_text(config, json{{"proxy",
                           {{"auth_mode", "strict"},
                            {"api_key", k_key},
                            {"request_timeout", 2},
                            {"upstreams", upstreams}}}}
                         .dump());
  ServeProcess server({"--config", config}, Env{});
  const std::string key = k_key;
  const std::string right = "Authorization: Bearer " + key + "\r\n";

  // Every way of sending the right key, a wrong one, a broken one, or two that disagree.
  const std::vector<std::string> key_headers = {
      right,
      "x-api-key: " + key + "\r\n",
      "x-goog-api-key: " + key + "\r\n",
      "Authorization: Bearer" + key + "\r\n",
      "Authorization: bearer  " + key + "\r\n",
      "Authorization: Bearer \"" + key + "\"\r\n",
      "Authorization: Bearer " + std::string(k_other) + "\r\nx-api-key: " + key + "\r\n",
      "x-api-key: " + key + "x\r\n",
      "Authorization: Bearer " + key + "\r\nx-goog-api-key: " + std::string(k_other) + "\r\n",
      "",
  };
  const std::vector<std::pair<std::string, std::string>> posts = {
      {"/v1/chat/completions", R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})"},
      {"/v1/chat/completions", R"({"model":"gpt-4o","stream":true})"},
      {"/v1/chat/completions", R"({"model":"sse-2-10","stream":true})"},
      {"/v1/messages", R"({"model":"claude-x","messages":[{"role":"user","content":"hi"}]})"},
      {"/v1beta/models/gemini-2.5-flash:generateContent",
       R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})"},
      {"/v1/chat/completions", R"({"model":"limited"})"},
      {"/v1/chat/completions", R"({"model":"limited"})"}, // now every key rests: our own 429
      {"/v1/chat/completions", R"({"model":"refused"})"},
      {"/v1/chat/completions", R"({"model":"failing"})"},
      {"/v1/chat/completions", R"({"model":"gone"})"},
      {"/v1/chat/completions", R"({"model":"unknown-model"})"},
      {"/v1/chat/completions", "not json"},
  };
  size_t responses = 0;
  const auto check = [&](const std::string& raw) {
    CAPTURE(raw.substr(0, 200));
    REQUIRE(raw.starts_with("HTTP/1.1 "));
    CHECK(canaries_in(raw).empty());
    ++responses;
  };
  for (const std::string& headers : key_headers) {
    for (const auto& [path, body] : posts) {
      check(raw_exchange(server.port(), request("POST", path, headers, body)));
    }
    check(raw_exchange(server.port(), request("GET", "/v1/models", headers)));
    check(raw_exchange(server.port(), request("GET", "/healthz", headers)));
    check(raw_exchange(server.port(), request("GET", "/no/such/path", headers)));
    check(raw_exchange(server.port(), request("OPTIONS", "/v1/messages",
                                              headers + "Origin: http://localhost:3000\r\n")));
  }
  // Gemini's key in the query string, right and wrong.
  check(raw_exchange(server.port(),
                     request("POST", "/v1beta/models/gemini-x:generateContent?key=" + key, "",
                             R"({"contents":[]})")));
  check(raw_exchange(server.port(),
                     request("POST", "/v1beta/models/gemini-x:generateContent?key=" + key + "0", "",
                             R"({"contents":[]})")));
  // What the server saw of all that: its events (every kind), status and counters.
  const std::string right_key = "Authorization: Bearer " + key + "\r\n";
  for (const char* path :
       {"/agproxy/events", "/agproxy/events?kind=denied",
        "/agproxy/events?kind=rate_limited,upstream_error", "/agproxy/status", "/metrics"}) {
    const std::string raw = raw_exchange(server.port(), request("GET", path, right_key));
    CHECK(contains(raw, "HTTP/1.1 200"));
    check(raw);
  }
  MESSAGE(responses << " responses checked");

  // The doctor with the right key glued, in two headers, in a pasted curl; text, -v and JSON.
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"-H", "Authorization: Bearer" + key},
           {"-H", "Authorization: Bearer " + std::string(k_other), "-H", "x-api-key: " + key},
           {"--curl", "curl " + url + "/v1/messages -H 'x-api-key: " + key + "x' -d '{}'"},
           {"--key", key},
       }) {
    for (const char* mode : {"", "-v", "--json"}) {
      std::vector<std::string> command = {"doctor", "401", "--config", config, "--url", url};
      command.insert(command.end(), args.begin(), args.end());
      if (*mode) {
        command.emplace_back(mode);
      }
      run_agproxy(command, {}); // run_agproxy checks the output for canaries
    }
  }
  run_agproxy({"config", "show", "--config", config}, {});
  run_agproxy({"key", "show", "--config", config}, {});
  // The check can fail: the one command whose job is to print the key does print it.
  CHECK(contains(run_agproxy({"key", "show", "--reveal", "--config", config}, {}).out, key));
  CHECK(canaries_in(run_agproxy({"key", "show", "--reveal", "--config", config}, {}).out) ==
        std::vector<std::string>{key});
}
