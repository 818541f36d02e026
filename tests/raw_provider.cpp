#include "tests/raw_provider.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace agproxy::test {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Read one request from `fd` within 2 s (or until `stop`): its head, then (with `body`) a body of
// its Content-Length or up to the last chunk.
std::string read_one(int fd, const std::atomic<bool>& stop, bool body, std::string& extra);

// Return a socket listening on an ephemeral port of 127.0.0.1, and set `port` to that port.
int listen_loopback(int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(fd, 64) == 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return fd;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

} // namespace

RawProvider::RawProvider(std::string answer) : m_answer(std::move(answer)) {
  m_listen = listen_loopback(m_port);
  m_thread = std::thread([this] { serve(); });
}

RawProvider::~RawProvider() {
  m_stop = true;
  m_thread.join();
  ::close(m_listen);
}

std::vector<std::string> RawProvider::requests() const {
  std::lock_guard lock(m_mutex);
  return m_requests;
}

void RawProvider::serve() {
  while (!m_stop) {
    pollfd p{m_listen, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      continue;
    }
    const int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    const std::string request = read_request(fd);
    {
      std::lock_guard lock(m_mutex);
      m_requests.push_back(request);
    }
    (void)!::send(fd, m_answer.data(), m_answer.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }
}

std::string RawProvider::read_request(int fd) const {
  std::string extra;
  return read_one(fd, m_stop, true, extra);
}

namespace {

std::string read_one(int fd, const std::atomic<bool>& stop, bool body, std::string& extra) {
  std::string in = std::move(extra);
  extra.clear();
  const auto deadline = Clock::now() + 2s;
  while (!stop && Clock::now() < deadline) {
    const size_t end = in.find("\r\n\r\n");
    if (end != std::string::npos && !body) {
      break;
    }
    if (end != std::string::npos) {
      const std::string head = lower(in.substr(0, end));
      const size_t length = head.find("\ncontent-length:");
      if (length != std::string::npos) {
        if (in.size() >= end + 4 + std::strtoul(head.c_str() + length + 16, nullptr, 10)) {
          break;
        }
      } else if (head.find("\ntransfer-encoding:") != std::string::npos) {
        if (in.find("\r\n0\r\n\r\n", end) != std::string::npos ||
            in.compare(end + 4, std::string::npos, "0\r\n\r\n") == 0) {
          break;
        }
      } else {
        break;
      }
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) {
      continue;
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      break;
    }
    in.append(buffer, static_cast<size_t>(n));
  }
  return in;
}

} // namespace

ScriptedProvider::ScriptedProvider(Script script) : m_script(std::move(script)) {
  m_listen = listen_loopback(m_port);
  m_acceptor = std::thread([this] {
    while (!m_stop) {
      pollfd p{m_listen, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) {
        continue;
      }
      const int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        const int connection = ++m_connections;
        m_threads.emplace_back([this, fd, connection] { serve(fd, connection); });
      }
    }
  });
}

ScriptedProvider::~ScriptedProvider() {
  m_stop = true;
  m_acceptor.join();
  for (std::thread& thread : m_threads) {
    thread.join();
  }
  ::close(m_listen);
}

std::vector<ScriptedProvider::Request> ScriptedProvider::requests() const {
  std::lock_guard lock(m_mutex);
  return m_requests;
}

void ScriptedProvider::serve(int fd, int connection) {
  std::string extra;
  for (int number = 1; !m_stop; ++number) {
    // Wait for the next request (a kept connection may idle for long).
    while (!m_stop && extra.empty()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) {
        break;
      }
    }
    if (m_stop) {
      break;
    }
    char probe;
    if (extra.empty() && ::recv(fd, &probe, 1, MSG_PEEK) <= 0) {
      break; // the client closed it
    }
    Request request{connection, number, read_one(fd, m_stop, false, extra)};
    Reply reply = m_script(request);
    if (reply.read_body) {
      // The head again with its body: read_one stops at the head only without `body`.
      std::string rest = request.text;
      request.text = read_one(fd, m_stop, true, rest);
    }
    {
      std::lock_guard lock(m_mutex);
      m_requests.push_back(request);
    }
    if (!reply.bytes.empty()) {
      (void)!::send(fd, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL);
    }
    if (reply.close) {
      break;
    }
  }
  // A lingering close, as servers do: unread bytes at close() would reset the connection and
  // could destroy the answer before the client has read it.
  ::shutdown(fd, SHUT_WR);
  const auto until = Clock::now() + 2s;
  char sink[65536];
  while (!m_stop && Clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0 && ::recv(fd, sink, sizeof sink, 0) <= 0) {
      break;
    }
  }
  ::close(fd);
}

} // namespace agproxy::test
