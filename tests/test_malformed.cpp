// Hostile and broken HTTP over raw sockets, against an in-process gateway: every case ends with a
// 4xx or a closed connection within a bounded time, and other clients are answered throughout.
#include "server/gateway.hpp"
#include "server/http/http_request.hpp"
#include "server/log.hpp"
#include "tests/support.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex>
#include <sys/socket.h>
#include <unistd.h>

using namespace agproxy;
using namespace agproxy::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto k_header_timeout = 1000ms;
constexpr size_t k_max_body = 1 << 20;

// A gateway on an ephemeral loopback port (strict auth, the echo model), served on a thread.
class TestGateway {
public:
  TestGateway()
      : m_logger(LogLevel::info, LogFormat::text, [this](std::string_view line) {
          std::lock_guard lock(m_mutex);
          m_log.emplace_back(line);
        }) {
    ProxySettings settings;
    settings.auth_mode = AuthMode::strict;
    settings.api_key = k_key;
    ListenOptions options;
    options.port = 0;
    options.workers = 2;
    options.header_timeout = k_header_timeout;
    options.max_body_bytes = k_max_body;
    m_gateway = std::make_unique<Gateway>(
        m_logger, options,
        make_runtime_config(settings, false, [](std::string_view) { return std::nullopt; }));
    m_port = m_gateway->bind();
    m_thread = std::thread([this] { m_gateway->run(); });
  }
  ~TestGateway() {
    m_gateway->stop();
    m_thread.join();
  }
  int port() const { return m_port; }

private:
  std::mutex m_mutex;
  std::vector<std::string> m_log;
  Logger m_logger;
  std::unique_ptr<Gateway> m_gateway;
  int m_port = 0;
  std::thread m_thread;
};

// What a raw exchange produced.
struct Outcome {
  std::vector<int> statuses; // the status of each response, in order
  bool closed = false;       // the server closed the connection
  Clock::duration elapsed{}; // until the last response began or the connection closed
  std::string text;
};

// One scripted client: `pieces` sent `gap` apart (stopping if the server closes), then an optional
// half-close; what comes back is read until the server closes or stays silent for 300 ms after
// answering (or `timeout` passes).
struct Script {
  std::vector<std::string> pieces;
  std::chrono::milliseconds gap{0};
  bool half_close = false;
};

Outcome play(int port, const Script& script, std::chrono::milliseconds timeout = 5s) {
  Outcome outcome;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<uint16_t>(port));
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof target) == 0);
  const auto start = Clock::now();
  Clock::time_point last_data = start;
  // Read what is there for up to `wait`; return false once the server has closed.
  const auto take = [&](std::chrono::milliseconds wait) {
    const auto until = Clock::now() + wait;
    while (Clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 10) <= 0) {
        continue;
      }
      char buffer[65536];
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) {
        outcome.closed = true;
        outcome.elapsed = Clock::now() - start;
        return false;
      }
      if (outcome.text.find("HTTP/1.1 ", outcome.text.size() > 16 ? outcome.text.size() - 16 : 0) ==
          std::string::npos) {
        last_data = Clock::now();
      }
      outcome.text.append(buffer, static_cast<size_t>(n));
      outcome.elapsed = last_data - start;
    }
    return true;
  };
  bool open = true;
  for (const std::string& piece : script.pieces) {
    if (send(fd, piece.data(), piece.size(), MSG_NOSIGNAL) < 0 || !(open = take(script.gap))) {
      break;
    }
  }
  if (open && script.half_close) {
    shutdown(fd, SHUT_WR);
  }
  const auto deadline = start + timeout;
  while (open && Clock::now() < deadline) {
    const size_t before = outcome.text.size();
    open = take(300ms);
    if (open && before == outcome.text.size() && !outcome.text.empty()) {
      break; // answered, then silent: a kept-alive connection
    }
  }
  close(fd);
  static const std::regex status_line(R"(HTTP/1\.1 (\d{3}) )");
  for (auto it = std::sregex_iterator(outcome.text.begin(), outcome.text.end(), status_line);
       it != std::sregex_iterator(); ++it) {
    outcome.statuses.push_back(std::stoi((*it)[1]));
  }
  return outcome;
}

