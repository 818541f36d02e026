#pragma once

#include "server/auth/auth.hpp"
#include "server/http/event_loop.hpp"
#include "server/http/http_request.hpp"
#include "server/upstream/forward.hpp"

#include <chrono>
#include <functional>
#include <httplib.h>
#include <memory>
#include <optional>
#include <string>

namespace agproxy {

// One request and its answer, as the gateway's handler and its log line see them.
struct Exchange {
  httplib::Request request;
  httplib::Response response;
  std::chrono::steady_clock::time_point start{};
  // Which key header the auth decision read (for the log).
  std::optional<KeyHeader> key_header;
  // The upstream that answered (for the log).
  std::string upstream;
};

// What a connection asks of the gateway.
class ExchangeHandler {
public:
  virtual ~ExchangeHandler() = default;
  // Decide from the request's line and headers alone whether its body may be read: return true,
  // or false with `exchange.response` holding the refusal (a foreign origin or host, a denied
  // key, the brute-force guard), which is sent without reading the body.
  virtual bool admit(Exchange& exchange) = 0;
  // Answer `exchange.request` in `exchange.response`, or return the forward that will (through
  // `channel`, notified as handler `id` of `loop`).
  virtual std::unique_ptr<Forward> handle(Exchange& exchange, EventLoop& loop, EventLoop::Id id,
                                          ResponseChannel& channel) = 0;
  // Write the log line of an answered exchange.
  virtual void log(const Exchange& exchange) = 0;
};

// How long a connection may take over what, and how much it may send.
struct ConnectionLimits {
  size_t max_body = 32u << 20;
  // For a request's line and headers, from their first byte.
  std::chrono::milliseconds header_timeout{10'000};
  // Between a response and the next request.
  std::chrono::milliseconds idle_timeout{5'000};
  // Without a byte of a request's body arriving.
  std::chrono::milliseconds read_timeout{15'000};
  // For a whole request body, from the end of its headers.
  std::chrono::milliseconds body_timeout{300'000};
  // The average rate a body must keep up (bytes per second) once it has taken k_body_rate_grace.
  size_t body_min_rate = 1024;
  // Without the client taking a byte of what is sent to it.
  std::chrono::milliseconds write_timeout{30'000};
};

// One client connection of an event loop: reads requests (HTTP/1.1, keep-alive, pipelined; bodies
// with a length or chunked), hands each to the gateway, and writes the answer, whole or streamed.
// Refuses what it cannot read safely with a 4xx and a close: a head over 64 KiB or late, a body
// framed ambiguously, over the limit, late or too slow. Asks the gateway to admit a request when
// its headers are complete, before its body is read; stops reading requests while a client leaves
// its answers unread.
class Connection final : public EventLoop::Handler, public ResponseChannel {
public:
  using Clock = std::chrono::steady_clock;

  // How long a body may go below ConnectionLimits::body_min_rate before the rate counts.
  static constexpr std::chrono::seconds k_body_rate_grace{5};

  // Serve the client on `sock`; `on_close` runs when the connection is gone (it frees its slot).
  Connection(EventLoop& loop, EventLoop::Id id, int sock, std::string remote_ip, int remote_port,
             ExchangeHandler& handler, const ConnectionLimits& limits,
             std::function<void()> on_close = {});
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void on_events(uint32_t events) override;
  void on_notify() override;
  void on_tick(Clock::time_point now) override;
  void on_stop() override;

  void respond() override;
  void begin_stream() override;
  bool send_chunk(std::string_view data) override;
  void end_stream() override;
  size_t unsent() const override { return m_out.size() - m_out_sent; }

private:
  // After an error answer: how much to read and drop before closing, and for how long.
  static constexpr size_t k_linger_bytes = 4 << 20;
  static constexpr std::chrono::milliseconds k_linger{500};

  enum class State {
    idle,      // waiting for a request's first byte
    head,      // reading a request's line and headers
    body,      // reading its body
    handling,  // the gateway is answering it
    answered,  // the answer is written (maybe not yet sent)
    skipping,  // dropping the body of a request refused on its headers
    closing,   // sending a last answer, then closing
    lingering, // answered and shut for writing: reading and dropping, briefly
  };

  // Read what the socket has (until EAGAIN, or while the state does not take input).
  void read_input();
  // Move on as far as the input and the state allow.
  void drive();
  // Parse what is buffered for the current state; return false when more input is needed.
  bool parse_head();
  bool parse_body();
  bool parse_chunks();
  // Drop the input that was parsed, keeping the buffer small.
  void compact_input();
  // Return whether the client has so much unsent output that no further request is read.
  bool output_backlogged() const;
  // After refusing a request whose body was announced: linger long enough to read and drop it.
  void discard_after_refusal();
  // The request is complete: hand it to the gateway.
  void dispatch();
  // The answer is written: log it, then wait for the next request or close.
  void finish_exchange();
  // Answer with our error `status` for a request we could not read, and close after it.
  void refuse(int status, const std::string& message = {});
  // Write the response's status line and headers, with a body of `length` bytes or chunked.
  void write_head(std::optional<size_t> length);
  // Send what is buffered; close on a failed send.
  void flush();
  void close();

  EventLoop& m_loop;
  EventLoop::Id m_id;
  int m_sock;
  std::string m_remote_ip;
  int m_remote_port;
  ExchangeHandler& m_handler;
  const ConnectionLimits& m_limits;

  State m_state = State::idle;
  bool m_closed = false;
  bool m_eof = false;       // the client sent its FIN, and it was read
  bool m_peer_shut = false; // epoll saw the FIN (or more) arrive
  bool m_stopping = false;  // the gateway is stopping: no more requests
  bool m_keep_alive = true; // the current request allows another after it
  bool m_head_request = false;
  bool m_chunked_out = false;
  bool m_linger = false;       // an error answer: linger before closing
  bool m_input_paused = false; // input is left unread while the client does not read its answers

  std::string m_in;
  size_t m_in_begin = 0;
  size_t m_scan = 0; // where to resume looking for the end of the head
  std::string m_out;
  size_t m_out_sent = 0;
  bool m_out_pending = false; // bytes wait for room in the socket

  // The request's body as it is read.
  size_t m_body_left = 0;                   // bytes of a Content-Length body still to come
  std::optional<ChunkedDecoder> m_chunks;   // a chunked body's decoder
  size_t m_lingered = 0;                    // bytes read and dropped while lingering
  size_t m_linger_bytes = k_linger_bytes;   // how many may be, before closing
  Clock::duration m_linger_time = k_linger; // and for how long
  bool m_skip_body = false;                 // the refused request's body is to be skipped
  bool m_body_too_large = false;
  Clock::time_point m_body_start{}; // the end of the headers
  uint64_t m_body_bytes = 0;        // body bytes read, as sent

  Clock::time_point m_deadline{}; // for the current state
  Clock::time_point m_last_sent{};

  std::unique_ptr<Exchange> m_exchange;
  std::unique_ptr<Forward> m_forward;
  std::function<void()> m_on_close;
};

} // namespace agproxy
