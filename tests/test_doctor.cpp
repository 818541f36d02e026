// `agproxy doctor 401` scenarios: the real server (or a stand-in on a real socket), the real doctor
// binary, asserting the exit code, the verdict and each check's status.
#include "diag/doctor.hpp"
#include "diag/report.hpp"
#include "tests/support.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <filesystem>
#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

using namespace agproxy::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* k_anthropic = "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

// A server on an ephemeral loopback port, run in a thread, for targets that are not agproxy.
class FakeServer {
public:
  explicit FakeServer(const std::function<void(httplib::Server&)>& setup) {
    setup(m_server);
    m_port = m_server.bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    while (!m_server.is_running()) {
      std::this_thread::sleep_for(1ms);
    }
  }
  ~FakeServer() {
    m_server.stop();
    m_thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

private:
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
};

struct Outcome {
  int exit_code;
  json report;
  std::string text;

  std::string status(const std::string& id) const {
    for (const json& check : report["checks"]) {
      if (check["id"] == id) {
        return check["status"];
      }
    }
    return "(missing)";
  }
  std::string summary(const std::string& id) const {
    for (const json& check : report["checks"]) {
      if (check["id"] == id) {
        return check["summary"];
      }
    }
    return "";
  }
  json verdict() const { return report["verdict"]; }
};

// Run the doctor twice, as a script (--json) and as a person (text), and check what both share.
Outcome doctor(std::vector<std::string> args, Env env = {}) {
  env.emplace("HOME", "/nonexistent-agproxy-home");
  std::vector<std::string> json_args = {"doctor", "401", "--json"};
  json_args.insert(json_args.end(), args.begin(), args.end());
  const RunResult as_json = run_agproxy(json_args, env);
  std::vector<std::string> text_args = {"doctor", "401", "-v"};
  text_args.insert(text_args.end(), args.begin(), args.end());
  const RunResult as_text = run_agproxy(text_args, env);
  CHECK(as_json.exit_code == as_text.exit_code);
  Outcome outcome{as_json.exit_code, json::parse(as_json.out, nullptr, false), as_text.out};
  const std::string raw = as_json.out + as_json.err;
  REQUIRE_MESSAGE(outcome.report.is_object(), raw);
  // The JSON shape of DESIGN §4, every check id in order.
  CHECK(outcome.report.size() == 5);
  for (const char* field : {"target", "config", "effective_auth_mode", "checks", "verdict"}) {
    CHECK(outcome.report.contains(field));
  }
  REQUIRE(outcome.report["checks"].size() == std::size(agproxy::diag::k_check_ids));
  for (size_t i = 0; i < std::size(agproxy::diag::k_check_ids); ++i) {
    const json& check = outcome.report["checks"][i];
    CHECK(check["id"] == agproxy::diag::k_check_ids[i]);
    CHECK(check.size() == 5);
    const std::string status = check["status"];
    CHECK((status == "pass" || status == "warn" || status == "fail" || status == "skip"));
  }
  // No key ever appears whole, in either form, nor a colour code off a terminal.
  for (const std::string& secret :
       {std::string(k_key), std::string(k_other), std::string(k_anthropic)}) {
    CHECK_FALSE(contains(as_json.out + as_text.out + as_text.err, secret));
  }
  CHECK_FALSE(contains(as_text.out, "\033["));
  return outcome;
}

// Return a socket bound to an ephemeral port on 127.0.0.1, and set `port` to that port.
int bind_loopback(int& port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return fd;
}

int unused_port() {
  int port = 0;
  close(bind_loopback(port)); // nothing listens there now
  return port;
}

struct Proxy {
  TempDir dir;
  std::string config;
  std::unique_ptr<ServeProcess> server;
  std::string url;

  Proxy(const std::string& mode, bool lan, const std::string& key, const Env& server_env = {}) {
    config = dir.file("config.json");
    write_text(config, config_json(mode, lan, key));
    server =
        std::make_unique<ServeProcess>(std::vector<std::string>{"--config", config}, server_env);
    url = "http://127.0.0.1:" + std::to_string(server->port());
  }
};

} // namespace

