// `agproxy doctor 429` scenarios: the real binary against a real `agproxy serve` and the fake
// provider, asserting the exit code, the verdict and each check's status; and the doctor's reading
// of what the server saw, unit by unit.
#include "diag/doctor.hpp"
#include "diag/doctor/context.hpp"
#include "diag/doctor/observed.hpp"
#include "tests/fake_provider.hpp"
#include "tests/support.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <thread>

using namespace agproxy::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Provider keys that answer 429 (the fake provider's "rl-" keys) besides k_limited_canary.
constexpr const char* k_limited_keys[] = {
    "rl-doctor-429-key-one-1a2b", "rl-doctor-429-key-two-3c4d", "rl-doctor-429-key-three-5e6f"};

struct Outcome {
  int exit_code;
  json report;
  std::string text;

  const json& check(const std::string& id) const {
    for (const json& check : report["checks"]) {
      if (check["id"] == id) {
        return check;
      }
    }
    static const json missing = {
        {"status", "(missing)"}, {"summary", ""}, {"detail", ""}, {"fix", ""}};
    return missing;
  }
  std::string status(const std::string& id) const { return check(id)["status"]; }
  std::string summary(const std::string& id) const { return check(id)["summary"]; }
  std::string detail(const std::string& id) const { return check(id)["detail"]; }
  std::string fix(const std::string& id) const { return check(id)["fix"]; }
  json verdict() const { return report["verdict"]; }
};

// Check the JSON shape of DESIGN §4 with the 429 walk's ids, and that no key appears whole.
void check_shape(const Outcome& outcome, const std::string& raw) {
  REQUIRE_MESSAGE(outcome.report.is_object(), raw);
  CHECK(outcome.report.size() == 5);
  for (const char* field : {"target", "config", "effective_auth_mode", "checks", "verdict"}) {
    CHECK(outcome.report.contains(field));
  }
  REQUIRE(outcome.report["checks"].size() == std::size(agproxy::diag::k_check_ids_429));
  for (size_t i = 0; i < std::size(agproxy::diag::k_check_ids_429); ++i) {
    const json& check = outcome.report["checks"][i];
    CHECK(check["id"] == agproxy::diag::k_check_ids_429[i]);
    CHECK(check.size() == 5);
    const std::string status = check["status"];
    CHECK((status == "pass" || status == "warn" || status == "fail" || status == "skip"));
  }
  for (const char* secret : k_limited_keys) {
    CHECK_FALSE(contains(raw + outcome.text, secret));
  }
  CHECK_FALSE(contains(outcome.text, "\033["));
}

// Run `doctor 429` twice, as a script (--json) and as a person (text, -v); when `timed`, the
// judgement depends on keys resting for 2 s, so the script's run goes first and alone counts.
Outcome doctor(std::vector<std::string> args, bool timed = false) {
  const Env env = {{"HOME", "/nonexistent-agproxy-home"}};
  std::vector<std::string> json_args = {"doctor", "429", "--json"};
  json_args.insert(json_args.end(), args.begin(), args.end());
  const RunResult as_json = run_agproxy(json_args, env);
  std::vector<std::string> text_args = {"doctor", "429", "-v"};
  text_args.insert(text_args.end(), args.begin(), args.end());
  const RunResult as_text = run_agproxy(text_args, env);
  if (!timed) {
    CHECK(as_json.exit_code == as_text.exit_code);
  }
  Outcome outcome{as_json.exit_code, json::parse(as_json.out, nullptr, false), as_text.out};
  check_shape(outcome, as_json.out + as_json.err + as_text.err);
  return outcome;
}

json upstream(const std::string& name, const std::string& url, std::vector<std::string> keys,
              std::vector<std::string> models = {}, const std::string& protocol = "openai") {
  json entry = {{"name", name}, {"protocol", protocol}, {"base_url", url}, {"api_keys", keys}};
  if (!models.empty()) {
    entry["models"] = models;
  }
  return entry;
}

// A proxy in strict mode with the test key and these settings, and a client for it.
struct Proxy {
  TempDir dir;
  std::string config;
  std::unique_ptr<ServeProcess> server;
  std::string url;

  explicit Proxy(const json& proxy) {
    json settings = {{"auth_mode", "strict"}, {"api_key", k_key}};
    settings.update(proxy);
    config = dir.file("config.json");
    write_text(config, json{{"proxy", settings}}.dump());
    server = std::make_unique<ServeProcess>(std::vector<std::string>{"--config", config}, Env{});
    url = "http://127.0.0.1:" + std::to_string(server->port());
  }
  std::vector<std::string> args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> out = {"--config", config, "--url", url};
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  }
  // POST a chat request for `model` as the OpenAI Python SDK; return the status.
  int chat(const std::string& model = "gpt-4o") const {
    httplib::Client client("127.0.0.1", server->port());
    client.set_read_timeout(10, 0);
    auto result = client.Post(
        "/v1/chat/completions",
        {{"Authorization", std::string("Bearer ") + k_key}, {"User-Agent", "OpenAI/Python 1.99.1"}},
        json{{"model", model}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}.dump(),
        "application/json");
    return result ? result->status : 0;
  }
};

