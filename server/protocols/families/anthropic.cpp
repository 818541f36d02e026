// The Anthropic Messages family (POST /v1/messages): requests, answers and event streams read into
// and written from the shared representation (ir.hpp).

#include "server/protocols/families/wire.hpp"
#include "server/protocols/family.hpp"
#include "server/protocols/sse.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

namespace agproxy {

namespace {

using wire::arguments_object;
using wire::dump;
using wire::member;
using wire::valid_utf8;

using ir::json;

// Anthropic requires max_tokens; used when the client sent none (OpenAI and Gemini make it
// optional). Large enough for a long answer, small enough for every current Claude model.
constexpr long long k_default_max_tokens = 8192;

// The largest max_tokens agproxy chooses when it must make room for a thinking budget: Claude
// Opus 4 and 4.1 take no more.
constexpr long long k_max_default_tokens = 32000;

// The smallest thinking budget Anthropic accepts.
constexpr long long k_min_budget_tokens = 1024;

// Thinking budgets for an OpenAI-style reasoning effort sent without a budget.
constexpr long long k_budget_minimal = 1024;
constexpr long long k_budget_low = 2048;
constexpr long long k_budget_medium = 8192;
constexpr long long k_budget_high = 24576;

// With thinking on, Anthropic rejects a top_p below this.
constexpr double k_min_top_p_with_thinking = 0.95;

// Anthropic structured outputs carry no schema name; other families require one.
constexpr const char* k_schema_name = "response";

// Anthropic has no JSON mode without a schema; this instruction is the documented substitute.
constexpr const char* k_json_object_instruction = "Respond with a single JSON object.";

// Return a new message id ("msg_" and 24 random letters and digits).
std::string make_message_id() {
  return wire::make_id("msg_");
}

[[noreturn]] void malformed(const std::string& field, const char* what) {
  throw std::invalid_argument(field + " " + what);
}

[[noreturn]] void untranslatable(const std::string& field, const std::string& what) {
  throw ir::Untranslatable(field,
                           field + " (" + what + ") cannot be translated to another API family");
}

// Return string member `key` of `object` ("" when absent); `where` names `object` in errors.
std::string string_member(const json& object, const char* key, const std::string& where) {
  const json* value = member(object, key);
  if (value == nullptr) {
    return "";
  }
  if (!value->is_string()) {
    malformed(where + "." + key, "is not a string");
  }
  return value->get<std::string>();
}

// Return string member `key` of a provider's `object`, "" when it is absent or not a string.
std::string text_of(const json& object, const char* key) {
  const json* value = member(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

std::optional<long long> integer_member(const json& object, const char* key,
                                        const std::string& where) {
  const json* value = member(object, key);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!value->is_number_integer()) {
    malformed(where + key, "is not an integer");
  }
  return value->get<long long>();
}

std::optional<double> number_member(const json& object, const char* key) {
  const json* value = member(object, key);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!value->is_number()) {
    malformed(key, "is not a number");
  }
  return value->get<double>();
}

// Return token count `key` of a provider's usage object, 0 when absent or not a count.
long long count(const json& usage, const char* key) {
  const json* value = member(usage, key);
  return value != nullptr && value->is_number_integer() ? std::max(0LL, value->get<long long>())
                                                        : 0;
}

// Return the usage of a provider's usage object: Anthropic counts cache reads and writes apart
// from input_tokens, the representation counts them in.
ir::Usage read_usage(const json& usage) {
  ir::Usage out;
  out.cached = count(usage, "cache_read_input_tokens");
  out.input =
      count(usage, "input_tokens") + out.cached + count(usage, "cache_creation_input_tokens");
  out.output = count(usage, "output_tokens");
  return out;
}

json write_usage(const ir::Usage& usage) {
  return {{"input_tokens", std::max(0LL, usage.input - usage.cached)},
          {"output_tokens", usage.output},
          {"cache_read_input_tokens", usage.cached},
          {"cache_creation_input_tokens", 0}};
}

ir::Finish read_stop_reason(const std::string& reason) {
  if (reason == "max_tokens" || reason == "model_context_window_exceeded") {
    return ir::Finish::length;
  }
  if (reason == "tool_use") {
    return ir::Finish::tool_calls;
  }
  if (reason == "refusal") {
    return ir::Finish::content_filter;
  }
  return ir::Finish::stop; // end_turn, stop_sequence, pause_turn
}

// Return the stop reason of `finish`; a reply that called tools ends with tool_use whatever the
// provider said, as Anthropic clients run the tools only then.
std::string write_stop_reason(ir::Finish finish, bool called_tools) {
  switch (finish) {
  case ir::Finish::length:
    return "max_tokens";
  case ir::Finish::tool_calls:
    return "tool_use";
  case ir::Finish::content_filter:
    return "refusal";
  case ir::Finish::error: // a cut reply: its tool calls may be incomplete
    return "end_turn";
  case ir::Finish::stop:
    break;
  }
  return called_tools ? "tool_use" : "end_turn";
}

// Return the HTTP status of an Anthropic error type.
int status_of_error_type(const std::string& type) {
  static const std::unordered_map<std::string, int> statuses = {
      {"invalid_request_error", 400},
      {"authentication_error", 401},
      {"billing_error", 402},
      {"permission_error", 403},
      {"not_found_error", 404},
      {"request_too_large", 413},
      {"rate_limit_error", 429},
      {"api_error", 500},
      {"timeout_error", 504},
      // Anthropic's own 529 is not a status clients and retry logic know; 503 means the same.
      {"overloaded_error", 503}};
  const auto it = statuses.find(type);
  return it == statuses.end() ? 500 : it->second;
}

std::string error_type_of_status(int status) {
  switch (status) {
  case 400:
    return "invalid_request_error";
  case 401:
    return "authentication_error";
  case 402:
    return "billing_error";
  case 403:
    return "permission_error";
  case 404:
    return "not_found_error";
  case 413:
    return "request_too_large";
  case 429:
    return "rate_limit_error";
  case 503:
  case 529:
    return "overloaded_error";
  case 504:
    return "timeout_error";
  default:
    return "api_error";
  }
}

ir::Event make_event(ir::Event::Kind kind, size_t index = 0) {
  ir::Event event;
  event.kind = kind;
  event.index = index;
  return event;
}

// Reading a client's request.

ir::Image read_image(const json& block, const std::string& where) {
  const json* source = member(block, "source");
  if (source == nullptr || !source->is_object()) {
    malformed(where + ".source", "is not an object");
  }
  const std::string type = string_member(*source, "type", where + ".source");
  ir::Image image;
  if (type == "base64") {
    image.media_type = string_member(*source, "media_type", where + ".source");
    image.data = string_member(*source, "data", where + ".source");
  } else if (type == "url") {
    image.url = string_member(*source, "url", where + ".source");
  } else {
    untranslatable(where + ".source.type", "image source \"" + type + "\"");
  }
  return image;
}

// Read the content of tool_result `block` into `result`: a string, or its text blocks joined by
// newlines, and its images.
void read_tool_result_content(const json& block, const std::string& where, ir::ToolResult& result) {
  const json* content = member(block, "content");
  if (content == nullptr) {
    return;
  }
  if (content->is_string()) {
    result.content = content->get<std::string>();
    return;
  }
  if (!content->is_array()) {
    malformed(where + ".content", "is neither a string nor an array");
  }
  std::string text;
  for (size_t k = 0; k < content->size(); ++k) {
    const json& item = (*content)[k];
    const std::string item_where = where + ".content[" + std::to_string(k) + "]";
    if (!item.is_object()) {
      malformed(item_where, "is not an object");
    }
    const std::string type = string_member(item, "type", item_where);
    if (type == "text") {
      text += (text.empty() ? "" : "\n") + string_member(item, "text", item_where);
    } else if (type == "image") {
      result.images.push_back(read_image(item, item_where));
    } else {
      untranslatable(item_where + ".type", "\"" + type + "\"");
    }
  }
  result.content = std::move(text);
}

// Read content block `block` of a message into `parts`; `names` maps the tool_use ids seen so far
// to their tool names.
void read_block(const json& block, const std::string& where,
                std::unordered_map<std::string, std::string>& names, std::vector<ir::Part>& parts) {
  if (!block.is_object()) {
    malformed(where, "is not an object");
  }
  const std::string type = string_member(block, "type", where);
  ir::Part part;
  if (type == "text") {
    part.text = string_member(block, "text", where);
    if (part.text.empty()) {
      return;
    }
  } else if (type == "image") {
    part.kind = ir::Part::Kind::image;
    part.image = read_image(block, where);
  } else if (type == "tool_use") {
    part.kind = ir::Part::Kind::tool_call;
    std::tie(part.call.id, part.call.signature) =
        ir::split_call_id(string_member(block, "id", where));
    part.call.name = string_member(block, "name", where);
    const json* input = member(block, "input");
    if (input != nullptr && !input->is_object()) {
      malformed(where + ".input", "is not an object");
    }
    part.call.arguments = input == nullptr ? "{}" : dump(*input);
    names[part.call.id] = part.call.name;
  } else if (type == "tool_result") {
    part.kind = ir::Part::Kind::tool_result;
    part.result.id = ir::split_call_id(string_member(block, "tool_use_id", where)).first;
    const auto name = names.find(part.result.id);
    part.result.name = name == names.end() ? "" : name->second;
    read_tool_result_content(block, where, part.result);
    const json* is_error = member(block, "is_error");
    part.result.is_error = is_error != nullptr && is_error->is_boolean() && is_error->get<bool>();
  } else if (type == "thinking") {
    part.kind = ir::Part::Kind::reasoning;
    part.reasoning.text = string_member(block, "thinking", where);
    part.reasoning.signature = string_member(block, "signature", where);
  } else if (type == "redacted_thinking") {
    part.kind = ir::Part::Kind::reasoning;
    part.reasoning.redacted = true;
    part.reasoning.signature = string_member(block, "data", where);
  } else {
    // Documents, search results and server tool blocks have no counterpart elsewhere.
    untranslatable(where + ".type", "\"" + type + "\"");
  }
  parts.push_back(std::move(part));
}

std::string read_system(const json& body) {
  const json* system = member(body, "system");
  if (system == nullptr) {
    return "";
  }
  if (system->is_string()) {
    return system->get<std::string>();
  }
  if (!system->is_array()) {
    malformed("system", "is neither a string nor an array");
  }
  std::string text;
  for (size_t k = 0; k < system->size(); ++k) {
    const std::string where = "system[" + std::to_string(k) + "]";
    const std::string block = string_member((*system)[k], "text", where);
    if (!block.empty()) {
      text += (text.empty() ? "" : "\n\n") + block;
    }
  }
  return text;
}

// Claude Code puts its environment notes in messages of role "system" after the user's turn;
// they are instructions, and go to the conversation's system text (`system`).
std::vector<ir::Message> read_messages(const json& body, std::string& system) {
  const json* messages = member(body, "messages");
  if (messages == nullptr || !messages->is_array()) {
    malformed("messages", "is not an array");
  }
  std::vector<ir::Message> out;
  std::unordered_map<std::string, std::string> names;
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& message = (*messages)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!message.is_object()) {
      malformed(where, "is not an object");
    }
    ir::Message read;
    const std::string role = string_member(message, "role", where);
    if (role == "system") {
      const json* content = member(message, "content");
      const std::string text = content == nullptr     ? std::string()
                               : content->is_string() ? content->get<std::string>()
                                                      : read_system(json{{"system", *content}});
      if (!text.empty()) {
        system += (system.empty() ? "" : "\n\n") + text;
      }
      continue;
    }
    if (role == "assistant") {
      read.role = ir::Role::assistant;
    } else if (role != "user") {
      malformed(where + ".role", "is neither user nor assistant");
    }
    const json* content = member(message, "content");
    if (content != nullptr && content->is_string()) {
      if (!content->get<std::string>().empty()) {
        ir::Part part;
        part.text = content->get<std::string>();
        read.parts.push_back(std::move(part));
      }
    } else if (content != nullptr && content->is_array()) {
      for (size_t j = 0; j < content->size(); ++j) {
        read_block((*content)[j], where + ".content[" + std::to_string(j) + "]", names, read.parts);
      }
    } else {
      malformed(where + ".content", "is neither a string nor an array");
    }
    out.push_back(std::move(read));
  }
  return out;
}

