// Forwarding through the real binary to a fake provider on a loopback port.
#include "server/http/http_request.hpp"
#include "tests/fake_provider.hpp"
#include "tests/support.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

using agproxy::ChunkedDecoder;
using namespace agproxy::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json upstream(const std::string& name, const std::string& protocol, const std::string& url,
              std::vector<std::string> keys, json extra = json::object()) {
  json entry = {{"name", name}, {"protocol", protocol}, {"base_url", url}, {"api_keys", keys}};
  entry.update(extra);
  return entry;
}

struct Gateway {
  TempDir dir;
  std::unique_ptr<ServeProcess> server;

  explicit Gateway(const json& upstreams, int request_timeout = 10) {
    write_text(dir.file("c.json"), json{{"proxy",
                                         {{"auth_mode", "strict"},
                                          {"api_key", k_key},
                                          {"request_timeout", request_timeout},
                                          {"upstreams", upstreams}}}}
                                       .dump());
    server = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--config", dir.file("c.json")}, Env{});
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(15, 0);
    return c;
  }
  httplib::Headers auth() const { return {{"Authorization", std::string("Bearer ") + k_key}}; }
  // POST `body` to `path`, handing each piece of the response body to `receive` as it arrives.
  httplib::Result post_streaming(const std::string& path, const std::string& body,
                                 std::function<bool(const char*, size_t)> receive) const {
    httplib::Request request;
    request.method = "POST";
    request.path = path;
    request.headers = auth();
    request.headers.emplace("Content-Type", "application/json");
    request.body = body;
    request.content_receiver = [receive](const char* data, size_t length, uint64_t, uint64_t) {
      return receive(data, length);
    };
    return client().send(request);
  }
};

} // namespace

TEST_CASE("forward: each protocol gets its credential; the proxy key never leaves") {
  FakeProvider provider;
  Gateway gateway(json::array({upstream("oa", "openai", provider.url(), {"sk-provider-openai"}),
                               upstream("an", "anthropic", provider.url(), {"sk-ant-provider"}),
                               upstream("ge", "gemini", provider.url(), {"AIza-provider"})}));
  auto c = gateway.client();

  auto openai = c.Post("/v1/chat/completions", gateway.auth(),
                       R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})",
                       "application/json");
  REQUIRE(openai);
  CHECK(openai->status == 200);
  CHECK(json::parse(openai->body)["choices"][0]["message"]["content"] == "hi");
  CHECK(openai->get_header_value("x-agproxy-upstream") == "oa");
  CHECK(openai->get_header_value("x-agproxy-key") == "…enai");

  auto anthropic = c.Post("/v1/messages",
                          {{"x-api-key", k_key}, {"Authorization", std::string("Bearer ") + k_key}},
                          R"({"model":"claude-x","messages":[]})", "application/json");
  REQUIRE(anthropic);
  CHECK(anthropic->status == 200);
  CHECK(anthropic->get_header_value("x-agproxy-upstream") == "an");

  auto gemini = c.Post("/v1beta/models/gemini-2.5-flash:generateContent?key=leak&alt=json",
                       {{"x-goog-api-key", k_key}}, "{}", "application/json");
  REQUIRE(gemini);
  CHECK(gemini->status == 200);
  CHECK(gemini->get_header_value("x-agproxy-upstream") == "ge");

  const std::vector<SeenRequest> seen = provider.requests();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].headers.at("authorization") == "Bearer sk-provider-openai");
  CHECK(seen[0].path == "/v1/chat/completions");
  CHECK(seen[1].headers.at("x-api-key") == "sk-ant-provider");
  CHECK(seen[1].headers.count("authorization") == 0);
  CHECK(seen[1].headers.at("anthropic-version") == "2023-06-01");
  CHECK(seen[2].headers.at("x-goog-api-key") == "AIza-provider");
  CHECK(seen[2].path == "/v1beta/models/gemini-2.5-flash:generateContent");
  CHECK(seen[2].query == "alt=json");
  for (const SeenRequest& request : seen) {
    for (const auto& [name, value] : request.headers) {
      CAPTURE(name);
      CHECK_FALSE(contains(value, k_key));
    }
    CHECK_FALSE(contains(request.body, k_key));
  }
}

