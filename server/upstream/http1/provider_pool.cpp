#include "server/upstream/http1/provider_pool.hpp"

#include "server/http/event_loop.hpp"
#include "server/upstream/http1/exchange.hpp"
#include "server/upstream/tls.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace agproxy {

namespace {

// A connection idle this long is not used again: the provider may be about to close it.
constexpr std::chrono::seconds k_max_idle{55};
// Idle connections kept per loop; past this a connection given back is closed.
constexpr size_t k_max_idle_count = 1024;
// How often idle connections are looked over for ones past k_max_idle (those to a provider no
// request asks for any more, after a reload say, would otherwise wait for the provider to close).
constexpr std::chrono::seconds k_sweep_every{5};
// TLS contexts kept per loop; past this the others are let go (each connection holds its own
// reference, and a context is made again, cheaply, from its still shared certificate store).
constexpr size_t k_max_contexts = 8;

std::string ssl_error_text() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) {
    return "TLS error";
  }
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : "TLS error";
}

} // namespace

std::optional<ProviderTarget> provider_target(const std::string& url) {
  ProviderTarget target;
  std::string_view rest(url);
  if (rest.starts_with("https://")) {
    target.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const size_t end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? "" : rest.substr(end);
  if (authority.empty() || authority.find('@') != std::string_view::npos ||
      path.find('#') != std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view host = authority, port;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  const uint16_t default_port = target.tls ? 443 : 80;
  target.port = default_port;
  if (!port.empty()) {
    unsigned value = 0;
    const auto [last, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (error != std::errc() || last != port.data() + port.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    target.port = static_cast<uint16_t>(value);
  }
  if (host.empty()) {
    return std::nullopt;
  }
  target.host = std::string(host);
  const std::string shown =
      host.find(':') != std::string_view::npos ? "[" + target.host + "]" : target.host;
  target.host_header =
      target.port == default_port ? shown : shown + ":" + std::to_string(target.port);
  target.path = path.empty() ? "/" : std::string(path);
  if (target.path.front() == '?') {
    target.path.insert(0, "/");
  }
  return target;
}

ProviderConnection::ProviderConnection(uint64_t id, int fd, std::string key)
    : m_id(id), m_fd(fd), m_key(std::move(key)) {}

ProviderConnection::~ProviderConnection() {
  if (m_ssl) {
    SSL_free(static_cast<SSL*>(m_ssl));
  }
  ::close(m_fd);
}

ProviderConnection::Io ProviderConnection::read(char* data, size_t size, size_t& got) {
  if (!m_ssl) {
    const ssize_t n = ::recv(m_fd, data, size, 0);
    if (n > 0) {
      got = static_cast<size_t>(n);
      return Io::done;
    }
    if (n == 0) {
      return Io::closed;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      return Io::again;
    }
    const int error = errno;
    m_error = std::string("Recv failure: ") + std::strerror(error);
    return error == ECONNRESET ? Io::closed : Io::failed;
  }
  SSL* ssl = static_cast<SSL*>(m_ssl);
  ERR_clear_error(); // SSL_get_error() reads the thread's queue, which others may have left full
  const int n = SSL_read(ssl, data, static_cast<int>(std::min<size_t>(size, 1 << 30)));
  if (n > 0) {
    got = static_cast<size_t>(n);
    return Io::done;
  }
  // (an end without close_notify, or a reset: the body's framing tells whether it was whole)
  return tls_outcome(n, "TLS read: ");
}

ProviderConnection::Io ProviderConnection::tls_outcome(int result, const char* what) {
  switch (SSL_get_error(static_cast<SSL*>(m_ssl), result)) {
  case SSL_ERROR_WANT_READ:
  case SSL_ERROR_WANT_WRITE:
    return Io::again;
  case SSL_ERROR_ZERO_RETURN:
  case SSL_ERROR_SYSCALL:
    ERR_clear_error();
    m_error = std::string(what) + "the provider closed the connection";
    return Io::closed;
  default:
    m_error = what + ssl_error_text();
    return Io::failed;
  }
}

ProviderConnection::Io ProviderConnection::write(const char* data, size_t size, size_t& put) {
  if (!m_ssl) {
    const ssize_t n = ::send(m_fd, data, size, MSG_NOSIGNAL);
    if (n >= 0) {
      put = static_cast<size_t>(n);
      return Io::done;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      return Io::again;
    }
    const int error = errno;
    m_error = std::string("Send failure: ") + std::strerror(error);
    return (error == EPIPE || error == ECONNRESET) ? Io::closed : Io::failed;
  }
  SSL* ssl = static_cast<SSL*>(m_ssl);
  ERR_clear_error();
  const int n = SSL_write(ssl, data, static_cast<int>(std::min<size_t>(size, 1 << 20)));
  if (n > 0) {
    put = static_cast<size_t>(n);
    return Io::done;
  }
  return tls_outcome(n, "TLS write: ");
}

bool ProviderConnection::pending() const {
  return m_ssl && SSL_has_pending(static_cast<SSL*>(m_ssl)) == 1;
}

ProviderPool::ProviderPool(EventLoop& loop) : m_loop(loop) {}

ProviderPool::~ProviderPool() {
  m_connections.clear();
  for (auto& [key, context] : m_contexts) {
    SSL_CTX_free(static_cast<SSL_CTX*>(context));
  }
}

std::string ProviderPool::key(const ProviderTarget& target, const TrustStore* trust, bool verify) {
  std::string key = target.tls ? "s " : "p ";
  key += target.host;
  key += ' ';
  key += std::to_string(target.port);
  if (target.tls) {
    key += verify ? " v" : " -";
    key += std::to_string(trust ? trust->serial() : 0);
  }
  return key;
}

ProviderConnection* ProviderPool::take(const std::string& key, Http1Exchange* user) {
  const auto it = m_idle.find(key);
  if (it == m_idle.end()) {
    return nullptr;
  }
  const auto now = std::chrono::steady_clock::now();
  std::vector<ProviderConnection*>& idle = it->second;
  while (!idle.empty()) {
    ProviderConnection* connection = idle.back(); // the most recently used: warm, and alive
    idle.pop_back();
    --m_idle_count;
    if (now - connection->idle_since < k_max_idle) {
      connection->user = user;
      return connection;
    }
    m_connections.erase(connection->id());
  }
  return nullptr;
}

ProviderConnection* ProviderPool::open(const std::string& key, const SocketAddress& address,
                                       Http1Exchange* user) {
  const int fd = ::socket(address.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return nullptr;
  }
  const int yes = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address.address), address.length) != 0 &&
      errno != EINPROGRESS) {
    const int error = errno;
    ::close(fd);
    errno = error;
    return nullptr;
  }
  const uint64_t id = m_next_id++;
  auto connection = std::make_unique<ProviderConnection>(id, fd, key);
  connection->user = user;
  ProviderConnection* raw = connection.get();
  m_connections.emplace(id, std::move(connection));
  m_loop.watch_provider(fd, id);
  return raw;
}

void* ProviderPool::tls_context(const TrustStore* trust, bool verify) {
  const std::pair<uint64_t, bool> key{trust ? trust->serial() : 0, verify};
  if (const auto it = m_contexts.find(key); it != m_contexts.end()) {
    return it->second;
  }
  if (m_contexts.size() >= k_max_contexts) {
    for (auto& [old_key, old] : m_contexts) {
      SSL_CTX_free(static_cast<SSL_CTX*>(old));
    }
    m_contexts.clear();
  }
  SSL_CTX* context = SSL_CTX_new(TLS_client_method());
  if (!context) {
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  // Partial writes: a large body goes as the socket takes it, resumed from where it stopped.
  SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read ahead: a record's header and body in one read(), not two (reads go on until OpenSSL
  // wants more from the socket, so nothing read ahead waits unseen).
  SSL_CTX_set_read_ahead(context, 1);
  static const unsigned char k_alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(context, k_alpn, sizeof k_alpn);
  if (verify) {
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
    if (trust) {
      trust->install(context);
    } else {
      SSL_CTX_set_default_verify_paths(context);
    }
  } else {
    SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nullptr);
  }
  m_contexts.emplace(key, context);
  return context;
}

void ProviderPool::give_back(ProviderConnection* connection) {
  const auto now = std::chrono::steady_clock::now();
  if (now >= m_next_sweep) {
    m_next_sweep = now + k_sweep_every;
    sweep(now);
  }
  if (m_idle_count >= k_max_idle_count) {
    close(connection);
    return;
  }
  connection->user = nullptr;
  connection->reused = true;
  connection->idle_since = now;
  m_idle[connection->key()].push_back(connection);
  ++m_idle_count;
}

void ProviderPool::sweep(std::chrono::steady_clock::time_point now) {
  for (auto it = m_idle.begin(); it != m_idle.end();) {
    std::vector<ProviderConnection*>& idle = it->second;
    // Given back in order: the oldest first.
    size_t expired = 0;
    while (expired < idle.size() && now - idle[expired]->idle_since >= k_max_idle) {
      m_connections.erase(idle[expired]->id());
      ++expired;
    }
    idle.erase(idle.begin(), idle.begin() + static_cast<std::ptrdiff_t>(expired));
    m_idle_count -= expired;
    it = idle.empty() ? m_idle.erase(it) : std::next(it);
  }
}

void ProviderPool::close(ProviderConnection* connection) {
  m_connections.erase(connection->id());
}

void ProviderPool::on_events(uint64_t id, uint32_t events) {
  const auto it = m_connections.find(id);
  if (it == m_connections.end()) {
    return; // closed earlier in the same round
  }
  ProviderConnection* connection = it->second.get();
  if (connection->user) {
    connection->user->on_events(events);
    return;
  }
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
    return; // (writable: nothing to write)
  }
  // An idle connection has nothing to say but TLS messages of its own (a session ticket): any
  // other byte, or the end, and it is closed.
  char byte[256];
  size_t got = 0;
  if (!(events & (EPOLLHUP | EPOLLERR)) &&
      connection->read(byte, sizeof byte, got) == ProviderConnection::Io::again) {
    return;
  }
  auto& idle = m_idle[connection->key()];
  for (auto at = idle.begin(); at != idle.end(); ++at) {
    if (*at == connection) {
      idle.erase(at);
      --m_idle_count;
      break;
    }
  }
  m_connections.erase(it);
}

} // namespace agproxy
