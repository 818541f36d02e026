#include "tests/fake_protocols.hpp"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace agproxy::test {

int ScriptLedger::next() {
  std::lock_guard lock(m_mutex);
  return ++m_counter;
}

void ScriptLedger::remember(const std::string& call_id, const std::string& secret) {
  std::lock_guard lock(m_mutex);
  m_secrets.insert(secret);
  if (!call_id.empty()) {
    m_by_call[call_id] = secret;
  }
}

bool ScriptLedger::issued(const std::string& secret) const {
  std::lock_guard lock(m_mutex);
  return m_secrets.contains(secret);
}

std::optional<std::string> ScriptLedger::secret_for(const std::string& call_id) const {
  std::lock_guard lock(m_mutex);
  const auto found = m_by_call.find(call_id);
  return found == m_by_call.end() ? std::nullopt : std::optional(found->second);
}

namespace {

using nlohmann::json;

enum class Family { chat, responses, anthropic, gemini };

// A request the real provider would refuse with a 400; what() is the message it would give.
struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The last user turn of a request, read in its protocol's shape.
struct LastTurn {
  bool has_tool_result = false;
  std::string tool_result; // the first tool result's text
  // The images the turn's tool results brought, wherever the protocol puts them: inside a result,
  // or (Chat Completions, Gemini) in the parts or messages of the turn after the results.
  size_t result_images = 0;
  std::string user_text;
  std::vector<std::string> tools; // the names of the declared tools, in order
};

// What the fake answers.
struct Plan {
  bool tool_call = false;
  std::string text; // the answer text when not a tool call
  std::string tool_name;
  std::string arguments; // compact JSON text
};

// Everything a protocol's writer needs to answer.
struct Exchange {
  ScriptLedger& ledger;
  const json& request;
  std::string model;
  bool stream = false;
  bool gemini_sse = false;
  size_t input_tokens = 0;
  size_t output_tokens = 0;
  Plan plan;
};

// The reasoning text a tool call comes with.
constexpr const char* k_planning = "planning";

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// `key` of `value`, or null when `value` is no object or lacks it: requests are whatever tests
// and translators send, so no lookup may throw.
const json& field(const json& value, const char* key) {
  static const json k_missing;
  if (value.is_object()) {
    const auto found = value.find(key);
    if (found != value.end()) {
      return *found;
    }
  }
  return k_missing;
}

std::string text_field(const json& value, const char* key) {
  const json& found = field(value, key);
  return found.is_string() ? found.get<std::string>() : "";
}

const json& array_field(const json& value, const char* key) {
  static const json k_empty = json::array();
  const json& found = field(value, key);
  return found.is_array() ? found : k_empty;
}

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Characters, not bytes: a cut must never split a UTF-8 sequence.
size_t char_count(std::string_view text) {
  size_t count = 0;
  for (char c : text) {
    count += !is_continuation(c);
  }
  return count;
}

std::string first_chars(std::string_view text, size_t limit) {
  size_t seen = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!is_continuation(text[i]) && seen++ == limit) {
      return std::string(text.substr(0, i));
    }
  }
  return std::string(text);
}

// Return `text` cut into `pieces` runs of about equal length, on character boundaries.
std::vector<std::string> split(std::string_view text, size_t pieces) {
  std::vector<size_t> starts;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!is_continuation(text[i])) {
      starts.push_back(i);
    }
  }
  const size_t total = starts.size();
  starts.push_back(text.size());
  std::vector<std::string> out;
  for (size_t k = 0; k < pieces; ++k) {
    const size_t from = starts[total * k / pieces];
    const size_t to = starts[total * (k + 1) / pieces];
    out.emplace_back(text.substr(from, to - from));
  }
  return out;
}

// The text of a content value: a string, or an array of parts of which those whose "type" is one
// of `types` carry "text".
std::string text_of(const json& content, std::initializer_list<std::string_view> types) {
  if (content.is_string()) {
    return content.get<std::string>();
  }
  std::string text;
  for (const json& part : content.is_array() ? content : json::array()) {
    const std::string type = text_field(part, "type");
    for (std::string_view wanted : types) {
      if (type == wanted) {
        text += text_field(part, "text");
      }
    }
  }
  return text;
}

std::string lowercase(std::string text) {
  for (char& c : text) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return text;
}

// The declared tool `name` names: itself, else the first declared case-insensitively alike, else
// itself all the same (a model may call a tool nobody declared).
std::string resolve_tool(const std::string& name, const std::vector<std::string>& tools) {
  for (const std::string& tool : tools) {
    if (tool == name) {
      return name;
    }
  }
  for (const std::string& tool : tools) {
    if (lowercase(tool) == lowercase(name)) {
      return tool;
    }
  }
  return name;
}