TEST_CASE("doctor: a healthy setup passes every check (exit 0, no verdict)") {
  Proxy proxy("all_except_health", false, k_key);
  const Outcome out = doctor({"--config", proxy.config, "--url", proxy.url, "-H",
                              std::string("Authorization: Bearer ") + k_key},
                             {{"OPENAI_API_KEY", k_key}, {"OPENAI_BASE_URL", proxy.url + "/v1"}});
  CHECK(out.exit_code == 0);
  CHECK(out.verdict().is_null());
  for (const char* id :
       {"config.load", "server.reachable", "health.probe", "auth.effective_mode", "auth.api_key",
        "auth.simple_request", "headers.conflict", "headers.malformed", "headers.foreign_key",
        "headers.key_mismatch", "env.sdk", "env.http_proxy"}) {
    CAPTURE(id);
    CHECK(out.status(id) == "pass");
  }
  CHECK(out.status("upstream.auth") == "skip");
  CHECK(out.report["effective_auth_mode"] == "all_except_health");
  CHECK(out.report["config"] == proxy.config);
  CHECK(contains(out.summary("upstream.auth"), "--probe-model"));
  CHECK(contains(out.text, "No check fails"));
  CHECK(contains(out.text, "reproduce: curl -i 'http://127.0.0.1:"));
  CHECK(contains(out.text, "$(agproxy key show --reveal --config '" + proxy.config + "')"));
}

TEST_CASE("doctor: strict mode (healthz 401) is recognised; a request without a key fails") {
  Proxy proxy("strict", false, k_key);
  const Outcome plain = doctor({"--config", proxy.config, "--url", proxy.url});
  CHECK(plain.exit_code == 0);
  CHECK(plain.status("health.probe") == "pass");
  CHECK(contains(plain.summary("health.probe"), "strict"));
  CHECK(plain.report["effective_auth_mode"] == "strict");
  CHECK(plain.status("headers.conflict") == "skip");

  const Outcome no_key = doctor(
      {"--config", proxy.config, "--url", proxy.url, "-H", "Content-Type: application/json"});
  CHECK(no_key.exit_code == 1);
  CHECK(no_key.verdict() == "auth.effective_mode");
  CHECK(contains(no_key.summary("auth.effective_mode"), "carries no key"));
}

TEST_CASE("doctor: auto with LAN access on requires a key (the seed's first pitfall)") {
  Proxy proxy("auto", true, k_key); // bound to all interfaces; probed over loopback only
  const Outcome out = doctor(
      {"--config", proxy.config, "--curl",
       "curl " + proxy.url + "/v1/chat/completions -H 'Content-Type: application/json' -d '{}'"});
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "auth.effective_mode");
  CHECK(out.status("health.probe") == "pass"); // /healthz is exempt in all_except_health
  CHECK(contains(out.text, "turning LAN access on turned auth on"));
  CHECK(contains(out.text, "allow_lan_access to false"));
  CHECK(out.report["target"] == proxy.url); // taken from the pasted command
}

TEST_CASE("doctor: an empty api_key") {
  Proxy proxy("strict", false, "");
  const Outcome out = doctor({"--config", proxy.config, "--url", proxy.url});
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "auth.api_key");
  CHECK(contains(out.text, "Proxy auth is enabled but api_key is empty; denying request"));
  CHECK(contains(out.text, "agproxy key regenerate"));
}

