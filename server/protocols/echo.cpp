#include "server/protocols/echo.hpp"

#include "server/protocols/respond.hpp"
#include "server/upstream/forward.hpp"

#include <chrono>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace agproxy {

namespace {

using nlohmann::json;

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Text of an OpenAI/Anthropic content value: a string, or an array of {type:text, text} parts.
std::string content_text(const json& content) {
  if (content.is_string()) {
    return content.get<std::string>();
  }
  std::string text;
  if (content.is_array()) {
    for (const json& part : content) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        text += part["text"].get<std::string>();
      }
    }
  }
  return text;
}

std::string sse(const json& data) {
  return "data: " + dump(data) + "\n\n";
}

std::string sse_event(const std::string& event, const json& data) {
  return "event: " + event + "\n" + sse(data);
}

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Answer with `events`, one chunk each, as an event stream.
void stream(httplib::Response& response, std::vector<std::string> events) {
  auto queue = std::make_shared<std::vector<std::string>>(std::move(events));
  auto next = std::make_shared<size_t>(0);
  response.set_chunked_content_provider("text/event-stream",
                                        [queue, next](size_t, httplib::DataSink& sink) {
                                          if (*next < queue->size()) {
                                            const std::string& event = (*queue)[(*next)++];
                                            return sink.write(event.data(), event.size());
                                          }
                                          sink.done();
                                          return true;
                                        });
}

size_t words(const std::string& text) {
  size_t count = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    count += !space && !in_word;
    in_word = !space;
  }
  return count;
}

} // namespace

std::string last_user_text(Protocol protocol, std::string_view body) {
  const json request = json::parse(body, nullptr, false);
  if (!request.is_object()) {
    return "";
  }
  const char* list = protocol == Protocol::gemini ? "contents" : "messages";
  if (!request.contains(list) || !request[list].is_array()) {
    return "";
  }
  const json& messages = request[list];
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (!it->is_object()) {
      continue;
    }
    if (protocol == Protocol::gemini) {
      if (it->value("role", "user") != "user" || !it->contains("parts") ||
          !(*it)["parts"].is_array()) {
        continue;
      }
      std::string text;
      for (const json& part : (*it)["parts"]) {
        if (part.is_object() && part.contains("text") && part["text"].is_string()) {
          text += part["text"].get<std::string>();
        }
      }
      return text;
    }
    if (it->value("role", "") == "user" && it->contains("content")) {
      return content_text((*it)["content"]);
    }
  }
  return "";
}

void answer_echo(const httplib::Request& request, httplib::Response& response, Protocol protocol) {
  const std::string text = last_user_text(protocol, request.body);
  const json parsed = json::parse(request.body, nullptr, false);
  const bool wants_stream = protocol == Protocol::gemini
                                ? request.path.find(":streamGenerateContent") != std::string::npos
                                : parsed.is_object() && parsed.value("stream", false);
  const size_t in_tokens = words(text);
  response.set_header("x-agproxy-upstream", k_echo_model);

  if (protocol == Protocol::anthropic) {
    const std::string id = "msg_agproxy_echo";
    const json usage = {{"input_tokens", in_tokens}, {"output_tokens", in_tokens}};
    if (!wants_stream) {
      response.set_content(dump({{"id", id},
                                 {"type", "message"},
                                 {"role", "assistant"},
                                 {"model", k_echo_model},
                                 {"content", json::array({{{"type", "text"}, {"text", text}}})},
                                 {"stop_reason", "end_turn"},
                                 {"stop_sequence", nullptr},
                                 {"usage", usage}}),
                           k_json_type);
      return;
    }
    stream(response,
           {sse_event("message_start",
                      {{"type", "message_start"},
                       {"message",
                        {{"id", id},
                         {"type", "message"},
                         {"role", "assistant"},
                         {"model", k_echo_model},
                         {"content", json::array()},
                         {"stop_reason", nullptr},
                         {"stop_sequence", nullptr},
                         {"usage", {{"input_tokens", in_tokens}, {"output_tokens", 0}}}}}}),
            sse_event("content_block_start", {{"type", "content_block_start"},
                                              {"index", 0},
                                              {"content_block", {{"type", "text"}, {"text", ""}}}}),
            sse_event("content_block_delta", {{"type", "content_block_delta"},
                                              {"index", 0},
                                              {"delta", {{"type", "text_delta"}, {"text", text}}}}),
            sse_event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}),
            sse_event("message_delta",
                      {{"type", "message_delta"},
                       {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                       {"usage", {{"output_tokens", in_tokens}}}}),
            sse_event("message_stop", {{"type", "message_stop"}})});
    return;
  }

  if (protocol == Protocol::gemini) {
    const json answer = {
        {"candidates",
         json::array({{{"content", {{"role", "model"}, {"parts", json::array({{{"text", text}}})}}},
                       {"finishReason", "STOP"},
                       {"index", 0}}})},
        {"usageMetadata",
         {{"promptTokenCount", in_tokens},
          {"candidatesTokenCount", in_tokens},
          {"totalTokenCount", 2 * in_tokens}}},
        {"modelVersion", k_echo_model}};
    if (!wants_stream) {
      response.set_content(dump(answer), k_json_type);
    } else if (request.get_param_value("alt") == "sse") {
      stream(response, {sse(answer)});
    } else {
      response.set_content(dump(json::array({answer})), k_json_type); // Gemini's JSON-array stream
    }
    return;
  }

  const std::string id = "chatcmpl-agproxy-echo";
  const long long created = unix_now();
  if (!wants_stream) {
    response.set_content(
        dump({{"id", id},
              {"object", "chat.completion"},
              {"created", created},
              {"model", k_echo_model},
              {"choices", json::array({{{"index", 0},
                                        {"message", {{"role", "assistant"}, {"content", text}}},
                                        {"finish_reason", "stop"}}})},
              {"usage",
               {{"prompt_tokens", in_tokens},
                {"completion_tokens", in_tokens},
                {"total_tokens", 2 * in_tokens}}}}),
        k_json_type);
    return;
  }
  auto chunk = [&](const json& delta, const json& finish) {
    return sse(
        {{"id", id},
         {"object", "chat.completion.chunk"},
         {"created", created},
         {"model", k_echo_model},
         {"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}});
  };
  stream(response,
         {chunk({{"role", "assistant"}, {"content", ""}}, nullptr),
          chunk({{"content", text}}, nullptr), chunk(json::object(), "stop"), "data: [DONE]\n\n"});
}

} // namespace agproxy
