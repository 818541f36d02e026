#include "server/upstream/tls.hpp"

#include "server/config/config.hpp"

#include <atomic>
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

// Read the file `path` into `text`; return false when it cannot be read (errno tells why).
bool read_file(const std::string& path, std::string& text) {
  FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) {
    return false;
  }
  char buffer[8192];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
    text.append(buffer, n);
  }
  const bool ok = std::ferror(file) == 0;
  std::fclose(file);
  return ok;
}

// Add every certificate of the PEM text `pem` to `store`; return how many.
int add_pem(X509_STORE* store, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) {
    return 0;
  }
  int count = 0;
  while (X509* certificate = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, certificate) == 1) {
      ++count;
    }
    X509_free(certificate);
  }
  ERR_clear_error(); // the end of the text reads as an error
  BIO_free(bio);
  return count;
}

// Add every certificate of the PEM file `path` to `store` and set `pem` to its text; return how
// many, or -1 when the file cannot be read (errno tells why).
int add_pem_file(X509_STORE* store, const std::string& path, std::string& pem) {
  if (!read_file(path, pem)) {
    return -1;
  }
  return add_pem(store, pem);
}

} // namespace

std::shared_ptr<const TrustStore> TrustStore::system() {
  X509_STORE* store = X509_STORE_new();
  if (!store) {
    throw Error("cannot create a certificate store (out of memory)");
  }
  const char* bundle = std::getenv("CURL_CA_BUNDLE");
  if (std::string pem; bundle && *bundle) {
    if (add_pem_file(store, bundle, pem) <= 0) {
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
  return std::shared_ptr<const TrustStore>(new TrustStore(store, ""));
}

std::shared_ptr<const TrustStore> TrustStore::from_file(const std::string& path) {
  X509_STORE* store = X509_STORE_new();
  if (!store) {
    throw Error("cannot create a certificate store (out of memory)");
  }
  std::string pem;
  const int count = add_pem_file(store, path, pem);
  if (count <= 0) {
    const std::string why = count < 0 ? std::strerror(errno) : "no PEM certificate in it";
    X509_STORE_free(store);
    throw Error("CA file " + path + ": " + why);
  }
  return std::shared_ptr<const TrustStore>(new TrustStore(store, std::move(pem)));
}

TrustStore::TrustStore(void* store, std::string pem) : m_store(store), m_pem(std::move(pem)) {
  static std::atomic<uint64_t> next{1};
  m_serial = next++;
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
  std::string pem;
  const int count = add_pem_file(store, path, pem);
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
