// The security rules (DESIGN.md §11), each as a reviewer would try it: the real binary, real
// loopback sockets (raw where a library would normalise what is sent), and a fake provider that
// tells what was forwarded. Every case asserts what the client got and what the provider saw.
#include "tests/fake_provider.hpp"
#include "tests/raw_provider.hpp"
#include "tests/support.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace agproxy::test;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const std::string k_chat = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
const std::string k_gemini_body = R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})";
const std::string k_local = "Host: localhost\r\n";
const std::string k_json = "Content-Type: application/json\r\n";
const std::string k_auth = std::string("Authorization: Bearer ") + k_key + "\r\n";

// Canaries of this file: secrets in an upstream's base_url.
constexpr const char* k_userinfo_canary = "pw-canary-7f3a";
constexpr const char* k_query_canary = "q-canary-9b2c";

std::string lower(std::string text) {
  for (char& c : text) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return text;
}

// Return `text` fit for a test message: the proxy key masked, control bytes escaped, cut short.
std::string shown(const std::string& text) {
  std::string masked = text;
  for (size_t at = masked.find(k_key); at != std::string::npos; at = masked.find(k_key, at)) {
    masked.replace(at, std::strlen(k_key), "<k_key>");
  }
  std::string out;
  for (const char c : masked.substr(0, 600)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 && c != '\n') {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

// Return the member at `keys` of `document`, or null.
json dig(const json& document, std::initializer_list<const char*> keys) {
  const json* at = &document;
  for (const char* key : keys) {
    if (!at->is_object() || !at->contains(key)) {
      return nullptr;
    }
    at = &(*at)[key];
  }
  return *at;
}

// A request: its line, `headers` (each line ending in CRLF), a Content-Length when there is a
// body, and the body.
std::string http(const std::string& method, const std::string& target, const std::string& headers,
                 const std::string& body = "") {
  std::string out = method + " " + target + " HTTP/1.1\r\n" + headers;
  if (!body.empty()) {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return out + "\r\n" + body;
}

// `body` as one chunk and the last chunk, with `size_suffix` after the chunk's size.
std::string chunked(const std::string& body, const std::string& size_suffix = "\r\n",
                    const std::string& data_end = "\r\n") {
  char size[32];
  std::snprintf(size, sizeof size, "%zx", body.size());
  return size + size_suffix + body + data_end + "0\r\n\r\n";
}

// The first final (not 1xx) response in what a raw socket received.
struct Answer {
  int status = 0;                                           // 0: no response head arrived
  std::vector<std::pair<std::string, std::string>> headers; // names lowercased, in order
  std::string head;
  std::string body;
  bool complete = false;

  // Return how many header lines are named `name` (lowercase).
  size_t count(const std::string& name) const {
    size_t n = 0;
    for (const auto& [each, value] : headers) {
      n += each == name ? 1 : 0;
    }
    return n;
  }
  // Return the first value of the header `name` (lowercase), or "".
  std::string header(const std::string& name) const {
    for (const auto& [each, value] : headers) {
      if (each == name) {
        return value;
      }
    }
    return "";
  }
  json json_body() const { return json::parse(body, nullptr, false); }
};

Answer parse_answer(const std::string& text) {
  Answer answer;
  size_t at = 0;
  for (;;) {
    const size_t end = text.find("\r\n\r\n", at);
    if (end == std::string::npos || text.compare(at, 5, "HTTP/") != 0) {
      return answer;
    }
    const size_t space = text.find(' ', at);
    const int status = space < end ? std::atoi(text.c_str() + space + 1) : 0;
    if (status >= 100 && status < 200) {
      at = end + 4;
      continue;
    }
    answer.status = status;
    answer.head = text.substr(at, end - at);
    for (size_t line = answer.head.find("\r\n"); line != std::string::npos;) {
      const size_t next = answer.head.find("\r\n", line + 2);
      const std::string field = answer.head.substr(
          line + 2, (next == std::string::npos ? answer.head.size() : next) - line - 2);
      const size_t colon = field.find(':');
      if (colon != std::string::npos) {
        std::string value = field.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        value.erase(value.find_last_not_of(" \t") + 1);
        answer.headers.emplace_back(lower(field.substr(0, colon)), value);
      }
      line = next;
    }
    const std::string rest = text.substr(end + 4);
    const std::string length = answer.header("content-length");
    if (status == 204 || status == 304) {
      answer.complete = true;
    } else if (!length.empty()) {
      const size_t n = std::strtoul(length.c_str(), nullptr, 10);
      answer.body = rest.substr(0, n);
      answer.complete = rest.size() >= n;
    } else if (lower(answer.header("transfer-encoding")) == "chunked") {
      size_t pos = 0;
      for (;;) {
        const size_t line_end = rest.find("\r\n", pos);
        if (line_end == std::string::npos) {
          break;
        }
        const size_t size = std::strtoul(rest.c_str() + pos, nullptr, 16);
        if (size == 0) {
          answer.complete = true;
          break;
        }
        if (rest.size() < line_end + 2 + size + 2) {
          break;
        }
        answer.body += rest.substr(line_end + 2, size);
        pos = line_end + 2 + size + 2;
      }
    } else {
      answer.body = rest; // ends with the connection
    }
    return answer;
  }
}

// A client connection on a raw socket (non-blocking once connected), from source address `from`.
class RawClient {
public:
  explicit RawClient(int port, const char* from = "127.0.0.1") {
    m_fd = connect_from(port, from);
    if (m_fd < 0) {
      return;
    }
    ::fcntl(m_fd, F_SETFL, ::fcntl(m_fd, F_GETFL) | O_NONBLOCK);
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Return whether the connection was made.
  bool connected() const { return m_fd >= 0; }
  // Return the socket.
  int fd() const { return m_fd; }
  // Send all of `data`, waiting up to 2 s for room; return whether it all went.
  bool send(std::string_view data) {
    const auto deadline = Clock::now() + 2s;
    while (m_fd >= 0 && !data.empty() && Clock::now() < deadline) {
      const ssize_t n = ::send(m_fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        pollfd p{m_fd, POLLOUT, 0};
        ::poll(&p, 1, 20);
      } else {
        return false;
      }
    }
    return data.empty();
  }
  // Read what arrives until `done(received)` holds, the server closes or `timeout` passes;
  // return whether `done` held.
  bool read_until(const std::function<bool(const std::string&)>& done,
                  std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!done(m_in)) {
      if (m_fd < 0 || m_closed || Clock::now() >= deadline) {
        return false;
      }
      pump(10ms);
    }
    return true;
  }
  // Read what has arrived, waiting up to `wait` for the first byte.
  void pump(std::chrono::milliseconds wait = 0ms) {
    if (m_fd < 0 || m_closed) {
      return;
    }
    pollfd p{m_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) {
      return;
    }
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::recv(m_fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        m_in.append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        m_closed = true;
      }
      return;
    }
  }
  // Read until a whole final answer is there (or the server closes, or `timeout` passes).
  Answer read_answer(std::chrono::milliseconds timeout = 3s) {
    read_until([](const std::string& in) { return parse_answer(in).complete; }, timeout);
    return parse_answer(m_in);
  }
  // Wait until the server closes the connection; return whether it did within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout) {
    read_until([this](const std::string&) { return m_closed; }, timeout);
    return m_closed;
  }
  // Return all received so far.
  const std::string& received() const { return m_in; }
  // Return whether the server closed the connection.
  bool closed() const { return m_closed; }
  void close() {
    if (m_fd >= 0) {
      ::close(m_fd);
      m_fd = -1;
    }
  }

private:
  int m_fd = -1;
  std::string m_in;
  bool m_closed = false;
};

// Send `request` on a new connection and read its answer.
Answer exchange(int port, const std::string& request, std::chrono::milliseconds timeout = 3s,
                const char* from = "127.0.0.1") {
  RawClient client(port, from);
  REQUIRE(client.connected());
  client.send(request);
  return client.read_answer(timeout);
}

json proxy_settings(const std::string& mode) {
  return {{"auth_mode", mode},
          {"allow_lan_access", false},
          {"api_key", k_key},
          {"request_timeout", 10},
          {"upstreams", json::array()}};
}

json upstream(const std::string& name, const std::string& protocol, const std::string& url,
              json extra = json::object()) {
  json entry = {{"name", name},
                {"protocol", protocol},
                {"base_url", url},
                {"api_keys", {"sk-provider-security-test"}}};
  entry.update(extra);
  return entry;
}

// `agproxy serve` with these proxy settings.
struct Proxy {
  TempDir dir;
  std::unique_ptr<ServeProcess> server;

  explicit Proxy(const json& settings, std::vector<std::string> args = {}) {
    write_text(config(), json{{"proxy", settings}}.dump(2));
    args.insert(args.begin(), {"--config", config()});
    server = std::make_unique<ServeProcess>(args, Env{});
  }
  std::string config() const { return dir.file("c.json"); }
  int port() const { return server->port(); }
};

// Return the resident memory of process `pid` in KiB (VmRSS), or -1.
long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

// One upstream per API family, all at `provider`, so that a request of any family would reach it.
json every_family(const FakeProvider& provider) {
  return json::array({upstream("oa", "openai", provider.url()),
                      upstream("an", "anthropic", provider.url()),
                      upstream("ge", "gemini", provider.url())});
}

const std::string k_anthropic_body =
    R"({"model":"claude-x","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})";

} // namespace

