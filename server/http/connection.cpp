#include "server/http/connection.hpp"

#include "server/http/http_request.hpp"
#include "server/protocols/protocol.hpp"
#include "server/protocols/respond.hpp"
#include "server/text.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace agproxy {

namespace {

// A request's line and headers together; a request line.
constexpr size_t k_max_head = 64 << 10;
constexpr size_t k_max_line = 8 << 10;
// After refusing a body the client announced (413, or a denial from its headers): its bytes are
// read and dropped, up to this many and for this long, so that a client that writes its whole body
// before reading sees the answer rather than a reset (as nginx does).
constexpr size_t k_max_discarded_body = 256u << 20;
constexpr auto k_discard_time = std::chrono::seconds(30);
// A denied request's body up to this size is read and dropped on a connection kept alive.
constexpr size_t k_max_skipped_body = 1 << 20;
// Input and output buffers larger than this are freed once empty.
constexpr size_t k_kept_buffer = 256 << 10;
// Read at most this much per wake-up, so one fast sender cannot hold the loop.
constexpr size_t k_read_quantum = 256 << 10;
// Room reserved past a body's announced length: a model name model_map puts in its place.
constexpr size_t k_body_room = 1 << 10;
// Past this much unsent output, no further request is read from the connection: a client that
// pipelines requests without reading the answers cannot make them pile up.
constexpr size_t k_max_unsent_answers = 64 << 10;

const char* reason_phrase(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 206:
    return "Partial Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 413:
    return "Payload Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 422:
    return "Unprocessable Content";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 529:
    return "Site Overloaded";
  default:
    return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

bool status_has_body(int status) {
  return status >= 200 && status != 204 && status != 304;
}

std::string too_large_message(size_t max_body) {
  return "agproxy: the request body is larger than the proxy accepts (" +
         std::to_string(max_body >> 20) + " MiB)";
}

// Return what is wrong with how `request`'s headers frame the body, as a status and message, or
// nothing: a Content-Length that is not one number, several that differ, one above `max_body`; a
// Transfer-Encoding other than chunked, one next to a Content-Length (request smuggling), one on
// HTTP/1.0 (which has none: RFC 9112 §6.1).
std::optional<std::pair<int, std::string>> framing_problem(const httplib::Request& request,
                                                           size_t max_body) {
  const auto bad = [](std::string message) {
    return std::make_pair(400, "agproxy: " + message);
  };
  const httplib::Headers& headers = request.headers;
  const auto [te_begin, te_end] = headers.equal_range("Transfer-Encoding");
  const auto [cl_begin, cl_end] = headers.equal_range("Content-Length");
  if (te_begin != te_end) {
    if (request.version == "HTTP/1.0") {
      return bad("Transfer-Encoding is not defined for HTTP/1.0; send a Content-Length");
    }
    if (cl_begin != cl_end) {
      return bad("the request has both Transfer-Encoding and Content-Length; send one");
    }
    if (std::next(te_begin) != te_end || !iequals(te_begin->second, "chunked")) {
      return bad("Transfer-Encoding other than chunked is not supported");
    }
    return std::nullopt;
  }
  for (auto it = cl_begin; it != cl_end; ++it) {
    const std::string& value = it->second;
    if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
      return bad("Content-Length must be a number of bytes");
    }
    if (value != cl_begin->second) {
      return bad("the request has several Content-Length headers that differ");
    }
  }
  if (cl_begin != cl_end && (cl_begin->second.size() > 15 ||
                             std::strtoull(cl_begin->second.c_str(), nullptr, 10) > max_body)) {
    return std::make_pair(413, too_large_message(max_body));
  }
  return std::nullopt;
}

} // namespace

