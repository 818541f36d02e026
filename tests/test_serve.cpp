// `agproxy serve` end to end: the real binary on an ephemeral loopback port, real sockets.
#include "tests/support.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <doctest/doctest.h>
#include <fstream>
#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

using namespace agproxy::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Replace the file the way editors and `agproxy key` do: write a temp file, rename it over.
void replace_file(const std::string& path, const std::string& content) {
  write_text(path + ".tmp", content);
  std::rename((path + ".tmp").c_str(), path.c_str());
}

httplib::Client client(const ServeProcess& server) {
  httplib::Client c("127.0.0.1", server.port());
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(5, 0);
  return c;
}

int status_of(const ServeProcess& server, const std::string& path,
              const httplib::Headers& headers = {}) {
  auto result = client(server).Get(path.c_str(), headers);
  return result ? result->status : -1;
}

httplib::Headers bearer(const std::string& key) {
  return {{"Authorization", "Bearer " + key}};
}

long listen_overflows() {
  std::ifstream in("/proc/net/netstat");
  std::string header, values;
  while (std::getline(in, header) && std::getline(in, values)) {
    if (!header.starts_with("TcpExt:")) {
      continue;
    }
    std::istringstream names(header), numbers(values);
    std::string name, number;
    while (names >> name && numbers >> number) {
      if (name == "ListenOverflows") {
        return std::stol(number);
      }
    }
  }
  return -1;
}

struct Mode {
  const char* name;
  const char* auth_mode;
  bool lan;
  const char* effective;
  int healthz_without_key;
  int models_without_key;
};

} // namespace

TEST_CASE("serve: the seed's walkthrough in every mode") {
  const Mode modes[] = {
      {"off", "off", false, "off", 200, 200},
      {"strict", "strict", false, "strict", 401, 401},
      {"all_except_health", "all_except_health", false, "all_except_health", 200, 401},
      {"auto without LAN", "auto", false, "off", 200, 200},
      {"auto with LAN", "auto", true, "all_except_health", 200, 401},
  };
  for (const Mode& mode : modes) {
    CAPTURE(mode.name);
    TempDir dir;
    write_text(dir.file("c.json"), config_json(mode.auth_mode, mode.lan, k_key));
    ServeProcess server({"--config", dir.file("c.json")}, {});

    // Step 1: /healthz without auth headers.
    auto health = client(server).Get("/healthz");
    REQUIRE(health);
    CHECK(health->status == mode.healthz_without_key);
    if (health->status == 200) {
      const json body = json::parse(health->body);
      CHECK(body["status"] == "ok");
      CHECK(body["auth_mode"] == mode.effective);
      CHECK(body["api_key_configured"] == true);
      CHECK(body.contains("version"));
      CHECK_FALSE(contains(health->body, k_key));
    }
    // Step 2: the effective mode shows in the banner with its reason.
    CHECK(contains(server.log(), std::string("auth     ") + mode.effective));
    // Step 4: the simplest correct header passes; so does x-api-key.
    CHECK(status_of(server, "/v1/models") == mode.models_without_key);
    CHECK(status_of(server, "/v1/models", bearer(k_key)) == 200);
    CHECK(status_of(server, "/v1/models", {{"x-api-key", k_key}}) == 200);
    CHECK(status_of(server, "/v1/models", {{"x-goog-api-key", k_key}}) == 200);
    const int wrong = status_of(server, "/v1/models", bearer(k_other));
    CHECK(wrong == (std::string(mode.effective) == "off" ? 200 : 401));
    auto models = client(server).Get("/v1/models", bearer(k_key));
    REQUIRE(models);
    CHECK(json::parse(models->body)["object"] == "list");
    CHECK_FALSE(contains(server.log(), k_key));
  }
}

