#include "server/gateway.hpp"

#include "server/connection.hpp"
#include "server/forward.hpp"
#include "server/protocol.hpp"
#include "server/respond.hpp"
#include "server/text.hpp"
#include "server/worker_pool.hpp"
#include "version.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace agproxy {

namespace {

constexpr const char* k_realm = "Bearer realm=\"agproxy\"";
constexpr const char* k_empty_key_log =
    "Proxy auth is enabled but api_key is empty; denying request";

// What the per-request log line needs to know that httplib's Response does not carry. httplib
// 0.11.4 has no per-request user data, and a request is handled on one worker thread from routing
// to the logger callback, so a thread-local is the narrowest place for it.
struct RequestTrace {
  std::chrono::steady_clock::time_point start;
  bool started = false;
  std::optional<KeyHeader> key_header;
  std::string upstream;
};
thread_local RequestTrace t_trace;
// The connection this worker thread serves (set by Gateway::Server for the handlers' hooks).
thread_local ConnectionStream* t_connection = nullptr;

std::optional<std::string_view> find_header(const httplib::Request& request, const char* name) {
  auto it = request.headers.find(name);
  if (it == request.headers.end()) {
    return std::nullopt;
  }
  return std::string_view(it->second);
}

// Return `text` with control bytes escaped, so a decoded path cannot forge a log line.
std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

bool is_glob(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

std::string too_large_message(size_t max_body) {
  return "agproxy: the request body is larger than the proxy accepts (" +
         std::to_string(max_body >> 20) + " MiB)";
}

// The characters of an HTTP token (RFC 9110 §5.6.2), by byte value.
constexpr std::array<bool, 256> k_token_chars = [] {
  std::array<bool, 256> table{};
  for (const char c : std::string_view("!#$%&'*+-.^_`|~")) {
    table[static_cast<unsigned char>(c)] = true;
  }
  for (int c = 0; c < 256; ++c) {
    table[c] =
        table[c] || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  }
  return table;
}();

// Why a request's body cannot be read safely.
struct FramingProblem {
  ErrorKind kind;
  const char* code;
  std::string message;
};

// Return what is wrong with `headers` or with how they frame the body, or nothing: a name that is
// not a token, a value with NUL or CR; a Content-Length that is not one number, several that
// differ, one above `max_body`; a Transfer-Encoding other than chunked (the only one httplib
// decodes) or one next to a Content-Length.
std::optional<FramingProblem> request_framing_problem(const httplib::Headers& headers,
                                                      size_t max_body) {
  const auto bad = [](std::string message) {
    return FramingProblem{ErrorKind::bad_request, "bad_request", "agproxy: " + message};
  };
  for (const auto& [name, value] : headers) {
    // RFC 9110 §5.1, §5.5: a name is a token; a value has no NUL or CR. (Checked on every
    // request, hence the table.)
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return k_token_chars[static_cast<unsigned char>(c)];
        })) {
      return bad("a header name is not a valid HTTP token");
    }
    if (value.find_first_of(std::string_view("\0\r", 2)) != std::string::npos) {
      return bad("a header value contains NUL or CR");
    }
  }
  const auto [te_begin, te_end] = headers.equal_range("Transfer-Encoding");
  const auto [cl_begin, cl_end] = headers.equal_range("Content-Length");
  if (te_begin != te_end) {
    if (cl_begin != cl_end) {
      return bad("the request has both Transfer-Encoding and Content-Length; send one");
    }
    if (std::next(te_begin) != te_end || !iequals(te_begin->second, "chunked")) {
      return bad("Transfer-Encoding other than chunked is not supported");
    }
    return std::nullopt;
  }
  for (auto it = cl_begin; it != cl_end; ++it) {
    const std::string& value = it->second;
    if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
      return bad("Content-Length must be a number of bytes");
    }
    if (value != cl_begin->second) {
      return bad("the request has several Content-Length headers that differ");
    }
  }
  if (cl_begin != cl_end && (cl_begin->second.size() > 15 ||
                             std::strtoull(cl_begin->second.c_str(), nullptr, 10) > max_body)) {
    return FramingProblem{ErrorKind::payload_too_large, "request_too_large",
                          too_large_message(max_body)};
  }
  return std::nullopt;
}