Connection::Connection(EventLoop& loop, EventLoop::Id id, int sock, std::string remote_ip,
                       int remote_port, ExchangeHandler& handler, const ConnectionLimits& limits,
                       std::function<void()> on_close)
    : m_loop(loop), m_id(id), m_sock(sock), m_remote_ip(std::move(remote_ip)),
      m_remote_port(remote_port), m_handler(handler), m_limits(limits),
      m_deadline(Clock::now() + limits.idle_timeout), m_last_sent(Clock::now()),
      m_on_close(std::move(on_close)) {}

Connection::~Connection() {
  m_forward.reset(); // before the exchange it writes into
  if (m_exchange && m_exchange->response.status != -1) {
    m_handler.log(*m_exchange); // answered in part when the client left
  }
  ::close(m_sock);
  if (m_on_close) {
    m_on_close();
  }
}

void Connection::close() {
  if (!m_closed) {
    m_closed = true;
    m_loop.remove(m_id); // destroyed once the current callback has returned
  }
}

void Connection::on_events(uint32_t events) {
  if (m_closed) {
    return;
  }
  if ((events & EPOLLERR) || ((events & EPOLLHUP) && m_state == State::handling)) {
    close(); // gone for good (a half-close is EPOLLRDHUP alone): the forward is cancelled
    return;
  }
  if (events & EPOLLOUT) {
    flush();
    if (m_forward && m_state == State::handling) {
      on_notify(); // room for what the provider sent meanwhile
      return;
    }
  }
  if (events & (EPOLLRDHUP | EPOLLHUP)) {
    m_peer_shut = true;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) || m_input_paused) {
    read_input(); // (input left waiting is read once the answers are taken)
  }
  drive();
}

void Connection::on_notify() {
  if (m_closed) {
    return;
  }
  if (m_forward && m_state == State::handling) {
    if (!m_forward->progress(Clock::now()) || m_closed) {
      return;
    }
  }
  if (m_state == State::answered) {
    finish_exchange();
  }
  read_input();
  drive();
}

void Connection::on_tick(Clock::time_point now) {
  if (m_closed) {
    return;
  }
  if (unsent() > 0 && now - m_last_sent > m_limits.write_timeout) {
    close(); // the client takes nothing
    return;
  }
  switch (m_state) {
  case State::idle:
    if (now >= m_deadline && unsent() == 0) {
      close();
    }
    break;
  case State::head:
    if (now >= m_deadline) {
      // A request line still incomplete is no request to answer; headers trickled are.
      if (m_in.find('\n', m_in_begin) == std::string::npos) {
        close();
      } else {
        refuse(400, "agproxy: the request's headers did not arrive in time");
      }
    }
    break;
  case State::body: {
    const auto taken = now - m_body_start;
    const double seconds = std::chrono::duration<double>(taken).count();
    if (now >= m_deadline || taken >= m_limits.body_timeout) {
      refuse(408, "agproxy: the request's body did not arrive in time (proxy.body_timeout)");
    } else if (taken >= k_body_rate_grace &&
               static_cast<double>(m_body_bytes) <
                   seconds * static_cast<double>(m_limits.body_min_rate)) {
      refuse(408, "agproxy: the request's body arrives too slowly (proxy.body_min_rate)");
    }
    break;
  }
  case State::handling:
    if (m_forward) {
      on_notify(); // the forward's own deadlines, and the heartbeat
    }
    break;
  case State::skipping:
  case State::lingering:
    if (now >= m_deadline) {
      close();
    }
    break;
  case State::answered:
  case State::closing:
    break;
  }
}

void Connection::on_stop() {
  m_stopping = true;
  if ((m_state == State::idle || m_state == State::head) && unsent() == 0) {
    close();
  }
}

