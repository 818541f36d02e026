// What the server saw (DESIGN §7): /agproxy/events, /agproxy/status and /metrics through the real
// binary, with denied clients, rate-limited and refused provider keys on the fake provider.
#include "server/gateway.hpp"
#include "server/observe/events.hpp"
#include "server/observe/status.hpp"
#include "server/protocols/family.hpp"
#include "tests/fake_provider.hpp"
#include "tests/support.hpp"

#include <cstdio>
#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

using namespace agproxy::test;
using nlohmann::json;

namespace {

struct Observed {
  TempDir dir;
  std::unique_ptr<ServeProcess> server;

  explicit Observed(const json& proxy) {
    json settings = {{"auth_mode", "strict"}, {"api_key", k_key}};
    settings.update(proxy);
    write_text(dir.file("c.json"), json{{"proxy", settings}}.dump());
    server = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--config", dir.file("c.json")}, Env{});
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(10, 0);
    return c;
  }
  static httplib::Headers auth() { return {{"Authorization", std::string("Bearer ") + k_key}}; }
  // GET `path` with the proxy key; the body must hold no secret.
  httplib::Result get(const std::string& path) const {
    auto result = client().Get(path, auth());
    if (result) {
      CHECK(canaries_in(result->body).empty());
    }
    return result;
  }
  json events(const std::string& query = "") const {
    auto result = get("/agproxy/events" + query);
    REQUIRE(result);
    REQUIRE(result->status == 200);
    return json::parse(result->body);
  }
  json status() const {
    auto result = get("/agproxy/status");
    REQUIRE(result);
    REQUIRE(result->status == 200);
    return json::parse(result->body);
  }
  httplib::Result chat(const std::string& model = "gpt-4o") const {
    return client().Post(
        "/v1/chat/completions", auth(),
        json{{"model", model}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}.dump(),
        "application/json");
  }
};

json upstream(const std::string& name, const std::string& url, std::vector<std::string> keys) {
  return {{"name", name}, {"protocol", "openai"}, {"base_url", url}, {"api_keys", keys}};
}

// Return the output and exit code of `command` (run by the shell).
std::pair<std::string, int> shell(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    out.append(buffer, n);
  }
  const int status = ::pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

} // namespace

TEST_CASE("observe: a denied client is recorded with the headers it sent, never its key") {
  Observed proxy(json::object());
  auto c = proxy.client();
  // Claude Code with both variables set: Authorization (a wrong key, read) and x-api-key (ignored).
  auto denied = c.Get("/v1/models", {{"Authorization", std::string("Bearer ") + k_other},
                                     {"x-api-key", k_key},
                                     {"User-Agent", "claude-cli/2.1.332 (external, cli)"}});
  REQUIRE(denied);
  CHECK(denied->status == 401);
  auto glued = c.Get("/v1/models", {{"Authorization", std::string("Bearer") + k_key}});
  REQUIRE(glued);
  CHECK(glued->status == 401);

  const json answer = proxy.events("?kind=denied");
  CHECK(answer["capacity"] == 512);
  REQUIRE(answer["events"].size() == 2);
  const json& newest = answer["events"][0]; // newest first
  CHECK(newest["reason"] == "malformed_authorization");
  CHECK(newest["headers"][0]["findings"][0]["severity"] == "fail");
  CHECK(contains(newest["headers"][0]["findings"][0]["problem"], "glued"));
  const json& first = answer["events"][1];
  CHECK(first["kind"] == "denied");
  CHECK(first["status"] == 401);
  CHECK(first["reason"] == "invalid_api_key");
  CHECK(first["method"] == "GET");
  CHECK(first["path"] == "/v1/models");
  CHECK(first["client"] == "127.0.0.1");
  CHECK(first["user_agent"] == "claude-cli/2.1.332 (external, cli)");
  CHECK(first["key_header"] == "Authorization");
  CHECK(first["ignored_headers"] == json::array({"x-api-key"}));
  CHECK(first["key"]["last4"] == "3210");
  CHECK(first["key"]["sha256"].get<std::string>().size() == 8);
  CHECK(first["matches_proxy_key"] == false);
  REQUIRE(first["headers"].size() == 2);
  CHECK(first["headers"][1]["name"] == "x-api-key");
  CHECK(first["headers"][1]["key"]["last4"] == "cdef");
  CHECK(first["headers"][0]["findings"].empty());
  CHECK(first["origin"] == "agproxy");

  // Filters: kind, limit, since; and the other kinds are absent.
  CHECK(proxy.events("?kind=denied&limit=1")["events"].size() == 1);
  CHECK(proxy.events("?kind=rate_limited,upstream_error")["events"].empty());
  CHECK(proxy.events("?since=60")["events"].size() == 2);
  CHECK(proxy.events("")["recorded"] == 2);
}

