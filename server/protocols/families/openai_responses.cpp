// The OpenAI Responses API (POST /v1/responses), as Codex CLI and the OpenAI SDKs speak it: a
// request of input items, an answer of output items, and a stream of typed events that ends with
// response.completed.

#include "server/protocols/families/wire.hpp"
#include "server/protocols/family.hpp"
#include "server/protocols/sse.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <set>
#include <stdexcept>

namespace agproxy {

namespace {

using wire::dump;
using wire::member;
using wire::valid_utf8;

using ir::json;

constexpr std::string_view k_path = "/v1/responses";

// Starts the description of the one "input" property that stands for a custom (freeform) tool's
// text, so that the writers of this family recognise the tool and answer with custom_tool_call
// items again: ir::Tool has no place to say a tool was not a function.
constexpr std::string_view k_custom_input_note = "The tool's freeform input, as plain text.";

constexpr std::string_view k_local_shell = "local_shell";

// The description given to Codex's built-in local_shell tool, by which the writers recognise it.
constexpr std::string_view k_local_shell_description =
    "Runs a command in a local shell and returns its output.";

// Before the encrypted_content of a reasoning item that carries Anthropic redacted_thinking data,
// so that the next turn gives the data back as redacted (Responses has no redacted flag).
constexpr std::string_view k_redacted_mark = "agproxy-redacted:";

// Items of hosted tools that ran on OpenAI's side; their results are already in the text that
// followed, and their tools are dropped from the request.
const std::set<std::string, std::less<>> k_hosted_items = {"web_search_call", "file_search_call",
                                                           "image_generation_call"};

// Return the member `key` of `object` when it is an object, else an empty object.
json object_member(const json& object, const char* key) {
  const json* value = member(object, key);
  return value != nullptr && value->is_object() ? *value : json::object();
}

// Return the string member `key` of `object`, "" when absent or of another type (for provider
// bodies, where a missing detail must not lose the rest).
std::string string_or_empty(const json& object, const char* key) {
  const json* value = member(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

long long integer_or_zero(const json& object, const char* key) {
  const json* value = member(object, key);
  return value != nullptr && value->is_number_integer() ? value->get<long long>() : 0;
}

// Return the string member `key` of client body part `object`, "" when absent; throw
// std::invalid_argument naming `field` when it is not a string.
std::string client_string(const json& object, const char* key, const std::string& field) {
  const json* value = member(object, key);
  if (value == nullptr) {
    return "";
  }
  if (!value->is_string()) {
    throw std::invalid_argument(field + " must be a string");
  }
  return value->get<std::string>();
}

std::string random_suffix() {
  return ir::make_call_id().substr(5);
}

// Return the summary texts of a reasoning item, joined by blank lines; its raw reasoning_text
// content when it has no summary (open-weight models served through the Responses API).
std::string reasoning_text(const json& item) {
  const auto join = [](const json* list) {
    std::string text;
    if (list != nullptr && list->is_array()) {
      for (const json& entry : *list) {
        const std::string piece = string_or_empty(entry, "text");
        if (!piece.empty()) {
          text += (text.empty() ? "" : "\n\n") + piece;
        }
      }
    }
    return text;
  };
  std::string text = join(member(item, "summary"));
  return text.empty() ? join(member(item, "content")) : text;
}

// Return the arguments of a local_shell_call's exec `action` in the local_shell tool's schema.
std::string local_shell_arguments(const json& action) {
  json arguments = json::object();
  if (const json* command = member(action, "command")) {
    arguments["command"] = *command;
  }
  if (const json* workdir = member(action, "working_directory")) {
    arguments["workdir"] = *workdir;
  }
  if (const json* timeout = member(action, "timeout_ms")) {
    arguments["timeout_ms"] = *timeout;
  }
  return dump(arguments);
}

// Return the exec action of a local_shell_call for `arguments` in the local_shell tool's schema;
// arguments without a list of words give an empty command, which the client reports back to the
// model as a failed call.
json local_shell_action(const std::string& arguments) {
  const json parsed = json::parse(arguments, nullptr, false);
  const json* command = member(parsed, "command");
  const bool words = command != nullptr && command->is_array() &&
                     std::all_of(command->begin(), command->end(),
                                 [](const json& word) { return word.is_string(); });
  json action = {{"type", "exec"}, {"command", words ? *command : json::array()}};
  if (const json* workdir = member(parsed, "workdir"); workdir != nullptr && workdir->is_string()) {
    action["working_directory"] = *workdir;
  }
  if (const json* timeout = member(parsed, "timeout_ms");
      timeout != nullptr && timeout->is_number_integer()) {
    action["timeout_ms"] = *timeout;
  }
  return action;
}

// Return the "input" text of a custom tool call's arguments, or the arguments themselves when the
// model did not produce the expected object.
std::string custom_input(const std::string& arguments) {
  const json parsed = json::parse(arguments, nullptr, false);
  const json* input = member(parsed, "input");
  return input != nullptr && input->is_string() ? input->get<std::string>() : arguments;
}

// Return `text` as the inside of a JSON string (escaped, without the quotes).
std::string json_escaped(const std::string& text) {
  const std::string quoted = dump(json(text));
  return quoted.substr(1, quoted.size() - 2);
}

// How a tool of the client's request is called in this family's answers.
enum class CallKind : std::uint8_t { function, custom, local_shell };

// Return whether `tool` stands for a Responses custom tool (read_request() made it so).
bool is_custom_tool(const ir::Tool& tool) {
  const json* properties = member(tool.parameters, "properties");
  if (properties == nullptr || !properties->is_object() || properties->size() != 1) {
    return false;
  }
  return string_or_empty(properties->value("input", json::object()), "description")
      .starts_with(k_custom_input_note);
}

// Return how the client's request said tool `name` is called.
std::map<std::string, CallKind> call_kinds(const ir::Conversation& request) {
  std::map<std::string, CallKind> kinds;
  for (const ir::Tool& tool : request.tools) {
    if (tool.name == k_local_shell && tool.description == k_local_shell_description) {
      kinds[tool.name] = CallKind::local_shell;
    } else if (is_custom_tool(tool)) {
      kinds[tool.name] = CallKind::custom;
    }
  }
  return kinds;
}

CallKind kind_of(const std::map<std::string, CallKind>& kinds, const std::string& name) {
  const auto found = kinds.find(name);
  return found == kinds.end() ? CallKind::function : found->second;
}

// Return the output item for a tool call: a function_call, or the custom_tool_call or
// local_shell_call the client's tool expects. The call id carries Gemini's signature, which the
// client sends back with the result.
json call_item(const ir::ToolCall& call, CallKind kind, const std::string& item_id,
               const char* status) {
  const std::string call_id = ir::join_call_id(call.id, call.signature);
  if (kind == CallKind::custom) {
    return {{"id", item_id},     {"type", "custom_tool_call"},
            {"status", status},  {"call_id", call_id},
            {"name", call.name}, {"input", custom_input(call.arguments)}};
  }
  if (kind == CallKind::local_shell) {
    return {{"id", item_id},
            {"type", "local_shell_call"},
            {"status", status},
            {"call_id", call_id},
            {"action", local_shell_action(call.arguments)}};
  }
  return {{"id", item_id},      {"type", "function_call"}, {"status", status},
          {"call_id", call_id}, {"name", call.name},       {"arguments", call.arguments}};
}

// Return the prefix of the output item ids of tool calls of `kind`.
std::string call_item_prefix(CallKind kind) {
  return kind == CallKind::custom ? "ctc_" : kind == CallKind::local_shell ? "lsh_" : "fc_";
}

json reasoning_item(const std::string& item_id, const ir::Reasoning& reasoning) {
  json item = {{"id", item_id}, {"type", "reasoning"}, {"summary", json::array()}};
  if (!reasoning.text.empty()) {
    item["summary"].push_back({{"type", "summary_text"}, {"text", reasoning.text}});
  }
  if (!reasoning.signature.empty()) {
    item["encrypted_content"] =
        (reasoning.redacted ? std::string(k_redacted_mark) : "") + reasoning.signature;
  }
  return item;
}

json message_item(const std::string& item_id, const std::string& text, const char* status) {
  json item = {{"id", item_id},
               {"type", "message"},
               {"status", status},
               {"role", "assistant"},
               {"content", json::array()}};
  item["content"].push_back(
      {{"type", "output_text"}, {"text", text}, {"annotations", json::array()}});
  return item;
}

json usage_object(const ir::Usage& usage) {
  return {{"input_tokens", usage.input},
          {"input_tokens_details", {{"cached_tokens", usage.cached}}},
          {"output_tokens", usage.output},
          {"output_tokens_details", {{"reasoning_tokens", usage.reasoning}}},
          {"total_tokens", usage.input + usage.output}};
}

ir::Usage read_usage(const json& response) {
  ir::Usage usage;
  const json* object = member(response, "usage");
  if (object == nullptr) {
    return usage;
  }
  usage.input = integer_or_zero(*object, "input_tokens");
  usage.output = integer_or_zero(*object, "output_tokens");
  if (const json* details = member(*object, "input_tokens_details")) {
    usage.cached = integer_or_zero(*details, "cached_tokens");
  }
  if (const json* details = member(*object, "output_tokens_details")) {
    usage.reasoning = integer_or_zero(*details, "reasoning_tokens");
  }
  return usage;
}

// Return the finish reason of a response object; `tool_calls`: whether its output called tools.
ir::Finish read_finish(const json& response, bool tool_calls) {
  const std::string status = string_or_empty(response, "status");
  if (status == "failed" || status == "cancelled") {
    return ir::Finish::error;
  }
  if (status == "incomplete") {
    const json* details = member(response, "incomplete_details");
    return details != nullptr && string_or_empty(*details, "reason") == "content_filter"
               ? ir::Finish::content_filter
               : ir::Finish::length;
  }
  return tool_calls ? ir::Finish::tool_calls : ir::Finish::stop;
}

// Return the response object's status and incomplete_details for `finish`.
std::pair<const char*, json> status_of(ir::Finish finish) {
  switch (finish) {
  case ir::Finish::length:
    return {"incomplete", {{"reason", "max_output_tokens"}}};
  case ir::Finish::content_filter:
    return {"incomplete", {{"reason", "content_filter"}}};
  case ir::Finish::error:
    return {"failed", nullptr};
  default:
    return {"completed", nullptr};
  }
}

// Return the HTTP status an OpenAI error code stands for.
int status_for_code(const std::string& code) {
  if (code == "rate_limit_exceeded" || code == "insufficient_quota") {
    return 429;
  }
  if (code == "context_length_exceeded" || code == "invalid_prompt" ||
      code == "invalid_request_error" || code == "invalid_image") {
    return 400;
  }
  return 500;
}

// Return the OpenAI error code for an error of HTTP `status`.
const char* code_for_status(int status) {
  switch (status) {
  case 400:
    return "invalid_request_error";
  case 401:
    return "invalid_api_key";
  case 403:
    return "permission_denied";
  case 429:
    return "rate_limit_exceeded";
  default:
    return "server_error";
  }
}

// Read a tool call's output `output` (at `field`), a string or an array of input_text and
// input_image parts, into `result`: the texts joined, the images in order.
void read_output_content(const json& output, const std::string& field, ir::ToolResult& result) {
  if (output.is_string()) {
    result.content = output.get<std::string>();
    return;
  }
  if (!output.is_array()) {
    return;
  }
  for (size_t j = 0; j < output.size(); ++j) {
    const json& entry = output[j];
    const std::string entry_field = field + "[" + std::to_string(j) + "]";
    if (!entry.is_object()) {
      throw std::invalid_argument(entry_field + " must be an object");
    }
    const std::string type = string_or_empty(entry, "type");
    if (type == "input_image") {
      const std::string url = string_or_empty(entry, "image_url");
      if (url.empty()) {
        throw ir::Untranslatable(entry_field + ".file_id",
                                 "an input_image given by file_id (" + entry_field +
                                     ") cannot be translated to another API family");
      }
      result.images.push_back(ir::image_from_url(url));
    } else if (type == "input_file") {
      throw ir::Untranslatable(entry_field + ".type",
                               "an input_file in a tool output (" + entry_field +
                                   ") cannot be translated to another API family");
    } else {
      result.content += string_or_empty(entry, "text");
    }
  }
}

// Builds the conversation of a client request item by item.
class RequestReader {
public:
  explicit RequestReader(ir::Conversation& conversation) : m_conversation(conversation) {}

  void read_input(const json& input) {
    if (input.is_string()) {
      ir::Part part;
      part.text = input.get<std::string>();
      add(ir::Role::user, std::move(part));
      return;
    }
    if (!input.is_array()) {
      throw std::invalid_argument("input must be a string or an array of items");
    }
    for (size_t i = 0; i < input.size(); ++i) {
      read_item(input[i], "input[" + std::to_string(i) + "]");
    }
  }

private:
  void add(ir::Role role, ir::Part part) {
    if (m_conversation.messages.empty() || m_conversation.messages.back().role != role) {
      m_conversation.messages.push_back({role, {}});
    }
    m_conversation.messages.back().parts.push_back(std::move(part));
  }

  void add_system(const std::string& text) {
    if (!text.empty()) {
      m_conversation.system += (m_conversation.system.empty() ? "" : "\n\n") + text;
    }
  }

  void read_item(const json& item, const std::string& field) {
    if (!item.is_object()) {
      throw std::invalid_argument(field + " must be an object");
    }
    const std::string type = client_string(item, "type", field + ".type");
    if (type.empty() || type == "message") {
      read_message(item, field);
    } else if (type == "function_call" || type == "custom_tool_call") {
      ir::Part part;
      part.kind = ir::Part::Kind::tool_call;
      std::tie(part.call.id, part.call.signature) =
          ir::split_call_id(client_string(item, "call_id", field + ".call_id"));
      part.call.name = client_string(item, "name", field + ".name");
      part.call.arguments = type == "function_call"
                                ? client_string(item, "arguments", field + ".arguments")
                                : dump({{"input", client_string(item, "input", field + ".input")}});
      m_names[part.call.id] = part.call.name;
      add(ir::Role::assistant, std::move(part));
    } else if (type == "local_shell_call") {
      ir::Part part;
      part.kind = ir::Part::Kind::tool_call;
      std::string id = client_string(item, "call_id", field + ".call_id");
      std::tie(part.call.id, part.call.signature) =
          ir::split_call_id(id.empty() ? client_string(item, "id", field + ".id") : id);
      part.call.name = k_local_shell;
      part.call.arguments = local_shell_arguments(object_member(item, "action"));
      m_names[part.call.id] = part.call.name;
      add(ir::Role::assistant, std::move(part));
    } else if (type == "function_call_output" || type == "custom_tool_call_output" ||
               type == "local_shell_call_output") {
      read_output(item, field, type == "local_shell_call_output" ? "id" : "call_id");
    } else if (type == "reasoning") {
      ir::Part part;
      part.kind = ir::Part::Kind::reasoning;
      part.reasoning.text = reasoning_text(item);
      part.reasoning.signature =
          client_string(item, "encrypted_content", field + ".encrypted_content");
      if (part.reasoning.signature.starts_with(k_redacted_mark)) {
        part.reasoning.signature.erase(0, k_redacted_mark.size());
        part.reasoning.redacted = true;
      }
      if (!part.reasoning.text.empty() || !part.reasoning.signature.empty()) {
        add(ir::Role::assistant, std::move(part));
      }
    } else if (!k_hosted_items.contains(type)) {
      throw ir::Untranslatable(field + ".type",
                               "input item type \"" + type + "\" (" + field +
                                   ".type) cannot be translated to another API family");
    }
  }

  void read_output(const json& item, const std::string& field, const char* id_key) {
    ir::Part part;
    part.kind = ir::Part::Kind::tool_result;
    std::string id = client_string(item, "call_id", field + ".call_id");
    if (id.empty()) {
      id = client_string(item, id_key, field + "." + id_key);
    }
    part.result.id = ir::split_call_id(id).first;
    const auto name = m_names.find(part.result.id);
    part.result.name = name == m_names.end() ? "" : name->second;
    const json* output = member(item, "output");
    if (output != nullptr && output->is_object()) {
      // Older Codex builds sent {content, success}.
      read_output_content(output->value("content", json()), field + ".output.content", part.result);
      const json* success = member(*output, "success");
      part.result.is_error = success != nullptr && success->is_boolean() && !success->get<bool>();
    } else if (output != nullptr && !output->is_string() && !output->is_array()) {
      throw std::invalid_argument(field + ".output must be a string or an array of parts");
    } else if (output != nullptr) {
      read_output_content(*output, field + ".output", part.result);
    }
    add(ir::Role::user, std::move(part));
  }

  void read_message(const json& item, const std::string& field) {
    const std::string role = client_string(item, "role", field + ".role");
    if (role != "user" && role != "assistant" && role != "system" && role != "developer") {
      throw std::invalid_argument(field + ".role must be user, assistant, system or developer");
    }
    const bool system = role == "system" || role == "developer";
    const ir::Role ir_role = role == "assistant" ? ir::Role::assistant : ir::Role::user;
    const json* content = member(item, "content");
    if (content == nullptr || content->is_string()) {
      const std::string text = content == nullptr ? "" : content->get<std::string>();
      if (system) {
        add_system(text);
      } else {
        ir::Part part;
        part.text = text;
        add(ir_role, std::move(part));
      }
      return;
    }
    if (!content->is_array()) {
      throw std::invalid_argument(field + ".content must be a string or an array of parts");
    }
    for (size_t j = 0; j < content->size(); ++j) {
      const json& entry = (*content)[j];
      const std::string entry_field = field + ".content[" + std::to_string(j) + "]";
      const std::string type = client_string(entry, "type", entry_field + ".type");
      ir::Part part;
      if (type == "input_text" || type == "output_text" || type == "text" ||
          type == "summary_text") {
        part.text = client_string(entry, "text", entry_field + ".text");
      } else if (type == "refusal") {
        part.text = client_string(entry, "refusal", entry_field + ".refusal");
      } else if (type == "input_image") {
        const std::string url = client_string(entry, "image_url", entry_field + ".image_url");
        if (url.empty()) {
          throw ir::Untranslatable(entry_field + ".file_id",
                                   "an input_image given by file_id (" + entry_field +
                                       ") cannot be translated to another API family");
        }
        part.kind = ir::Part::Kind::image;
        part.image = ir::image_from_url(url);
      } else {
        throw ir::Untranslatable(entry_field + ".type",
                                 "content type \"" + type + "\" (" + entry_field +
                                     ".type) cannot be translated to another API family");
      }
      if (system) {
        if (part.kind != ir::Part::Kind::text) {
          throw ir::Untranslatable(entry_field, "an image in a " + role + " message (" +
                                                    entry_field +
                                                    ") cannot be translated to another API family");
        }
        add_system(part.text);
      } else {
        add(ir_role, std::move(part));
      }
    }
  }

  ir::Conversation& m_conversation;
  std::map<std::string, std::string> m_names;
};

ir::Tool local_shell_tool() {
  ir::Tool tool;
  tool.name = k_local_shell;
  tool.description = k_local_shell_description;
  tool.parameters = {{"type", "object"},
                     {"properties",
                      {{"command", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                       {"workdir", {{"type", "string"}}},
                       {"timeout_ms", {{"type", "integer"}}}}},
                     {"required", {"command"}}};
  return tool;
}

void read_tools(const json& tools, ir::Conversation& conversation) {
  if (!tools.is_array()) {
    throw std::invalid_argument("tools must be an array");
  }
  for (size_t i = 0; i < tools.size(); ++i) {
    const json& entry = tools[i];
    const std::string field = "tools[" + std::to_string(i) + "]";
    if (!entry.is_object()) {
      throw std::invalid_argument(field + " must be an object");
    }
    const std::string type = client_string(entry, "type", field + ".type");
    if (type == "local_shell") {
      conversation.tools.push_back(local_shell_tool());
      continue;
    }
    if (type != "function" && type != "custom") {
      continue; // hosted tools (web_search, file_search, mcp, …) run only on OpenAI's side
    }
    ir::Tool tool;
    tool.name = client_string(entry, "name", field + ".name");
    if (tool.name.empty()) {
      throw std::invalid_argument(field + ".name is required");
    }
    tool.description = client_string(entry, "description", field + ".description");
    if (type == "function") {
      if (const json* parameters = member(entry, "parameters")) {
        tool.parameters = *parameters;
      }
    } else {
      std::string note(k_custom_input_note);
      if (const json* format = member(entry, "format")) {
        const std::string definition = string_or_empty(*format, "definition");
        if (!definition.empty()) {
          note += " It must follow this " + string_or_empty(*format, "syntax") + " grammar:\n" +
                  definition;
        }
      }
      tool.parameters = {{"type", "object"},
                         {"properties", {{"input", {{"type", "string"}, {"description", note}}}}},
                         {"required", {"input"}}};
    }
    conversation.tools.push_back(std::move(tool));
  }
}

void read_tool_choice(const json& choice, ir::Conversation& conversation) {
  ir::ToolChoice& out = conversation.tool_choice;
  if (choice.is_string()) {
    const std::string mode = choice.get<std::string>();
    if (mode == "auto") {
      out.mode = ir::ToolChoice::Mode::automatic;
    } else if (mode == "none") {
      out.mode = ir::ToolChoice::Mode::none;
    } else if (mode == "required") {
      out.mode = ir::ToolChoice::Mode::required;
    } else {
      throw std::invalid_argument("tool_choice must be auto, none, required or an object");
    }
    return;
  }
  if (!choice.is_object()) {
    throw std::invalid_argument("tool_choice must be a string or an object");
  }
  const std::string type = client_string(choice, "type", "tool_choice.type");
  if (type == "function" || type == "custom") {
    out.mode = ir::ToolChoice::Mode::tool;
    out.name = client_string(choice, "name", "tool_choice.name");
  } else if (type == "local_shell") {
    out.mode = ir::ToolChoice::Mode::tool;
    out.name = k_local_shell;
  } else {
    throw ir::Untranslatable("tool_choice", "tool_choice of type \"" + type +
                                                "\" cannot be translated to another API family");
  }
}

void read_text_format(const json& text, ir::Conversation& conversation) {
  const json* format = member(text, "format");
  if (format == nullptr) {
    return;
  }
  const std::string type = client_string(*format, "type", "text.format.type");
  if (type == "json_object") {
    conversation.format.kind = ir::OutputFormat::Kind::json_object;
  } else if (type == "json_schema") {
    conversation.format.kind = ir::OutputFormat::Kind::json_schema;
    conversation.format.name = client_string(*format, "name", "text.format.name");
    conversation.format.schema = format->value("schema", json::object());
  } else if (!type.empty() && type != "text") {
    throw std::invalid_argument("text.format.type must be text, json_object or json_schema");
  }
}

template <class T>
std::optional<T> optional_number(const json& body, const char* key, bool integer) {
  const json* value = member(body, key);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (integer ? !value->is_number_integer() : !value->is_number()) {
    throw std::invalid_argument(std::string(key) + " must be a " +
                                (integer ? "whole number" : "number"));
  }
  return value->get<T>();
}

void refuse_if_set(const json& body, const char* key, const std::string& why) {
  if (member(body, key) != nullptr) {
    throw ir::Untranslatable(key, std::string(key) +
                                      " cannot be translated to another API family: " + why);
  }
}

ir::Conversation read_conversation(const json& body, const RequestSite& site) {
  if (!body.is_object()) {
    throw std::invalid_argument("the request body must be a JSON object");
  }
  refuse_if_set(body, "previous_response_id",
                "the earlier turns are stored on OpenAI's servers; send store:false and the whole "
                "history in input, as Codex does");
  refuse_if_set(body, "conversation",
                "the conversation is stored on OpenAI's servers; send the whole history in input");
  refuse_if_set(body, "prompt", "the prompt template is stored on OpenAI's servers");
  if (const json* background = member(body, "background");
      background != nullptr && background->is_boolean() && background->get<bool>()) {
    throw ir::Untranslatable("background",
                             "background cannot be translated to another API family: the answer "
                             "would have to be kept for polling");
  }

  ir::Conversation conversation;
  conversation.model = client_string(body, "model", "model");
  if (conversation.model.empty()) {
    conversation.model = site.model;
  }
  if (conversation.model.empty()) {
    throw std::invalid_argument("model is required");
  }
  conversation.system = client_string(body, "instructions", "instructions");
  if (const json* input = member(body, "input")) {
    RequestReader(conversation).read_input(*input);
  }
  if (const json* tools = member(body, "tools")) {
    read_tools(*tools, conversation);
  }
  if (const json* choice = member(body, "tool_choice")) {
    read_tool_choice(*choice, conversation);
  }
  if (const json* parallel = member(body, "parallel_tool_calls")) {
    if (!parallel->is_boolean()) {
      throw std::invalid_argument("parallel_tool_calls must be true or false");
    }
    conversation.parallel_tool_calls = parallel->get<bool>();
  }
  conversation.max_tokens = optional_number<long long>(body, "max_output_tokens", true);
  conversation.temperature = optional_number<double>(body, "temperature", false);
  conversation.top_p = optional_number<double>(body, "top_p", false);
  if (const json* text = member(body, "text")) {
    read_text_format(*text, conversation);
  }
  if (const json* reasoning = member(body, "reasoning")) {
    const std::string effort = client_string(*reasoning, "effort", "reasoning.effort");
    if (effort == "minimal" || effort == "low") {
      conversation.reasoning_effort = "low";
    } else if (effort == "medium") {
      conversation.reasoning_effort = "medium";
    } else if (effort == "high" || effort == "xhigh") {
      conversation.reasoning_effort = "high";
    }
  }
  if (const json* stream = member(body, "stream")) {
    if (!stream->is_boolean()) {
      throw std::invalid_argument("stream must be true or false");
    }
    conversation.stream = stream->get<bool>();
  }
  return conversation;
}

// Return the output of a function_call_output item for `result`: its text, or with images an array
// of its text and images.
json output_json(const ir::ToolResult& result) {
  if (result.images.empty()) {
    return result.content;
  }
  json output = json::array();
  if (!result.content.empty()) {
    output.push_back({{"type", "input_text"}, {"text", result.content}});
  }
  for (const ir::Image& image : result.images) {
    output.push_back({{"type", "input_image"}, {"image_url", ir::image_url(image)}});
  }
  return output;
}

// Return the input items for the conversation's history: tool results and calls become items of
// their own, the rest messages, in the order they were said.
json input_items(const ir::Conversation& conversation) {
  json items = json::array();
  for (const ir::Message& message : conversation.messages) {
    const bool assistant = message.role == ir::Role::assistant;
    json content = json::array();
    const auto flush = [&] {
      if (!content.empty()) {
        items.push_back({{"type", "message"},
                         {"role", assistant ? "assistant" : "user"},
                         {"content", std::move(content)}});
        content = json::array();
      }
    };
    for (const ir::Part& part : message.parts) {
      switch (part.kind) {
      case ir::Part::Kind::text:
        content.push_back(
            {{"type", assistant ? "output_text" : "input_text"}, {"text", part.text}});
        break;
      case ir::Part::Kind::image:
        content.push_back({{"type", "input_image"}, {"image_url", ir::image_url(part.image)}});
        break;
      case ir::Part::Kind::tool_call:
        flush();
        items.push_back({{"type", "function_call"},
                         {"call_id", part.call.id},
                         {"name", part.call.name},
                         {"arguments", part.call.arguments}});
        break;
      case ir::Part::Kind::tool_result:
        flush();
        items.push_back({{"type", "function_call_output"},
                         {"call_id", part.result.id},
                         {"output", output_json(part.result)}});
        break;
      case ir::Part::Kind::reasoning:
        // Only OpenAI's encrypted_content lets the provider pick up its reasoning again.
        if (!part.reasoning.signature.empty() && !part.reasoning.redacted) {
          flush();
          json summary = json::array();
          if (!part.reasoning.text.empty()) {
            summary.push_back({{"type", "summary_text"}, {"text", part.reasoning.text}});
          }
          items.push_back({{"type", "reasoning"},
                           {"summary", std::move(summary)},
                           {"encrypted_content", part.reasoning.signature}});
        }
        break;
      }
    }
    flush();
  }
  return items;
}

std::string effort_for_budget(long long budget) {
  return budget <= 2048 ? "low" : budget <= 12000 ? "medium" : "high";
}

// Append the part of answer output `item` to `parts`; return whether it was a tool call.
bool read_output_item(const json& item, std::vector<ir::Part>& parts) {
  const std::string type = string_or_empty(item, "type");
  if (type == "message") {
    if (const json* content = member(item, "content"); content != nullptr && content->is_array()) {
      for (const json& entry : *content) {
        const std::string kind = string_or_empty(entry, "type");
        // A refusal is what the model said instead of answering: the user reads it as text.
        if (kind == "output_text" || kind == "refusal") {
          ir::Part part;
          part.text = string_or_empty(entry, kind == "refusal" ? "refusal" : "text");
          parts.push_back(std::move(part));
        }
      }
    }
    return false;
  }
  if (type == "reasoning") {
    ir::Part part;
    part.kind = ir::Part::Kind::reasoning;
    part.reasoning.text = reasoning_text(item);
    part.reasoning.signature = string_or_empty(item, "encrypted_content");
    if (!part.reasoning.text.empty() || !part.reasoning.signature.empty()) {
      parts.push_back(std::move(part));
    }
    return false;
  }
  if (type != "function_call" && type != "custom_tool_call" && type != "local_shell_call") {
    return false; // hosted tools' items: their results are in the text
  }
  ir::Part part;
  part.kind = ir::Part::Kind::tool_call;
  part.call.id = string_or_empty(item, "call_id");
  if (type == "function_call") {
    part.call.name = string_or_empty(item, "name");
    part.call.arguments = string_or_empty(item, "arguments");
  } else if (type == "custom_tool_call") {
    part.call.name = string_or_empty(item, "name");
    part.call.arguments = dump({{"input", string_or_empty(item, "input")}});
  } else {
    part.call.name = k_local_shell;
    part.call.arguments = local_shell_arguments(object_member(item, "action"));
    if (part.call.id.empty()) {
      part.call.id = string_or_empty(item, "id");
    }
  }
  parts.push_back(std::move(part));
  return true;
}

// Turns a Responses event stream (from a provider) into IR events.
class ResponsesStreamReader final : public StreamReader {
public:
  void feed(std::string_view bytes, std::vector<ir::Event>& out) override {
    std::vector<SseEvent> events;
    m_parser.feed(bytes, events);
    handle(events, out);
  }

  void finish(std::vector<ir::Event>& out) override {
    std::vector<SseEvent> events;
    m_parser.finish(events);
    handle(events, out);
    if (!m_done && m_started) {
      close_custom_calls(out);
      ir::Event event;
      event.kind = ir::Event::Kind::finish;
      event.finish = m_tool_calls ? ir::Finish::tool_calls : ir::Finish::stop;
      out.push_back(event);
      m_done = true;
    }
  }

private:
  enum class ItemKind : std::uint8_t { message, call, custom, local_shell, reasoning, other };

  // What one output item (by output_index) has become so far.
  struct Item {
    ItemKind kind = ItemKind::other;
    bool has_index = false;
    size_t index = 0;
    // The text, arguments or custom input given out so far (unescaped for custom calls).
    std::string emitted;
    // Custom calls: whether `{"input":"` was given out, and whether the closing `"}` was.
    bool custom_open = false;
    bool custom_closed = false;
    long long summary_index = 0;
  };

  void handle(const std::vector<SseEvent>& events, std::vector<ir::Event>& out) {
    for (const SseEvent& sse : events) {
      json data = json::parse(sse.data, nullptr, false);
      if (data.is_discarded()) {
        data = json::parse(valid_utf8(sse.data), nullptr, false);
      }
      if (!data.is_object() || m_done) {
        continue;
      }
      const std::string type = string_or_empty(data, "type");
      dispatch(type.empty() ? sse.name : type, data, out);
    }
  }

  void start(const json& response, std::vector<ir::Event>& out) {
    if (m_started) {
      return;
    }
    m_started = true;
    ir::Event event;
    event.kind = ir::Event::Kind::start;
    event.id = string_or_empty(response, "id");
    event.model = string_or_empty(response, "model");
    event.usage = read_usage(response);
    out.push_back(event);
  }

  Item& item_at(const json& data, ItemKind kind) {
    const json* position = member(data, "output_index");
    const long long output_index =
        position != nullptr && position->is_number_integer() ? position->get<long long>() : m_last;
    m_last = output_index;
    Item& item = m_items[output_index];
    if (item.kind == ItemKind::other) {
      item.kind = kind;
    }
    return item;
  }

  size_t index_of(Item& item) {
    if (!item.has_index) {
      item.has_index = true;
      item.index = m_next_index++;
    }
    return item.index;
  }

  void emit(std::vector<ir::Event>& out, ir::Event::Kind kind, size_t index, std::string text) {
    ir::Event event;
    event.kind = kind;
    event.index = index;
    event.text = std::move(text);
    out.push_back(std::move(event));
  }

  // Open tool call `item` (once) with the call id and name of output item `source`.
  void open_call(Item& item, const json& source, std::vector<ir::Event>& out) {
    if (item.has_index) {
      return;
    }
    m_tool_calls = true;
    ir::Event event;
    event.kind = ir::Event::Kind::tool_call_start;
    event.index = index_of(item);
    event.id = string_or_empty(source, "call_id");
    event.name = item.kind == ItemKind::local_shell ? std::string(k_local_shell)
                                                    : string_or_empty(source, "name");
    if (event.id.empty()) {
      event.id = string_or_empty(source, "id");
    }
    out.push_back(event);
  }

  // Give out what `full` (the item's whole text so far, as the provider restates it in done
  // events) adds to what the deltas gave; providers that send only done events get it whole.
  void complete(Item& item, const std::string& full, std::vector<ir::Event>& out) {
    if (full.size() <= item.emitted.size() || !full.starts_with(item.emitted)) {
      return;
    }
    std::string rest = full.substr(item.emitted.size());
    delta(item, rest, out);
  }

  void delta(Item& item, const std::string& text, std::vector<ir::Event>& out) {
    if (text.empty()) {
      return;
    }
    item.emitted += text;
    switch (item.kind) {
    case ItemKind::message:
      emit(out, ir::Event::Kind::text_delta, index_of(item), text);
      break;
    case ItemKind::reasoning:
      emit(out, ir::Event::Kind::reasoning_delta, index_of(item), text);
      break;
    case ItemKind::custom:
      // IR arguments are JSON text: the freeform input goes out as the string of {"input": …},
      // opened at the first delta and closed when the input is done.
      emit(out, ir::Event::Kind::tool_args_delta, index_of(item),
           (item.custom_open ? "" : "{\"input\":\"") + json_escaped(text));
      item.custom_open = true;
      break;
    default:
      emit(out, ir::Event::Kind::tool_args_delta, index_of(item), text);
      break;
    }
  }

  void close_custom(Item& item, std::vector<ir::Event>& out) {
    if (item.kind != ItemKind::custom || item.custom_closed || !item.has_index) {
      return;
    }
    emit(out, ir::Event::Kind::tool_args_delta, item.index,
         item.custom_open ? "\"}" : "{\"input\":\"\"}");
    item.custom_open = item.custom_closed = true;
  }

  void close_custom_calls(std::vector<ir::Event>& out) {
    for (auto& [output_index, item] : m_items) {
      close_custom(item, out);
    }
  }

  static ItemKind kind_of_item(const std::string& type) {
    if (type == "message") {
      return ItemKind::message;
    }
    if (type == "function_call") {
      return ItemKind::call;
    }
    if (type == "custom_tool_call") {
      return ItemKind::custom;
    }
    if (type == "local_shell_call") {
      return ItemKind::local_shell;
    }
    return type == "reasoning" ? ItemKind::reasoning : ItemKind::other;
  }

  void item_event(const std::string& type, const json& data, std::vector<ir::Event>& out) {
    const json source = object_member(data, "item");
    Item& item = item_at(data, kind_of_item(string_or_empty(source, "type")));
    const bool done = type == "response.output_item.done";
    switch (item.kind) {
    case ItemKind::message:
      if (done) {
        std::string full;
        if (const json* content = member(source, "content");
            content != nullptr && content->is_array()) {
          for (const json& entry : *content) {
            full += string_or_empty(entry, "text") + string_or_empty(entry, "refusal");
          }
        }
        complete(item, full, out);
      }
      break;
    case ItemKind::call:
      open_call(item, source, out);
      complete(item, string_or_empty(source, "arguments"), out);
      break;
    case ItemKind::custom:
      open_call(item, source, out);
      complete(item, string_or_empty(source, "input"), out);
      if (done) {
        close_custom(item, out);
      }
      break;
    case ItemKind::local_shell:
      open_call(item, source, out);
      // The action may still grow while the item is in progress: its arguments go out whole.
      if (done && item.emitted.empty()) {
        delta(item, local_shell_arguments(object_member(source, "action")), out);
      }
      break;
    case ItemKind::reasoning:
      if (done) {
        complete(item, reasoning_text(source), out);
        const std::string signature = string_or_empty(source, "encrypted_content");
        if (!signature.empty()) {
          emit(out, ir::Event::Kind::reasoning_signature, index_of(item), signature);
        }
      }
      break;
    case ItemKind::other:
      break;
    }
  }

  void end_event(const std::string& type, const json& data, std::vector<ir::Event>& out) {
    const json response = object_member(data, "response");
    if (type == "response.failed" || type == "error") {
      // An error event carries code and message at its top level (some servers nest them).
      const json* error = type == "error" ? member(data, "error") : member(response, "error");
      if (type == "error" && error == nullptr) {
        error = &data;
      }
      start(response, out);
      ir::Event event;
      event.kind = ir::Event::Kind::error;
      event.text = error != nullptr ? string_or_empty(*error, "message") : "";
      if (event.text.empty()) {
        event.text = "the provider reported a failed response";
      }
      event.status = status_for_code(error != nullptr ? string_or_empty(*error, "code") : "");
      out.push_back(event);
    } else {
      start(response, out);
      close_custom_calls(out);
      ir::Event event;
      event.kind = ir::Event::Kind::finish;
      event.finish = read_finish(response, m_tool_calls);
      event.usage = read_usage(response);
      out.push_back(event);
    }
    m_done = true;
  }

  void dispatch(const std::string& type, const json& data, std::vector<ir::Event>& out) {
    if (type == "response.created" || type == "response.in_progress") {
      start(object_member(data, "response"), out);
      return;
    }
    if (type == "response.completed" || type == "response.incomplete" ||
        type == "response.failed" || type == "error") {
      end_event(type, data, out);
      return;
    }
    const bool item_event_type =
        type == "response.output_item.added" || type == "response.output_item.done";
    const bool delta_type =
        type == "response.output_text.delta" || type == "response.refusal.delta" ||
        type == "response.function_call_arguments.delta" ||
        type == "response.custom_tool_call_input.delta" ||
        type == "response.reasoning_summary_text.delta" || type == "response.reasoning_text.delta";
    const bool done_type = type == "response.function_call_arguments.done" ||
                           type == "response.custom_tool_call_input.done";
    if (!item_event_type && !delta_type && !done_type) {
      return;
    }
    start(json::object(), out);
    if (item_event_type) {
      item_event(type, data, out);
      return;
    }
    if (type == "response.function_call_arguments.done") {
      Item& item = item_at(data, ItemKind::call);
      open_call(item, json::object(), out);
      complete(item, string_or_empty(data, "arguments"), out);
      return;
    }
    if (type == "response.custom_tool_call_input.done") {
      Item& item = item_at(data, ItemKind::custom);
      open_call(item, json::object(), out);
      complete(item, string_or_empty(data, "input"), out);
      close_custom(item, out);
      return;
    }
    const std::string text = string_or_empty(data, "delta");
    if (type == "response.output_text.delta" || type == "response.refusal.delta") {
      delta(item_at(data, ItemKind::message), text, out);
    } else if (type == "response.function_call_arguments.delta") {
      Item& item = item_at(data, ItemKind::call);
      open_call(item, json::object(), out);
      delta(item, text, out);
    } else if (type == "response.custom_tool_call_input.delta") {
      Item& item = item_at(data, ItemKind::custom);
      open_call(item, json::object(), out);
      delta(item, text, out);
    } else {
      Item& item = item_at(data, ItemKind::reasoning);
      const long long summary = integer_or_zero(data, "summary_index");
      // Summary parts of one reasoning item are paragraphs of one IR reasoning part.
      if (summary != item.summary_index && !item.emitted.empty() && !text.empty()) {
        delta(item, "\n\n", out);
      }
      item.summary_index = summary;
      delta(item, text, out);
    }
  }

  SseParser m_parser;
  std::map<long long, Item> m_items;
  long long m_last = 0;
  size_t m_next_index = 0;
  bool m_started = false;
  bool m_done = false;
  bool m_tool_calls = false;
};

// Turns IR events into the event stream Codex and the OpenAI SDKs read, through
// response.completed.
class ResponsesStreamWriter final : public StreamWriter {
public:
  ResponsesStreamWriter(const ir::Conversation& request, std::string model)
      : m_kinds(call_kinds(request)), m_model(std::move(model)),
        m_created(static_cast<long long>(std::time(nullptr))) {}

  void write(const ir::Event& event, std::string& out) override {
    if (m_done) {
      return;
    }
    switch (event.kind) {
    case ir::Event::Kind::start:
      if (!m_started) {
        m_id = event.id;
        if (!event.model.empty()) {
          m_model = event.model;
        }
        m_start_usage = event.usage;
      }
      begin(out);
      break;
    case ir::Event::Kind::text_delta:
      open(event.index, Open::Kind::text, out);
      text_delta(event.text, out);
      break;
    case ir::Event::Kind::reasoning_delta:
      open(event.index, Open::Kind::reasoning, out);
      reasoning_delta(event.text, out);
      break;
    case ir::Event::Kind::reasoning_signature:
      signature(event, out);
      break;
    case ir::Event::Kind::tool_call_start: {
      ir::ToolCall call{event.id, event.name, "", event.signature};
      open_call(event.index, std::move(call), out);
      break;
    }
    case ir::Event::Kind::tool_args_delta:
      if (!(m_open && m_part.index == event.index && m_part.kind == Open::Kind::call)) {
        open_call(event.index, ir::ToolCall{ir::make_call_id(), "", "", ""}, out);
      }
      args_delta(event.text, out);
      break;
    case ir::Event::Kind::finish:
      complete(event.finish, event.usage, out);
      break;
    case ir::Event::Kind::error:
      fail(event, out);
      break;
    }
  }

  void finish(std::string& out) override {
    if (!m_done) {
      complete(ir::Finish::stop, ir::Usage{}, out);
    }
  }

private:
  // The output item being streamed.
  struct Open {
    enum class Kind : std::uint8_t { text, reasoning, call };
    Kind kind = Kind::text;
    size_t index = 0;
    size_t output_index = 0;
    std::string item_id;
    std::string text;
    ir::ToolCall call;
    CallKind call_kind = CallKind::function;
    ir::Reasoning reasoning;
    bool summary_open = false;
  };

  void send(json event, std::string& out) {
    event["sequence_number"] = m_sequence++;
    const std::string type = event["type"].get<std::string>();
    out += "event: " + type + "\ndata: " + dump(event) + "\n\n";
  }

  json response_object(const char* status) const {
    return {{"id", m_id},
            {"object", "response"},
            {"created_at", m_created},
            {"status", status},
            {"model", m_model},
            {"output", m_output},
            {"error", nullptr},
            {"incomplete_details", nullptr},
            {"usage", nullptr}};
  }

  void begin(std::string& out) {
    if (m_started) {
      return;
    }
    m_started = true;
    if (m_id.empty()) {
      m_id = "resp_" + random_suffix();
    }
    send({{"type", "response.created"}, {"response", response_object("in_progress")}}, out);
    send({{"type", "response.in_progress"}, {"response", response_object("in_progress")}}, out);
  }

  json item_event(const char* type) const {
    return {{"type", type}, {"item_id", m_part.item_id}, {"output_index", m_part.output_index}};
  }

  void added(json item, std::string& out) {
    send({{"type", "response.output_item.added"},
          {"output_index", m_part.output_index},
          {"item", std::move(item)}},
         out);
  }

  // Make part `index` of `kind` the open one; return whether it was opened now.
  bool open(size_t index, Open::Kind kind, std::string& out) {
    begin(out);
    if (m_open && m_part.index == index && m_part.kind == kind) {
      return false;
    }
    close(out);
    m_open = true;
    m_part = Open{};
    m_part.kind = kind;
    m_part.index = index;
    m_part.output_index = m_output.size();
    if (kind == Open::Kind::text) {
      m_part.item_id = "msg_" + random_suffix();
      json item = message_item(m_part.item_id, "", "in_progress");
      item["content"] = json::array();
      added(std::move(item), out);
      json event = item_event("response.content_part.added");
      event["content_index"] = 0;
      event["part"] = {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}};
      send(std::move(event), out);
    } else if (kind == Open::Kind::reasoning) {
      m_part.item_id = "rs_" + random_suffix();
      added(reasoning_item(m_part.item_id, {}), out);
    }
    return true;
  }

  void open_call(size_t index, ir::ToolCall call, std::string& out) {
    if (!open(index, Open::Kind::call, out)) {
      return; // a repeated start of the open call
    }
    m_part.call = std::move(call);
    m_part.call_kind = kind_of(m_kinds, m_part.call.name);
    m_part.item_id = call_item_prefix(m_part.call_kind) + random_suffix();
    added(call_item(m_part.call, m_part.call_kind, m_part.item_id, "in_progress"), out);
  }

  void text_delta(const std::string& text, std::string& out) {
    m_part.text += text;
    json event = item_event("response.output_text.delta");
    event["content_index"] = 0;
    event["delta"] = text;
    event["logprobs"] = json::array();
    send(std::move(event), out);
  }

  void reasoning_delta(const std::string& text, std::string& out) {
    if (!m_part.summary_open) {
      m_part.summary_open = true;
      json event = item_event("response.reasoning_summary_part.added");
      event["summary_index"] = 0;
      event["part"] = {{"type", "summary_text"}, {"text", ""}};
      send(std::move(event), out);
    }
    m_part.reasoning.text += text;
    json event = item_event("response.reasoning_summary_text.delta");
    event["summary_index"] = 0;
    event["delta"] = text;
    send(std::move(event), out);
  }

  void signature(const ir::Event& event, std::string& out) {
    const auto closed = m_reasoning_items.find(event.index);
    if (closed != m_reasoning_items.end() &&
        !(m_open && m_part.index == event.index && m_part.kind == Open::Kind::reasoning)) {
      // Signed after its part closed: the final response object still carries it.
      ir::Reasoning reasoning{"", event.text, event.redacted};
      m_output[closed->second]["encrypted_content"] =
          reasoning_item("", reasoning)["encrypted_content"];
      return;
    }
    open(event.index, Open::Kind::reasoning, out);
    m_part.reasoning.signature = event.text;
    m_part.reasoning.redacted = event.redacted;
  }

  void args_delta(const std::string& text, std::string& out) {
    m_part.call.arguments += text;
    // A custom tool's input and a local shell's action are values inside the JSON arguments:
    // they can only be given out once the arguments are whole, when the call closes.
    if (m_part.call_kind == CallKind::function) {
      json event = item_event("response.function_call_arguments.delta");
      event["delta"] = text;
      send(std::move(event), out);
    }
  }

  void close(std::string& out) {
    if (!m_open) {
      return;
    }
    m_open = false;
    json item;
    if (m_part.kind == Open::Kind::text) {
      json event = item_event("response.output_text.done");
      event["content_index"] = 0;
      event["text"] = m_part.text;
      event["logprobs"] = json::array();
      send(std::move(event), out);
      item = message_item(m_part.item_id, m_part.text, "completed");
      event = item_event("response.content_part.done");
      event["content_index"] = 0;
      event["part"] = item["content"][0];
      send(std::move(event), out);
    } else if (m_part.kind == Open::Kind::reasoning) {
      if (m_part.summary_open) {
        json event = item_event("response.reasoning_summary_text.done");
        event["summary_index"] = 0;
        event["text"] = m_part.reasoning.text;
        send(event, out);
        event["type"] = "response.reasoning_summary_part.done";
        event.erase("text");
        event["part"] = {{"type", "summary_text"}, {"text", m_part.reasoning.text}};
        send(std::move(event), out);
      }
      item = reasoning_item(m_part.item_id, m_part.reasoning);
      m_reasoning_items[m_part.index] = m_output.size();
    } else {
      item = call_item(m_part.call, m_part.call_kind, m_part.item_id, "completed");
      if (item["type"] == "function_call") {
        json event = item_event("response.function_call_arguments.done");
        event["arguments"] = m_part.call.arguments;
        send(std::move(event), out);
      } else if (item["type"] == "custom_tool_call") {
        json event = item_event("response.custom_tool_call_input.delta");
        event["delta"] = item["input"];
        send(event, out);
        event["type"] = "response.custom_tool_call_input.done";
        event.erase("delta");
        event["input"] = item["input"];
        send(std::move(event), out);
      }
    }
    m_output.push_back(item);
    send({{"type", "response.output_item.done"},
          {"output_index", m_part.output_index},
          {"item", std::move(item)}},
         out);
  }

  void complete(ir::Finish finish, ir::Usage usage, std::string& out) {
    begin(out);
    close(out);
    if (usage.input == 0) {
      usage.input = m_start_usage.input;
      usage.cached = m_start_usage.cached;
    }
    const auto [status, details] = status_of(finish);
    json response = response_object(status);
    response["usage"] = usage_object(usage);
    if (finish == ir::Finish::error) {
      response["error"] = {{"code", "server_error"},
                           {"message", "the provider stopped the answer with an error"}};
      send({{"type", "response.failed"}, {"response", std::move(response)}}, out);
    } else {
      // Codex waits for response.completed, also for an incomplete answer.
      response["incomplete_details"] = details;
      send({{"type", "response.completed"}, {"response", std::move(response)}}, out);
    }
    m_done = true;
  }

  void fail(const ir::Event& event, std::string& out) {
    begin(out);
    close(out);
    json response = response_object("failed");
    response["error"] = {{"code", code_for_status(event.status)}, {"message", event.text}};
    send({{"type", "response.failed"}, {"response", std::move(response)}}, out);
    m_done = true;
  }

  std::map<std::string, CallKind> m_kinds;
  std::string m_id;
  std::string m_model;
  long long m_created;
  ir::Usage m_start_usage;
  long long m_sequence = 0;
  bool m_started = false;
  bool m_done = false;
  bool m_open = false;
  Open m_part;
  json m_output = json::array();
  // Where the reasoning items of closed parts are in m_output, by IR index.
  std::map<size_t, size_t> m_reasoning_items;
};

class OpenAiResponsesFamily final : public Family {
public:
  ir::Conversation read_request(const json& body, const RequestSite& site) const override {
    return read_conversation(body, site);
  }

  WireRequest write_request(const ir::Conversation& conversation) const override {
    if (!conversation.stop.empty()) {
      // Dropping them would change where the answer ends (DESIGN §6: refused, not dropped).
      throw ir::Untranslatable("stop sequences",
                               "stop sequences (stop, stop_sequences, stopSequences) cannot be "
                               "translated to the OpenAI Responses API, which has none");
    }
    json body = {{"model", conversation.model},
                 {"input", input_items(conversation)},
                 {"stream", conversation.stream},
                 {"store", false}};
    if (!conversation.system.empty()) {
      body["instructions"] = conversation.system;
    }
    if (!conversation.tools.empty()) {
      json tools = json::array();
      for (const ir::Tool& tool : conversation.tools) {
        json parameters = tool.parameters.is_object() && !tool.parameters.empty()
                              ? tool.parameters
                              : json{{"type", "object"}, {"properties", json::object()}};
        // Responses makes function tools strict unless told otherwise, which would refuse
        // schemas written for other families.
        json entry = {{"type", "function"},
                      {"name", tool.name},
                      {"parameters", parameters},
                      {"strict", false}};
        if (!tool.description.empty()) {
          entry["description"] = tool.description;
        }
        tools.push_back(std::move(entry));
      }
      body["tools"] = std::move(tools);
    }
    switch (conversation.tool_choice.mode) {
    case ir::ToolChoice::Mode::automatic:
      body["tool_choice"] = "auto";
      break;
    case ir::ToolChoice::Mode::none:
      body["tool_choice"] = "none";
      break;
    case ir::ToolChoice::Mode::required:
      body["tool_choice"] = "required";
      break;
    case ir::ToolChoice::Mode::tool:
      body["tool_choice"] = {{"type", "function"}, {"name", conversation.tool_choice.name}};
      break;
    case ir::ToolChoice::Mode::unset:
      break;
    }
    if (conversation.parallel_tool_calls) {
      body["parallel_tool_calls"] = *conversation.parallel_tool_calls;
    }
    // The Responses API refuses max_output_tokens below 16 (Claude Code probes with 1).
    constexpr long long k_min_output_tokens = 16;
    if (conversation.max_tokens) {
      body["max_output_tokens"] = std::max(*conversation.max_tokens, k_min_output_tokens);
    }
    // Reasoning models refuse sampling settings other than their own; others refuse an effort.
    const bool reasoning_model = wire::openai_reasoning_model(conversation.model);
    if (conversation.temperature && !reasoning_model) {
      body["temperature"] = *conversation.temperature;
    }
    if (conversation.top_p && !reasoning_model) {
      body["top_p"] = *conversation.top_p;
    }
    if (conversation.format.kind == ir::OutputFormat::Kind::json_object) {
      body["text"] = {{"format", {{"type", "json_object"}}}};
    } else if (conversation.format.kind == ir::OutputFormat::Kind::json_schema) {
      body["text"] = {
          {"format",
           {{"type", "json_schema"},
            {"name", conversation.format.name.empty() ? "response" : conversation.format.name},
            {"schema", conversation.format.schema.is_object() ? conversation.format.schema
                                                              : json::object()}}}};
    }
    std::string effort = conversation.reasoning_effort;
    if (effort.empty() && conversation.reasoning_budget) {
      effort = effort_for_budget(*conversation.reasoning_budget);
    }
    if (!reasoning_model) {
      effort.clear();
    }
    if (!effort.empty()) {
      body["reasoning"] = {{"effort", effort}};
    }
    const bool reasoning_in_history =
        std::any_of(body["input"].begin(), body["input"].end(),
                    [](const json& item) { return item["type"] == "reasoning"; });
    // With store:false the reasoning comes back only encrypted, for the next turn to carry.
    if (!effort.empty() || reasoning_in_history) {
      body["include"] = {"reasoning.encrypted_content"};
    }
    return {std::string(k_path), dump(body)};
  }

  ir::Answer read_answer(const json& body) const override {
    const json* output = member(body, "output");
    if (output == nullptr || !output->is_array()) {
      throw std::invalid_argument("a Responses answer needs an output array");
    }
    ir::Answer answer;
    answer.id = string_or_empty(body, "id");
    answer.model = string_or_empty(body, "model");
    bool tool_calls = false;
    for (const json& item : *output) {
      tool_calls = read_output_item(item, answer.parts) || tool_calls;
    }
    answer.finish = read_finish(body, tool_calls);
    answer.usage = read_usage(body);
    return answer;
  }

  std::string write_answer(const ir::Answer& answer,
                           const ir::Conversation& request) const override {
    const std::map<std::string, CallKind> kinds = call_kinds(request);
    json output = json::array();
    json* message = nullptr;
    for (const ir::Part& part : answer.parts) {
      if (part.kind == ir::Part::Kind::text) {
        if (message == nullptr) {
          output.push_back(message_item("msg_" + random_suffix(), part.text, "completed"));
          message = &output.back();
        } else {
          (*message)["content"].push_back(
              {{"type", "output_text"}, {"text", part.text}, {"annotations", json::array()}});
        }
        continue;
      }
      message = nullptr;
      if (part.kind == ir::Part::Kind::reasoning) {
        output.push_back(reasoning_item("rs_" + random_suffix(), part.reasoning));
      } else if (part.kind == ir::Part::Kind::tool_call) {
        const CallKind kind = kind_of(kinds, part.call.name);
        output.push_back(
            call_item(part.call, kind, call_item_prefix(kind) + random_suffix(), "completed"));
      }
    }
    const auto [status, details] = status_of(answer.finish);
    json body = {{"id", answer.id.empty() ? "resp_" + random_suffix() : answer.id},
                 {"object", "response"},
                 {"created_at", static_cast<long long>(std::time(nullptr))},
                 {"status", status},
                 {"model", answer.model.empty() ? request.model : answer.model},
                 {"output", std::move(output)},
                 {"error", nullptr},
                 {"incomplete_details", details},
                 {"usage", usage_object(answer.usage)}};
    if (answer.finish == ir::Finish::error) {
      body["error"] = {{"code", "server_error"},
                       {"message", "the provider stopped the answer with an error"}};
    }
    return dump(body);
  }

  std::unique_ptr<StreamReader> stream_reader() const override {
    return std::make_unique<ResponsesStreamReader>();
  }

  std::unique_ptr<StreamWriter> stream_writer(const ir::Conversation& request,
                                              const RequestSite& site) const override {
    return std::make_unique<ResponsesStreamWriter>(request, request.model.empty() ? site.model
                                                                                  : request.model);
  }

  std::string read_error_message(const json& body) const override {
    const json* error = member(body, "error");
    if (error != nullptr && error->is_string()) {
      return error->get<std::string>();
    }
    return error == nullptr ? "" : string_or_empty(*error, "message");
  }

  std::optional<ir::Usage> read_event_usage(const json& event) const override {
    // response.completed (and .incomplete) carries the response with its usage.
    const json* response = member(event, "response");
    if (response == nullptr || !response->is_object() || member(*response, "usage") == nullptr) {
      return std::nullopt;
    }
    return read_usage(*response);
  }
};

} // namespace

const Family& openai_responses_family() {
  static const OpenAiResponsesFamily family;
  return family;
}

} // namespace agproxy
