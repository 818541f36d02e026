#pragma once

#include "server/upstream/http1/resolver.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace agproxy {

class EventLoop;
class Http1Exchange;
class TrustStore;

// Where a provider request goes, read from its URL.
struct ProviderTarget {
  bool tls = false;
  std::string host; // a name, or an IP address without brackets
  uint16_t port = 0;
  std::string host_header; // the Host header's value: host, [v6], and a port other than the default
  std::string path;        // the request target: path and query
};

// Return the target of `url` (http:// or https://, no user name or password in it), or nothing
// when the URL is one the loop's own client does not take (libcurl does then).
std::optional<ProviderTarget> provider_target(const std::string& url);

// One connection to a provider, plain or TLS, of one event loop.
class ProviderConnection {
public:
  // What one read or write did.
  enum class Io { done, again, closed, failed };

  ProviderConnection(uint64_t id, int fd, std::string key);
  ~ProviderConnection();
  ProviderConnection(const ProviderConnection&) = delete;
  ProviderConnection& operator=(const ProviderConnection&) = delete;

  // Read up to `size` bytes into `data`; `got` tells how many (Io::done only).
  Io read(char* data, size_t size, size_t& got);
  // Write up to `size` bytes of `data`; `put` tells how many (Io::done only).
  Io write(const char* data, size_t size, size_t& put);
  // Return whether bytes read from the socket wait inside OpenSSL.
  bool pending() const;
  // Return what the last Io::failed was, for a log line.
  const std::string& error() const { return m_error; }

  uint64_t id() const { return m_id; }
  int fd() const { return m_fd; }
  const std::string& key() const { return m_key; }
  void* ssl() const { return m_ssl; }
  void set_ssl(void* ssl) { m_ssl = ssl; }

  // The exchange that uses the connection (null while it is idle).
  Http1Exchange* user = nullptr;
  // Whether it has carried a request before (a failure before any answer byte may then be the
  // provider closing an idle connection, and the request goes again on a new one).
  bool reused = false;
  // When it was last given back to the pool.
  std::chrono::steady_clock::time_point idle_since{};

private:
  // Return what SSL_read's or SSL_write's `result` means; a failure's text starts with `what`.
  Io tls_outcome(int result, const char* what);

  uint64_t m_id;
  int m_fd;
  std::string m_key;
  void* m_ssl = nullptr; // SSL*
  std::string m_error;
};

// The provider connections of one event loop and the TLS settings they are made with: a
// connection that finished its answer waits here for the next request to the same provider
// (same scheme, host, port and certificate checks), and an idle connection the provider closes is
// closed at once.
class ProviderPool {
public:
  explicit ProviderPool(EventLoop& loop);
  ~ProviderPool();
  ProviderPool(const ProviderPool&) = delete;
  ProviderPool& operator=(const ProviderPool&) = delete;

  // Return the key of connections to `target` checked with `trust` and `verify`.
  static std::string key(const ProviderTarget& target, const TrustStore* trust, bool verify);
  // Take an idle connection for `key` for `user`, or return null.
  ProviderConnection* take(const std::string& key, Http1Exchange* user);
  // Open a socket to `address` for `user` (connect in progress: the loop reports when it is
  // writable); null when no socket could be made (errno tells why).
  ProviderConnection* open(const std::string& key, const SocketAddress& address,
                           Http1Exchange* user);
  // Return a TLS client context verifying with `trust` (or nothing when `verify` is false).
  void* tls_context(const TrustStore* trust, bool verify);
  // Take `connection` back for the next request, its answer read to the end.
  void give_back(ProviderConnection* connection);
  // Close and forget `connection`.
  void close(ProviderConnection* connection);

  // Called by the loop: connection `id`'s socket has `events`.
  void on_events(uint64_t id, uint32_t events);
  // Return the loop the pool belongs to.
  EventLoop& loop() { return m_loop; }

private:
  // Close the idle connections kept too long.
  void sweep(std::chrono::steady_clock::time_point now);

  EventLoop& m_loop;
  uint64_t m_next_id = 1;
  std::chrono::steady_clock::time_point m_next_sweep{};
  std::unordered_map<uint64_t, std::unique_ptr<ProviderConnection>> m_connections;
  std::unordered_map<std::string, std::vector<ProviderConnection*>> m_idle;
  size_t m_idle_count = 0;
  std::map<std::pair<uint64_t, bool>, void*> m_contexts; // (trust serial, verify) -> SSL_CTX*
};

} // namespace agproxy