std::vector<ir::Tool> read_tools(const json& body) {
  std::vector<ir::Tool> out;
  const json* tools = member(body, "tools");
  if (tools == nullptr) {
    return out;
  }
  if (!tools->is_array()) {
    malformed("tools", "is not an array");
  }
  for (size_t k = 0; k < tools->size(); ++k) {
    const json& tool = (*tools)[k];
    const std::string where = "tools[" + std::to_string(k) + "]";
    if (!tool.is_object()) {
      malformed(where, "is not an object");
    }
    // Server tools (web search, bash, text editor, ...) run at Anthropic; elsewhere the model
    // simply does without them.
    const std::string type = string_member(tool, "type", where);
    if (!type.empty() && type != "custom") {
      continue;
    }
    ir::Tool read;
    read.name = string_member(tool, "name", where);
    if (read.name.empty()) {
      malformed(where + ".name", "is missing");
    }
    read.description = string_member(tool, "description", where);
    if (const json* schema = member(tool, "input_schema")) {
      if (!schema->is_object()) {
        malformed(where + ".input_schema", "is not an object");
      }
      read.parameters = *schema;
    }
    out.push_back(std::move(read));
  }
  return out;
}

void read_tool_choice(const json& body, ir::Conversation& conversation) {
  const json* choice = member(body, "tool_choice");
  if (choice == nullptr) {
    return;
  }
  if (!choice->is_object()) {
    malformed("tool_choice", "is not an object");
  }
  const std::string type = string_member(*choice, "type", "tool_choice");
  using Mode = ir::ToolChoice::Mode;
  if (type == "auto") {
    conversation.tool_choice.mode = Mode::automatic;
  } else if (type == "any") {
    conversation.tool_choice.mode = Mode::required;
  } else if (type == "none") {
    conversation.tool_choice.mode = Mode::none;
  } else if (type == "tool") {
    conversation.tool_choice.mode = Mode::tool;
    conversation.tool_choice.name = string_member(*choice, "name", "tool_choice");
  } else {
    malformed("tool_choice.type", "is not auto, any, none or tool");
  }
  const json* disable = member(*choice, "disable_parallel_tool_use");
  if (disable != nullptr && disable->is_boolean() && disable->get<bool>()) {
    conversation.parallel_tool_calls = false;
  }
}

