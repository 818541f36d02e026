#include "server/config/reload.hpp"

#include "server/auth/secret.hpp"
#include "server/config/files.hpp"

#include <system_error>

namespace agproxy {

ConfigReloader::ConfigReloader(Logger& logger, Gateway& gateway, std::string path, Environment env,
                               Overrides flags, StartupSettings started)
    : m_logger(logger), m_gateway(gateway), m_path(std::move(path)), m_env(std::move(env)),
      m_flags(std::move(flags)), m_started(started) {
  try {
    m_last_content = read_file_if_exists(m_path).value_or("");
  } catch (const std::system_error&) {
    m_last_content.clear(); // the first poll reports it
  }
}

ConfigReloader::~ConfigReloader() {
  stop();
}

void ConfigReloader::start(int interval_ms) {
  m_thread = std::thread([this, interval_ms] { loop(interval_ms); });
}

void ConfigReloader::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

void ConfigReloader::trigger() {
  {
    std::lock_guard lock(m_mutex);
    m_forced = true;
  }
  m_wake.notify_all();
}

void ConfigReloader::loop(int interval_ms) {
  std::unique_lock lock(m_mutex);
  while (!m_stop) {
    m_wake.wait_for(lock, std::chrono::milliseconds(interval_ms),
                    [this] { return m_stop || m_forced; });
    if (m_stop) {
      break;
    }
    const bool forced = m_forced;
    m_forced = false;
    lock.unlock();
    check(forced);
    lock.lock();
  }
}

void ConfigReloader::check(bool forced) {
  std::optional<std::string> content;
  try {
    content = read_file_if_exists(m_path);
  } catch (const std::system_error& e) {
    if (forced || !m_last_missing) {
      m_logger.error("config reload refused; keeping the settings in force", {{"error", e.what()}});
      m_gateway.note_reload(false, e.what());
    }
    m_last_missing = true;
    return;
  }
  if (!content) {
    if (forced || !m_last_missing) {
      m_logger.warn("config file is gone; keeping the settings in force", {{"path", m_path}});
    }
    m_last_missing = true;
    return;
  }
  if (!forced && !m_last_missing && *content == m_last_content) {
    return;
  }
  m_last_missing = false;
  m_last_content = *content;

  const std::shared_ptr<const RuntimeConfig> old = m_gateway.current();
  std::shared_ptr<const RuntimeConfig> fresh;
  ProxySettings settings;
  try {
    ConfigDocument document = parse_config(*content, m_path);
    settings = apply_overrides(document.settings, m_env, m_flags).settings;
    fresh = make_runtime_config(settings, old->lan_access, m_env, old.get());
  } catch (const Error& e) {
    m_logger.error("config reload refused; keeping the settings in force", {{"error", e.what()}});
    m_gateway.note_reload(false, e.what());
    return;
  }
  m_gateway.update(fresh);
  m_gateway.note_reload(true);

  const AuthMode mode = fresh->policy.mode();
  warn_unverified_upstreams(m_logger, *fresh);
  m_logger.info(
      "config reloaded",
      {{"path", m_path},
       {"auth", explain_effective_mode(fresh->configured_mode, fresh->lan_access)},
       {"api_key", mask_secret(settings.api_key)},
       {"key_changed", old->policy.key_matches(settings.api_key) ? "false" : "true", true}});
  if (settings.allow_lan_access != m_started.allow_lan_access) {
    m_logger.warn("proxy.allow_lan_access differs from the value the server started with; the "
                  "bind address changes only on restart, and auth_mode auto keeps following the "
                  "address bound now",
                  {{"bound_lan_access", old->lan_access ? "true" : "false", true}});
  }
  if (settings.port != m_started.port) {
    m_logger.warn("proxy.port differs from the port the server started with; restart to apply",
                  {{"port", std::to_string(settings.port), true}});
  }
  if (fresh->lan_access && mode == AuthMode::off) {
    m_logger.warn("the proxy is reachable from the LAN with auth off");
  }
}

} // namespace agproxy
