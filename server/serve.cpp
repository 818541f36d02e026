#include "server/serve.hpp"

#include "server/auth/secret.hpp"
#include "server/config/reload.hpp"
#include "server/gateway.hpp"
#include "version.hpp"

#include <algorithm>
#include <csignal>
#include <pthread.h>
#include <sys/resource.h>
#include <thread>

namespace agproxy {

namespace {

// Blocks the stop and reload signals for the calling thread and every thread it starts, so that one
// thread receives them with sigtimedwait instead of an async handler interrupting anything.
sigset_t block_control_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

std::string url_host(const std::string& host) {
  if (host == "0.0.0.0" || host == "::" || host == "[::]") {
    return "127.0.0.1";
  }
  if (host.find(':') != std::string::npos && !host.starts_with("[")) {
    return "[" + host + "]";
  }
  return host;
}

std::string source_of(const EffectiveSettings& effective, std::string_view field) {
  std::string source;
  for (const auto& [name, from] : effective.overridden) {
    if (name == field) {
      source = from; // the last override applied is the one in force
    }
  }
  return source;
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

void print_banner(Logger& logger, const ConfigLocation& location,
                  const EffectiveSettings& effective, const RuntimeConfig& runtime,
                  const std::string& host, int port) {
  const std::string base = "http://" + url_host(host) + ":" + std::to_string(port);
  const std::string listen =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  const std::string mode = std::string(to_string(runtime.policy.mode()));
  const std::string why = explain_effective_mode(runtime.configured_mode, runtime.lan_access);
  const std::string key_source = source_of(effective, "proxy.api_key");
  const std::string masked = mask_secret(effective.settings.api_key);

  std::string key_command = "agproxy key show --reveal";
  if (location.source == PathSource::flag) {
    key_command += " --config " + shell_quote(location.path);
  }
  std::string key_expr = "$(" + key_command + ")";
  if (key_source == "--api-key") {
    key_expr = "<the key given to --api-key>";
  }

  if (logger.format() == LogFormat::json) {
    logger.info("listening", {{"url", base},
                              {"listen", listen},
                              {"config", location.path},
                              {"auth_mode", mode},
                              {"auth_reason", why},
                              {"api_key", masked},
                              {"version", k_version}});
  } else {
    std::string text = std::string("agproxy ") + k_version + " listening on " + base + "\n";
    if (host != url_host(host) && listen.find("0.0.0.0") != std::string::npos) {
      text += "  listen   " + listen + " (all interfaces)\n";
    }
    text += "  config   " + location.path + " (" + std::string(to_string(location.source)) + ")\n";
    text += "  auth     " + mode + ": " + why + "\n";
    text +=
        "  api key  " + masked + (key_source.empty() ? "" : " (from " + key_source + ")") + "\n";
    text += "  try      curl -i " + base + "/healthz\n";
    text +=
        "           curl -i " + base + "/v1/models -H \"Authorization: Bearer " + key_expr + "\"\n";
    logger.raw_text(text);
  }
  for (const auto& [field, from] : effective.overridden) {
    logger.info("setting overridden", {{"field", field}, {"source", from}});
  }
  if (runtime.lan_access && runtime.policy.mode() == AuthMode::off) {
    logger.warn("WARNING: the proxy listens on " + listen +
                ", reachable from your network, with auth OFF: anyone who can reach this port can "
                "spend your provider keys. Set proxy.auth_mode to \"all_except_health\", "
                "\"strict\" or \"auto\", or turn allow_lan_access off.");
  }
  if (runtime.policy.mode() != AuthMode::off && !runtime.policy.key_configured()) {
    logger.warn("auth is on but proxy.api_key is empty: every request that needs the key will be "
                "denied. Set one with 'agproxy key regenerate'.");
  }
}

// A stream holds two descriptors (client and provider); the usual soft limit of 1024 would cap the
// gateway near 500 streams, so take what the hard limit allows, up to 65,536. Returns the limit.
rlim_t raise_open_file_limit(Logger& logger) {
  // What 2,000 concurrent streams need, with room for the rest.
  constexpr rlim_t k_needed = 2 * 2000 + 64;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return RLIM_INFINITY;
  }
  if (limit.rlim_cur < 65536 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 65536);
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur < k_needed) {
    logger.warn("the open-file limit allows fewer than 2,000 concurrent streams (ulimit -n)",
                {{"limit", std::to_string(limit.rlim_cur), true},
                 {"needed", std::to_string(k_needed), true}});
  }
  return limit.rlim_cur;
}

} // namespace

bool is_loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