TEST_CASE("forward: models choose the upstream; model_map rewrites; unknown models are named") {
  FakeProvider first, second;
  Gateway gateway(
      json::array({upstream("a", "openai", first.url(), {"k-a"},
                            {{"models", {"gpt-*"}}, {"model_map", {{"fast", "gpt-4o-mini"}}}}),
                   upstream("b", "openai", second.url(), {"k-b"}, {{"models", {"o3", "o4-*"}}})}));
  auto c = gateway.client();
  auto mapped =
      c.Post("/v1/chat/completions", gateway.auth(), R"({"model":"fast"})", "application/json");
  REQUIRE(mapped);
  CHECK(mapped->status == 200);
  CHECK(mapped->get_header_value("x-agproxy-upstream") == "a");
  CHECK(json::parse(first.requests().at(0).body)["model"] == "gpt-4o-mini");
  auto glob =
      c.Post("/v1/chat/completions", gateway.auth(), R"({"model":"o4-mini"})", "application/json");
  REQUIRE(glob);
  CHECK(glob->get_header_value("x-agproxy-upstream") == "b");
  auto unknown =
      c.Post("/v1/chat/completions", gateway.auth(), R"({"model":"llama"})", "application/json");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
  CHECK(contains(unknown->body, "no upstream serves model 'llama'"));
  CHECK(contains(unknown->body, "fast"));
  CHECK(contains(unknown->body, "gpt-*"));
  // A body that is not JSON is refused before routing (a provider might read a model from it).
  auto not_json = c.Post("/v1/messages", gateway.auth(), "hello", "application/json");
  REQUIRE(not_json);
  CHECK(not_json->status == 400);
  CHECK(contains(not_json->body, "not valid JSON"));
  // No upstream speaks Anthropic here, and a JSON body without a model names none: both said.
  auto no_model = c.Post("/v1/messages", gateway.auth(), "{}", "application/json");
  REQUIRE(no_model);
  CHECK(no_model->status == 404);
  CHECK(contains(no_model->body, "its body is not a JSON object with a \\\"model\\\" string"));

  auto models = c.Get("/v1/models", gateway.auth());
  REQUIRE(models);
  std::vector<std::string> ids;
  const json listed = json::parse(models->body);
  for (const json& model : listed["data"]) {
    ids.push_back(model["id"].get<std::string>());
  }
  CAPTURE(models->body);
  const std::vector<std::string> expected = {"fast", "o3"}; // exact names and aliases; no echo
  CHECK(ids == expected);
  auto gemini_models = c.Get("/v1beta/models", gateway.auth());
  REQUIRE(gemini_models);
  CHECK(json::parse(gemini_models->body)["models"][0]["name"] == "models/fast");
}

TEST_CASE("forward: events arrive as the provider sends them") {
  FakeProvider provider;
  Gateway gateway(json::array({upstream("oa", "openai", provider.url(), {"k"})}));
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  std::string received;
  auto result =
      gateway.post_streaming("/v1/chat/completions", R"({"model":"sse-5-200","stream":true})",
                             [&](const char* data, size_t length) {
                               received.append(data, length);
                               arrivals.push_back(std::chrono::steady_clock::now());
                               return true;
                             });
  REQUIRE(result);
  CHECK(result->status == 200);
  CHECK(result->get_header_value("Content-Type") == "text/event-stream");
  CHECK(contains(received, "\"i\":4"));
  REQUIRE(arrivals.size() >= 5);
  const auto spread = arrivals.back() - arrivals.front();
  MESSAGE("5 events sent 200 ms apart arrived over "
          << std::chrono::duration_cast<std::chrono::milliseconds>(spread).count() << " ms");
  CHECK(spread >= 600ms); // 800 ms at the provider: not buffered until the end
}

