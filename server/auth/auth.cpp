#include "server/auth/auth.hpp"

#include "server/text.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

namespace agproxy {

namespace {

constexpr std::string_view k_bearer = "Bearer";

std::array<unsigned char, 32> sha256(std::string_view data) {
  // Every request with a key is hashed: OpenSSL 3's one-shot SHA256() looks the algorithm up and
  // allocates a context each time (most of its cost on a short key), so both are kept.
  struct Hasher {
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    ~Hasher() {
      EVP_MD_CTX_free(context);
      EVP_MD_free(md);
    }
  };
  thread_local Hasher hasher;
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  if (!hasher.md || !hasher.context || !EVP_DigestInit_ex2(hasher.context, hasher.md, nullptr) ||
      !EVP_DigestUpdate(hasher.context, data.data(), data.size()) ||
      !EVP_DigestFinal_ex(hasher.context, digest.data(), &length)) {
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  }
  return digest;
}

std::string join_headers(const std::vector<KeyHeader>& headers) {
  std::string out;
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i > 0) {
      out += i + 1 == headers.size() ? " and " : ", ";
    }
    out += header_name(headers[i]);
  }
  return out;
}

} // namespace

std::optional<AuthMode> parse_auth_mode(std::string_view text) {
  if (text == "off") {
    return AuthMode::off;
  }
  if (text == "strict") {
    return AuthMode::strict;
  }
  if (text == "all_except_health") {
    return AuthMode::all_except_health;
  }
  if (text == "auto") {
    return AuthMode::auto_;
  }
  return std::nullopt;
}

std::string_view to_string(AuthMode mode) {
  switch (mode) {
  case AuthMode::off:
    return "off";
  case AuthMode::strict:
    return "strict";
  case AuthMode::all_except_health:
    return "all_except_health";
  case AuthMode::auto_:
    return "auto";
  }
  return "auto";
}

std::string_view auth_mode_choices() {
  return "off, strict, all_except_health, auto";
}

AuthMode effective_auth_mode(AuthMode mode, bool allow_lan_access) {
  if (mode != AuthMode::auto_) {
    return mode;
  }
  return allow_lan_access ? AuthMode::all_except_health : AuthMode::off;
}

std::string explain_effective_mode(AuthMode mode, bool allow_lan_access) {
  const std::string lan = allow_lan_access ? "true" : "false";
  if (mode == AuthMode::auto_) {
    return "auto → " + std::string(to_string(effective_auth_mode(mode, allow_lan_access))) +
           " because allow_lan_access=" + lan;
  }
  return "auth_mode=" + std::string(to_string(mode)) +
         " applies as set (only auto depends on allow_lan_access, now " + lan + ")";
}

std::string_view to_string(DenyReason reason) {
  switch (reason) {
  case DenyReason::none:
    return "none";
  case DenyReason::missing_api_key:
    return "missing_api_key";
  case DenyReason::invalid_api_key:
    return "invalid_api_key";
  case DenyReason::malformed_authorization:
    return "malformed_authorization";
  case DenyReason::proxy_api_key_empty:
    return "proxy_api_key_empty";
  }
  return "none";
}

std::string_view header_name(KeyHeader header) {
  switch (header) {
  case KeyHeader::authorization:
    return "Authorization";
  case KeyHeader::x_api_key:
    return "x-api-key";
  case KeyHeader::x_goog_api_key:
    return "x-goog-api-key";
  }
  return "Authorization";
}

AuthorizationKey parse_authorization(std::string_view value) {
  AuthorizationKey result{value, false, false};
  if (value.size() < k_bearer.size() || !iequals(value.substr(0, k_bearer.size()), k_bearer)) {
    return result;
  }
  std::string_view rest = value.substr(k_bearer.size());
  if (rest.empty()) {
    result.malformed = true; // "Bearer" with nothing after it
    return result;
  }
  if (rest.front() != ' ') {
    result.malformed = true; // "Bearer<key>": compared whole, and fails
    return result;
  }
  const size_t start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    result.key = {};
    result.bearer = true;
    result.malformed = true; // "Bearer " followed only by spaces
    return result;
  }
  result.key = rest.substr(start);
  result.bearer = true;
  return result;
}