int serve(const ServeOptions& options, const Environment& env) {
  const sigset_t signals = block_control_signals();
  Logger logger(options.log_level, options.log_format);
  const rlim_t open_files = raise_open_file_limit(logger);

  const ConfigLocation location = locate_config(options.config_path, env);
  ConfigDocument document = load_config(location.path);
  EffectiveSettings effective = apply_overrides(document.settings, env, options.overrides);
  if (!document.exists) {
    const ConfigDocument defaults = default_config(location.path);
    document.json = defaults.json;
    document.settings = defaults.settings;
    save_config(document);
    logger.info("created the config file with a new proxy key",
                {{"path", location.path}, {"api_key", mask_secret(document.settings.api_key)}});
    effective = apply_overrides(document.settings, env, options.overrides);
  } else if (!effective.settings.api_key_present) {
    set_api_key(document, generate_api_key());
    save_config(document);
    logger.info("the config file had no proxy.api_key; generated and saved one",
                {{"path", location.path}, {"api_key", mask_secret(document.settings.api_key)}});
    effective = apply_overrides(document.settings, env, options.overrides);
  }

  const std::string host =
      options.host.value_or(effective.settings.allow_lan_access ? "0.0.0.0" : "127.0.0.1");
  const bool lan = !is_loopback_host(host);
  if (options.host && lan != effective.settings.allow_lan_access) {
    logger.warn("--host " + host + " overrides proxy.allow_lan_access=" +
                (effective.settings.allow_lan_access ? "true" : "false") +
                "; auth_mode auto follows the address actually bound");
  }

  ListenOptions listen;
  listen.host = host;
  listen.port = effective.settings.port;
  listen.config_path = location.path;
  listen.workers = options.workers;
  listen.body_timeout = std::chrono::seconds(effective.settings.body_timeout);
  listen.body_min_rate = static_cast<size_t>(effective.settings.body_min_rate);
  // A connection may hold a provider socket too: past the descriptors there are, the cap would
  // never bite and accept() would fail instead.
  listen.max_connections = static_cast<size_t>(effective.settings.max_connections);
  if (open_files != RLIM_INFINITY && open_files > 64 &&
      listen.max_connections > (open_files - 64) / 2) {
    listen.max_connections = static_cast<size_t>((open_files - 64) / 2);
    logger.warn("proxy.max_connections lowered to what the open-file limit allows (ulimit -n)",
                {{"max_connections", std::to_string(listen.max_connections), true}});
  }
  listen.max_connections_per_client =
      static_cast<size_t>(effective.settings.max_connections_per_client);
  auto runtime = make_runtime_config(effective.settings, lan, env);
  Gateway gateway(logger, listen, runtime);
  const int port = gateway.bind();

  ConfigReloader reloader(logger, gateway, location.path, env, options.overrides,
                          {effective.settings.port, effective.settings.allow_lan_access});
  reloader.start();

  const auto drain =
      std::chrono::seconds(options.drain_seconds.value_or(effective.settings.drain_seconds));
  std::atomic<bool> done{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> cut{false};
  std::thread signal_thread([&] {
    const timespec tick{0, 50'000'000};
    const auto name = [](int sig) {
      return sig == SIGINT ? "SIGINT" : "SIGTERM";
    };
    while (!done) {
      const int sig = sigtimedwait(&signals, nullptr, &tick);
      if (sig == SIGHUP) {
        logger.info("SIGHUP: reloading the config file");
        reloader.trigger();
      } else if (sig == SIGINT || sig == SIGTERM) {
        stopping = true;
        logger.info(std::string(name(sig)) + ": stopping; new connections are refused");
        gateway.stop();
        logger.info("draining: " + std::to_string(gateway.open_connections()) + " in flight",
                    {{"drain_seconds", std::to_string(drain.count()), true}});
        // Requests in flight run to their end, for at most the drain time; a second signal
        // ends them at once.
        const auto deadline = std::chrono::steady_clock::now() + drain;
        while (!done) {
          const int again = sigtimedwait(&signals, nullptr, &tick);
          if (again == SIGINT || again == SIGTERM) {
            cut = true;
            logger.warn(std::string(name(again)) + " again: " + std::to_string(gateway.cut()) +
                        " cut");
            break;
          }
          if (std::chrono::steady_clock::now() >= deadline) {
            cut = true;
            logger.warn("drain timeout: " + std::to_string(gateway.cut()) + " cut");
            break;
          }
        }
        break;
      }
    }
  });

  print_banner(logger, location, effective, *runtime, host, port);
  warn_unverified_upstreams(logger, *runtime);
  const bool ok = gateway.run();
  if (stopping && !cut) {
    logger.info("drained");
  }
  done = true;
  signal_thread.join();
  reloader.stop();
  auto count = [&](DenyReason reason) {
    return std::to_string(gateway.denials(reason));
  };
  logger.info("stopped",
              {{"denied_missing_api_key", count(DenyReason::missing_api_key), true},
               {"denied_invalid_api_key", count(DenyReason::invalid_api_key), true},
               {"denied_malformed_authorization", count(DenyReason::malformed_authorization), true},
               {"denied_proxy_api_key_empty", count(DenyReason::proxy_api_key_empty), true}});
  return ok ? 0 : 1;
}

} // namespace agproxy