// Return how many entries of content array `content` have type `type` (0 for a string).
size_t count_typed(const json& content, const char* type) {
  if (!content.is_array()) {
    return 0;
  }
  return static_cast<size_t>(std::count_if(content.begin(), content.end(), [&](const json& entry) {
    return text_field(entry, "type") == type;
  }));
}

Plan plan_for(const LastTurn& turn) {
  if (turn.has_tool_result) {
    const std::string images =
        turn.result_images == 0 ? "" : " [images: " + std::to_string(turn.result_images) + "]";
    return {false, "TOOL_RESULT_SEEN: " + first_chars(turn.tool_result, 300) + images, "", ""};
  }
  std::istringstream lines(turn.user_text);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line.compare(start, 10, "CALL_TOOL ") != 0) {
      continue;
    }
    std::string rest = line.substr(start + 10);
    rest.erase(0, rest.find_first_not_of(' '));
    const size_t space = rest.find(' ');
    const std::string name = rest.substr(0, space);
    const std::string arguments_text = space == std::string::npos ? "{}" : rest.substr(space + 1);
    const json arguments = json::parse(arguments_text, nullptr, false);
    if (name.empty() || !arguments.is_object()) {
      continue;
    }
    return {true, "", resolve_tool(name, turn.tools), dump(arguments)};
  }
  return {false, "scripted: " + turn.user_text, "", ""};
}

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sse(const json& data) {
  return "data: " + dump(data) + "\n\n";
}

std::string sse_event(const std::string& event, const json& data) {
  return "event: " + event + "\n" + sse(data);
}

json merged(json base, const json& extra) {
  base.update(extra);
  return base;
}

ScriptedReply json_reply(int status, const json& body) {
  return {status, "application/json", false, {dump(body)}};
}

ScriptedReply stream_reply(std::vector<std::string> events) {
  return {200, "text/event-stream", true, std::move(events)};
}

ScriptedReply error_reply(Family family, int status, const std::string& message,
                          const json& code = nullptr) {
  if (family == Family::anthropic) {
    return json_reply(status,
                      {{"type", "error"},
                       {"error",
                        {{"type", status == 404 ? "not_found_error" : "invalid_request_error"},
                         {"message", message}}}});
  }
  if (family == Family::gemini) {
    return json_reply(status, {{"error",
                                {{"code", status},
                                 {"message", message},
                                 {"status", status == 404 ? "NOT_FOUND" : "INVALID_ARGUMENT"}}}});
  }
  return json_reply(status, {{"error",
                              {{"message", message},
                               {"type", "invalid_request_error"},
                               {"param", nullptr},
                               {"code", code}}}});
}

// Anthropic Messages ------------------------------------------------------------------------------

// Return whether an Anthropic request turns extended thinking on (only then does the model think,
// and only then must its signed thinking come back with a tool result).
bool anthropic_thinking(const json& request) {
  const std::string type = text_field(field(request, "thinking"), "type");
  return type == "enabled" || type == "adaptive";
}

