#include "tests/fake_provider.hpp"

#include "server/protocols/echo.hpp"
#include "server/protocols/protocol.hpp"
#include "tests/fake_protocols.hpp"

#include <atomic>
#include <ctime>
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

std::string format_time(std::chrono::system_clock::time_point when, const char* format) {
  const time_t seconds = std::chrono::system_clock::to_time_t(when);
  tm parts{};
  gmtime_r(&seconds, &parts);
  char text[64];
  return std::string(text, std::strftime(text, sizeof text, format, &parts));
}

// Answer as the provider that a limit key's prefix names (see fake_provider.hpp); return whether
// the key is one.
bool answer_limit(const std::string& key, httplib::Response& response) {
  const auto now = std::chrono::system_clock::now();
  const auto rfc3339 = [&](int seconds) {
    return format_time(now + std::chrono::seconds(seconds), "%Y-%m-%dT%H:%M:%SZ");
  };
  if (key.starts_with("gday-") || key.starts_with("gmin-")) {
    const bool daily = key.starts_with("gday-");
    const std::string limit = daily ? "50" : "15";
    const std::string delay = daily ? "3600s" : "7s";
    response.status = 429;
    response.set_content(
        R"({"error":{"code":429,"message":"You exceeded your current quota. Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: )" +
            limit + R"(, model: gemini-2.5-pro\nPlease retry in )" + delay +
            R"(.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more about Gemini API quotas","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequests)" +
            (daily ? "PerDay" : "PerMinute") +
            R"(PerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.5-pro"},"quotaValue":")" +
            limit + R"("}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":")" +
            delay + R"("}]}})",
        "application/json");
    return true;
  }
  if (key.starts_with("gcap-")) {
    response.status = 429;
    response.set_content(
        R"({"error":{"code":429,"message":"No capacity available for model gemini-2.5-pro on the server","errors":[{"message":"No capacity available for model gemini-2.5-pro on the server","domain":"global","reason":"rateLimitExceeded"}],"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"MODEL_CAPACITY_EXHAUSTED","domain":"cloudcode-pa.googleapis.com","metadata":{"model":"gemini-2.5-pro"}}]}})",
        "application/json");
    return true;
  }
  if (key.starts_with("gover-")) {
    response.status = 503;
    response.set_content(
        R"({"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}})",
        "application/json");
    return true;
  }
  if (key.starts_with("ginv-")) {
    response.status = 400;
    response.set_content(
        R"({"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}})",
        "application/json");
    return true;
  }
  if (key.starts_with("oquota-")) {
    response.status = 429;
    response.set_content(
        R"({"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})",
        "application/json");
    return true;
  }
  if (key.starts_with("orate-")) {
    response.status = 429;
    response.set_header("x-ratelimit-limit-requests", "3");
    response.set_header("x-ratelimit-remaining-requests", "0");
    response.set_header("x-ratelimit-reset-requests", "20s");
    response.set_header("x-ratelimit-limit-tokens", "40000");
    response.set_header("x-ratelimit-remaining-tokens", "39950");
    response.set_header("x-ratelimit-reset-tokens", "75ms");
    response.set_content(
        R"({"error":{"message":"Rate limit reached for gpt-4o in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.","type":"requests","param":null,"code":"rate_limit_exceeded"}})",
        "application/json");
    return true;
  }
  if (key.starts_with("arate-")) {
    response.status = 429;
    response.set_header("retry-after",
                        format_time(now + std::chrono::seconds(30), "%a, %d %b %Y %H:%M:%S GMT"));
    response.set_header("anthropic-ratelimit-requests-limit", "50");
    response.set_header("anthropic-ratelimit-requests-remaining", "0");
    response.set_header("anthropic-ratelimit-requests-reset", rfc3339(30));
    response.set_header("anthropic-ratelimit-tokens-limit", "40000");
    response.set_header("anthropic-ratelimit-tokens-remaining", "38000");
    response.set_header("anthropic-ratelimit-tokens-reset", rfc3339(5));
    response.set_header("anthropic-ratelimit-input-tokens-limit", "30000");
    response.set_header("anthropic-ratelimit-input-tokens-remaining", "29000");
    response.set_header("anthropic-ratelimit-input-tokens-reset", rfc3339(5));
    response.set_header("anthropic-ratelimit-output-tokens-limit", "8000");
    response.set_header("anthropic-ratelimit-output-tokens-remaining", "8000");
    response.set_header("anthropic-ratelimit-output-tokens-reset", rfc3339(1));
    response.set_content(
        R"({"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 50 requests per minute."}})",
        "application/json");
    return true;
  }
  if (key.starts_with("aover-")) {
    response.status = 529;
    response.set_content(
        R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
        "application/json");
    return true;
  }
  return false;
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
    if (answer_limit(key, response)) {
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