// 1. Browsers -------------------------------------------------------------------------------------

TEST_CASE("security: a cross-origin request is refused before it is forwarded, in each family's "
          "shape") {
  FakeProvider provider;
  json settings = proxy_settings("auto"); // effective auth: off
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  const std::string evil = "Origin: https://evil.example\r\nContent-Type: text/plain\r\n";

  const Answer openai =
      exchange(proxy.port(), http("POST", "/v1/chat/completions", k_local + evil, k_chat));
  CAPTURE(shown(openai.head));
  CHECK(openai.status == 403);
  CHECK(openai.header("x-agproxy-reason") == "origin_not_allowed");
  CHECK(openai.count("access-control-allow-origin") == 0);
  CHECK(dig(openai.json_body(), {"error", "code"}) == "origin_not_allowed");
  CHECK(dig(openai.json_body(), {"error", "message"}).is_string());

  const Answer anthropic =
      exchange(proxy.port(), http("POST", "/v1/messages", k_local + evil, k_anthropic_body));
  CAPTURE(shown(anthropic.head));
  CHECK(anthropic.status == 403);
  CHECK(anthropic.header("x-agproxy-reason") == "origin_not_allowed");
  CHECK(anthropic.count("access-control-allow-origin") == 0);
  CHECK(dig(anthropic.json_body(), {"type"}) == "error");
  CHECK(dig(anthropic.json_body(), {"error", "type"}) == "permission_error");

  const Answer gemini =
      exchange(proxy.port(), http("POST", "/v1beta/models/gemini-x:generateContent", k_local + evil,
                                  k_gemini_body));
  CAPTURE(shown(gemini.head));
  CHECK(gemini.status == 403);
  CHECK(gemini.header("x-agproxy-reason") == "origin_not_allowed");
  CHECK(gemini.count("access-control-allow-origin") == 0);
  CHECK(dig(gemini.json_body(), {"error", "status"}) == "PERMISSION_DENIED");
  CHECK(dig(gemini.json_body(), {"error", "code"}) == 403);

  // A sandboxed iframe or a file:// page sends "null".
  const Answer null_origin = exchange(
      proxy.port(), http("POST", "/v1/chat/completions",
                         k_local + "Origin: null\r\nContent-Type: text/plain\r\n", k_chat));
  CHECK(null_origin.status == 403);
  CHECK(null_origin.count("access-control-allow-origin") == 0);
  CHECK(provider.requests().empty());

  // The same request without the Origin reaches the provider: the refusals were the Origin's.
  const Answer control =
      exchange(proxy.port(), http("POST", "/v1/chat/completions",
                                  k_local + "Content-Type: text/plain\r\n", k_chat));
  CHECK(control.status == 200);
  CHECK(provider.requests().size() == 1);
}