LastTurn read_anthropic(const json& request, const ScriptLedger& ledger) {
  LastTurn turn;
  for (const json& tool : array_field(request, "tools")) {
    turn.tools.push_back(text_field(tool, "name"));
  }
  const json& messages = field(request, "messages");
  if (!messages.is_array() || messages.empty()) {
    throw BadRequest("messages: Field required");
  }
  size_t user = messages.size();
  while (user > 0 && text_field(messages[user - 1], "role") != "user") {
    --user;
  }
  if (user == 0) {
    return turn;
  }
  --user;
  const json& content = field(messages[user], "content");
  turn.user_text = text_of(content, {"text"});
  const json* first_result = nullptr;
  std::vector<std::string> tool_ids;
  std::vector<size_t> positions;
  for (size_t k = 0; content.is_array() && k < content.size(); ++k) {
    if (text_field(content[k], "type") == "tool_result") {
      first_result = first_result ? first_result : &content[k];
      tool_ids.push_back(text_field(content[k], "tool_use_id"));
      positions.push_back(k);
    }
  }
  if (!first_result) {
    return turn;
  }
  const json& previous = user > 0 && text_field(messages[user - 1], "role") == "assistant"
                             ? field(messages[user - 1], "content")
                             : json::array();
  std::vector<std::string> use_ids;
  for (const json& block : previous.is_array() ? previous : json::array()) {
    if (text_field(block, "type") == "tool_use") {
      use_ids.push_back(text_field(block, "id"));
    }
  }
  for (size_t i = 0; i < tool_ids.size(); ++i) {
    if (std::find(use_ids.begin(), use_ids.end(), tool_ids[i]) == use_ids.end()) {
      throw BadRequest("messages." + std::to_string(user) + ".content." +
                       std::to_string(positions[i]) +
                       ": unexpected `tool_use_id` found in `tool_result` blocks: " + tool_ids[i] +
                       ". Each `tool_result` block must have a corresponding `tool_use` block in "
                       "the previous message.");
    }
  }
  turn.has_tool_result = true;
  turn.tool_result = text_of(field(*first_result, "content"), {"text"});
  for (size_t k : positions) {
    turn.result_images += count_typed(field(content[k], "content"), "image");
  }
  if (!anthropic_thinking(request)) {
    return turn; // without thinking, earlier thinking blocks may be left out
  }
  // With thinking, the assistant turn that called a tool must come back starting with the
  // thinking block exactly as issued: the signature is what lets the model trust its own reasoning.
  const std::string where = "messages." + std::to_string(user - 1) + ".content.0";
  const json& opening = previous.is_array() && !previous.empty() ? previous[0] : json();
  const std::string type = previous.is_string() ? "text" : text_field(opening, "type");
  if (type != "thinking") {
    throw BadRequest(where + ".type: Expected `thinking` or `redacted_thinking`, but found `" +
                     type +
                     "`. A final `assistant` message with `tool_use` must start with the "
                     "thinking block this provider issued, signature included.");
  }
  const std::string signature = text_field(opening, "signature");
  const auto expected = ledger.secret_for(tool_ids.front());
  if (expected ? signature != *expected : !ledger.issued(signature)) {
    throw BadRequest(where + ": Invalid `signature` in `thinking` block");
  }
  return turn;
}

ScriptedReply write_anthropic(const Exchange& x) {
  const std::string n = std::to_string(x.ledger.next());
  const std::string id = "msg_fake_" + n;
  const std::string tool_id = "toolu_fake_" + n;
  const std::string signature = "sig-fake-" + n;
  const bool thinking = anthropic_thinking(x.request);
  json content;
  if (x.plan.tool_call) {
    x.ledger.remember(tool_id, signature);
    content = {{{"type", "tool_use"},
                {"id", tool_id},
                {"name", x.plan.tool_name},
                {"input", json::parse(x.plan.arguments)}}};
    if (thinking) {
      content.insert(
          content.begin(),
          json{{"type", "thinking"}, {"thinking", k_planning}, {"signature", signature}});
    }
  } else {
    content = {{{"type", "text"}, {"text", x.plan.text}}};
  }
  const char* stop = x.plan.tool_call ? "tool_use" : "end_turn";
  const json usage = {{"input_tokens", x.input_tokens},
                      {"output_tokens", x.output_tokens},
                      {"cache_creation_input_tokens", 0},
                      {"cache_read_input_tokens", 0}};
  json message = {
      {"id", id},           {"type", "message"},   {"role", "assistant"},      {"model", x.model},
      {"content", content}, {"stop_reason", stop}, {"stop_sequence", nullptr}, {"usage", usage}};
  if (!x.stream) {
    return json_reply(200, message);
  }
  message["content"] = json::array();
  message["stop_reason"] = nullptr;
  message["usage"]["output_tokens"] = 1;
  std::vector<std::string> events = {
      sse_event("message_start", {{"type", "message_start"}, {"message", message}}),
      sse_event("ping", {{"type", "ping"}})};
  auto block_start = [&](int index, const json& block) {
    events.push_back(
        sse_event("content_block_start",
                  {{"type", "content_block_start"}, {"index", index}, {"content_block", block}}));
  };
  auto block_delta = [&](int index, const json& delta) {
    events.push_back(
        sse_event("content_block_delta",
                  {{"type", "content_block_delta"}, {"index", index}, {"delta", delta}}));
  };
  auto block_stop = [&](int index) {
    events.push_back(
        sse_event("content_block_stop", {{"type", "content_block_stop"}, {"index", index}}));
  };
  if (x.plan.tool_call) {
    const int use = thinking ? 1 : 0;
    if (thinking) {
      block_start(0, {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}});
      block_delta(0, {{"type", "thinking_delta"}, {"thinking", k_planning}});
      block_delta(0, {{"type", "signature_delta"}, {"signature", signature}});
      block_stop(0);
    }
    block_start(use, {{"type", "tool_use"},
                      {"id", tool_id},
                      {"name", x.plan.tool_name},
                      {"input", json::object()}});
    for (const std::string& piece : split(x.plan.arguments, 2)) {
      block_delta(use, {{"type", "input_json_delta"}, {"partial_json", piece}});
    }
    block_stop(use);
  } else {
    block_start(0, {{"type", "text"}, {"text", ""}});
    for (const std::string& piece : split(x.plan.text, 3)) {
      block_delta(0, {{"type", "text_delta"}, {"text", piece}});
    }
    block_stop(0);
  }
  events.push_back(
      sse_event("message_delta", {{"type", "message_delta"},
                                  {"delta", {{"stop_reason", stop}, {"stop_sequence", nullptr}}},
                                  {"usage", {{"output_tokens", x.output_tokens}}}}));
  events.push_back(sse_event("message_stop", {{"type", "message_stop"}}));
  return stream_reply(std::move(events));
}