TEST_CASE("observe: bad query parameters and wrong methods are refused with the parameter named") {
  Observed proxy(json::object());
  for (const auto& [query, named] :
       std::vector<std::pair<std::string, std::string>>{{"?kind=nope", "kind"},
                                                        {"?kind=denied,", "kind"},
                                                        {"?limit=0", "limit"},
                                                        {"?limit=513", "limit"},
                                                        {"?limit=ten", "limit"},
                                                        {"?since=-5", "since"},
                                                        {"?since=1.5", "since"},
                                                        {"?key=sk-x", "unknown parameter 'key'"}}) {
    CAPTURE(query);
    auto result = proxy.get("/agproxy/events" + query);
    REQUIRE(result);
    CHECK(result->status == 400);
    const json body = json::parse(result->body);
    CHECK(body["error"]["code"] == "invalid_parameter");
    CHECK(contains(body["error"]["message"], named));
  }
  auto post = proxy.client().Post("/agproxy/status", Observed::auth(), "{}", "application/json");
  REQUIRE(post);
  CHECK(post->status == 405);
  auto unknown = proxy.get("/agproxy/nothing");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
  // The key is needed whenever auth is on, as everywhere.
  auto without = proxy.client().Get("/agproxy/status");
  REQUIRE(without);
  CHECK(without->status == 401);
  auto metrics = proxy.client().Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 401);
}

TEST_CASE("observe: rate-limited and refused provider keys show in events and status") {
  FakeProvider provider;
  Observed proxy(
      json{{"upstreams",
            json::array({upstream("fake", provider.url(),
                                  {k_limited_canary, k_refused_canary, k_provider_canary})})}});
  auto answered = proxy.chat();
  REQUIRE(answered);
  CHECK(answered->status == 200); // rotated past both
  const json events = proxy.events();
  REQUIRE(events["events"].size() == 2);
  const json& refused = events["events"][0];
  CHECK(refused["kind"] == "upstream_error");
  CHECK(refused["reason"] == "key_refused");
  CHECK(refused["status"] == 401);
  CHECK(refused["origin"] == "provider");
  CHECK(refused["upstream"] == "fake");
  CHECK(refused["model"] == "gpt-4o");
  const json& limited = events["events"][1];
  CHECK(limited["kind"] == "rate_limited");
  CHECK(limited["reason"] == "provider_rate_limited");
  CHECK(limited["status"] == 429);
  CHECK(limited["retry_after"] == 2);
  CHECK(limited["provider_key_last4"] ==
        std::string(k_limited_canary).substr(std::string(k_limited_canary).size() - 4));

  json status = proxy.status();
  CHECK(status["auth_mode"] == "strict");
  CHECK(status["config"]["path"] == proxy.dir.file("c.json"));
  REQUIRE(status["upstreams"].size() == 1);
  const json& fake = status["upstreams"][0];
  CHECK(fake["name"] == "fake");
  CHECK(fake["protocol"] == "openai");
  CHECK(fake["requests"] == 3);
  CHECK(fake["failures"] == 2);
  CHECK(fake["last_status"] == 200);
  REQUIRE(fake["keys"].size() == 3);
  CHECK(fake["keys"][0]["state"] == "resting");
  CHECK(fake["keys"][0]["why"] == "rate_limited");
  CHECK(fake["keys"][0]["last_status"] == 429);
  CHECK(fake["keys"][0]["retry_after_s"].get<int>() <= 2);
  CHECK(fake["keys"][1]["state"] == "out");
  CHECK(fake["keys"][1]["why"] == "refused");
  CHECK(fake["keys"][2]["state"] == "active");
  CHECK(fake["keys"][2]["until"].is_null());

  // With only resting keys left, the 429 is agproxy's own, and recorded as such.
  Observed resting(
      json{{"upstreams", json::array({upstream("rl", provider.url(), {k_limited_canary})})}});
  REQUIRE(resting.chat());
  auto ours = resting.chat();
  REQUIRE(ours);
  CHECK(ours->status == 429);
  const json latest = resting.events("?kind=rate_limited&limit=1")["events"][0];
  CHECK(latest["reason"] == "all_keys_resting");
  CHECK(latest["origin"] == "agproxy");
  CHECK(latest["retry_after"].get<int>() >= 1);
}