TEST_CASE("serve: 401 responses in each protocol's shape") {
  TempDir dir;
  write_text(dir.file("c.json"), config_json("strict", false, k_key));
  ServeProcess server({"--config", dir.file("c.json")}, {});
  auto c = client(server);

  auto openai =
      c.Post("/v1/chat/completions", {{"Authorization", std::string("Bearer ") + k_other}},
             R"({"model":"gpt-4o"})", "application/json");
  REQUIRE(openai);
  CHECK(openai->status == 401);
  CHECK(openai->get_header_value("WWW-Authenticate") == "Bearer realm=\"agproxy\"");
  CHECK(openai->get_header_value("x-agproxy-reason") == "invalid_api_key");
  const json openai_body = json::parse(openai->body);
  CHECK(openai_body["error"]["type"] == "invalid_request_error");
  CHECK(openai_body["error"]["code"] == "invalid_api_key");
  CHECK(contains(openai_body["error"]["message"], "Authorization"));

  // Wrong Authorization + right x-api-key: Authorization is read, x-api-key is ignored.
  auto anthropic = c.Post(
      "/v1/messages", {{"Authorization", std::string("Bearer ") + k_other}, {"x-api-key", k_key}},
      "{}", "application/json");
  REQUIRE(anthropic);
  CHECK(anthropic->status == 401);
  CHECK(anthropic->get_header_value("WWW-Authenticate") == "Bearer realm=\"agproxy\"");
  const json anthropic_body = json::parse(anthropic->body);
  CHECK(anthropic_body["type"] == "error");
  CHECK(anthropic_body["error"]["type"] == "authentication_error");
  const std::string message = anthropic_body["error"]["message"];
  CHECK(contains(message, "Authorization header"));
  CHECK(contains(message, "x-api-key was also sent and ignored"));
  CHECK_FALSE(contains(anthropic->body, k_key));
  CHECK_FALSE(contains(anthropic->body, k_other));

  for (const char* path : {"/v1beta/models/gemini-2.5-flash:generateContent",
                           "/v1/models/gemini-2.5-flash:generateContent"}) {
    CAPTURE(path);
    auto gemini = c.Post(path, "{}", "application/json");
    REQUIRE(gemini);
    CHECK(gemini->status == 401);
    CHECK(gemini->get_header_value("x-agproxy-reason") == "missing_api_key");
    const json body = json::parse(gemini->body);
    CHECK(body["error"]["code"] == 401);
    CHECK(body["error"]["status"] == "UNAUTHENTICATED");
  }

  auto glued = c.Get("/v1/models", {{"Authorization", std::string("Bearer") + k_key}});
  REQUIRE(glued);
  CHECK(glued->status == 401);
  CHECK(glued->get_header_value("x-agproxy-reason") == "malformed_authorization");
  CHECK(status_of(server, "/v1/models", {{"Authorization", std::string("bearer   ") + k_key}}) ==
        200);

  // An unknown path is not revealed without the key, and is a protocol-shaped 404 with it.
  CHECK(status_of(server, "/no/such/route") == 401);
  auto missing = c.Get("/no/such/route", bearer(k_key));
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(json::parse(missing->body)["error"]["code"] == "not_found");

  // One log line per request, with the reason and the header read, never a key.
  // (A worker logs after it has answered, so a line may trail the response that it describes.)
  CHECK(server.wait_for_log("GET /no/such/route 404"));
  CHECK(server.wait_for_log("POST /v1/messages 401"));
  CHECK(server.wait_for_log("reason=invalid_api_key key_header=Authorization"));
  CHECK(server.wait_for_log("reason=malformed_authorization"));
  CHECK(server.wait_for_log("key_header=none"));
  const std::string log = server.log();
  CHECK_FALSE(contains(log, k_key));
  CHECK_FALSE(contains(log, std::string(k_key).substr(3, 20)));
  CHECK_FALSE(contains(log, k_other));
}

TEST_CASE("serve: empty api_key denies with the seed's exact log line") {
  for (const char* mode : {"strict", "all_except_health"}) {
    CAPTURE(mode);
    TempDir dir;
    write_text(dir.file("c.json"), config_json(mode, false, ""));
    ServeProcess server({"--config", dir.file("c.json")}, {});
    auto denied = client(server).Get("/v1/models", bearer(k_key));
    REQUIRE(denied);
    CHECK(denied->status == 401);
    CHECK(denied->get_header_value("x-agproxy-reason") == "proxy_api_key_empty");
    CHECK(server.wait_for_log("Proxy auth is enabled but api_key is empty; denying request"));
    auto health = client(server).Get("/healthz");
    REQUIRE(health);
    CHECK(health->status == (std::string(mode) == "strict" ? 401 : 200));
    if (health->status == 200) {
      CHECK(json::parse(health->body)["api_key_configured"] == false);
    }
  }
}

