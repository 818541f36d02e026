#pragma once

// One API family's reader and writer around the shared representation (ir.hpp). Translating a
// request from family A to upstream family B: A.read_request, then B.write_request; the answer:
// B.read_answer, then A.write_answer; a stream: B.stream_reader() feeding A.stream_writer().

#include "server/protocols/ir.hpp"
#include "server/protocols/protocol.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agproxy {

// Turns the bytes of a provider's streamed reply into events. Any cut of the input into feed()
// calls yields the same events.
class StreamReader {
public:
  virtual ~StreamReader() = default;
  // Consume the next bytes; append the events they complete to `out`.
  virtual void feed(std::string_view bytes, std::vector<ir::Event>& out) = 0;
  // The stream ended: append what is still pending to `out` (a finish event if the provider sent
  // none but the stream carried content).
  virtual void finish(std::vector<ir::Event>& out) = 0;
};

// Turns events into the bytes of a client family's streamed reply.
class StreamWriter {
public:
  virtual ~StreamWriter() = default;
  // Append the bytes for `event` to `out` (possibly none, possibly several of the family's events).
  virtual void write(const ir::Event& event, std::string& out) = 0;
  // The stream ends: append what closes it (open parts, the final event, a terminator such as
  // "data: [DONE]") to `out`; what a finish event already closed is not repeated.
  virtual void finish(std::string& out) = 0;
};

// A request in a family's wire format: the path (with query) to send it to, and its body.
struct WireRequest {
  std::string path;
  std::string body;
};

// Where a request was sent, for readers of families that keep part of it in the path (Gemini: the
// model and whether the reply is streamed).
struct RequestSite {
  std::string model;
  bool stream = false;
  // Gemini: whether a streamed reply is an event stream (`alt=sse`) rather than a JSON array.
  bool sse = true;
};

// The reader and writer of one API family.
class Family {
public:
  virtual ~Family() = default;
  // Return the conversation in client request `body`, sent to `site`. Throws ir::Untranslatable
  // for what cannot be carried, std::invalid_argument for a body that is not a request.
  virtual ir::Conversation read_request(const ir::json& body, const RequestSite& site) const = 0;
  // Return `conversation` as a request of this family for model `conversation.model`. Throws
  // ir::Untranslatable for what the family cannot say and dropping would change the answer.
  virtual WireRequest write_request(const ir::Conversation& conversation) const = 0;
  // Return the whole reply in provider answer `body`. Throws std::invalid_argument when it is
  // not one.
  virtual ir::Answer read_answer(const ir::json& body) const = 0;
  // Return `answer` as this family's reply body to `request`.
  virtual std::string write_answer(const ir::Answer& answer,
                                   const ir::Conversation& request) const = 0;
  // Return a reader of this family's streamed replies, as requested by write_request().
  virtual std::unique_ptr<StreamReader> stream_reader() const = 0;
  // Return a writer of this family's streamed reply to `request`, sent to `site`.
  virtual std::unique_ptr<StreamWriter> stream_writer(const ir::Conversation& request,
                                                      const RequestSite& site) const = 0;
  // Return the message of this family's error body `body` (its "message" field, wherever the
  // family keeps it), or "" when it has none.
  virtual std::string read_error_message(const ir::json& body) const = 0;
  // Return the tokens one event of this family's stream reports (its data as JSON), nothing when
  // it reports none: how a stream passed through untranslated is counted.
  virtual std::optional<ir::Usage> read_event_usage(const ir::json& event) const = 0;
};

// Return the reader and writer of `protocol`.
const Family& family_of(Protocol protocol);

// The families, one each (server/protocols/families/).
const Family& anthropic_family();
const Family& openai_chat_family();
const Family& openai_responses_family();
const Family& gemini_family();

} // namespace agproxy
