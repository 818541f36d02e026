#pragma once

#include <memory>
#include <optional>
#include <string>

namespace agproxy {

// The certificates an upstream's TLS connections are verified against, loaded once (per config
// generation) and shared by every connection: libcurl would otherwise read and parse the whole CA
// bundle again for each new connection (30-40 ms of CPU each).
class TrustStore {
public:
  // Return the system's trust store: $CURL_CA_BUNDLE when set, else OpenSSL's default paths
  // (which honour $SSL_CERT_FILE and $SSL_CERT_DIR). Throws Error when nothing can be loaded.
  static std::shared_ptr<const TrustStore> system();
  // Return a store of the certificates in the PEM file `path`. Throws Error naming the file.
  static std::shared_ptr<const TrustStore> from_file(const std::string& path);

  ~TrustStore();
  TrustStore(const TrustStore&) = delete;
  TrustStore& operator=(const TrustStore&) = delete;

  // Make `ssl_ctx` (an OpenSSL SSL_CTX*) verify against this store.
  void install(void* ssl_ctx) const;

private:
  explicit TrustStore(void* store) : m_store(store) {}
  void* m_store; // X509_STORE*
};

// Return what is wrong with `path` as a CA file (unreadable, no PEM certificate in it), or
// nothing when it holds at least one certificate.
std::optional<std::string> check_ca_file(const std::string& path);

} // namespace agproxy
