#include "server/upstream/http1/exchange.hpp"

#include "server/http/event_loop.hpp"
#include "server/text.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

namespace agproxy {

namespace {

// A body up to this size is copied behind the head and goes in the same write.
constexpr size_t k_small_body = 16 * 1024;

constexpr size_t k_read_size = 64 * 1024;

char* read_buffer() {
  thread_local char buffer[k_read_size];
  return buffer;
}

// Return the request line and headers of `request` to `target`: Host first, Accept unless the
// request has one (as libcurl wrote them), then the request's headers and the body's length.
std::string request_head(const UpstreamTransfer::Request& request, const ProviderTarget& target) {
  std::string head;
  head.reserve(256);
  head += request.method;
  head += ' ';
  head += target.path;
  head += " HTTP/1.1\r\nHost: ";
  head += target.host_header;
  head += "\r\n";
  const bool accept =
      std::any_of(request.headers.begin(), request.headers.end(),
                  [](const auto& header) { return iequals(header.first, "Accept"); });
  if (!accept) {
    head += "Accept: */*\r\n";
  }
  for (const auto& [name, value] : request.headers) {
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  const bool has_body = request.body && !request.body->empty();
  if (has_body || request.method == "POST") {
    head += "Content-Length: ";
    head += std::to_string(has_body ? request.body->size() : 0);
    head += "\r\n";
  }
  head += "\r\n";
  return head;
}

// Return why the handshake on `ssl` failed, and empty the thread's OpenSSL error queue (an error
// left there would make SSL_get_error() fail the next connection's read).
std::string handshake_error(SSL* ssl) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return std::string("SSL certificate problem: ") + X509_verify_cert_error_string(verify);
  }
  const char* reason = code ? ERR_reason_error_string(code) : nullptr;
  return std::string("TLS handshake failed: ") +
         (reason ? reason : "the provider closed the connection");
}

} // namespace

Http1Exchange::Http1Exchange(ProviderPool& pool, UpstreamTransfer& transfer, ProviderTarget target)
    : m_pool(pool), m_transfer(transfer), m_target(std::move(target)) {
  const UpstreamTransfer::Request& request = m_transfer.m_request;
  m_key = ProviderPool::key(m_target, request.trust, request.tls_verify);
  if (m_target.tls) {
    m_tls_context = m_pool.tls_context(request.trust, request.tls_verify);
  }
}

Http1Exchange::~Http1Exchange() {
  drop_connection();
}

void Http1Exchange::drop_connection() {
  if (m_connection) {
    m_pool.close(m_connection);
    m_connection = nullptr;
  }
}

void Http1Exchange::start() {
  m_head = request_head(m_transfer.m_request, m_target);
  const auto& body = m_transfer.m_request.body;
  if (body && !body->empty() && body->size() <= k_small_body) {
    m_head += *body;
  }
  if (ProviderConnection* idle = m_pool.take(m_key, this)) {
    begin_on(idle);
    return;
  }
  find_address();
}

void Http1Exchange::find_address() {
  m_phase = Phase::resolving;
  if (std::optional<Resolution> known = Resolver::instance().known(m_target.host, m_target.port)) {
    resolved(std::move(*known));
    return;
  }
  EventLoop& loop = m_pool.loop();
  std::weak_ptr<bool> alive = m_alive;
  std::shared_ptr<EventLoop::Mailbox> mailbox = loop.mailbox();
  Resolver::instance().lookup(
      m_target.host, m_target.port, [this, alive, mailbox](Resolution resolution) {
        mailbox->post([this, alive, resolution = std::move(resolution)]() mutable {
          if (alive.lock()) {
            resolved(std::move(resolution));
          }
        });
      });
}

void Http1Exchange::resolved(Resolution resolution) {
  if (resolution.addresses.empty()) {
    fail(UpstreamTransfer::Outcome::unreachable, resolution.error);
    return;
  }
  m_addresses = std::move(resolution.addresses);
  m_next_address = 0;
  connect_next();
}

