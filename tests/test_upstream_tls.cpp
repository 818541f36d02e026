// Upstreams over TLS and through proxies (DESIGN §2: ca_file, tls_verify, proxy), through the real
// binary: a provider behind a private CA, one whose certificate nobody vouches for, and a forward
// proxy that records what it was asked.
#include "tests/raw_provider.hpp"
#include "tests/support.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

using namespace agproxy::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string k_chat_for = R"({"messages":[{"role":"user","content":"hi"}],"model":")";

// An HTTPS provider on loopback with a self-signed certificate (its own CA) for `names` (a
// subjectAltName: 127.0.0.1 by default).
class TlsProvider {
public:
  explicit TlsProvider(const TempDir& dir, const std::string& names = "IP:127.0.0.1")
      : m_cert(dir.file(names + "-ca.pem")) {
    const std::string key = dir.file(names + "-key.pem");
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=agproxy-test-ca -addext subjectAltName=" +
        names + " -keyout " + key + " -out " + m_cert + " 2>/dev/null";
    REQUIRE(std::system(command.c_str()) == 0);
    m_server = std::make_unique<httplib::SSLServer>(m_cert.c_str(), key.c_str());
    REQUIRE(m_server->is_valid());
    m_server->Post(".*", [](const httplib::Request& request, httplib::Response& response) {
      if (request.body.find("\"m-big\"") != std::string::npos) {
        // Over the 1 MiB the client side buffers before it pauses: read in pieces, resumed.
        response.set_content(R"({"big":")" + std::string(3'000'000, 'b') + "\"}",
                             "application/json");
        return;
      }
      response.set_content(R"({"over":"tls"})", "application/json");
    });
    m_port = m_server->bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server->listen_after_bind(); });
  }
  ~TlsProvider() {
    m_server->stop();
    m_thread.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(m_port); }
  // Return its port.
  int port() const { return m_port; }
  // Return the PEM file of its certificate, which is its own CA.
  const std::string& ca_file() const { return m_cert; }

private:
  std::string m_cert;
  std::unique_ptr<httplib::SSLServer> m_server;
  int m_port = 0;
  std::thread m_thread;
};

json upstream(const std::string& name, const std::string& url, const std::string& model,
              json extra = json::object()) {
  json entry = {{"name", name},
                {"protocol", "openai"},
                {"base_url", url},
                {"api_keys", {k_provider_canary}},
                {"models", {model}}};
  entry.update(extra);
  return entry;
}

// Start agproxy with `upstreams`; with `one_loop`, on one event loop (so that every request meets
// the same pool of provider connections).
std::unique_ptr<ServeProcess> serve(const TempDir& dir, const json& upstreams,
                                    bool one_loop = false) {
  write_text(dir.file("c.json"), json{{"proxy",
                                       {{"auth_mode", "strict"},
                                        {"api_key", k_key},
                                        {"request_timeout", 10},
                                        {"upstreams", upstreams}}}}
                                     .dump());
  std::vector<std::string> args{"--config", dir.file("c.json")};
  if (one_loop) {
    args.insert(args.end(), {"--workers", "1"});
  }
  return std::make_unique<ServeProcess>(args, Env{});
}

httplib::Result chat(int port, const std::string& model) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  return client.Post("/v1/chat/completions", {{"Authorization", std::string("Bearer ") + k_key}},
                     k_chat_for + model + "\"}", "application/json");
}

} // namespace

TEST_CASE("upstream TLS: ca_file trusts a private CA; without it the 502 says TLS and the fix") {
  TempDir dir;
  TlsProvider provider(dir);
  auto server =
      serve(dir, json::array({
                     upstream("private", provider.url(), "m-ca", {{"ca_file", provider.ca_file()}}),
                     upstream("system", provider.url(), "m-system"),
                     upstream("unchecked", provider.url(), "m-off", {{"tls_verify", false}}),
                 }));
  const auto trusted = chat(server->port(), "m-ca");
  REQUIRE(trusted);
  CHECK(trusted->status == 200);
  CHECK(trusted->body == R"({"over":"tls"})");

  const auto untrusted = chat(server->port(), "m-system");
  REQUIRE(untrusted);
  CHECK(untrusted->status == 502);
  CHECK(contains(untrusted->body, "upstream_tls_error"));
  CHECK(contains(untrusted->body, "ca_file"));
  CHECK(untrusted->get_header_value("x-agproxy-upstream") == "system");
  CHECK_FALSE(contains(untrusted->body, "127.0.0.1"));

  const auto unchecked = chat(server->port(), "m-off");
  REQUIRE(unchecked);
  CHECK(unchecked->status == 200);
  CHECK(server->wait_for_log("upstream 'unchecked' has tls_verify false"));
  CHECK_FALSE(contains(server->log(), "upstream 'private' has tls_verify false"));

  // The doctor names the TLS failure, with the fix.
  const RunResult doctor = run_agproxy({"doctor", "401", "--config", dir.file("c.json"), "--url",
                                        "http://127.0.0.1:" + std::to_string(server->port()),
                                        "--key", k_key, "--probe-model", "m-system", "--json"},
                                       {});
  const json report = json::parse(doctor.out);
  const auto check = std::find_if(report["checks"].begin(), report["checks"].end(),
                                  [](const json& c) { return c["id"] == "upstream.auth"; });
  REQUIRE(check != report["checks"].end());
  CHECK((*check)["status"] == "fail");
  CHECK(contains((*check)["summary"].get<std::string>(), "TLS"));
  CHECK(contains((*check)["fix"].get<std::string>(), "ca_file"));
}