// OpenAI Chat Completions -------------------------------------------------------------------------

LastTurn read_chat(const json& request) {
  LastTurn turn;
  for (const json& tool : array_field(request, "tools")) {
    const std::string name = text_field(field(tool, "function"), "name");
    turn.tools.push_back(name.empty() ? text_field(field(tool, "custom"), "name") : name);
  }
  const json& messages = field(request, "messages");
  if (!messages.is_array() || messages.empty()) {
    throw BadRequest("Missing required parameter: 'messages'.");
  }
  // The user's turn: everything after the last assistant message.
  size_t start = messages.size();
  while (start > 0 && text_field(messages[start - 1], "role") != "assistant") {
    --start;
  }
  const json* first_tool = nullptr;
  for (size_t i = start; i < messages.size(); ++i) {
    const std::string role = text_field(messages[i], "role");
    if (role == "user") {
      turn.user_text = text_of(field(messages[i], "content"), {"text"});
    } else if (role == "tool") {
      first_tool = first_tool ? first_tool : &messages[i];
    }
  }
  if (!first_tool) {
    return turn;
  }
  const json& calls = start > 0 ? array_field(messages[start - 1], "tool_calls") : json::array();
  if (calls.empty()) {
    throw BadRequest("Invalid parameter: messages with role 'tool' must be a response to a "
                     "preceeding message with 'tool_calls'.");
  }
  for (size_t i = start; i < messages.size(); ++i) {
    if (text_field(messages[i], "role") != "tool") {
      continue;
    }
    const std::string id = text_field(messages[i], "tool_call_id");
    const bool known = std::any_of(calls.begin(), calls.end(),
                                   [&](const json& call) { return text_field(call, "id") == id; });
    if (!known) {
      throw BadRequest("Invalid parameter: 'tool_call_id' of '" + id +
                       "' not found in 'tool_calls' of previous message.");
    }
  }
  turn.has_tool_result = true;
  turn.tool_result = text_of(field(*first_tool, "content"), {"text"});
  for (size_t i = start; i < messages.size(); ++i) {
    turn.result_images += count_typed(field(messages[i], "content"), "image_url");
  }
  return turn;
}

