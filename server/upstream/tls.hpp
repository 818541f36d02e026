#pragma once

#include <cstdint>
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
  // Return the PEM text of a store read from a CA file; empty for the system's store. Transfers
  // give it to libcurl as the CA blob, which libcurl compares before it reuses a connection: a
  // connection verified against one upstream's CA file then never serves an upstream at the same
  // address that trusts other certificates.
  const std::string& pem() const { return m_pem; }
  // Return a number no other store of this process has had: what a provider connection was
  // verified against, which a store made later at the same address must not be taken for.
  uint64_t serial() const { return m_serial; }

private:
  TrustStore(void* store, std::string pem);
  void* m_store; // X509_STORE*
  std::string m_pem;
  uint64_t m_serial;
};

// Return what is wrong with `path` as a CA file (unreadable, no PEM certificate in it), or
// nothing when it holds at least one certificate.
std::optional<std::string> check_ca_file(const std::string& path);

} // namespace agproxy
