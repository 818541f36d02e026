#include "server/observe/status.hpp"

#include "server/auth/key_header.hpp"
#include "server/text.hpp"
#include "version.hpp"

#include <httplib.h>

namespace agproxy {

namespace {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

// The guard's clients listed at most.
constexpr size_t k_max_listed_clients = 50;

// Return the wall-clock time of steady `when`, seen at `steady_now` / `system_now`.
SystemClock::time_point wall_clock(SteadyClock::time_point when, SteadyClock::time_point steady_now,
                                   SystemClock::time_point system_now) {
  return system_now + std::chrono::duration_cast<SystemClock::duration>(when - steady_now);
}

long long seconds_until(SteadyClock::time_point when, SteadyClock::time_point now) {
  return std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(when - now).count());
}

std::string key_state(const KeyPool::KeyState& key) {
  if (!key.cause) {
    return "active";
  }
  return *key.cause == RestCause::refused ? "out" : "resting";
}

} // namespace

bool observation_allowed(const httplib::Request& request, const RuntimeConfig& config) {
  if (is_loopback_address(request.remote_addr)) {
    return true;
  }
  if (request.path != "/metrics" || !config.metrics_lan || !config.policy.key_configured()) {
    return false;
  }
  for (KeyHeader which : k_key_headers) { // the first present is read (DESIGN §3)
    const auto it = request.headers.find(std::string(header_name(which)));
    if (it != request.headers.end()) {
      return config.policy.key_matches(key_in_header(which, it->second));
    }
  }
  return false;
}

nlohmann::json status_json(const RuntimeConfig& config, const ServerState& server,
                           const AuthThrottle& throttle) {
  const SteadyClock::time_point now = SteadyClock::now();
  const SystemClock::time_point wall_now = SystemClock::now();
  nlohmann::json reload;
  if (server.last_reload) {
    reload = {{"time", format_utc(server.last_reload->time)},
              {"result", server.last_reload->ok ? "ok" : "error"},
              {"error", server.last_reload->ok ? nlohmann::json()
                                               : nlohmann::json(server.last_reload->error)}};
  }
  nlohmann::json clients = nlohmann::json::array();
  for (const AuthThrottle::Tracked& client :
       throttle.failing(config.auth_throttle, now, k_max_listed_clients)) {
    clients.push_back({{"client", client.address},
                       {"failures", client.failures},
                       {"blocked", client.blocked},
                       {"until", format_utc(wall_clock(client.window_end, now, wall_now))},
                       {"retry_after_s", seconds_until(client.window_end, now)}});
  }
  nlohmann::json upstreams = nlohmann::json::array();
  for (size_t i = 0; i < config.upstreams.size(); ++i) {
    const Upstream& upstream = config.upstreams[i];
    const KeyPool& pool = *config.key_pools[i];
    const UpstreamStats& stats = *config.stats[i];
    nlohmann::json keys = nlohmann::json::array();
    const std::vector<KeyPool::KeyState> states = pool.states(now);
    for (size_t k = 0; k < states.size(); ++k) {
      const KeyPool::KeyState& key = states[k];
      const std::string& secret = pool.key(k);
      keys.push_back(
          {{"last4", secret.size() >= 8 ? secret.substr(secret.size() - 4) : std::string()},
           {"state", key_state(key)},
           {"until", key.cause
                         ? nlohmann::json(format_utc(wall_clock(key.usable_from, now, wall_now)))
                         : nlohmann::json()},
           {"retry_after_s",
            key.cause ? nlohmann::json(seconds_until(key.usable_from, now)) : nlohmann::json()},
           {"why", key.cause ? nlohmann::json(to_string(*key.cause)) : nlohmann::json()},
           {"last_status", key.last_status ? nlohmann::json(key.last_status) : nlohmann::json()}});
    }
    const int last_status = stats.last_status.load(std::memory_order_relaxed);
    upstreams.push_back(
        {{"name", upstream.name},
         {"protocol", to_string(upstream.protocol)},
         {"models", upstream.models},
         {"requests", stats.requests()},
         {"failures", stats.failures.load(std::memory_order_relaxed)},
         {"last_status", last_status ? nlohmann::json(last_status) : nlohmann::json()},
         {"keys", std::move(keys)}});
  }
  return {{"version", k_version},
          {"started", format_utc(server.started)},
          {"now", format_utc(wall_now)},
          {"uptime_s",
           std::chrono::duration_cast<std::chrono::seconds>(wall_now - server.started).count()},
          {"auth_mode", to_string(config.policy.mode())},
          {"configured_auth_mode", to_string(config.configured_mode)},
          {"lan_access", config.lan_access},
          {"config",
           {{"path",
             server.config_path.empty() ? nlohmann::json() : nlohmann::json(server.config_path)},
            {"last_reload", std::move(reload)}}},
          {"guard",
           {{"max_failures", config.auth_throttle.max_failures},
            {"window_s", config.auth_throttle.window.count()},
            {"include_loopback", config.auth_throttle.include_loopback},
            {"clients", std::move(clients)}}},
          {"upstreams", std::move(upstreams)}};
}

LiveState live_state(const RuntimeConfig& config, size_t open_connections,
                     const AuthThrottle& throttle) {
  const SteadyClock::time_point now = SteadyClock::now();
  LiveState live;
  live.open_connections = open_connections;
  for (const AuthThrottle::Tracked& client :
       throttle.failing(config.auth_throttle, now, static_cast<size_t>(-1))) {
    live.blocked_clients += client.blocked ? 1 : 0;
  }
  for (size_t i = 0; i < config.upstreams.size(); ++i) {
    LiveState::Upstream upstream{config.upstreams[i].name, config.stats[i]};
    for (const KeyPool::KeyState& key : config.key_pools[i]->states(now)) {
      const std::string state = key_state(key);
      (state == "active" ? upstream.active : state == "out" ? upstream.out : upstream.resting)++;
    }
    live.upstreams.push_back(std::move(upstream));
  }
  return live;
}

} // namespace agproxy