void Http1Exchange::connect_next() {
  while (m_next_address < m_addresses.size()) {
    ProviderConnection* connection = m_pool.open(m_key, m_addresses[m_next_address++], this);
    if (connection) {
      m_connection = connection;
      m_phase = Phase::connecting;
      return; // the loop reports the socket writable (connected) or in error
    }
    m_connect_error = std::strerror(errno);
  }
  fail(UpstreamTransfer::Outcome::unreachable,
       "Failed to connect to " + m_target.host_header + ": " + m_connect_error);
}

void Http1Exchange::begin_on(ProviderConnection* connection) {
  m_connection = connection;
  m_send_error.clear();
  m_parser = std::make_unique<ResponseParser>(m_transfer.m_request.method == "HEAD");
  m_sent = 0;
  m_phase = Phase::sending;
  send();
}

void Http1Exchange::on_events(uint32_t events) {
  switch (m_phase) {
  case Phase::connecting: {
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(m_connection->fd(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error == 0 && !(events & EPOLLERR) && (events & EPOLLOUT)) {
      connected();
    } else if (error != 0 || (events & (EPOLLERR | EPOLLHUP))) {
      m_connect_error = std::strerror(error ? error : ECONNREFUSED);
      drop_connection();
      connect_next();
    }
    return;
  }
  case Phase::handshake:
    handshake();
    return;
  case Phase::sending:
    send();
    if (m_phase == Phase::sending && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
      receive(); // an answer before the whole request (a 413): read it, do not wait to write
    }
    return;
  case Phase::receiving:
    if (m_paused) {
      return; // (read on resume: the bytes wait in the socket)
    }
    receive();
    return;
  case Phase::resolving:
  case Phase::finished:
    return;
  }
}

void Http1Exchange::connected() {
  if (!m_target.tls) {
    begin_on(m_connection);
    return;
  }
  SSL* ssl = m_tls_context ? SSL_new(static_cast<SSL_CTX*>(m_tls_context)) : nullptr;
  if (!ssl) {
    fail(UpstreamTransfer::Outcome::tls, "TLS: cannot make a connection (out of memory)");
    return;
  }
  m_connection->set_ssl(ssl);
  SSL_set_fd(ssl, m_connection->fd());
  SSL_set_connect_state(ssl);
  const bool address = Resolver::is_address(m_target.host);
  if (!address) {
    SSL_set_tlsext_host_name(ssl, m_target.host.c_str());
  }
  if (m_transfer.m_request.tls_verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (address) {
      X509_VERIFY_PARAM_set1_ip_asc(param, m_target.host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, m_target.host.c_str(), 0);
    }
  }
  m_phase = Phase::handshake;
  handshake();
}

void Http1Exchange::handshake() {
  SSL* ssl = static_cast<SSL*>(m_connection->ssl());
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl);
  if (result == 1) {
    begin_on(m_connection);
    return;
  }
  const int error = SSL_get_error(ssl, result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    return;
  }
  fail(UpstreamTransfer::Outcome::tls, handshake_error(ssl));
}

void Http1Exchange::send() {
  const auto& body = m_transfer.m_request.body;
  const bool body_apart = body && body->size() > k_small_body;
  const size_t total = m_head.size() + (body_apart ? body->size() : 0);
  while (m_sent < total) {
    size_t put = 0;
    ProviderConnection::Io io;
    if (m_sent < m_head.size() && body_apart && !m_connection->ssl()) {
      // Head and body in one system call.
      iovec parts[2] = {{m_head.data() + m_sent, m_head.size() - m_sent},
                        {const_cast<char*>(body->data()), body->size()}};
      msghdr message{};
      message.msg_iov = parts;
      message.msg_iovlen = 2;
      const ssize_t n = ::sendmsg(m_connection->fd(), &message, MSG_NOSIGNAL);
      if (n >= 0) {
        put = static_cast<size_t>(n);
        io = ProviderConnection::Io::done;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        io = ProviderConnection::Io::again;
      } else {
        io = ProviderConnection::Io::closed;
      }
    } else if (m_sent < m_head.size()) {
      io = m_connection->write(m_head.data() + m_sent, m_head.size() - m_sent, put);
    } else {
      const size_t at = m_sent - m_head.size();
      io = m_connection->write(body->data() + at, body->size() - at, put);
    }
    if (io == ProviderConnection::Io::again) {
      return; // writable later
    }
    if (io != ProviderConnection::Io::done) {
      // The provider may have answered before it stopped reading (a 413): read what it said.
      m_send_error = m_connection->error().empty() ? "Send failure" : m_connection->error();
      m_phase = Phase::receiving;
      receive();
      return;
    }
    m_sent += put;
  }
  m_phase = Phase::receiving;
  // (an answer already there raised its edge while the request went; read it now)
  receive();
}

