// Stopping as DESIGN §10 says, through the real binary with live streams: the listener refuses new
// connections at once, streams in flight finish within the drain time, what outlasts it is cut,
// and a second signal cuts at once.
#include "tests/fake_provider.hpp"
#include "tests/support.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <csignal>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

using namespace agproxy::test;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// `agproxy serve` (auth off) forwarding every OpenAI model to `provider`, draining for `drain` s.
std::unique_ptr<ServeProcess> serve(const TempDir& dir, const FakeProvider& provider, int drain) {
  write_text(dir.file("c.json"), json{{"proxy",
                                       {{"auth_mode", "off"},
                                        {"api_key", k_key},
                                        {"drain_seconds", drain},
                                        {"upstreams",
                                         {{{"name", "fake"},
                                           {"protocol", "openai"},
                                           {"base_url", provider.url()},
                                           {"api_keys", {k_provider_canary}}}}}}}}
                                     .dump());
  return std::make_unique<ServeProcess>(std::vector<std::string>{"--config", dir.file("c.json")},
                                        Env{});
}

// A streamed chat completion read on its own thread: the events received, and whether it ended.
class Stream {
public:
  Stream(int port, const std::string& model) {
    m_thread = std::thread([this, port, model] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(30, 0);
      httplib::Request request;
      request.method = "POST";
      request.path = "/v1/chat/completions";
      request.headers = {{"Content-Type", "application/json"}};
      request.body = R"({"stream":true,"model":")" + model + "\"}";
      request.content_receiver = [this](const char* data, size_t length, uint64_t, uint64_t) {
        std::lock_guard lock(m_mutex);
        m_text.append(data, length);
        return true;
      };
      const auto result = client.send(request);
      m_complete = result && result->status == 200;
      m_ended = Clock::now();
      m_done = true;
    });
  }
  ~Stream() { m_thread.join(); }
  // Return how many events arrived so far.
  size_t events() const {
    std::lock_guard lock(m_mutex);
    size_t count = 0;
    for (size_t at = m_text.find("data: "); at != std::string::npos;
         at = m_text.find("data: ", at + 1)) {
      ++count;
    }
    return count;
  }
  // Wait until the stream ends; return whether it did within `timeout`.
  bool wait(std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (!m_done && Clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    return m_done;
  }
  bool complete() const { return m_complete; }
  Clock::time_point ended() const { return m_ended; }

private:
  mutable std::mutex m_mutex;
  std::string m_text;
  std::atomic<bool> m_done{false};
  bool m_complete = false;
  Clock::time_point m_ended{};
  std::thread m_thread;
};

// Return whether a TCP connection to 127.0.0.1:`port` is refused.
bool refused(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool result = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
                      errno == ECONNREFUSED;
  close(fd);
  return result;
}

// Wait until each of `streams` has its first event.
void wait_started(const std::vector<std::unique_ptr<Stream>>& streams) {
  const auto deadline = Clock::now() + 5s;
  for (const auto& stream : streams) {
    while (stream->events() == 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    REQUIRE(stream->events() > 0);
  }
}

} // namespace

TEST_CASE("lifecycle: on SIGTERM new connections are refused at once; streams in flight finish") {
  FakeProvider provider;
  TempDir dir;
  auto server = serve(dir, provider, 10);
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < 5; ++i) {
    streams.push_back(std::make_unique<Stream>(server->port(), "sse-10-100")); // 1 s each
  }
  wait_started(streams);
  const auto signalled = Clock::now();
  server->send_signal(SIGTERM);
  // A new client is refused, not left hanging.
  bool was_refused = false;
  while (!was_refused && Clock::now() - signalled < 1s) {
    was_refused = refused(server->port());
    if (!was_refused) {
      std::this_thread::sleep_for(5ms);
    }
  }
  const auto refused_after = Clock::now() - signalled;
  MESSAGE("a new connection was refused "
          << std::chrono::duration_cast<std::chrono::milliseconds>(refused_after).count()
          << " ms after SIGTERM");
  CHECK(was_refused);
  CHECK(refused_after < 100ms);
  for (const auto& stream : streams) {
    CHECK(stream->wait(5s));
    CHECK(stream->complete());
    CHECK(stream->events() == 10);
  }
  CHECK(server->wait_exit(5s) == std::optional<int>(0));
  const std::string log = server->log();
  CHECK(contains(log, "SIGTERM: stopping"));
  CHECK(contains(log, "draining: 5 in flight"));
  CHECK(contains(log, "drained"));
}

TEST_CASE("lifecycle: a stream longer than the drain time is cut at its end") {
  FakeProvider provider;
  TempDir dir;
  auto server = serve(dir, provider, 1);
  std::vector<std::unique_ptr<Stream>> streams;
  streams.push_back(std::make_unique<Stream>(server->port(), "sse-100-100")); // 10 s
  streams.push_back(std::make_unique<Stream>(server->port(), "sse-3-100"));   // 0.3 s
  wait_started(streams);
  const auto signalled = Clock::now();
  server->send_signal(SIGTERM);
  CHECK(server->wait_exit(5s) == std::optional<int>(0));
  const auto exited = Clock::now() - signalled;
  MESSAGE("exited " << std::chrono::duration_cast<std::chrono::milliseconds>(exited).count()
                    << " ms after SIGTERM with drain_seconds 1");
  CHECK(exited >= 900ms);
  CHECK(exited < 1600ms);
  REQUIRE(streams[0]->wait(2s));
  CHECK(streams[0]->events() < 100);
  REQUIRE(streams[1]->wait(2s));
  CHECK(streams[1]->complete());
  CHECK(streams[1]->events() == 3);
  CHECK(contains(server->log(), "drain timeout: 1 cut"));
  CHECK_FALSE(contains(server->log(), "drained"));
}

TEST_CASE("lifecycle: a second signal during the drain cuts at once") {
  FakeProvider provider;
  TempDir dir;
  auto server = serve(dir, provider, 30);
  std::vector<std::unique_ptr<Stream>> streams;
  streams.push_back(std::make_unique<Stream>(server->port(), "sse-100-100"));
  wait_started(streams);
  server->send_signal(SIGTERM);
  CHECK(server->wait_for_log("draining: 1 in flight"));
  const auto second = Clock::now();
  server->send_signal(SIGINT);
  CHECK(server->wait_exit(2s) == std::optional<int>(0));
  const auto exited = Clock::now() - second;
  MESSAGE("exited " << std::chrono::duration_cast<std::chrono::milliseconds>(exited).count()
                    << " ms after the second signal");
  CHECK(exited < 500ms);
  CHECK(contains(server->log(), "SIGINT again: 1 cut"));
  REQUIRE(streams[0]->wait(2s));
  CHECK(streams[0]->events() < 100);
}
