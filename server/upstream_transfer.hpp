#pragma once

#include <chrono>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace agproxy {

// One request to a provider over libcurl, driven step by step by the worker thread that serves the
// client: start() returns once the status and headers are in, read() then hands over the body as
// it arrives. Connections are reused per worker thread. Destroying it cancels the transfer.
class UpstreamTransfer {
public:
  using Clock = std::chrono::steady_clock;

  struct Request {
    std::string method;
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
  };

  enum class Outcome { headers, unreachable, timeout, failed };

  UpstreamTransfer();
  ~UpstreamTransfer();
  UpstreamTransfer(const UpstreamTransfer&) = delete;
  UpstreamTransfer& operator=(const UpstreamTransfer&) = delete;

  // Send `request` and wait until the response headers are in or `deadline` passes.
  Outcome start(const Request& request, Clock::time_point deadline);
  // Return the response status (after Outcome::headers).
  int status() const { return m_status; }
  // Return the response headers, names as the provider sent them.
  const std::vector<std::pair<std::string, std::string>>& headers() const { return m_headers; }
  // Return the value of header `name` (case-insensitive), or "".
  std::string header(const std::string& name) const;
  // Return what went wrong, for logs and error bodies.
  const std::string& error() const { return m_error; }

  // Move body bytes received so far into `out`, waiting up to `wait` for some when none are
  // buffered. Returns false once the body is complete and drained, or the transfer failed.
  bool read(std::string& out, std::chrono::milliseconds wait);
  // Return whether the transfer ended with an error (a reset or a stall mid-body).
  bool failed() const { return m_done && m_result != 0; }
  // Read the rest of the body into `out`; return false when it did not complete by `deadline` or
  // grew past `limit` bytes (reading stops just past it).
  bool read_all(std::string& out, Clock::time_point deadline,
                size_t limit = std::numeric_limits<size_t>::max());

private:
  static size_t on_header(char* data, size_t size, size_t count, void* self);
  static size_t on_body(char* data, size_t size, size_t count, void* self);
  void drive(std::chrono::milliseconds wait);

  void* m_easy = nullptr;
  void* m_headers_list = nullptr;
  std::string m_body;
  int m_status = 0;
  bool m_headers_done = false;
  std::vector<std::pair<std::string, std::string>> m_headers;
  std::string m_buffer;
  bool m_paused = false;
  bool m_done = false;
  int m_result = 0;
  std::string m_error;
};

} // namespace agproxy