void read_reasoning(const json& body, ir::Conversation& conversation) {
  const json* thinking = member(body, "thinking");
  if (thinking == nullptr) {
    return;
  }
  if (!thinking->is_object()) {
    malformed("thinking", "is not an object");
  }
  const std::string type = string_member(*thinking, "type", "thinking");
  if (type == "enabled") {
    conversation.reasoning_budget = integer_member(*thinking, "budget_tokens", "thinking.");
  } else if (type != "disabled") {
    // Adaptive thinking lets the model choose; output_config.effort, when given, says how hard.
    const json* config = member(body, "output_config");
    const std::string effort = config != nullptr && config->is_object()
                                   ? string_member(*config, "effort", "output_config")
                                   : "";
    conversation.reasoning_effort = effort.empty() ? "medium" : effort;
  }
}

// Structured outputs: `output_config.format` (generally available) or the beta `output_format`.
void read_output_format(const json& body, ir::Conversation& conversation) {
  const json* format = member(body, "output_format");
  if (const json* config = member(body, "output_config"); config != nullptr && format == nullptr) {
    format = member(*config, "format");
  }
  if (format == nullptr) {
    return;
  }
  if (!format->is_object()) {
    malformed("output_format", "is not an object");
  }
  const std::string type = string_member(*format, "type", "output_format");
  if (type != "json_schema") {
    untranslatable("output_format.type", "\"" + type + "\"");
  }
  conversation.format.kind = ir::OutputFormat::Kind::json_schema;
  conversation.format.name = k_schema_name;
  const json* schema = member(*format, "schema");
  conversation.format.schema = schema != nullptr ? *schema : json::object();
}

// Writing a request for an Anthropic provider.

struct Thinking {
  bool enabled = false;
  long long budget = 0;
};

// Return whether the last assistant turn of `messages` called a tool without a signed thinking
// block: with thinking on, Anthropic rejects such a turn (a history made by another family).
bool last_tool_turn_unsigned(const std::vector<ir::Message>& messages) {
  bool called = false, signed_reasoning = false;
  bool in_turn = false;
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->parts.empty()) {
      continue;
    }
    if (it->role != ir::Role::assistant) {
      if (in_turn) {
        break;
      }
      continue;
    }
    in_turn = true;
    for (const ir::Part& part : it->parts) {
      called = called || part.kind == ir::Part::Kind::tool_call;
      signed_reasoning = signed_reasoning || (part.kind == ir::Part::Kind::reasoning &&
                                              !part.reasoning.signature.empty());
    }
  }
  return called && !signed_reasoning;
}

