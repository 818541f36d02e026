#include "server/connection.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

namespace agproxy {

namespace {

// The most a request line and its headers may take together (nginx allows 4 × 8 KiB).
constexpr size_t k_max_header_bytes = 64 << 10;

// How long, and how much, linger() reads and drops before closing.
constexpr auto k_linger = std::chrono::milliseconds(500);
constexpr size_t k_linger_bytes = 4 << 20;

// Held response bytes are sent once this many wait.
constexpr size_t k_hold_limit = 64 << 10;

using SocketName = int (*)(int, sockaddr*, socklen_t*);

void address_of(int sock, SocketName name_of, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  ip.clear();
  port = 0;
  if (name_of(sock, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    port = ntohs(v4.sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    port = ntohs(v6.sin6_port);
  }
  ip = text;
}

} // namespace

ConnectionStream::ConnectionStream(int sock, std::chrono::milliseconds read_timeout,
                                   std::chrono::milliseconds write_timeout, size_t max_body)
    : m_sock(sock), m_read_timeout(read_timeout), m_write_timeout(write_timeout),
      m_body_limit(2 * max_body + (64 << 10)) {
  fcntl(m_sock, F_SETFL, fcntl(m_sock, F_GETFL) | O_NONBLOCK);
  int yes = 1;
  setsockopt(m_sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
}

bool ConnectionStream::wait(short events, std::chrono::milliseconds timeout) const {
  for (;;) {
    auto limit = timeout;
    if (m_headers_deadline && (events & POLLIN)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*m_headers_deadline - Clock::now());
      limit = std::min(limit, std::max(left, std::chrono::milliseconds(0)));
    }
    pollfd p{m_sock, events, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(limit.count()));
    if (ready > 0) {
      return true;
    }
    if (ready == 0 || errno != EINTR) {
      return false;
    }
  }
}

bool ConnectionStream::wait_for_request(std::chrono::milliseconds idle, int stop_fd) const {
  if (m_begin < m_end) {
    return true; // a pipelined request is already here
  }
  pollfd p[2] = {{m_sock, POLLIN, 0}, {stop_fd, POLLIN, 0}};
  for (;;) {
    const int ready = ::poll(p, 2, static_cast<int>(idle.count()));
    if (ready > 0) {
      return p[1].revents == 0 && p[0].revents != 0;
    }
    if (ready == 0 || errno != EINTR) {
      return false;
    }
  }
}

void ConnectionStream::start_request(std::chrono::milliseconds limit) {
  m_headers_deadline = Clock::now() + limit;
  m_header_bytes_left = k_max_header_bytes;
  m_hold_next = true;
}

void ConnectionStream::headers_complete() {
  m_headers_deadline.reset();
  m_body_bytes_left = m_body_limit;
  m_body_too_large = false;
}

ssize_t ConnectionStream::count_body(ssize_t n) {
  if (n > 0 && !m_headers_deadline) {
    if (static_cast<size_t>(n) > m_body_bytes_left) {
      m_body_too_large = true;
      return -1;
    }
    m_body_bytes_left -= static_cast<size_t>(n);
  }
  return n;
}

bool ConnectionStream::is_readable() const {
  return m_begin < m_end || wait(POLLIN, m_read_timeout);
}

bool ConnectionStream::is_writable() const {
  return flush(); // a full socket buffer is waited for there, up to the write timeout
}

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (m_begin < m_end) {
    size_t n = std::min(size, m_end - m_begin);
    if (m_headers_deadline) {
      // Too many or too long headers: the parser then answers 400 and the connection ends.
      if (m_header_bytes_left == 0) {
        return -1;
      }
      n = std::min(n, m_header_bytes_left);
      m_header_bytes_left -= n;
    } else if (count_body(static_cast<ssize_t>(n)) < 0) {
      return -1;
    }
    std::memcpy(ptr, m_buffer + m_begin, n);
    m_begin += n;
    return static_cast<ssize_t>(n);
  }
  // Whatever answer is held must be out before waiting for more of the client (100-continue).
  if (!flush()) {
    return -1;
  }
  for (;;) {
    if (m_headers_deadline && Clock::now() >= *m_headers_deadline) {
      return -1;
    }
    // Large reads (bodies) go straight to the caller; small ones (the parser reads a byte at a
    // time) through the buffer.
    const bool direct = size >= sizeof m_buffer;
    const ssize_t n = ::recv(m_sock, direct ? ptr : m_buffer, direct ? size : sizeof m_buffer, 0);
    if (n > 0) {
      if (direct) {
        return count_body(n);
      }
      m_begin = 0;
      m_end = static_cast<size_t>(n);
      return read(ptr, size);
    }
    if (n == 0) {
      return 0;
    }
    if (errno == EINTR) {
      continue;
    }
    if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait(POLLIN, m_read_timeout)) {
      return -1;
    }
  }
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  if (m_broken) {
    return -1;
  }
  m_held.append(ptr, size);
  // Only a response's first write (httplib writes the status line and headers at once) is held,
  // to go out with the body; every later one, such as a stream's event, leaves at once.
  const bool hold = m_hold_next && m_held.size() < k_hold_limit;
  m_hold_next = false;
  if (!hold && !flush()) {
    return -1;
  }
  return static_cast<ssize_t>(size);
}

bool ConnectionStream::flush() const {
  size_t sent = 0;
  while (!m_broken && sent < m_held.size()) {
    const ssize_t n = ::send(m_sock, m_held.data() + sent, m_held.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      m_broken = !wait(POLLOUT, m_write_timeout);
    } else {
      m_broken = true;
    }
  }
  m_held.clear();
  return !m_broken;
}

void ConnectionStream::linger() {
  if (!flush()) {
    return;
  }
  ::shutdown(m_sock, SHUT_WR);
  const auto until = Clock::now() + k_linger;
  size_t dropped = 0;
  while (dropped < k_linger_bytes) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    pollfd p{m_sock, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return;
    }
    const ssize_t n = ::recv(m_sock, m_buffer, sizeof m_buffer, 0);
    if (n <= 0) {
      return;
    }
    dropped += static_cast<size_t>(n);
  }
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  if (m_remote.ip.empty()) {
    address_of(m_sock, ::getpeername, m_remote.ip, m_remote.port);
  }
  ip = m_remote.ip;
  port = m_remote.port;
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  if (m_local.ip.empty()) {
    address_of(m_sock, ::getsockname, m_local.ip, m_local.port);
  }
  ip = m_local.ip;
  port = m_local.port;
}

} // namespace agproxy