std::string get(const std::string& path, const std::string& headers = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n";
}

const std::string k_auth = std::string("Authorization: Bearer ") + k_key + "\r\n";

// Requests for /v1/chat/completions with the key and these framing headers and body bytes.
std::string post(const std::string& framing, const std::string& body) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" + k_auth +
         "Content-Type: application/json\r\n" + framing + "\r\n" + body;
}

const std::string k_chat =
    R"({"model":"agproxy-echo","messages":[{"role":"user","content":"hi"}]})";

// `count` chunks of `size` bytes each, then the last chunk.
std::string chunks(size_t size, size_t count) {
  std::string body;
  char head[32];
  std::snprintf(head, sizeof head, "%zx\r\n", size);
  for (size_t i = 0; i < count; ++i) {
    body += head + std::string(size, 'x') + "\r\n";
  }
  return body + "0\r\n\r\n";
}

std::string many_headers(size_t count) {
  std::string headers;
  for (size_t i = 0; i < count; ++i) {
    headers += "X-Filler-" + std::to_string(i) + ": value\r\n";
  }
  return headers;
}

// A well-formed client that asks for /healthz every 20 ms until stopped, counting the outcomes.
class Bystander {
public:
  explicit Bystander(int port)
      : m_thread([this, port] {
          httplib::Client client("127.0.0.1", port);
          client.set_connection_timeout(2, 0);
          client.set_read_timeout(2, 0);
          client.set_keep_alive(false);
          while (!m_stop) {
            const auto result =
                client.Get("/healthz", {{"Authorization", std::string("Bearer ") + k_key}});
            (result && result->status == 200 ? m_answered : m_failed)++;
            std::this_thread::sleep_for(20ms);
          }
        }) {}
  ~Bystander() { stop(); }
  void stop() {
    m_stop = true;
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  int answered() const { return m_answered; }
  int failed() const { return m_failed; }

private:
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_answered{0}, m_failed{0};
  std::thread m_thread;
};

// What a case must end with: these statuses in order (then anything), or, when `statuses` is
// empty, a close with no answer at all.
struct Case {
  const char* name;
  Script script;
  std::vector<int> statuses;
  bool must_close = true;
};

} // namespace

