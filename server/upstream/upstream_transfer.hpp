#pragma once

#include "server/http/event_loop.hpp"
#include "server/upstream/tls.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace agproxy {

class Http1Exchange;

// One request to a provider, driven by an EventLoop: start() hands it to the loop and returns at
// once; as the status, headers and body arrive, the loop notifies the owner (a handler id), which
// reads what is there. Provider connections are reused per loop. A request that goes straight to
// its provider (no proxy) goes over the loop's own HTTP/1.1 client (server/upstream/http1/);
// one through a proxy over libcurl, which speaks to HTTP and SOCKS proxies. Destroying it cancels
// the transfer.
class UpstreamTransfer {
public:
  using Clock = std::chrono::steady_clock;

  // Pause the provider beyond this many buffered bytes, until the owner has taken them.
  static constexpr size_t k_max_buffered = 1u << 20;

  struct Request {
    std::string method;
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    // Shared by the attempts of one request (on the next key), so that a body of up to 32 MiB is
    // never copied; null for none.
    std::shared_ptr<const std::string> body;
    // What TLS connections verify against (must outlive the transfer); nothing and tls_verify
    // false: no check at all.
    const TrustStore* trust = nullptr;
    bool tls_verify = true;
    // The proxy to go through ("": none, whatever the environment says).
    std::string proxy;
  };

  // How a transfer that ended before its headers failed.
  enum class Outcome { unreachable, tls, timeout, failed };

  UpstreamTransfer(EventLoop& loop, EventLoop::Id owner);
  ~UpstreamTransfer();
  UpstreamTransfer(const UpstreamTransfer&) = delete;
  UpstreamTransfer& operator=(const UpstreamTransfer&) = delete;

  // Send `request`; connecting may take until `deadline`.
  void start(Request request, Clock::time_point deadline);
  // Return whether the status and headers are in.
  bool headers_done() const { return m_headers_done; }
  // Return whether the transfer ended (completely, or with an error).
  bool done() const { return m_done; }
  // Return how a transfer that ended without headers failed.
  Outcome outcome() const;
  // Return the response status (once headers_done()).
  int status() const { return m_status; }
  // Return the response headers, names as the provider sent them.
  const std::vector<std::pair<std::string, std::string>>& headers() const { return m_headers; }
  // Return the value of header `name` (case-insensitive), or "".
  std::string header(const std::string& name) const;
  // Return what went wrong, for logs and error bodies.
  const std::string& error() const { return m_error; }
  // Return whether the transfer ended with an error (a reset or a stall mid-body).
  bool failed() const { return m_done && m_result != 0; }

  // Return the body bytes received and not yet taken.
  size_t buffered() const { return m_buffer.size(); }
  // Append the body bytes received so far to `out`; a transfer paused for a full buffer resumes.
  void take(std::string& out);
  // Return whether the body is complete and taken, or the transfer failed.
  bool drained() const { return m_done && m_buffer.empty(); }

  // Called by the loop when libcurl reports the transfer done with `result` (a CURLcode).
  void finish(int result);

private:
  friend class Http1Exchange;
  void start_curl(Clock::time_point deadline);

  static size_t on_header(char* data, size_t size, size_t count, void* self);
  static size_t on_body(char* data, size_t size, size_t count, void* self);

  EventLoop& m_loop;
  EventLoop::Id m_owner;
  void* m_easy = nullptr;
  void* m_headers_list = nullptr;
  Request m_request;
  int m_status = 0;
  bool m_headers_done = false;
  std::vector<std::pair<std::string, std::string>> m_headers;
  std::string m_buffer;
  bool m_paused = false;
  bool m_done = false;
  int m_result = 0;
  std::optional<Outcome> m_outcome; // set by the own client; libcurl's from m_result
  std::string m_error;
  std::unique_ptr<Http1Exchange> m_exchange;
};

} // namespace agproxy
