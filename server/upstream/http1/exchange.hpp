#pragma once

#include "server/upstream/http1/provider_pool.hpp"
#include "server/upstream/http1/response_parser.hpp"
#include "server/upstream/upstream_transfer.hpp"

#include <memory>
#include <string>

namespace agproxy {

// One request to a provider over the loop's own HTTP/1.1 client, for an UpstreamTransfer: it
// finds the provider's address, takes an idle connection or makes one (TCP, then TLS), writes
// the request, and reads the answer into the transfer, pausing when the client has not taken 1
// MiB of it. A connection whose answer was read to its end goes back to the pool. Destroying the
// exchange closes a connection still in use.
class Http1Exchange {
public:
  Http1Exchange(ProviderPool& pool, UpstreamTransfer& transfer, ProviderTarget target);
  ~Http1Exchange();
  Http1Exchange(const Http1Exchange&) = delete;
  Http1Exchange& operator=(const Http1Exchange&) = delete;

  // Send the transfer's request.
  void start();
  // The connection's socket has `events`.
  void on_events(uint32_t events);
  // The transfer's buffer was taken: read on if reading had paused.
  void resume();

private:
  enum class Phase { resolving, connecting, handshake, sending, receiving, finished };

  // Find the provider's addresses (at once when known, else from the resolver's thread) and
  // connect.
  void find_address();
  void resolved(Resolution resolution);
  void connect_next();
  void connected();
  void handshake();
  void send();
  void receive();
  void begin_on(ProviderConnection* connection);
  // End the exchange: the answer complete (ok), or the failure `error` of kind `outcome`.
  void finish_ok();
  void fail(UpstreamTransfer::Outcome outcome, std::string error);
  // The connection ended before any byte of the answer: send again on a new connection if it had
  // served a request before (the provider closed it while idle), else fail.
  void ended_early(std::string error);
  void drop_connection();

  ProviderPool& m_pool;
  UpstreamTransfer& m_transfer;
  ProviderTarget m_target;
  std::string m_key;
  void* m_tls_context = nullptr;
  Phase m_phase = Phase::resolving;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true); // gone with the exchange
  std::vector<SocketAddress> m_addresses;
  size_t m_next_address = 0;
  std::string m_connect_error;
  ProviderConnection* m_connection = nullptr;
  std::string m_head;
  size_t m_sent = 0;        // bytes of head + body written
  std::string m_send_error; // why the request could not be written whole
  std::unique_ptr<ResponseParser> m_parser;
  bool m_retried = false;
  bool m_paused = false;
};

} // namespace agproxy
