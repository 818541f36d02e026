#pragma once

#include "server/config/config.hpp"
#include "server/gateway.hpp"
#include "server/log.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace agproxy {

// The settings that only a restart applies, as the server started with them.
struct StartupSettings {
  int port = 0;
  bool allow_lan_access = false;
};

// Watches the config file and swaps the gateway's runtime config when it changes. A file that does
// not parse or validate is refused with a log line, and the settings in force stay.
class ConfigReloader {
public:
  // Watch `path` for `gateway`; `env` and `flags` are re-applied over every version of the file;
  // changes to `started` are reported as needing a restart.
  ConfigReloader(Logger& logger, Gateway& gateway, std::string path, Environment env,
                 Overrides flags, StartupSettings started);
  ~ConfigReloader();
  ConfigReloader(const ConfigReloader&) = delete;
  ConfigReloader& operator=(const ConfigReloader&) = delete;

  // Start polling the file every `interval_ms` milliseconds.
  void start(int interval_ms = 250);
  // Stop polling and join the thread.
  void stop();
  // Reload now, even if the file looks unchanged (SIGHUP).
  void trigger();

private:
  void loop(int interval_ms);
  void check(bool forced);

  Logger& m_logger;
  Gateway& m_gateway;
  std::string m_path;
  Environment m_env;
  Overrides m_flags;
  StartupSettings m_started;
  std::string m_last_content;
  bool m_last_missing = false;

  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  bool m_forced = false;
  std::thread m_thread;
};

} // namespace agproxy
