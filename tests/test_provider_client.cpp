// The gateway's own HTTP/1.1 client to providers (server/upstream/http1/), through the real binary
// against scripted providers on raw sockets: connections are kept and reused, a connection the
// provider closed is replaced without the client seeing it, answers framed by the close and
// `Connection: close` are read whole, host names are resolved, and an answer that comes before the
// request's body is passed on.
#include "server/upstream/http1/provider_pool.hpp"
#include "tests/raw_provider.hpp"
#include "tests/support.hpp"

#include <condition_variable>
#include <doctest/doctest.h>
#include <httplib.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sys/socket.h>

using namespace agproxy::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string k_ok_body = R"({"id":"x","object":"chat.completion","choices":[]})";

std::string answer(const std::string& extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra_headers +
         "Content-Length: " + std::to_string(k_ok_body.size()) + "\r\n\r\n" + k_ok_body;
}

struct Gateway {
  TempDir dir;
  std::unique_ptr<ServeProcess> server;

  explicit Gateway(const std::string& base_url) {
    const json upstreams = json::array({{{"name", "scripted"},
                                         {"protocol", "openai"},
                                         {"base_url", base_url},
                                         {"api_keys", {"sk-provider-1"}}}});
    write_text(dir.file("c.json"), json{{"proxy",
                                         {{"auth_mode", "strict"},
                                          {"api_key", k_key},
                                          {"request_timeout", 5},
                                          {"upstreams", upstreams}}}}
                                       .dump());
    // One event loop: every request meets the same pool of provider connections.
    server = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--config", dir.file("c.json"), "--workers", "1"}, Env{});
  }
  httplib::Result post(const std::string& body = R"({"model":"m","messages":[]})") const {
    httplib::Client client("127.0.0.1", server->port());
    client.set_read_timeout(10, 0);
    return client.Post("/v1/chat/completions", {{"Authorization", std::string("Bearer ") + k_key}},
                       body, "application/json");
  }
};

} // namespace