TEST_CASE("security: a preflight from an origin not allowed gets 403 and no CORS headers") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  for (const std::string origin : {"https://evil.example", "null"}) {
    CAPTURE(origin);
    const Answer answer = exchange(
        proxy.port(), http("OPTIONS", "/v1/chat/completions",
                           k_local + "Origin: " + origin +
                               "\r\nAccess-Control-Request-Method: POST\r\n"
                               "Access-Control-Request-Headers: content-type, authorization\r\n"));
    CAPTURE(shown(answer.head));
    CHECK(answer.status == 403);
    CHECK(answer.count("access-control-allow-origin") == 0);
    CHECK(answer.count("access-control-allow-headers") == 0);
    CHECK(answer.header("x-agproxy-reason") == "origin_not_allowed");
  }
  CHECK(provider.requests().empty());
}

TEST_CASE("security: a preflight from a loopback or listed origin names that origin, once") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  settings["cors_origins"] = {"https://app.example.com"};
  Proxy proxy(settings);
  for (const std::string origin : {"http://localhost:5173", "http://127.0.0.1:3000",
                                   "http://[::1]:8080", "https://app.example.com"}) {
    CAPTURE(origin);
    const Answer answer =
        exchange(proxy.port(), http("OPTIONS", "/v1/chat/completions",
                                    k_local + "Origin: " + origin +
                                        "\r\nAccess-Control-Request-Method: POST\r\n"
                                        "Access-Control-Request-Headers: content-type\r\n"));
    CAPTURE(shown(answer.head));
    CHECK(answer.status == 204);
    CHECK(answer.count("access-control-allow-origin") == 1);
    CHECK(answer.header("access-control-allow-origin") == origin);
    CHECK(contains(lower(answer.header("vary")), "origin"));
  }
  CHECK(provider.requests().empty()); // a preflight is the proxy's to answer
}

TEST_CASE("security: a request from an allowed origin gets its origin back once; a near miss is "
          "refused") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  settings["cors_origins"] = {"https://app.example.com"};
  Proxy proxy(settings);
  size_t forwarded = 0;
  for (const std::string origin : {"http://localhost:5173", "https://app.example.com"}) {
    CAPTURE(origin);
    const Answer answer =
        exchange(proxy.port(),
                 http("POST", "/v1/chat/completions",
                      k_local + "Origin: " + origin + "\r\nContent-Type: text/plain\r\n", k_chat));
    CAPTURE(shown(answer.head));
    CHECK(answer.status == 200);
    CHECK(answer.count("access-control-allow-origin") == 1);
    CHECK(answer.header("access-control-allow-origin") == origin);
    CHECK(provider.requests().size() == ++forwarded);
  }
  // Another port or scheme is another origin; a suffix does not make a name loopback or listed.
  for (const std::string origin :
       {"https://app.example.com:444", "http://app.example.com",
        "https://app.example.com.evil.example", "http://localhost.evil.example",
        "http://127.0.0.1.evil.example"}) {
    CAPTURE(origin);
    const Answer answer =
        exchange(proxy.port(),
                 http("POST", "/v1/chat/completions",
                      k_local + "Origin: " + origin + "\r\nContent-Type: text/plain\r\n", k_chat));
    CAPTURE(shown(answer.head));
    CHECK(answer.status == 403);
    CHECK(answer.header("x-agproxy-reason") == "origin_not_allowed");
    CHECK(answer.count("access-control-allow-origin") == 0);
  }
  CHECK(provider.requests().size() == forwarded);
}

TEST_CASE("security: a request without Origin keeps working, curl -d's form type included") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  for (const std::string type : {"application/x-www-form-urlencoded", "text/plain"}) {
    CAPTURE(type);
    const Answer answer = exchange(
        proxy.port(), http("POST", "/v1/chat/completions",
                           "Host: 127.0.0.1:" + std::to_string(proxy.port()) +
                               "\r\nUser-Agent: curl/8.5.0\r\nContent-Type: " + type + "\r\n",
                           k_chat));
    CHECK(answer.status == 200);
    CHECK(answer.count("access-control-allow-origin") == 0);
  }
  const std::vector<SeenRequest> seen = provider.requests();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].body == k_chat);
}

// 2. DNS rebinding
// ---------------------------------------------------------------------------------

TEST_CASE("security: with auth off, a Host that is not loopback is refused (DNS rebinding)") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  const std::string port = std::to_string(proxy.port());
  for (const std::string& host :
       {std::string("evil.example"), "evil.example:" + port, "localhost.evil.example:" + port}) {
    CAPTURE(host);
    const Answer chat = exchange(proxy.port(), http("POST", "/v1/chat/completions",
                                                    "Host: " + host + "\r\n" + k_json, k_chat));
    CAPTURE(shown(chat.head));
    CHECK(chat.status == 403);
    CHECK(chat.header("x-agproxy-reason") == "host_not_allowed");
    CHECK(dig(chat.json_body(), {"error", "code"}) == "host_not_allowed");
    const Answer models =
        exchange(proxy.port(), http("GET", "/v1/models", "Host: " + host + "\r\n"));
    CHECK(models.status == 403);
  }
  CHECK(provider.requests().empty());
  size_t forwarded = 0;
  for (const std::string& host :
       {"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, std::string("localhost")}) {
    CAPTURE(host);
    const Answer chat = exchange(proxy.port(), http("POST", "/v1/chat/completions",
                                                    "Host: " + host + "\r\n" + k_json, k_chat));
    CAPTURE(shown(chat.head));
    CHECK(chat.status == 200);
    CHECK(provider.requests().size() == ++forwarded);
  }
}

TEST_CASE("security: a host listed in proxy.allowed_hosts is served with auth off") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  settings["allowed_hosts"] = {"myhost.lan"};
  Proxy proxy(settings);
  const std::string port = std::to_string(proxy.port());
  const Answer listed =
      exchange(proxy.port(), http("POST", "/v1/chat/completions",
                                  "Host: myhost.lan:" + port + "\r\n" + k_json, k_chat));
  CAPTURE(shown(listed.head));
  CHECK(listed.status == 200);
  CHECK(provider.requests().size() == 1);
  const Answer other =
      exchange(proxy.port(), http("POST", "/v1/chat/completions",
                                  "Host: other.lan:" + port + "\r\n" + k_json, k_chat));
  CHECK(other.status == 403);
  CHECK(other.header("x-agproxy-reason") == "host_not_allowed");
  CHECK(provider.requests().size() == 1);
}