// Send `count` requests with a wrong key to `port` from the address `from`, as Claude Code.
void deny(int port, const char* from, int count) {
  const std::string request =
      "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
      "Bearer " +
      std::string(k_other) +
      "\r\nUser-Agent: claude-cli/2.1.332 (external, cli)\r\nConnection: close\r\n\r\n";
  for (int i = 0; i < count; ++i) {
    REQUIRE(contains(raw_exchange(port, request, 3s, from), "HTTP/1.1 4"));
  }
}

// A server on an ephemeral loopback port that answers /healthz as agproxy and has no /agproxy/*
// (an older agproxy, or Antigravity Tools).
class OlderProxy {
public:
  OlderProxy() {
    m_server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
      response.set_content(R"({"status":"ok","version":"0.0.9","auth_mode":"off",)"
                           R"("api_key_configured":true})",
                           "application/json");
    });
    m_server.Get(".*", [](const httplib::Request&, httplib::Response& response) {
      response.status = 404;
      response.set_content(R"({"error":{"message":"not found"}})", "application/json");
    });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) {
      std::this_thread::sleep_for(1ms);
    }
  }
  ~OlderProxy() {
    m_server.stop();
    m_thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

private:
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
};

} // namespace

TEST_CASE("doctor 429: a healthy proxy passes every check, the probe included (exit 0)") {
  FakeProvider provider;
  Proxy proxy(json{{"upstreams", json::array({upstream("fake", provider.url(), {k_provider_canary},
                                                       {"gpt-*"})})},
                   {"auth_throttle", {{"max_failures", 2}, {"include_loopback", true}}}});
  REQUIRE(proxy.chat() == 200);
  const Outcome out = doctor(proxy.args({"--model", "gpt-4o", "--probe-model", "gpt-4o"}));
  CHECK(out.exit_code == 0);
  CHECK(out.verdict().is_null());
  for (const char* id : {"config.load", "server.reachable", "throttle.guard", "upstream.route",
                         "upstream.quota", "upstream.keys", "client.retry", "upstream.probe"}) {
    CAPTURE(id);
    CHECK(out.status(id) == "pass");
  }
  CHECK(contains(out.summary("throttle.guard"), "blocks no client"));
  CHECK(contains(out.summary("upstream.route"),
                 "gpt-4o on the OpenAI routes goes to upstream 'fake' (its models 'gpt-*')"));
  CHECK(contains(out.detail("upstream.route"), "No other upstream serves gpt-4o"));
  CHECK(contains(out.summary("upstream.keys"), "'fake': 1 active, 0 resting, 0 out"));
  CHECK(contains(out.summary("upstream.probe"), ": 200 (upstream 'fake', key …"));
  CHECK(contains(out.text, "No check fails"));
  CHECK(contains(out.text, "reproduce: curl -i '" + proxy.url + "/agproxy/status'"));
  CHECK(out.report["effective_auth_mode"] == "strict");

  // Without a model or a probe: nothing to route or send, said so.
  const Outcome bare = doctor(proxy.args());
  CHECK(bare.exit_code == 0);
  CHECK(bare.status("upstream.route") == "skip");
  CHECK(contains(bare.summary("upstream.route"), "pass --model M"));
  CHECK(bare.status("upstream.probe") == "skip");
  CHECK(contains(bare.text, "name its model (--model M)"));
}

