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

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

} // namespace

RawProvider::RawProvider(std::string answer) : m_answer(std::move(answer)) {
  m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(m_listen, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(m_listen, 16) == 0);
  ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&address), &length);
  m_port = ntohs(address.sin_port);
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
  std::string in;
  const auto deadline = Clock::now() + 2s;
  while (!m_stop && Clock::now() < deadline) {
    const size_t end = in.find("\r\n\r\n");
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

} // namespace agproxy::test