TEST_CASE("security: the Host rule applies only while auth is off") {
  FakeProvider provider;
  json settings = proxy_settings("strict");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  const Answer answer =
      exchange(proxy.port(), http("POST", "/v1/chat/completions",
                                  "Host: evil.example\r\n" + k_auth + k_json, k_chat));
  CAPTURE(shown(answer.head));
  CHECK(answer.status == 200);
  CHECK(provider.requests().size() == 1);
}

// 3. Auth before the body
// --------------------------------------------------------------------------

namespace {

const std::string k_big_head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                               k_json + "Content-Length: 1000000\r\n";

} // namespace

TEST_CASE("security: a request without the key gets its 401 before its body, and no 100 Continue") {
  FakeProvider provider;
  json settings = proxy_settings("strict");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);

  for (const bool expect : {true, false}) {
    CAPTURE(expect);
    RawClient client(proxy.port());
    REQUIRE(client.connected());
    const auto start = Clock::now();
    client.send(k_big_head + (expect ? "Expect: 100-continue\r\n" : "") + "\r\n");
    const Answer answer = client.read_answer(1s); // the head only: no body is ever sent
    const auto elapsed = Clock::now() - start;
    CAPTURE(shown(client.received()));
    CHECK(answer.status == 401);
    CHECK(elapsed < 1s);
    CHECK(contains(answer.header("www-authenticate"), "realm=\"agproxy\""));
    CHECK_FALSE(contains(client.received(), "100 Continue"));
  }
  CHECK(provider.requests().empty());

  // With the key, the client is asked for its body, and the request goes through.
  RawClient client(proxy.port());
  REQUIRE(client.connected());
  client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" + k_auth + k_json +
              "Content-Length: " + std::to_string(k_chat.size()) +
              "\r\nExpect: 100-continue\r\n\r\n");
  CHECK(client.read_until(
      [](const std::string& in) { return contains(in, "HTTP/1.1 100 Continue\r\n"); }, 1s));
  client.send(k_chat);
  CHECK(client.read_answer().status == 200);
  CHECK(provider.requests().size() == 1);
}

TEST_CASE("security: a denied request's small body is skipped unread and the connection goes on") {
  FakeProvider provider;
  json settings = proxy_settings("strict");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  RawClient client(proxy.port());
  REQUIRE(client.connected());
  const std::string keyless = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" + k_json +
                              "Content-Length: " + std::to_string(k_chat.size()) + "\r\n\r\n" +
                              k_chat;
  // Two keyless requests, then one with the key, pipelined on one connection.
  client.send(keyless + keyless + "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
              k_auth + k_json + "Content-Length: " + std::to_string(k_chat.size()) + "\r\n\r\n" +
              k_chat);
  CHECK(client.read_until(
      [](const std::string& in) {
        size_t answers = 0;
        for (size_t at = in.find("HTTP/1.1 "); at != std::string::npos;
             at = in.find("HTTP/1.1 ", at + 1)) {
          ++answers;
        }
        return answers == 3 && parse_answer(in.substr(in.rfind("HTTP/1.1 "))).complete;
      },
      3s));
  const std::string& in = client.received();
  CHECK(in.starts_with("HTTP/1.1 401"));
  CHECK(parse_answer(in.substr(in.rfind("HTTP/1.1 "))).status == 200);
  CHECK_FALSE(client.closed());
  CHECK(provider.requests().size() == 1);
}

TEST_CASE("security: the brute-force guard's 429 comes before the body too") {
  FakeProvider provider;
  json settings = proxy_settings("strict");
  settings["upstreams"] = every_family(provider);
  settings["auth_throttle"] = {
      {"max_failures", 3}, {"window_seconds", 60}, {"include_loopback", true}};
  Proxy proxy(settings);
  for (int i = 0; i < 3; ++i) {
    const Answer denied = exchange(proxy.port(), http("GET", "/v1/models",
                                                      "Host: 127.0.0.1\r\nAuthorization: Bearer " +
                                                          std::string(k_other) + "\r\n"));
    CHECK(denied.status == 401);
  }
  for (const bool expect : {false, true}) {
    CAPTURE(expect);
    RawClient client(proxy.port());
    REQUIRE(client.connected());
    const auto start = Clock::now();
    client.send(k_big_head + (expect ? "Expect: 100-continue\r\n" : "") + "\r\n");
    const Answer answer = client.read_answer(1s);
    CAPTURE(shown(client.received()));
    CHECK(answer.status == 429);
    CHECK(Clock::now() - start < 1s);
    CHECK_FALSE(answer.header("retry-after").empty());
    CHECK_FALSE(contains(client.received(), "100 Continue"));
  }
  CHECK(provider.requests().empty());
}

// 4. Memory
// ----------------------------------------------------------------------------------------

namespace {

constexpr long k_max_growth_kib = 32 * 1024;

// Under AddressSanitizer freed memory is held in quarantine (256 MiB by default), so the RSS of a
// process that allocates per request grows whatever it keeps: the bound is checked in the plain
// build, and only reported in the sanitised one.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool k_rss_meaningful = false;
#else
constexpr bool k_rss_meaningful = true;
#endif

// The highest VmRSS of `pid` seen while sampling.
struct RssPeak {
  int pid;
  long before;
  long peak;
  Clock::time_point last{};

  explicit RssPeak(int process) : pid(process), before(rss_kib(process)), peak(before) {}
  // Sample, at most every 100 ms.
  void sample() {
    if (Clock::now() - last >= 100ms) {
      last = Clock::now();
      peak = std::max(peak, rss_kib(pid));
    }
  }
  long growth() const { return peak - before; }
};

} // namespace