TEST_CASE("doctor 429: the brute-force guard blocks another client") {
  Proxy proxy(json{{"auth_throttle", {{"max_failures", 2}, {"include_loopback", true}}}});
  deny(proxy.server->port(), "127.0.0.2", 3); // two failures, then the guard's 429
  const Outcome out = doctor(proxy.args());
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "throttle.guard");
  CHECK(contains(out.summary("throttle.guard"),
                 "agproxy's brute-force guard blocks Claude Code 2.1.332 at 127.0.0.2: 2 "
                 "failed keys; the block lifts at "));
  CHECK(contains(out.summary("throttle.guard"), " s)"));
  CHECK(contains(out.detail("throttle.guard"), "a key …3210 sha256:"));
  CHECK(contains(out.detail("throttle.guard"), "The guard has refused 1 of its requests"));
  CHECK(contains(out.fix("throttle.guard"), "agproxy doctor 401 --config '" + proxy.config + "'"));
  CHECK(contains(out.fix("throttle.guard"), "proxy.auth_throttle.max_failures (now 2)"));
  CHECK(contains(out.fix("throttle.guard"), "proxy.auth_throttle.include_loopback to false"));
  CHECK(contains(out.text, "Most likely cause (throttle.guard)"));
  // The doctor's own address is not blocked: it reads the rest.
  CHECK(out.status("upstream.keys") == "pass");

  // One failure of two: a warning.
  Proxy fresh(json{{"auth_throttle", {{"max_failures", 2}, {"include_loopback", true}}}});
  deny(fresh.server->port(), "127.0.0.3", 1);
  const Outcome near = doctor(fresh.args());
  CHECK(near.exit_code == 0);
  CHECK(near.status("throttle.guard") == "warn");
  CHECK(contains(near.summary("throttle.guard"), "127.0.0.3"));
}

TEST_CASE("doctor 429: the guard blocks this machine, the doctor included") {
  Proxy proxy(json{{"auth_throttle", {{"max_failures", 2}, {"include_loopback", true}}}});
  deny(proxy.server->port(), "127.0.0.1", 2);
  const Outcome out = doctor(proxy.args());
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "throttle.guard");
  CHECK(contains(out.summary("throttle.guard"), "blocks this machine (127.0.0.1), the doctor"));
  CHECK(contains(out.summary("throttle.guard"), "the block lifts at "));
  CHECK(contains(out.detail("throttle.guard"), "2 failed keys in 60 s, loopback counted"));
  for (const char* id : {"upstream.quota", "upstream.keys", "client.retry"}) {
    CAPTURE(id);
    CHECK(out.status(id) == "skip");
    CHECK(contains(out.summary(id), "the brute-force guard refuses this machine's requests"));
  }
}