void Connection::read_input() {
  const bool takes_input = m_state == State::idle || m_state == State::head ||
                           m_state == State::body || m_state == State::skipping ||
                           m_state == State::lingering;
  if (m_closed || m_eof || !takes_input) {
    return; // (edge-triggered: what waits is read when the state takes input again)
  }
  m_input_paused = (m_state == State::idle || m_state == State::head) && output_backlogged();
  if (m_input_paused) {
    return;
  }
  // One buffer per thread: growing m_in first would zero-fill it on every read.
  thread_local char buffer[64 << 10];
  size_t taken = 0;
  while (taken < k_read_quantum) {
    const ssize_t n = ::recv(m_sock, buffer, sizeof buffer, 0);
    if (n > 0) {
      taken += static_cast<size_t>(n);
      if (m_state != State::lingering) {
        m_in.append(buffer, static_cast<size_t>(n));
      } else if ((m_lingered += static_cast<size_t>(n)) > m_linger_bytes) {
        close();
        return;
      }
      if (static_cast<size_t>(n) < sizeof buffer && !m_peer_shut) {
        // A short read drained the socket (what arrives later raises a new edge): no recv()
        // just to hear EAGAIN. Once the client has shut its side, read on to see the end.
        return;
      }
      continue;
    }
    if (n == 0) {
      m_eof = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      close();
    }
    return;
  }
  m_loop.notify(m_id); // more may wait: read it on the next round
}

void Connection::drive() {
  while (!m_closed) {
    switch (m_state) {
    case State::idle:
    case State::head:
      if (m_stopping && m_state == State::idle && unsent() == 0) {
        close(); // the last answer is out
        return;
      }
      if (output_backlogged()) {
        return; // the next request when the client has taken its answers
      }
      if (!parse_head()) {
        if (m_closed || m_state == State::closing) {
          continue;
        }
        if (m_eof) {
          if (m_in_begin == m_in.size() && m_state == State::idle) {
            close(); // the client is done
          } else {
            refuse(400, "agproxy: the connection ended inside the request's headers");
          }
          continue;
        }
        return;
      }
      continue;
    case State::body:
      if (!parse_body()) {
        if (m_closed || m_state == State::closing) {
          continue;
        }
        if (m_eof) {
          refuse(400, "agproxy: the connection ended inside the request's body");
          continue;
        }
        return;
      }
      dispatch();
      continue;
    case State::handling:
      return;
    case State::skipping: {
      const size_t take = std::min(m_body_left, m_in.size() - m_in_begin);
      m_in_begin += take;
      m_body_left -= take;
      compact_input();
      if (m_body_left == 0) {
        m_state = State::idle;
        m_deadline = Clock::now() + m_limits.idle_timeout;
        continue;
      }
      if (m_eof) {
        close();
      }
      return;
    }
    case State::answered:
      finish_exchange();
      continue;
    case State::closing:
      if (unsent() > 0) {
        return;
      }
      if (m_linger) {
        // An error answer: read and drop what the client still sends for a short while, so
        // that the close does not reset the connection before the client reads the answer.
        ::shutdown(m_sock, SHUT_WR);
        m_state = State::lingering;
        m_deadline = Clock::now() + m_linger_time;
        m_lingered = 0;
        m_in.clear();
        m_in_begin = 0;
        read_input();
        continue;
      }
      close();
      return;
    case State::lingering:
      if (m_eof) {
        close();
      }
      return;
    }
    return;
  }
}

