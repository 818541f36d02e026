#pragma once

#include "server/auth/auth.hpp"
#include "server/auth/throttle.hpp"
#include "server/config/config.hpp"
#include "server/log.hpp"
#include "server/observe/events.hpp"
#include "server/observe/metrics.hpp"
#include "server/upstream/key_pool.hpp"
#include "server/upstream/tls.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace httplib {
struct Request;
struct Response;
} // namespace httplib

namespace agproxy {

class EventLoop;
class Forward;
class ResponseChannel;
struct Exchange;

// A model the gateway lists at GET /v1/models.
struct ListedModel {
  std::string id;
  std::string owned_by;
};

// Everything a request handler reads. Built once per (re)load, never modified after, swapped whole
// (the key pools it points to keep their own, synchronised, state).
struct RuntimeConfig {
  AuthMode configured_mode = AuthMode::auto_;
  // Whether the proxy is reachable from the LAN as it is bound (what `auto` is resolved against).
  bool lan_access = false;
  AuthPolicy policy{AuthMode::off, ""};
  std::vector<ListedModel> models;
  std::vector<Upstream> upstreams;
  // What upstreams[i]'s TLS connections verify against, at the same index (nothing when it does
  // not verify, or speaks plain HTTP).
  std::vector<std::shared_ptr<const TrustStore>> trust;
  // The provider keys (resolved) of upstreams[i], at the same index. A pool's rest state outlives
  // a reload that keeps the upstream's name and keys.
  std::vector<std::shared_ptr<KeyPool>> key_pools;
  // The counters of upstreams[i], at the same index; a reload that keeps the name keeps them.
  std::vector<std::shared_ptr<UpstreamStats>> stats;
  std::chrono::seconds request_timeout{k_default_request_timeout};
  // Whether the built-in agproxy-echo model answers.
  bool echo_model = true;
  ThrottleSettings auth_throttle;
  // Browser origins and Host names allowed besides loopback ones (DESIGN §11).
  std::vector<std::string> cors_origins;
  std::vector<std::string> allowed_hosts;
  // Whether LAN clients that send the key may read /metrics (proxy.metrics_lan).
  bool metrics_lan = false;
};

// Return the runtime config for `settings` on a listener whose LAN reachability is `lan_access`,
// reading env:NAME keys from `env`, loading each upstream's trust store once, and keeping the key
// pools of `previous` that are unchanged. Throws Error when a key variable is unset or a CA file
// cannot be loaded.
std::shared_ptr<const RuntimeConfig> make_runtime_config(const ProxySettings& settings,
                                                         bool lan_access, const Environment& env,
                                                         const RuntimeConfig* previous = nullptr);

// Log a warning for each upstream whose certificates are not checked (tls_verify false).
void warn_unverified_upstreams(Logger& logger, const RuntimeConfig& config);

// The outcome of a config reload.
struct ReloadResult {
  std::chrono::system_clock::time_point time;
  bool ok = true;
  std::string error; // why it was refused
};

// Event-loop threads by default: 0, one per CPU core. Each thread serves any number of connections
// and streams.
inline constexpr size_t k_default_workers = 0;

// How the listener is set up; fixed for the life of the process.
struct ListenOptions {
  std::string host = "127.0.0.1";
  int port = k_default_port;          // 0 picks a free port
  size_t workers = k_default_workers; // event-loop threads; 0: one per CPU core
  int backlog = 4096;
  size_t max_body_bytes = 32u << 20;
  // How long a request's line and headers may take, from the arrival of its first bytes (a client
  // trickling them is cut off then).
  std::chrono::milliseconds header_timeout{10'000};
  // How long a whole body may take, and the average rate it must keep (bytes per second).
  std::chrono::milliseconds body_timeout{std::chrono::seconds(k_default_body_timeout)};
  size_t body_min_rate = k_default_body_min_rate;
  // Open client connections at most, in all and from one address; more are answered 503.
  size_t max_connections = k_default_max_connections;
  size_t max_connections_per_client = k_default_max_connections_per_client;
  // The config file the server reads ("": none), shown at GET /agproxy/status.
  std::string config_path;
};

// The HTTP front of agproxy: binds, authenticates every request with decide(), answers the routes
// it owns, and logs one line per request.
class Gateway {
public:
  // Build a gateway that logs to `logger` (which must outlive it) and starts with `config`.
  Gateway(Logger& logger, ListenOptions options, std::shared_ptr<const RuntimeConfig> config);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Bind the listening socket and return the port bound. Throws Error when it cannot.
  int bind();
  // Serve until stop() is called. Returns false when the listener failed.
  bool run();
  // Stop accepting (the listening socket refuses new connections from now on), close idle
  // connections, let the requests in flight finish, and make run() return once they have. Safe
  // from any thread; returns once every event loop has closed its idle connections.
  void stop();
  // Return the connections still open (after stop(): the requests in flight).
  size_t open_connections() const;
  // End every connection still open at once (the drain is over); return how many were cut.
  size_t cut();

  // Make `config` the one every request from now on is checked against.
  void update(std::shared_ptr<const RuntimeConfig> config);
  // Return the config requests are checked against now.
  std::shared_ptr<const RuntimeConfig> current() const;
  // Return how many requests were denied for `reason` since start.
  uint64_t denials(DenyReason reason) const;
  // Record the outcome of a config reload: it took effect (`ok`), or was refused for `error`.
  void note_reload(bool ok, const std::string& error = {});

private:
  class Handler;

  // Decide on `exchange` from its headers (see ExchangeHandler::admit).
  bool admit(Exchange& exchange);
  // Answer `exchange` (see ExchangeHandler::handle).
  std::unique_ptr<Forward> handle(Exchange& exchange, EventLoop& loop, uint64_t id,
                                  ResponseChannel& channel);
  void log_request(const Exchange& exchange);
  // Answer GET /agproxy/status, /agproxy/events and /metrics (DESIGN §7), for loopback clients
  // only (and LAN ones that send the key for /metrics with proxy.metrics_lan).
  void answer_observation(const httplib::Request& request, httplib::Response& response,
                          const RuntimeConfig& config);
  // Accept the connections waiting on the listening socket into `loop`.
  void accept_into(EventLoop& loop);
  // Take a connection slot for a client at `address`; false when a cap is reached.
  bool take_slot(const std::string& address);
  // Give back the slot of a connection from `address` that ended.
  void give_back_slot(const std::string& address);

  Logger& m_logger;
  ListenOptions m_options;
  std::unique_ptr<Handler> m_handler;
  int m_listen = -1;
  std::vector<std::unique_ptr<EventLoop>> m_loops;
  std::atomic<size_t> m_next_loop{0}; // the loop the next connection goes to (round-robin)
  mutable std::mutex m_config_mutex;
  std::shared_ptr<const RuntimeConfig> m_config;
  Metrics m_metrics;
  EventRing m_events;
  const std::chrono::system_clock::time_point m_started = std::chrono::system_clock::now();
  mutable std::mutex m_reload_mutex;
  std::optional<ReloadResult> m_last_reload;
  // Failed authentications per client address; outlives reloads.
  AuthThrottle m_throttle;
  // Open connections, in all and per client address.
  std::mutex m_slots_mutex;
  size_t m_connections = 0;
  std::unordered_map<std::string, size_t> m_connections_by_address;
};

} // namespace agproxy
