#include "tests/fake_provider.hpp"

#include "server/protocols/echo.hpp"
#include "server/protocols/protocol.hpp"
#include "tests/fake_protocols.hpp"

#include <atomic>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <thread>

namespace agproxy::test {

namespace {

// httplib's server with the accept backlog raised above the compiled-in 5, so that a burst of
// streams (a benchmark's thousand) does not wait for SYN retries.
class Server : public httplib::Server {
public:
  void raise_backlog() { ::listen(svr_sock_, 4096); }
};

} // namespace

struct FakeProvider::State {
  Server server;
  int port = 0;
  std::thread thread;
  mutable std::mutex mutex;
  std::vector<SeenRequest> requests;
  int cancelled = 0;
  std::chrono::steady_clock::time_point last_cancel;
  std::atomic<bool> stopping{false};
  ScriptLedger ledger;
};

namespace {

long long now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string provider_key(const httplib::Request& request) {
  for (const char* name : {"x-api-key", "x-goog-api-key"}) {
    if (request.has_header(name)) {
      return request.get_header_value(name);
    }
  }
  const std::string authorization = request.get_header_value("Authorization");
  return authorization.starts_with("Bearer ") ? authorization.substr(7) : authorization;
}

std::string model_of(const httplib::Request& request) {
  const size_t models = request.path.find("/models/");
  if (models != std::string::npos) {
    const size_t start = models + 8;
    return request.path.substr(start, request.path.find(':', start) - start);
  }
  const auto body = nlohmann::json::parse(request.body, nullptr, false);
  return body.is_object() ? body.value("model", "") : "";
}

} // namespace

FakeProvider::FakeProvider(size_t threads) : m_state(std::make_shared<State>()) {
  m_state->server.new_task_queue = [threads] {
    return new httplib::ThreadPool(threads);
  };
  std::weak_ptr<State> weak = m_state;
  auto handle = [weak](const httplib::Request& request, httplib::Response& response) {
    auto state = weak.lock();
    if (!state) {
      return;
    }
    SeenRequest seen{request.method, request.path, request.target, "", {}, request.body};
    const size_t mark = request.target.find('?');
    seen.query = mark == std::string::npos ? "" : request.target.substr(mark + 1);
    for (const auto& [name, value] : request.headers) {
      std::string lower = name;
      for (char& c : lower) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      seen.headers[lower] = value;
    }
    {
      std::lock_guard lock(state->mutex);
      state->requests.push_back(seen);
    }
    const std::string key = provider_key(request);
    const std::string model = model_of(request);
    if (key.starts_with("rl-")) {
      response.status = 429;
      response.set_header("Retry-After", "2");
      response.set_content(R"({"error":{"message":"rate limited","type":"rate_limit_error"}})",
                           "application/json");
      return;
    }
    if (key.starts_with("bad-")) {
      response.status = 401;
      response.set_content(
          R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}})",
          "application/json");
      return;
    }
    if (key.starts_with("down-")) {
      response.status = 500;
      response.set_content(R"({"error":{"message":"internal"}})", "application/json");
      return;
    }
    if (is_scripted_model(model)) {
      ScriptedReply reply = scripted_reply(state->ledger, request.path, seen.query, request.body);
      response.status = reply.status;
      if (!reply.stream) {
        response.set_content(reply.chunks.front(), reply.content_type);
        return;
      }
      auto chunks = std::make_shared<std::vector<std::string>>(std::move(reply.chunks));
      auto next = std::make_shared<size_t>(0);
      response.set_chunked_content_provider(reply.content_type,
                                            [chunks, next](size_t, httplib::DataSink& sink) {
                                              if (*next < chunks->size()) {
                                                const std::string& chunk = (*chunks)[(*next)++];
                                                return sink.write(chunk.data(), chunk.size());
                                              }
                                              sink.done();
                                              return true;
                                            });
      return;
    }
    if (model.starts_with("error-body-")) {
      response.status = 503;
      response.set_content(std::string(std::stoul(model.substr(11)), 'E'), "text/html");
      return;
    }
    if (model.starts_with("big-")) {
      std::string body(std::stoul(model.substr(4)), '\0');
      for (size_t i = 0; i < body.size(); ++i) {
        body[i] = static_cast<char>('0' + i % 10);
      }
      response.set_content(body, "application/octet-stream");
      return;
    }
    if (model.starts_with("slow-")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(model.substr(5))));
    }
    int events = 0;
    int spacing_ms = 20;
    bool reset = false;
    bool stall = false;
    if (model.starts_with("sse-")) {
      const size_t dash = model.find('-', 4);
      events = std::stoi(model.substr(4, dash - 4));
      spacing_ms = std::stoi(model.substr(dash + 1));
    } else if (model.starts_with("reset-")) {
      events = std::stoi(model.substr(6));
      reset = true;
    } else if (model == "stall") {
      events = 1;
      stall = true;
    }
    if (events == 0) {
      // Answer as a provider would, in the route's shape: the last user message comes back.
      agproxy::answer_echo(request, response, agproxy::route_protocol(request.path));
      response.headers.erase("x-agproxy-upstream");
      return;
    }
    auto sent = std::make_shared<int>(0);
    response.set_chunked_content_provider(
        "text/event-stream",
        [weak, sent, events, spacing_ms, reset, stall](size_t, httplib::DataSink& sink) {
          if (*sent > 0 && stall) {
            // Silence, in short naps so that the server can stop.
            for (int i = 0; i < 600; ++i) {
              auto alive = weak.lock();
              if (!alive || alive->stopping) {
                return false;
              }
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
          } else if (*sent > 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(spacing_ms));
          }
          if (*sent == events) {
            if (reset) {
              return false; // httplib drops the connection: a reset mid-stream
            }
            sink.done();
            return true;
          }
          const std::string event = "data: {\"i\":" + std::to_string(*sent) +
                                    ",\"sent_us\":" + std::to_string(now_us()) + "}\n\n";
          ++*sent;
          if (!sink.write(event.data(), event.size())) {
            if (auto alive = weak.lock()) {
              std::lock_guard lock(alive->mutex);
              ++alive->cancelled;
              alive->last_cancel = std::chrono::steady_clock::now();
            }
            return false;
          }
          return true;
        });
  };
  // What it saw, for tests in another process (the SDK tests).
  m_state->server.Get("/_fake/requests",
                      [weak](const httplib::Request&, httplib::Response& response) {
                        auto state = weak.lock();
                        nlohmann::json list = nlohmann::json::array();
                        std::lock_guard lock(state->mutex);
                        for (const SeenRequest& seen : state->requests) {
                          list.push_back({{"method", seen.method},
                                          {"path", seen.path},
                                          {"target", seen.target},
                                          {"query", seen.query},
                                          {"headers", seen.headers},
                                          {"body", seen.body}});
                        }
                        response.set_content(list.dump(), "application/json");
                      });
  m_state->server.Get(".*", handle);
  m_state->server.Post(".*", handle);
  m_state->server.Put(".*", handle);
  m_state->server.Patch(".*", handle);
  m_state->server.Delete(".*", handle);
  m_state->server.Options(".*", handle);
  m_state->server.set_tcp_nodelay(true);
  // One request per connection: an idle keep-alive connection costs cpp-httplib 0.11.4 a wake-up
  // every 10 ms, which would skew what a benchmark measures of agproxy.
  m_state->server.set_keep_alive_max_count(1);
  m_state->port = m_state->server.bind_to_any_port("127.0.0.1");
  m_state->server.raise_backlog();
  m_state->thread = std::thread([state = m_state.get()] { state->server.listen_after_bind(); });
  while (!m_state->server.is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

FakeProvider::~FakeProvider() {
  m_state->stopping = true;
  m_state->server.stop();
  m_state->thread.join();
}

std::string FakeProvider::url() const {
  return "http://127.0.0.1:" + std::to_string(m_state->port);
}

std::vector<SeenRequest> FakeProvider::requests() const {
  std::lock_guard lock(m_state->mutex);
  return m_state->requests;
}

int FakeProvider::cancelled_streams() const {
  std::lock_guard lock(m_state->mutex);
  return m_state->cancelled;
}

std::chrono::steady_clock::time_point FakeProvider::last_cancel() const {
  std::lock_guard lock(m_state->mutex);
  return m_state->last_cancel;
}

} // namespace agproxy::test