ScriptedReply write_chat(const Exchange& x) {
  const std::string n = std::to_string(x.ledger.next());
  const std::string id = "chatcmpl-fake-" + n;
  const std::string call_id = "call_fake_" + n;
  const long long created = unix_now();
  const char* finish = x.plan.tool_call ? "tool_calls" : "stop";
  const json usage = {{"prompt_tokens", x.input_tokens},
                      {"completion_tokens", x.output_tokens},
                      {"total_tokens", x.input_tokens + x.output_tokens}};
  if (!x.stream) {
    json message = {{"role", "assistant"}, {"content", x.plan.text}, {"refusal", nullptr}};
    if (x.plan.tool_call) {
      message["content"] = nullptr;
      message["tool_calls"] = {
          {{"id", call_id},
           {"type", "function"},
           {"function", {{"name", x.plan.tool_name}, {"arguments", x.plan.arguments}}}}};
    }
    return json_reply(
        200,
        {{"id", id},
         {"object", "chat.completion"},
         {"created", created},
         {"model", x.model},
         {"choices",
          {{{"index", 0}, {"message", message}, {"logprobs", nullptr}, {"finish_reason", finish}}}},
         {"usage", usage}});
  }
  const bool include_usage = field(field(x.request, "stream_options"), "include_usage") == true;
  std::vector<std::string> events;
  auto chunk = [&](const json& delta, const json& finish_reason) {
    json data = {{"id", id},
                 {"object", "chat.completion.chunk"},
                 {"created", created},
                 {"model", x.model},
                 {"choices",
                  {{{"index", 0},
                    {"delta", delta},
                    {"logprobs", nullptr},
                    {"finish_reason", finish_reason}}}}};
    if (include_usage) {
      data["usage"] = nullptr;
    }
    events.push_back(sse(data));
  };
  if (x.plan.tool_call) {
    chunk({{"role", "assistant"},
           {"content", nullptr},
           {"tool_calls",
            {{{"index", 0},
              {"id", call_id},
              {"type", "function"},
              {"function", {{"name", x.plan.tool_name}, {"arguments", ""}}}}}}},
          nullptr);
    for (const std::string& piece : split(x.plan.arguments, 2)) {
      chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", piece}}}}}}}, nullptr);
    }
  } else {
    chunk({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr);
    for (const std::string& piece : split(x.plan.text, 3)) {
      chunk({{"content", piece}}, nullptr);
    }
  }
  chunk(json::object(), finish);
  if (include_usage) {
    events.push_back(sse({{"id", id},
                          {"object", "chat.completion.chunk"},
                          {"created", created},
                          {"model", x.model},
                          {"choices", json::array()},
                          {"usage", usage}}));
  }
  events.push_back("data: [DONE]\n\n");
  return stream_reply(std::move(events));
}

// OpenAI Responses --------------------------------------------------------------------------------

bool wants_encrypted_reasoning(const json& request) {
  const json& include = array_field(request, "include");
  return std::find(include.begin(), include.end(), "reasoning.encrypted_content") != include.end();
}

std::string item_type(const json& item) {
  const std::string type = text_field(item, "type");
  return type.empty() && field(item, "role").is_string() ? "message" : type;
}

LastTurn read_responses(const json& request, const ScriptLedger& ledger) {
  LastTurn turn;
  for (const json& tool : array_field(request, "tools")) {
    const std::string type = text_field(tool, "type");
    if (type == "function" || type == "custom") {
      turn.tools.push_back(text_field(tool, "name"));
    }
  }
  const json& input = field(request, "input");
  if (input.is_string()) {
    turn.user_text = input.get<std::string>();
    return turn;
  }
  if (!input.is_array()) {
    throw BadRequest("Missing required parameter: 'input'.");
  }
  // The user's turn: the items after the last one the assistant produced.
  auto from_user = [](const json& item) {
    const std::string type = item_type(item);
    return type == "function_call_output" || type == "custom_tool_call_output" ||
           (type == "message" && text_field(item, "role") != "assistant");
  };
  size_t start = input.size();
  while (start > 0 && from_user(input[start - 1])) {
    --start;
  }
  const json* first_output = nullptr;
  for (size_t i = start; i < input.size(); ++i) {
    const std::string type = item_type(input[i]);
    if (type == "message" && text_field(input[i], "role") == "user") {
      turn.user_text = text_of(field(input[i], "content"), {"input_text"});
    } else if (type != "message") {
      first_output = first_output ? first_output : &input[i];
      const bool custom = type == "custom_tool_call_output";
      const std::string call_id = text_field(input[i], "call_id");
      const bool known = std::any_of(input.begin(), input.end(), [&](const json& item) {
        return item_type(item) == (custom ? "custom_tool_call" : "function_call") &&
               text_field(item, "call_id") == call_id;
      });
      if (!known) {
        throw BadRequest(std::string("No tool call found for ") +
                         (custom ? "custom tool call" : "function call") + " output with call_id " +
                         call_id + ".");
      }
    }
  }
  if (!first_output) {
    return turn;
  }
  // Without stored state (store: false), the encrypted reasoning issued with a call has to come
  // back with it, or the model loses the reasoning that led to the call.
  const std::string call_id = text_field(*first_output, "call_id");
  const auto expected = ledger.secret_for(call_id);
  if (wants_encrypted_reasoning(request) && expected) {
    const bool present = std::any_of(input.begin(), input.end(), [&](const json& item) {
      return item_type(item) == "reasoning" && text_field(item, "encrypted_content") == *expected;
    });
    if (!present) {
      throw BadRequest("Item of type 'function_call' with call_id " + call_id +
                       " was provided without its required 'reasoning' item: the reasoning item "
                       "with the encrypted_content issued with that call is missing.");
    }
  }
  turn.has_tool_result = true;
  turn.tool_result = text_of(field(*first_output, "output"), {"input_text", "output_text"});
  for (size_t i = start; i < input.size(); ++i) {
    const bool message = item_type(input[i]) == "message";
    turn.result_images +=
        count_typed(field(input[i], message ? "content" : "output"), "input_image");
  }
  return turn;
}

ScriptedReply write_responses(const Exchange& x) {
  const std::string n = std::to_string(x.ledger.next());
  const std::string id = "resp_fake_" + n;
  const std::string call_id = "call_fake_" + n;
  const long long created = unix_now();
  const bool encrypted = wants_encrypted_reasoning(x.request);
  json output = json::array();
  if (x.plan.tool_call) {
    json reasoning = {{"id", "rs_fake_" + n},
                      {"type", "reasoning"},
                      {"summary", {{{"type", "summary_text"}, {"text", k_planning}}}}};
    if (encrypted) {
      reasoning["encrypted_content"] = "enc-fake-" + n;
      x.ledger.remember(call_id, "enc-fake-" + n);
    }
    output.push_back(reasoning);
    output.push_back({{"id", "fc_fake_" + n},
                      {"type", "function_call"},
                      {"status", "completed"},
                      {"arguments", x.plan.arguments},
                      {"call_id", call_id},
                      {"name", x.plan.tool_name}});
  } else {
    output.push_back(
        {{"id", "msg_fake_" + n},
         {"type", "message"},
         {"status", "completed"},
         {"role", "assistant"},
         {"content",
          {{{"type", "output_text"}, {"annotations", json::array()}, {"text", x.plan.text}}}}});
  }
  const size_t reasoning_tokens = x.plan.tool_call ? char_count(k_planning) / 4 : 0;
  const json usage = {{"input_tokens", x.input_tokens},
                      {"input_tokens_details", {{"cached_tokens", 0}}},
                      {"output_tokens", x.output_tokens},
                      {"output_tokens_details", {{"reasoning_tokens", reasoning_tokens}}},
                      {"total_tokens", x.input_tokens + x.output_tokens}};
  auto response = [&](const char* status, const json& items, const json& counts) {
    return json{{"id", id},
                {"object", "response"},
                {"created_at", created},
                {"status", status},
                {"error", nullptr},
                {"incomplete_details", nullptr},
                {"model", x.model},
                {"output", items},
                {"parallel_tool_calls", true},
                {"tool_choice", "auto"},
                {"tools", array_field(x.request, "tools")},
                {"usage", counts}};
  };
  if (!x.stream) {
    return json_reply(200, response("completed", output, usage));
  }
  std::vector<std::string> events;
  int sequence = 0;
  auto event = [&](const std::string& type, json data) {
    data["type"] = type;
    data["sequence_number"] = sequence++;
    events.push_back(sse_event(type, data));
  };
  event("response.created", {{"response", response("in_progress", json::array(), nullptr)}});
  event("response.in_progress", {{"response", response("in_progress", json::array(), nullptr)}});
  if (x.plan.tool_call) {
    const json& reasoning = output[0];
    const std::string rs_id = reasoning["id"];
    json opened = reasoning;
    opened["summary"] = json::array();
    event("response.output_item.added", {{"output_index", 0}, {"item", opened}});
    const json part = {{"type", "summary_text"}, {"text", k_planning}};
    const json where = {{"item_id", rs_id}, {"output_index", 0}, {"summary_index", 0}};
    event("response.reasoning_summary_part.added",
          merged(where, {{"part", {{"type", "summary_text"}, {"text", ""}}}}));
    event("response.reasoning_summary_text.delta", merged(where, {{"delta", k_planning}}));
    event("response.reasoning_summary_text.done", merged(where, {{"text", k_planning}}));
    event("response.reasoning_summary_part.done", merged(where, {{"part", part}}));
    event("response.output_item.done", {{"output_index", 0}, {"item", reasoning}});

    const json& call = output[1];
    const std::string fc_id = call["id"];
    json pending = call;
    pending["status"] = "in_progress";
    pending["arguments"] = "";
    event("response.output_item.added", {{"output_index", 1}, {"item", pending}});
    for (const std::string& piece : split(x.plan.arguments, 2)) {
      event("response.function_call_arguments.delta",
            {{"item_id", fc_id}, {"output_index", 1}, {"delta", piece}});
    }
    event("response.function_call_arguments.done",
          {{"item_id", fc_id}, {"output_index", 1}, {"arguments", x.plan.arguments}});
    event("response.output_item.done", {{"output_index", 1}, {"item", call}});
  } else {
    const json& message = output[0];
    const std::string msg_id = message["id"];
    json pending = message;
    pending["status"] = "in_progress";
    pending["content"] = json::array();
    event("response.output_item.added", {{"output_index", 0}, {"item", pending}});
    const json where = {{"item_id", msg_id}, {"output_index", 0}, {"content_index", 0}};
    event("response.content_part.added",
          merged(
              where,
              {{"part", {{"type", "output_text"}, {"annotations", json::array()}, {"text", ""}}}}));
    for (const std::string& piece : split(x.plan.text, 3)) {
      event("response.output_text.delta",
            merged(where, {{"delta", piece}, {"logprobs", json::array()}}));
    }
    event("response.output_text.done",
          merged(where, {{"text", x.plan.text}, {"logprobs", json::array()}}));
    event("response.content_part.done", merged(where, {{"part", message["content"][0]}}));
    event("response.output_item.done", {{"output_index", 0}, {"item", message}});
  }
  event("response.completed", {{"response", response("completed", output, usage)}});
  return stream_reply(std::move(events));
}

// Gemini ------------------------------------------------------------------------------------------

// The text a functionResponse hands back: its response's "result", "output", "content" or "text"
// when that is a string (the shapes translators use), else the response as JSON.
std::string function_response_text(const json& function_response) {
  const json& response = field(function_response, "response");
  for (const char* key : {"result", "output", "content", "text"}) {
    if (field(response, key).is_string()) {
      return field(response, key).get<std::string>();
    }
  }
  return response.is_string() ? response.get<std::string>() : dump(response);
}

LastTurn read_gemini(const json& request, const ScriptLedger& ledger) {
  LastTurn turn;
  for (const json& tool : array_field(request, "tools")) {
    for (const json& declaration : array_field(tool, "functionDeclarations")) {
      turn.tools.push_back(text_field(declaration, "name"));
    }
  }
  const json& contents = field(request, "contents");
  if (!contents.is_array() || contents.empty()) {
    throw BadRequest("* GenerateContentRequest.contents: contents is not specified");
  }
  size_t user = contents.size();
  while (user > 0 && text_field(contents[user - 1], "role") == "model") {
    --user;
  }
  if (user == 0) {
    return turn;
  }
  --user;
  std::vector<const json*> responses;
  for (const json& part : array_field(contents[user], "parts")) {
    if (field(part, "text").is_string()) {
      turn.user_text += part["text"].get<std::string>();
    }
    if (field(part, "functionResponse").is_object()) {
      responses.push_back(&part["functionResponse"]);
    }
  }
  if (responses.empty()) {
    return turn;
  }
  std::vector<const json*> calls;
  std::vector<size_t> positions;
  if (user > 0 && text_field(contents[user - 1], "role") == "model") {
    const json& parts = array_field(contents[user - 1], "parts");
    for (size_t k = 0; k < parts.size(); ++k) {
      if (field(parts[k], "functionCall").is_object()) {
        calls.push_back(&parts[k]);
        positions.push_back(k);
      }
    }
  }
  if (calls.empty()) {
    throw BadRequest(
        "Please ensure that function response turn comes immediately after a function call turn.");
  }
  if (calls.size() != responses.size()) {
    throw BadRequest("Please ensure that the number of function response parts is equal to the "
                     "number of function call parts of the function call turn.");
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string called = text_field((*calls[i])["functionCall"], "name");
    const std::string answered = text_field(*responses[i], "name");
    if (called != answered) {
      throw BadRequest("The name `" + answered + "` of function response " + std::to_string(i) +
                       " does not match the name `" + called +
                       "` of the function call it answers.");
    }
  }
  // Only the first call of a turn carries the signature (it covers parallel calls too).
  const json& first = *calls.front();
  if (!field(first, "thoughtSignature").is_string()) {
    throw BadRequest("Function call is missing a thought_signature in functionCall parts. This is "
                     "required for tools to work correctly. Additional data, function call `" +
                     text_field(first["functionCall"], "name") + "` , position " +
                     std::to_string(positions.front() + 1) + ".");
  }
  if (!ledger.issued(first["thoughtSignature"].get<std::string>())) {
    throw BadRequest("Corrupted thought signature.");
  }
  turn.has_tool_result = true;
  turn.tool_result = function_response_text(*responses.front());
  for (const json& part : array_field(contents[user], "parts")) {
    const json& response = field(part, "functionResponse");
    const json& inner = response.is_object() ? array_field(response, "parts") : json::array({part});
    for (const json& each : inner) {
      turn.result_images += field(each, "inlineData").is_object() ? 1 : 0;
    }
  }
  return turn;
}

ScriptedReply write_gemini(const Exchange& x) {
  const std::string n = std::to_string(x.ledger.next());
  const std::string response_id = "fake-gemini-" + n;
  const json usage = {{"promptTokenCount", x.input_tokens},
                      {"candidatesTokenCount", x.output_tokens},
                      {"totalTokenCount", x.input_tokens + x.output_tokens}};
  auto chunk = [&](const json& parts, bool last) {
    json candidate = {{"content", {{"parts", parts}, {"role", "model"}}}, {"index", 0}};
    if (last) {
      candidate["finishReason"] = "STOP";
    }
    return json{{"candidates", json::array({candidate})},
                {"usageMetadata", last ? usage
                                       : json{{"promptTokenCount", x.input_tokens},
                                              {"totalTokenCount", x.input_tokens}}},
                {"modelVersion", x.model},
                {"responseId", response_id}};
  };
  std::vector<json> chunks;
  if (x.plan.tool_call) {
    const std::string signature = "sig-fake-" + n;
    x.ledger.remember("", signature);
    // The call goes out whole, in one chunk, as Gemini sends calls.
    chunks.push_back(chunk(
        {{{"functionCall", {{"name", x.plan.tool_name}, {"args", json::parse(x.plan.arguments)}}},
          {"thoughtSignature", signature}}},
        true));
  } else if (!x.stream) {
    chunks.push_back(chunk({{{"text", x.plan.text}}}, true));
  } else {
    const std::vector<std::string> pieces = split(x.plan.text, 3);
    for (size_t i = 0; i < pieces.size(); ++i) {
      chunks.push_back(chunk({{{"text", pieces[i]}}}, i + 1 == pieces.size()));
    }
  }
  if (!x.stream) {
    return json_reply(200, chunks.front());
  }
  if (!x.gemini_sse) {
    return json_reply(200, json(chunks)); // without alt=sse Gemini streams one JSON array
  }
  std::vector<std::string> events;
  for (const json& data : chunks) {
    events.push_back("data: " + dump(data) + "\r\n\r\n"); // Google's servers end lines with CRLF
  }
  return stream_reply(std::move(events));
}

} // namespace