TEST_CASE("doctor 429: every key out: the 429 is agproxy's own") {
  FakeProvider provider;
  Proxy proxy(
      json{{"upstreams", json::array({upstream("fake", provider.url(), {k_refused_canary})})}});
  CHECK(proxy.chat() == 401); // the provider's refusal, passed on; the key is out for 10 min
  CHECK(proxy.chat() == 429); // agproxy's own
  const Outcome out = doctor(proxy.args());
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "upstream.keys");
  CHECK(contains(out.summary("upstream.keys"),
                 "every key of upstream 'fake' rests or is out (0 active, 0 resting, 1 out): the "
                 "429 is agproxy's own (all_keys_resting); the first key comes back at "));
  CHECK(contains(out.detail("upstream.keys"), "…0d2f out until "));
  CHECK(contains(out.detail("upstream.keys"), "refused, last answered 401"));
  CHECK(contains(out.fix("upstream.keys"),
                 "replace the key …0d2f in the api_keys of 'fake': the provider refused it (401)"));
  // The model comes from the last rate-limited request; the route has no other upstream.
  CHECK(out.status("upstream.route") == "warn");
  CHECK(contains(out.summary("upstream.route"), "gpt-4o (the model of the last rate-limited "
                                                "request, at "));
  CHECK(contains(out.summary("upstream.route"), ") on the OpenAI routes goes to upstream 'fake' "
                                                "(it serves every model of its family)"));
  CHECK(contains(out.fix("upstream.route"), "add an upstream that serves gpt-4o"));
  CHECK(out.status("upstream.quota") == "pass");
}

TEST_CASE("doctor 429: rate-limited keys all resting, and a client retrying before Retry-After") {
  FakeProvider provider;
  Proxy proxy(
      json{{"upstreams", json::array({upstream("rl", provider.url(), {k_limited_canary})})}});
  CHECK(proxy.chat() == 429); // the provider's 429 rests the only key: agproxy answers
  CHECK(proxy.chat() == 429); // at once, well before the 2 s of Retry-After
  const Outcome out = doctor(proxy.args({"--model", "gpt-4o"}), true);
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "upstream.keys");
  CHECK(contains(out.summary("upstream.keys"),
                 "every key of upstream 'rl' rests or is out (0 active, 1 resting, 0 out)"));
  CHECK(contains(out.detail("upstream.keys"), "…1b3d resting until "));
  CHECK(contains(out.detail("upstream.keys"), "rate_limited, last answered 429"));
  CHECK(out.status("upstream.quota") == "warn");
  CHECK(contains(out.summary("upstream.quota"), "the provider limits upstream 'rl': key …1b3d met "
                                                "a rate limit (Anthropic rate_limit_error)"));
  CHECK(out.status("client.retry") == "fail");
  CHECK(contains(out.summary("client.retry"), "OpenAI Python SDK 1.99.1 at 127.0.0.1 retried "));
  CHECK(contains(out.summary("client.retry"),
                 " after a 429 that said Retry-After 2 s (POST /v1/chat/completions, gpt-4o)"));
  CHECK(contains(out.detail("client.retry"), "answered 429 again"));

  // Once the key is back, the early retry is what is left to explain.
  std::this_thread::sleep_for(2500ms);
  const Outcome later = doctor(proxy.args({"--model", "gpt-4o"}));
  CHECK(later.exit_code == 1);
  CHECK(later.verdict() == "client.retry");
  CHECK(later.status("upstream.keys") == "pass");
  CHECK(later.status("upstream.quota") == "pass");
  CHECK(contains(later.summary("upstream.quota"), "lifted since"));
  CHECK(contains(later.fix("client.retry"), "wait as Retry-After says (2 s here)"));
}

TEST_CASE("doctor 429: a client that waits as Retry-After says passes client.retry") {
  FakeProvider provider;
  Proxy proxy(
      json{{"upstreams", json::array({upstream("rl", provider.url(), {k_limited_canary})})}});
  CHECK(proxy.chat() == 429);
  std::this_thread::sleep_for(2200ms);
  CHECK(proxy.chat() == 429);
  const Outcome out = doctor(proxy.args({"--since", "1m"}), true);
  CHECK(out.status("client.retry") == "pass");
  CHECK(contains(
      out.summary("client.retry"),
      "no client retried sooner than its 429's Retry-After said (2 such 429s in the last 1m)"));
}