TEST_CASE("observe: /metrics after mixed traffic passes promtool and counts what happened") {
  FakeProvider provider;
  json fake = upstream("fake \"quoted\"", provider.url(), {k_limited_canary, k_provider_canary});
  fake["models"] = {"gpt-*", "scripted*"}; // served to every family, translated
  Observed proxy(json{{"upstreams", json::array({fake})}});
  auto c = proxy.client();
  REQUIRE(proxy.chat());
  REQUIRE(proxy.chat());
  REQUIRE(proxy.chat("scripted-1")); // answers with usage: counted as the provider said
  REQUIRE(
      c.Post("/v1/messages", Observed::auth(),
             R"({"model":"scripted-2","max_tokens":5,"messages":[{"role":"user","content":"x"}]})",
             "application/json"));
  REQUIRE(c.Get("/v1/models", {{"x-api-key", k_other}}));
  REQUIRE(c.Get("/v1/models"));
  REQUIRE(c.Post("/v1/messages", Observed::auth(),
                 R"({"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"x"}]})",
                 "application/json"));
  REQUIRE(c.Get("/healthz", Observed::auth()));
  auto result = proxy.get("/metrics");
  REQUIRE(result);
  CHECK(result->status == 200);
  CHECK(contains(result->get_header_value("Content-Type"), "text/plain; version=0.0.4"));
  const std::string& text = result->body;
  CHECK(contains(text, "agproxy_requests_total{family=\"openai\",status=\"200\"} 3\n"));
  CHECK(contains(text, "agproxy_requests_total{family=\"openai\",status=\"401\"} 2\n"));
  CHECK(contains(
      text, "agproxy_auth_denials_total{reason=\"invalid_api_key\",header=\"x-api-key\"} 1\n"));
  CHECK(
      contains(text, "agproxy_auth_denials_total{reason=\"missing_api_key\",header=\"none\"} 1\n"));
  CHECK(contains(text, "agproxy_translations_total{direction=\"anthropic->openai\"} 2\n"));
  CHECK(contains(text, "agproxy_upstream_requests_total{upstream=\"fake \\\"quoted\\\"\",status="
                       "\"429\"} 1\n"));
  CHECK(contains(text, "agproxy_upstream_retries_total{upstream=\"fake \\\"quoted\\\"\",cause="
                       "\"rate_limited\"} 1\n"));
  CHECK(contains(text,
                 "agproxy_upstream_keys{upstream=\"fake \\\"quoted\\\"\",state=\"resting\"} 1\n"));
  CHECK(contains(text, "agproxy_request_duration_seconds_count{family=\"openai\"} 5\n"));
  for (const char* kind : {"input", "output"}) {
    CAPTURE(kind);
    const std::string sample = "agproxy_tokens_total{upstream=\"fake \\\"quoted\\\"\",kind=\"" +
                               std::string(kind) + "\"} ";
    REQUIRE(contains(text, sample));
    CHECK(std::stoll(text.substr(text.find(sample) + sample.size())) > 0);
  }
  CHECK(contains(text, "agproxy_open_connections "));
  CHECK(contains(text, "agproxy_config_reloads_total{result=\"ok\"} 0\n"));

  TempDir dir;
  write_text(dir.file("metrics.txt"), text);
  const auto [out, code] = shell("promtool check metrics < " + dir.file("metrics.txt"));
  INFO(out);
  CHECK(code == 0);
}