Thinking thinking_of(const ir::Conversation& conversation) {
  Thinking thinking;
  if (conversation.reasoning_budget) {
    // Gemini's budget 0 turns thinking off and -1 lets the model choose.
    if (*conversation.reasoning_budget == 0) {
      return thinking;
    }
    thinking.budget =
        *conversation.reasoning_budget < 0 ? k_budget_medium : *conversation.reasoning_budget;
  } else if (conversation.reasoning_effort.empty() || conversation.reasoning_effort == "none") {
    return thinking;
  } else if (conversation.reasoning_effort == "minimal") {
    thinking.budget = k_budget_minimal;
  } else if (conversation.reasoning_effort == "low") {
    thinking.budget = k_budget_low;
  } else if (conversation.reasoning_effort == "high") {
    thinking.budget = k_budget_high;
  } else {
    thinking.budget = k_budget_medium;
  }
  // Anthropic refuses thinking with a forced tool choice; the forced tool matters more.
  using Mode = ir::ToolChoice::Mode;
  const bool forced =
      !conversation.tools.empty() && (conversation.tool_choice.mode == Mode::tool ||
                                      conversation.tool_choice.mode == Mode::required);
  thinking.enabled = !forced && !last_tool_turn_unsigned(conversation.messages);
  thinking.budget = std::max(thinking.budget, k_min_budget_tokens);
  return thinking;
}

// The blocks of one Anthropic message: Anthropic wants thinking first in an assistant message and
// tool results first in a user message, whatever the order elsewhere.
struct WireMessage {
  ir::Role role = ir::Role::user;
  json first = json::array();
  json rest = json::array();
};

json image_block(const ir::Image& image) {
  if (!image.data.empty()) {
    return {
        {"type", "image"},
        {"source", {{"type", "base64"}, {"media_type", image.media_type}, {"data", image.data}}}};
  }
  return {{"type", "image"}, {"source", {{"type", "url"}, {"url", image.url}}}};
}

void write_part(const ir::Part& part, const Thinking& thinking, WireMessage& message) {
  switch (part.kind) {
  case ir::Part::Kind::text:
    if (!part.text.empty()) { // Anthropic rejects empty text blocks
      message.rest.push_back({{"type", "text"}, {"text", part.text}});
    }
    break;
  case ir::Part::Kind::image:
    if (!part.image.data.empty() || !part.image.url.empty()) {
      message.rest.push_back(image_block(part.image));
    }
    break;
  case ir::Part::Kind::tool_call:
    message.rest.push_back({{"type", "tool_use"},
                            {"id", part.call.id},
                            {"name", part.call.name},
                            {"input", arguments_object(part.call.arguments)}});
    break;
  case ir::Part::Kind::tool_result: {
    json block = {{"type", "tool_result"}, {"tool_use_id", part.result.id}};
    if (!part.result.images.empty()) {
      json content = json::array();
      if (!part.result.content.empty()) {
        content.push_back({{"type", "text"}, {"text", part.result.content}});
      }
      for (const ir::Image& image : part.result.images) {
        content.push_back(image_block(image));
      }
      block["content"] = std::move(content);
    } else if (!part.result.content.empty()) {
      block["content"] = part.result.content;
    }
    if (part.result.is_error) {
      block["is_error"] = true;
    }
    message.first.push_back(std::move(block));
    break;
  }
  case ir::Part::Kind::reasoning:
    // Anthropic checks the signature of every thinking block it gets back and refuses unsigned
    // ones; without thinking on, past thinking is of no use to it.
    if (!thinking.enabled || part.reasoning.signature.empty()) {
      break;
    }
    if (part.reasoning.redacted) {
      message.first.push_back({{"type", "redacted_thinking"}, {"data", part.reasoning.signature}});
    } else {
      message.first.push_back({{"type", "thinking"},
                               {"thinking", part.reasoning.text},
                               {"signature", part.reasoning.signature}});
    }
    break;
  }
}

json write_messages(const std::vector<ir::Message>& messages, const Thinking& thinking) {
  std::vector<WireMessage> wire;
  for (const ir::Message& message : messages) {
    WireMessage written{.role = message.role};
    for (const ir::Part& part : message.parts) {
      write_part(part, thinking, written);
    }
    if (written.first.empty() && written.rest.empty()) {
      continue; // Anthropic rejects empty content
    }
    // Anthropic requires user and assistant turns to alternate.
    if (!wire.empty() && wire.back().role == written.role) {
      wire.back().first.insert(wire.back().first.end(), written.first.begin(), written.first.end());
      wire.back().rest.insert(wire.back().rest.end(), written.rest.begin(), written.rest.end());
    } else {
      wire.push_back(std::move(written));
    }
  }
  json out = json::array();
  // Anthropic requires the first message to be the user's; a neutral one stands in.
  if (!wire.empty() && wire.front().role == ir::Role::assistant) {
    out.push_back({{"role", "user"}, {"content", "."}});
  }
  for (WireMessage& message : wire) {
    message.first.insert(message.first.end(), message.rest.begin(), message.rest.end());
    out.push_back({{"role", message.role == ir::Role::user ? "user" : "assistant"},
                   {"content", std::move(message.first)}});
  }
  return out;
}

void write_tools(const ir::Conversation& conversation, json& body) {
  if (conversation.tools.empty()) {
    return; // Anthropic rejects a tool_choice without tools
  }
  json tools = json::array();
  for (const ir::Tool& tool : conversation.tools) {
    json written = {{"name", tool.name}};
    if (!tool.description.empty()) {
      written["description"] = tool.description;
    }
    // Anthropic requires an object schema; families that allow none get the empty one.
    written["input_schema"] = tool.parameters.is_object() && !tool.parameters.empty()
                                  ? tool.parameters
                                  : json{{"type", "object"}, {"properties", json::object()}};
    tools.push_back(std::move(written));
  }
  body["tools"] = std::move(tools);
  using Mode = ir::ToolChoice::Mode;
  json choice;
  switch (conversation.tool_choice.mode) {
  case Mode::unset:
  case Mode::automatic:
    choice = {{"type", "auto"}};
    break;
  case Mode::none:
    choice = {{"type", "none"}};
    break;
  case Mode::required:
    choice = {{"type", "any"}};
    break;
  case Mode::tool:
    choice = {{"type", "tool"}, {"name", conversation.tool_choice.name}};
    break;
  }
  if (conversation.parallel_tool_calls == false && conversation.tool_choice.mode != Mode::none) {
    choice["disable_parallel_tool_use"] = true;
  }
  if (conversation.tool_choice.mode != Mode::unset ||
      choice.contains("disable_parallel_tool_use")) {
    body["tool_choice"] = std::move(choice);
  }
}