TEST_CASE("doctor 429: a provider's 429 passed on to the client") {
  FakeProvider provider;
  // Four limited keys: agproxy tries three, and passes the third 429 on while one key is left.
  Proxy proxy(json{{"upstreams", json::array({upstream("many", provider.url(),
                                                       {k_limited_keys[0], k_limited_keys[1],
                                                        k_limited_keys[2], k_limited_canary})})}});
  CHECK(proxy.chat() == 429);
  const Outcome out = doctor(proxy.args({"--model", "gpt-4o"}));
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "upstream.quota");
  CHECK(
      contains(out.summary("upstream.quota"),
               "the provider rate-limits upstream 'many' and its 429 reached the client: keys "
               "…1a2b, …3c4d, …5e6f all answered 429 (a rate limit: Anthropic rate_limit_error)"));
  CHECK(contains(out.detail("upstream.quota"),
                 "agproxy tried 3 keys for the request of OpenAI Python SDK 1.99.1 at 127.0.0.1"));
  CHECK(contains(out.detail("upstream.quota"), "Retry-After 2 s"));
  CHECK(contains(out.fix("upstream.quota"), "add keys from other projects or accounts to the "
                                            "api_keys of 'many'"));
  CHECK(out.status("upstream.route") == "pass");
  CHECK(out.status("client.retry") == "pass");
}

TEST_CASE("doctor 429: the route, with another upstream shadowed and with none") {
  FakeProvider provider;
  SUBCASE("another upstream serves the model but comes second") {
    Proxy proxy(
        json{{"upstreams",
              json::array({upstream("first", provider.url(), {k_refused_canary}, {"gpt-*"}),
                           upstream("second", provider.url(), {k_provider_canary}, {"gpt-4o"})})}});
    proxy.chat();
    CHECK(proxy.chat() == 429);
    const Outcome out = doctor(proxy.args({"--model", "gpt-4o"}));
    CHECK(out.exit_code == 1);
    CHECK(out.verdict() == "upstream.route");
    CHECK(contains(out.summary("upstream.route"),
                   "goes to upstream 'first' (its models 'gpt-*'), whose keys all rest or are "
                   "out; 'second' also serves it but never gets it while 'first' comes first"));
    CHECK(contains(out.fix("upstream.route"), "move 'second' above 'first' in proxy.upstreams"));
    CHECK(out.status("upstream.keys") == "fail");
  }
  SUBCASE("no other upstream serves it: map it to one") {
    Proxy proxy(json{
        {"upstreams", json::array({upstream("first", provider.url(), {k_refused_canary}, {"gpt-*"}),
                                   upstream("gem", provider.url(), {k_provider_canary},
                                            {"gemini-2.5-flash"}, "gemini")})}});
    proxy.chat();
    CHECK(proxy.chat() == 429);
    const Outcome out = doctor(proxy.args({"--model", "gpt-4o"}));
    CHECK(out.verdict() == "upstream.keys");
    CHECK(out.status("upstream.route") == "warn");
    CHECK(contains(out.summary("upstream.route"), "and no other upstream serves it"));
    CHECK(contains(out.fix("upstream.route"),
                   "map gpt-4o to another upstream: add \"model_map\": "
                   "{\"gpt-4o\":\"gemini-2.5-flash\"} to 'gem' in proxy.upstreams, and move "
                   "'gem' above 'first'"));
  }
}

TEST_CASE("doctor 429: upstream.probe reports agproxy's own 429 and the provider's answer") {
  FakeProvider provider;
  Proxy proxy(json{
      {"upstreams", json::array({upstream("fake", provider.url(), {k_refused_canary}, {"gpt-*"}),
                                 upstream("ok", provider.url(), {k_provider_canary}, {"ok-*"})})}});
  proxy.chat();
  const Outcome out = doctor(proxy.args({"--probe-model", "gpt-4o", "--model", "ok-model"}));
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "upstream.probe"); // the route of ok-model is fine; the probe's is not
  CHECK(contains(out.summary("upstream.probe"),
                 "one request for gpt-4o through the proxy: 429 from agproxy itself: every key of "
                 "the upstream rests"));
  CHECK(contains(out.text, "> POST " + proxy.url + "/v1/chat/completions"));
  const Outcome good = doctor(proxy.args({"--probe-model", "ok-model", "--model", "ok-model"}));
  CHECK(good.status("upstream.probe") == "pass");
  CHECK(contains(good.summary("upstream.probe"), "200 (upstream 'ok', key …"));
}

