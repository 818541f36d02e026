#pragma once

#include "server/gateway.hpp"
#include "server/http/event_loop.hpp"
#include "server/log.hpp"
#include "server/protocols/protocol.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace httplib {
struct Request;
struct Response;
} // namespace httplib

namespace agproxy {

// The built-in model that echoes the last user message, in every protocol's shape.
inline constexpr const char* k_echo_model = "agproxy-echo";

// Where a forwarded answer goes: the client connection, which owns the response being built.
class ResponseChannel {
public:
  virtual ~ResponseChannel() = default;
  // Send the response whole (status, headers, body); the exchange ends.
  virtual void respond() = 0;
  // Send the response's status and headers; its body follows in send_chunk() calls.
  virtual void begin_stream() = 0;
  // Send `data` as part of the body. Return false when the client is gone.
  virtual bool send_chunk(std::string_view data) = 0;
  // End the streamed body; the exchange ends.
  virtual void end_stream() = 0;
  // Return how many bytes the client's socket has not taken yet.
  virtual size_t unsent() const = 0;
};

// Where a forward reports what it saw: the counters of /metrics and the events of /agproxy/events.
struct Observers {
  Metrics& metrics;
  EventRing& events;
};

// A request on its way to a provider and back, driven by the client connection's event loop.
class Forward {
public:
  using Clock = std::chrono::steady_clock;
  virtual ~Forward() = default;
  // Look at what the provider sent and pass it on; called when the transfer or the client moved,
  // and on every tick. Return true once the answer is complete.
  virtual bool progress(Clock::time_point now) = 0;
};

// Answer an authenticated request for a provider route: choose the upstream by protocol and model,
// rewrite the model, swap the client's credentials for a provider key (rotating past rate-limited
// ones), and stream the answer back; the request's body is moved into the outgoing request.
// Errors come in the route's protocol shape (a body that is not JSON, or a Gemini model segment
// that is not a model name, is a 400). Sets `upstream` to the upstream's name for the request
// log. Returns nothing when `response` is already the answer (an error, the echo model);
// otherwise the forward in flight, which answers through `channel` into `response`, and whose
// transfers notify handler `owner` of `loop`; `request` must outlive it. Provider limits, refused
// keys and failed attempts are counted and recorded in `observers`.
std::unique_ptr<Forward> forward_request(httplib::Request& request, httplib::Response& response,
                                         std::shared_ptr<const RuntimeConfig> config,
                                         Protocol protocol, Logger& logger, Observers observers,
                                         std::string& upstream, EventLoop& loop,
                                         EventLoop::Id owner, ResponseChannel& channel);

} // namespace agproxy
