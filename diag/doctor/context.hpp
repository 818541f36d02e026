#pragma once

#include "diag/doctor.hpp"
#include "diag/doctor/evidence.hpp"
#include "diag/doctor/observed.hpp"
#include "server/protocols/protocol.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// What the doctor's checks share: the inputs, what earlier checks found, and the probing that
// records a redacted trace and a reproducing curl command for -v.
namespace agproxy::diag::doctor {

// The realm of every 401 agproxy itself answers (a 401 without it came from somewhere else).
inline constexpr const char* k_realm = "realm=\"agproxy\"";

// A URL split for probing.
struct Target {
  std::string scheme;
  std::string host;
  int port = 0;
  // scheme://host:port, no trailing slash.
  std::string base;
};

// Return the target of an http:// or https:// URL with a host, or nothing.
std::optional<Target> parse_url(const std::string& url);

// Return the path of `url` without its query ("/" when it has none).
std::string url_path(const std::string& url);

// Return whether `a` and `b` are the same host and port (the loopback names counting as one).
bool same_endpoint(const Target& a, const Target& b);

// Return the seconds of a duration "30s", "10m", "2h", "1d" (or plain seconds), or nothing when
// `text` is not one of at least a second.
std::optional<long> parse_duration(std::string_view text);

// Return the API family whose routes a client asking for `model` most likely uses: Anthropic for
// claude-*, Gemini for gemini-*, else OpenAI Chat Completions.
Protocol family_of_model(std::string_view model);

// Return `items` joined with `separator`.
std::string join(const std::vector<std::string>& items, const std::string& separator);

// What answers at the target, as far as the probes tell.
enum class ServerKind { unknown, agproxy, antigravity };

// What the doctor read of the server's record of refused requests (DESIGN §8).
struct RecordedDenials {
  // Whether the server answered GET /agproxy/events with its record.
  bool read = false;
  // Why a server that keeps the record did not show it (the key refused, not a loopback client,
  // another answer); empty when it showed it or keeps none.
  std::string unavailable;
  // The window read: "in the last 10m", or empty for the whole record.
  std::string window;
  // The clients it refused, most recent first.
  std::vector<RecordedClient> clients;
  // The request's redacted lines, for -v.
  std::vector<std::string> trace;
};

// The state a walk's checks read and add to, in the order the checks run.
struct Context {
  // Start a walk over `options` and `env` (read, never changed), probing with `prober`.
  Context(const DoctorOptions& walk_options, const Environment& walk_env, HttpProber& walk_prober)
      : options(walk_options), env(walk_env), prober(walk_prober) {}

  const DoctorOptions& options;
  const Environment& env;
  HttpProber& prober;

  // What config.load read.
  std::string config_path;
  // Whether fixes name the file (--config given, or Antigravity Tools' file used).
  bool config_explicit = false;
  // The file's settings with this shell's AGPROXY_* variables applied.
  std::optional<ProxySettings> settings;
  std::optional<AuthMode> config_mode;

  // Whether server.reachable sends the proxy key with GET /healthz.
  bool health_with_key = false;
  // What server.reachable and health.probe found.
  Target target;
  std::optional<ProbeResponse> health;
  ServerKind kind = ServerKind::unknown;
  std::optional<AuthMode> observed_mode;
  std::optional<bool> observed_key_configured;

  // --since, in seconds.
  std::optional<long> since_seconds;
  // The failing client's request: from -H / --curl, else the most recent the server refused.
  std::optional<ClientEvidence> client;
  // Without -H / --curl: the clients the server refused.
  RecordedDenials recorded;

  // What the server saw, once a check has read it (observe()).
  std::optional<ServerView> server_view;
  // doctor 429: the model the 429 is about (--model, else the last rate-limited request's), the
  // family of the routes it is asked on, and the upstream the server's routing sends it to.
  std::optional<std::string> model;
  Protocol model_family = Protocol::openai;
  std::optional<std::string> route_upstream;

  // Read the failing client's request from -H and --curl, and --since. Throws UsageError when
  // they do not parse, or when --since comes with pasted headers.
  void read_arguments();

  // Return what the server saw: GET /agproxy/status and /agproxy/events (within --since), read
  // with the proxy key on the first call (its lines added to `trace`), then remembered.
  const ServerView& observe(std::vector<std::string>& trace);

  // Return one minimal generation request for the model `asked` through the proxy, on the route of
  // its family (family_of_model), with the key a client should send.
  ProbeRequest model_request(const std::string& asked) const;

  // Send `request` with the options' timeout, and add its redacted lines and a curl command that
  // reproduces it to `trace` (a check's, shown with -v).
  ProbeResponse probe(std::vector<std::string>& trace, ProbeRequest request);

  // Return " --config 'PATH'" when fixes must name the file, else "".
  std::string config_flag() const;
  // Return the mode the server enforces: observed, else implied by the config.
  std::optional<AuthMode> enforced_mode() const;
  // Return the config's proxy key, if it sets one.
  std::optional<std::string> configured_key() const;
  // Return the key a client should send: --key, else the config's.
  std::optional<std::string> expected_key() const;
  // Return whether `response` is a 401 from the proxy itself (not from a provider behind it).
  bool is_proxy_401(const ProbeResponse& response) const;
  // Return whether the target answered HTTP.
  bool reachable() const { return health && health->error == TransportError::none; }

private:
  std::string shown_header_value(const std::string& name, const std::string& value) const;
  std::string curl_for(const ProbeRequest& request) const;
};

} // namespace agproxy::diag::doctor