TEST_CASE("doctor 429: a server without /agproxy/* gets its checks skipped, with the reason") {
  OlderProxy older;
  const Outcome out = doctor({"--url", older.url()});
  CHECK(out.exit_code == 0);
  for (const char* id : {"throttle.guard", "upstream.quota", "upstream.keys", "client.retry"}) {
    CAPTURE(id);
    CHECK(out.status(id) == "skip");
    CHECK(contains(out.summary(id), "the server does not serve /agproxy/status (Antigravity "
                                    "Tools, or an agproxy older than its record of requests)"));
  }
}

TEST_CASE("doctor 429: nothing listening is exit 3; bad arguments are usage errors") {
  const RunResult closed =
      run_agproxy({"doctor", "429", "--json", "--url", "http://127.0.0.1:1"}, {});
  CHECK(closed.exit_code == 3);
  const json report = json::parse(closed.out);
  CHECK(report["verdict"] == "server.reachable");
  CHECK(report["checks"][2]["status"] == "skip");

  for (const char* since : {"0", "10x", "m", "-5m", "1.5h"}) {
    CAPTURE(since);
    const RunResult bad = run_agproxy({"doctor", "429", "--since", since}, {});
    CHECK(bad.exit_code == 2);
    CHECK(contains(bad.err, "agproxy: error: --since: '"));
  }
  CHECK(run_agproxy({"doctor", "429", "--timeout", "0"}, {}).exit_code == 2);
  CHECK(run_agproxy({"doctor", "429", "-H", "x: y"}, {}).exit_code == 2);
  const RunResult help = run_agproxy({"doctor", "--help"}, {});
  CHECK(contains(help.out, "topics: 401, 429"));
}

