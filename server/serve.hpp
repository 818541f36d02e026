#pragma once

#include "server/config/config.hpp"
#include "server/gateway.hpp"
#include "server/log.hpp"

#include <cstddef>
#include <optional>
#include <string>

namespace agproxy {

// What `agproxy serve` was asked to do (flags already parsed).
struct ServeOptions {
  std::optional<std::string> config_path;
  Overrides overrides;
  // Bind address; defaults to 0.0.0.0 with allow_lan_access, else 127.0.0.1.
  std::optional<std::string> host;
  size_t workers = k_default_workers;
  // --drain-timeout: overrides proxy.drain_seconds.
  std::optional<int> drain_seconds;
  LogLevel log_level = LogLevel::info;
  LogFormat log_format = LogFormat::text;
};

// Return whether `host` is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback_host(std::string_view host);

// Run the gateway until SIGINT or SIGTERM; SIGHUP reloads the config. Returns the exit code.
// Throws Error for configuration and start-up failures.
int serve(const ServeOptions& options, const Environment& env);

} // namespace agproxy
