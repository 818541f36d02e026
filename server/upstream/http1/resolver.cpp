#include "server/upstream/http1/resolver.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <thread>
#include <unordered_map>

namespace agproxy {

namespace {

using Clock = std::chrono::steady_clock;

// How long an answer is used before the name is looked up again.
constexpr std::chrono::seconds k_keep{60};

struct Cached {
  std::vector<SocketAddress> addresses;
  Clock::time_point until;
};

struct State {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void()>> jobs;
  std::unordered_map<std::string, Cached> cache; // by name (port-less: the port is set per use)
  // Names being looked up, with who waits for them: a burst of requests to a name not yet known
  // costs one lookup.
  std::unordered_map<std::string, std::vector<std::pair<uint16_t, Resolver::Done>>> waiting;
  bool running = false;
};

State& state() {
  static State* s = new State; // never destroyed: the resolver thread may outlive main()
  return *s;
}

void set_port(SocketAddress& address, uint16_t port) {
  if (address.address.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in&>(address.address).sin_port = htons(port);
  } else if (address.address.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6&>(address.address).sin6_port = htons(port);
  }
}

std::optional<SocketAddress> literal(const std::string& host) {
  SocketAddress out;
  auto& v4 = reinterpret_cast<sockaddr_in&>(out.address);
  if (inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    out.length = sizeof(sockaddr_in);
    return out;
  }
  auto& v6 = reinterpret_cast<sockaddr_in6&>(out.address);
  if (inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    out.length = sizeof(sockaddr_in6);
    return out;
  }
  return std::nullopt;
}

Resolution with_port(std::vector<SocketAddress> addresses, uint16_t port) {
  for (SocketAddress& address : addresses) {
    set_port(address, port);
  }
  return Resolution{std::move(addresses), ""};
}

} // namespace

bool Resolver::is_address(const std::string& host) {
  return literal(host).has_value();
}

Resolver& Resolver::instance() {
  static Resolver resolver;
  return resolver;
}

std::optional<Resolution> Resolver::known(const std::string& host, uint16_t port) {
  if (std::optional<SocketAddress> address = literal(host)) {
    return with_port({*address}, port);
  }
  State& s = state();
  std::lock_guard lock(s.mutex);
  const auto it = s.cache.find(host);
  if (it == s.cache.end() || Clock::now() >= it->second.until) {
    return std::nullopt;
  }
  return with_port(it->second.addresses, port);
}

void Resolver::lookup(const std::string& host, uint16_t port, Done done) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  auto& queue = s.waiting[host];
  queue.emplace_back(port, std::move(done));
  if (queue.size() > 1) {
    return; // (already asked)
  }
  s.jobs.push_back([host] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* found = nullptr;
    const int error = getaddrinfo(host.c_str(), nullptr, &hints, &found);
    std::vector<SocketAddress> addresses;
    std::string why;
    if (error != 0) {
      why = "Could not resolve host: " + host + " (" + gai_strerror(error) + ")";
    } else {
      for (const addrinfo* entry = found; entry; entry = entry->ai_next) {
        if (entry->ai_addrlen <= sizeof(sockaddr_storage)) {
          SocketAddress address;
          std::memcpy(&address.address, entry->ai_addr, entry->ai_addrlen);
          address.length = entry->ai_addrlen;
          addresses.push_back(address);
        }
      }
      freeaddrinfo(found);
      if (addresses.empty()) {
        why = "Could not resolve host: " + host + " (no address)";
      }
    }
    std::vector<std::pair<uint16_t, Done>> waiters;
    {
      State& shared = state();
      std::lock_guard cache_lock(shared.mutex);
      if (!addresses.empty()) {
        shared.cache[host] = Cached{addresses, Clock::now() + k_keep};
      }
      waiters = std::move(shared.waiting[host]);
      shared.waiting.erase(host);
    }
    for (auto& [wanted_port, waiter] : waiters) {
      waiter(addresses.empty() ? Resolution{{}, why} : with_port(addresses, wanted_port));
    }
  });
  if (!s.running) {
    s.running = true;
    std::thread([this] { run(); }).detach();
  }
  s.wake.notify_one();
}

void Resolver::run() {
  State& s = state();
  std::unique_lock lock(s.mutex);
  for (;;) {
    s.wake.wait(lock, [&] { return !s.jobs.empty(); });
    std::function<void()> job = std::move(s.jobs.front());
    s.jobs.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
}

} // namespace agproxy