TEST_CASE("provider client: one kept connection carries request after request") {
  ScriptedProvider provider(
      [](const ScriptedProvider::Request&) { return ScriptedProvider::Reply{answer()}; });
  Gateway gateway(provider.url());
  for (int i = 0; i < 20; ++i) {
    auto result = gateway.post(R"({"model":"m","n":)" + std::to_string(i) + "}");
    REQUIRE(result);
    CHECK(result->status == 200);
    CHECK(result->body == k_ok_body);
  }
  CHECK(provider.connections() == 1);
  const auto requests = provider.requests();
  REQUIRE(requests.size() == 20);
  CHECK(requests.back().number == 20);
  const std::string& text = requests[3].text;
  CAPTURE(text);
  CHECK(text.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"));
  CHECK(contains(text, "\r\nHost: 127.0.0.1:" + std::to_string(provider.port()) + "\r\n"));
  CHECK(contains(text, "\r\nAuthorization: Bearer sk-provider-1\r\n"));
  CHECK(contains(text, "\r\nContent-Length: 19\r\n"));
  CHECK(text.ends_with("\r\n\r\n" + std::string(R"({"model":"m","n":3})")));
}

TEST_CASE("provider client: a connection the provider dropped is replaced; the client sees 200") {
  // The second request on the first connection meets a provider that closes it unanswered (as
  // one does with an idle connection it times out just as the request goes): agproxy sends the
  // request again on a new connection.
  ScriptedProvider provider([](const ScriptedProvider::Request& request) {
    if (request.connection == 1 && request.number == 2) {
      return ScriptedProvider::Reply{"", true};
    }
    return ScriptedProvider::Reply{answer()};
  });
  Gateway gateway(provider.url());
  for (int i = 0; i < 3; ++i) {
    auto result = gateway.post();
    REQUIRE(result);
    CHECK(result->status == 200);
    CHECK(result->body == k_ok_body);
  }
  CHECK(provider.connections() == 2);
  CHECK(provider.requests().size() == 4); // the dropped one, then again
}

TEST_CASE("provider client: a new connection that ends without an answer is a 502, not a retry") {
  ScriptedProvider provider([](const ScriptedProvider::Request&) {
    return ScriptedProvider::Reply{"", true};
  });
  Gateway gateway(provider.url());
  auto result = gateway.post();
  REQUIRE(result);
  CHECK(result->status == 502);
  CHECK(contains(result->body, "upstream_unreachable"));
  CHECK(provider.requests().size() == 1); // a fresh connection is not tried twice (one key)
}

TEST_CASE("provider client: Connection: close and a body ended by the close are read whole") {
  ScriptedProvider provider([](const ScriptedProvider::Request& request) {
    if (request.connection % 2 == 1) {
      return ScriptedProvider::Reply{answer("Connection: close\r\n"), true};
    }
    // No Content-Length: the body is what comes until the close.
    return ScriptedProvider::Reply{
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + k_ok_body, true};
  });
  Gateway gateway(provider.url());
  for (int i = 0; i < 4; ++i) {
    auto result = gateway.post();
    REQUIRE(result);
    CHECK(result->status == 200);
    CHECK(result->body == k_ok_body);
  }
  CHECK(provider.connections() == 4);
}

TEST_CASE("provider client: a body cut short by the provider is no 200 with half of it") {
  ScriptedProvider provider([](const ScriptedProvider::Request&) {
    return ScriptedProvider::Reply{
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\"",
        true};
  });
  Gateway gateway(provider.url());
  auto result = gateway.post();
  REQUIRE(result);
  CHECK(result->status == 502);
  CHECK(contains(result->body, "ended its answer early"));
  CHECK(gateway.server->wait_for_log("provider response incomplete"));
}

TEST_CASE("provider client: a host name is resolved, and every address tried") {
  // localhost may resolve to ::1 first, where nothing listens: the next address is tried.
  ScriptedProvider provider(
      [](const ScriptedProvider::Request&) { return ScriptedProvider::Reply{answer()}; });
  Gateway gateway("http://localhost:" + std::to_string(provider.port()));
  for (int i = 0; i < 2; ++i) {
    auto result = gateway.post();
    REQUIRE(result);
    CHECK(result->status == 200);
  }
  CHECK(provider.connections() == 1);
  REQUIRE(provider.requests().size() == 2);
  CHECK(contains(provider.requests()[0].text,
                 "\r\nHost: localhost:" + std::to_string(provider.port()) + "\r\n"));
}

TEST_CASE("provider client: an answer before the request's body has gone is passed on") {
  // A provider that refuses a large body from its head alone, and closes.
  ScriptedProvider provider([](const ScriptedProvider::Request&) {
    ScriptedProvider::Reply reply;
    reply.bytes = "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                  "Content-Length: 15\r\nConnection: close\r\n\r\n{\"error\":\"big\"}";
    reply.close = true;
    reply.read_body = false;
    return reply;
  });
  Gateway gateway(provider.url());
  const std::string body = R"({"model":"m","pad":")" + std::string(20'000'000, 'x') + R"("})";
  auto result = gateway.post(body);
  REQUIRE(result);
  CHECK(result->status == 413);
  CHECK(result->body == R"({"error":"big"})");
}

TEST_CASE("provider_target: what the own client takes from a URL, and what it leaves to libcurl") {
  using agproxy::provider_target;
  const auto plain = provider_target("http://127.0.0.1:8080/v1/chat/completions?a=1");
  REQUIRE(plain);
  CHECK_FALSE(plain->tls);
  CHECK(plain->host == "127.0.0.1");
  CHECK(plain->port == 8080);
  CHECK(plain->host_header == "127.0.0.1:8080");
  CHECK(plain->path == "/v1/chat/completions?a=1");
  const auto secure = provider_target("https://api.example.com/v1beta/models/m:generateContent");
  REQUIRE(secure);
  CHECK(secure->tls);
  CHECK(secure->port == 443);
  CHECK(secure->host_header == "api.example.com"); // the default port is not written
  CHECK(secure->path == "/v1beta/models/m:generateContent");
  const auto v6 = provider_target("http://[::1]:9000");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->host_header == "[::1]:9000");
  CHECK(v6->path == "/");
  const auto query_only = provider_target("http://h?x=1");
  REQUIRE(query_only);
  CHECK(query_only->path == "/?x=1");
  CHECK(query_only->port == 80);
  for (const char* url : {"ftp://h/", "http://user:pw@h/", "http://h:0/", "http://h:65536/",
                          "http://h:8x/", "http://[::1/", "http://:80/", "http:///x", "h/x"}) {
    CAPTURE(url);
    CHECK_FALSE(provider_target(url));
  }
}

TEST_CASE("Resolver: addresses at once, names on its thread and then from memory") {
  using agproxy::Resolution;
  using agproxy::Resolver;
  CHECK(Resolver::is_address("127.0.0.1"));
  CHECK(Resolver::is_address("::1"));
  CHECK_FALSE(Resolver::is_address("localhost"));
  CHECK_FALSE(Resolver::is_address("[::1]"));
  const auto literal = Resolver::instance().known("127.0.0.1", 8045);
  REQUIRE(literal);
  REQUIRE(literal->addresses.size() == 1);
  CHECK(literal->addresses[0].address.ss_family == AF_INET);

  // Two lookups of one name at once: both hear the answer, each with its own port.
  std::mutex mutex;
  std::condition_variable heard;
  std::vector<Resolution> answers;
  const std::string name = "localhost";
  for (uint16_t port : {uint16_t{81}, uint16_t{82}}) {
    Resolver::instance().lookup(name, port, [&](Resolution resolution) {
      std::lock_guard lock(mutex);
      answers.push_back(std::move(resolution));
      heard.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    REQUIRE(heard.wait_for(lock, 10s, [&] { return answers.size() == 2; }));
  }
  for (const Resolution& answer : answers) {
    CHECK(answer.error.empty());
    CHECK_FALSE(answer.addresses.empty());
  }
  const auto remembered = Resolver::instance().known(name, 83);
  REQUIRE(remembered);
  CHECK_FALSE(remembered->addresses.empty());

  // A name that cannot resolve (a label over 63 bytes: refused before any query) says so.
  std::optional<Resolution> failed;
  Resolver::instance().lookup(std::string(64, 'a') + ".invalid", 80, [&](Resolution resolution) {
    std::lock_guard lock(mutex);
    failed = std::move(resolution);
    heard.notify_all();
  });
  std::unique_lock lock(mutex);
  REQUIRE(heard.wait_for(lock, 10s, [&] { return failed.has_value(); }));
  CHECK(failed->addresses.empty());
  CHECK(contains(failed->error, "Could not resolve host"));
}