TEST_CASE("doctor: header mistakes") {
  Proxy proxy("all_except_health", false, k_key);
  const std::vector<std::string> base = {"--config", proxy.config, "--url", proxy.url};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return doctor(args);
  };

  SUBCASE("Bearer<key>") {
    const Outcome out = with({"-H", std::string("Authorization: Bearer") + k_key});
    CHECK(out.verdict() == "headers.malformed");
    CHECK(contains(out.summary("headers.malformed"), "glued"));
    CHECK(out.status("headers.conflict") == "pass");
    CHECK(contains(out.text, "server answers these headers with 401 (malformed_authorization)"));
  }
  SUBCASE("wrong Authorization and right x-api-key") {
    const Outcome out = with({"-H", std::string("Authorization: Bearer ") + k_other, "-H",
                              std::string("x-api-key: ") + k_key});
    CHECK(out.exit_code == 1);
    CHECK(out.verdict() == "headers.conflict");
    CHECK(contains(out.summary("headers.conflict"),
                   "Authorization is read first and its key is wrong; your correct x-api-key is "
                   "never consulted"));
    CHECK(out.status("headers.key_mismatch") == "fail");
  }
  SUBCASE("a key with a trailing newline") {
    const Outcome out = with({"-H", std::string("Authorization: Bearer ") + k_key + "\n"});
    CHECK(out.verdict() == "headers.malformed");
    CHECK(contains(out.summary("headers.malformed"), "line break"));
  }
  SUBCASE("a provider key instead of the proxy key") {
    const Outcome out = with({"-H", std::string("x-api-key: ") + k_anthropic});
    CHECK(out.verdict() == "headers.foreign_key");
    CHECK(contains(out.summary("headers.foreign_key"), "an Anthropic API key (…AAAA sha256:"));
  }
  SUBCASE("another key than the configured one") {
    const Outcome out = with({"-H", std::string("Authorization: Bearer ") + k_other});
    CHECK(out.verdict() == "headers.key_mismatch");
    CHECK(out.status("headers.foreign_key") == "pass");
    CHECK(contains(out.summary("headers.key_mismatch"), "…3210 sha256:"));
    CHECK(contains(out.summary("headers.key_mismatch"), "…cdef sha256:18164f31"));
  }
  SUBCASE("a lowercase scheme is only a warning") {
    const Outcome out = with({"-H", std::string("Authorization: bearer ") + k_key});
    CHECK(out.exit_code == 0);
    CHECK(out.status("headers.malformed") == "warn");
  }
}

TEST_CASE("doctor: nothing listening answers within the timeout, exit 3") {
  const std::string url = "http://127.0.0.1:" + std::to_string(unused_port());
  const auto start = std::chrono::steady_clock::now();
  const Outcome out = doctor({"--url", url});
  MESSAGE("two doctor runs against a closed port took "
          << std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - start)
                 .count()
          << " ms");
  CHECK(out.exit_code == 3);
  CHECK(out.verdict() == "server.reachable");
  CHECK(contains(out.summary("server.reachable"), "connection refused"));
  CHECK(out.status("health.probe") == "skip");
  CHECK(out.report["config"].is_null());
}

TEST_CASE("doctor: a port that accepts but never answers, and one that does not speak HTTP") {
  // A listening socket nobody accepts from: connects succeed (the kernel queues them), no answer.
  int silent_port = 0;
  const int silent = bind_loopback(silent_port);
  REQUIRE(listen(silent, 16) == 0);
  const std::string silent_url = "http://127.0.0.1:" + std::to_string(silent_port);
  const auto start = std::chrono::steady_clock::now();
  const RunResult timed_out =
      run_agproxy({"doctor", "401", "--json", "--timeout", "1", "--url", silent_url}, {});
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(timed_out.exit_code == 3);
  CHECK(contains(timed_out.out, "(timeout)"));
  CHECK(took < 5s);
  close(silent);

  // A server that greets in another protocol.
  int other_port = 0;
  const int other = bind_loopback(other_port);
  REQUIRE(listen(other, 16) == 0);
  std::thread greeter([other] {
    const int client = accept(other, nullptr, nullptr);
    const std::string banner = "SSH-2.0-OpenSSH_9.2\r\n";
    (void)!send(client, banner.data(), banner.size(), MSG_NOSIGNAL);
    std::this_thread::sleep_for(200ms);
    close(client);
  });
  const RunResult not_http = run_agproxy(
      {"doctor", "401", "--json", "--url", "http://127.0.0.1:" + std::to_string(other_port)}, {});
  greeter.join();
  close(other);
  CHECK(not_http.exit_code == 3);
  CHECK(contains(not_http.out, "not in HTTP"));
}

