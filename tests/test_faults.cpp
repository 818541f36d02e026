// Provider faults through the real binary: each ends in a protocol-shaped error or a cleanly ended
// stream, and a thousand of them leave the process with the descriptors and threads it had.
#include "tests/fake_provider.hpp"
#include "tests/support.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <nlohmann/json.hpp>

using namespace agproxy::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A host name that cannot resolve, and is refused before any query leaves the machine: a DNS
// label is at most 63 bytes.
const std::string k_unresolvable = std::string(64, 'a') + ".invalid";

// An HTTPS server with a self-signed certificate (made with the openssl command) on a loopback
// port, which a verifying client must refuse.
class SelfSignedServer {
public:
  explicit SelfSignedServer(const TempDir& dir) {
    const std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=127.0.0.1 -keyout " +
        key + " -out " + cert + " 2>/dev/null";
    REQUIRE(std::system(command.c_str()) == 0);
    m_server = std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
    REQUIRE(m_server->is_valid());
    m_server->Post(".*", [](const httplib::Request&, httplib::Response& response) {
      response.set_content(R"({"never":"reached"})", "application/json");
    });
    m_port = m_server->bind_to_any_port("127.0.0.1");
    m_thread = std::thread([this] { m_server->listen_after_bind(); });
  }
  ~SelfSignedServer() {
    m_server->stop();
    m_thread.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(m_port); }

private:
  std::unique_ptr<httplib::SSLServer> m_server;
  int m_port = 0;
  std::thread m_thread;
};

size_t open_descriptors(int pid) {
  size_t count = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    ++count;
  }
  return count;
}

int threads(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("Threads:")) {
      return std::stoi(line.substr(8));
    }
  }
  return -1;
}

json upstream(const std::string& name, const std::string& url, std::vector<std::string> keys,
              std::vector<std::string> models) {
  return {{"name", name},
          {"protocol", "openai"},
          {"base_url", url},
          {"api_keys", keys},
          {"models", models}};
}

// One kind of fault: the model that provokes it and what the client must get.
struct Fault {
  const char* model;
  int status;
  const char* code; // the error code in the body, or "" for a provider's own body or a stream
  const char* says; // a part of the message, or ""
};

const Fault k_faults[] = {
    {"refused", 502, "upstream_unreachable", "is unreachable"},
    {"nxdomain", 502, "upstream_unreachable", "resolve"},
    {"tls", 502, "upstream_tls_error", "ca_file"},
    {"error-body-5000000", 503, "upstream_error", "not passed on"},
    {"storm-429", 429, "all_keys_resting", "retry in"},
    {"storm-5xx", 500, "", "internal"}, // the provider's own error, passed on
    {"reset-2", 200, "", "\"i\":1"},    // two events, then the provider resets: a clean end
};

// Send one request for `fault`'s model and check what comes back.
void provoke(httplib::Client& client, const Fault& fault) {
  const std::string body = json{{"model", fault.model}, {"stream", fault.status == 200}}.dump();
  auto result =
      client.Post("/v1/chat/completions", {{"Authorization", std::string("Bearer ") + k_key}}, body,
                  "application/json");
  CAPTURE(fault.model);
  REQUIRE(result);
  CHECK(result->status == fault.status);
  CHECK(contains(result->body, fault.says));
  CHECK(result->body.size() < 10'000);
  if (*fault.code) {
    const json error = json::parse(result->body, nullptr, false);
    REQUIRE(error.is_object());
    CHECK(error["error"]["code"] == fault.code);
  }
}

} // namespace

TEST_CASE("faults: each provider fault is a clean answer; 1,000 of them leak nothing") {
  TempDir dir;
  FakeProvider provider(32);
  SelfSignedServer tls(dir);
  const json upstreams = json::array({
      upstream("refused", "http://127.0.0.1:1", {"k-1"}, {"refused"}),
      upstream("nxdomain", "http://" + k_unresolvable, {"k-1"}, {"nxdomain"}),
      upstream("tls", tls.url(), {"k-1"}, {"tls"}),
      upstream("limited", provider.url(), {"rl-1", "rl-2", "rl-3"}, {"storm-429"}),
      upstream("failing", provider.url(), {"down-1", "down-2", "down-3"}, {"storm-5xx"}),
      upstream("fake", provider.url(), {"ok-1"}, {"error-body-*", "reset-*", "stall"}),
  });
  write_text(dir.file("c.json"), json{{"proxy",
                                       {{"auth_mode", "strict"},
                                        {"api_key", k_key},
                                        {"request_timeout", 1},
                                        {"upstreams", upstreams}}}}
                                     .dump());
  ServeProcess server({"--config", dir.file("c.json"), "--workers", "4"}, Env{});
  const auto client = [&] {
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(10, 0);
    return c;
  };

  SUBCASE("each fault, as the client sees it") {
    auto c = client();
    for (const Fault& fault : k_faults) {
      provoke(c, fault);
    }
    // A provider that stalls mid-stream: the stream ends after request_timeout (1 s).
    const auto start = std::chrono::steady_clock::now();
    auto stalled =
        c.Post("/v1/chat/completions", {{"Authorization", std::string("Bearer ") + k_key}},
               R"({"model":"stall","stream":true})", "application/json");
    REQUIRE(stalled);
    CHECK(contains(stalled->body, "\"i\":0"));
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK_FALSE(contains(server.log(), k_key));
  }

  SUBCASE("after 1,000 faults: the same descriptors and threads") {
    const auto storm = [&](size_t rounds) {
      std::vector<std::thread> clients;
      for (size_t t = 0; t < 4; ++t) {
        clients.emplace_back([&, t] {
          auto c = client();
          for (size_t i = 0; i < rounds; ++i) {
            const Fault& fault = k_faults[(i + t) % std::size(k_faults)];
            const std::string body =
                json{{"model", fault.model}, {"stream", fault.status == 200}}.dump();
            auto result =
                c.Post("/v1/chat/completions", {{"Authorization", std::string("Bearer ") + k_key}},
                       body, "application/json");
            if (!result || result->status != fault.status) {
              FAIL_CHECK("fault " << fault.model << " answered "
                                  << (result ? std::to_string(result->status) : "nothing"));
            }
          }
        });
      }
      for (std::thread& c : clients) {
        c.join();
      }
    };
    // Warm-up, the same load: the 4 workers (--workers 4, one per client) start, each with its
    // transfer state and provider connections. The pool is then at its maximum, so any growth
    // after is a leak.
    storm(250);
    std::this_thread::sleep_for(300ms);
    const size_t fds_before = open_descriptors(server.pid());
    const int threads_before = threads(server.pid());
    storm(250); // 4 clients × 250 = 1,000 faulted requests
    std::this_thread::sleep_for(300ms);

    const size_t fds_after = open_descriptors(server.pid());
    const int threads_after = threads(server.pid());
    MESSAGE("open descriptors " << fds_before << " → " << fds_after << ", threads "
                                << threads_before << " → " << threads_after);
    CHECK(fds_after <= fds_before);
    CHECK(threads_after == threads_before);
  }
}