AuthPolicy::AuthPolicy(AuthMode effective_mode, std::string api_key)
    : m_mode(effective_mode == AuthMode::auto_ ? AuthMode::off : effective_mode),
      m_key(std::move(api_key)), m_key_digest(sha256(m_key)) {}

bool AuthPolicy::key_matches(std::string_view candidate) const {
  if (m_key.empty()) {
    return false;
  }
  // Comparing digests keeps the time independent of the candidate's length as well as its bytes.
  const auto digest = sha256(candidate);
  return CRYPTO_memcmp(digest.data(), m_key_digest.data(), digest.size()) == 0;
}

std::optional<std::string_view> AuthRequest::header(KeyHeader which) const {
  switch (which) {
  case KeyHeader::authorization:
    return authorization;
  case KeyHeader::x_api_key:
    return x_api_key;
  case KeyHeader::x_goog_api_key:
    return x_goog_api_key;
  }
  return std::nullopt;
}

bool is_health_path(std::string_view path) {
  return path == "/healthz" || path == "/health";
}

AuthDecision decide(const AuthPolicy& policy, const AuthRequest& request) {
  AuthDecision decision;
  if (request.method == "OPTIONS" || policy.mode() == AuthMode::off) {
    return decision;
  }
  if (policy.mode() == AuthMode::all_except_health && is_health_path(request.path) &&
      (request.method == "GET" || request.method == "HEAD")) {
    return decision;
  }
  decision.key_required = true;

  std::optional<std::string_view> value;
  for (KeyHeader candidate : k_key_headers) {
    auto present = request.header(candidate);
    if (!present) {
      continue;
    }
    if (!decision.header_read) {
      decision.header_read = candidate;
      value = present;
    } else {
      decision.headers_ignored.push_back(candidate);
    }
  }

  decision.allowed = false;
  if (!policy.key_configured()) {
    decision.reason = DenyReason::proxy_api_key_empty;
    return decision;
  }
  if (!decision.header_read || value->empty()) {
    decision.reason = DenyReason::missing_api_key;
    return decision;
  }
  std::string_view key = *value;
  bool malformed = false;
  if (*decision.header_read == KeyHeader::authorization) {
    const AuthorizationKey parsed = parse_authorization(*value);
    key = parsed.key;
    malformed = parsed.malformed;
  }
  if (policy.key_matches(key)) {
    decision.allowed = true;
    return decision;
  }
  decision.reason = malformed ? DenyReason::malformed_authorization : DenyReason::invalid_api_key;
  return decision;
}

std::string describe_denial(const AuthDecision& decision, AuthMode mode) {
  const std::string mode_text = "auth mode " + std::string(to_string(mode));
  std::string ignored;
  if (!decision.headers_ignored.empty()) {
    ignored = "; " + join_headers(decision.headers_ignored) +
              (decision.headers_ignored.size() == 1 ? " was" : " were") +
              " also sent and ignored, because the proxy reads Authorization, then x-api-key, "
              "then x-goog-api-key and uses the first present";
  }
  const std::string read =
      decision.header_read ? std::string(header_name(*decision.header_read)) : std::string();
  switch (decision.reason) {
  case DenyReason::proxy_api_key_empty:
    return "agproxy: proxy auth is enabled (" + mode_text +
           ") but the proxy has no api_key configured, so every request is denied. Set one with "
           "'agproxy key regenerate' or 'agproxy key set'.";
  case DenyReason::missing_api_key:
    if (decision.header_read) {
      return "agproxy: the " + read + " header is empty (" + mode_text + ")" + ignored +
             ". Send the proxy key as 'Authorization: Bearer <key>'; 'agproxy key show' prints it.";
    }
    return "agproxy: no proxy API key was sent (" + mode_text +
           "). Send it as 'Authorization: Bearer <key>' (or in x-api-key or x-goog-api-key); "
           "'agproxy key show' prints it.";
  case DenyReason::malformed_authorization:
    return "agproxy: malformed Authorization header: the scheme must be 'Bearer', then a space, "
           "then the key ('Authorization: Bearer <key>')" +
           ignored + ".";
  case DenyReason::invalid_api_key:
    return "agproxy: invalid proxy API key in the " + read + " header (" + mode_text + ")" +
           ignored + ". 'agproxy key show' prints the key the proxy expects.";
  case DenyReason::none:
    break;
  }
  return "agproxy: request allowed";
}

} // namespace agproxy