bool is_scripted_model(std::string_view model) {
  return model.starts_with("scripted");
}

ScriptedReply scripted_reply(ScriptLedger& ledger, std::string_view path, std::string_view query,
                             std::string_view body) {
  const size_t models = path.find("/models/");
  std::string model;
  std::string action;
  Family family = Family::chat;
  if (models != std::string_view::npos) {
    family = Family::gemini;
    const size_t colon = path.find(':', models);
    model = std::string(path.substr(models + 8, colon - (models + 8)));
    action = colon == std::string_view::npos ? "" : std::string(path.substr(colon + 1));
  } else if (path.ends_with("/messages") || path.ends_with("/messages/count_tokens")) {
    family = Family::anthropic;
  } else if (path.ends_with("/responses")) {
    family = Family::responses;
  } else if (!path.ends_with("/chat/completions")) {
    return error_reply(Family::chat, 404,
                       "Unknown request URL: POST " + std::string(path) +
                           ". Please check the URL for typos.",
                       "unknown_url");
  }
  const json request = json::parse(body, nullptr, false);
  if (!request.is_object()) {
    return error_reply(family, 400, "The request body is not valid JSON.");
  }
  const size_t input_tokens = char_count(body) / 4;
  if (path.ends_with("/messages/count_tokens")) {
    return json_reply(200, {{"input_tokens", input_tokens}});
  }
  if (family == Family::gemini && action == "countTokens") {
    return json_reply(200, {{"totalTokens", input_tokens}});
  }
  if (family == Family::gemini && action != "generateContent" &&
      action != "streamGenerateContent") {
    return error_reply(family, 404, "Method not found: " + action);
  }
  try {
    LastTurn turn;
    switch (family) {
    case Family::anthropic:
      turn = read_anthropic(request, ledger);
      break;
    case Family::chat:
      turn = read_chat(request);
      break;
    case Family::responses:
      turn = read_responses(request, ledger);
      break;
    case Family::gemini:
      turn = read_gemini(request, ledger);
      break;
    }
    Exchange exchange{ledger, request, model, false, false, input_tokens, 0, plan_for(turn)};
    const Plan& plan = exchange.plan;
    exchange.output_tokens =
        char_count(plan.tool_call ? k_planning + plan.arguments : plan.text) / 4;
    if (family == Family::gemini) {
      exchange.stream = action == "streamGenerateContent";
      exchange.gemini_sse = ("&" + std::string(query) + "&").find("&alt=sse&") != std::string::npos;
      return write_gemini(exchange);
    }
    exchange.model = text_field(request, "model");
    exchange.stream = field(request, "stream") == true;
    switch (family) {
    case Family::anthropic:
      return write_anthropic(exchange);
    case Family::responses:
      return write_responses(exchange);
    default:
      return write_chat(exchange);
    }
  } catch (const BadRequest& refusal) {
    return error_reply(family, 400, refusal.what());
  } catch (const json::exception& error) {
    return error_reply(family, 400, std::string("malformed request: ") + error.what());
  }
}

} // namespace agproxy::test
