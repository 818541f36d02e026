// OpenAI Chat Completions (POST /v1/chat/completions), also what OpenAI-compatible servers speak
// (Ollama, vLLM, llama.cpp, DeepSeek, OpenRouter): reader and writer around the shared
// representation.

#include "server/protocols/families/wire.hpp"
#include "server/protocols/family.hpp"
#include "server/protocols/sse.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agproxy {

namespace {

using wire::dump;
using wire::member;
using wire::valid_utf8;

using ir::json;

constexpr std::string_view k_path = "/v1/chat/completions";
constexpr std::string_view k_done = "[DONE]";

// Return string member `key` of `object`, "" when absent; throws std::invalid_argument when it
// is not a string.
std::string string_member(const json& object, const char* key) {
  const json* value = member(object, key);
  if (value == nullptr) {
    return "";
  }
  if (!value->is_string()) {
    throw std::invalid_argument(std::string("'") + key + "' must be a string");
  }
  return value->get<std::string>();
}

// Return integer member `key` of `object`, nothing when absent; throws std::invalid_argument when
// it is not an integer.
std::optional<long long> integer_member(const json& object, const char* key) {
  const json* value = member(object, key);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!value->is_number_integer()) {
    throw std::invalid_argument(std::string("'") + key + "' must be an integer");
  }
  return value->is_number_unsigned() ? static_cast<long long>(value->get<unsigned long long>())
                                     : value->get<long long>();
}

// Return number member `key` of `object`, nothing when absent; throws std::invalid_argument when
// it is not a number.
std::optional<double> number_member(const json& object, const char* key) {
  const json* value = member(object, key);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!value->is_number()) {
    throw std::invalid_argument(std::string("'") + key + "' must be a number");
  }
  return value->get<double>();
}

// Return boolean member `key` of `object`, nothing when absent; throws std::invalid_argument when
// it is not a boolean.
std::optional<bool> bool_member(const json& object, const char* key) {
  const json* value = member(object, key);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!value->is_boolean()) {
    throw std::invalid_argument(std::string("'") + key + "' must be a boolean");
  }
  return value->get<bool>();
}

