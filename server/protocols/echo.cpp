#include "server/protocols/echo.hpp"

#include "server/protocols/respond.hpp"
#include "server/protocols/translate.hpp"
#include "server/upstream/forward.hpp"

#include <httplib.h>

namespace agproxy {

namespace {

using ir::json;

// Answer with `chunks`, one write each, as a streamed body of `content_type`.
void stream(httplib::Response& response, std::vector<std::string> chunks,
            const std::string& content_type) {
  auto queue = std::make_shared<std::vector<std::string>>(std::move(chunks));
  auto next = std::make_shared<size_t>(0);
  response.set_chunked_content_provider(content_type,
                                        [queue, next](size_t, httplib::DataSink& sink) {
                                          while (*next < queue->size()) {
                                            const std::string& chunk = (*queue)[(*next)++];
                                            if (!chunk.empty()) {
                                              return sink.write(chunk.data(), chunk.size());
                                            }
                                          }
                                          sink.done();
                                          return true;
                                        });
}

long long words(const std::string& text) {
  long long count = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    count += !space && !in_word;
    in_word = !space;
  }
  return count;
}

// The ids the echo answers with, recognisable in a client's log.
std::string echo_id(Protocol protocol) {
  switch (protocol) {
  case Protocol::openai:
    return "chatcmpl-agproxy-echo";
  case Protocol::openai_responses:
    return "resp_agproxy_echo";
  case Protocol::anthropic:
    return "msg_agproxy_echo";
  case Protocol::gemini:
    break;
  }
  return "agproxy-echo";
}

} // namespace

std::string last_user_text(const ir::Conversation& conversation) {
  for (auto it = conversation.messages.rbegin(); it != conversation.messages.rend(); ++it) {
    if (it->role != ir::Role::user) {
      continue;
    }
    std::string text = ir::joined_text(it->parts);
    for (const ir::Part& part : it->parts) {
      if (text.empty() && part.kind == ir::Part::Kind::tool_result) {
        text = part.result.content; // a turn that only answers a tool call
      }
    }
    return text;
  }
  return "";
}

void answer_echo(const httplib::Request& request, httplib::Response& response, Protocol protocol) {
  RequestSite site;
  if (protocol == Protocol::gemini) {
    site.model = k_echo_model;
    site.stream = request.path.find(":streamGenerateContent") != std::string::npos;
    site.sse = request.get_param_value("alt") == "sse";
  }
  const json body = json::parse(request.body, nullptr, false);
  const Family& family = family_of(protocol);
  ir::Conversation conversation;
  try {
    conversation = family.read_request(body, site);
  } catch (const std::exception&) {
    // Whatever the echo cannot read it answers with empty text, as it always has.
    conversation.stream = protocol == Protocol::gemini
                              ? site.stream
                              : body.is_object() && body.contains("stream") &&
                                    body["stream"].is_boolean() && body["stream"].get<bool>();
  }
  site.stream = conversation.stream;
  const std::string text = last_user_text(conversation);
  ir::Answer answer;
  answer.id = echo_id(protocol);
  answer.model = k_echo_model;
  answer.parts.emplace_back().text = text;
  answer.usage.input = answer.usage.output = words(text);
  response.set_header("x-agproxy-upstream", k_echo_model);
  if (!site.stream) {
    response.set_content(family.write_answer(answer, conversation), k_json_type);
    return;
  }
  std::unique_ptr<StreamWriter> writer = family.stream_writer(conversation, site);
  std::vector<std::string> chunks;
  for (const ir::Event& event : answer_events(answer)) {
    writer->write(event, chunks.emplace_back());
  }
  writer->finish(chunks.emplace_back());
  const bool event_stream = protocol != Protocol::gemini || site.sse;
  stream(response, std::move(chunks), event_stream ? "text/event-stream" : k_json_type);
}

} // namespace agproxy