TEST_CASE("doctor 429 units: durations, server times, and events grouped into requests") {
  using namespace agproxy::diag::doctor;
  CHECK(parse_duration("30s") == 30);
  CHECK(parse_duration("10m") == 600);
  CHECK(parse_duration("2h") == 7200);
  CHECK(parse_duration("1d") == 86400);
  CHECK(parse_duration("45") == 45);
  CHECK_FALSE(parse_duration("0s"));
  CHECK_FALSE(parse_duration("5w"));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("99999999999d"));

  const auto time = parse_utc("2026-12-03T10:59:58.123Z");
  REQUIRE(time);
  CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(time->time_since_epoch()).count() ==
        1796295598123LL);
  CHECK(parse_utc("2026-12-03T10:59:58Z"));
  CHECK_FALSE(parse_utc("2026-13-03T10:59:58Z"));
  CHECK_FALSE(parse_utc("yesterday"));

  const SystemTime t0 = *time;
  const auto event = [&](int ms, const std::string& kind, const std::string& reason,
                         const std::string& key, bool provider, int status) {
    EventSeen seen;
    seen.time = t0 + std::chrono::milliseconds(ms);
    seen.kind = kind;
    seen.reason = reason;
    seen.client = "127.0.0.1";
    seen.method = "POST";
    seen.path = "/v1/chat/completions";
    seen.model = "gpt-4o";
    seen.upstream = "u";
    seen.provider_key_last4 = key;
    seen.from_provider = provider;
    seen.status = status;
    seen.retry_after = 2;
    return seen;
  };
  StatusSeen status;
  status.upstreams.push_back({"u", "openai", {{}, {}, {}, {}}, std::nullopt}); // four keys
  const std::vector<EventSeen> events = {
      // Three keys tried, none answered: the third 429 was passed on.
      event(0, "rate_limited", "provider_rate_limited", "aaaa", true, 429),
      event(5, "rate_limited", "provider_rate_limited", "bbbb", true, 429),
      event(9, "rate_limited", "provider_rate_limited", "cccc", true, 429),
      // The next request: one key tried, then another answered (no event).
      event(3000, "rate_limited", "provider_rate_limited", "dddd", true, 429),
      // Later, every key resting: agproxy's own 429 at once.
      event(20000, "rate_limited", "all_keys_resting", "", false, 429),
      event(20100, "throttled", "too_many_auth_failures", "", false, 429),
  };
  const std::vector<RequestSeen> requests = group_requests(events, &status);
  REQUIRE(requests.size() == 4);
  CHECK(requests[0].attempts.size() == 3);
  CHECK(requests[0].passed_on);
  CHECK(requests[0].answered == 429);
  CHECK(requests[1].attempts.size() == 1);
  CHECK_FALSE(requests[1].answered);
  CHECK(requests[2].attempts.empty());
  CHECK(requests[2].own == &events[4]);
  CHECK(requests[2].answered == 429);
  CHECK(requests[3].own == &events[5]);

  // One key: its 429 and agproxy's own answer are one request.
  status.upstreams.front().keys.resize(1);
  const std::vector<EventSeen> single = {
      event(0, "rate_limited", "provider_rate_limited", "aaaa", true, 429),
      event(2, "rate_limited", "all_keys_resting", "", false, 429)};
  const std::vector<RequestSeen> one = group_requests(single, &status);
  REQUIRE(one.size() == 1);
  CHECK(one[0].attempts.size() == 1);
  CHECK(one[0].own == &single[1]);
  CHECK_FALSE(one[0].passed_on);

  CHECK(client_label("10.0.0.5", "") == "a client without a User-Agent at 10.0.0.5");
  CHECK(client_label("127.0.0.1", "claude-cli/2.1.332 (external, cli)") ==
        "Claude Code 2.1.332 at 127.0.0.1");
  CHECK(time_and_distance(t0 + 42s, t0).ends_with(" (in 42 s)"));
  CHECK(time_and_distance(t0, t0 + 3h).ends_with(" (3 h ago)"));
}