TEST_CASE("forward: a client that leaves cancels the provider's stream") {
  FakeProvider provider;
  Gateway gateway(json::array({upstream("oa", "openai", provider.url(), {"k"})}));
  int chunks = 0;
  std::chrono::steady_clock::time_point left;
  auto result = gateway.post_streaming(
      "/v1/chat/completions", R"({"model":"sse-200-50","stream":true})", [&](const char*, size_t) {
        if (++chunks == 3) {
          left = std::chrono::steady_clock::now();
          return false; // the client goes away
        }
        return true;
      });
  CHECK_FALSE(result);
  for (int i = 0; i < 100 && provider.cancelled_streams() == 0; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(provider.cancelled_streams() == 1);
  const auto lag = provider.last_cancel() - left;
  MESSAGE("the provider saw the cancel "
          << std::chrono::duration_cast<std::chrono::milliseconds>(lag).count() << " ms after");
  CHECK(lag < 1s);
}

TEST_CASE("forward: rotation past rate-limited and refused keys") {
  FakeProvider provider;
  Gateway gateway(
      json::array({upstream("oa", "openai", provider.url(), {"rl-1", "ok-2", "bad-3"})}));
  auto c = gateway.client();
  auto first =
      c.Post("/v1/chat/completions", gateway.auth(), R"({"model":"m"})", "application/json");
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK(first->get_header_value("x-agproxy-key") == "…"); // "ok-2" is too short to show
  // rl-1 rests (Retry-After 2): the next requests use ok-2 and bad-3 (which is then taken out).
  for (int i = 0; i < 3; ++i) {
    auto next =
        c.Post("/v1/chat/completions", gateway.auth(), R"({"model":"m"})", "application/json");
    REQUIRE(next);
    CHECK(next->status == 200);
  }
  std::vector<std::string> keys;
  for (const SeenRequest& seen : provider.requests()) {
    keys.push_back(seen.headers.at("authorization").substr(7));
  }
  CHECK(keys.front() == "rl-1");
  CHECK(keys.at(1) == "ok-2");
  CHECK(std::count(keys.begin(), keys.end(), "rl-1") == 1);
  CHECK(std::count(keys.begin(), keys.end(), "bad-3") == 1);
  CHECK(gateway.server->wait_for_log("provider key rate-limited; resting it"));
  CHECK(gateway.server->wait_for_log("provider refused its key; taking it out"));
}

TEST_CASE("forward: every key resting is a 429 with Retry-After; a provider 401 passes through") {
  FakeProvider provider;
  Gateway gateway(json::array({upstream("oa", "openai", provider.url(), {"rl-1", "rl-2"}),
                               upstream("an", "anthropic", provider.url(), {"bad-only"})}));
  auto c = gateway.client();
  auto limited =
      c.Post("/v1/chat/completions", gateway.auth(), R"({"model":"m"})", "application/json");
  REQUIRE(limited);
  CHECK(limited->status == 429);
  CHECK(limited->get_header_value("Retry-After") == "2"); // the provider's Retry-After: 2
  CHECK(contains(limited->body, "every key of upstream 'oa'"));

  auto refused =
      c.Post("/v1/messages", gateway.auth(), R"({"model":"claude"})", "application/json");
  REQUIRE(refused);
  CHECK(refused->status == 401);
  CHECK(refused->get_header_value("WWW-Authenticate").empty()); // not agproxy's realm
  CHECK(contains(refused->body, "Incorrect API key provided"));
  CHECK(refused->get_header_value("x-agproxy-upstream") == "an");
}

TEST_CASE("forward: unreachable provider is 502, a slow one 504") {
  FakeProvider provider;
  Gateway gateway(json::array({upstream("gone", "openai", "http://127.0.0.1:1", {"k"}),
                               upstream("slow", "anthropic", provider.url(), {"k"})}),
                  1);
  auto c = gateway.client();
  auto gone =
      c.Post("/v1/chat/completions", gateway.auth(), R"({"model":"m"})", "application/json");
  REQUIRE(gone);
  CHECK(gone->status == 502);
  CHECK(json::parse(gone->body)["error"]["code"] == "upstream_unreachable");
  auto slow =
      c.Post("/v1/messages", gateway.auth(), R"({"model":"slow-3000"})", "application/json");
  REQUIRE(slow);
  CHECK(slow->status == 504);
  CHECK(json::parse(slow->body)["type"] == "error");
}

TEST_CASE("forward: the echo model answers in each protocol, streaming and not") {
  Gateway gateway(json::array());
  auto c = gateway.client();
  auto openai = c.Post("/v1/chat/completions", gateway.auth(),
                       R"({"model":"agproxy-echo","messages":[{"role":"user","content":"ping"}]})",
                       "application/json");
  REQUIRE(openai);
  CHECK(json::parse(openai->body)["choices"][0]["message"]["content"] == "ping");
  auto stream = c.Post(
      "/v1/messages", gateway.auth(),
      R"({"model":"agproxy-echo","stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"pong"}]}]})",
      "application/json");
  REQUIRE(stream);
  CHECK(contains(stream->body, "event: content_block_delta"));
  CHECK(contains(stream->body, "\"text\":\"pong\""));
  auto gemini =
      c.Post("/v1beta/models/agproxy-echo:generateContent", gateway.auth(),
             R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})", "application/json");
  REQUIRE(gemini);
  CHECK(json::parse(gemini->body)["candidates"][0]["content"]["parts"][0]["text"] == "hi");
  auto models = c.Get("/v1/models", gateway.auth());
  REQUIRE(models);
  CHECK(json::parse(models->body)["data"][0]["id"] == "agproxy-echo");
}

