#include "server/upstream/upstream_transfer.hpp"

#include "server/text.hpp"
#include "server/upstream/http1/exchange.hpp"

#include <algorithm>
#include <cctype>
#include <curl/curl.h>
#include <openssl/ssl.h>

namespace agproxy {

namespace {

// Easy handles of finished transfers, kept per thread for the next ones: curl_easy_init allocates
// and initialises several kilobytes each time (a few percent of a small proxied request's cost).
class SpareEasyHandles {
public:
  ~SpareEasyHandles() {
    for (CURL* easy : m_spare) {
      curl_easy_cleanup(easy);
    }
  }
  CURL* take() {
    if (m_spare.empty()) {
      return curl_easy_init();
    }
    CURL* easy = m_spare.back();
    m_spare.pop_back();
    curl_easy_reset(easy);
    return easy;
  }
  void give_back(CURL* easy) {
    if (m_spare.size() < k_kept) {
      m_spare.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
  }

private:
  static constexpr size_t k_kept = 64;
  std::vector<CURL*> m_spare;
};

// Prepare the SSL_CTX of a new TLS connection: verify against the upstream's store (when there is
// one), and keep the connection's record buffers. libcurl asks OpenSSL to free them whenever they
// are empty (SSL_MODE_RELEASE_BUFFERS), which costs two 16 KiB allocations per request on a
// reused connection; kept, they cost 33 KiB per open provider connection.
CURLcode prepare_tls(CURL*, void* ssl_ctx, void* trust) {
  SSL_CTX_clear_mode(static_cast<SSL_CTX*>(ssl_ctx), SSL_MODE_RELEASE_BUFFERS);
  if (trust) {
    static_cast<const TrustStore*>(trust)->install(ssl_ctx);
  }
  return CURLE_OK;
}

SpareEasyHandles& spare_easy_handles() {
  thread_local SpareEasyHandles spares;
  return spares;
}

} // namespace

UpstreamTransfer::UpstreamTransfer(EventLoop& loop, EventLoop::Id owner)
    : m_loop(loop), m_owner(owner) {}

UpstreamTransfer::~UpstreamTransfer() {
  m_exchange.reset();
  if (m_easy) {
    curl_multi_remove_handle(static_cast<CURLM*>(m_loop.multi()), m_easy);
    spare_easy_handles().give_back(m_easy);
  }
  curl_slist_free_all(static_cast<curl_slist*>(m_headers_list));
}

size_t UpstreamTransfer::on_header(char* data, size_t size, size_t count, void* self) try {
  auto* transfer = static_cast<UpstreamTransfer*>(self);
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    transfer->m_headers.clear();
    const size_t space = line.find(' ');
    transfer->m_status = space == std::string_view::npos ? 0 : std::atoi(line.data() + space + 1);
  } else if (line == "\r\n" || line == "\n") {
    transfer->m_headers_done = transfer->m_status >= 200;
    if (transfer->m_headers_done) {
      transfer->m_loop.notify(transfer->m_owner);
    }
  } else if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    // A control character inside a value (a bare CR, a NUL) is no header to pass to a client,
    // which might read it as a line break: the header is dropped.
    if (!has_control(value)) {
      transfer->m_headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
  }
  return size * count;
} catch (...) {
  return 0; // (out of memory) nothing may unwind through libcurl: the transfer fails instead
}

size_t UpstreamTransfer::on_body(char* data, size_t size, size_t count, void* self) try {
  auto* transfer = static_cast<UpstreamTransfer*>(self);
  if (transfer->m_buffer.size() >= k_max_buffered) {
    transfer->m_paused = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  transfer->m_buffer.append(data, size * count);
  transfer->m_loop.notify(transfer->m_owner);
  return size * count;
} catch (...) {
  return 0;
}

std::string UpstreamTransfer::header(const std::string& name) const {
  for (const auto& [key, value] : m_headers) {
    if (iequals(key, name)) {
      return value;
    }
  }
  return "";
}

void UpstreamTransfer::finish(int result) {
  m_done = true;
  m_result = result;
  if (result != CURLE_OK) {
    m_error = curl_easy_strerror(static_cast<CURLcode>(result));
  }
  m_loop.notify(m_owner);
}

UpstreamTransfer::Outcome UpstreamTransfer::outcome() const {
  if (m_outcome) {
    return *m_outcome;
  }
  switch (static_cast<CURLcode>(m_result)) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return Outcome::unreachable;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    return Outcome::tls;
  case CURLE_OPERATION_TIMEDOUT:
    return Outcome::timeout;
  default:
    return Outcome::failed;
  }
}

void UpstreamTransfer::start(Request request, Clock::time_point deadline) {
  m_request = std::move(request);
  std::optional<ProviderTarget> target;
  if (m_request.proxy.empty()) {
    target = provider_target(m_request.url);
  }
  if (!target) {
    start_curl(deadline);
    return;
  }
  m_exchange = std::make_unique<Http1Exchange>(m_loop.providers(), *this, std::move(*target));
  m_exchange->start();
}

void UpstreamTransfer::start_curl(Clock::time_point deadline) {
  m_easy = spare_easy_handles().take();
  CURL* easy = m_easy;
  curl_slist* list = nullptr;
  for (const auto& [name, value] : m_request.headers) {
    list = curl_slist_append(list, (name + ": " + value).c_str());
  }
  list = curl_slist_append(list, "Expect:");
  m_headers_list = list;
  const auto budget =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  curl_easy_setopt(easy, CURLOPT_URL, m_request.url.c_str());
  // The path goes as the client sent it (checked by safe_request_path): libcurl must not resolve
  // dot segments or re-encode it.
  curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, std::max<long>(1, budget));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  // Bytes pass through as the provider sent them: no decoding, no proxy from the environment.
  curl_easy_setopt(easy, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  curl_easy_setopt(easy, CURLOPT_PROXY, m_request.proxy.c_str());
  // Certificates are checked against the upstream's store, loaded once: libcurl loads no CA file
  // of its own (it would for every new connection).
  curl_easy_setopt(easy, CURLOPT_CAINFO, nullptr);
  curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(easy, CURLOPT_PROXY_CAINFO, nullptr);
  curl_easy_setopt(easy, CURLOPT_PROXY_CAPATH, nullptr);
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, &prepare_tls);
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, m_request.trust);
  if (m_request.trust) {
    if (const std::string& pem = m_request.trust->pem(); !pem.empty()) {
      // libcurl does not compare the SSL_CTX function's data before it reuses a connection, but
      // it compares the CA blob: without it, a connection verified with another upstream's CA
      // (same host and port) would be reused unchecked. The blob points into the store, which
      // outlives the transfer as the SSL_CTX data does.
      curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_NOCOPY};
      curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
    }
  }
  const long verify = m_request.tls_verify ? 1L : 0L;
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, verify * 2);
  curl_easy_setopt(easy, CURLOPT_PROXY_SSL_VERIFYPEER, verify);
  curl_easy_setopt(easy, CURLOPT_PROXY_SSL_VERIFYHOST, verify * 2);
  const bool has_body = m_request.body && !m_request.body->empty();
  if (m_request.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (m_request.method != "GET" || has_body) {
    // Set even for a GET with a body, which POSTFIELDS alone would turn into a POST.
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, m_request.method.c_str());
  }
  if (has_body || m_request.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, has_body ? m_request.body->c_str() : "");
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE,
                     static_cast<long>(has_body ? m_request.body->size() : 0));
  }
  curl_multi_add_handle(static_cast<CURLM*>(m_loop.multi()), easy);
}

void UpstreamTransfer::take(std::string& out) {
  out += m_buffer;
  m_buffer.clear();
  if (m_paused) {
    if (m_exchange) {
      m_exchange->resume(); // may hand over more at once
      return;
    }
    m_paused = false;
    curl_easy_pause(m_easy, CURLPAUSE_CONT); // may hand over more at once
  }
}

} // namespace agproxy
