#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace agproxy {

// One address to connect to.
struct SocketAddress {
  sockaddr_storage address{};
  socklen_t length = 0;
};

// What a host name resolved to: the addresses in the order to try them, or why there are none.
struct Resolution {
  std::vector<SocketAddress> addresses;
  std::string error;
};

// Host names to addresses away from the event loops: getaddrinfo runs on a thread of its own,
// and answers are kept for a minute (as libcurl's DNS cache did), so a provider's name costs one
// lookup a minute, not one per connection. An IP address needs no lookup at all.
class Resolver {
public:
  using Done = std::function<void(Resolution)>;

  // Return whether `host` is an IPv4 or IPv6 address (without brackets), not a name.
  static bool is_address(const std::string& host);
  // Return the process's resolver.
  static Resolver& instance();

  // Return the addresses of `host` (a name, or an IPv4 or IPv6 address without brackets) at
  // `port` when they are known without a lookup (an address, or a name looked up in the last
  // minute); nothing otherwise.
  std::optional<Resolution> known(const std::string& host, uint16_t port);
  // Look `host` up on the resolver's thread and call `done` there with what it resolved to.
  void lookup(const std::string& host, uint16_t port, Done done);

private:
  Resolver() = default;
  struct Job {
    std::string host;
    uint16_t port;
    Done done;
  };
  void run();
};

} // namespace agproxy