TEST_CASE("serve: health, HEAD, OPTIONS and CORS") {
  TempDir dir;
  write_text(dir.file("c.json"), config_json("all_except_health", false, k_key));
  ServeProcess server({"--config", dir.file("c.json")}, {});
  auto c = client(server);
  for (const char* path : {"/healthz", "/health"}) {
    CAPTURE(path);
    auto head = c.Head(path);
    REQUIRE(head);
    CHECK(head->status == 200);
    CHECK(head->body.empty());
    auto get = c.Get(path);
    REQUIRE(get);
    CHECK(get->status == 200);
  }
  auto post = c.Post("/healthz", "", "text/plain");
  REQUIRE(post);
  CHECK(post->status == 401);
  auto post_with_key = c.Post("/healthz", bearer(k_key), "", "text/plain");
  REQUIRE(post_with_key);
  CHECK(post_with_key->status == 405);

  auto preflight = c.Options("/v1/chat/completions",
                             {{"Origin", "http://localhost:3000"},
                              {"Access-Control-Request-Method", "POST"},
                              {"Access-Control-Request-Headers", "authorization,content-type"}});
  REQUIRE(preflight);
  CHECK(preflight->status == 204);
  // The origin itself, once (DESIGN §11), never "*".
  CHECK(preflight->get_header_value("Access-Control-Allow-Origin") == "http://localhost:3000");
  CHECK(preflight->get_header_value_count("Access-Control-Allow-Origin") == 1);
  CHECK(contains(preflight->get_header_value("Access-Control-Allow-Methods"), "POST"));
  CHECK(preflight->get_header_value("Access-Control-Allow-Headers") ==
        "authorization,content-type");

  auto cross = c.Get("/v1/models", {{"Origin", "http://localhost:3000"}});
  REQUIRE(cross);
  CHECK(cross->status == 401);
  CHECK(cross->get_header_value("Access-Control-Allow-Origin") == "http://localhost:3000");
}