void set_cors_headers(const httplib::Request& request, httplib::Response& response) {
  if (request.has_header("Origin")) {
    response.set_header("Access-Control-Allow-Origin", "*");
    response.set_header("Access-Control-Expose-Headers",
                        "x-agproxy-reason, x-agproxy-upstream, x-agproxy-key, WWW-Authenticate");
  }
}

void answer_preflight(const httplib::Request& request, httplib::Response& response) {
  response.status = 204;
  response.set_header("Access-Control-Allow-Origin", "*");
  response.set_header("Access-Control-Allow-Methods",
                      "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
  const std::string asked = request.get_header_value("Access-Control-Request-Headers");
  response.set_header("Access-Control-Allow-Headers",
                      asked.empty() ? "Authorization, Content-Type, x-api-key, x-goog-api-key, "
                                      "anthropic-version, anthropic-beta"
                                    : asked);
  response.set_header("Access-Control-Max-Age", "86400");
}

} // namespace

// httplib's server with what its API does not reach: the accept backlog (compiled in at 5 in
// 0.11.4, which a burst of connects overflows, costing each overflow a 1 s SYN retry) and the loop
// that serves one connection (see ConnectionStream: a deadline for headers, fewer system calls,
// and idle keep-alive connections that sleep in poll() instead of waking every 10 ms).
class Gateway::Server : public httplib::Server {
public:
  explicit Server(std::chrono::milliseconds header_timeout)
      : m_header_timeout(header_timeout), m_stop_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~Server() override { ::close(m_stop_fd); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Set the listening socket's accept backlog to `backlog` (the kernel caps it at somaxconn).
  bool raise_backlog(int backlog) { return ::listen(svr_sock_, backlog) == 0; }
  // Make connections waiting for their next request close now (requests in flight finish).
  void close_idle_connections() {
    const uint64_t one = 1;
    (void)!::write(m_stop_fd, &one, sizeof one);
  }

private:
  bool process_and_close_socket(int sock) override {
    using std::chrono::milliseconds, std::chrono::seconds, std::chrono::microseconds;
    const auto read_timeout = std::chrono::duration_cast<milliseconds>(
        seconds(read_timeout_sec_) + microseconds(read_timeout_usec_));
    const auto write_timeout = std::chrono::duration_cast<milliseconds>(
        seconds(write_timeout_sec_) + microseconds(write_timeout_usec_));
    ConnectionStream stream(sock, read_timeout, write_timeout, payload_max_length_);
    t_connection = &stream;
    bool ok = false;
    for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
      if (!stream.wait_for_request(seconds(keep_alive_timeout_sec_), m_stop_fd)) {
        break;
      }
      stream.start_request(m_header_timeout);
      bool closed = false;
      ok = process_request(stream, left == 1, closed, nullptr);
      if (!stream.flush() || !ok || closed || stream.close_requested()) {
        break;
      }
    }
    t_connection = nullptr;
    if (stream.close_requested()) {
      stream.linger();
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }

  std::chrono::milliseconds m_header_timeout;
  int m_stop_fd;
};

std::shared_ptr<const RuntimeConfig> make_runtime_config(const ProxySettings& settings,
                                                         bool lan_access, const Environment& env,
                                                         const RuntimeConfig* previous) {
  auto config = std::make_shared<RuntimeConfig>();
  config->configured_mode = settings.auth_mode;
  config->lan_access = lan_access;
  config->policy =
      AuthPolicy(effective_auth_mode(settings.auth_mode, lan_access), settings.api_key);
  config->request_timeout = std::chrono::seconds(settings.request_timeout);
  config->echo_model = settings.echo_model.value_or(settings.upstreams.empty());
  config->auth_throttle = settings.auth_throttle;
  std::set<std::string> seen;
  if (config->echo_model) {
    seen.insert(k_echo_model);
    config->models.push_back({k_echo_model, "agproxy"});
  }
  for (size_t i = 0; i < settings.upstreams.size(); ++i) {
    const Upstream& upstream = settings.upstreams[i];
    std::vector<std::string> keys = resolve_api_keys(upstream, i, env);
    std::shared_ptr<KeyPool> pool;
    for (size_t j = 0; previous && j < previous->upstreams.size(); ++j) {
      if (previous->upstreams[j].name == upstream.name && previous->key_pools[j]->holds(keys)) {
        pool = previous->key_pools[j];
      }
    }
    config->upstreams.push_back(upstream);
    config->key_pools.push_back(pool ? pool : std::make_shared<KeyPool>(std::move(keys)));
    for (const auto& [alias, real] : upstream.model_map) {
      if (seen.insert(alias).second) {
        config->models.push_back({alias, upstream.name});
      }
    }
    for (const std::string& model : upstream.models) {
      if (!is_glob(model) && seen.insert(model).second) {
        config->models.push_back({model, upstream.name});
      }
    }
  }
  return config;
}

Gateway::Gateway(Logger& logger, ListenOptions options, std::shared_ptr<const RuntimeConfig> config)
    : m_logger(logger), m_options(std::move(options)),
      m_server(std::make_unique<Server>(m_options.header_timeout)), m_config(std::move(config)) {
  Server& server = *m_server;
  const size_t workers = m_options.workers;
  server.new_task_queue = [workers] {
    return new WorkerPool(workers);
  };
  server.set_tcp_nodelay(true);
  // httplib's default sets SO_REUSEPORT, which lets a second agproxy bind the same port and
  // silently share its traffic; SO_REUSEADDR alone still allows a quick restart.
  server.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server.set_payload_max_length(m_options.max_body_bytes);
  server.set_read_timeout(15, 0);
  server.set_write_timeout(30, 0);
  server.set_keep_alive_max_count(10000);

  const size_t max_body = m_options.max_body_bytes;
  server.set_pre_routing_handler(
      [max_body](const httplib::Request& request, httplib::Response& response) {
        t_trace = RequestTrace{std::chrono::steady_clock::now(), true, std::nullopt, {}};
        if (t_connection) {
          t_connection->headers_complete();
        }
        // Refuse a body that is announced too large, or framed ambiguously, before reading it:
        // httplib would drain the one and misread the other (request smuggling).
        if (const auto problem = request_framing_problem(request.headers, max_body)) {
          send_error(response, route_protocol(request.path), problem->kind, problem->code,
                     problem->message);
          // The body is not read, so what follows on the connection is not a request.
          response.set_header("Connection", "close");
          if (t_connection) {
            t_connection->close_after_response();
          }
          return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
      });
  // httplib answers "100 Continue" before the pre-routing handler runs: refuse there first.
  server.set_expect_100_continue_handler(
      [max_body](const httplib::Request& request, httplib::Response& response) {
        const auto problem = request_framing_problem(request.headers, max_body);
        if (!problem) {
          return 100;
        }
        send_error(response, route_protocol(request.path), problem->kind, problem->code,
                   problem->message);
        response.set_header("Connection", "close");
        if (t_connection) {
          t_connection->close_after_response();
        }
        return response.status;
      });
  auto handler = [this](const httplib::Request& request, httplib::Response& response) {
    handle(request, response);
  };
  // One catch-all per method: the gateway routes by itself, after auth, so that an unknown path
  // is never revealed to a client without the key.
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Patch(".*", handler);
  server.Delete(".*", handler);
  server.Options(".*", handler);

  // The HandlerWithResponse form: the plain form would overwrite the bodies of our own errors.
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body](const httplib::Request& request, httplib::Response& response) {
        if (!response.body.empty() || response.status < 400) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        if (response.status == 400 && t_connection && t_connection->body_too_large()) {
          response.status = 413; // a chunked body past the limit: httplib saw a read error
        }
        // httplib's own errors (a request it could not parse, too long, too large): where the
        // next request would start is unknown, so the connection ends with this answer.
        if (response.status == 400 || response.status == 413 || response.status == 414 ||
            response.status == 431) {
          response.set_header("Connection", "close");
          if (t_connection) {
            t_connection->close_after_response();
          }
        }
        const ErrorKind kind = error_kind_for_status(response.status);
        const int status = response.status;
        send_error(response, route_protocol(request.path), kind,
                   kind == ErrorKind::payload_too_large ? "request_too_large" : "bad_request",
                   kind == ErrorKind::payload_too_large
                       ? too_large_message(max_body)
                       : "agproxy: the HTTP request could not be processed");
        response.status = status;
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler(
      [this](const httplib::Request& request, httplib::Response& response, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        m_logger.error("request handler failed", {{"path", request.path}, {"error", what}});
        send_error(response, route_protocol(request.path), ErrorKind::internal, "internal_error",
                   "agproxy: internal error while handling the request; see the proxy's log");
      });
  server.set_logger([this](const httplib::Request& request, const httplib::Response& response) {
    log_request(request, response);
  });
}

Gateway::~Gateway() = default;

int Gateway::bind() {
  errno = 0;
  int port = m_options.port;
  bool bound = false;
  if (port == 0) {
    port = m_server->bind_to_any_port(m_options.host);
    bound = port > 0;
  } else {
    bound = m_server->bind_to_port(m_options.host, port);
  }
  if (!bound) {
    const std::string cause = errno != 0 ? std::string(": ") + std::strerror(errno) : "";
    throw Error("cannot listen on " + m_options.host + ":" + std::to_string(m_options.port) +
                cause +
                " (is another agproxy or Antigravity Tools running? change proxy.port or pass "
                "--port)");
  }
  if (!m_server->raise_backlog(m_options.backlog)) {
    m_logger.warn("could not raise the listen backlog; bursts of connections may stall",
                  {{"error", std::strerror(errno)}});
  }
  return port;
}

bool Gateway::run() {
  return m_server->listen_after_bind();
}

void Gateway::stop() {
  m_server->close_idle_connections();
  m_server->stop();
}

bool Gateway::running() const {
  return m_server->is_running();
}

void Gateway::update(std::shared_ptr<const RuntimeConfig> config) {
  std::lock_guard lock(m_config_mutex);
  m_config = std::move(config);
}

std::shared_ptr<const RuntimeConfig> Gateway::current() const {
  std::lock_guard lock(m_config_mutex);
  return m_config;
}

uint64_t Gateway::denials(DenyReason reason) const {
  return m_denials[static_cast<size_t>(reason)].load();
}

void Gateway::handle(const httplib::Request& request, httplib::Response& response) {
  const std::shared_ptr<const RuntimeConfig> config = current();
  const Protocol protocol = route_protocol(request.path);
  set_cors_headers(request, response);

  if (request.body.size() > m_options.max_body_bytes) { // chunked: the length was not announced
    send_error(response, protocol, ErrorKind::payload_too_large, "request_too_large",
               too_large_message(m_options.max_body_bytes));
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (auto wait = m_throttle.blocked(request.remote_addr, config->auth_throttle, now)) {
    const std::string seconds = std::to_string(wait->count());
    send_error(response, protocol, ErrorKind::rate_limited, "too_many_auth_failures",
               "agproxy: too many failed authentications from " + request.remote_addr +
                   "; retry in " + seconds + " s (proxy.auth_throttle)");
    response.set_header("Retry-After", seconds);
    response.set_header("x-agproxy-reason", "too_many_auth_failures");
    return;
  }
  AuthRequest auth{request.method, request.path, find_header(request, "Authorization"),
                   find_header(request, "x-api-key"), find_header(request, "x-goog-api-key")};
  const AuthDecision decision = decide(config->policy, auth);
  t_trace.key_header = decision.header_read;
  if (!decision.allowed) {
    // The one deny path: status, challenge, reason header, protocol-shaped body, counter, log.
    ++m_denials[static_cast<size_t>(decision.reason)];
    if (decision.reason == DenyReason::proxy_api_key_empty) {
      m_logger.error(k_empty_key_log); // the proxy's fault, not the client's: not counted
    } else {
      m_throttle.record_failure(request.remote_addr, config->auth_throttle, now);
    }
    send_error(response, protocol, ErrorKind::unauthenticated, to_string(decision.reason),
               describe_denial(decision, config->policy.mode()));
    response.set_header("WWW-Authenticate", k_realm);
    response.set_header("x-agproxy-reason", std::string(to_string(decision.reason)));
    return;
  }

  if (request.method == "OPTIONS") {
    answer_preflight(request, response);
    return;
  }
  if (is_health_path(request.path)) {
    if (request.method != "GET" && request.method != "HEAD") {
      response.set_header("Allow", "GET, HEAD");
      send_error(response, protocol, ErrorKind::method_not_allowed, "method_not_allowed",
                 "agproxy: " + request.path + " answers GET and HEAD only");
      return;
    }
    const nlohmann::json body = {{"status", "ok"},
                                 {"version", k_version},
                                 {"auth_mode", to_string(config->policy.mode())},
                                 {"api_key_configured", config->policy.key_configured()}};
    response.set_content(body.dump(), k_json_type);
    return;
  }
  if (request.path == "/v1/models" && request.method == "GET") {
    nlohmann::json data = nlohmann::json::array();
    for (const ListedModel& model : config->models) {
      data.push_back(
          {{"id", model.id}, {"object", "model"}, {"created", 0}, {"owned_by", model.owned_by}});
    }
    response.set_content(nlohmann::json{{"object", "list"}, {"data", data}}.dump(), k_json_type);
    return;
  }
  if (request.path == "/v1beta/models" && request.method == "GET") {
    nlohmann::json models = nlohmann::json::array();
    for (const ListedModel& model : config->models) {
      models.push_back({{"name", "models/" + model.id},
                        {"displayName", model.id},
                        {"supportedGenerationMethods",
                         {"generateContent", "streamGenerateContent", "countTokens"}}});
    }
    response.set_content(nlohmann::json{{"models", models}}.dump(), k_json_type);
    return;
  }
  if (request.path.starts_with("/v1/") || request.path.starts_with("/v1beta/")) {
    forward_request(request, response, *config, protocol, m_logger, t_trace.upstream);
    return;
  }
  send_error(response, protocol, ErrorKind::not_found, "not_found",
             "agproxy: no route for " + request.method + " " + request.path +
                 " (agproxy answers /healthz, /health and the providers' /v1/… and /v1beta/… "
                 "routes)");
}

void Gateway::log_request(const httplib::Request& request, const httplib::Response& response) {
  if (!m_logger.enabled(LogLevel::info)) {
    return;
  }
  std::string millis = "-";
  if (t_trace.started) {
    const auto elapsed = std::chrono::steady_clock::now() - t_trace.start;
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.2f",
                  std::chrono::duration<double, std::milli>(elapsed).count());
    millis = buffer;
  }
  const std::string reason = response.get_header_value("x-agproxy-reason");
  const std::string header =
      t_trace.key_header ? std::string(header_name(*t_trace.key_header)) : "none";
  // The path only: the query string may carry a key (?key=…) and is never logged.
  const std::string path = printable(request.path);
  const std::string line =
      request.method + " " + path + " " + std::to_string(response.status) + " " + millis + "ms";
  if (m_logger.format() == LogFormat::json) {
    m_logger.info("request", {{"method", request.method},
                              {"path", path},
                              {"status", std::to_string(response.status), true},
                              {"ms", millis == "-" ? "null" : millis, true},
                              {"reason", reason.empty() ? "none" : reason},
                              {"key_header", header},
                              {"upstream", t_trace.upstream}});
  } else if (reason.empty() && t_trace.upstream.empty()) {
    m_logger.info(line);
  } else if (reason.empty()) {
    m_logger.info(line, {{"upstream", t_trace.upstream}});
  } else {
    m_logger.info(line, {{"reason", reason}, {"key_header", header}});
  }
  t_trace = RequestTrace{};
}

} // namespace agproxy