TEST_CASE("doctor: another HTTP service on the port") {
  FakeServer other([](httplib::Server& server) {
    server.Get(".*", [](const httplib::Request&, httplib::Response& response) {
      response.status = 404;
      response.set_content("<h1>Not Found</h1>", "text/html");
    });
  });
  const Outcome out = doctor({"--url", other.url()});
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "health.probe");
  CHECK(out.status("server.reachable") == "pass");
  CHECK(contains(out.summary("health.probe"), "not agproxy or Antigravity Tools"));
}

TEST_CASE("doctor: the server runs with another key than the config") {
  TempDir dir;
  write_text(dir.file("config.json"), config_json("strict", false, k_key));
  ServeProcess server({"--config", dir.file("config.json")}, {{"AGPROXY_API_KEY", k_other}});
  const Outcome out = doctor({"--config", dir.file("config.json"), "--url",
                              "http://127.0.0.1:" + std::to_string(server.port())});
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "auth.simple_request");
  CHECK(contains(out.text, "is not the key the running server checks"));
  // The key the user passes explicitly is tested instead of the config's.
  const Outcome with_key = doctor({"--config", dir.file("config.json"), "--key", k_other, "--url",
                                   "http://127.0.0.1:" + std::to_string(server.port())});
  CHECK(with_key.status("auth.simple_request") == "pass");
}

TEST_CASE("doctor: the server runs other auth settings than the config") {
  TempDir dir;
  write_text(dir.file("config.json"), config_json("auto", false, k_key));
  ServeProcess server({"--config", dir.file("config.json")}, {{"AGPROXY_AUTH_MODE", "strict"}});
  const Outcome out = doctor({"--config", dir.file("config.json"), "--url",
                              "http://127.0.0.1:" + std::to_string(server.port())});
  CHECK(out.verdict() == "auth.effective_mode");
  CHECK(contains(out.summary("auth.effective_mode"),
                 "the server enforces strict, but the config implies off"));
}

TEST_CASE("doctor: environment traps") {
  Proxy proxy("all_except_health", false, k_key);
  const std::vector<std::string> args = {"--config", proxy.config, "--url", proxy.url};
  SUBCASE("Anthropic SDK sends both headers, Authorization wrong") {
    const Outcome out = doctor(args, {{"ANTHROPIC_API_KEY", k_key},
                                      {"ANTHROPIC_AUTH_TOKEN", k_other},
                                      {"ANTHROPIC_BASE_URL", proxy.url}});
    CHECK(out.exit_code == 1);
    CHECK(out.verdict() == "env.sdk");
    CHECK(contains(out.text, "it reads Authorization first; x-api-key is ignored"));
    CHECK(contains(out.text, "send both headers"));
  }
  SUBCASE("Gemini SDK with the proxy key passes; a base URL elsewhere warns") {
    const Outcome good =
        doctor(args, {{"GEMINI_API_KEY", k_key}, {"GOOGLE_GEMINI_BASE_URL", proxy.url}});
    CHECK(good.status("env.sdk") == "pass");
    const Outcome elsewhere =
        doctor(args, {{"GEMINI_API_KEY", k_key}, {"GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:1"}});
    CHECK(elsewhere.status("env.sdk") == "warn");
    CHECK(elsewhere.exit_code == 0);
  }
  SUBCASE("HTTP_PROXY without NO_PROXY") {
    const Outcome trap = doctor(args, {{"HTTP_PROXY", "http://user:secret@127.0.0.1:9"}});
    CHECK(trap.exit_code == 1);
    CHECK(trap.verdict() == "env.http_proxy");
    CHECK(contains(trap.text, "export NO_PROXY=127.0.0.1,localhost,::1"));
    CHECK_FALSE(contains(trap.text, "secret"));
    const Outcome covered =
        doctor(args, {{"HTTP_PROXY", "http://127.0.0.1:9"}, {"NO_PROXY", "localhost,127.0.0.1"}});
    CHECK(covered.status("env.http_proxy") == "pass");
  }
}