TEST_CASE("serve: a new key in the file applies within 1 s; a corrupt file is refused") {
  TempDir dir;
  const std::string path = dir.file("c.json");
  write_text(path, config_json("strict", false, k_key));
  ServeProcess server({"--config", path}, {});
  CHECK(status_of(server, "/v1/models", bearer(k_key)) == 200);

  replace_file(path, config_json("strict", false, k_other));
  const auto changed = std::chrono::steady_clock::now();
  bool switched = false;
  while (std::chrono::steady_clock::now() - changed < 1s) {
    if (status_of(server, "/v1/models", bearer(k_other)) == 200) {
      switched = true;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - changed);
  MESSAGE("new key accepted after " << took.count() << " ms");
  CHECK(switched);
  CHECK(status_of(server, "/v1/models", bearer(k_key)) == 401);
  CHECK(server.wait_for_log("config reloaded"));

  // Written in place, not renamed: still noticed.
  write_text(path, config_json("off", false, k_other));
  bool off = false;
  for (int i = 0; i < 50 && !off; ++i) {
    off = status_of(server, "/v1/models") == 200;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(off);

  // A corrupt file: refused, logged, and the settings in force stay.
  write_text(path, config_json("strict", false, k_key));
  for (int i = 0; i < 50 && status_of(server, "/v1/models") != 401; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  write_text(path, "{ \"proxy\": { \"api_key\": ");
  CHECK(server.wait_for_log("config reload refused"));
  CHECK(status_of(server, "/v1/models", bearer(k_key)) == 200);
  CHECK(status_of(server, "/v1/models", bearer(k_other)) == 401);
  write_text(path, config_json("sometimes", false, k_other));
  CHECK(server.wait_for_log("is not an auth mode"));
  CHECK(status_of(server, "/v1/models", bearer(k_key)) == 200);
  CHECK_FALSE(contains(server.log(), k_key));
  CHECK_FALSE(contains(server.log(), k_other));
}

TEST_CASE("serve: SIGHUP reloads, SIGTERM stops cleanly") {
  TempDir dir;
  const std::string path = dir.file("c.json");
  write_text(path, config_json("strict", false, k_key));
  ServeProcess server({"--config", path}, {});
  server.send_signal(SIGHUP);
  CHECK(server.wait_for_log("SIGHUP: reloading"));
  CHECK(server.wait_for_log("config reloaded"));
  CHECK(status_of(server, "/v1/models", bearer(k_key)) == 200);
  CHECK(status_of(server, "/v1/models") == 401);
  // Settings that need a restart are reported, not silently ignored.
  // (The port is pinned by --port here, so the file's port is not compared.)
  replace_file(path, config_json("strict", true, k_key));
  CHECK(server.wait_for_log("proxy.allow_lan_access differs from the value the server started"));
  CHECK(status_of(server, "/healthz") == 401); // still strict, still bound to loopback
  server.send_signal(SIGTERM);
  CHECK(server.wait_exit() == 0);
  CHECK(contains(server.log(), "stopped denied_missing_api_key=2 denied_invalid_api_key=0"));
}

TEST_CASE("serve: --log-format json writes one JSON object per line") {
  TempDir dir;
  write_text(dir.file("c.json"), config_json("strict", false, k_key));
  ServeProcess server({"--config", dir.file("c.json"), "--log-format", "json"}, {});
  CHECK(status_of(server, "/v1/models", {{"x-api-key", k_other}}) == 401);
  CHECK(status_of(server, "/v1/models", bearer(k_key)) == 200);
  REQUIRE(server.wait_for_log("\"status\":200"));
  REQUIRE(server.wait_for_log("\"status\":401"));
  std::istringstream lines(server.log());
  std::string line;
  int requests = 0;
  while (std::getline(lines, line)) {
    CAPTURE(line);
    const json entry = json::parse(line); // every line, the banner included, is JSON
    CHECK(entry.contains("ts"));
    CHECK(entry.contains("level"));
    if (entry["msg"] == "request" && entry["status"] == 401) {
      ++requests;
      CHECK(entry["reason"] == "invalid_api_key");
      CHECK(entry["key_header"] == "x-api-key");
      CHECK(entry["path"] == "/v1/models");
      CHECK(entry["ms"].is_number());
    }
  }
  CHECK(requests == 1);
  CHECK_FALSE(contains(server.log(), k_key));
  CHECK_FALSE(contains(server.log(), k_other));
}

TEST_CASE("serve: start-up creates the config, and refuses bad settings with the reason") {
  TempDir dir;
  {
    ServeProcess server({}, {{"HOME", dir.path()}});
    const std::string path = dir.path() + "/.config/agproxy/config.json";
    const json created = json::parse(read_text(path));
    const std::string key = created["proxy"]["api_key"];
    CHECK(key.size() == 35);
    CHECK(contains(server.log(), "sk-…" + key.substr(31)));
    CHECK_FALSE(contains(server.log(), key));
    CHECK(contains(server.log(), "auth     off: auto → off because allow_lan_access=false"));
    CHECK(contains(server.log(), "curl -i http://127.0.0.1:"));
    CHECK(status_of(server, "/v1/models") == 200);
  }
  write_text(dir.file("bad.json"), R"({"proxy":{"port":70000}})");
  const RunResult bad = run_agproxy({"serve", "--config", dir.file("bad.json")}, {});
  CHECK(bad.exit_code == 1);
  CHECK(contains(bad.err, "agproxy: error: proxy.port: 70000 is out of range"));

  write_text(dir.file("ok.json"), config_json("strict", false, k_key));
  const RunResult bad_env =
      run_agproxy({"serve", "--config", dir.file("ok.json")}, {{"AGPROXY_AUTH_MODE", "sometimes"}});
  CHECK(bad_env.exit_code == 1);
  CHECK(contains(bad_env.err, "AGPROXY_AUTH_MODE"));

  ServeProcess first({"--config", dir.file("ok.json")}, {});
  const RunResult busy = run_agproxy(
      {"serve", "--config", dir.file("ok.json"), "--port", std::to_string(first.port())}, {});
  CHECK(busy.exit_code == 1);
  CHECK(contains(busy.err, "cannot listen on 127.0.0.1:" + std::to_string(first.port())));
}

TEST_CASE("serve: flags and environment override the file") {
  TempDir dir;
  write_text(dir.file("c.json"), config_json("off", false, k_key));
  ServeProcess server({"--config", dir.file("c.json"), "--auth-mode", "strict"},
                      {{"AGPROXY_API_KEY", k_other}});
  CHECK(status_of(server, "/v1/models") == 401);
  CHECK(status_of(server, "/v1/models", bearer(k_other)) == 200);
  CHECK(status_of(server, "/v1/models", bearer(k_key)) == 401);
  CHECK(server.wait_for_log("source=--auth-mode"));
  CHECK(contains(server.log(), "(from AGPROXY_API_KEY)"));
}

TEST_CASE("serve: LAN access with auth off is a loud warning") {
  TempDir dir;
  write_text(dir.file("c.json"), config_json("off", true, k_key));
  // Bound to all interfaces; the test talks to it over loopback only.
  ServeProcess server({"--config", dir.file("c.json")}, {});
  CHECK(server.wait_for_log("WARNING: the proxy listens on 0.0.0.0:"));
  CHECK(contains(server.log(), "with auth OFF"));
  CHECK(status_of(server, "/healthz") == 200);
}

TEST_CASE("serve: a client that writes its whole oversize body before reading gets the 413") {
  // Python's http.client and Node write the whole body first: closing on them after the 413 would
  // reset the connection, and they would see a broken pipe instead of the answer.
  TempDir dir;
  write_text(dir.file("c.json"), config_json("off", false, k_key));
  ServeProcess server({"--config", dir.file("c.json")}, {});
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(server.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  timeval limit{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  constexpr size_t k_body = 40'000'000;
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
                           "Content-Type: application/json\r\nContent-Length: " +
                           std::to_string(k_body) + "\r\n\r\n";
  REQUIRE(send(fd, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size()));
  const std::string chunk(1 << 20, 'x');
  size_t written = 0;
  const auto start = std::chrono::steady_clock::now();
  while (written < k_body) {
    const ssize_t n =
        send(fd, chunk.data(), std::min(chunk.size(), k_body - written), MSG_NOSIGNAL);
    if (n <= 0) {
      break;
    }
    written += static_cast<size_t>(n);
  }
  MESSAGE("wrote " << written << " of " << k_body << " bytes in "
                   << std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count()
                   << " ms before reading");
  CHECK(written == k_body);
  std::string answer;
  char buffer[4096];
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) {
    answer.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  CHECK(answer.starts_with("HTTP/1.1 413"));
  CHECK(contains(answer, "request_too_large"));
  CHECK(status_of(server, "/healthz") == 200);
}

TEST_CASE("serve: request limits") {
  TempDir dir;
  write_text(dir.file("c.json"), config_json("off", false, k_key));
  ServeProcess server({"--config", dir.file("c.json")}, {});
  const std::string too_large =
      raw_exchange(server.port(),
                   "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   "application/json\r\nContent-Length: 999999999\r\n\r\n{}",
                   500ms);
  CHECK(too_large.starts_with("HTTP/1.1 413"));
  CHECK(contains(too_large, "\"code\":\"request_too_large\""));
  const std::string long_header = raw_exchange(
      server.port(),
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(20000, 'a') + "\r\n\r\n");
  CHECK((long_header.empty() || long_header.starts_with("HTTP/1.1 4")));
  CHECK(status_of(server, "/healthz") == 200);
}

TEST_CASE("serve: 300 simultaneous keep-alive connections are all served") {
  TempDir dir;
  write_text(dir.file("c.json"), config_json("off", false, k_key));
  ServeProcess server({"--config", dir.file("c.json")}, {});
  constexpr int k_connections = 300;
  std::vector<int> fds;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(server.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < k_connections; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    fds.push_back(fd);
  }
  // Every connection stays open (keep-alive) while the others ask: each needs its own worker.
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
  for (int fd : fds) {
    REQUIRE(send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size()));
  }
  int answered = 0;
  const auto deadline = std::chrono::steady_clock::now() + 4s; // under the 5 s keep-alive timeout
  for (int fd : fds) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() > 0 && poll(&p, 1, static_cast<int>(left.count())) == 1) {
      char buffer[512];
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n > 12 && std::string(buffer, 12) == "HTTP/1.1 200") {
        ++answered;
      }
    }
  }
  for (int fd : fds) {
    close(fd);
  }
  CHECK(answered == k_connections);
}

TEST_CASE("serve: a burst of 500 connects overflows no accept queue") {
  TempDir dir;
  write_text(dir.file("c.json"), config_json("off", false, k_key));
  ServeProcess server({"--config", dir.file("c.json")}, {});
  constexpr int k_burst = 500;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(server.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  const long before = listen_overflows();
  std::vector<int> fds;
  for (int i = 0; i < k_burst; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    (void)connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    fds.push_back(fd);
  }
  const std::string request =
      "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  int answered = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::vector<bool> sent(fds.size(), false), done(fds.size(), false);
  while (answered < k_burst && std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> polls;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!done[i]) {
        polls.push_back({fds[i], static_cast<short>(sent[i] ? POLLIN : POLLOUT), 0});
      }
    }
    if (poll(polls.data(), polls.size(), 100) <= 0) {
      continue;
    }
    for (const pollfd& p : polls) {
      const size_t i = static_cast<size_t>(std::find(fds.begin(), fds.end(), p.fd) - fds.begin());
      if (!sent[i] && (p.revents & POLLOUT)) {
        sent[i] = send(p.fd, request.data(), request.size(), MSG_NOSIGNAL) > 0;
      } else if (sent[i] && (p.revents & POLLIN)) {
        char buffer[512];
        const ssize_t n = recv(p.fd, buffer, sizeof buffer, 0);
        done[i] = true;
        answered += n > 12 && std::string(buffer, 12) == "HTTP/1.1 200";
      }
    }
  }
  const long after = listen_overflows();
  for (int fd : fds) {
    close(fd);
  }
  CHECK(answered == k_burst);
  if (before >= 0) {
    MESSAGE("ListenOverflows during the burst: " << after - before);
    CHECK(after - before == 0);
  }
}