bool Connection::parse_head() {
  if (m_in_begin == m_in.size()) {
    return false;
  }
  if (m_state == State::idle) {
    m_state = State::head;
    m_deadline = Clock::now() + m_limits.header_timeout;
    m_scan = m_in_begin;
  }
  // The head ends at the first empty line (an empty request line ends it too, and is refused).
  size_t end = std::string::npos;
  size_t line_start = m_scan;
  while (true) {
    const size_t newline = m_in.find('\n', line_start);
    if (newline == std::string::npos) {
      break;
    }
    const size_t length = newline - line_start;
    if (length == 0 || (length == 1 && m_in[line_start] == '\r')) {
      end = newline + 1;
      break;
    }
    line_start = newline + 1;
  }
  if (end == std::string::npos) {
    m_scan = line_start; // resume at the incomplete line
    const size_t first_line = m_in.find('\n', m_in_begin);
    const size_t read = m_in.size() - m_in_begin;
    if (first_line == std::string::npos && read > k_max_line) {
      refuse(414, "agproxy: the request line is longer than 8 KiB");
    } else if (read > k_max_head) {
      refuse(431, "agproxy: the request's headers are larger than 64 KiB");
    }
    return false;
  }
  m_exchange = std::make_unique<Exchange>();
  httplib::Request& request = m_exchange->request;
  const int status =
      parse_request_head(std::string_view(m_in).substr(m_in_begin, end - m_in_begin), request);
  m_in_begin = end;
  if (status != 0) {
    refuse(status, status == 414   ? "agproxy: the request line is longer than 8 KiB"
                   : status == 431 ? "agproxy: the request has too many or too long headers"
                                   : "agproxy: the HTTP request is malformed");
    return false;
  }
  const std::string connection = request.get_header_value("Connection");
  m_keep_alive = request.version == "HTTP/1.1" ? !list_has_token(connection, "close")
                                               : list_has_token(connection, "keep-alive");
  m_head_request = request.method == "HEAD";
  request.remote_addr = m_remote_ip;
  request.remote_port = m_remote_port;
  if (const auto problem = framing_problem(request, m_limits.max_body)) {
    // The body is not read, so what follows on the connection is not a request. An announced
    // body too large is read and dropped after the 413, for clients that write before reading.
    if (problem->first == 413) {
      discard_after_refusal();
    }
    refuse(problem->first, problem->second);
    return false;
  }
  m_chunks.reset();
  m_body_left = 0;
  if (request.has_header("Transfer-Encoding")) { // chunked: framing_problem() allows no other
    m_chunks.emplace(m_limits.max_body);
  } else {
    m_body_left = std::strtoull(request.get_header_value("Content-Length").c_str(), nullptr, 10);
  }
  m_body_too_large = false;
  const bool has_body = m_chunks || m_body_left > 0;
  m_exchange->start = Clock::now();
  if (!m_handler.admit(*m_exchange)) {
    // Refused on its headers: answered at once, the body neither read into memory nor invited
    // with 100 Continue. A small body that comes anyway is skipped and the connection goes on;
    // after any other, it closes.
    const bool expects = iequals(request.get_header_value("Expect"), "100-continue");
    if (has_body && (m_chunks || expects || m_body_left > k_max_skipped_body)) {
      m_keep_alive = false;
      m_linger = true;
      discard_after_refusal();
    }
    m_skip_body = has_body && m_keep_alive;
    m_state = State::handling;
    respond();
    return true;
  }
  if (has_body && m_in_begin == m_in.size() &&
      iequals(request.get_header_value("Expect"), "100-continue")) {
    m_out += "HTTP/1.1 100 Continue\r\n\r\n";
    flush();
  }
  if (m_body_left > 0) {
    // Admitted: the announced length is taken at once (untouched pages cost no memory), so the
    // body is not copied while it grows, nor when model_map rewrites its model in place.
    request.body.reserve(m_body_left + k_body_room);
  }
  m_state = State::body;
  m_body_start = Clock::now();
  m_body_bytes = 0;
  m_deadline = m_body_start + m_limits.read_timeout;
  return true;
}

bool Connection::parse_body() {
  if (m_chunks) {
    return parse_chunks();
  }
  const size_t take = std::min(m_body_left, m_in.size() - m_in_begin);
  if (take > 0) {
    m_exchange->request.body.append(m_in, m_in_begin, take);
    m_in_begin += take;
    m_body_left -= take;
    m_body_bytes += take;
    m_deadline = Clock::now() + m_limits.read_timeout;
    compact_input();
  }
  return m_body_left == 0;
}

