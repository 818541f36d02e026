#include "server/gateway.hpp"

#include "server/auth/origin.hpp"
#include "server/http/connection.hpp"
#include "server/http/event_loop.hpp"
#include "server/observe/status.hpp"
#include "server/protocols/protocol.hpp"
#include "server/protocols/respond.hpp"
#include "server/text.hpp"
#include "server/upstream/forward.hpp"
#include "version.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/socket.h>
#include <unistd.h>

namespace agproxy {

namespace {

constexpr const char* k_realm = "Bearer realm=\"agproxy\"";
constexpr const char* k_empty_key_log =
    "Proxy auth is enabled but api_key is empty; denying request";

std::optional<std::string_view> find_header(const httplib::Request& request, const char* name) {
  auto it = request.headers.find(name);
  if (it == request.headers.end()) {
    return std::nullopt;
  }
  return std::string_view(it->second);
}

bool is_glob(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

// An allowed browser origin is named back, once, so that its page may read the answer.
void set_cors_headers(std::string_view origin, httplib::Response& response) {
  response.set_header("Access-Control-Allow-Origin", std::string(origin));
  response.set_header("Vary", "Origin");
  response.set_header("Access-Control-Expose-Headers",
                      "x-agproxy-reason, x-agproxy-upstream, x-agproxy-key, WWW-Authenticate");
}

void answer_preflight(const httplib::Request& request, httplib::Response& response) {
  response.status = 204;
  response.set_header("Access-Control-Allow-Methods",
                      "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
  const std::string asked = request.get_header_value("Access-Control-Request-Headers");
  response.set_header("Access-Control-Allow-Headers",
                      asked.empty() ? "Authorization, Content-Type, x-api-key, x-goog-api-key, "
                                      "anthropic-version, anthropic-beta"
                                    : asked);
  response.set_header("Access-Control-Max-Age", "86400");
}

// Answer a connection over the caps with a 503 and close it, without reading a request: what the
// client sent already is dropped first, so that the close does not reset the answer away.
void refuse_connection(int sock) {
  static const std::string k_answer = [] {
    const std::string body =
        R"({"error":{"message":"agproxy: too many open connections (proxy.max_connections, )"
        R"(proxy.max_connections_per_client); retry shortly","type":"server_error",)"
        R"("code":"too_many_connections"}})";
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
           "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  char drop[4096];
  while (::recv(sock, drop, sizeof drop, 0) > 0) {
  }
  [[maybe_unused]] const ssize_t sent =
      ::send(sock, k_answer.data(), k_answer.size(), MSG_NOSIGNAL);
  ::shutdown(sock, SHUT_WR);
  ::close(sock);
}

} // namespace

class Gateway::Handler final : public ExchangeHandler {
public:
  explicit Handler(Gateway& gateway) : m_gateway(gateway) {}
  std::unique_ptr<Forward> handle(Exchange& exchange, EventLoop& loop, EventLoop::Id id,
                                  ResponseChannel& channel) override {
    try {
      return m_gateway.handle(exchange, loop, id, channel);
    } catch (const std::exception& e) {
      m_gateway.m_logger.error("request handler failed",
                               {{"path", exchange.request.path}, {"error", e.what()}});
      exchange.response = httplib::Response();
      send_error(exchange.response, route_protocol(exchange.request.path), ErrorKind::internal,
                 "internal_error",
                 "agproxy: internal error while handling the request; see the proxy's log");
      return nullptr;
    }
  }
  bool admit(Exchange& exchange) override {
    try {
      return m_gateway.admit(exchange);
    } catch (const std::exception& e) {
      m_gateway.m_logger.error("request admission failed",
                               {{"path", exchange.request.path}, {"error", e.what()}});
      exchange.response = httplib::Response();
      send_error(exchange.response, route_protocol(exchange.request.path), ErrorKind::internal,
                 "internal_error",
                 "agproxy: internal error while handling the request; see the proxy's log");
      return false;
    }
  }
  void log(const Exchange& exchange) override { m_gateway.log_request(exchange); }

  ConnectionLimits limits;

private:
  Gateway& m_gateway;
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
  config->cors_origins = settings.cors_origins;
  config->allowed_hosts = settings.allowed_hosts;
  config->metrics_lan = settings.metrics_lan;
  std::shared_ptr<const TrustStore> system_store; // loaded once, for every upstream that uses it
  std::set<std::string> seen;
  if (config->echo_model) {
    seen.insert(k_echo_model);
    config->models.push_back({k_echo_model, "agproxy"});
  }
  for (size_t i = 0; i < settings.upstreams.size(); ++i) {
    const Upstream& upstream = settings.upstreams[i];
    std::vector<std::string> keys = resolve_api_keys(upstream, i, env);
    std::shared_ptr<KeyPool> pool;
    std::shared_ptr<UpstreamStats> stats;
    for (size_t j = 0; previous && j < previous->upstreams.size(); ++j) {
      if (previous->upstreams[j].name == upstream.name) {
        stats = previous->stats[j];
        if (previous->key_pools[j]->holds(keys)) {
          pool = previous->key_pools[j];
        }
      }
    }
    config->upstreams.push_back(upstream);
    config->key_pools.push_back(pool ? pool : std::make_shared<KeyPool>(std::move(keys)));
    config->stats.push_back(stats ? stats : std::make_shared<UpstreamStats>());
    std::shared_ptr<const TrustStore> trust;
    if (upstream.tls_verify && !upstream.ca_file.empty()) {
      trust = TrustStore::from_file(upstream.ca_file);
    } else if (upstream.tls_verify && (upstream.base_url.starts_with("https://") ||
                                       upstream.proxy.starts_with("https://"))) {
      if (!system_store) {
        system_store = TrustStore::system();
      }
      trust = system_store;
    }
    config->trust.push_back(std::move(trust));
    for (const auto& [alias, real] : upstream.model_map) {
      if (!is_glob(alias) && seen.insert(alias).second) {
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

void warn_unverified_upstreams(Logger& logger, const RuntimeConfig& config) {
  for (const Upstream& upstream : config.upstreams) {
    if (!upstream.tls_verify) {
      logger.warn("upstream '" + upstream.name +
                  "' has tls_verify false: its certificate is not checked, so anyone on the path "
                  "can read and answer its traffic and its keys; prefer ca_file");
    }
  }
}

Gateway::Gateway(Logger& logger, ListenOptions options, std::shared_ptr<const RuntimeConfig> config)
    : m_logger(logger), m_options(std::move(options)), m_handler(std::make_unique<Handler>(*this)),
      m_config(std::move(config)) {
  m_handler->limits.max_body = m_options.max_body_bytes;
  m_handler->limits.header_timeout = m_options.header_timeout;
  m_handler->limits.body_timeout = m_options.body_timeout;
  m_handler->limits.body_min_rate = m_options.body_min_rate;
  size_t loops = m_options.workers;
  if (loops == 0) {
    loops = std::max(1u, std::thread::hardware_concurrency());
  }
  for (size_t i = 0; i < loops; ++i) {
    m_loops.push_back(std::make_unique<EventLoop>());
  }
}

Gateway::~Gateway() {
  m_loops.clear(); // the connections go first: they log through the handler
  if (m_listen >= 0) {
    ::close(m_listen);
  }
}

int Gateway::bind() {
  const auto fail = [&](int error) {
    const std::string cause = error != 0 ? std::string(": ") + std::strerror(error) : "";
    throw Error("cannot listen on " + m_options.host + ":" + std::to_string(m_options.port) +
                cause +
                " (is another agproxy or Antigravity Tools running? change proxy.port or pass "
                "--port)");
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(m_options.port);
  const std::string host = m_options.host == "localhost" ? "127.0.0.1" : m_options.host;
  if (const int error = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); error != 0) {
    throw Error("cannot listen on " + m_options.host + ":" + port + ": " + gai_strerror(error) +
                " (check proxy.port and --host)");
  }
  int last_error = 0;
  for (addrinfo* address = found; address && m_listen < 0; address = address->ai_next) {
    const int sock =
        ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 address->ai_protocol);
    if (sock < 0) {
      last_error = errno;
      continue;
    }
    // SO_REUSEADDR allows a quick restart; never SO_REUSEPORT, which would let a second agproxy
    // bind the same port and silently share its traffic.
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (address->ai_family == AF_INET6) {
      int no = 0; // "::" takes IPv4 too
      ::setsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);
    }
    if (::bind(sock, address->ai_addr, address->ai_addrlen) != 0 ||
        ::listen(sock, m_options.backlog) != 0) {
      last_error = errno;
      ::close(sock);
      continue;
    }
    m_listen = sock;
  }
  freeaddrinfo(found);
  if (m_listen < 0) {
    fail(last_error);
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&bound), &length);
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

void Gateway::accept_into(EventLoop& loop) {
  // A bounded batch: the listening socket is level-triggered, so what is left wakes a loop again.
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    const int sock = ::accept4(m_listen, reinterpret_cast<sockaddr*>(&address), &length,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (sock < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        m_logger.warn("cannot accept a connection; pausing briefly (raise the open-file limit?)",
                      {{"error", std::strerror(errno)}});
        loop.pause_listening();
      }
      return;
    }
    char ip[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (address.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
      if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        ::inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof ip);
      } else {
        ::inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
      }
      port = ntohs(in6->sin6_port);
    } else {
      const auto* in4 = reinterpret_cast<const sockaddr_in*>(&address);
      ::inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof ip);
      port = ntohs(in4->sin_port);
    }
    std::string client(ip);
    if (!take_slot(client)) {
      refuse_connection(sock);
      continue;
    }
    int yes = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    // Round-robin over the loops, whichever accepted: one loop's wake-up can accept a whole
    // burst of connections, and left where they were accepted, all 64 of a benchmark's sometimes
    // ended on one loop while the other idled (3/4 of the throughput).
    EventLoop& target =
        *m_loops[m_next_loop.fetch_add(1, std::memory_order_relaxed) % m_loops.size()];
    auto make = [this, &target, sock, address = std::move(client), port](EventLoop::Id id) {
      return std::make_unique<Connection>(target, id, sock, address, port, *m_handler,
                                          m_handler->limits,
                                          [this, address] { give_back_slot(address); });
    };
    if (&target == &loop) {
      loop.add(sock, make);
    } else {
      target.adopt(sock, std::move(make));
    }
  }
}

bool Gateway::take_slot(const std::string& address) {
  std::lock_guard lock(m_slots_mutex);
  size_t& from_address = m_connections_by_address[address];
  if (m_connections >= m_options.max_connections ||
      from_address >= m_options.max_connections_per_client) {
    if (from_address == 0) {
      m_connections_by_address.erase(address);
    }
    return false;
  }
  ++m_connections;
  ++from_address;
  return true;
}

void Gateway::give_back_slot(const std::string& address) {
  std::lock_guard lock(m_slots_mutex);
  --m_connections;
  if (auto it = m_connections_by_address.find(address);
      it != m_connections_by_address.end() && --it->second == 0) {
    m_connections_by_address.erase(it);
  }
}

bool Gateway::run() {
  if (m_listen < 0) {
    return false;
  }
  for (auto& loop : m_loops) {
    EventLoop* each = loop.get();
    each->listen(m_listen, [this, each] { accept_into(*each); });
    each->on_failure([this](const char* what) {
      m_logger.error("a connection failed and was closed", {{"error", what}});
    });
  }
  std::vector<std::thread> threads;
  for (size_t i = 1; i < m_loops.size(); ++i) {
    threads.emplace_back([this, i] { m_loops[i]->run(); });
  }
  m_loops[0]->run();
  for (std::thread& thread : threads) {
    thread.join();
  }
  return true;
}

void Gateway::stop() {
  for (auto& loop : m_loops) {
    loop->stop();
  }
  // A listening socket shut down refuses new connections (and resets those not yet accepted)
  // instead of leaving them to hang until the process exits; it is closed with the gateway.
  if (m_listen >= 0) {
    ::shutdown(m_listen, SHUT_RDWR);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (auto& loop : m_loops) {
    while (!loop->stop_seen() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

size_t Gateway::open_connections() const {
  size_t open = 0;
  for (const auto& loop : m_loops) {
    open += loop->live();
  }
  return open;
}

size_t Gateway::cut() {
  for (auto& loop : m_loops) {
    loop->cut();
  }
  size_t cut = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (auto& loop : m_loops) {
    while (loop->live() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    cut += loop->cut_count();
  }
  return cut;
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
  return m_metrics.denials(reason);
}

void Gateway::note_reload(bool ok, const std::string& error) {
  m_metrics.count_reload(ok);
  std::lock_guard lock(m_reload_mutex);
  m_last_reload = ReloadResult{std::chrono::system_clock::now(), ok, error};
}

bool Gateway::admit(Exchange& exchange) {
  const httplib::Request& request = exchange.request;
  httplib::Response& response = exchange.response;
  const std::shared_ptr<const RuntimeConfig> config = current();
  const Protocol protocol = route_protocol(request.path);
  const auto refuse = [&](std::string_view reason, const std::string& message) {
    send_error(response, protocol, ErrorKind::forbidden, reason, message);
    response.set_header("x-agproxy-reason", std::string(reason));
    return false;
  };
  // A browser page of a foreign origin, whatever the auth mode: a "simple" cross-origin request
  // needs no preflight, so refusing to name it in CORS headers alone would still spend the keys.
  if (const auto origin = find_header(request, "Origin")) {
    if (!origin_allowed(*origin, config->cors_origins)) {
      return refuse("origin_not_allowed",
                    "agproxy: requests from the web origin " + printable(*origin) +
                        " are refused; to allow a browser app, add its origin to "
                        "proxy.cors_origins");
    }
    set_cors_headers(*origin, response);
  }
  // Without auth, a page that rebinds its own name to this address must not be served (DNS
  // rebinding): only loopback names, and those the user listed.
  if (config->policy.mode() == AuthMode::off) {
    if (const auto host = find_header(request, "Host");
        host && !host_allowed(*host, config->allowed_hosts)) {
      return refuse("host_not_allowed",
                    "agproxy: the Host " + printable(*host) +
                        " is not served while auth is off; add it to proxy.allowed_hosts, or "
                        "turn auth on (proxy.auth_mode)");
    }
  }

  const auto now = std::chrono::steady_clock::now();
  if (auto wait = m_throttle.blocked(request.remote_addr, config->auth_throttle, now)) {
    const std::string seconds = std::to_string(wait->count());
    send_error(response, protocol, ErrorKind::rate_limited, "too_many_auth_failures",
               "agproxy: too many failed authentications from " + request.remote_addr +
                   "; retry in " + seconds + " s (proxy.auth_throttle)");
    response.set_header("Retry-After", seconds);
    response.set_header("x-agproxy-reason", "too_many_auth_failures");
    m_metrics.count_throttled();
    Event event = event_for(EventKind::throttled, request);
    event.request = next_request_id();
    event.reason = "too_many_auth_failures";
    event.status = 429;
    event.retry_after = wait->count();
    event.failures = config->auth_throttle.max_failures;
    m_events.record(std::move(event));
    return false;
  }
  AuthRequest auth{request.method, request.path, find_header(request, "Authorization"),
                   find_header(request, "x-api-key"), find_header(request, "x-goog-api-key")};
  const AuthDecision decision = decide(config->policy, auth);
  exchange.key_header = decision.header_read;
  if (!decision.allowed) {
    // The one deny path: status, challenge, reason header, protocol-shaped body, counter, log.
    m_metrics.count_denial(decision.reason, decision.header_read);
    Event event = event_for(EventKind::denied, request);
    event.request = next_request_id();
    event.reason = std::string(to_string(decision.reason));
    event.status = 401;
    describe_key_headers(event, request, config->policy);
    m_events.record(std::move(event));
    if (decision.reason == DenyReason::proxy_api_key_empty) {
      m_logger.error(k_empty_key_log); // the proxy's fault, not the client's: not counted
    } else if (decision.reason != DenyReason::missing_api_key) {
      // Only a key that was tried counts: a request without one guesses nothing (and the
      // doctor's keyless /healthz probe must not move the guard).
      m_throttle.record_failure(request.remote_addr, config->auth_throttle, now);
    }
    send_error(response, protocol, ErrorKind::unauthenticated, to_string(decision.reason),
               describe_denial(decision, config->policy.mode()));
    response.set_header("WWW-Authenticate", k_realm);
    response.set_header("x-agproxy-reason", std::string(to_string(decision.reason)));
    return false;
  }
  return true;
}

std::unique_ptr<Forward> Gateway::handle(Exchange& exchange, EventLoop& loop, uint64_t id,
                                         ResponseChannel& channel) {
  httplib::Request& request = exchange.request;
  httplib::Response& response = exchange.response;
  const std::shared_ptr<const RuntimeConfig> config = current();
  const Protocol protocol = route_protocol(request.path);
  if (request.method == "OPTIONS") {
    answer_preflight(request, response);
    return nullptr;
  }
  if (is_health_path(request.path)) {
    if (request.method != "GET" && request.method != "HEAD") {
      response.set_header("Allow", "GET, HEAD");
      send_error(response, protocol, ErrorKind::method_not_allowed, "method_not_allowed",
                 "agproxy: " + request.path + " answers GET and HEAD only");
      return nullptr;
    }
    const nlohmann::json body = {{"status", "ok"},
                                 {"version", k_version},
                                 {"auth_mode", to_string(config->policy.mode())},
                                 {"api_key_configured", config->policy.key_configured()}};
    response.set_content(body.dump(), k_json_type);
    return nullptr;
  }
  if (request.path == "/v1/models" && request.method == "GET" &&
      request.has_header("anthropic-version")) {
    // Anthropic's SDKs list models on the same path, told apart by their version header.
    nlohmann::json data = nlohmann::json::array();
    for (const ListedModel& model : config->models) {
      data.push_back({{"type", "model"},
                      {"id", model.id},
                      {"display_name", model.id},
                      {"created_at", "1970-01-01T00:00:00Z"}});
    }
    response.set_content(
        nlohmann::json{{"data", data},
                       {"has_more", false},
                       {"first_id", data.empty() ? nlohmann::json() : data.front()["id"]},
                       {"last_id", data.empty() ? nlohmann::json() : data.back()["id"]}}
            .dump(),
        k_json_type);
    return nullptr;
  }
  if (request.path == "/v1/models" && request.method == "GET") {
    nlohmann::json data = nlohmann::json::array();
    for (const ListedModel& model : config->models) {
      data.push_back(
          {{"id", model.id}, {"object", "model"}, {"created", 0}, {"owned_by", model.owned_by}});
    }
    response.set_content(nlohmann::json{{"object", "list"}, {"data", data}}.dump(), k_json_type);
    return nullptr;
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
    return nullptr;
  }
  if (request.path.starts_with("/v1/") || request.path.starts_with("/v1beta/")) {
    return forward_request(request, response, config, protocol, m_logger,
                           Observers{m_metrics, m_events}, exchange.upstream, loop, id, channel);
  }
  if (request.path.starts_with("/agproxy/") || request.path == "/metrics") {
    answer_observation(request, response, *config);
    return nullptr;
  }
  send_error(response, protocol, ErrorKind::not_found, "not_found",
             "agproxy: no route for " + request.method + " " + request.path +
                 " (agproxy answers /healthz, /health, /agproxy/status, /agproxy/events, /metrics "
                 "and the providers' /v1/… and /v1beta/… routes)");
  return nullptr;
}

void Gateway::answer_observation(const httplib::Request& request, httplib::Response& response,
                                 const RuntimeConfig& config) {
  const bool metrics = request.path == "/metrics";
  if (!metrics && request.path != "/agproxy/status" && request.path != "/agproxy/events") {
    send_error(response, Protocol::openai, ErrorKind::not_found, "not_found",
               "agproxy: no route for " + request.path +
                   " (the proxy's own routes: /agproxy/status, /agproxy/events, /metrics)");
    return;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    response.set_header("Allow", "GET, HEAD");
    send_error(response, Protocol::openai, ErrorKind::method_not_allowed, "method_not_allowed",
               "agproxy: " + request.path + " answers GET and HEAD only");
    return;
  }
  if (!observation_allowed(request, config)) {
    send_error(response, Protocol::openai, ErrorKind::forbidden, "not_loopback",
               "agproxy: " + request.path + " answers clients on this machine only" +
                   (metrics ? std::string(" (proxy.metrics_lan: true lets LAN clients that "
                                          "send the key read /metrics)")
                            : std::string()));
    response.set_header("x-agproxy-reason", "not_loopback");
    return;
  }
  if (metrics) {
    response.set_content(m_metrics.render(live_state(config, open_connections(), m_throttle)),
                         "text/plain; version=0.0.4; charset=utf-8");
    return;
  }
  if (request.path == "/agproxy/status") {
    ServerState server{m_started, m_options.config_path, std::nullopt};
    {
      std::lock_guard lock(m_reload_mutex);
      server.last_reload = m_last_reload;
    }
    response.set_content(status_json(config, server, m_throttle).dump(), k_json_type);
    return;
  }
  std::string error;
  const std::optional<EventQuery> query = parse_event_query(request, error);
  if (!query) {
    send_error(response, Protocol::openai, ErrorKind::bad_request, "invalid_parameter",
               "agproxy: /agproxy/events: " + error);
    return;
  }
  const auto now = std::chrono::system_clock::now();
  nlohmann::json events = nlohmann::json::array();
  for (const Event& event : m_events.select(*query, now)) {
    events.push_back(to_json(event));
  }
  const nlohmann::json body = {{"now", format_utc(now)},
                               {"capacity", m_events.capacity()},
                               {"recorded", m_events.recorded()},
                               {"events", std::move(events)}};
  response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                       k_json_type);
}

void Gateway::log_request(const Exchange& exchange) {
  const httplib::Request& request = exchange.request;
  const httplib::Response& response = exchange.response;
  const bool timed = exchange.start != std::chrono::steady_clock::time_point{};
  const auto elapsed = timed ? std::chrono::steady_clock::now() - exchange.start
                             : std::chrono::steady_clock::duration::zero();
  const bool provider_route =
      request.path.starts_with("/v1/") || request.path.starts_with("/v1beta/");
  m_metrics.count_request(provider_route ? std::optional(route_protocol(request.path))
                                         : std::nullopt,
                          response.status, elapsed);
  if (!m_logger.enabled(LogLevel::info)) {
    return;
  }
  std::string millis = "-";
  if (timed) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.2f",
                  std::chrono::duration<double, std::milli>(elapsed).count());
    millis = buffer;
  }
  const std::string reason = response.get_header_value("x-agproxy-reason");
  const std::string header =
      exchange.key_header ? std::string(header_name(*exchange.key_header)) : "none";
  // The path only: the query string may carry a key (?key=…) and is never logged.
  const std::string path = request.path.empty() ? "-" : printable(request.path);
  const std::string method = request.method.empty() ? "-" : request.method;
  const std::string line =
      method + " " + path + " " + std::to_string(response.status) + " " + millis + "ms";
  if (m_logger.format() == LogFormat::json) {
    m_logger.info("request", {{"method", method},
                              {"path", path},
                              {"status", std::to_string(response.status), true},
                              {"ms", millis == "-" ? "null" : millis, true},
                              {"reason", reason.empty() ? "none" : reason},
                              {"key_header", header},
                              {"upstream", exchange.upstream}});
  } else if (reason.empty() && exchange.upstream.empty()) {
    m_logger.info(line);
  } else if (reason.empty()) {
    m_logger.info(line, {{"upstream", exchange.upstream}});
  } else {
    m_logger.info(line, {{"reason", reason}, {"key_header", header}});
  }
}

} // namespace agproxy