TEST_CASE("security: a client that pipelines without reading does not grow the proxy's memory") {
  Proxy proxy(proxy_settings("strict"), {"--log-level", "warn"});
  RssPeak rss(proxy.server->pid());
  REQUIRE(rss.before > 0);
  RawClient client(proxy.port());
  REQUIRE(client.connected());
  std::string batch;
  while (batch.size() < (64u << 10)) {
    batch += "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"; // no key: a 401 each
  }
  const auto start = Clock::now();
  auto last_progress = start;
  size_t sent = 0;
  size_t offset = 0;
  bool refused = false;
  while (Clock::now() - start < 4s && sent < (18u << 20) && Clock::now() - last_progress < 1s) {
    rss.sample();
    const ssize_t n =
        ::send(client.fd(), batch.data() + offset, batch.size() - offset, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      offset = (offset + static_cast<size_t>(n)) % batch.size();
      last_progress = Clock::now();
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{client.fd(), POLLOUT, 0};
      ::poll(&p, 1, 20);
    } else {
      refused = true; // the proxy closed the connection: also a bound
      break;
    }
  }
  for (int i = 0; i < 5; ++i) { // what the proxy still had buffered
    std::this_thread::sleep_for(100ms);
    rss.sample();
  }
  MESSAGE("pipelined " << (sent >> 10) << " KiB without reading"
                       << std::string(refused ? " (then closed by the proxy)" : "")
                       << "; proxy RSS grew by " << rss.growth() << " KiB");
  if (k_rss_meaningful) {
    CHECK(rss.growth() < k_max_growth_kib);
  }
  // The proxy is still there for others.
  const Answer health =
      exchange(proxy.port(), http("GET", "/healthz", "Host: 127.0.0.1\r\n" + k_auth));
  CHECK(health.status == 200);
}

TEST_CASE("security: the bodies of requests without the key are not buffered") {
  Proxy proxy(proxy_settings("strict"), {"--log-level", "warn"});
  RssPeak rss(proxy.server->pid());
  REQUIRE(rss.before > 0);
  constexpr size_t k_length = 33'000'000; // under the 32 MiB body limit
  std::vector<std::unique_ptr<RawClient>> clients;
  std::vector<size_t> sent(4, 0);
  std::vector<bool> open(4, true);
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<RawClient>(proxy.port()));
    REQUIRE(clients.back()->connected());
    clients.back()->send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" + k_json +
                         "Content-Length: " + std::to_string(k_length) + "\r\n\r\n");
  }
  const std::string piece(64u << 10, ' ');
  // Send to each connection, never completing a body (the last 16 bytes are held back).
  const auto feed = [&](size_t most) {
    for (size_t i = 0; i < clients.size(); ++i) {
      clients[i]->pump();
      if (!open[i]) {
        continue;
      }
      const size_t size = std::min({most, piece.size(), k_length - 16 - sent[i]});
      if (size == 0) {
        continue;
      }
      const ssize_t n = ::send(clients[i]->fd(), piece.data(), size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent[i] += static_cast<size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        open[i] = false; // the proxy closed it
      }
    }
    rss.sample();
  };
  const auto start = Clock::now();
  while (Clock::now() - start < 3s) {
    feed(piece.size());
    std::vector<pollfd> polls;
    for (const auto& client : clients) {
      polls.push_back({client->fd(), POLLOUT | POLLIN, 0});
    }
    ::poll(polls.data(), polls.size(), 10);
  }
  for (int i = 0; i < 4; ++i) { // then one byte every 500 ms, for 2 s
    feed(1);
    const auto until = Clock::now() + 500ms;
    while (Clock::now() < until) {
      for (const auto& client : clients) {
        client->pump(5ms);
      }
      rss.sample();
    }
  }
  size_t total = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    total += sent[i];
    CAPTURE(i);
    CAPTURE(shown(clients[i]->received()));
    CHECK(parse_answer(clients[i]->received()).status == 401);
  }
  MESSAGE("4 keyless connections sent " << (total >> 10) << " KiB of body; proxy RSS grew by "
                                        << rss.growth() << " KiB");
  if (k_rss_meaningful) {
    CHECK(rss.growth() < k_max_growth_kib);
  }
}

// 5. Body deadline and trailers
// --------------------------------------------------------------------

TEST_CASE("security: a body trickled below the minimum rate gets 408 by the body deadline") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  settings["body_timeout"] = 2;
  settings["body_min_rate"] = 1024;
  Proxy proxy(settings);
  std::string body = k_chat;
  body.resize(100, ' ');
  RawClient client(proxy.port());
  REQUIRE(client.connected());
  const auto start = Clock::now();
  client.send("POST /v1/chat/completions HTTP/1.1\r\n" + k_local + k_json +
              "Content-Length: 100\r\n\r\n");
  Clock::duration arrived{};
  for (size_t i = 0; i < body.size() && Clock::now() - start < 4500ms; ++i) {
    if (!client.send(body.substr(i, 1))) {
      break;
    }
    client.read_until([](const std::string& in) { return !in.empty(); }, 300ms);
    if (!client.received().empty()) {
      arrived = Clock::now() - start;
      break;
    }
  }
  const Answer answer = client.read_answer(500ms);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(arrived).count();
  CAPTURE(ms);
  CAPTURE(shown(answer.head));
  CHECK(answer.status == 408);
  CHECK(arrived >= 1500ms);
  CHECK(arrived <= 4s);
  CHECK(provider.requests().empty());
}

TEST_CASE("security: a chunked body's trailer section is bounded") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\n" + k_local + k_json +
                           "Transfer-Encoding: chunked\r\n\r\n";
  const std::string body = chunked(k_chat);
  std::string trailers;
  while (trailers.size() <= (80u << 10)) {
    trailers += "X-T: " + std::string(900, 'a') + "\r\n";
  }
  RawClient client(proxy.port());
  REQUIRE(client.connected());
  const auto start = Clock::now();
  client.send(head + body.substr(0, body.size() - 2) + trailers + "\r\n");
  const Answer answer = client.read_answer(2s);
  CAPTURE(shown(answer.head));
  CHECK(answer.status == 400);
  CHECK(Clock::now() - start < 2s);
  CHECK(provider.requests().empty());

  // A few small trailer fields are fine.
  const Answer small =
      exchange(proxy.port(), head + body.substr(0, body.size() - 2) + "X-T: a\r\nX-U: b\r\n\r\n");
  CHECK(small.status == 200);
  CHECK(provider.requests().size() == 1);
}

// 6. Connection caps
// -------------------------------------------------------------------------------