void write_sampling(const ir::Conversation& conversation, const Thinking& thinking, json& body) {
  if (thinking.enabled) {
    // Anthropic rejects temperature and top_k with thinking on, and top_p below 0.95.
    if (conversation.top_p && *conversation.top_p >= k_min_top_p_with_thinking) {
      body["top_p"] = *conversation.top_p;
    }
    return;
  }
  if (conversation.temperature) {
    // OpenAI allows up to 2, Anthropic up to 1.
    body["temperature"] = std::clamp(*conversation.temperature, 0.0, 1.0);
  } else if (conversation.top_p) {
    // Current Claude models refuse temperature and top_p together: temperature wins.
    body["top_p"] = *conversation.top_p;
  }
  if (conversation.top_k) {
    body["top_k"] = *conversation.top_k;
  }
}

// Reading a provider's event stream.

class AnthropicStreamReader : public StreamReader {
public:
  void feed(std::string_view bytes, std::vector<ir::Event>& out) override {
    std::vector<SseEvent> events;
    m_parser.feed(bytes, events);
    for (const SseEvent& event : events) {
      handle(event, out);
    }
  }

  void finish(std::vector<ir::Event>& out) override {
    std::vector<SseEvent> events;
    m_parser.finish(events);
    for (const SseEvent& event : events) {
      handle(event, out);
    }
    if (!m_done && m_started) {
      // No message_stop: a stop reason seen before it stands, else the stream was cut.
      emit_finish(m_stop ? *m_stop : ir::Finish::error, out);
    }
  }

private:
  // One content block of the message; its part index is given at its first event, so that an
  // empty block leaves no gap in the numbering.
  struct Block {
    bool ignored = false;
    std::optional<size_t> index;
  };

  void handle(const SseEvent& sse, std::vector<ir::Event>& out) {
    if (m_done) {
      return;
    }
    const json data = json::parse(valid_utf8(sse.data), nullptr, false);
    if (!data.is_object()) {
      return;
    }
    const json* type_field = member(data, "type");
    const std::string type = type_field != nullptr && type_field->is_string()
                                 ? type_field->get<std::string>()
                                 : sse.name;
    if (type == "message_start") {
      message_start(data, out);
    } else if (type == "content_block_start") {
      block_start(data, out);
    } else if (type == "content_block_delta") {
      block_delta(data, out);
    } else if (type == "message_delta") {
      message_delta(data);
    } else if (type == "message_stop") {
      emit_finish(m_stop.value_or(ir::Finish::stop), out);
    } else if (type == "error") {
      error(data, out);
    }
    // ping and content_block_stop carry nothing the representation needs.
  }

  void message_start(const json& data, std::vector<ir::Event>& out) {
    if (m_started) {
      return;
    }
    const json* message = member(data, "message");
    ir::Event event = make_event(ir::Event::Kind::start);
    if (message != nullptr) {
      event.id = text_of(*message, "id");
      event.model = text_of(*message, "model");
      if (const json* usage = member(*message, "usage")) {
        m_usage = read_usage(*usage);
      }
    }
    event.usage.input = m_usage.input; // the output so far is not the reply's
    event.usage.cached = m_usage.cached;
    m_started = true;
    out.push_back(std::move(event));
  }

  void block_start(const json& data, std::vector<ir::Event>& out) {
    const json* block_json = member(data, "content_block");
    const std::optional<long long> position = block_index(data);
    if (block_json == nullptr || !position) {
      return;
    }
    Block& block = m_blocks[*position] = Block{};
    const std::string type = text_of(*block_json, "type");
    if (type == "text") {
      emit_delta(ir::Event::Kind::text_delta, block, text_of(*block_json, "text"), out);
    } else if (type == "thinking") {
      emit_delta(ir::Event::Kind::reasoning_delta, block, text_of(*block_json, "thinking"), out);
      emit_signature(block, text_of(*block_json, "signature"), false, out);
    } else if (type == "redacted_thinking") {
      emit_signature(block, text_of(*block_json, "data"), true, out);
    } else if (type == "tool_use") {
      ir::Event event = make_event(ir::Event::Kind::tool_call_start, index_of(block, out));
      event.id = text_of(*block_json, "id");
      event.name = text_of(*block_json, "name");
      out.push_back(std::move(event));
      const json* input = member(*block_json, "input");
      if (input != nullptr && input->is_object() && !input->empty()) {
        emit_delta(ir::Event::Kind::tool_args_delta, block, dump(*input), out);
      }
    } else {
      block.ignored = true; // server tool blocks, run and answered at Anthropic
    }
  }

  void block_delta(const json& data, std::vector<ir::Event>& out) {
    const json* delta = member(data, "delta");
    const std::optional<long long> position = block_index(data);
    if (delta == nullptr || !position) {
      return;
    }
    Block& block = m_blocks[*position];
    if (block.ignored) {
      return;
    }
    const std::string type = text_of(*delta, "type");
    if (type == "text_delta") {
      emit_delta(ir::Event::Kind::text_delta, block, text_of(*delta, "text"), out);
    } else if (type == "input_json_delta") {
      emit_delta(ir::Event::Kind::tool_args_delta, block, text_of(*delta, "partial_json"), out);
    } else if (type == "thinking_delta") {
      emit_delta(ir::Event::Kind::reasoning_delta, block, text_of(*delta, "thinking"), out);
    } else if (type == "signature_delta") {
      emit_signature(block, text_of(*delta, "signature"), false, out);
    }
  }