// Return string member `key` of a provider's `object`, "" when absent or not a string: a stream
// goes on past a server's odd field.
std::string string_or_empty(const json& object, const char* key) {
  const json* value = member(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

// Return a provider's count member `key` of `object`, 0 when absent or not a plausible count:
// usage is informative, a server's odd value must not fail the whole answer.
long long count_member(const json& object, const char* key) {
  constexpr long long k_max_count = 1'000'000'000'000'000;
  const json* value = member(object, key);
  if (value == nullptr || !value->is_number_integer()) {
    return 0;
  }
  const long long count = value->get<long long>();
  return count >= 0 && count <= k_max_count ? count : 0;
}

ir::Part make_part(ir::Part::Kind kind) {
  ir::Part part;
  part.kind = kind;
  return part;
}

ir::Part text_part(std::string text) {
  ir::Part part = make_part(ir::Part::Kind::text);
  part.text = std::move(text);
  return part;
}

ir::Event make_event(ir::Event::Kind kind, size_t index = 0, std::string text = {}) {
  ir::Event event;
  event.kind = kind;
  event.index = index;
  event.text = std::move(text);
  return event;
}

// Return `call`'s arguments for a client or provider that parses them: "" is no JSON object.
std::string call_arguments(const ir::ToolCall& call) {
  return call.arguments.empty() ? "{}" : call.arguments;
}

// Return tool call arguments as JSON text: a string as sent, an object (some servers send one)
// as its JSON text.
std::string arguments_text(const json& function) {
  const json* arguments = member(function, "arguments");
  if (arguments == nullptr) {
    return "";
  }
  return arguments->is_string() ? arguments->get<std::string>() : dump(*arguments);
}

ir::Untranslatable untranslatable(const std::string& field) {
  return ir::Untranslatable(field, "'" + field +
                                       "' cannot be translated to another API family; remove it or "
                                       "use a model served by an OpenAI Chat Completions upstream");
}

// Return the text of message content `content`: a string, or text parts (and, from assistants,
// refusal parts) joined.
std::string content_text(const json& content) {
  if (content.is_string()) {
    return content.get<std::string>();
  }
  if (!content.is_array()) {
    throw std::invalid_argument("message content must be a string or an array of parts");
  }
  std::string text;
  for (const json& part : content) {
    const std::string type = string_member(part, "type");
    if (type == "text") {
      text += string_member(part, "text");
    } else if (type == "refusal") {
      text += string_member(part, "refusal");
    } else {
      throw std::invalid_argument("content part type '" + type + "' is not text");
    }
  }
  return text;
}

// Return the image of an image_url part: a base64 data URL inline, any other URL by reference.
ir::Image read_image(const json& part) {
  const json* image_url = member(part, "image_url");
  if (image_url == nullptr) {
    throw std::invalid_argument("image_url part without 'image_url'");
  }
  // Early clients sent the URL itself rather than {url, detail}.
  return ir::image_from_url(image_url->is_string() ? image_url->get<std::string>()
                                                   : string_member(*image_url, "url"));
}

// Return the parts of user content `content` (a string or an array of parts).
std::vector<ir::Part> user_parts(const json& content) {
  std::vector<ir::Part> parts;
  if (content.is_string()) {
    parts.push_back(text_part(content.get<std::string>()));
    return parts;
  }
  if (!content.is_array()) {
    throw std::invalid_argument("user content must be a string or an array of parts");
  }
  for (const json& part : content) {
    const std::string type = string_member(part, "type");
    if (type == "text") {
      parts.push_back(text_part(string_member(part, "text")));
    } else if (type == "image_url") {
      ir::Part image = make_part(ir::Part::Kind::image);
      image.image = read_image(part);
      parts.push_back(std::move(image));
    } else {
      // input_audio, file and whatever comes next: the model would not see what the user sent.
      throw untranslatable(type.empty() ? "content" : type);
    }
  }
  return parts;
}

// Return the tool call parts of an assistant message's `tool_calls`, recording each call's name
// under its id for the tool results that answer it. From a `client`, calls of other kinds than
// functions are refused; a provider only makes the function calls it was offered.
std::vector<ir::Part> call_parts(const json& tool_calls, bool client,
                                 std::map<std::string, std::string>& names) {
  if (!tool_calls.is_array()) {
    throw std::invalid_argument("'tool_calls' must be an array");
  }
  std::vector<ir::Part> parts;
  for (const json& call : tool_calls) {
    const std::string type = string_member(call, "type");
    if (client && !type.empty() && type != "function") {
      throw untranslatable("tool_calls[].type: " + type);
    }
    const json* function = member(call, "function");
    if (function == nullptr) {
      throw std::invalid_argument("tool call without 'function'");
    }
    auto [id, signature] = ir::split_call_id(string_member(call, "id"));
    ir::Part part = make_part(ir::Part::Kind::tool_call);
    part.call.id = std::move(id);
    part.call.name = string_member(*function, "name");
    part.call.arguments = arguments_text(*function);
    part.call.signature = std::move(signature);
    names[part.call.id] = part.call.name;
    parts.push_back(std::move(part));
  }
  return parts;
}

// Return the assistant turn `message` (from a `client`'s history, or a provider's answer):
// reasoning (DeepSeek's reasoning_content, or reasoning), text and refusal, then its tool calls.
ir::Message assistant_message(const json& message, bool client,
                              std::map<std::string, std::string>& names) {
  ir::Message out;
  out.role = ir::Role::assistant;
  std::string reasoning = string_member(message, "reasoning_content");
  if (reasoning.empty()) {
    reasoning = string_member(message, "reasoning");
  }
  if (!reasoning.empty()) {
    ir::Part part = make_part(ir::Part::Kind::reasoning);
    part.reasoning.text = std::move(reasoning);
    out.parts.push_back(std::move(part));
  }
  if (const json* content = member(message, "content")) {
    std::string text = content_text(*content);
    if (!text.empty()) {
      out.parts.push_back(text_part(std::move(text)));
    }
  }
  if (std::string refusal = string_member(message, "refusal"); !refusal.empty()) {
    out.parts.push_back(text_part(std::move(refusal)));
  }
  if (const json* tool_calls = member(message, "tool_calls")) {
    for (ir::Part& part : call_parts(*tool_calls, client, names)) {
      out.parts.push_back(std::move(part));
    }
  }
  return out;
}

// Return the tool result in tool message `message`, named after the call it answers.
ir::Part tool_result(const json& message, const std::map<std::string, std::string>& names) {
  ir::Part part = make_part(ir::Part::Kind::tool_result);
  part.result.id = ir::split_call_id(string_member(message, "tool_call_id")).first;
  if (const auto it = names.find(part.result.id); it != names.end()) {
    part.result.name = it->second;
  }
  const json* content = member(message, "content");
  if (content != nullptr && content->is_array()) {
    // OpenAI takes text only here; compatible servers and their clients also send image parts.
    for (const json& entry : *content) {
      if (string_member(entry, "type") == "image_url") {
        part.result.images.push_back(read_image(entry));
      } else {
        part.result.content += content_text(json::array({entry}));
      }
    }
  } else if (content != nullptr) {
    part.result.content = content_text(*content);
  }
  return part;
}

// Return the reasoning effort a client asked for in the IR's words.
std::string read_effort(const std::string& effort) {
  if (effort == "minimal" || effort == "low") {
    return "low";
  }
  if (effort == "medium") {
    return "medium";
  }
  if (effort == "high" || effort == "xhigh") {
    return "high";
  }
  // "none" and efforts to come: the provider's default, the effort only tunes the answer.
  return "";
}

ir::ToolChoice read_tool_choice(const json& choice) {
  ir::ToolChoice out;
  if (choice.is_string()) {
    const std::string mode = choice.get<std::string>();
    if (mode == "auto") {
      out.mode = ir::ToolChoice::Mode::automatic;
      return out;
    }
    if (mode == "none") {
      out.mode = ir::ToolChoice::Mode::none;
      return out;
    }
    if (mode == "required") {
      out.mode = ir::ToolChoice::Mode::required;
      return out;
    }
    throw std::invalid_argument("unknown tool_choice '" + mode + "'");
  }
  if (string_member(choice, "type") != "function") {
    throw untranslatable("tool_choice");
  }
  const json* function = member(choice, "function");
  if (function == nullptr) {
    throw std::invalid_argument("tool_choice without 'function'");
  }
  out.mode = ir::ToolChoice::Mode::tool;
  out.name = string_member(*function, "name");
  return out;
}

ir::OutputFormat read_format(const json& format) {
  ir::OutputFormat out;
  const std::string type = string_member(format, "type");
  if (type == "text") {
    return out;
  }
  if (type == "json_object") {
    out.kind = ir::OutputFormat::Kind::json_object;
    return out;
  }
  if (type != "json_schema") {
    throw untranslatable("response_format.type: " + type);
  }
  const json* schema = member(format, "json_schema");
  if (schema == nullptr) {
    throw std::invalid_argument("response_format without 'json_schema'");
  }
  const json* body = member(*schema, "schema");
  out.kind = ir::OutputFormat::Kind::json_schema;
  out.name = string_member(*schema, "name");
  out.schema = body != nullptr ? *body : json::object();
  return out;
}

// Read the client's request-wide fields (everything but the messages) into `out`.
void read_options(const json& body, ir::Conversation& out) {
  for (const char* legacy : {"functions", "function_call"}) {
    // Legacy function calling: its answers come back as function_call, not tool_calls, which a
    // translated answer cannot give back.
    if (member(body, legacy) != nullptr) {
      throw untranslatable(legacy);
    }
  }
  if (const auto n = integer_member(body, "n"); n && *n > 1) {
    throw untranslatable("n");
  }
  if (const json* modalities = member(body, "modalities")) {
    if (!modalities->is_array()) {
      throw std::invalid_argument("'modalities' must be an array");
    }
    for (const json& modality : *modalities) {
      if (modality != "text") {
        throw untranslatable("modalities");
      }
    }
  }
  for (const char* field : {"audio", "web_search_options"}) {
    if (member(body, field) != nullptr) {
      throw untranslatable(field);
    }
  }
  if (const json* tools = member(body, "tools")) {
    if (!tools->is_array()) {
      throw std::invalid_argument("'tools' must be an array");
    }
    for (const json& tool : *tools) {
      const json* function = member(tool, "function");
      if (string_member(tool, "type") != "function" || function == nullptr) {
        continue; // custom and hosted tools exist only at OpenAI
      }
      const json* parameters = member(*function, "parameters");
      ir::Tool read;
      read.name = string_member(*function, "name");
      read.description = string_member(*function, "description");
      read.parameters = parameters != nullptr ? *parameters : json::object();
      out.tools.push_back(std::move(read));
    }
  }
  if (const json* choice = member(body, "tool_choice")) {
    out.tool_choice = read_tool_choice(*choice);
  }
  out.parallel_tool_calls = bool_member(body, "parallel_tool_calls");
  out.max_tokens = integer_member(body, "max_completion_tokens");
  if (!out.max_tokens) {
    out.max_tokens = integer_member(body, "max_tokens");
  }
  out.temperature = number_member(body, "temperature");
  out.top_p = number_member(body, "top_p");
  if (const json* stop = member(body, "stop")) {
    if (stop->is_string()) {
      out.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      for (const json& sequence : *stop) {
        if (!sequence.is_string()) {
          throw std::invalid_argument("'stop' must hold strings");
        }
        out.stop.push_back(sequence.get<std::string>());
      }
    } else {
      throw std::invalid_argument("'stop' must be a string or an array");
    }
  }
  if (const json* format = member(body, "response_format")) {
    out.format = read_format(*format);
  }
  out.reasoning_effort = read_effort(string_member(body, "reasoning_effort"));
  out.stream = bool_member(body, "stream").value_or(false);
  if (const json* options = member(body, "stream_options"); options != nullptr) {
    out.stream_usage = bool_member(*options, "include_usage").value_or(false);
  }
}

// Return the history in `messages`: system and developer messages joined into `system`, tool
// messages turned into tool results of one user turn per run of them.
void read_messages(const json& messages, ir::Conversation& out) {
  std::map<std::string, std::string> names; // tool call id -> tool name
  bool in_tool_run = false;
  for (const json& message : messages) {
    const std::string role = string_member(message, "role");
    const json* content = member(message, "content");
    const bool was_tool_run = std::exchange(in_tool_run, role == "tool");
    if (role == "system" || role == "developer") {
      const std::string text = content != nullptr ? content_text(*content) : "";
      out.system += (out.system.empty() || text.empty() ? "" : "\n\n") + text;
    } else if (role == "user") {
      out.messages.emplace_back().parts =
          content != nullptr ? user_parts(*content) : std::vector<ir::Part>{};
    } else if (role == "assistant") {
      if (member(message, "function_call") != nullptr) {
        throw untranslatable("function_call");
      }
      out.messages.push_back(assistant_message(message, true, names));
    } else if (role == "tool") {
      if (!was_tool_run) {
        out.messages.emplace_back();
      }
      out.messages.back().parts.push_back(tool_result(message, names));
    } else if (role == "function") {
      throw untranslatable("function");
    } else {
      throw std::invalid_argument("unknown message role '" + role + "'");
    }
  }
}

// Return the effort to send for `conversation`'s reasoning settings, "" for none.
std::string write_effort(const ir::Conversation& conversation) {
  if (!conversation.reasoning_effort.empty()) {
    return conversation.reasoning_effort;
  }
  if (!conversation.reasoning_budget || *conversation.reasoning_budget < 0) {
    return "";
  }
  const long long budget = *conversation.reasoning_budget;
  return budget <= 2048 ? "low" : budget <= 12000 ? "medium" : "high";
}

json image_json(const ir::Image& image) {
  return {{"type", "image_url"}, {"image_url", {{"url", ir::image_url(image)}}}};
}

// Append user turn `message` to `messages`: each tool result as its own tool message first, then
// the rest as one user message. A tool message holds text only, so the images of a result go in
// that user message, after a line naming the call they came from.
void write_user(const ir::Message& message, json& messages) {
  json content = json::array();
  bool results = false;
  for (const ir::Part& part : message.parts) {
    if (part.kind != ir::Part::Kind::tool_result) {
      continue;
    }
    const ir::ToolResult& result = part.result;
    results = true;
    std::string text = result.content;
    if (!result.images.empty()) {
      const std::string call =
          "tool call " + result.id + (result.name.empty() ? "" : " (" + result.name + ")");
      const size_t n = result.images.size();
      text += (text.empty() ? "" : "\n\n") + std::string("[") + std::to_string(n) +
              (n == 1 ? " image" : " images") + " of this result in the next user message]";
      content.push_back({{"type", "text"}, {"text", "Images from the result of " + call + ":"}});
      for (const ir::Image& image : result.images) {
        content.push_back(image_json(image));
      }
    }
    messages.push_back({{"role", "tool"}, {"tool_call_id", result.id}, {"content", text}});
  }
  for (const ir::Part& part : message.parts) {
    if (part.kind == ir::Part::Kind::text) {
      content.push_back({{"type", "text"}, {"text", part.text}});
    } else if (part.kind == ir::Part::Kind::image) {
      content.push_back(image_json(part.image));
    }
  }
  if (content.empty() && results) {
    return; // a turn of tool results only
  }
  // A lone text as a plain string: the form every OpenAI-compatible server reads.
  if (content.empty()) {
    messages.push_back({{"role", "user"}, {"content", ""}});
  } else if (content.size() == 1 && content[0]["type"] == "text") {
    messages.push_back({{"role", "user"}, {"content", content[0]["text"]}});
  } else {
    messages.push_back({{"role", "user"}, {"content", std::move(content)}});
  }
}

// Append assistant turn `message` to `messages`; its reasoning is left out, Chat Completions has
// no standard field to send it back in.
void write_assistant(const ir::Message& message, json& messages) {
  json out = {{"role", "assistant"}};
  json calls = json::array();
  for (const ir::Part& part : message.parts) {
    if (part.kind == ir::Part::Kind::tool_call) {
      calls.push_back(
          {{"id", part.call.id},
           {"type", "function"},
           {"function", {{"name", part.call.name}, {"arguments", call_arguments(part.call)}}}});
    }
  }
  const std::string text = ir::joined_text(message.parts);
  out["content"] = text.empty() && !calls.empty() ? json(nullptr) : json(text);
  if (!calls.empty()) {
    out["tool_calls"] = std::move(calls);
  }
  messages.push_back(std::move(out));
}

json tool_choice_json(const ir::ToolChoice& choice) {
  switch (choice.mode) {
  case ir::ToolChoice::Mode::automatic:
    return "auto";
  case ir::ToolChoice::Mode::none:
    return "none";
  case ir::ToolChoice::Mode::required:
    return "required";
  case ir::ToolChoice::Mode::tool:
    return {{"type", "function"}, {"function", {{"name", choice.name}}}};
  case ir::ToolChoice::Mode::unset:
    break;
  }
  return nullptr;
}

json format_json(const ir::OutputFormat& format) {
  switch (format.kind) {
  case ir::OutputFormat::Kind::json_object:
    return {{"type", "json_object"}};
  case ir::OutputFormat::Kind::json_schema:
    // OpenAI requires a name; other families have none to give.
    return {{"type", "json_schema"},
            {"json_schema",
             {{"name", format.name.empty() ? "response" : format.name},
              {"schema", format.schema.is_null() ? json::object() : format.schema}}}};
  case ir::OutputFormat::Kind::text:
    break;
  }
  return nullptr;
}

ir::Finish read_finish(const std::string& reason) {
  if (reason == "length") {
    return ir::Finish::length;
  }
  if (reason == "tool_calls" || reason == "function_call") {
    return ir::Finish::tool_calls;
  }
  if (reason == "content_filter") {
    return ir::Finish::content_filter;
  }
  return ir::Finish::stop;
}

const char* finish_text(ir::Finish finish) {
  switch (finish) {
  case ir::Finish::length:
    return "length";
  case ir::Finish::tool_calls:
    return "tool_calls";
  case ir::Finish::content_filter:
    return "content_filter";
  case ir::Finish::stop:
  case ir::Finish::error: // Chat Completions has no reason for it; the text so far stands
    break;
  }
  return "stop";
}

ir::Usage read_usage(const json& usage) {
  ir::Usage out;
  out.input = count_member(usage, "prompt_tokens");
  out.output = count_member(usage, "completion_tokens");
  if (const json* details = member(usage, "prompt_tokens_details")) {
    out.cached = count_member(*details, "cached_tokens");
  }
  if (out.cached == 0) {
    out.cached = count_member(usage, "prompt_cache_hit_tokens"); // DeepSeek
  }
  if (const json* details = member(usage, "completion_tokens_details")) {
    out.reasoning = count_member(*details, "reasoning_tokens");
  }
  return out;
}

json usage_json(const ir::Usage& usage) {
  return {
      {"prompt_tokens", usage.input},
      {"completion_tokens", usage.output},
      // Unsigned: counts from another family's reader must not overflow into undefined behaviour.
      {"total_tokens", static_cast<long long>(static_cast<unsigned long long>(usage.input) +
                                              static_cast<unsigned long long>(usage.output))},
      {"prompt_tokens_details", {{"cached_tokens", usage.cached}}},
      {"completion_tokens_details", {{"reasoning_tokens", usage.reasoning}}}};
}

// Return a new completion id in OpenAI's shape.
std::string make_completion_id() {
  return wire::make_id("chatcmpl-");
}

// Return the HTTP status an in-stream error body `error` stands for.
int error_status(const json& error) {
  for (const char* key : {"code", "status"}) {
    if (const json* code = member(error, key); code != nullptr && code->is_number_integer()) {
      const long long status = code->get<long long>();
      if (status >= 400 && status <= 599) {
        return static_cast<int>(status);
      }
    }
  }
  const json* kind = member(error, "type");
  const std::string type = kind != nullptr && kind->is_string() ? kind->get<std::string>() : "";
  if (type == "invalid_request_error") {
    return 400;
  }
  if (type == "authentication_error") {
    return 401;
  }
  if (type == "rate_limit_error" || type == "insufficient_quota") {
    return 429;
  }
  return 500;
}

std::string error_text(const json& body) {
  const json* error = member(body, "error");
  if (error != nullptr && error->is_string()) {
    return error->get<std::string>();
  }
  for (const json* holder : {error, &body}) {
    if (holder == nullptr) {
      continue;
    }
    if (const json* message = member(*holder, "message"); message != nullptr) {
      return message->is_string() ? message->get<std::string>() : dump(*message);
    }
  }
  return "";
}

// Reads a chat.completion.chunk stream. Usage comes in a last chunk after the one with the
// finish reason (stream_options.include_usage), so the finish event waits for [DONE] or the end.
class ChatStreamReader final : public StreamReader {
public:
  void feed(std::string_view bytes, std::vector<ir::Event>& out) override {
    std::vector<SseEvent> events;
    m_parser.feed(bytes, events);
    for (const SseEvent& event : events) {
      on_data(event.data, out);
    }
  }

  void finish(std::vector<ir::Event>& out) override {
    std::vector<SseEvent> events;
    m_parser.finish(events);
    for (const SseEvent& event : events) {
      on_data(event.data, out);
    }
    // Without a finish reason the provider stopped mid-answer.
    close(m_finish.value_or(ir::Finish::error), out);
  }

private:
  enum class Open : std::uint8_t { none, text, reasoning, tool };

  void on_data(const std::string& data, std::vector<ir::Event>& out) {
    if (m_closed) {
      return;
    }
    if (data == k_done) {
      close(m_finish.value_or(ir::Finish::stop), out);
      return;
    }
    const json chunk = json::parse(valid_utf8(data), nullptr, false);
    if (!chunk.is_object()) {
      return; // not JSON: nothing a client could be given
    }
    // OpenAI sends {"error": {...}}; vLLM a body of its own with "object": "error".
    const json* error = member(chunk, "error");
    if (error != nullptr || string_or_empty(chunk, "object") == "error") {
      ir::Event failure = make_event(ir::Event::Kind::error, 0, error_text(chunk));
      failure.status = error_status(error != nullptr ? *error : chunk);
      out.push_back(std::move(failure));
      m_closed = true;
      return;
    }
    if (!m_started) {
      m_started = true;
      ir::Event start = make_event(ir::Event::Kind::start);
      start.id = string_or_empty(chunk, "id");
      start.model = string_or_empty(chunk, "model");
      out.push_back(std::move(start));
    }
    if (const json* choices = member(chunk, "choices"); choices != nullptr && choices->is_array()) {
      for (const json& choice : *choices) {
        const json* index = member(choice, "index");
        if (index == nullptr || *index == 0) {
          on_choice(choice, out);
        }
      }
    }
    if (const json* usage = member(chunk, "usage"); usage != nullptr && usage->is_object()) {
      m_usage = read_usage(*usage);
    }
  }

  void on_choice(const json& choice, std::vector<ir::Event>& out) {
    if (const json* delta = member(choice, "delta"); delta != nullptr && delta->is_object()) {
      std::string reasoning = string_or_empty(*delta, "reasoning_content");
      if (reasoning.empty()) {
        reasoning = string_or_empty(*delta, "reasoning");
      }
      if (!reasoning.empty()) {
        out.push_back(make_event(ir::Event::Kind::reasoning_delta, part_index(Open::reasoning),
                                 std::move(reasoning)));
      }
      if (std::string text = string_or_empty(*delta, "content"); !text.empty()) {
        out.push_back(
            make_event(ir::Event::Kind::text_delta, part_index(Open::text), std::move(text)));
      }
      if (const json* calls = member(*delta, "tool_calls"); calls != nullptr && calls->is_array()) {
        for (const json& call : *calls) {
          on_tool_call(call, out);
        }
      }
    }
    if (const json* reason = member(choice, "finish_reason");
        reason != nullptr && reason->is_string()) {
      m_finish = read_finish(reason->get<std::string>());
    }
  }

  void on_tool_call(const json& call, std::vector<ir::Event>& out) {
    const std::string id = string_or_empty(call, "id");
    long long key = m_last_tool;
    if (const json* index = member(call, "index"); index != nullptr && index->is_number_integer()) {
      key = index->get<long long>();
    } else if (!id.empty() && !m_seen_ids.contains(id)) {
      key = static_cast<long long>(m_tools.size()); // a server that numbers no calls
    }
    m_last_tool = key;
    const json* function = member(call, "function");
    const json no_function = json::object();
    const json& fields = function != nullptr ? *function : no_function;
    auto it = m_tools.find(key);
    if (it == m_tools.end()) {
      ir::Event start = make_event(ir::Event::Kind::tool_call_start, part_index(Open::tool));
      start.id = id.empty() ? ir::make_call_id() : id;
      start.name = string_or_empty(fields, "name");
      m_seen_ids.insert(start.id);
      it = m_tools.emplace(key, start.index).first;
      out.push_back(std::move(start));
    }
    if (std::string arguments = arguments_text(fields); !arguments.empty()) {
      out.push_back(make_event(ir::Event::Kind::tool_args_delta, it->second, std::move(arguments)));
    }
  }

  // Return the index of the part `kind` extends: the open one when it is of that kind, else a new
  // one (each tool call opens its own).
  size_t part_index(Open kind) {
    if (kind == Open::tool || kind != m_open) {
      m_open = kind;
      m_open_index = m_next_index++;
    }
    return m_open_index;
  }

  void close(ir::Finish finish, std::vector<ir::Event>& out) {
    if (m_closed || !m_started) {
      m_closed = true;
      return;
    }
    m_closed = true;
    ir::Event end = make_event(ir::Event::Kind::finish);
    end.finish = finish;
    end.usage = m_usage;
    out.push_back(std::move(end));
  }

  SseParser m_parser;
  bool m_started = false;
  bool m_closed = false;
  std::optional<ir::Finish> m_finish;
  ir::Usage m_usage;
  Open m_open = Open::none;
  size_t m_open_index = 0;
  size_t m_next_index = 0;
  std::map<long long, size_t> m_tools; // the provider's tool_calls[].index -> part index
  std::set<std::string> m_seen_ids;
  long long m_last_tool = 0;
};

// Writes chat.completion.chunk events as the OpenAI SDKs read them.
class ChatStreamWriter final : public StreamWriter {
public:
  ChatStreamWriter(std::string model, bool usage) : m_model(std::move(model)), m_usage(usage) {}

  void write(const ir::Event& event, std::string& out) override {
    if (m_done) {
      return;
    }
    switch (event.kind) {
    case ir::Event::Kind::start:
      begin(event, out);
      break;
    case ir::Event::Kind::text_delta:
      begin({}, out);
      if (!event.text.empty()) {
        chunk({{"content", event.text}}, out);
      }
      break;
    case ir::Event::Kind::reasoning_delta:
      begin({}, out);
      if (!event.text.empty()) {
        chunk({{"reasoning_content", event.text}}, out);
      }
      break;
    case ir::Event::Kind::reasoning_signature:
      break; // no place for it in Chat Completions
    case ir::Event::Kind::tool_call_start:
      begin({}, out);
      start_call(event.index, ir::join_call_id(event.id, event.signature), event.name, out);
      break;
    case ir::Event::Kind::tool_args_delta:
      begin({}, out);
      if (!m_calls.contains(event.index)) {
        start_call(event.index, ir::make_call_id(), "", out);
      }
      if (!event.text.empty()) {
        chunk({{"tool_calls",
                {{{"index", m_calls[event.index]}, {"function", {{"arguments", event.text}}}}}}},
              out);
      }
      break;
    case ir::Event::Kind::finish:
      end(event.finish, event.usage, out);
      break;
    case ir::Event::Kind::error:
      out += "data: " +
             error_body(Protocol::openai,
                        error_kind_for_status(event.status != 0 ? event.status : 500),
                        "upstream_error", event.text) +
             "\n\n";
      m_done = true;
      break;
    }
  }

  void finish(std::string& out) override {
    if (!m_done) {
      end(ir::Finish::stop, {}, out);
    }
  }

private:
  // Open the stream with its first chunk, once.
  void begin(const ir::Event& start, std::string& out) {
    if (m_started) {
      return;
    }
    m_started = true;
    m_id = start.id.empty() ? make_completion_id() : start.id;
    if (!start.model.empty()) {
      m_model = start.model;
    }
    m_start_usage = start.usage;
    chunk({{"role", "assistant"}, {"content", ""}}, out);
  }

  void start_call(size_t index, const std::string& id, const std::string& name, std::string& out) {
    const size_t number = m_call_count++;
    m_calls[index] = number;
    chunk({{"tool_calls",
            {{{"index", number},
              {"id", id},
              {"type", "function"},
              {"function", {{"name", name}, {"arguments", ""}}}}}}},
          out);
  }

  // Close the stream: the finish reason, the usage (input counts known at the start fill those
  // the finish left at 0) and [DONE].
  void end(ir::Finish finish, ir::Usage usage, std::string& out) {
    begin({}, out);
    if (usage.input == 0) {
      usage.input = m_start_usage.input;
      usage.cached = usage.cached == 0 ? m_start_usage.cached : usage.cached;
    }
    chunk(json::object(), out, finish_text(finish));
    if (m_usage) {
      json last = envelope();
      last["choices"] = json::array();
      last["usage"] = usage_json(usage);
      out += "data: " + dump(last) + "\n\n";
    }
    out += "data: [DONE]\n\n";
    m_done = true;
  }

  json envelope() const {
    return {{"id", m_id},
            {"object", "chat.completion.chunk"},
            {"created", m_created},
            {"model", m_model}};
  }

  void chunk(json delta, std::string& out, const char* finish_reason = nullptr) {
    json body = envelope();
    body["choices"] = {
        {{"index", 0},
         {"delta", std::move(delta)},
         {"finish_reason", finish_reason != nullptr ? json(finish_reason) : json(nullptr)}}};
    out += "data: " + dump(body) + "\n\n";
  }

  std::string m_model;
  bool m_usage; // the client asked for the usage chunk
  std::string m_id;
  long long m_created = wire::unix_now();
  bool m_started = false;
  bool m_done = false;
  ir::Usage m_start_usage;
  std::map<size_t, size_t> m_calls; // part index -> tool_calls[].index
  size_t m_call_count = 0;
};

class OpenAiChat final : public Family {
public:
  ir::Conversation read_request(const json& body, const RequestSite& site) const override {
    if (!body.is_object()) {
      throw std::invalid_argument("the request body must be a JSON object");
    }
    const json* messages = member(body, "messages");
    if (messages == nullptr || !messages->is_array()) {
      throw std::invalid_argument("'messages' must be an array");
    }
    ir::Conversation out;
    out.model = string_member(body, "model");
    if (out.model.empty()) {
      out.model = site.model;
    }
    read_options(body, out);
    read_messages(*messages, out);
    return out;
  }

  WireRequest write_request(const ir::Conversation& conversation) const override {
    const bool reasoning_model = wire::openai_reasoning_model(conversation.model);
    json messages = json::array();
    if (!conversation.system.empty()) {
      messages.push_back({{"role", "system"}, {"content", conversation.system}});
    }
    for (const ir::Message& message : conversation.messages) {
      if (message.role == ir::Role::user) {
        write_user(message, messages);
      } else {
        write_assistant(message, messages);
      }
    }
    json body = {{"model", conversation.model}, {"messages", std::move(messages)}};
    if (!conversation.tools.empty()) {
      json tools = json::array();
      for (const ir::Tool& tool : conversation.tools) {
        json function = {
            {"name", tool.name},
            {"parameters", tool.parameters.is_null() ? json::object() : tool.parameters}};
        if (!tool.description.empty()) {
          function["description"] = tool.description;
        }
        tools.push_back({{"type", "function"}, {"function", std::move(function)}});
      }
      body["tools"] = std::move(tools);
      // OpenAI refuses both without tools.
      if (json choice = tool_choice_json(conversation.tool_choice); !choice.is_null()) {
        body["tool_choice"] = std::move(choice);
      }
      if (conversation.parallel_tool_calls) {
        body["parallel_tool_calls"] = *conversation.parallel_tool_calls;
      }
    }
    if (conversation.max_tokens) {
      body[reasoning_model ? "max_completion_tokens" : "max_tokens"] = *conversation.max_tokens;
    }
    // Reasoning models refuse sampling settings other than their own; others refuse an effort.
    if (reasoning_model) {
      if (const std::string effort = write_effort(conversation); !effort.empty()) {
        body["reasoning_effort"] = effort;
      }
    } else {
      if (conversation.temperature) {
        body["temperature"] = *conversation.temperature;
      }
      if (conversation.top_p) {
        body["top_p"] = *conversation.top_p;
      }
    }
    if (!conversation.stop.empty()) {
      body["stop"] = conversation.stop;
    }
    if (json format = format_json(conversation.format); !format.is_null()) {
      body["response_format"] = std::move(format);
    }
    if (conversation.stream) {
      body["stream"] = true;
      body["stream_options"] = {{"include_usage", true}};
    }
    return {std::string(k_path), dump(body)};
  }

  ir::Answer read_answer(const json& body) const override {
    const json* choices = member(body, "choices");
    if (choices == nullptr || !choices->is_array()) {
      throw std::invalid_argument("a chat completion has a 'choices' array");
    }
    ir::Answer out;
    out.id = string_member(body, "id");
    out.model = string_member(body, "model");
    if (const json* usage = member(body, "usage"); usage != nullptr && usage->is_object()) {
      out.usage = read_usage(*usage);
    }
    if (choices->empty()) {
      return out;
    }
    const json* found = member((*choices)[0], "message");
    if (found == nullptr || !found->is_object()) {
      throw std::invalid_argument("a chat completion choice has a 'message' object");
    }
    json message = *found;
    // A legacy function call is a tool call without an id.
    if (const json* legacy = member(message, "function_call")) {
      message["tool_calls"] =
          json::array({{{"id", ir::make_call_id()}, {"type", "function"}, {"function", *legacy}}});
    }
    std::map<std::string, std::string> names;
    out.parts = assistant_message(message, false, names).parts;
    out.finish = read_finish(string_member((*choices)[0], "finish_reason"));
    if (!string_member(message, "refusal").empty()) {
      out.finish = ir::Finish::content_filter;
    }
    const bool has_calls = std::any_of(out.parts.begin(), out.parts.end(), [](const ir::Part& p) {
      return p.kind == ir::Part::Kind::tool_call;
    });
    // Some servers (older Ollama) say "stop" after tool calls; the client must still run them.
    if (has_calls && out.finish == ir::Finish::stop) {
      out.finish = ir::Finish::tool_calls;
    }
    return out;
  }

  std::string write_answer(const ir::Answer& answer,
                           const ir::Conversation& request) const override {
    json calls = json::array();
    std::string reasoning;
    for (const ir::Part& part : answer.parts) {
      if (part.kind == ir::Part::Kind::tool_call) {
        calls.push_back(
            {{"id", ir::join_call_id(part.call.id, part.call.signature)},
             {"type", "function"},
             {"function", {{"name", part.call.name}, {"arguments", call_arguments(part.call)}}}});
      } else if (part.kind == ir::Part::Kind::reasoning) {
        reasoning += part.reasoning.text;
      }
    }
    const std::string text = ir::joined_text(answer.parts);
    json message = {{"role", "assistant"},
                    {"content", text.empty() && !calls.empty() ? json(nullptr) : json(text)},
                    {"refusal", nullptr}};
    if (!reasoning.empty()) {
      message["reasoning_content"] = reasoning; // DeepSeek's field; other clients ignore it
    }
    if (!calls.empty()) {
      message["tool_calls"] = std::move(calls);
    }
    const json body = {{"id", answer.id.empty() ? make_completion_id() : answer.id},
                       {"object", "chat.completion"},
                       {"created", wire::unix_now()},
                       {"model", answer.model.empty() ? request.model : answer.model},
                       {"choices",
                        {{{"index", 0},
                          {"message", std::move(message)},
                          {"logprobs", nullptr},
                          {"finish_reason", finish_text(answer.finish)}}}},
                       {"usage", usage_json(answer.usage)}};
    return dump(body);
  }

  std::unique_ptr<StreamReader> stream_reader() const override {
    return std::make_unique<ChatStreamReader>();
  }

  std::unique_ptr<StreamWriter> stream_writer(const ir::Conversation& request,
                                              const RequestSite& /*site*/) const override {
    return std::make_unique<ChatStreamWriter>(request.model, request.stream_usage);
  }

  std::string read_error_message(const json& body) const override { return error_text(body); }

  std::optional<ir::Usage> read_event_usage(const json& event) const override {
    // The last chunk, with stream_options.include_usage.
    const json* usage = member(event, "usage");
    if (usage == nullptr || !usage->is_object()) {
      return std::nullopt;
    }
    return read_usage(*usage);
  }
};

} // namespace

const Family& openai_chat_family() {
  static const OpenAiChat family;
  return family;
}

} // namespace agproxy
