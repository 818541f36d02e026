#pragma once

#include <chrono>
#include <httplib.h>
#include <optional>
#include <string>

namespace agproxy {

// One client connection as httplib's request parser and response writer see it, in place of
// httplib's own socket stream. What it adds:
// - a deadline for a request's line and headers, so a client trickling them (slowloris) holds a
//   worker for a bounded time, not for as long as each byte comes within the read timeout;
// - fewer system calls per request: a read is a recv() (poll() only when nothing is waiting), and a
//   response's header block goes out in one send() with its body (the first write of a response
//   is held until the next write, the end of the response, or a read).
class ConnectionStream final : public httplib::Stream {
public:
  using Clock = std::chrono::steady_clock;

  // Take over `sock` (made non-blocking; closed by the caller) with these per-operation timeouts.
  ConnectionStream(int sock, std::chrono::milliseconds read_timeout,
                   std::chrono::milliseconds write_timeout);

  bool is_readable() const override;
  // Sends what is held: httplib asks before each chunk of a streamed response.
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  int socket() const override { return m_sock; }

  // Wait until a request starts arriving, for at most `idle`; `stop_fd` readable ends the wait.
  // Return whether there is something to read.
  bool wait_for_request(std::chrono::milliseconds idle, int stop_fd) const;
  // Start reading a request whose line and headers must arrive within `limit`.
  void start_request(std::chrono::milliseconds limit);
  // The headers are in: the rest of the request is only subject to the read timeout.
  void headers_complete() { m_headers_deadline.reset(); }
  // End the connection once the current response is sent.
  void close_after_response() { m_close = true; }
  // Return whether close_after_response() was called.
  bool close_requested() const { return m_close; }
  // Send what is held. Return false when the client is gone or too slow.
  bool flush() const;

private:
  // Wait for `events` on the socket until the read/write timeout or the headers deadline.
  bool wait(short events, std::chrono::milliseconds timeout) const;

  int m_sock;
  std::chrono::milliseconds m_read_timeout;
  std::chrono::milliseconds m_write_timeout;
  std::optional<Clock::time_point> m_headers_deadline;
  char m_buffer[4096];
  size_t m_begin = 0, m_end = 0;
  mutable std::string m_held;
  mutable bool m_broken = false;
  bool m_hold_next = false;
  bool m_close = false;
};

} // namespace agproxy