  // Usage in message_delta is cumulative; it may repeat the input counts of message_start.
  void message_delta(const json& data) {
    if (const json* delta = member(data, "delta")) {
      const std::string reason = text_of(*delta, "stop_reason");
      if (!reason.empty()) {
        m_stop = read_stop_reason(reason);
      }
    }
    if (const json* usage = member(data, "usage")) {
      const ir::Usage read = read_usage(*usage);
      m_usage.output = read.output;
      if (read.input > 0) {
        m_usage.input = read.input;
        m_usage.cached = read.cached;
      }
    }
  }

  void error(const json& data, std::vector<ir::Event>& out) {
    const json* error = member(data, "error");
    ir::Event event = make_event(ir::Event::Kind::error);
    event.text = error != nullptr ? text_of(*error, "message") : "";
    event.status = status_of_error_type(error != nullptr ? text_of(*error, "type") : "");
    m_done = true; // the provider ends the stream after an error
    out.push_back(std::move(event));
  }

  static std::optional<long long> block_index(const json& data) {
    const json* index = member(data, "index");
    return index != nullptr && index->is_number_integer()
               ? std::optional<long long>(index->get<long long>())
               : std::nullopt;
  }

  // Return the part index of `block`, giving it the next one (after the start event, should the
  // provider have sent content without message_start) at its first event.
  size_t index_of(Block& block, std::vector<ir::Event>& out) {
    if (!m_started) {
      m_started = true;
      out.push_back(make_event(ir::Event::Kind::start));
    }
    if (!block.index) {
      block.index = m_next_index++;
    }
    return *block.index;
  }

  void emit_delta(ir::Event::Kind kind, Block& block, std::string text,
                  std::vector<ir::Event>& out) {
    if (text.empty()) {
      return;
    }
    ir::Event event = make_event(kind, index_of(block, out));
    event.text = std::move(text);
    out.push_back(std::move(event));
  }

  void emit_signature(Block& block, std::string signature, bool redacted,
                      std::vector<ir::Event>& out) {
    if (signature.empty()) {
      return;
    }
    ir::Event event = make_event(ir::Event::Kind::reasoning_signature, index_of(block, out));
    event.text = std::move(signature);
    event.redacted = redacted;
    out.push_back(std::move(event));
  }

  void emit_finish(ir::Finish finish, std::vector<ir::Event>& out) {
    if (!m_started) {
      m_started = true;
      out.push_back(make_event(ir::Event::Kind::start));
    }
    ir::Event event = make_event(ir::Event::Kind::finish);
    event.finish = finish;
    event.usage = m_usage;
    m_done = true;
    out.push_back(std::move(event));
  }

  SseParser m_parser;
  std::map<long long, Block> m_blocks;
  size_t m_next_index = 0;
  bool m_started = false;
  bool m_done = false;
  std::optional<ir::Finish> m_stop;
  ir::Usage m_usage;
};

// Writing a client's event stream.

class AnthropicStreamWriter : public StreamWriter {
public:
  explicit AnthropicStreamWriter(std::string model) : m_model(std::move(model)) {}

  void write(const ir::Event& event, std::string& out) override {
    if (m_closed) {
      return;
    }
    switch (event.kind) {
    case ir::Event::Kind::start:
      start(event, out);
      break;
    case ir::Event::Kind::text_delta:
      if (!event.text.empty()) {
        open(Open::text, event.index, {{"type", "text"}, {"text", ""}}, out);
        delta(out, {{"type", "text_delta"}, {"text", event.text}});
      }
      break;
    case ir::Event::Kind::reasoning_delta:
      if (!event.text.empty()) {
        open(Open::thinking, event.index, empty_thinking_block(), out);
        delta(out, {{"type", "thinking_delta"}, {"thinking", event.text}});
      }
      break;
    case ir::Event::Kind::reasoning_signature:
      signature(event, out);
      break;
    case ir::Event::Kind::tool_call_start:
      tool_call_start(event, out);
      break;
    case ir::Event::Kind::tool_args_delta:
      tool_args(event, out);
      break;
    case ir::Event::Kind::finish:
      end(event.finish, event.usage.input > 0 ? event.usage : merged(event.usage), out);
      break;
    case ir::Event::Kind::error:
      error(event, out);
      break;
    }
  }

  void finish(std::string& out) override {
    if (!m_closed) {
      end(ir::Finish::stop, m_usage, out);
    }
  }

private:
  enum class Open : std::uint8_t { none, text, thinking, redacted, tool };