TEST_CASE("forward: a 5xx moves on to the next key; a broken or stalled stream ends cleanly") {
  FakeProvider provider;
  Gateway gateway(json::array({upstream("oa", "openai", provider.url(), {"down-1", "ok-2"})}), 1);
  auto c = gateway.client();
  auto recovered =
      c.Post("/v1/chat/completions", gateway.auth(),
             R"({"model":"m","messages":[{"role":"user","content":"again"}]})", "application/json");
  REQUIRE(recovered);
  CHECK(recovered->status == 200);
  CHECK(json::parse(recovered->body)["choices"][0]["message"]["content"] == "again");
  CHECK(gateway.server->wait_for_log("provider error; trying the next key"));

  // The provider resets the connection after three events: the client gets them and an end.
  std::string received;
  auto reset =
      gateway.post_streaming("/v1/chat/completions", R"({"model":"reset-3","stream":true})",
                             [&](const char* data, size_t length) {
                               received.append(data, length);
                               return true;
                             });
  REQUIRE(reset);
  CHECK(contains(received, "\"i\":2"));
  CHECK(gateway.server->wait_for_log("provider stream broke off"));

  // The provider goes silent after one event: the stream ends after request_timeout (1 s).
  received.clear();
  const auto start = std::chrono::steady_clock::now();
  auto stalled =
      gateway.post_streaming("/v1/chat/completions", R"({"model":"stall","stream":true})",
                             [&](const char* data, size_t length) {
                               received.append(data, length);
                               return true;
                             });
  REQUIRE(stalled);
  CHECK(contains(received, "\"i\":0"));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(gateway.server->wait_for_log("provider stream stalled; ending it"));
}

TEST_CASE("forward: a client that leaves during a provider silence is noticed within a second") {
  FakeProvider provider;
  Gateway gateway(json::array({upstream("oa", "openai", provider.url(), {"k"})}));
  std::chrono::steady_clock::time_point left;
  std::string received;
  auto result = gateway.post_streaming("/v1/chat/completions", R"({"model":"stall","stream":true})",
                                       [&](const char* data, size_t length) {
                                         received.append(data, length);
                                         if (contains(received, "\"i\":0")) {
                                           left = std::chrono::steady_clock::now();
                                           return false; // leave while the provider is silent
                                         }
                                         return true;
                                       });
  CHECK_FALSE(result);
  REQUIRE(gateway.server->wait_for_log("client left; provider stream cancelled", 3s));
  const auto noticed = std::chrono::steady_clock::now() - left;
  MESSAGE("agproxy noticed the departure after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(noticed).count() << " ms");
  CHECK(noticed < 1500ms);
}

TEST_CASE("forward: pipelined requests are answered in order, a slow one first") {
  FakeProvider provider;
  Gateway gateway(json::array({upstream("oa", "openai", provider.url(), {"sk-provider-openai"})}));
  const auto post = [](const std::string& model, const std::string& content,
                       const std::string& extra) {
    const std::string body =
        json{{"model", model}, {"messages", {{{"role", "user"}, {"content", content}}}}}.dump();
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " +
           std::string(k_key) +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n" + extra + "\r\n" + body;
  };
  // The first waits 300 ms at the provider; the second, sent with it, must not overtake it.
  const std::string text = raw_exchange(
      gateway.server->port(), post("slow-300", "first-answer", "") +
                                  post("gpt-4o", "second-answer", "Connection: close\r\n"));
  const size_t first = text.find("first-answer");
  const size_t second = text.find("second-answer");
  CHECK(text.starts_with("HTTP/1.1 200 "));
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  CHECK(first < second);
  CHECK(text.find("HTTP/1.1 200 ", first) < second);
}

TEST_CASE("forward: a large answer reaches a client that reads late, whole and in order") {
  FakeProvider provider;
  Gateway gateway(json::array({upstream("oa", "openai", provider.url(), {"sk-provider-openai"})}));
  // 8 MB: past every buffer on the way (the socket's, agproxy's 256 KiB unsent and 1 MiB per
  // transfer), so the provider is paused and resumed as the client drains.
  constexpr size_t k_size = 8'000'000;
  const std::string body = R"({"model":"big-8000000","messages":[]})";
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  int window = 64 << 10; // a small receive window: the kernel cannot hold the answer for us
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &window, sizeof window);
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<uint16_t>(gateway.server->port()));
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof target) == 0);
  const std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nAuthorization: "
                              "Bearer " +
                              std::string(k_key) +
                              "\r\nContent-Type: application/json\r\nConnection: close\r\n"
                              "Content-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  REQUIRE(send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500)); // not reading yet
  std::string text;
  char buffer[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      break;
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const size_t head_end = text.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  CHECK(text.starts_with("HTTP/1.1 200 "));
  REQUIRE(text.substr(0, head_end).find("Transfer-Encoding: chunked") != std::string::npos);
  ChunkedDecoder decoder(16 << 20);
  std::string received;
  size_t consumed = 0;
  CHECK(decoder.feed(std::string_view(text).substr(head_end + 4), received, consumed) ==
        ChunkedDecoder::Status::done);
  REQUIRE(received.size() == k_size);
  bool in_order = true;
  for (size_t i = 0; i < received.size() && in_order; ++i) {
    in_order = received[i] == static_cast<char>('0' + i % 10);
  }
  CHECK(in_order);
}
