#include "server/auth/secret.hpp"

#include <algorithm>
#include <array>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdexcept>

namespace agproxy {

namespace {

std::string to_hex(const unsigned char* data, size_t size) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += k_digits[data[i] >> 4];
    out += k_digits[data[i] & 0x0f];
  }
  return out;
}

} // namespace

std::string generate_api_key() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("the OpenSSL random generator failed; cannot create a key");
  }
  return "sk-" + to_hex(bytes.data(), bytes.size());
}

std::string mask_secret(std::string_view secret) {
  if (secret.empty()) {
    return "(empty)";
  }
  // Below 12 characters the last 4 would be a third of the key or more: show none of it.
  if (secret.size() < 12) {
    return "…(" + std::to_string(secret.size()) + " chars)";
  }
  const std::string prefix = secret.starts_with("sk-") ? "sk-" : "";
  return prefix + "…" + std::string(secret.substr(secret.size() - 4));
}

std::string fingerprint(std::string_view secret) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest.data());
  return to_hex(digest.data(), 4);
}

std::string mask_url(std::string_view url) {
  std::string out(url);
  if (const size_t query = out.find('?'); query != std::string::npos) {
    out.replace(query + 1, std::string::npos, "***");
  }
  const size_t scheme = out.find("://");
  const size_t authority = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t end = std::min(out.find_first_of("/?#", authority), out.size());
  if (const size_t at = out.rfind('@', end); at != std::string::npos && at >= authority) {
    out.replace(authority, at - authority, "***");
  }
  return out;
}

} // namespace agproxy