  static json empty_thinking_block() {
    return {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}};
  }

  static void emit(const char* name, const json& data, std::string& out) {
    out += "event: ";
    out += name;
    out += "\ndata: ";
    out += dump(data);
    out += "\n\n";
  }

  void start(const ir::Event& event, std::string& out) {
    if (m_started) {
      return;
    }
    m_usage = event.usage;
    begin(event.id, event.model, out);
  }

  void begin(const std::string& id, const std::string& model, std::string& out) {
    m_started = true;
    json usage = write_usage(m_usage);
    usage["output_tokens"] = 0;
    emit("message_start",
         {{"type", "message_start"},
          {"message",
           {{"id", id.empty() ? make_message_id() : id},
            {"type", "message"},
            {"role", "assistant"},
            {"model", model.empty() ? m_model : model},
            {"content", json::array()},
            {"stop_reason", nullptr},
            {"stop_sequence", nullptr},
            {"usage", std::move(usage)}}}},
         out);
  }

  // Return `usage` with the input counts of the start event when the finish event has none.
  ir::Usage merged(ir::Usage usage) const {
    usage.input = m_usage.input;
    usage.cached = m_usage.cached;
    return usage;
  }

  // Make part `index` of kind `kind` the open content block, closing another one first.
  void open(Open kind, size_t index, const json& block, std::string& out) {
    if (!m_started) {
      begin("", "", out);
    }
    if (m_open == kind && m_open_index == index) {
      return;
    }
    close(out);
    m_open = kind;
    m_open_index = index;
    emit("content_block_start",
         {{"type", "content_block_start"}, {"index", m_block}, {"content_block", block}}, out);
  }

  void close(std::string& out) {
    if (m_open == Open::none) {
      return;
    }
    emit("content_block_stop", {{"type", "content_block_stop"}, {"index", m_block}}, out);
    m_open = Open::none;
    ++m_block;
  }

  void delta(std::string& out, json delta) {
    emit("content_block_delta",
         {{"type", "content_block_delta"}, {"index", m_block}, {"delta", std::move(delta)}}, out);
  }

  // A signature ends the thinking block it belongs to; one that comes alone (Gemini's thought
  // signatures, OpenAI's encrypted reasoning) makes a thinking block with no text.
  void signature(const ir::Event& event, std::string& out) {
    if (event.text.empty()) {
      return;
    }
    if (event.redacted) {
      open(Open::redacted, event.index, {{"type", "redacted_thinking"}, {"data", event.text}}, out);
      close(out);
      return;
    }
    open(Open::thinking, event.index, empty_thinking_block(), out);
    delta(out, {{"type", "signature_delta"}, {"signature", event.text}});
  }

  void tool_call_start(const ir::Event& event, std::string& out) {
    const std::string id = event.id.empty() ? ir::make_call_id() : event.id;
    open(Open::tool, event.index,
         {{"type", "tool_use"},
          {"id", ir::join_call_id(id, event.signature)},
          {"name", event.name},
          {"input", json::object()}},
         out);
    m_called_tools = true;
    m_tool_indexes.insert(event.index);
  }

  // Arguments for a tool call that is not the open block: Anthropic cannot reopen a closed block,
  // so arguments of a call interleaved with another part are lost; a call never started gets a
  // block of its own.
  void tool_args(const ir::Event& event, std::string& out) {
    if (event.text.empty()) {
      return;
    }
    if (m_open != Open::tool || m_open_index != event.index) {
      if (m_tool_indexes.contains(event.index)) {
        return;
      }
      tool_call_start(make_event(ir::Event::Kind::tool_call_start, event.index), out);
    }
    delta(out, {{"type", "input_json_delta"}, {"partial_json", event.text}});
  }

  void end(ir::Finish finish, const ir::Usage& usage, std::string& out) {
    if (!m_started) {
      begin("", "", out);
    }
    close(out);
    json written = write_usage(usage);
    written.erase("cache_creation_input_tokens");
    emit(
        "message_delta",
        {{"type", "message_delta"},
         {"delta",
          {{"stop_reason", write_stop_reason(finish, m_called_tools)}, {"stop_sequence", nullptr}}},
         {"usage", std::move(written)}},
        out);
    emit("message_stop", {{"type", "message_stop"}}, out);
    m_closed = true;
  }

  // Anthropic's SDKs raise the error event as an exception; nothing may follow it.
  void error(const ir::Event& event, std::string& out) {
    emit("error",
         {{"type", "error"},
          {"error", {{"type", error_type_of_status(event.status)}, {"message", event.text}}}},
         out);
    m_closed = true;
  }

  std::string m_model;
  bool m_started = false;
  bool m_closed = false;
  bool m_called_tools = false;
  Open m_open = Open::none;
  size_t m_open_index = 0;
  // The Anthropic index of the open block, or of the next one.
  size_t m_block = 0;
  // The tool call parts given a block so far.
  std::set<size_t> m_tool_indexes;
  ir::Usage m_usage;
};

class AnthropicFamily : public Family {
public:
  ir::Conversation read_request(const json& body, const RequestSite& site) const override {
    if (!body.is_object()) {
      throw std::invalid_argument("the request body is not a JSON object");
    }
    ir::Conversation conversation;
    conversation.model = string_member(body, "model", "body");
    if (conversation.model.empty()) {
      conversation.model = site.model;
    }
    conversation.system = read_system(body);
    conversation.messages = read_messages(body, conversation.system);
    conversation.tools = read_tools(body);
    read_tool_choice(body, conversation);
    conversation.max_tokens = integer_member(body, "max_tokens", "");
    conversation.temperature = number_member(body, "temperature");
    conversation.top_p = number_member(body, "top_p");
    conversation.top_k = integer_member(body, "top_k", "");
    if (const json* stop = member(body, "stop_sequences")) {
      if (!stop->is_array()) {
        malformed("stop_sequences", "is not an array");
      }
      for (const json& sequence : *stop) {
        if (!sequence.is_string()) {
          malformed("stop_sequences", "holds a value that is not a string");
        }
        conversation.stop.push_back(sequence.get<std::string>());
      }
    }
    read_reasoning(body, conversation);
    read_output_format(body, conversation);
    const json* stream = member(body, "stream");
    conversation.stream = (stream != nullptr && stream->is_boolean() && stream->get<bool>()) ||
                          (stream == nullptr && site.stream);
    // metadata, context_management, service_tier, container, mcp_servers and cache_control only
    // tune the answer or name Anthropic-side state: dropped.
    return conversation;
  }