TEST_CASE("upstream proxy: requests go through it, its credentials masked everywhere") {
  RawProvider proxy("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    "17\r\n\r\n{\"via\":\"proxy\"}\r\n");
  TempDir dir;
  const std::string with_credentials =
      "http://user:proxy-canary-4d2e@" + proxy.url().substr(std::string("http://").size());
  auto server = serve(dir, json::array({upstream("behind", "http://provider.invalid:8080/api",
                                                 "m-proxied", {{"proxy", with_credentials}})}));
  const auto answer = chat(server->port(), "m-proxied");
  REQUIRE(answer);
  CHECK(answer->status == 200);
  const std::vector<std::string> seen = proxy.requests();
  REQUIRE(seen.size() == 1);
  // An HTTP proxy is asked for the absolute URL, with its own credentials and the provider key.
  CHECK(seen[0].starts_with("POST http://provider.invalid:8080/api/v1/chat/completions HTTP/1.1"));
  CHECK(contains(seen[0], "Proxy-Authorization: Basic "));
  CHECK(contains(seen[0], std::string("Bearer ") + k_provider_canary));
  CHECK_FALSE(contains(seen[0], k_key));

  const RunResult show = run_agproxy({"config", "show", "--config", dir.file("c.json")}, {});
  CHECK(show.exit_code == 0);
  CHECK_FALSE(contains(show.out, "proxy-canary-4d2e"));
  CHECK(contains(show.out, "http://***@127.0.0.1:"));
  CHECK_FALSE(contains(server->log(), "proxy-canary-4d2e"));
}

TEST_CASE("upstream TLS and proxy settings: a bad value names its field and the fix") {
  TempDir dir;
  write_text(dir.file("empty.pem"), "not a certificate\n");
  struct Row {
    json extra;
    const char* reason;
  };
  const Row table[] = {
      {{{"ca_file", dir.file("missing.pem")}}, "proxy.upstreams[0].ca_file"},
      {{{"ca_file", dir.file("missing.pem")}}, "cannot be read"},
      {{{"ca_file", dir.file("empty.pem")}}, "holds no PEM certificate"},
      {{{"ca_file", ""}}, "proxy.upstreams[0].ca_file: is empty"},
      {{{"tls_verify", "no"}}, "proxy.upstreams[0].tls_verify: expected true or false"},
      {{{"proxy", "ftp://127.0.0.1:21"}}, "proxy.upstreams[0].proxy"},
      {{{"proxy", "127.0.0.1:3128"}}, "is not a proxy URL"},
      {{{"proxy", "socks5://user:secret-canary-1b@h:1080/x y"}}, "socks5://host:port"},
  };
  for (const Row& row : table) {
    CAPTURE(row.extra.dump());
    write_text(
        dir.file("c.json"),
        json{{"proxy", {{"upstreams", {upstream("u", "https://h", "m", row.extra)}}}}}.dump());
    const RunResult result =
        run_agproxy({"config", "validate", "--config", dir.file("c.json")}, {});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, row.reason));
    CHECK_FALSE(contains(result.err, "secret-canary-1b"));
  }
}

TEST_CASE("upstream TLS: a connection verified with one upstream's CA never serves another's") {
  // Two upstreams at one address, one trusting the private CA: on one event loop, the second
  // request would find the first's connection in libcurl's cache.
  TempDir dir;
  TlsProvider provider(dir);
  auto server = serve(
      dir,
      json::array({upstream("private", provider.url(), "m-ca", {{"ca_file", provider.ca_file()}}),
                   upstream("system", provider.url(), "m-system")}),
      true);
  const auto trusted = chat(server->port(), "m-ca");
  REQUIRE(trusted);
  CHECK(trusted->status == 200);
  const auto untrusted = chat(server->port(), "m-system");
  REQUIRE(untrusted);
  CHECK(untrusted->status == 502);
  CHECK(contains(untrusted->body, "upstream_tls_error"));
  // And the upstream with the CA still answers.
  const auto again = chat(server->port(), "m-ca");
  REQUIRE(again);
  CHECK(again->status == 200);
}

TEST_CASE("upstream TLS: a provider's name is sent (SNI) and checked against its certificate") {
  TempDir dir;
  TlsProvider provider(dir, "DNS:localhost");
  const std::string by_name = "https://localhost:" + std::to_string(provider.port());
  auto server = serve(
      dir, json::array({upstream("byname", by_name, "m-name", {{"ca_file", provider.ca_file()}}),
                        upstream("byaddress", provider.url(), "m-address",
                                 {{"ca_file", provider.ca_file()}})}));
  // The certificate names localhost: reached by that name it passes, twice on one connection.
  for (int i = 0; i < 2; ++i) {
    auto named = chat(server->port(), "m-name");
    REQUIRE(named);
    CHECK(named->status == 200);
    CHECK(named->body == R"({"over":"tls"})");
  }
  // Reached by its address, which the certificate does not name, it fails the check.
  auto by_address = chat(server->port(), "m-address");
  REQUIRE(by_address);
  CHECK(by_address->status == 502);
  CHECK(contains(by_address->body, "upstream_tls_error"));
}

TEST_CASE("upstream TLS: a large answer arrives whole, and the connection serves the next") {
  TempDir dir;
  TlsProvider provider(dir);
  auto server = serve(
      dir,
      json::array({upstream("private", provider.url(), "m-*", {{"ca_file", provider.ca_file()}})}),
      true);
  for (int i = 0; i < 3; ++i) {
    const auto big = chat(server->port(), "m-big");
    REQUIRE(big);
    CHECK(big->status == 200);
    CHECK(big->body.size() == 3'000'000 + 10);
    CHECK(big->body.ends_with("bbb\"}"));
    const auto small = chat(server->port(), "m-small");
    REQUIRE(small);
    CHECK(small->body == R"({"over":"tls"})");
  }
}