TEST_CASE("doctor 429: the provider's limit by kind: daily quota, per-minute, capacity") {
  FakeProvider provider;
  const auto gemini = [&](const std::string& key) {
    return json{{"upstreams",
                 json::array({upstream("gem", provider.url(), {key}, {"gemini-*"}, "gemini")})}};
  };
  SUBCASE("a daily quota used up is the cause, though agproxy's own 429s follow") {
    Proxy proxy(gemini("gday-doctor-429-key-7a7a"));
    CHECK(proxy.chat("gemini-2.5-pro") == 429);
    CHECK(proxy.chat("gemini-2.5-pro") == 429);
    const Outcome out = doctor(proxy.args());
    CHECK(out.exit_code == 1);
    CHECK(out.verdict() == "upstream.quota");
    CHECK(contains(out.summary("upstream.quota"),
                   "the provider's quota is used up: upstream 'gem', key …7a7a (quotaId "
                   "GenerateRequestsPerDayPerProjectPerModel-FreeTier (limit 50)); it resets at "));
    CHECK(contains(out.summary("upstream.quota"), "(in 60 min)"));
    CHECK(contains(out.fix("upstream.quota"), "add a key from another project or account to the "
                                              "api_keys of 'gem' in proxy.upstreams"));
    CHECK(contains(out.fix("upstream.quota"), "or wait until "));
    CHECK(out.status("upstream.keys") == "fail"); // resting: the quota explains it
    CHECK(contains(out.detail("upstream.keys"), "…7a7a resting until "));
    CHECK(contains(out.detail("upstream.keys"), "quota, last answered 429"));
    CHECK(contains(out.summary("upstream.route"), "gemini-2.5-pro (the model of the last "));
  }
  SUBCASE("an OpenAI quota that names no reset") {
    Proxy proxy(json{{"upstreams", json::array({upstream("oai", provider.url(),
                                                         {"oquota-doctor-429-key-8b8b"})})}});
    CHECK(proxy.chat() == 429);
    const Outcome out = doctor(proxy.args({"--model", "gpt-4o"}));
    CHECK(out.verdict() == "upstream.quota");
    CHECK(contains(out.summary("upstream.quota"),
                   "key …8b8b (OpenAI insufficient_quota); it did not say when it resets "
                   "(agproxy tries again at "));
  }
  SUBCASE("a per-minute limit rests the key; the resting keys explain the 429") {
    Proxy proxy(gemini("gmin-doctor-429-key-9c9c"));
    CHECK(proxy.chat("gemini-2.5-pro") == 429);
    const Outcome out = doctor(proxy.args({"--model", "gemini-2.5-pro"}), true);
    CHECK(out.verdict() == "upstream.keys");
    CHECK(out.status("upstream.quota") == "warn");
    CHECK(
        contains(out.summary("upstream.quota"),
                 "the provider limits upstream 'gem': key …9c9c met a rate limit (quotaId "
                 "GenerateRequestsPerMinutePerProjectPerModel-FreeTier (limit 15)); it lifts at "));
    CHECK(contains(out.summary("upstream.quota"), "(in 7 s)"));
  }
  SUBCASE("no capacity for the model: the provider's, not the keys'") {
    Proxy proxy(gemini("gcap-doctor-429-key-0d0d"));
    CHECK(proxy.chat("gemini-2.5-pro") == 429);
    const Outcome out = doctor(proxy.args());
    CHECK(out.verdict() == "upstream.quota");
    CHECK(contains(out.summary("upstream.quota"),
                   "the provider has no capacity for gemini-2.5-pro right now (upstream 'gem', "
                   "key …0d0d: Gemini MODEL_CAPACITY_EXHAUSTED"));
    CHECK(contains(out.fix("upstream.quota"), "retry after "));
    CHECK(contains(out.fix("upstream.quota"), "or ask for another model"));
  }
  SUBCASE("Anthropic overloaded (529), passed on") {
    Proxy proxy(json{
        {"upstreams", json::array({upstream("ant", provider.url(), {"aover-doctor-429-key-1e1e"},
                                            {"claude-*"}, "anthropic")})}});
    CHECK(proxy.chat("claude-sonnet-4") == 529);
    const Outcome out = doctor(proxy.args());
    CHECK(out.verdict() == "upstream.quota");
    CHECK(
        contains(out.summary("upstream.quota"),
                 "the provider has no capacity for claude-sonnet-4 right now, and its 529 reached "
                 "the client (upstream 'ant', key …1e1e: Anthropic overloaded_error"));
  }
}

TEST_CASE("doctor 429: the probe shows the provider's rate-limit headers of a 429 passed on") {
  FakeProvider provider;
  Proxy proxy(
      json{{"upstreams",
            json::array({upstream("oai", provider.url(),
                                  {"orate-doctor-429-key-a1a1", "orate-doctor-429-key-b2b2",
                                   "orate-doctor-429-key-c3c3", "orate-doctor-429-key-d4d4"})})}});
  const Outcome out = doctor(proxy.args({"--probe-model", "gpt-4o", "--model", "gpt-4o"}), true);
  CHECK(out.status("upstream.probe") == "fail");
  CHECK(contains(out.summary("upstream.probe"),
                 "one request for gpt-4o through the proxy: 429 from the provider (upstream "
                 "'oai', key …"));
  CHECK(contains(out.summary("upstream.probe"), "), Retry-After 20 s; see upstream.quota"));
  CHECK(contains(out.detail("upstream.probe"), "x-ratelimit-remaining-requests: 0"));
  CHECK(contains(out.detail("upstream.probe"), "x-ratelimit-reset-requests: 20s"));
}