  WireRequest write_request(const ir::Conversation& conversation) const override {
    Thinking thinking = thinking_of(conversation);
    json body = {{"model", conversation.model}};
    long long max_tokens = conversation.max_tokens.value_or(k_default_max_tokens);
    // Anthropic counts thinking in max_tokens and requires room beyond the budget. A client's
    // max_tokens is its cap: the budget gives way (thinking goes off below Anthropic's least
    // budget); without one, the default grows, up to what every current model allows.
    if (thinking.enabled && max_tokens <= thinking.budget) {
      if (!conversation.max_tokens) {
        max_tokens = std::min(thinking.budget + k_default_max_tokens, k_max_default_tokens);
      }
      if (max_tokens <= thinking.budget) {
        thinking.budget = max_tokens - 1;
        thinking.enabled = thinking.budget >= k_min_budget_tokens;
      }
    }
    if (thinking.enabled) {
      body["thinking"] = {{"type", "enabled"}, {"budget_tokens", thinking.budget}};
    }
    body["max_tokens"] = max_tokens;
    std::string system = conversation.system;
    if (conversation.format.kind == ir::OutputFormat::Kind::json_object) {
      system += (system.empty() ? "" : "\n\n") + std::string(k_json_object_instruction);
    } else if (conversation.format.kind == ir::OutputFormat::Kind::json_schema) {
      // The generally available form; the beta output_format would need a beta header.
      body["output_config"] = {
          {"format", {{"type", "json_schema"}, {"schema", conversation.format.schema}}}};
    }
    if (!system.empty()) {
      body["system"] = system;
    }
    body["messages"] = write_messages(conversation.messages, thinking);
    write_tools(conversation, body);
    write_sampling(conversation, thinking, body);
    if (!conversation.stop.empty()) {
      body["stop_sequences"] = conversation.stop;
    }
    if (conversation.stream) {
      body["stream"] = true;
    }
    return {"/v1/messages", dump(body)};
  }

  ir::Answer read_answer(const json& body) const override {
    const json* content = member(body, "content");
    if (content == nullptr || !content->is_array()) {
      throw std::invalid_argument("the answer is not an Anthropic message");
    }
    ir::Answer answer;
    answer.id = text_of(body, "id");
    answer.model = text_of(body, "model");
    for (const json& block : *content) {
      const std::string type = text_of(block, "type");
      ir::Part part;
      if (type == "text") {
        part.text = text_of(block, "text");
      } else if (type == "thinking") {
        part.kind = ir::Part::Kind::reasoning;
        part.reasoning.text = text_of(block, "thinking");
        part.reasoning.signature = text_of(block, "signature");
      } else if (type == "redacted_thinking") {
        part.kind = ir::Part::Kind::reasoning;
        part.reasoning.redacted = true;
        part.reasoning.signature = text_of(block, "data");
      } else if (type == "tool_use") {
        part.kind = ir::Part::Kind::tool_call;
        part.call.id = text_of(block, "id");
        part.call.name = text_of(block, "name");
        const json* input = member(block, "input");
        part.call.arguments = input != nullptr && input->is_object() ? dump(*input) : "{}";
      } else {
        continue; // server tool blocks: run and answered at Anthropic
      }
      answer.parts.push_back(std::move(part));
    }
    answer.finish = read_stop_reason(text_of(body, "stop_reason"));
    if (const json* usage = member(body, "usage")) {
      answer.usage = read_usage(*usage);
    }
    return answer;
  }

  std::string write_answer(const ir::Answer& answer,
                           const ir::Conversation& request) const override {
    json content = json::array();
    bool called_tools = false;
    for (const ir::Part& part : answer.parts) {
      switch (part.kind) {
      case ir::Part::Kind::text:
        if (!part.text.empty()) {
          content.push_back({{"type", "text"}, {"text", part.text}});
        }
        break;
      case ir::Part::Kind::reasoning:
        if (part.reasoning.redacted) {
          content.push_back({{"type", "redacted_thinking"}, {"data", part.reasoning.signature}});
        } else if (!part.reasoning.text.empty() || !part.reasoning.signature.empty()) {
          content.push_back({{"type", "thinking"},
                             {"thinking", part.reasoning.text},
                             {"signature", part.reasoning.signature}});
        }
        break;
      case ir::Part::Kind::tool_call:
        called_tools = true;
        content.push_back(
            {{"type", "tool_use"},
             {"id", ir::join_call_id(part.call.id.empty() ? ir::make_call_id() : part.call.id,
                                     part.call.signature)},
             {"name", part.call.name},
             {"input", arguments_object(part.call.arguments)}});
        break;
      case ir::Part::Kind::image:
      case ir::Part::Kind::tool_result:
        break; // never part of a model's reply
      }
    }
    const json body = {{"id", answer.id.empty() ? make_message_id() : answer.id},
                       {"type", "message"},
                       {"role", "assistant"},
                       {"model", answer.model.empty() ? request.model : answer.model},
                       {"content", std::move(content)},
                       {"stop_reason", write_stop_reason(answer.finish, called_tools)},
                       {"stop_sequence", nullptr},
                       {"usage", write_usage(answer.usage)}};
    return dump(body);
  }

  std::unique_ptr<StreamReader> stream_reader() const override {
    return std::make_unique<AnthropicStreamReader>();
  }

  std::unique_ptr<StreamWriter> stream_writer(const ir::Conversation& request,
                                              const RequestSite& site) const override {
    return std::make_unique<AnthropicStreamWriter>(request.model.empty() ? site.model
                                                                         : request.model);
  }

  std::string read_error_message(const json& body) const override {
    const json* error = member(body, "error");
    return error != nullptr ? text_of(*error, "message") : "";
  }

  std::optional<ir::Usage> read_event_usage(const json& event) const override {
    // message_start holds the input (message.usage); message_delta the output so far (usage).
    const json* message = member(event, "message");
    const json* usage = member(message != nullptr ? *message : event, "usage");
    if (usage == nullptr || !usage->is_object()) {
      return std::nullopt;
    }
    return read_usage(*usage);
  }
};

} // namespace

const Family& anthropic_family() {
  static const AnthropicFamily family;
  return family;
}

} // namespace agproxy