TEST_CASE("doctor: a provider 401 through the proxy is not a proxy problem") {
  // A stand-in for a proxy whose provider refuses its key: the proxy accepts the client's key,
  // and the 401 from the chat route carries no agproxy realm.
  auto proxy_like = [](int chat_status) {
    return [chat_status](httplib::Server& server) {
      server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
        response.set_content(R"({"status":"ok","version":"0.1.0","auth_mode":"all_except_health",)"
                             R"("api_key_configured":true})",
                             "application/json");
      });
      server.Get("/v1/models", [](const httplib::Request& request, httplib::Response& response) {
        if (request.get_header_value("Authorization") == std::string("Bearer ") + k_key) {
          response.set_content(R"({"object":"list","data":[]})", "application/json");
        } else {
          response.status = 401;
          response.set_header("WWW-Authenticate", "Bearer realm=\"agproxy\"");
          response.set_header("x-agproxy-reason", "invalid_api_key");
          response.set_content("{}", "application/json");
        }
      });
      server.Post("/v1/chat/completions", [chat_status](const httplib::Request&,
                                                        httplib::Response& response) {
        response.status = chat_status;
        response.set_header("x-agproxy-upstream", "openai");
        response.set_content(chat_status == 200
                                 ? R"({"choices":[]})"
                                 : R"({"error":{"message":"Incorrect API key provided"}})",
                             "application/json");
      });
    };
  };
  TempDir dir;
  write_text(dir.file("config.json"), config_json("all_except_health", false, k_key));
  FakeServer refusing(proxy_like(401));
  const Outcome out = doctor({"--config", dir.file("config.json"), "--url", refusing.url(),
                              "--probe-model", "gpt-4o-mini"});
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "upstream.auth");
  CHECK(contains(out.summary("upstream.auth"), "not a proxy problem"));
  CHECK(contains(out.summary("upstream.auth"), "may cost a provider call"));
  CHECK(contains(out.text, "to upstream openai"));

  FakeServer accepting(proxy_like(200));
  const Outcome good = doctor({"--config", dir.file("config.json"), "--url", accepting.url(),
                               "--probe-model", "gpt-4o-mini"});
  CHECK(good.exit_code == 0);
  CHECK(good.status("upstream.auth") == "pass");
}

TEST_CASE("doctor: a broken config file") {
  Proxy proxy("strict", false, k_key);
  write_text(proxy.config, "{ \"proxy\": { \"auth_mode\": \"sometimes\" } }");
  const Outcome out = doctor({"--config", proxy.config, "--url", proxy.url});
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "config.load");
  CHECK(contains(out.text, "proxy.auth_mode: \"sometimes\" is not an auth mode"));
  CHECK(contains(out.text, "agproxy config validate --config '" + proxy.config + "'"));
}

TEST_CASE("doctor: Antigravity Tools' config and 401s") {
  TempDir home;
  std::filesystem::create_directories(home.file(".antigravity_tools"));
  write_text(home.file(".antigravity_tools/gui_config.json"), json{{"language", "en"},
                                                                   {"proxy",
                                                                    {{"enabled", true},
                                                                     {"port", 8045},
                                                                     {"api_key", k_other},
                                                                     {"auth_mode", "strict"},
                                                                     {"allow_lan_access", false}}}}
                                                                  .dump());
  // Answers like Antigravity Tools: its 401s have no challenge and an empty body.
  FakeServer antigravity([](httplib::Server& server) {
    server.Get(".*", [](const httplib::Request& request, httplib::Response& response) {
      if (request.get_header_value("Authorization") != std::string("Bearer ") + k_key) {
        response.status = 401;
        return;
      }
      response.set_content(R"({"object":"list","data":[]})", "application/json");
    });
  });
  const Outcome out = doctor({"--url", antigravity.url()}, {{"HOME", home.path()}});
  CHECK(out.status("config.load") == "pass");
  CHECK(contains(out.text,
                 "using Antigravity Tools' " + home.file(".antigravity_tools/gui_config.json")));
  CHECK(contains(out.summary("server.reachable"), "Antigravity Tools"));
  CHECK(contains(out.summary("health.probe"), "strict"));
  CHECK(out.verdict() == "auth.simple_request"); // its key (k_other) is refused: a proxy 401
  CHECK(contains(out.summary("auth.simple_request"), "the proxy refuses the configured key"));
}