TEST_CASE("observe: only this machine reads what the server saw; LAN scrapers with metrics_lan") {
  agproxy::ProxySettings settings;
  settings.api_key = k_key;
  settings.auth_mode = agproxy::AuthMode::off;
  const auto config = agproxy::make_runtime_config(
      settings, true, [](std::string_view) { return std::optional<std::string>(); });
  httplib::Request request;
  request.path = "/metrics";
  request.remote_addr = "127.0.0.1";
  CHECK(agproxy::observation_allowed(request, *config));
  request.remote_addr = "::1";
  CHECK(agproxy::observation_allowed(request, *config));
  request.remote_addr = "192.168.1.20";
  CHECK_FALSE(agproxy::observation_allowed(request, *config));

  settings.metrics_lan = true;
  const auto lan = agproxy::make_runtime_config(
      settings, true, [](std::string_view) { return std::optional<std::string>(); });
  CHECK_FALSE(agproxy::observation_allowed(request, *lan)); // no key, though auth is off
  request.headers.emplace("x-api-key", k_other);
  CHECK_FALSE(agproxy::observation_allowed(request, *lan));
  request.headers = {{"Authorization", std::string("Bearer ") + k_key}};
  CHECK(agproxy::observation_allowed(request, *lan));
  request.path = "/agproxy/events"; // never the events, whatever is set
  CHECK_FALSE(agproxy::observation_allowed(request, *lan));
  request.path = "/agproxy/status";
  CHECK_FALSE(agproxy::observation_allowed(request, *lan));
}

TEST_CASE("observe: the ring keeps the newest events, and the query selects among them") {
  agproxy::EventRing ring(3);
  const auto now = std::chrono::system_clock::now();
  for (int i = 0; i < 5; ++i) {
    agproxy::Event event;
    event.kind = i % 2 == 0 ? agproxy::EventKind::denied : agproxy::EventKind::rate_limited;
    event.time = now - std::chrono::seconds(10 * (4 - i));
    event.status = i;
    ring.record(event);
  }
  CHECK(ring.recorded() == 5);
  const auto all = ring.select({}, now);
  REQUIRE(all.size() == 3);
  CHECK(all[0].status == 4);
  CHECK(all[2].status == 2);
  agproxy::EventQuery denied;
  denied.kinds = {agproxy::EventKind::denied};
  CHECK(ring.select(denied, now).size() == 2);
  agproxy::EventQuery recent;
  recent.since = std::chrono::seconds(15);
  CHECK(ring.select(recent, now).size() == 2);
  agproxy::EventQuery one;
  one.limit = 1;
  CHECK(ring.select(one, now).size() == 1);
}

TEST_CASE("observe: what a provider's 429 says decides the key's rest, and is recorded") {
  FakeProvider provider;
  auto gemini = [&](const std::string& name, std::vector<std::string> keys) {
    json entry = upstream(name, provider.url(), std::move(keys));
    entry["protocol"] = "gemini";
    entry["models"] = {name + "-*"};
    return entry;
  };
  Observed proxy(json{
      {"upstreams",
       json::array(
           {gemini("g", {"gday-key-0001", "gmin-key-0002", "ok-key-0003"}),
            gemini("inv", {"ginv-key-0004", "ok-key-0005"}), gemini("solo", {"gmin-key-0006"}),
            gemini("four", {"gmin-key-0007", "gmin-key-0008", "gmin-key-0009", "ok-key-0010"})})}});
  const std::string body = R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})";
  auto ask = [&](const std::string& model) {
    return proxy.client().Post("/v1beta/models/" + model + ":generateContent", Observed::auth(),
                               body, "application/json");
  };
  auto answered = ask("g-1");
  REQUIRE(answered);
  CHECK(answered->status == 200);
  json g = proxy.status()["upstreams"][0];
  CHECK(g["keys"][0]["why"] == "quota");
  CHECK(g["keys"][0]["retry_after_s"].get<int>() > 3500); // RetryInfo 3600s
  CHECK(g["keys"][1]["why"] == "rate_limited");
  CHECK(g["keys"][1]["retry_after_s"].get<int>() <= 7); // RetryInfo 7s, no Retry-After
  CHECK(g["keys"][2]["state"] == "active");
  const json events = proxy.events("?kind=rate_limited")["events"];
  REQUIRE(events.size() == 2);
  CHECK(events[1]["limit"]["scope"] == "quota");
  CHECK(contains(events[1]["limit"]["detail"], "PerDay"));
  CHECK(events[1]["retry_after"] == 3600);
  CHECK(events[0]["limit"]["scope"] == "rate");
  CHECK(events[0]["retry_after"] == 7);

  // Gemini answers a bad key with a 400: the key is taken out and the next one answers.
  answered = ask("inv-1");
  REQUIRE(answered);
  CHECK(answered->status == 200);
  const json inv = proxy.status()["upstreams"][1];
  CHECK(inv["keys"][0]["state"] == "out");
  CHECK(inv["keys"][0]["last_status"] == 400);
  CHECK(proxy.events("?kind=upstream_error&limit=1")["events"][0]["reason"] == "key_refused");

  // One key resting on a per-minute limit: agproxy's own 429 says when it lifts.
  auto solo = ask("solo-1");
  REQUIRE(solo);
  CHECK(solo->status == 429);
  CHECK(solo->get_header_value("x-agproxy-reason") == "all_keys_resting");
  const int wait = std::stoi(solo->get_header_value("Retry-After"));
  CHECK(wait >= 6);
  CHECK(wait <= 7);
  // Three attempts used up with a key left: the provider's own 429 is passed on, with the delay
  // its body gave as Retry-After.
  auto four = ask("four-1");
  REQUIRE(four);
  CHECK(four->status == 429);
  CHECK(four->get_header_value("Retry-After") == "7");
  CHECK(json::parse(four->body)["error"]["status"] == "RESOURCE_EXHAUSTED");
  // The three tries are one request's; the last one's answer is the one the client got.
  const json tries = proxy.events("?kind=rate_limited&limit=3")["events"];
  REQUIRE(tries.size() == 3);
  CHECK(tries[0]["request"] == tries[1]["request"]);
  CHECK(tries[1]["request"] == tries[2]["request"]);
  CHECK(tries[0]["passed_on"] == true);
  CHECK(tries[1]["passed_on"] == false);
  CHECK(tries[2]["passed_on"] == false);
  CHECK(tries[0]["request"] != events[0]["request"]);
}