namespace {

// Open a connection from `from` and read its answer within 1 s: whatever the proxy sends at once,
// else the answer to GET /healthz; return it, and whether the proxy closed the connection.
std::pair<Answer, bool> one_more(int port, const char* from) {
  RawClient client(port, from);
  REQUIRE(client.connected());
  const auto start = Clock::now();
  if (!client.read_until([](const std::string& in) { return !in.empty(); }, 300ms) &&
      !client.closed()) {
    client.send(http("GET", "/healthz", k_local));
  }
  const Answer answer = client.read_answer(1s);
  const bool closed = client.wait_closed(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max<Clock::duration>(0ms, 1s - (Clock::now() - start))));
  return {answer, closed};
}

// Open `count` connections from `from`, each with a partial request line, and keep them.
void hold(std::vector<std::unique_ptr<RawClient>>& held, int port, const char* from, int count) {
  for (int i = 0; i < count; ++i) {
    held.push_back(std::make_unique<RawClient>(port, from));
    REQUIRE(held.back()->connected());
    held.back()->send("GET /heal");
  }
}

// After a held connection closed, a new one gets answered (the proxy may take a moment to see it).
int status_after_release(int port, const char* from) {
  int status = 0;
  for (const auto until = Clock::now() + 2s; Clock::now() < until && status != 200;) {
    status = exchange(port, http("GET", "/healthz", k_local), 1s, from).status;
    if (status != 200) {
      std::this_thread::sleep_for(100ms);
    }
  }
  return status;
}

} // namespace

TEST_CASE("security: connections are capped per client address") {
  json settings = proxy_settings("auto");
  settings["max_connections_per_client"] = 4;
  Proxy proxy(settings);
  std::vector<std::unique_ptr<RawClient>> held;
  hold(held, proxy.port(), "127.0.0.1", 4);
  std::this_thread::sleep_for(100ms);
  const auto fifth = one_more(proxy.port(), "127.0.0.1");
  CAPTURE(shown(fifth.first.head));
  CHECK(fifth.first.status == 503);
  CHECK(fifth.second); // closed
  // Another address has its own allowance.
  CHECK(one_more(proxy.port(), "127.0.0.2").first.status == 200);
  held.front()->close();
  CHECK(status_after_release(proxy.port(), "127.0.0.1") == 200);
}

TEST_CASE("security: connections are capped in total") {
  json settings = proxy_settings("auto");
  settings["max_connections"] = 4;
  Proxy proxy(settings);
  std::vector<std::unique_ptr<RawClient>> held;
  hold(held, proxy.port(), "127.0.0.1", 2);
  hold(held, proxy.port(), "127.0.0.2", 2);
  std::this_thread::sleep_for(100ms);
  const auto fifth = one_more(proxy.port(), "127.0.0.3");
  CAPTURE(shown(fifth.first.head));
  CHECK(fifth.first.status == 503);
  CHECK(fifth.second); // closed
  held.front()->close();
  CHECK(status_after_release(proxy.port(), "127.0.0.1") == 200);
}

// 7. Paths
// -----------------------------------------------------------------------------------------

namespace {

json path_upstreams(const FakeProvider& provider) {
  return json::array({upstream("oa", "openai", provider.url() + "/api"),
                      upstream("ge", "gemini", provider.url(), {{"models", {"gemini-1.5-*"}}})});
}

} // namespace

TEST_CASE("security: targets that could climb above base_url or smuggle are refused unsent") {
  FakeProvider provider;
  json settings = proxy_settings("strict");
  settings["upstreams"] = path_upstreams(provider);
  Proxy proxy(settings);
  const std::vector<std::string> openai_targets = {"/v1/../../admin/secret",
                                                   "/v1/%2e%2e/%2e%2e/admin/secret",
                                                   "/v1/.%2e/admin",
                                                   "/v1/%2E%2E%2Fadmin",
                                                   "/v1/./models",
                                                   "/v1/files%2fx",
                                                   "/v1/a%5cb",
                                                   "/v1/a\\b",
                                                   "/v1/x%3Fkey=abc",
                                                   "/v1/x%23y",
                                                   "/v1/x%00y",
                                                   "/v1/x%252e%252e/y",
                                                   "/v1/x%zz"};
  for (const std::string& target : openai_targets) {
    CAPTURE(target);
    const Answer answer =
        exchange(proxy.port(),
                 http("GET", target, "Host: 127.0.0.1\r\n" + k_auth + "Connection: close\r\n"));
    CAPTURE(shown(answer.head));
    CHECK(answer.status == 400);
    CHECK(provider.requests().empty());
  }
  for (const std::string target : {
           "/v1beta/models/gemini-1.5-flash/../gemini-2.5-pro:generateContent",
           "/v1beta/models/gemini-1.5-flash%2F..%2Fgemini-2.5-pro:generateContent",
           "/v1beta/models/gemini@1.5:generateContent",
       }) {
    CAPTURE(target);
    const Answer answer = exchange(
        proxy.port(), http("POST", target, "Host: 127.0.0.1\r\n" + k_auth + k_json, k_gemini_body));
    CAPTURE(shown(answer.head));
    CHECK(answer.status == 400);
    CHECK(provider.requests().empty());
  }
  for (const SeenRequest& seen : provider.requests()) {
    MESSAGE("forwarded: " << seen.method << " " << shown(seen.target));
  }
}

TEST_CASE("security: a path goes upstream as sent, below base_url's path") {
  FakeProvider provider;
  json settings = proxy_settings("strict");
  settings["upstreams"] = path_upstreams(provider);
  Proxy proxy(settings);
  const Answer answer =
      exchange(proxy.port(), http("GET", "/v1/files/a%20b", "Host: 127.0.0.1\r\n" + k_auth));
  CAPTURE(shown(answer.head));
  CHECK(answer.header("x-agproxy-upstream") == "oa");
  const std::vector<SeenRequest> seen = provider.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "GET");
  CHECK(seen[0].target == "/api/v1/files/a%20b");
}