TEST_CASE("doctor: usage errors exit 2") {
  CHECK(run_agproxy({"doctor", "401", "-H", "no colon"}, {}).exit_code == 2);
  CHECK(run_agproxy({"doctor", "401", "--curl", "curl -H 'open"}, {}).exit_code == 2);
  CHECK(run_agproxy({"doctor", "401", "--url", "ftp://x"}, {}).exit_code == 2);
  CHECK(run_agproxy({"doctor", "401", "--timeout", "0"}, {}).exit_code == 2);
  const RunResult topic = run_agproxy({"doctor", "40"}, {});
  CHECK(topic.exit_code == 2);
  CHECK(contains(topic.err, "agproxy doctor 401"));
}

TEST_CASE("render_text: marks, colour only when asked, the verdict last") {
  agproxy::diag::DoctorReport report;
  report.target = "http://127.0.0.1:8045";
  agproxy::diag::CheckResult ok("config.load");
  ok.status = agproxy::diag::CheckStatus::pass;
  ok.summary = "read it";
  ok.detail = "hidden unless -v";
  agproxy::diag::CheckResult bad("headers.malformed");
  bad.status = agproxy::diag::CheckStatus::fail;
  bad.summary = "'Bearer' is glued to the key";
  bad.detail = "details";
  bad.fix = "put one space after Bearer";
  agproxy::diag::CheckResult skipped("headers.conflict");
  skipped.summary = "skipped: no headers";
  report.checks = {ok, skipped, bad};
  report.verdict = "headers.malformed";

  const std::string plain = agproxy::diag::render_text(report, false, false);
  CHECK(contains(plain, "✓ config.load"));
  CHECK(contains(plain, "- headers.conflict"));
  CHECK(contains(plain, "✗ headers.malformed"));
  CHECK_FALSE(contains(plain, "hidden unless -v"));
  CHECK(contains(plain, "    fix: put one space after Bearer"));
  CHECK(contains(plain, "Most likely cause (headers.malformed): 'Bearer' is glued to the key"));
  CHECK_FALSE(contains(plain, "\033["));
  CHECK(contains(agproxy::diag::render_text(report, true, false), "\033[31m✗"));
  CHECK(contains(agproxy::diag::render_text(report, false, true), "hidden unless -v"));
  CHECK(report.exit_code() == 1);

  const json as_json = json::parse(agproxy::diag::render_json(report));
  CHECK(as_json["verdict"] == "headers.malformed");
  CHECK(as_json["config"].is_null());
  CHECK(as_json["checks"][1]["status"] == "skip");
}

TEST_CASE("doctor: an address refused by the brute-force guard") {
  TempDir dir;
  write_text(dir.file("config.json"),
             json{{"proxy",
                   {{"auth_mode", "strict"},
                    {"api_key", k_key},
                    {"auth_throttle", {{"max_failures", 2}, {"include_loopback", true}}}}}}
                 .dump());
  ServeProcess server({"--config", dir.file("config.json")}, {});
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  httplib::Client client("127.0.0.1", server.port());
  for (int i = 0; i < 2; ++i) {
    auto denied = client.Get("/v1/models", {{"Authorization", std::string("Bearer ") + k_other}});
    REQUIRE(denied);
  }
  const Outcome out = doctor({"--config", dir.file("config.json"), "--url", url});
  CHECK(out.exit_code == 1);
  CHECK(out.verdict() == "health.probe");
  CHECK(contains(out.summary("health.probe"), "after too many failed keys"));
}