TEST_CASE("observe: config reloads are counted by result and the last one is in the status") {
  Observed proxy(json::object());
  CHECK(proxy.status()["config"]["last_reload"].is_null());
  // A new key saved to the file: the next request is checked against it.
  const std::string other = std::string("Bearer ") + k_other;
  write_text(proxy.dir.file("c.json"),
             json{{"proxy", {{"auth_mode", "strict"}, {"api_key", k_other}}}}.dump());
  REQUIRE(proxy.server->wait_for_log("config reloaded"));
  auto status = proxy.client().Get("/agproxy/status", {{"Authorization", other}});
  REQUIRE(status);
  REQUIRE(status->status == 200);
  json reload = json::parse(status->body)["config"]["last_reload"];
  CHECK(reload["result"] == "ok");
  CHECK(reload["error"].is_null());
  // A file that no longer parses is refused, and said so.
  write_text(proxy.dir.file("c.json"), "{\"proxy\": {\"port\": ");
  REQUIRE(proxy.server->wait_for_log("config reload refused"));
  status = proxy.client().Get("/agproxy/status", {{"Authorization", other}});
  REQUIRE(status);
  reload = json::parse(status->body)["config"]["last_reload"];
  CHECK(reload["result"] == "error");
  CHECK_FALSE(reload["error"].get<std::string>().empty());
  auto metrics = proxy.client().Get("/metrics", {{"Authorization", other}});
  REQUIRE(metrics);
  CHECK(contains(metrics->body, "agproxy_config_reloads_total{result=\"ok\"} 1\n"));
  CHECK(contains(metrics->body, "agproxy_config_reloads_total{result=\"error\"} 1\n"));
}

TEST_CASE("observe: the guard counts keys tried, not requests without a key") {
  Observed proxy(json{{"auth_throttle", {{"max_failures", 2}, {"include_loopback", true}}}});
  auto c = proxy.client();
  for (int i = 0; i < 3; ++i) { // no key: nothing guessed, so never the guard's 429
    auto keyless = c.Get("/healthz");
    REQUIRE(keyless);
    CHECK(keyless->status == 401);
  }
  CHECK(proxy.status()["guard"]["clients"].empty());
  // Wrong keys from 127.0.0.2: two count, the third meets the guard (this address is not blocked).
  const std::string wrong =
      "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: " + std::string(k_other) +
      "\r\nConnection: close\r\n\r\n";
  for (int i = 0; i < 2; ++i) {
    CHECK(contains(raw_exchange(proxy.server->port(), wrong, std::chrono::seconds(3), "127.0.0.2"),
                   "HTTP/1.1 401"));
  }
  const std::string blocked =
      raw_exchange(proxy.server->port(), wrong, std::chrono::seconds(3), "127.0.0.2");
  CHECK(contains(blocked, "HTTP/1.1 429"));
  CHECK(contains(blocked, "x-agproxy-reason: too_many_auth_failures"));
  const json clients = proxy.status()["guard"]["clients"];
  REQUIRE(clients.size() == 1);
  CHECK(clients[0]["client"] == "127.0.0.2");
  CHECK(clients[0]["blocked"] == true);
  CHECK(clients[0]["failures"] == 2);
  const json throttled = proxy.events("?kind=throttled")["events"];
  REQUIRE(throttled.size() == 1);
  CHECK(throttled[0]["client"] == "127.0.0.2");
  CHECK(throttled[0]["retry_after"].get<int>() >= 1);
  CHECK(throttled[0]["failures"] == 2);
}