TEST_CASE("serve: malformed HTTP gets a 4xx or a closed connection, others are still served") {
  TestGateway gateway;
  Bystander bystander(gateway.port());
  const std::string long_uri = "/v1/models?" + std::string(100'000, 'a');
  const std::string chunked = "Transfer-Encoding: chunked\r\n";
  std::string trickle_headers;
  for (char c : get("/healthz", "X-Slow: " + std::string(200, 'z') + "\r\n")) {
    trickle_headers += c;
  }
  std::vector<std::string> trickle;
  for (char c : trickle_headers) {
    trickle.emplace_back(1, c);
  }

  const Case cases[] = {
      // The request line.
      {"not HTTP at all", {{"GARBAGE\r\n\r\n"}}, {400}},
      {"no HTTP version", {{"GET /healthz\r\n\r\n"}}, {400}},
      {"unknown HTTP version", {{"GET /healthz HTTP/9.9\r\n\r\n"}}, {400}},
      {"a fourth word in the request line",
       {{"GET /healthz HTTP/1.1 x\r\nHost: a\r\n\r\n"}},
       {400}},
      {"unknown method", {{"BREW /v1/models HTTP/1.1\r\nHost: a\r\n\r\n"}}, {400}},
      {"lowercase method", {{"get /healthz HTTP/1.1\r\nHost: a\r\n\r\n"}}, {400}},
      {"TRACE", {{"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"}}, {400}},
      {"CONNECT", {{"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: a\r\n\r\n"}}, {400}},
      {"a TLS ClientHello on the plain port",
       {{std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11) + "\r\n\r\n"}},
       {400}},
      {"NUL in the path", {{std::string("GET /heal\0thz HTTP/1.1\r\nHost: a\r\n\r\n", 35)}}, {400}},
      {"a 10 kB URI", {{get("/v1/models?" + std::string(10'000, 'a'), k_auth)}}, {414}},
      // Refused once 8 KiB of request line came without its end, not after the whole of it.
      {"a 100 kB URI", {{get(long_uri, k_auth)}}, {414}},
      {"a 10 kB method", {{std::string(10'000, 'G') + " / HTTP/1.1\r\n\r\n"}}, {414}},
      {"only CRLFs, then a half-close", {{"\r\n\r\n"}, 0ms, true}, {400}},
      // Headers.
      {"a 100 kB header",
       {{get("/healthz", "X-Big: " + std::string(100'000, 'b') + "\r\n")}},
       {431}},
      {"10,000 headers (past the 64 KiB for a request's head)",
       {{get("/healthz", many_headers(10'000))}},
       {431}},
      {"101 headers", {{get("/healthz", many_headers(101))}}, {431}},
      {"a header line without a colon", {{get("/healthz", "NoColonHere\r\n")}}, {400}},
      {"a space inside a header name", {{get("/v1/models", "Bad Name: x\r\n" + k_auth)}}, {400}},
      {"NUL in the key header",
       {{get("/v1/models", std::string("Authorization: Bearer sk-\0x\r\n", 29))}},
       {400}},
      {"a bare CR inside a header value",
       {{get("/v1/models", "Authorization: Bearer a\rb\r\n")}},
       {400}},
      // RFC 9112 §5.2: a server rejects obs-fold (or unfolds it); agproxy rejects it.
      {"an obs-fold continuation of the key header",
       {{get("/v1/models", "Authorization: Bearer\r\n " + std::string(k_key) + "\r\n")}},
       {400}},
      // Bodies.
      {"Content-Length not a number", {{post("Content-Length: abc\r\n", k_chat)}}, {400}},
      {"Content-Length negative", {{post("Content-Length: -1\r\n", k_chat)}}, {400}},
      {"two Content-Lengths that differ",
       {{post("Content-Length: 5\r\nContent-Length: 50\r\n", k_chat)}},
       {400}},
      {"Content-Length and Transfer-Encoding",
       {{post("Content-Length: 5\r\n" + chunked, "5\r\nhello\r\n0\r\n\r\n")}},
       {400}},
      {"Transfer-Encoding gzip, chunked",
       {{post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n")}},
       {400}},
      {"Content-Length over the limit", {{post("Content-Length: 99999999999\r\n", "")}}, {413}},
      {"Expect 100-continue over the limit",
       {{post("Content-Length: 2000000\r\nExpect: 100-continue\r\n", "")}},
       {413}},
      {"invalid chunk size", {{post(chunked, "zz\r\nhello\r\n0\r\n\r\n")}}, {400}},
      {"a chunk size that overflows",
       {{post(chunked, "ffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n")}},
       {400}},
      {"a chunk without its CRLF", {{post(chunked, "5\r\nhelloXX0\r\n\r\n")}}, {400}},
      // Read whole (the sender framed it well), then refused: the connection can go on.
      {"chunks just over the body limit",
       {{post(chunked, "100000\r\n" + std::string(0x100000, 'x') + "\r\n1\r\nx\r\n0\r\n\r\n")}},
       {413},
       false},
      // Past twice the limit as sent, reading stops: 413, then the rest is drained and dropped.
      {"chunks far over the body limit", {{post(chunked, chunks(0x1000, 600))}}, {413}},
      {"a body shorter than its Content-Length, then a half-close",
       {{post("Content-Length: 500\r\n", "{\"model\"")}, 0ms, true},
       {400}},
      // Timing and connection state.
      {"headers trickled a byte every 30 ms (slowloris)", {trickle, 30ms}, {400}},
      {"a request line trickled", {{"G", "E", "T", " ", "/", "h"}, 400ms}, {}},
      {"a request, then pipelined garbage",
       {{get("/healthz", k_auth) + "GARBAGE\r\n\r\n"}},
       {200, 400}},
      {"two pipelined requests",
       {{get("/healthz", k_auth) + get("/healthz", k_auth)}},
       {200, 200},
       false},
      {"a request, then a half-close", {{get("/healthz", k_auth)}, 0ms, true}, {200}},
      {"a half-close inside the headers", {{"GET /healthz HTTP/1.1\r\nHo"}, 0ms, true}, {400}},
  };
  CHECK(std::size(cases) >= 30);
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    const Outcome outcome = play(gateway.port(), c.script);
    if (std::getenv("AGPROXY_TEST_TRACE")) {
      std::string statuses;
      for (int s : outcome.statuses)
        statuses += std::to_string(s) + " ";
      MESSAGE(name << ": " << statuses << std::string(outcome.closed ? "closed " : "open ")
                   << std::chrono::duration_cast<std::chrono::milliseconds>(outcome.elapsed).count()
                   << " ms");
    }
    CAPTURE(outcome.text.substr(0, 300));
    if (c.statuses.empty()) {
      CHECK(outcome.statuses.empty());
    } else {
      CHECK(outcome.statuses.size() >= c.statuses.size());
      if (outcome.statuses.size() < c.statuses.size()) {
        continue;
      }
      for (size_t i = 0; i < c.statuses.size(); ++i) {
        CAPTURE(i);
        CHECK(outcome.statuses[i] == c.statuses[i]);
      }
    }
    if (c.must_close) {
      CHECK(outcome.closed);
    }
    // Bounded: an answer or a close within the header deadline and a margin (the trickles take
    // longer to send than that, so they show the deadline at work).
    CHECK(outcome.elapsed < k_header_timeout + 1500ms);
  }
  bystander.stop();
  MESSAGE("bystander requests answered during the cases: " << bystander.answered());
  CHECK(bystander.failed() == 0);
  CHECK(bystander.answered() > 20);
}

TEST_CASE("serve: HTTP/1.0, HEAD, Connection: close and pipelining are honoured") {
  TestGateway gateway;
  const std::string key_header = k_auth;

  // HTTP/1.0 without keep-alive: one answer, marked, then the close.
  Outcome old = play(gateway.port(), {{"GET /healthz HTTP/1.0\r\n" + key_header + "\r\n"}});
  CHECK(old.statuses == std::vector<int>{200});
  CHECK(old.closed);
  CHECK(old.text.find("Connection: close\r\n") != std::string::npos);

  // HTTP/1.0 asking for keep-alive: the connection stays.
  Outcome kept =
      play(gateway.port(),
           {{"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n" + key_header + "\r\n"}});
  CHECK(kept.statuses == std::vector<int>{200});
  CHECK_FALSE(kept.closed);

  // HTTP/1.1 with Connection: close.
  Outcome closing = play(gateway.port(), {{get("/healthz", key_header + "Connection: close\r\n")}});
  CHECK(closing.statuses == std::vector<int>{200});
  CHECK(closing.closed);

  // HEAD: the GET's headers with its length, and no body.
  Outcome head =
      play(gateway.port(),
           {{"HEAD /healthz HTTP/1.1\r\nHost: a\r\n" + key_header + "Connection: close\r\n\r\n"}});
  CHECK(head.statuses == std::vector<int>{200});
  const size_t end = head.text.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  CHECK(head.text.find("Content-Length: ") < end);
  CHECK(head.text.find("Content-Length: 0\r\n") == std::string::npos);
  CHECK(head.text.size() == end + 4);

  // A stream to an HTTP/1.0 client: no chunked coding (1.0 has none); the close ends the body.
  const std::string stream_body =
      R"({"model":"agproxy-echo","stream":true,"messages":[{"role":"user","content":"hello"}]})";
  Outcome stream =
      play(gateway.port(), {{"POST /v1/chat/completions HTTP/1.0\r\n" + key_header +
                             "Content-Type: application/json\r\nContent-Length: " +
                             std::to_string(stream_body.size()) + "\r\n\r\n" + stream_body}});
  CHECK(stream.statuses == std::vector<int>{200});
  CHECK(stream.closed);
  CHECK(stream.text.find("Transfer-Encoding") == std::string::npos);
  CHECK(stream.text.find("\r\n\r\ndata: ") != std::string::npos);
  CHECK(stream.text.ends_with("data: [DONE]\n\n"));

  // Three pipelined requests in one packet, answered in order.
  Outcome three = play(gateway.port(), {{get("/healthz", key_header) + get("/nowhere", key_header) +
                                         get("/healthz", key_header + "Connection: close\r\n")}});
  CHECK(three.statuses == std::vector<int>{200, 404, 200});
  CHECK(three.closed);
}

TEST_CASE("parse_request_head: the request line and headers as read") {
  httplib::Request request;
  REQUIRE(parse_request_head("POST /v1beta/models/gemini%2Dpro:generateContent?alt=sse&key=k "
                             "HTTP/1.1\r\nHost: a\r\nX-Api-Key: \t spaced \t\r\nEmpty:\r\n\r\n",
                             request) == 0);
  CHECK(request.method == "POST");
  CHECK(request.path == "/v1beta/models/gemini-pro:generateContent");
  CHECK(request.target == "/v1beta/models/gemini%2Dpro:generateContent?alt=sse&key=k");
  CHECK(request.get_param_value("alt") == "sse");
  CHECK(request.get_header_value("x-api-key") == "spaced");
  CHECK(request.has_header("Empty"));
  CHECK(request.get_header_value("Empty").empty());

  // Bare LF line endings are refused (RFC 9112 §2.2: a front proxy may read them otherwise).
  httplib::Request bare_lf;
  CHECK(parse_request_head("GET / HTTP/1.0\nHost: a\n\n", bare_lf) == 400);
  CHECK(parse_request_head("GET / HTTP/1.0\r\nHost: a\n\r\n", bare_lf) == 400);

  const auto status = [](const std::string& head) {
    httplib::Request ignored;
    return parse_request_head(head, ignored);
  };
  CHECK(status("\r\n") == 400);
  CHECK(status("GET  / HTTP/1.1\r\n\r\n") == 400);        // an empty word
  CHECK(status("GET http://a/ HTTP/1.1\r\n\r\n") == 400); // absolute form: not a proxy
  CHECK(status("GET /a\x7f HTTP/1.1\r\n\r\n") == 400);    // DEL in the target
  CHECK(status("GET / HTTP/1.1\r\n: empty name\r\n\r\n") == 400);
  CHECK(status("GET / HTTP/1.1\r\nA: b\r\n\tfolded\r\n\r\n") == 400);
  CHECK(status("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n") == 414);
  CHECK(status("GET / HTTP/1.1\r\nA: " + std::string(9000, 'a') + "\r\n\r\n") == 431);
}

TEST_CASE("safe_request_path: nothing that could climb above base_url or be read otherwise") {
  for (const char* path :
       {"/v1/chat/completions", "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1/files/a%20b", "/v1/files/file-abc.txt", "/", "/v1/x%2Ey", "/v1/...", "/v1/a.b/c"}) {
    CAPTURE(path);
    CHECK(safe_request_path(path));
  }
  for (const char* path : {"/v1/../../admin/secret",
                           "/v1/./models",
                           "/v1/..",
                           "/v1/.",
                           "/v1/%2e%2e/admin",
                           "/v1/.%2e/admin",
                           "/v1/%2E%2E%2Fadmin",
                           "/v1/files%2fx",
                           "/v1/a%5cb",
                           "/v1/a\\b",
                           "/v1/x%3Fkey=abc",
                           "/v1/x%23y",
                           "/v1/x%00y",
                           "/v1/x%0d%0ay",
                           "/v1/x%252e%252e/y",
                           "/v1/x%zz",
                           "/v1/x%2",
                           "/v1/x%",
                           "/v1/a b",
                           "/v1/a#b",
                           "/v1/caf\xc3\xa9",
                           "",
                           "v1/x"}) {
    CAPTURE(path);
    CHECK_FALSE(safe_request_path(path));
  }
  httplib::Request request;
  CHECK(parse_request_head("GET /v1/../admin HTTP/1.1\r\nHost: a\r\n\r\n", request) == 400);
  CHECK(parse_request_head("GET /v1/x?a=%2e%2e%2f HTTP/1.1\r\nHost: a\r\n\r\n", request) == 0);
  CHECK(parse_request_head("GET /v1/x?a#b HTTP/1.1\r\nHost: a\r\n\r\n", request) == 400);
  CHECK(parse_request_head("GET /healthz HTTP/1.1\r\nX-A: a\x01b\r\n\r\n", request) == 400);
  CHECK(parse_request_head("GET /healthz HTTP/1.1\r\nX-A: a\tb\r\n\r\n", request) == 0);
}

TEST_CASE("ChunkedDecoder: whole or a byte at a time, the same body; what follows is left") {
  const std::string encoded =
      "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
  const std::string after = "GET / HTTP/1.1\r\n";
  std::string body;
  size_t consumed = 0;
  ChunkedDecoder whole(1 << 20);
  CHECK(whole.feed(encoded + after, body, consumed) == ChunkedDecoder::Status::done);
  CHECK(body == "hello 0123456789");
  CHECK(consumed == encoded.size());
  CHECK(whole.raw_bytes() == encoded.size());

  ChunkedDecoder piecewise(1 << 20);
  std::string pieces_body;
  std::string pending;
  ChunkedDecoder::Status status = ChunkedDecoder::Status::more;
  for (char c : encoded) {
    pending += c;
    status = piecewise.feed(pending, pieces_body, consumed);
    pending.erase(0, consumed);
  }
  CHECK(status == ChunkedDecoder::Status::done);
  CHECK(pieces_body == body);
  CHECK(pending.empty());

  ChunkedDecoder bare_lf(1 << 20);
  body.clear();
  CHECK(bare_lf.feed("3\nabc\n0\n\n", body, consumed) == ChunkedDecoder::Status::malformed);
  ChunkedDecoder bare_lf_after_data(1 << 20);
  CHECK(bare_lf_after_data.feed("3\r\nabc\n0\r\n\r\n", body, consumed) ==
        ChunkedDecoder::Status::malformed);

  const auto status_of = [](const std::string& input) {
    ChunkedDecoder decoder(1 << 20);
    std::string ignored;
    size_t used = 0;
    return decoder.feed(input, ignored, used);
  };
  CHECK(status_of("zz\r\nhello\r\n") == ChunkedDecoder::Status::malformed);
  CHECK(status_of("5\r\nhelloXX0\r\n\r\n") == ChunkedDecoder::Status::malformed);
  CHECK(status_of("ffffffffffffffff\r\n") == ChunkedDecoder::Status::malformed);
  CHECK(status_of(std::string(2000, '1')) == ChunkedDecoder::Status::malformed);
  CHECK(status_of("5\r\nhel") == ChunkedDecoder::Status::more);
  // Strict framing (DESIGN §11): nothing around the size, no control characters in extensions,
  // trailers bounded.
  CHECK(status_of("5 \r\nhello\r\n0\r\n\r\n") == ChunkedDecoder::Status::malformed);
  CHECK(status_of(" 5\r\nhello\r\n0\r\n\r\n") == ChunkedDecoder::Status::malformed);
  CHECK(status_of("5;a\x01b\r\nhello\r\n0\r\n\r\n") == ChunkedDecoder::Status::malformed);
  CHECK(status_of("5;name=value\r\nhello\r\n0\r\n\r\n") == ChunkedDecoder::Status::done);
  CHECK(status_of("0\r\nX-T: " + std::string(20000, 'a') + "\r\n\r\n") ==
        ChunkedDecoder::Status::malformed);
  std::string many_trailers = "0\r\n";
  for (int i = 0; i < 2000; ++i) {
    many_trailers += "X-T: aaaa\r\n";
  }
  CHECK(status_of(many_trailers + "\r\n") == ChunkedDecoder::Status::malformed);
  CHECK(status_of("0\r\nX-T: a\r\n\r\n") == ChunkedDecoder::Status::done);

  ChunkedDecoder limited(4);
  body.clear();
  CHECK(limited.feed("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", body, consumed) ==
        ChunkedDecoder::Status::done);
  CHECK(limited.too_large());
  CHECK(body.empty());
}
