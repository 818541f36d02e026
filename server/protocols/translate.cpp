#include "server/protocols/translate.hpp"

namespace agproxy {

namespace {

using ir::json;

json parse_json(std::string_view body) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    throw std::invalid_argument("the provider's answer is not JSON");
  }
  return parsed;
}

} // namespace

Translation::Translation(Protocol client, Protocol upstream, const json& body,
                         const RequestSite& site, const std::string& model)
    : m_client(client), m_upstream(upstream), m_site(site),
      m_conversation(family_of(client).read_request(body, site)) {
  m_site.stream = m_conversation.stream;
  m_conversation.model = model;
  if (m_site.stream) {
    m_reader = family_of(upstream).stream_reader();
    m_writer = family_of(client).stream_writer(m_conversation, m_site);
  }
}

WireRequest Translation::request() const {
  return family_of(m_upstream).write_request(m_conversation);
}

std::string Translation::direction() const {
  return std::string(to_string(m_client)) + "->" + std::string(to_string(m_upstream));
}

std::string Translation::content_type() const {
  const bool event_stream = m_site.stream && (m_client != Protocol::gemini || m_site.sse);
  return event_stream ? "text/event-stream" : "application/json";
}

void Translation::note_usage(const ir::Event& event) const {
  if (event.kind != ir::Event::Kind::start && event.kind != ir::Event::Kind::finish) {
    return;
  }
  // A finish carries the totals; a start may know the input only. Later counts replace earlier.
  const ir::Usage& seen = event.usage;
  m_usage.input = seen.input != 0 ? seen.input : m_usage.input;
  m_usage.output = seen.output != 0 ? seen.output : m_usage.output;
  m_usage.cached = seen.cached != 0 ? seen.cached : m_usage.cached;
  m_usage.reasoning = seen.reasoning != 0 ? seen.reasoning : m_usage.reasoning;
}

std::string Translation::answer(std::string_view body) const {
  const ir::Answer whole = family_of(m_upstream).read_answer(parse_json(body));
  m_usage = whole.usage;
  return family_of(m_client).write_answer(whole, m_conversation);
}

std::string Translation::answer_as_stream(std::string_view body) const {
  const ir::Answer whole = family_of(m_upstream).read_answer(parse_json(body));
  m_usage = whole.usage;
  std::unique_ptr<StreamWriter> writer = family_of(m_client).stream_writer(m_conversation, m_site);
  std::string out;
  for (const ir::Event& event : answer_events(whole)) {
    writer->write(event, out);
  }
  writer->finish(out);
  return out;
}

std::string Translation::error(int status, std::string_view body) const {
  const json parsed = json::parse(body, nullptr, false);
  std::string message =
      parsed.is_discarded() ? std::string() : family_of(m_upstream).read_error_message(parsed);
  if (message.empty()) {
    message = "the provider answered " + std::to_string(status);
  }
  // The provider's own code survives where the client's shape has a slot for it (OpenAI's
  // "code"): insufficient_quota, context_length_exceeded, RESOURCE_EXHAUSTED tell a client and the
  // doctor more than the status.
  std::string code = "provider_error";
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()) {
    for (const char* field : {"code", "type", "status"}) {
      const json& value = parsed["error"].value(field, json());
      if (value.is_string() && !value.get<std::string>().empty() &&
          value.get<std::string>().size() <= 64) {
        code = value.get<std::string>();
        break;
      }
    }
  }
  return error_body(m_client, error_kind_for_status(status), code, message);
}

std::string Translation::feed(std::string_view bytes) {
  std::string out;
  m_events.clear();
  m_reader->feed(bytes, m_events);
  for (const ir::Event& event : m_events) {
    m_ended =
        m_ended || event.kind == ir::Event::Kind::finish || event.kind == ir::Event::Kind::error;
    note_usage(event);
    m_writer->write(event, out);
  }
  return out;
}