TEST_CASE("observe: a stream passed through untranslated counts the tokens its events report") {
  FakeProvider provider;
  json anthropic = upstream("claude", provider.url(), {k_provider_canary});
  anthropic["protocol"] = "anthropic";
  json gemini = upstream("gem", provider.url(), {k_provider_canary});
  gemini["protocol"] = "gemini";
  Observed proxy(json{{"upstreams", json::array({anthropic, gemini})}});
  auto c = proxy.client();
  auto streamed = c.Post(
      "/v1/messages", Observed::auth(),
      R"({"model":"scripted-s","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"count me"}]})",
      "application/json");
  REQUIRE(streamed);
  CHECK(streamed->status == 200);
  CHECK(contains(streamed->body, "message_delta"));
  auto gemini_stream =
      c.Post("/v1beta/models/scripted-g:streamGenerateContent?alt=sse", Observed::auth(),
             R"({"contents":[{"role":"user","parts":[{"text":"count me"}]}]})", "application/json");
  REQUIRE(gemini_stream);
  CHECK(gemini_stream->status == 200);
  auto metrics = proxy.get("/metrics");
  REQUIRE(metrics);
  for (const char* name : {"claude", "gem"}) {
    for (const char* kind : {"input", "output"}) {
      CAPTURE(name);
      CAPTURE(kind);
      const std::string sample = "agproxy_tokens_total{upstream=\"" + std::string(name) +
                                 "\",kind=\"" + std::string(kind) + "\"} ";
      REQUIRE(contains(metrics->body, sample));
      CHECK(std::stoll(metrics->body.substr(metrics->body.find(sample) + sample.size())) > 0);
    }
  }
}

TEST_CASE("observe: each family's stream events report their tokens where the family puts them") {
  using agproxy::family_of;
  using agproxy::Protocol;
  auto usage = [](Protocol protocol, const char* event) {
    return family_of(protocol).read_event_usage(json::parse(event));
  };
  auto chat =
      usage(Protocol::openai, R"({"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,)"
                              R"("prompt_tokens_details":{"cached_tokens":4},)"
                              R"("completion_tokens_details":{"reasoning_tokens":3}}})");
  REQUIRE(chat);
  CHECK(chat->input == 11);
  CHECK(chat->output == 7);
  CHECK(chat->cached == 4);
  CHECK(chat->reasoning == 3);
  CHECK_FALSE(usage(Protocol::openai, R"({"choices":[{"delta":{"content":"usage"}}]})"));
  auto responses = usage(Protocol::openai_responses,
                         R"({"type":"response.completed","response":{"usage":{"input_tokens":20,)"
                         R"("output_tokens":9,"output_tokens_details":{"reasoning_tokens":5}}}})");
  REQUIRE(responses);
  CHECK(responses->input == 20);
  CHECK(responses->reasoning == 5);
  CHECK_FALSE(usage(Protocol::openai_responses, R"({"type":"response.output_text.delta"})"));
  auto start =
      usage(Protocol::anthropic, R"({"type":"message_start","message":{"usage":{"input_tokens":30,)"
                                 R"("cache_read_input_tokens":10,"output_tokens":1}}})");
  REQUIRE(start);
  CHECK(start->input == 40); // cache reads counted in, as everywhere in agproxy
  CHECK(start->cached == 10);
  auto delta =
      usage(Protocol::anthropic, R"({"type":"message_delta","usage":{"output_tokens":12}})");
  REQUIRE(delta);
  CHECK(delta->output == 12);
  auto gemini = usage(Protocol::gemini, R"({"candidates":[],"usageMetadata":{"promptTokenCount":8,)"
                                        R"("candidatesTokenCount":6,"thoughtsTokenCount":2}})");
  REQUIRE(gemini);
  CHECK(gemini->input == 8);
  CHECK(gemini->output == 8); // thoughts are output
  CHECK(gemini->reasoning == 2);
}
