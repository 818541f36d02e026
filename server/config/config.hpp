#pragma once

#include "server/auth/auth.hpp"
#include "server/auth/throttle.hpp"
#include "server/protocols/protocol.hpp"

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agproxy {

// A fatal, user-facing failure (bad config, bad flag value, unwritable file). Caught once at the
// top of the program and printed as "agproxy: error: <what>".
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

inline constexpr int k_default_port = 8045;
inline constexpr int k_default_request_timeout = 120;
inline constexpr int k_default_max_connections = 4096;
inline constexpr int k_default_max_connections_per_client = 2048;
inline constexpr int k_default_body_timeout = 300;
inline constexpr int k_default_body_min_rate = 1024;
inline constexpr int k_default_drain_seconds = 30;

// One provider the gateway forwards to (DESIGN §2, proxy.upstreams[]).
struct Upstream {
  std::string name;
  Protocol protocol = Protocol::openai;
  std::string base_url;
  // As written in the file: literal keys, or "env:NAME" resolved by resolve_api_keys().
  std::vector<std::string> api_keys;
  // Glob patterns of the models served; empty serves every model of the protocol.
  std::vector<std::string> models;
  // Alias → real model, in file order.
  std::vector<std::pair<std::string, std::string>> model_map;
  // A PEM file of CA certificates trusted for this upstream instead of the system's; empty: none.
  std::string ca_file;
  // Whether the provider's certificate is checked (false: any certificate, with a warning).
  bool tls_verify = true;
  // The http://, https:// or socks5:// proxy this upstream is reached through; empty: none.
  std::string proxy;
};

// The typed proxy settings (the "proxy" object of the config file).
struct ProxySettings {
  int port = k_default_port;
  bool allow_lan_access = false;
  AuthMode auth_mode = AuthMode::auto_;
  std::string api_key;
  // False when the file has no api_key field at all (serve then generates and saves one).
  bool api_key_present = false;
  int request_timeout = k_default_request_timeout;
  std::vector<Upstream> upstreams;
  std::optional<bool> echo_model;
  // Whether LAN clients that send the key may read GET /metrics (never /agproxy/*): DESIGN §7.
  bool metrics_lan = false;
  // proxy.auth_throttle: the brute-force guard.
  ThrottleSettings auth_throttle;
  // Browser origins allowed besides loopback ones (proxy.cors_origins), and Host names served
  // while auth is off besides loopback ones (proxy.allowed_hosts): DESIGN §11.
  std::vector<std::string> cors_origins;
  std::vector<std::string> allowed_hosts;
  // Open connections at most, in all and from one client address; read at start.
  int max_connections = k_default_max_connections;
  int max_connections_per_client = k_default_max_connections_per_client;
  // A request body must arrive whole within body_timeout seconds, and, past its first seconds,
  // at body_min_rate bytes per second on average; read at start.
  int body_timeout = k_default_body_timeout;
  int body_min_rate = k_default_body_min_rate;
  // On SIGTERM/SIGINT, how long requests in flight may run before they are cut (DESIGN §10).
  int drain_seconds = k_default_drain_seconds;
};

// Reads an environment variable; tests pass a map instead of the process environment.
using Environment = std::function<std::optional<std::string>(std::string_view name)>;

// Return a reader of the process environment.
Environment process_environment();

// How the config file path was chosen (DESIGN §2 discovery order).
enum class PathSource { flag, agproxy_config_env, xdg_config_home, home };

// Return a phrase naming `source`, e.g. "--config" or "$AGPROXY_CONFIG".
std::string_view to_string(PathSource source);

// The config file path and how it was found.
struct ConfigLocation {
  std::string path;
  PathSource source = PathSource::home;
};

// Return the config path: `flag`, then $AGPROXY_CONFIG, then $XDG_CONFIG_HOME/agproxy/config.json,
// then ~/.config/agproxy/config.json. Throws Error when no location can be determined.
ConfigLocation locate_config(const std::optional<std::string>& flag, const Environment& env);

// A config file as read: the whole JSON document (unknown fields kept for saving) and the typed
// settings taken from it.
struct ConfigDocument {
  std::string path;
  bool exists = false;
  nlohmann::json json = nlohmann::json::object();
  ProxySettings settings;
};

// Return the document parsed from `text`; `path` names the source in errors. Throws Error naming
// the field, the bad value (never a secret) and the file.
ConfigDocument parse_config(std::string_view text, const std::string& path);

// Return the document at `path`, or defaults with exists=false when there is no file. Throws Error
// when the file cannot be read or does not validate.
ConfigDocument load_config(const std::string& path);

// Return a fresh default document with a newly generated key.
ConfigDocument default_config(const std::string& path);

// Write `document.json` to its path atomically with mode 0600. Throws Error on failure.
void save_config(ConfigDocument& document);

// Set the proxy key in `document` (its JSON and its settings) without touching other fields.
void set_api_key(ConfigDocument& document, const std::string& key);

// Command-line values that override the file and the environment.
struct Overrides {
  std::optional<int> port;
  std::optional<bool> allow_lan_access;
  std::optional<AuthMode> auth_mode;
  std::optional<std::string> api_key;
};

// Settings after the environment and flags were applied, with what overrode what.
struct EffectiveSettings {
  ProxySettings settings;
  // Field ("proxy.port") and the source that set it ("AGPROXY_PORT", "--port").
  std::vector<std::pair<std::string, std::string>> overridden;
};

// Return `file` with AGPROXY_* variables applied, then `flags`. Throws Error naming the variable
// or flag and the bad value.
EffectiveSettings apply_overrides(const ProxySettings& file, const Environment& env,
                                  const Overrides& flags);

// Return the error text for a proxy key that cannot be sent in an HTTP header, or nothing when the
// key is usable. Never includes the key.
std::optional<std::string> check_api_key(std::string_view key);

// Return `upstream`'s provider keys with "env:NAME" entries read from `env`. Throws Error naming
// proxy.upstreams[index].api_keys[i] and the variable when one is unset or empty.
std::vector<std::string> resolve_api_keys(const Upstream& upstream, size_t index,
                                          const Environment& env);

// Return `document` with every secret (proxy.api_key, literal upstream keys) masked.
nlohmann::json masked_config(const nlohmann::json& document);

} // namespace agproxy