std::string Translation::finish(bool broken) {
  std::string out;
  m_events.clear();
  m_reader->finish(m_events);
  const bool cut = broken && !m_ended;
  for (const ir::Event& event : m_events) {
    // A reader closes a cut stream with a finish of its own; the client must not take a broken
    // answer for a whole one.
    if (!(cut && event.kind == ir::Event::Kind::finish)) {
      note_usage(event);
      m_writer->write(event, out);
    }
  }
  if (cut) {
    ir::Event error;
    error.kind = ir::Event::Kind::error;
    error.status = 502;
    error.text = "agproxy: the provider's stream broke off before its end";
    m_writer->write(error, out);
  }
  m_writer->finish(out);
  return out;
}

std::vector<ir::Event> answer_events(const ir::Answer& answer) {
  std::vector<ir::Event> events;
  ir::Event start;
  start.kind = ir::Event::Kind::start;
  start.id = answer.id;
  start.model = answer.model;
  start.usage.input = answer.usage.input;
  start.usage.cached = answer.usage.cached;
  events.push_back(start);
  for (size_t index = 0; index < answer.parts.size(); ++index) {
    const ir::Part& part = answer.parts[index];
    ir::Event event;
    event.index = index;
    switch (part.kind) {
    case ir::Part::Kind::text:
      event.kind = ir::Event::Kind::text_delta;
      event.text = part.text;
      events.push_back(event);
      break;
    case ir::Part::Kind::reasoning:
      if (!part.reasoning.text.empty()) {
        event.kind = ir::Event::Kind::reasoning_delta;
        event.text = part.reasoning.text;
        events.push_back(event);
      }
      if (!part.reasoning.signature.empty()) {
        event.kind = ir::Event::Kind::reasoning_signature;
        event.text = part.reasoning.signature;
        event.redacted = part.reasoning.redacted;
        events.push_back(event);
      }
      break;
    case ir::Part::Kind::tool_call:
      event.kind = ir::Event::Kind::tool_call_start;
      event.id = part.call.id;
      event.name = part.call.name;
      event.signature = part.call.signature;
      events.push_back(event);
      event.kind = ir::Event::Kind::tool_args_delta;
      event.text = part.call.arguments;
      events.push_back(event);
      break;
    case ir::Part::Kind::image:
    case ir::Part::Kind::tool_result:
      break; // not parts of a reply
    }
  }
  ir::Event finish;
  finish.kind = ir::Event::Kind::finish;
  finish.finish = answer.finish;
  finish.usage = answer.usage;
  events.push_back(finish);
  return events;
}

long long estimate_tokens(const ir::Conversation& conversation) {
  size_t characters = conversation.system.size();
  for (const ir::Message& message : conversation.messages) {
    for (const ir::Part& part : message.parts) {
      characters += part.text.size() + part.call.name.size() + part.call.arguments.size() +
                    part.result.content.size() + part.reasoning.text.size();
      // An image costs about as much as a short paragraph whatever its size (providers count
      // tiles, not bytes).
      characters +=
          (part.kind == ir::Part::Kind::image ? 1000 : 0) + 1000 * part.result.images.size();
    }
  }
  for (const ir::Tool& tool : conversation.tools) {
    characters += tool.name.size() + tool.description.size() + tool.parameters.dump().size();
  }
  return static_cast<long long>((characters + 3) / 4);
}

bool count_tokens_route(std::string_view path) {
  return path.ends_with("/count_tokens") || path.ends_with(":countTokens");
}

bool translatable_route(Protocol protocol, std::string_view method, std::string_view path) {
  if (method != "POST") {
    return false;
  }
  switch (protocol) {
  case Protocol::openai:
    return path == "/v1/chat/completions";
  case Protocol::openai_responses:
    return path == "/v1/responses";
  case Protocol::anthropic:
    return path == "/v1/messages" || path == "/v1/messages/count_tokens";
  case Protocol::gemini:
    return path.ends_with(":generateContent") || path.ends_with(":streamGenerateContent") ||
           path.ends_with(":countTokens");
  }
  return false;
}

} // namespace agproxy
