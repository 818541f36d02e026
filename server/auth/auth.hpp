#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agproxy {

// The auth_mode values of the config file (DESIGN §2), in the file's snake_case spelling.
enum class AuthMode { off, strict, all_except_health, auto_ };

// Return the mode named by `text` (snake_case, as in the config file), or nothing.
std::optional<AuthMode> parse_auth_mode(std::string_view text);

// Return the config-file spelling of `mode`.
std::string_view to_string(AuthMode mode);

// Return the list of valid auth_mode spellings, for error messages and help texts.
std::string_view auth_mode_choices();

// Return the mode the proxy enforces: `auto` becomes `all_except_health` when the proxy is
// reachable from the LAN and `off` otherwise; the other modes stand as they are.
AuthMode effective_auth_mode(AuthMode mode, bool allow_lan_access);

// Return a one-line explanation of the effective mode, e.g.
// "auto → all_except_health because allow_lan_access=true".
std::string explain_effective_mode(AuthMode mode, bool allow_lan_access);

// Why a request was denied; `none` when it was not.
enum class DenyReason {
  none,
  missing_api_key,
  invalid_api_key,
  malformed_authorization,
  proxy_api_key_empty
};

// Return the wire spelling of `reason` (the x-agproxy-reason header and the OpenAI error code).
std::string_view to_string(DenyReason reason);

// The request headers that can carry the proxy key, in the order the proxy reads them.
enum class KeyHeader { authorization, x_api_key, x_goog_api_key };
inline constexpr std::array<KeyHeader, 3> k_key_headers = {
    KeyHeader::authorization, KeyHeader::x_api_key, KeyHeader::x_goog_api_key};

// Return the canonical header name, e.g. "Authorization".
std::string_view header_name(KeyHeader header);

// What an Authorization value yields as a key.
struct AuthorizationKey {
  // The key to compare: the part after "Bearer " or, without that scheme, the whole value.
  std::string_view key;
  // Whether the value used the Bearer scheme with at least one space after it.
  bool bearer = false;
  // Whether the value is "Bearer" glued to a key, or "Bearer" with nothing after it.
  bool malformed = false;
};

// Return the key an Authorization header value carries (RFC 7235: the scheme is compared
// case-insensitively and is followed by one or more spaces).
AuthorizationKey parse_authorization(std::string_view value);

// The settings one auth decision depends on. Immutable once built; swapped whole on reload.
class AuthPolicy {
public:
  // Build a policy enforcing `effective_mode` with `api_key` as the proxy key.
  AuthPolicy(AuthMode effective_mode, std::string api_key);

  // Return the mode enforced (never `auto_`).
  AuthMode mode() const { return m_mode; }
  // Return whether a non-empty proxy key is configured.
  bool key_configured() const { return !m_key.empty(); }
  // Return whether `candidate` is the proxy key, in time independent of where they differ and of
  // their lengths.
  bool key_matches(std::string_view candidate) const;

private:
  AuthMode m_mode;
  std::string m_key;
  std::array<unsigned char, 32> m_key_digest{};
};

// The parts of a request the auth decision reads. A header is absent when its optional is empty.
struct AuthRequest {
  std::string_view method;
  std::string_view path;
  std::optional<std::string_view> authorization;
  std::optional<std::string_view> x_api_key;
  std::optional<std::string_view> x_goog_api_key;

  // Return the value of `header`, if the request carries it.
  std::optional<std::string_view> header(KeyHeader header) const;
};

// The outcome of checking one request.
struct AuthDecision {
  bool allowed = true;
  // Whether the route needed the key in this mode (false: off, OPTIONS, health exemption).
  bool key_required = false;
  DenyReason reason = DenyReason::none;
  // The header the key was read from, if any was read.
  std::optional<KeyHeader> header_read;
  // Headers that were present but not consulted because a higher one was read.
  std::vector<KeyHeader> headers_ignored;
};

// Return whether `path` is the health endpoint (/healthz or its alias /health).
bool is_health_path(std::string_view path);

// Return the proxy's verdict on `request` under `policy`. This is the one implementation of the
// seed's rules: the server enforces it and the doctor predicts with it.
AuthDecision decide(const AuthPolicy& policy, const AuthRequest& request);

// Return a message for a denied request that names the header read and any ignored (never values),
// suitable for the error body a client SDK shows its user.
std::string describe_denial(const AuthDecision& decision, AuthMode mode);

} // namespace agproxy
