#include "diag/doctor/evidence.hpp"

#include "server/auth/secret.hpp"

namespace agproxy::diag::doctor {

KeyPrint KeyPrint::of(std::string_view key) {
  // As the server records a key: nothing of one shorter than 8 characters.
  return {key.size() >= 8 ? std::string(key.substr(key.size() - 4)) : std::string(),
          fingerprint(key), describe_key(key)};
}

KeyPrint KeyPrint::recorded(std::string last4, std::string sha256) {
  std::string shown = (last4.empty() ? "(a short key)" : "…" + last4) + " sha256:" + sha256;
  return {std::move(last4), std::move(sha256), std::move(shown)};
}

bool KeyPrint::matches(std::string_view candidate) const {
  return *this == of(candidate);
}

bool KeyHeaderEvidence::carries(std::string_view candidate) const {
  if (value) {
    return key_in_header(header, *value) == candidate;
  }
  return key && key->matches(candidate);
}

bool KeyHeaderEvidence::same_key_as(const KeyHeaderEvidence& other) const {
  if (value && other.value) {
    return key_in_header(header, *value) == key_in_header(other.header, *other.value);
  }
  return key && other.key && *key == *other.key;
}

ClientEvidence evidence_from_request(const ClientRequest& request, std::string method,
                                     std::string path) {
  ClientEvidence evidence;
  evidence.method = std::move(method);
  evidence.path = std::move(path);
  evidence.url = request.url;
  const AuthRequest auth = to_auth_request(request, evidence.method, evidence.path);
  for (KeyHeader which : k_key_headers) {
    const std::optional<std::string_view> value = auth.header(which);
    if (!value) {
      continue;
    }
    const std::string_view key = key_in_header(which, *value);
    evidence.headers.push_back({which, KeyPrint::of(key), provider_of_key(key),
                                analyze_key_header(which, *value), std::string(*value)});
  }
  for (const ClientHeader& header : request.headers) {
    for (KeyHeader which : k_key_headers) {
      if (is_header(header.name, which)) {
        evidence.replay.push_back(header);
      }
    }
  }
  return evidence;
}

} // namespace agproxy::diag::doctor