TEST_CASE("security: a key parameter smuggled by encoding its name is stripped") {
  FakeProvider provider;
  json settings = proxy_settings("strict");
  settings["upstreams"] = path_upstreams(provider);
  Proxy proxy(settings);
  const Answer answer = exchange(
      proxy.port(),
      http("POST", "/v1beta/models/gemini-1.5-flash:generateContent?%6bey=some-canary&alt=sse",
           "Host: 127.0.0.1\r\n" + k_auth + k_json, k_gemini_body));
  CAPTURE(shown(answer.head));
  CHECK(answer.status == 200);
  const std::vector<SeenRequest> seen = provider.requests();
  REQUIRE(seen.size() == 1);
  CAPTURE(seen[0].query);
  CHECK_FALSE(contains(seen[0].query, "canary"));
  CHECK_FALSE(contains(seen[0].target, "canary"));
  CHECK(contains(seen[0].query, "alt=sse"));
}

// 8. One parse that routes
// -------------------------------------------------------------------------

TEST_CASE("security: a body that does not parse is refused; a model-less one never reaches an "
          "upstream that restricts models") {
  FakeProvider provider;
  json settings = proxy_settings("strict");
  settings["upstreams"] =
      json::array({upstream("restricted", "openai", provider.url(), {{"models", {"gpt-*"}}})});
  Proxy proxy(settings);
  const std::string head = "Host: 127.0.0.1\r\n" + k_auth + k_json;
  for (const std::string body :
       {R"({"model":"o1-pro","n":1e999})", R"({"model":"gpt-4o","temperature":NaN})",
        R"({"model":"gpt-4o","temperature":Infinity})", "hello"}) {
    CAPTURE(body);
    const Answer answer = exchange(proxy.port(), http("POST", "/v1/chat/completions", head, body));
    CAPTURE(shown(answer.head));
    CHECK(answer.status == 400);
    CHECK(provider.requests().empty());
  }
  const Answer modelless =
      exchange(proxy.port(), http("POST", "/v1/chat/completions", head, R"({"messages":[]})"));
  CAPTURE(shown(modelless.head));
  CHECK(modelless.status == 404);
  CHECK(provider.requests().empty());
  // And the upstream does serve what it lists.
  CHECK(exchange(proxy.port(), http("POST", "/v1/chat/completions", head, k_chat)).status == 200);
  CHECK(provider.requests().size() == 1);
}

TEST_CASE("security: a model-less request goes to an upstream that does not restrict models") {
  FakeProvider restricted, open;
  json settings = proxy_settings("strict");
  settings["upstreams"] =
      json::array({upstream("restricted", "openai", restricted.url(), {{"models", {"gpt-*"}}}),
                   upstream("open", "openai", open.url())});
  Proxy proxy(settings);
  const Answer answer =
      exchange(proxy.port(), http("POST", "/v1/chat/completions",
                                  "Host: 127.0.0.1\r\n" + k_auth + k_json, R"({"messages":[]})"));
  CAPTURE(shown(answer.head));
  CHECK(answer.status == 200);
  CHECK(answer.header("x-agproxy-upstream") == "open");
  CHECK(restricted.requests().empty());
  CHECK(open.requests().size() == 1);
}

// 9. Leaks
// -----------------------------------------------------------------------------------------

TEST_CASE("security: an upstream's URL secrets stay out of answers, logs and config show") {
  json settings = proxy_settings("strict");
  settings["upstreams"] = json::array({upstream("leaky-upstream", "openai",
                                                std::string("http://user:") + k_userinfo_canary +
                                                    "@127.0.0.1:1/?token=" + k_query_canary)});
  Proxy proxy(settings);
  RawClient client(proxy.port());
  REQUIRE(client.connected());
  client.send(
      http("POST", "/v1/chat/completions", "Host: 127.0.0.1\r\n" + k_auth + k_json, k_chat));
  const Answer answer = client.read_answer(5s);
  CAPTURE(shown(client.received()));
  CHECK(answer.status == 502);
  CHECK(contains(answer.body, "leaky-upstream"));
  CHECK_FALSE(contains(client.received(), k_userinfo_canary));
  CHECK_FALSE(contains(client.received(), k_query_canary));
  CHECK_FALSE(contains(answer.body, "127.0.0.1:1"));
  CHECK_FALSE(contains(answer.body, "127.0.0.1")); // the host is the URL too

  CHECK(proxy.server->wait_for_log("/v1/chat/completions 502", 2s));
  const std::string log = proxy.server->log();
  CHECK_FALSE(contains(log, k_userinfo_canary));
  CHECK_FALSE(contains(log, k_query_canary));

  const RunResult shown_config = run_agproxy({"config", "show", "--config", proxy.config()}, Env{});
  CHECK(shown_config.exit_code == 0);
  CHECK(contains(shown_config.out, "leaky-upstream"));
  CHECK_FALSE(contains(shown_config.out + shown_config.err, k_userinfo_canary));
  CHECK_FALSE(contains(shown_config.out + shown_config.err, k_query_canary));
}

// 10. Honest forwarding
// ----------------------------------------------------------------------------

