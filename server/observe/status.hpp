#pragma once

#include "server/auth/throttle.hpp"
#include "server/gateway.hpp"
#include "server/observe/metrics.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

// What GET /agproxy/status and the gauges of /metrics read of the running server (DESIGN §7).
namespace agproxy {

// What the gateway knows of itself.
struct ServerState {
  std::chrono::system_clock::time_point started;
  std::string config_path; // "": none
  std::optional<ReloadResult> last_reload;
};

// Return whether `request` may read /agproxy/* or /metrics (it passed auth already): what the
// server saw names clients and upstreams, so it is for this machine; with proxy.metrics_lan a LAN
// client may read /metrics when it sends the key (even while auth is off).
bool observation_allowed(const httplib::Request& request, const RuntimeConfig& config);

// Return the JSON of GET /agproxy/status: version, uptime, auth modes, config and last reload,
// the brute-force guard's failing clients, and per upstream its counters and each key's state
// (last 4 characters only).
nlohmann::json status_json(const RuntimeConfig& config, const ServerState& server,
                           const AuthThrottle& throttle);

// Return the gauges /metrics reads when scraped: connections, blocked clients, and per upstream
// its counters and its keys by state.
LiveState live_state(const RuntimeConfig& config, size_t open_connections,
                     const AuthThrottle& throttle);

} // namespace agproxy
