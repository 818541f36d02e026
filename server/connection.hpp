#pragma once

#include <chrono>
#include <httplib.h>
#include <optional>
#include <string>

namespace agproxy {

// One client connection as httplib's request parser and response writer see it, in place of
// httplib's own socket stream. What it adds:
// - a deadline and a size limit (64 KiB) for a request's line and headers, so a client trickling
//   them (slowloris) holds a worker for a bounded time, not for as long as each byte comes within
//   the read timeout, and cannot send headers without end;
// - fewer system calls per request: the addresses are looked up once per connection, a read is a
//   recv() (poll() only when nothing is waiting), and a response's header block goes out in one
//   send() with its body (the first write of a response is held until the next write, the end of
//   the response, or a read).
class ConnectionStream final : public httplib::Stream {
public:
  using Clock = std::chrono::steady_clock;

  // Take over `sock` (made non-blocking; closed by the caller) with these per-operation timeouts,
  // for requests whose bodies may decode to at most `max_body` bytes.
  ConnectionStream(int sock, std::chrono::milliseconds read_timeout,
                   std::chrono::milliseconds write_timeout, size_t max_body);

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
  // The headers are in: the body that follows is subject to the read timeout and to a limit on
  // its bytes as sent (twice the largest body, for chunk framing; httplib 0.11.4 checks no limit
  // on a chunked body).
  void headers_complete();
  // Return whether the current request's body went past its limit (and was not read).
  bool body_too_large() const { return m_body_too_large; }
  // End the connection once the current response is sent.
  void close_after_response() { m_close = true; }
  // Return whether close_after_response() was called.
  bool close_requested() const { return m_close; }
  // Before closing on an error answer: stop sending, then read and drop what the client still
  // sends for a short while, so that the close does not reset the connection (a reset can
  // destroy the answer before the client reads it).
  void linger();
  // Send what is held. Return false when the client is gone or too slow.
  bool flush() const;

private:
  // Charge `n` bytes read to the body's limit; return -1 once it is past it, else `n`.
  ssize_t count_body(ssize_t n);
  // Wait for `events` on the socket until the read/write timeout or the headers deadline.
  bool wait(short events, std::chrono::milliseconds timeout) const;

  // An address and port, looked up on the first request and kept for the connection's life
  // (httplib asks for both on every request: two system calls each time).
  struct Endpoint {
    std::string ip;
    int port = 0;
  };

  int m_sock;
  mutable Endpoint m_remote, m_local;
  std::chrono::milliseconds m_read_timeout;
  std::chrono::milliseconds m_write_timeout;
  std::optional<Clock::time_point> m_headers_deadline;
  size_t m_header_bytes_left = 0;
  size_t m_body_limit;
  size_t m_body_bytes_left = 0;
  bool m_body_too_large = false;
  char m_buffer[4096];
  size_t m_begin = 0, m_end = 0;
  mutable std::string m_held;
  mutable bool m_broken = false;
  bool m_hold_next = false;
  bool m_close = false;
};

} // namespace agproxy