void Http1Exchange::receive() {
  std::string& buffer = m_transfer.m_buffer;
  char* data = read_buffer();
  bool got_any = false;
  for (;;) {
    if (buffer.size() >= UpstreamTransfer::k_max_buffered) {
      m_paused = true;
      m_transfer.m_paused = true;
      break;
    }
    size_t got = 0;
    const ProviderConnection::Io io = m_connection->read(data, k_read_size, got);
    if (io == ProviderConnection::Io::again && !m_send_error.empty() && !got_any &&
        m_parser->nothing_received()) {
      ended_early(m_send_error); // the request did not go, and no answer came
      return;
    }
    if (io == ProviderConnection::Io::again) {
      break;
    }
    if (io == ProviderConnection::Io::failed) {
      if (m_parser->nothing_received()) {
        ended_early(m_connection->error());
      } else {
        fail(UpstreamTransfer::Outcome::failed, m_connection->error());
      }
      return;
    }
    if (io == ProviderConnection::Io::closed) {
      if (m_parser->nothing_received()) {
        ended_early("Empty reply from the provider (it closed the connection)");
        return;
      }
      m_parser->feed_eof();
      if (m_parser->state() == ResponseParser::State::done) {
        drop_connection();
        finish_ok();
      } else {
        fail(UpstreamTransfer::Outcome::failed, m_parser->head_done()
                                                    ? "the provider ended the answer early"
                                                    : "the provider closed the connection "
                                                      "before its answer was whole");
      }
      return;
    }
    got_any = true;
    const bool had_head = m_parser->head_done();
    const size_t used = m_parser->feed(std::string_view(data, got), buffer);
    if (!had_head && m_parser->head_done()) {
      m_transfer.m_status = m_parser->status();
      m_transfer.m_headers = m_parser->headers();
      m_transfer.m_headers_done = true;
    }
    if (m_parser->state() == ResponseParser::State::failed) {
      fail(UpstreamTransfer::Outcome::failed, "Bad answer from the provider: " + m_parser->error());
      return;
    }
    if (m_parser->state() == ResponseParser::State::done) {
      // Bytes beyond the answer, or bytes waiting in OpenSSL: not a connection to use again.
      // So is one whose request did not go whole (the provider answered early).
      if (used == got && !m_connection->pending() && m_parser->keep_alive() &&
          m_phase == Phase::receiving && m_send_error.empty()) {
        ProviderConnection* connection = m_connection;
        m_connection = nullptr;
        m_pool.give_back(connection);
      } else {
        drop_connection();
      }
      finish_ok();
      return;
    }
  }
  if (got_any) {
    m_transfer.m_loop.notify(m_transfer.m_owner);
  }
}

void Http1Exchange::resume() {
  if (!m_paused) {
    return;
  }
  m_paused = false;
  m_transfer.m_paused = false;
  if (m_phase == Phase::receiving) {
    receive();
  }
}

void Http1Exchange::ended_early(std::string error) {
  if (m_connection && m_connection->reused && !m_retried) {
    // The provider closed an idle connection as the request went out: send it on a new one.
    m_retried = true;
    drop_connection();
    find_address();
    return;
  }
  fail(UpstreamTransfer::Outcome::failed, std::move(error));
}

void Http1Exchange::finish_ok() {
  m_phase = Phase::finished;
  m_transfer.m_done = true;
  m_transfer.m_result = 0;
  m_transfer.m_loop.notify(m_transfer.m_owner);
}

void Http1Exchange::fail(UpstreamTransfer::Outcome outcome, std::string error) {
  drop_connection();
  m_phase = Phase::finished;
  m_transfer.m_done = true;
  m_transfer.m_result = -1;
  m_transfer.m_outcome = outcome;
  m_transfer.m_error = std::move(error);
  m_transfer.m_loop.notify(m_transfer.m_owner);
}

} // namespace agproxy
