#pragma once

// A client's request served by a provider of another API family (DESIGN §6): the client family's
// reader and the provider family's writer for the request; the provider's reader and the client's
// writer for the answer, whole or streamed, and for errors.

#include "server/protocols/family.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace agproxy {

class Translation {
public:
  // Read client request `body` of family `client`, sent to `site`, for a provider of family
  // `upstream` that serves it as `model`. Throws ir::Untranslatable for a field that cannot be
  // carried and std::invalid_argument for a body that is not a request of the family.
  Translation(Protocol client, Protocol upstream, const ir::json& body, const RequestSite& site,
              const std::string& model);

  // Return the conversation as read from the client.
  const ir::Conversation& conversation() const { return m_conversation; }
  // Return the request to send the provider.
  WireRequest request() const;
  // Return the value of the x-agproxy-translation header ("anthropic->openai").
  std::string direction() const;
  // Return whether the client asked for a streamed reply.
  bool stream() const { return m_site.stream; }
  // Return the Content-Type of the reply the client gets.
  std::string content_type() const;

  // Return the client's reply for the provider's whole answer `body`. Throws
  // std::invalid_argument when `body` is not an answer of the provider's family.
  std::string answer(std::string_view body) const;
  // Return the client's streamed reply for the provider's whole answer `body` (a provider that
  // answered a streamed request in one piece).
  std::string answer_as_stream(std::string_view body) const;
  // Return the client's error body for the provider's error `body` with HTTP `status`: the
  // provider's message in the client family's shape.
  std::string error(int status, std::string_view body) const;

  // Return the client's bytes for the next bytes of the provider's stream.
  std::string feed(std::string_view bytes);
  // Return the bytes that end the client's stream once the provider's ended; `broken`: it broke off
  // or stalled before its end, which the client learns as its family's in-stream error (not as a
  // finished answer) unless the provider's final event had already come.
  std::string finish(bool broken = false);

  // Return the tokens the provider counted in what was translated so far (answer, stream).
  const ir::Usage& usage() const { return m_usage; }

private:
  Protocol m_client;
  Protocol m_upstream;
  RequestSite m_site;
  ir::Conversation m_conversation;
  std::unique_ptr<StreamReader> m_reader;
  std::unique_ptr<StreamWriter> m_writer;
  std::vector<ir::Event> m_events;
  // Whether the provider's finish (or error) event has been passed on.
  bool m_ended = false;
  mutable ir::Usage m_usage; // (answer() is const: it only reads the translation otherwise)
  // Take the usage `event` reports (a start's input tokens, a finish's totals).
  void note_usage(const ir::Event& event) const;
};

// Return the events that stream `answer`: a start, each part, the finish.
std::vector<ir::Event> answer_events(const ir::Answer& answer);

// Return an estimate of the tokens of `conversation` (characters / 4): what agproxy answers
// count_tokens and countTokens with when the provider is of another family.
long long estimate_tokens(const ir::Conversation& conversation);

// Return whether a request to `path` with `method` is a generation request of `protocol` that
// agproxy can translate to another family (chat completions, responses, messages and its
// count_tokens, generateContent, streamGenerateContent and countTokens).
bool translatable_route(Protocol protocol, std::string_view method, std::string_view path);

// Return whether `path` asks to count tokens rather than to generate (Anthropic count_tokens,
// Gemini countTokens).
bool count_tokens_route(std::string_view path);

} // namespace agproxy