TEST_CASE("security: the upstream gets the client's method as sent, a GET with a body included") {
  RawProvider provider("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                       "2\r\n\r\n{}");
  json settings = proxy_settings("strict");
  settings["upstreams"] = json::array({upstream("raw", "openai", provider.url())});
  Proxy proxy(settings);
  const Answer answer =
      exchange(proxy.port(),
               http("GET", "/v1/models/x", "Host: 127.0.0.1\r\n" + k_auth + k_json, R"({"a":1})"));
  CAPTURE(shown(answer.head));
  CHECK(answer.status == 200);
  const std::vector<std::string> seen = provider.requests();
  REQUIRE(seen.size() == 1);
  CAPTURE(shown(seen[0]));
  CHECK(seen[0].starts_with("GET /v1/models/x HTTP/1.1\r\n"));
  const size_t end = seen[0].find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  CHECK(contains(seen[0].substr(end + 4), R"({"a":1})"));
}

TEST_CASE("security: proxy, hop-by-hop, forwarding, cookie and key headers are not forwarded") {
  FakeProvider provider;
  json settings = proxy_settings("strict");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  const Answer answer = exchange(proxy.port(), http("POST", "/v1/chat/completions",
                                                    "Host: 127.0.0.1\r\n" + k_auth + k_json +
                                                        "x-agproxy-upstream: forged\r\n"
                                                        "Connection: keep-alive, X-Secret\r\n"
                                                        "X-Secret: 1\r\n"
                                                        "Forwarded: for=1.2.3.4\r\n"
                                                        "X-Forwarded-For: 1.2.3.4\r\n"
                                                        "X-Forwarded-Host: evil\r\n"
                                                        "Cookie: session=abc\r\n"
                                                        "api-key: " +
                                                        std::string(k_key) + "\r\nX-Kept: yes\r\n",
                                                    k_chat));
  CAPTURE(shown(answer.head));
  CHECK(answer.status == 200);
  const std::vector<SeenRequest> seen = provider.requests();
  REQUIRE(seen.size() == 1);
  for (const char* name : {"x-agproxy-upstream", "x-secret", "forwarded", "x-forwarded-for",
                           "x-forwarded-host", "cookie", "api-key"}) {
    CAPTURE(name);
    CHECK(seen[0].headers.count(name) == 0);
  }
  for (const auto& [name, value] : seen[0].headers) {
    CAPTURE(name);
    CHECK_FALSE(contains(value, k_key));
  }
  CHECK(seen[0].headers.count("x-kept") == 1); // other headers do go
}

TEST_CASE("security: a client header value with a control character is refused") {
  FakeProvider provider;
  json settings = proxy_settings("strict");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  for (const std::string& value : {std::string("a\x01") + "b", std::string("a\x7f") + "b"}) {
    CAPTURE(shown(value));
    const Answer answer =
        exchange(proxy.port(),
                 http("POST", "/v1/chat/completions",
                      "Host: 127.0.0.1\r\n" + k_auth + k_json + "X-A: " + value + "\r\n", k_chat));
    CAPTURE(shown(answer.head));
    CHECK(answer.status == 400);
    CHECK(provider.requests().empty());
  }
  // A tab is allowed in a value.
  CHECK(exchange(proxy.port(),
                 http("POST", "/v1/chat/completions",
                      "Host: 127.0.0.1\r\n" + k_auth + k_json + "X-A: a\tb\r\n", k_chat))
            .status == 200);
  CHECK(provider.requests().size() == 1);
}

// 11. The provider's side
// ----------------------------------------------------------------------------

TEST_CASE("security: a provider header with a bare CR does not reach the client") {
  RawProvider provider("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Bad: a\rb\r\n"
                       "X-Good: ok\r\nContent-Length: 2\r\n\r\n{}");
  json settings = proxy_settings("strict");
  settings["upstreams"] = json::array({upstream("raw", "openai", provider.url())});
  Proxy proxy(settings);
  RawClient client(proxy.port());
  REQUIRE(client.connected());
  client.send(
      http("POST", "/v1/chat/completions", "Host: 127.0.0.1\r\n" + k_auth + k_json, k_chat));
  const Answer answer = client.read_answer();
  CAPTURE(shown(client.received()));
  CHECK(answer.status == 200);
  CHECK(answer.header("x-good") == "ok");
  CHECK(answer.count("x-bad") == 0);
  CHECK_FALSE(contains(client.received(), "a\rb"));
  CHECK_FALSE(contains(lower(client.received()), "x-bad"));
  CHECK(provider.requests().size() == 1);
}

// 12. Strict framing
// -------------------------------------------------------------------------------

TEST_CASE("security: bare LF line endings are refused") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  const Answer health = exchange(proxy.port(), "GET /healthz HTTP/1.1\nHost: localhost\n\n");
  CAPTURE(shown(health.head));
  CHECK(health.status == 400);
  // One bare LF among CRLF lines.
  const Answer mixed =
      exchange(proxy.port(), "POST /v1/chat/completions HTTP/1.1\r\n"
                             "Host: localhost\nContent-Type: application/json\r\n"
                             "Content-Length: " +
                                 std::to_string(k_chat.size()) + "\r\n\r\n" + k_chat);
  CAPTURE(shown(mixed.head));
  CHECK(mixed.status == 400);
  CHECK(provider.requests().empty());
}

TEST_CASE("security: chunk framing is strict") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\n" + k_local + k_json +
                           "Transfer-Encoding: chunked\r\n\r\n";
  const std::string control_extension = std::string(";a") + '\x01' + "b\r\n";
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"whitespace after the chunk size", chunked(k_chat, " \r\n")},
      {"a control character in a chunk extension", chunked(k_chat, control_extension)},
      {"a bare LF after the chunk size", chunked(k_chat, "\n")},
      {"a bare LF after the chunk data", chunked(k_chat, "\r\n", "\n")},
  };
  for (const auto& [what, body] : bodies) {
    CAPTURE(what);
    const Answer answer = exchange(proxy.port(), head + body);
    CAPTURE(shown(answer.head));
    CHECK(answer.status == 400);
    CHECK(provider.requests().empty());
  }
  // Well framed, with an extension, it goes through.
  CHECK(exchange(proxy.port(), head + chunked(k_chat, ";ext=1\r\n")).status == 200);
  CHECK(provider.requests().size() == 1);
}

TEST_CASE("security: Transfer-Encoding on HTTP/1.0 is refused") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  const Answer answer =
      exchange(proxy.port(), "POST /v1/chat/completions HTTP/1.0\r\n" + k_local + k_json +
                                 "Transfer-Encoding: chunked\r\n\r\n" + chunked(k_chat));
  CAPTURE(shown(answer.head));
  CHECK(answer.status == 400);
  CHECK(provider.requests().empty());
}

TEST_CASE("security: smuggling shapes that were refused stay refused") {
  FakeProvider provider;
  json settings = proxy_settings("auto");
  settings["upstreams"] = every_family(provider);
  Proxy proxy(settings);
  const Answer both =
      exchange(proxy.port(), "POST /v1/chat/completions HTTP/1.1\r\n" + k_local + k_json +
                                 "Content-Length: " + std::to_string(chunked(k_chat).size()) +
                                 "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(k_chat));
  CHECK(both.status == 400);
  const Answer folded = exchange(proxy.port(), http("POST", "/v1/chat/completions",
                                                    k_local + k_json + "X-A: a\r\n b\r\n", k_chat));
  CHECK(folded.status == 400);
  CHECK(provider.requests().empty());
}