bool Connection::parse_chunks() {
  size_t consumed = 0;
  const ChunkedDecoder::Status status =
      m_chunks->feed(std::string_view(m_in).substr(m_in_begin), m_exchange->request.body, consumed);
  m_in_begin += consumed;
  if (consumed > 0) {
    m_body_bytes += consumed;
    m_deadline = Clock::now() + m_limits.read_timeout;
    compact_input();
  }
  if (status == ChunkedDecoder::Status::malformed) {
    refuse(400, "agproxy: the request body's chunked coding is malformed");
    return false;
  }
  if (status == ChunkedDecoder::Status::done) {
    m_body_too_large = m_chunks->too_large();
    return true;
  }
  // Past twice the limit as sent, reading stops.
  if (m_chunks->raw_bytes() > 2 * uint64_t{m_limits.max_body} + (64 << 10)) {
    refuse(413, too_large_message(m_limits.max_body));
  }
  return false;
}

void Connection::compact_input() {
  if (m_in_begin == m_in.size()) {
    if (m_in.capacity() > k_kept_buffer) {
      std::string().swap(m_in);
    }
    m_in.clear();
    m_in_begin = 0;
  } else if (m_in_begin > (64 << 10)) {
    m_in.erase(0, m_in_begin);
    m_in_begin = 0;
  }
}

bool Connection::output_backlogged() const {
  return unsent() > k_max_unsent_answers;
}

void Connection::dispatch() {
  compact_input();
  Exchange& exchange = *m_exchange;
  exchange.start = Clock::now();
  m_state = State::handling;
  if (m_body_too_large) {
    // Read whole (the sender framed it well), then refused: the connection can go on.
    send_error(exchange.response, route_protocol(exchange.request.path),
               ErrorKind::payload_too_large, "request_too_large",
               too_large_message(m_limits.max_body));
    m_body_too_large = false;
    respond();
    return;
  }
  m_forward = m_handler.handle(exchange, m_loop, m_id, *this);
  if (m_state == State::answered || m_closed) {
    m_forward.reset(); // it answered at once
  } else if (!m_forward) {
    respond();
  }
}

void Connection::finish_exchange() {
  m_forward.reset();
  if (m_exchange) {
    m_handler.log(*m_exchange);
    m_exchange.reset();
  }
  if (!m_keep_alive || m_stopping || (m_eof && m_in_begin == m_in.size())) {
    m_state = State::closing;
    return;
  }
  if (m_skip_body) {
    m_skip_body = false;
    m_state = State::skipping; // a denied request's body, before the next request
    m_deadline = Clock::now() + m_limits.read_timeout;
    return;
  }
  m_state = State::idle;
  m_deadline = Clock::now() + m_limits.idle_timeout;
}

void Connection::discard_after_refusal() {
  const std::string length = m_exchange->request.get_header_value("Content-Length");
  const uint64_t announced =
      length.empty() || length.size() > 15 ? k_max_discarded_body : std::stoull(length);
  m_linger_bytes = static_cast<size_t>(std::min<uint64_t>(announced, k_max_discarded_body));
  m_linger_time = k_discard_time;
}

void Connection::refuse(int status, const std::string& message) {
  if (!m_exchange) {
    m_exchange = std::make_unique<Exchange>();
  }
  Exchange& exchange = *m_exchange;
  exchange.start = Clock::now();
  exchange.request.remote_addr = m_remote_ip;
  exchange.response = httplib::Response();
  const ErrorKind kind = error_kind_for_status(status);
  send_error(exchange.response, route_protocol(exchange.request.path), kind,
             status == 413 ? "request_too_large" : "bad_request", message);
  exchange.response.status = status;
  m_keep_alive = false;
  m_linger = true;
  m_head_request = false;
  m_state = State::handling;
  respond();
  m_handler.log(exchange);
  m_forward.reset(); // before the exchange it reads and writes into
  m_exchange.reset();
  m_state = State::closing;
}

