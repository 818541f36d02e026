#include "server/upstream/tls.hpp"

#include "server/config/config.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace agproxy {

namespace {

// Add every certificate of the PEM file `path` to `store`; return how many, or -1 when the file
// cannot be opened (errno tells why).
int add_pem_file(X509_STORE* store, const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "r");
  if (!file) {
    return -1;
  }
  int count = 0;
  while (X509* certificate = PEM_read_X509(file, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, certificate) == 1) {
      ++count;
    }
    X509_free(certificate);
  }
  ERR_clear_error(); // the end of the file reads as an error
  std::fclose(file);
  return count;
}

} // namespace

std::shared_ptr<const TrustStore> TrustStore::system() {
  X509_STORE* store = X509_STORE_new();
  if (!store) {
    throw Error("cannot create a certificate store (out of memory)");
  }
  const char* bundle = std::getenv("CURL_CA_BUNDLE");
  if (bundle && *bundle) {
    if (add_pem_file(store, bundle) <= 0) {
      X509_STORE_free(store);
      throw Error(std::string("CURL_CA_BUNDLE=") + bundle +
                  " holds no readable PEM certificate; point it at a CA bundle or unset it");
    }
  } else if (X509_STORE_set_default_paths(store) != 1) {
    X509_STORE_free(store);
    ERR_clear_error();
    throw Error("cannot load the system's CA certificates (install ca-certificates, or set "
                "SSL_CERT_FILE)");
  }
  return std::shared_ptr<const TrustStore>(new TrustStore(store));
}

std::shared_ptr<const TrustStore> TrustStore::from_file(const std::string& path) {
  X509_STORE* store = X509_STORE_new();
  if (!store) {
    throw Error("cannot create a certificate store (out of memory)");
  }
  const int count = add_pem_file(store, path);
  if (count <= 0) {
    const std::string why = count < 0 ? std::strerror(errno) : "no PEM certificate in it";
    X509_STORE_free(store);
    throw Error("CA file " + path + ": " + why);
  }
  return std::shared_ptr<const TrustStore>(new TrustStore(store));
}

TrustStore::~TrustStore() {
  X509_STORE_free(static_cast<X509_STORE*>(m_store));
}

void TrustStore::install(void* ssl_ctx) const {
  SSL_CTX_set1_cert_store(static_cast<SSL_CTX*>(ssl_ctx), static_cast<X509_STORE*>(m_store));
}

std::optional<std::string> check_ca_file(const std::string& path) {
  if (path.empty()) {
    return "is empty; give the path of a PEM file of CA certificates, or remove the field";
  }
  X509_STORE* store = X509_STORE_new();
  const int count = add_pem_file(store, path);
  const int error = errno;
  X509_STORE_free(store);
  if (count < 0) {
    return std::string("cannot be read: ") + std::strerror(error);
  }
  if (count == 0) {
    return "holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
  }
  return std::nullopt;
}

} // namespace agproxy