TEST_CASE("doctor: env.agents names an agent's trap with its file, and passes once it is set up") {
  Proxy proxy("all_except_health", false, k_key);
  TempDir home;
  std::filesystem::create_directories(home.file(".claude"));
  // Claude Code with both keys in its settings: it sends both headers and the wrong one is read.
  write_text(home.file(".claude/settings.json"), json{{"env",
                                                       {{"ANTHROPIC_BASE_URL", proxy.url},
                                                        {"ANTHROPIC_AUTH_TOKEN", k_other},
                                                        {"ANTHROPIC_API_KEY", k_key}}}}
                                                     .dump());
  const std::vector<std::string> args = {"--config", proxy.config, "--url", proxy.url};
  const Outcome trap = doctor(args, {{"HOME", home.path()}});
  CHECK(trap.exit_code == 1);
  CHECK(trap.verdict() == "env.agents");
  CHECK(contains(trap.summary("env.agents"), "claude-code"));
  CHECK(contains(trap.summary("env.agents"), "~/.claude/settings.json"));
  CHECK(contains(trap.text, "agproxy client setup claude-code"));

  // (setup points the agent at the config's port: the one this server listens on)
  json config = json::parse(read_text(proxy.config));
  config["proxy"]["port"] = proxy.server->port();
  write_text(home.file("config.json"), config.dump());
  REQUIRE(run_agproxy({"client", "setup", "claude-code", "--config", home.file("config.json")},
                      {{"HOME", home.path()}})
              .exit_code == 0);
  const Outcome fixed = doctor(args, {{"HOME", home.path()}});
  CHECK(fixed.status("env.agents") == "pass");
  CHECK(fixed.exit_code == 0);
  // No agent set up at all: nothing to judge.
  CHECK(doctor(args).status("env.agents") == "skip");
}

TEST_CASE("doctor: env.agents traps of Codex and Gemini CLI, and --client to judge one agent") {
  Proxy proxy("all_except_health", false, k_key);
  TempDir home;
  std::filesystem::create_directories(home.file(".codex"));
  std::filesystem::create_directories(home.file(".gemini"));
  // Codex reads its key from a variable that is not set: it sends none.
  write_text(home.file(".codex/config.toml"),
             "model_provider = \"agproxy\"\n\n[model_providers.agproxy]\nname = \"agproxy\"\n"
             "base_url = \"" +
                 proxy.url + "/v1\"\nenv_key = \"AGPROXY_UNSET_KEY\"\nwire_api = \"responses\"\n");
  // Gemini CLI pointed at the proxy but still on Google login.
  write_text(home.file(".gemini/settings.json"),
             json{{"security", {{"auth", {{"selectedType", "oauth-personal"}}}}}}.dump());
  write_text(home.file(".gemini/.env"), "GEMINI_API_KEY=" + std::string(k_key) +
                                            "\nGOOGLE_GEMINI_BASE_URL=" + proxy.url + "\n");
  const std::vector<std::string> args = {"--config", proxy.config, "--url", proxy.url};
  const Outcome both = doctor(args, {{"HOME", home.path()}});
  CHECK(both.verdict() == "env.agents");
  CHECK(contains(both.text, "AGPROXY_UNSET_KEY"));
  CHECK(contains(both.text, "gemini-cli"));
  std::vector<std::string> codex_only = args;
  codex_only.insert(codex_only.end(), {"--client", "codex"});
  const Outcome codex = doctor(codex_only, {{"HOME", home.path()}});
  CHECK(codex.verdict() == "env.agents");
  CHECK(contains(codex.summary("env.agents"), "codex"));
  CHECK_FALSE(contains(codex.text, "gemini-cli"));
  std::vector<std::string> gemini_only = args;
  gemini_only.insert(gemini_only.end(), {"--client", "gemini-cli"});
  const Outcome gemini = doctor(gemini_only, {{"HOME", home.path()}});
  CHECK(gemini.verdict() == "env.agents");
  CHECK(contains(gemini.summary("env.agents"), "gemini-cli"));
  CHECK_FALSE(contains(gemini.text, "AGPROXY_UNSET_KEY"));
  // The variable set: Codex sends the proxy key.
  const Outcome set = doctor(codex_only, {{"HOME", home.path()}, {"AGPROXY_UNSET_KEY", k_key}});
  CHECK(set.status("env.agents") == "pass");
  // An agent that is not one is a usage error.
  CHECK(run_agproxy({"doctor", "401", "--client", "cursor"}, {}).exit_code == 2);
}