void Connection::write_head(std::optional<size_t> length) {
  httplib::Response& response = m_exchange->response;
  if (response.status == -1) {
    response.status = 200; // httplib's "not set"
  }
  m_out += "HTTP/1.1 ";
  m_out += std::to_string(response.status);
  m_out += ' ';
  m_out += reason_phrase(response.status);
  m_out += "\r\n";
  for (const auto& [name, value] : response.headers) {
    if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
        iequals(name, "Connection")) {
      continue;
    }
    m_out += name;
    m_out += ": ";
    m_out += value;
    m_out += "\r\n";
  }
  m_chunked_out = false;
  if (status_has_body(response.status)) {
    if (length) {
      m_out += "Content-Length: ";
      m_out += std::to_string(*length);
      m_out += "\r\n";
    } else if (m_exchange->request.version == "HTTP/1.0") {
      m_keep_alive = false; // the body ends with the connection
    } else {
      m_chunked_out = true;
      m_out += "Transfer-Encoding: chunked\r\n";
    }
  }
  if (!m_keep_alive || m_stopping) {
    m_out += "Connection: close\r\n";
  }
  m_out += "\r\n";
}

void Connection::respond() {
  httplib::Response& response = m_exchange->response;
  if (response.content_provider_ && response.is_chunked_content_provider_) {
    // A body made piece by piece (the echo model's stream): all at once, as chunks.
    begin_stream();
    bool done = false;
    httplib::DataSink sink;
    sink.write = [this](const char* data, size_t size) {
      return send_chunk(std::string_view(data, size));
    };
    sink.done = [&done] {
      done = true;
    };
    sink.is_writable = [this] {
      return !m_closed;
    };
    for (size_t offset = 0; !done && !m_closed;) {
      if (!response.content_provider_(offset, 0, sink)) {
        break;
      }
      ++offset;
    }
    end_stream();
    return;
  }
  write_head(response.body.size());
  if (!m_head_request && status_has_body(response.status)) {
    m_out += response.body;
  }
  m_state = State::answered;
  flush();
}

void Connection::begin_stream() {
  write_head(std::nullopt);
  flush();
}

bool Connection::send_chunk(std::string_view data) {
  if (m_closed) {
    return false;
  }
  if (data.empty() || m_head_request || !status_has_body(m_exchange->response.status)) {
    return true;
  }
  if (m_chunked_out) {
    char size[24];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    m_out.append(size, static_cast<size_t>(n));
    m_out += data;
    m_out += "\r\n";
  } else {
    m_out += data;
  }
  flush();
  return !m_closed;
}

void Connection::end_stream() {
  if (m_chunked_out && !m_head_request) {
    m_out += "0\r\n\r\n";
  }
  m_state = State::answered;
  flush();
}

void Connection::flush() {
  if (!m_out_pending) {
    m_last_sent = Clock::now(); // the write timeout counts from when bytes began to wait
  }
  m_out_pending = true;
  while (!m_closed && m_out_sent < m_out.size()) {
    const ssize_t n =
        ::send(m_sock, m_out.data() + m_out_sent, m_out.size() - m_out_sent, MSG_NOSIGNAL);
    if (n > 0) {
      m_out_sent += static_cast<size_t>(n);
      m_last_sent = Clock::now();
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return; // the rest when the socket has room (EPOLLOUT)
    } else {
      close(); // the client is gone
      return;
    }
  }
  if (m_out_sent == m_out.size()) {
    m_out_pending = false;
  }
  if (m_out_sent == m_out.size() && !m_out.empty()) {
    if (m_state == State::idle) {
      m_deadline = Clock::now() + m_limits.idle_timeout; // idle from the end of the answer
    }
    if (m_out.capacity() > k_kept_buffer) {
      std::string().swap(m_out); // a large answer's buffer is not kept for the connection's life
    }
    m_out.clear();
    m_out_sent = 0;
  }
}

} // namespace agproxy
