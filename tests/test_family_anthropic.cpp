#include "server/protocols/family.hpp"
#include "server/protocols/sse.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using namespace agproxy;
using nlohmann::json;

namespace {

const Family& family() {
  return anthropic_family();
}

ir::Conversation read(const json& body) {
  return family().read_request(body, RequestSite{});
}

json written(const ir::Conversation& conversation) {
  const WireRequest request = family().write_request(conversation);
  CHECK(request.path == "/v1/messages");
  return json::parse(request.body);
}

ir::Part text_part(const std::string& text) {
  ir::Part part;
  part.text = text;
  return part;
}

ir::Part call_part(const std::string& id, const std::string& name, const std::string& arguments,
                   const std::string& signature = "") {
  ir::Part part;
  part.kind = ir::Part::Kind::tool_call;
  part.call = {id, name, arguments, signature};
  return part;
}

ir::Part result_part(const std::string& id, const std::string& content, bool is_error = false) {
  ir::Part part;
  part.kind = ir::Part::Kind::tool_result;
  part.result = {id, "", content, is_error, {}};
  return part;
}

ir::Part reasoning_part(const std::string& text, const std::string& signature,
                        bool redacted = false) {
  ir::Part part;
  part.kind = ir::Part::Kind::reasoning;
  part.reasoning = {text, signature, redacted};
  return part;
}

ir::Message message(ir::Role role, std::vector<ir::Part> parts) {
  return {role, std::move(parts)};
}

// A readable form of an event, for comparing event lists.
std::string describe(const ir::Event& event) {
  json out = {{"kind", static_cast<int>(event.kind)}, {"index", event.index}};
  for (const auto& [key, value] : {std::pair{"text", &event.text},
                                   {"id", &event.id},
                                   {"model", &event.model},
                                   {"name", &event.name},
                                   {"signature", &event.signature}}) {
    if (!value->empty()) {
      out[key] = *value;
    }
  }
  if (event.redacted) {
    out["redacted"] = true;
  }
  if (event.kind == ir::Event::Kind::finish) {
    out["finish"] = static_cast<int>(event.finish);
  }
  if (event.kind == ir::Event::Kind::start || event.kind == ir::Event::Kind::finish) {
    out["usage"] = {event.usage.input, event.usage.output, event.usage.cached};
  }
  if (event.kind == ir::Event::Kind::error) {
    out["status"] = event.status;
  }
  return out.dump();
}

std::vector<std::string> describe(const std::vector<ir::Event>& events) {
  std::vector<std::string> out;
  for (const ir::Event& event : events) {
    out.push_back(describe(event));
  }
  return out;
}

// Return the events of `stream` fed to a fresh reader in pieces cut at `cuts`.
std::vector<ir::Event> read_stream(std::string_view stream, const std::vector<size_t>& cuts = {}) {
  auto reader = family().stream_reader();
  std::vector<ir::Event> events;
  size_t at = 0;
  for (const size_t cut : cuts) {
    reader->feed(stream.substr(at, cut - at), events);
    at = cut;
  }
  reader->feed(stream.substr(at), events);
  reader->finish(events);
  return events;
}

// Check `stream` as an Anthropic client would read it: `event: NAME` and `data: JSON` lines per
// event, the JSON's type naming the event, message_start first, content blocks opened, extended
// with deltas of their own kind and closed in index order, message_delta then message_stop last
// (or an error event, after which nothing). Returns the data of every event.
std::vector<json> check_stream(const std::string& stream) {
  std::vector<json> out;
  REQUIRE(stream.size() >= 2);
  REQUIRE(stream.substr(stream.size() - 2) == "\n\n");
  enum class Stage { before, in_message, in_block, after_delta, done } stage = Stage::before;
  std::string block_type;
  long long next_block = 0;
  size_t at = 0;
  while (at < stream.size()) {
    const size_t end = stream.find("\n\n", at);
    REQUIRE(end != std::string::npos);
    const std::string event = stream.substr(at, end - at);
    at = end + 2;
    const size_t newline = event.find('\n');
    REQUIRE(newline != std::string::npos);
    REQUIRE(event.substr(0, 7) == "event: ");
    REQUIRE(event.substr(newline + 1, 6) == "data: ");
    const std::string name = event.substr(7, newline - 7);
    const std::string data_text = event.substr(newline + 7);
    REQUIRE(data_text.find('\n') == std::string::npos);
    const json data = json::parse(data_text);
    REQUIRE(data.at("type") == name);
    REQUIRE(stage != Stage::done);
    if (name == "error") {
      REQUIRE(data.at("error").at("type").is_string());
      REQUIRE(data.at("error").at("message").is_string());
      stage = Stage::done;
    } else if (name == "message_start") {
      REQUIRE(stage == Stage::before);
      const json& message = data.at("message");
      REQUIRE(message.at("id").is_string());
      REQUIRE(message.at("role") == "assistant");
      REQUIRE(message.at("content") == json::array());
      REQUIRE(message.at("usage").at("input_tokens").is_number_integer());
      stage = Stage::in_message;
    } else if (name == "content_block_start") {
      REQUIRE(stage == Stage::in_message);
      REQUIRE(data.at("index") == next_block);
      block_type = data.at("content_block").at("type");
      REQUIRE((block_type == "text" || block_type == "thinking" ||
               block_type == "redacted_thinking" || block_type == "tool_use"));
      if (block_type == "tool_use") {
        REQUIRE(data["content_block"].at("id").is_string());
        REQUIRE(data["content_block"].at("name").is_string());
        REQUIRE(data["content_block"].at("input") == json::object());
      }
      stage = Stage::in_block;
    } else if (name == "content_block_delta") {
      REQUIRE(stage == Stage::in_block);
      REQUIRE(data.at("index") == next_block);
      const std::string type = data.at("delta").at("type");
      if (block_type == "text") {
        REQUIRE(type == "text_delta");
      } else if (block_type == "thinking") {
        REQUIRE((type == "thinking_delta" || type == "signature_delta"));
      } else if (block_type == "tool_use") {
        REQUIRE(type == "input_json_delta");
      } else {
        FAIL("a delta for a redacted_thinking block");
      }
    } else if (name == "content_block_stop") {
      REQUIRE(stage == Stage::in_block);
      REQUIRE(data.at("index") == next_block);
      ++next_block;
      stage = Stage::in_message;
    } else if (name == "message_delta") {
      REQUIRE(stage == Stage::in_message);
      REQUIRE(data.at("delta").at("stop_reason").is_string());
      REQUIRE(data.at("usage").at("output_tokens").is_number_integer());
      stage = Stage::after_delta;
    } else if (name == "message_stop") {
      REQUIRE(stage == Stage::after_delta);
      stage = Stage::done;
    } else {
      FAIL("unknown event " << name);
    }
    out.push_back(data);
  }
  REQUIRE(stage == Stage::done);
  return out;
}

std::string write_stream(const std::vector<ir::Event>& events, bool finish = true) {
  ir::Conversation request;
  request.model = "claude-sonnet-4-5";
  auto writer = family().stream_writer(request, RequestSite{});
  std::string out;
  for (const ir::Event& event : events) {
    writer->write(event, out);
  }
  if (finish) {
    writer->finish(out);
  }
  return out;
}

ir::Event event(ir::Event::Kind kind, size_t index = 0, const std::string& text = "") {
  ir::Event out;
  out.kind = kind;
  out.index = index;
  out.text = text;
  return out;
}

// A streamed reply as Anthropic sends it: thinking with its signature, text, a tool call whose
// arguments come in several pieces, a ping and cumulative usage.
const std::string k_recorded_stream =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
    "\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,"
    "\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":2000,\"output_tokens\":2}}}"
    "\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\","
    "\"thinking\":\"\",\"signature\":\"\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
    "\"thinking\":\"The user wants the weather \\u00e9\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\","
    "\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA2b3h\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\","
    "\"text\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"Let me check \xe6\x97\xa5\xe6\x9c\xac.\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"{\\\"location\\\": \\\"San Fra\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"ncisco, CA\\\", \\\"unit\\\": \\\"c\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"elsius\\\"}\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
    "\"stop_sequence\":null},\"usage\":{\"input_tokens\":472,\"cache_creation_input_tokens\":100,"
    "\"cache_read_input_tokens\":2000,\"output_tokens\":89}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

std::vector<std::string> recorded_stream_events() {
  return {
      R"({"id":"msg_01XFDUDYJgAACzvnptvVoYEL","index":0,"kind":0,"model":"claude-sonnet-4-5-20250929","usage":[2572,0,2000]})",
      R"({"index":0,"kind":2,"text":"The user wants the weather é"})",
      R"({"index":0,"kind":3,"text":"EqQBCgIYAhIM1gbcDa9GJwZA2b3h"})",
      R"({"index":1,"kind":1,"text":"Let me check 日本."})",
      R"({"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","index":2,"kind":4,"name":"get_weather"})",
      R"({"index":2,"kind":5,"text":"{\"location\": \"San Fra"})",
      R"({"index":2,"kind":5,"text":"ncisco, CA\", \"unit\": \"c"})",
      R"({"index":2,"kind":5,"text":"elsius\"}"})",
      R"({"finish":2,"index":0,"kind":6,"usage":[2572,89,2000]})",
  };
}

// A request shaped like Claude Code's.
json claude_code_request() {
  return json::parse(R"({
    "model": "claude-sonnet-4-5-20250929",
    "max_tokens": 32000,
    "stream": true,
    "temperature": 1,
    "metadata": {"user_id": "user_abc_account__session_123"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "thinking": {"type": "enabled", "budget_tokens": 31999},
    "system": [
      {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
       "cache_control": {"type": "ephemeral"}},
      {"type": "text", "text": "Working directory: /home/me/project"}
    ],
    "tools": [
      {"name": "Read", "description": "Reads a file.",
       "input_schema": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                        "properties": {"file_path": {"type": "string"}},
                        "required": ["file_path"], "additionalProperties": false}},
      {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
      {"type": "custom", "name": "Bash", "input_schema": {"type": "object"},
       "cache_control": {"type": "ephemeral"}}
    ],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
    "messages": [
      {"role": "user", "content": "Read main.cpp"},
      {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "I should read it.", "signature": "EqQBsig"},
        {"type": "redacted_thinking", "data": "EmwKAhgBredacted"},
        {"type": "text", "text": "Reading."},
        {"type": "tool_use", "id": "toolu_01A__sig__Q2lnbmF0dXJl", "name": "Read",
         "input": {"file_path": "/home/me/project/main.cpp"}}
      ]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01A__sig__Q2lnbmF0dXJl",
         "content": [{"type": "text", "text": "int main() {}"},
                     {"type": "text", "text": "// end"}], "is_error": false,
         "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "What does it do? \u00fc\u2603"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
      ]}
    ]
  })");
}

} // namespace

TEST_CASE("anthropic: read_request of a Claude Code request") {
  const ir::Conversation c = read(claude_code_request());
  CHECK(c.model == "claude-sonnet-4-5-20250929");
  CHECK(c.system == "You are Claude Code, Anthropic's official CLI for Claude.\n\n"
                    "Working directory: /home/me/project");
  CHECK(c.max_tokens == 32000);
  CHECK(c.temperature == 1.0);
  CHECK(c.stream);
  CHECK(c.reasoning_budget == 31999);
  CHECK(c.reasoning_effort.empty());
  CHECK(c.tool_choice.mode == ir::ToolChoice::Mode::automatic);
  CHECK(c.parallel_tool_calls == false);
  REQUIRE(c.tools.size() == 2); // the server tool is dropped
  CHECK(c.tools[0].name == "Read");
  CHECK(c.tools[0].description == "Reads a file.");
  CHECK(c.tools[0].parameters == claude_code_request()["tools"][0]["input_schema"]);
  CHECK(c.tools[1].name == "Bash");
  CHECK(c.tools[1].parameters == json{{"type", "object"}});

  REQUIRE(c.messages.size() == 3);
  CHECK(c.messages[0].role == ir::Role::user);
  REQUIRE(c.messages[0].parts.size() == 1);
  CHECK(c.messages[0].parts[0].text == "Read main.cpp");

  const auto& assistant = c.messages[1];
  CHECK(assistant.role == ir::Role::assistant);
  REQUIRE(assistant.parts.size() == 4);
  CHECK(assistant.parts[0].kind == ir::Part::Kind::reasoning);
  CHECK(assistant.parts[0].reasoning.text == "I should read it.");
  CHECK(assistant.parts[0].reasoning.signature == "EqQBsig");
  CHECK_FALSE(assistant.parts[0].reasoning.redacted);
  CHECK(assistant.parts[1].reasoning.redacted);
  CHECK(assistant.parts[1].reasoning.signature == "EmwKAhgBredacted");
  CHECK(assistant.parts[2].text == "Reading.");
  CHECK(assistant.parts[3].kind == ir::Part::Kind::tool_call);
  CHECK(assistant.parts[3].call.id == "toolu_01A");
  CHECK(assistant.parts[3].call.signature == "Q2lnbmF0dXJl");
  CHECK(assistant.parts[3].call.name == "Read");
  CHECK(json::parse(assistant.parts[3].call.arguments) ==
        json{{"file_path", "/home/me/project/main.cpp"}});

  const auto& user = c.messages[2];
  REQUIRE(user.parts.size() == 4);
  CHECK(user.parts[0].kind == ir::Part::Kind::tool_result);
  CHECK(user.parts[0].result.id == "toolu_01A");
  CHECK(user.parts[0].result.name == "Read");
  CHECK(user.parts[0].result.content == "int main() {}\n// end");
  CHECK_FALSE(user.parts[0].result.is_error);
  CHECK(user.parts[1].text == "What does it do? \xc3\xbc\xe2\x98\x83");
  CHECK(user.parts[2].kind == ir::Part::Kind::image);
  CHECK(user.parts[2].image.media_type == "image/png");
  CHECK(user.parts[2].image.data == "iVBORw0KGgo=");
  CHECK(user.parts[3].image.url == "https://example.com/a.png");
}

TEST_CASE("anthropic: read_request options") {
  json body = {{"model", "m"},
               {"messages", {{{"role", "user"}, {"content", "hi"}}}},
               {"top_p", 0.5},
               {"top_k", 40},
               {"stop_sequences", {"END", "STOP"}}};
  ir::Conversation c = read(body);
  CHECK(c.top_p == 0.5);
  CHECK(c.top_k == 40);
  CHECK(c.stop == std::vector<std::string>{"END", "STOP"});
  CHECK_FALSE(c.max_tokens);
  CHECK_FALSE(c.stream);
  CHECK(c.tool_choice.mode == ir::ToolChoice::Mode::unset);
  CHECK_FALSE(c.parallel_tool_calls);

  struct Row {
    json tool_choice;
    ir::ToolChoice::Mode mode;
    std::string name;
  };
  for (const Row& row : std::vector<Row>{
           {{{"type", "auto"}}, ir::ToolChoice::Mode::automatic, ""},
           {{{"type", "any"}}, ir::ToolChoice::Mode::required, ""},
           {{{"type", "none"}}, ir::ToolChoice::Mode::none, ""},
           {{{"type", "tool"}, {"name", "Read"}}, ir::ToolChoice::Mode::tool, "Read"},
       }) {
    body["tool_choice"] = row.tool_choice;
    c = read(body);
    CHECK(c.tool_choice.mode == row.mode);
    CHECK(c.tool_choice.name == row.name);
  }

  body.erase("tool_choice");
  body["thinking"] = {{"type", "disabled"}};
  c = read(body);
  CHECK_FALSE(c.reasoning_budget);
  CHECK(c.reasoning_effort.empty());
  body["thinking"] = {{"type", "adaptive"}};
  CHECK(read(body).reasoning_effort == "medium");
  body["output_config"] = {{"effort", "high"}};
  CHECK(read(body).reasoning_effort == "high");

  const json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "string"}}}}}};
  body["output_format"] = {{"type", "json_schema"}, {"schema", schema}};
  c = read(body);
  CHECK(c.format.kind == ir::OutputFormat::Kind::json_schema);
  CHECK(c.format.schema == schema);
  CHECK(c.format.name == "response");
  body.erase("output_format");
  body["output_config"] = {{"format", {{"type", "json_schema"}, {"schema", schema}}}};
  CHECK(read(body).format.schema == schema);

  // Fields that only tune the answer are dropped.
  body = {{"model", "m"},
          {"messages", {{{"role", "user"}, {"content", "hi"}}}},
          {"metadata", {{"user_id", "u"}}},
          {"service_tier", "auto"},
          {"container", "c"},
          {"mcp_servers", json::array()},
          {"context_management", json::object()}};
  CHECK_NOTHROW(read(body));
}

TEST_CASE("anthropic: read_request refuses what cannot be carried") {
  const auto field_of = [](const json& body) {
    try {
      read(body);
    } catch (const ir::Untranslatable& error) {
      CHECK(std::string(error.what()).find("cannot be translated to another API family") !=
            std::string::npos);
      CHECK(std::string(error.what()).find(error.field()) != std::string::npos);
      return error.field();
    }
    return std::string("(accepted)");
  };
  const auto with_block = [](const json& block) {
    return json{{"model", "m"},
                {"messages",
                 {{{"role", "user"}, {"content", "hi"}},
                  {{"role", "assistant"}, {"content", "ok"}},
                  {{"role", "user"}, {"content", "more"}},
                  {{"role", "user"}, {"content", {block}}}}}};
  };
  CHECK(
      field_of(with_block({{"type", "document"}, {"source", {{"type", "text"}, {"data", "x"}}}})) ==
      "messages[3].content[0].type");
  CHECK(field_of(with_block({{"type", "search_result"}, {"source", "s"}})) ==
        "messages[3].content[0].type");
  CHECK(field_of(with_block({{"type", "server_tool_use"}, {"id", "srvtoolu_1"}})) ==
        "messages[3].content[0].type");
  CHECK(field_of(with_block({{"type", "tool_result"},
                             {"tool_use_id", "t"},
                             {"content", {{{"type", "document"}}}}})) ==
        "messages[3].content[0].content[0].type");
  CHECK(
      field_of(with_block({{"type", "image"}, {"source", {{"type", "file"}, {"file_id", "f"}}}})) ==
      "messages[3].content[0].source.type");
  CHECK(field_of({{"model", "m"},
                  {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                  {"output_format", {{"type", "grammar"}}}}) == "output_format.type");
  // An image inside a tool result is carried (ir::ToolResult::images).
  CHECK(
      field_of(with_block(
          {{"type", "tool_result"},
           {"tool_use_id", "t"},
           {"content", {{{"type", "image"}, {"source", {{"type", "base64"}, {"data", "x"}}}}}}})) ==
      "(accepted)");
}

TEST_CASE("anthropic: read_request rejects bodies that are not requests") {
  const json bodies[] = {
      json::array(),
      json("text"),
      json::object(),
      {{"model", "m"}, {"messages", "hi"}},
      {{"model", 5}, {"messages", json::array()}},
      {{"model", "m"}, {"messages", {{{"role", "tool"}, {"content", "x"}}}}},
      {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", 5}}}}},
      {{"model", "m"}, {"messages", {{{"role", "user"}}}}},
      {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", {5}}}}}},
      {{"model", "m"},
       {"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", 5}}}}}}}},
      {{"model", "m"}, {"messages", json::array()}, {"max_tokens", "many"}},
      {{"model", "m"}, {"messages", json::array()}, {"max_tokens", 1.5}},
      {{"model", "m"}, {"messages", json::array()}, {"temperature", "hot"}},
      {{"model", "m"}, {"messages", json::array()}, {"tools", {{{"description", "no name"}}}}},
      {{"model", "m"}, {"messages", json::array()}, {"tool_choice", {{"type", "sometimes"}}}},
      {{"model", "m"}, {"messages", json::array()}, {"stop_sequences", {1}}},
      {{"model", "m"},
       {"messages",
        {{{"role", "assistant"},
          {"content", {{{"type", "tool_use"}, {"id", "t"}, {"name", "n"}, {"input", "x"}}}}}}}},
  };
  for (const json& body : bodies) {
    CAPTURE(body.dump());
    CHECK_THROWS_AS(read(body), std::invalid_argument);
  }
}

TEST_CASE("anthropic: write_request golden") {
  ir::Conversation c;
  c.model = "claude-haiku-4-5";
  c.system = "Be brief.";
  c.messages = {
      message(ir::Role::assistant, {text_part("Earlier answer")}),
      message(ir::Role::user, {text_part(""), text_part("Hi")}),
      message(ir::Role::user, {text_part("again")}),
      message(ir::Role::assistant,
              {text_part("Calling."), call_part("call_1", "get", R"({"q":"x"})", "R2VtaW5p"),
               call_part("call_2", "get", "not json"), reasoning_part("why", "sig")}),
      message(ir::Role::user,
              {text_part("also"), result_part("call_1", "42"), result_part("call_2", "", true)}),
      message(ir::Role::user, {}),
  };
  ir::Part image;
  image.kind = ir::Part::Kind::image;
  image.image.url = "https://example.com/cat.png";
  c.messages.back().parts.push_back(image);
  image.image = {"image/jpeg", "/9j/4AAQ", ""};
  c.messages.back().parts.push_back(image);
  ir::Tool tool;
  tool.name = "get";
  tool.description = "Get a thing.";
  tool.parameters = {{"type", "object"}, {"properties", {{"q", {{"type", "string"}}}}}};
  ir::Tool bare;
  bare.name = "now";
  c.tools = {tool, bare};
  c.temperature = 1.7;
  c.top_p = 0.9;
  c.top_k = 5;
  c.stop = {"END"};
  c.parallel_tool_calls = false;

  const json expected = json::parse(R"({
    "model": "claude-haiku-4-5",
    "max_tokens": 8192,
    "system": "Be brief.",
    "messages": [
      {"role": "user", "content": "."},
      {"role": "assistant", "content": [{"type": "text", "text": "Earlier answer"}]},
      {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "again"}]},
      {"role": "assistant", "content": [
        {"type": "text", "text": "Calling."},
        {"type": "tool_use", "id": "call_1", "name": "get", "input": {"q": "x"}},
        {"type": "tool_use", "id": "call_2", "name": "get", "input": {}}
      ]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "42"},
        {"type": "tool_result", "tool_use_id": "call_2", "is_error": true},
        {"type": "text", "text": "also"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}}
      ]}
    ],
    "tools": [
      {"name": "get", "description": "Get a thing.",
       "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}},
      {"name": "now", "input_schema": {"type": "object", "properties": {}}}
    ],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
    "temperature": 1.0,
    "top_k": 5,
    "stop_sequences": ["END"]
  })");
  CHECK(written(c) == expected);
}

TEST_CASE("anthropic: write_request thinking") {
  ir::Conversation c;
  c.model = "claude-opus-4-1";
  c.messages = {
      message(ir::Role::user, {text_part("Q")}),
      message(ir::Role::assistant, {text_part("A"), reasoning_part("thought", "sig1"),
                                    reasoning_part("", "redacted-data", true),
                                    reasoning_part("no sig", ""), call_part("toolu_1", "f", "{}")}),
      message(ir::Role::user, {result_part("toolu_1", "done")})};
  c.temperature = 0.3;
  c.top_k = 3;
  c.top_p = 0.97;

  SUBCASE("a budget, raised to Anthropic's minimum, under the client's max_tokens") {
    c.reasoning_budget = 500;
    c.max_tokens = 4000;
    const json body = written(c);
    CHECK(body["thinking"] == json{{"type", "enabled"}, {"budget_tokens", 1024}});
    CHECK(body["max_tokens"] == 4000);
    CHECK_FALSE(body.contains("temperature"));
    CHECK_FALSE(body.contains("top_k"));
    CHECK(body["top_p"] == 0.97);
    CHECK(body["messages"][1]["content"] == json::parse(R"([
      {"type": "thinking", "thinking": "thought", "signature": "sig1"},
      {"type": "redacted_thinking", "data": "redacted-data"},
      {"type": "text", "text": "A"},
      {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}])"));
  }
  SUBCASE("efforts") {
    c.top_p = 0.5;
    const std::pair<const char*, long long> rows[] = {
        {"minimal", 1024}, {"low", 2048}, {"medium", 8192}, {"high", 24576}, {"other", 8192}};
    for (const auto& [effort, budget] : rows) {
      c.reasoning_effort = effort;
      const json body = written(c);
      CHECK(body["thinking"]["budget_tokens"] == budget);
      // No client cap: the default, grown past the budget up to 32,000 (Opus 4's most).
      CHECK(body["max_tokens"] == (budget < 8192 ? 8192 : std::min(budget + 8192, 32000LL)));
      CHECK_FALSE(body.contains("top_p"));
    }
    c.reasoning_effort = "none";
    CHECK_FALSE(written(c).contains("thinking"));
  }
  SUBCASE(
      "the client's max_tokens is a cap: the budget gives way, and below 1024 thinking goes off") {
    c.reasoning_budget = 8192;
    c.max_tokens = 3000;
    json body = written(c);
    CHECK(body["max_tokens"] == 3000);
    CHECK(body["thinking"]["budget_tokens"] == 2999);
    c.max_tokens = 1000;
    body = written(c);
    CHECK(body["max_tokens"] == 1000);
    CHECK_FALSE(body.contains("thinking"));
  }
  SUBCASE("a Gemini budget of 0 turns thinking off") {
    c.reasoning_budget = 0;
    const json body = written(c);
    CHECK_FALSE(body.contains("thinking"));
    CHECK(body["temperature"] == 0.3);
    CHECK_FALSE(body.contains("top_p"));
    CHECK(body["top_k"] == 3);
    CHECK(body["max_tokens"] == 8192);
    // Without thinking, past thinking is not sent.
    CHECK(body["messages"][1]["content"].size() == 2);
  }
  SUBCASE("a forced tool turns thinking off") {
    c.reasoning_budget = 4000;
    c.tools = {ir::Tool{"f", "", json::object()}};
    c.tool_choice = {ir::ToolChoice::Mode::tool, "f"};
    const json body = written(c);
    CHECK_FALSE(body.contains("thinking"));
    CHECK(body["tool_choice"] == json{{"type", "tool"}, {"name", "f"}});
  }
  SUBCASE("a tool turn without signed thinking (another family's history) turns it off") {
    c.reasoning_budget = 4000;
    c.messages[1].parts = {call_part("toolu_1", "f", "{}"), reasoning_part("unsigned", "")};
    CHECK_FALSE(written(c).contains("thinking"));
  }
}

TEST_CASE("anthropic: write_request tool choices and output formats") {
  ir::Conversation c;
  c.model = "m";
  c.messages = {message(ir::Role::user, {text_part("Q")})};
  c.tool_choice.mode = ir::ToolChoice::Mode::required;
  CHECK_FALSE(written(c).contains("tool_choice")); // no tools: Anthropic would refuse it
  c.tools = {ir::Tool{"f", "", json::object()}};
  const std::pair<ir::ToolChoice::Mode, json> rows[] = {
      {ir::ToolChoice::Mode::unset, nullptr},
      {ir::ToolChoice::Mode::automatic, {{"type", "auto"}}},
      {ir::ToolChoice::Mode::none, {{"type", "none"}}},
      {ir::ToolChoice::Mode::required, {{"type", "any"}}},
  };
  for (const auto& [mode, expected] : rows) {
    c.tool_choice.mode = mode;
    const json body = written(c);
    CHECK(body.value("tool_choice", json()) == expected);
  }

  c.format.kind = ir::OutputFormat::Kind::json_object;
  CHECK(written(c)["system"] == "Respond with a single JSON object.");
  c.system = "Sys";
  CHECK(written(c)["system"] == "Sys\n\nRespond with a single JSON object.");
  c.format.kind = ir::OutputFormat::Kind::json_schema;
  c.format.schema = {{"type", "object"}};
  const json body = written(c);
  CHECK(body["system"] == "Sys");
  CHECK(body["output_config"] ==
        json{{"format", {{"type", "json_schema"}, {"schema", {{"type", "object"}}}}}});
  c.stream = true;
  CHECK(written(c)["stream"] == true);
}

TEST_CASE("anthropic: request round trip keeps the meaning") {
  json body = claude_code_request();
  const json again = written(read(body));
  // What is dropped on the way: cache hints, metadata, context management, the server tool,
  // temperature (Anthropic takes none with thinking); the system becomes a string.
  CHECK(again["model"] == body["model"]);
  CHECK(again["max_tokens"] == 32000);
  CHECK(again["thinking"] == body["thinking"]);
  CHECK(again["system"] == "You are Claude Code, Anthropic's official CLI for Claude.\n\n"
                           "Working directory: /home/me/project");
  CHECK(again["tool_choice"] == body["tool_choice"]);
  CHECK(again["stream"] == true);
  CHECK(again["tools"][0] == body["tools"][0]);
  CHECK(again["tools"][1] == json{{"name", "Bash"}, {"input_schema", {{"type", "object"}}}});
  json messages = body["messages"];
  messages[0]["content"] = {{{"type", "text"}, {"text", "Read main.cpp"}}};
  messages[1]["content"][3]["id"] = "toolu_01A"; // the Gemini signature goes only to Gemini
  messages[2]["content"][0] = {
      {"type", "tool_result"}, {"tool_use_id", "toolu_01A"}, {"content", "int main() {}\n// end"}};
  CHECK(again["messages"] == messages);
}

TEST_CASE("anthropic: read_answer golden") {
  const json body = json::parse(R"({
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
      {"type": "thinking", "thinking": "Hmm.", "signature": "WaUjzkyp"},
      {"type": "redacted_thinking", "data": "EmwKAhgB"},
      {"type": "text", "text": "Sure \u2014 checking."},
      {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
      {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}
    ],
    "stop_reason": "tool_use", "stop_sequence": null,
    "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100,
              "output_tokens": 42, "service_tier": "standard"}
  })");
  const ir::Answer a = family().read_answer(body);
  CHECK(a.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF");
  CHECK(a.model == "claude-sonnet-4-5-20250929");
  REQUIRE(a.parts.size() == 4);
  CHECK(a.parts[0].reasoning.text == "Hmm.");
  CHECK(a.parts[0].reasoning.signature == "WaUjzkyp");
  CHECK(a.parts[1].reasoning.redacted);
  CHECK(a.parts[1].reasoning.signature == "EmwKAhgB");
  CHECK(a.parts[2].text == "Sure \xe2\x80\x94 checking.");
  CHECK(a.parts[3].call.id == "toolu_01");
  CHECK(a.parts[3].call.name == "get_weather");
  CHECK(json::parse(a.parts[3].call.arguments) == json{{"city", "Paris"}});
  CHECK(a.finish == ir::Finish::tool_calls);
  CHECK(a.usage.input == 115);
  CHECK(a.usage.cached == 100);
  CHECK(a.usage.output == 42);

  const std::pair<const char*, ir::Finish> stops[] = {
      {"end_turn", ir::Finish::stop},       {"stop_sequence", ir::Finish::stop},
      {"pause_turn", ir::Finish::stop},     {"max_tokens", ir::Finish::length},
      {"tool_use", ir::Finish::tool_calls}, {"refusal", ir::Finish::content_filter},
  };
  for (const auto& [reason, finish] : stops) {
    CHECK(family().read_answer({{"content", json::array()}, {"stop_reason", reason}}).finish ==
          finish);
  }
  CHECK_THROWS_AS(family().read_answer(json::array()), std::invalid_argument);
  CHECK_THROWS_AS(family().read_answer({{"type", "error"}, {"error", {{"message", "x"}}}}),
                  std::invalid_argument);
  // Odd shapes from a provider are skipped, not thrown.
  CHECK(family().read_answer({{"content", {5, {{"type", 3}}}}, {"usage", "x"}}).parts.empty());
}

TEST_CASE("anthropic: write_answer golden") {
  ir::Answer a;
  a.id = "resp_1";
  a.model = "gpt-5";
  a.parts = {reasoning_part("thinking text", "enc"),
             reasoning_part("", "", false),
             reasoning_part("", "gemini-sig"),
             reasoning_part("", "red", true),
             text_part(""),
             text_part("Hello \xe2\x98\x83"),
             call_part("call_9", "f", R"({"a":1})", "c2ln"),
             call_part("call_10", "g", "{broken")};
  a.finish = ir::Finish::tool_calls;
  a.usage = {1000, 50, 400, 20};
  ir::Conversation request;
  request.model = "asked";
  const json expected = json::parse(R"({
    "id": "resp_1", "type": "message", "role": "assistant", "model": "gpt-5",
    "content": [
      {"type": "thinking", "thinking": "thinking text", "signature": "enc"},
      {"type": "thinking", "thinking": "", "signature": "gemini-sig"},
      {"type": "redacted_thinking", "data": "red"},
      {"type": "text", "text": "Hello ☃"},
      {"type": "tool_use", "id": "call_9__sig__c2ln", "name": "f", "input": {"a": 1}},
      {"type": "tool_use", "id": "call_10", "name": "g", "input": {}}
    ],
    "stop_reason": "tool_use", "stop_sequence": null,
    "usage": {"input_tokens": 600, "output_tokens": 50, "cache_read_input_tokens": 400,
              "cache_creation_input_tokens": 0}
  })");
  CHECK(json::parse(family().write_answer(a, request)) == expected);

  const std::pair<ir::Finish, const char*> stops[] = {
      {ir::Finish::stop, "end_turn"},       {ir::Finish::length, "max_tokens"},
      {ir::Finish::tool_calls, "tool_use"}, {ir::Finish::content_filter, "refusal"},
      {ir::Finish::error, "end_turn"},
  };
  ir::Answer bare;
  for (const auto& [finish, reason] : stops) {
    bare.finish = finish;
    const json body = json::parse(family().write_answer(bare, request));
    CHECK(body["stop_reason"] == reason);
    CHECK(body["model"] == "asked");
    const std::string id = body["id"];
    CHECK(id.size() == 4 + 24);
    CHECK(id.substr(0, 4) == "msg_");
    CHECK(body["content"] == json::array());
  }
  // A reply that called tools but said "stop" (Gemini) still makes the client run them.
  a.finish = ir::Finish::stop;
  CHECK(json::parse(family().write_answer(a, request))["stop_reason"] == "tool_use");
  // Invalid UTF-8 from a provider does not throw.
  a.parts = {text_part("bad \xff\xfe bytes")};
  CHECK(json::parse(family().write_answer(a, request))["content"][0]["text"] ==
        "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
}

TEST_CASE("anthropic: answer round trip keeps the meaning") {
  const json body = json::parse(R"({
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-opus-4-1",
    "content": [
      {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
      {"type": "text", "text": "Ünïcode ☃ 日本"},
      {"type": "tool_use", "id": "toolu_01", "name": "f", "input": {"nested": {"a": [1, 2.5, null]}}}
    ],
    "stop_reason": "tool_use", "stop_sequence": null,
    "usage": {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 7,
              "cache_creation_input_tokens": 0}
  })");
  const std::string again = family().write_answer(family().read_answer(body), ir::Conversation{});
  CHECK(json::parse(again) == body);
}

TEST_CASE("anthropic: stream reader over a recorded stream, cut anywhere") {
  const std::vector<std::string> expected = recorded_stream_events();
  CHECK(describe(read_stream(k_recorded_stream)) == expected);
  for (size_t cut = 0; cut <= k_recorded_stream.size(); ++cut) {
    CAPTURE(cut);
    REQUIRE(describe(read_stream(k_recorded_stream, {cut})) == expected);
  }
  std::vector<size_t> every_byte;
  for (size_t cut = 1; cut < k_recorded_stream.size(); ++cut) {
    every_byte.push_back(cut);
  }
  CHECK(describe(read_stream(k_recorded_stream, every_byte)) == expected);

  std::string crlf;
  for (const char c : k_recorded_stream) {
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  }
  CHECK(describe(read_stream(crlf)) == expected);
}

TEST_CASE("anthropic: stream reader edge cases") {
  SUBCASE("an error mid-stream") {
    const std::string stream =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\","
        "\"model\":\"c\",\"usage\":{\"input_tokens\":5}}}\n\n"
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
        "\"message\":\"Overloaded\"}}\n\n";
    CHECK(describe(read_stream(stream)) ==
          std::vector<std::string>{R"({"id":"m","index":0,"kind":0,"model":"c","usage":[5,0,0]})",
                                   R"({"index":0,"kind":7,"status":503,"text":"Overloaded"})"});
    const std::pair<const char*, int> statuses[] = {
        {"rate_limit_error", 429},     {"api_error", 500},        {"invalid_request_error", 400},
        {"authentication_error", 401}, {"permission_error", 403}, {"mystery", 500}};
    for (const auto& [type, status] : statuses) {
      const auto events =
          read_stream(std::string("data: {\"type\":\"error\",\"error\":{\"type\":\"") + type +
                      "\",\"message\":\"m\"}}\n\n");
      REQUIRE(events.size() == 1);
      CHECK(events[0].status == status);
    }
  }
  SUBCASE("a stream cut before message_stop") {
    const std::string stream =
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"partial\"}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"next\"}}";
    CHECK(describe(read_stream(stream)) ==
          std::vector<std::string>{R"({"index":0,"kind":0,"usage":[0,0,0]})",
                                   R"({"index":0,"kind":1,"text":"partial"})",
                                   R"({"index":1,"kind":1,"text":"next"})",
                                   R"({"finish":4,"index":0,"kind":6,"usage":[0,0,0]})"});
  }
  SUBCASE("a stop reason without message_stop, server tools, garbage and invalid UTF-8") {
    const std::string stream =
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\"}}\n\n"
        "data: not json\n\n"
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
        "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\"}}\n\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
        "\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
        "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":"
        "{\"type\":\"redacted_thinking\",\"data\":\"RED\"}}\n\n"
        "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"bad \xff byte\"}}\n\n"
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},"
        "\"usage\":{\"output_tokens\":7}}\n\n";
    CHECK(describe(read_stream(stream)) ==
          std::vector<std::string>{R"({"id":"m","index":0,"kind":0,"model":"c","usage":[0,0,0]})",
                                   R"({"index":0,"kind":3,"redacted":true,"text":"RED"})",
                                   R"({"index":1,"kind":1,"text":"bad � byte"})",
                                   R"({"finish":1,"index":0,"kind":6,"usage":[0,7,0]})"});
  }
  SUBCASE("an empty stream yields nothing") {
    CHECK(read_stream("").empty());
    CHECK(read_stream(": comment\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n").empty());
  }
}

TEST_CASE("anthropic: stream writer output is a valid Anthropic stream") {
  using Kind = ir::Event::Kind;
  ir::Event start = event(Kind::start);
  start.id = "chatcmpl-1";
  start.model = "gpt-5";
  start.usage = {100, 0, 40, 0};
  ir::Event call = event(Kind::tool_call_start, 3);
  call.id = "call_1";
  call.name = "f";
  call.signature = "c2ln";
  ir::Event finish = event(Kind::finish);
  finish.finish = ir::Finish::tool_calls;
  finish.usage = {0, 30, 0, 10};
  const std::vector<json> out = check_stream(write_stream(
      {start, event(Kind::reasoning_delta, 0, "think"), event(Kind::reasoning_signature, 0, "sig"),
       event(Kind::text_delta, 1, "Hel"), event(Kind::text_delta, 1, "lo"),
       event(Kind::reasoning_signature, 2, "gemini"), call,
       event(Kind::tool_args_delta, 3, "{\"a\""), event(Kind::tool_args_delta, 3, ":1}"), finish}));
  const std::vector<json> expected = {
      json::parse(R"({"type":"message_start","message":{"id":"chatcmpl-1","type":"message",
        "role":"assistant","model":"gpt-5","content":[],"stop_reason":null,"stop_sequence":null,
        "usage":{"input_tokens":60,"output_tokens":0,"cache_read_input_tokens":40,
        "cache_creation_input_tokens":0}}})"),
      json::parse(
          R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})"),
      json::parse(
          R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think"}})"),
      json::parse(
          R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}})"),
      json::parse(R"({"type":"content_block_stop","index":0})"),
      json::parse(
          R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})"),
      json::parse(
          R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hel"}})"),
      json::parse(
          R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"lo"}})"),
      json::parse(R"({"type":"content_block_stop","index":1})"),
      json::parse(
          R"({"type":"content_block_start","index":2,"content_block":{"type":"thinking","thinking":"","signature":""}})"),
      json::parse(
          R"({"type":"content_block_delta","index":2,"delta":{"type":"signature_delta","signature":"gemini"}})"),
      json::parse(R"({"type":"content_block_stop","index":2})"),
      json::parse(
          R"({"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"call_1__sig__c2ln","name":"f","input":{}}})"),
      json::parse(
          R"({"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}})"),
      json::parse(
          R"({"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":":1}"}})"),
      json::parse(R"({"type":"content_block_stop","index":3})"),
      json::parse(
          R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},
        "usage":{"input_tokens":60,"output_tokens":30,"cache_read_input_tokens":40}})"),
      json::parse(R"({"type":"message_stop"})"),
  };
  CHECK(out == expected);
}

TEST_CASE("anthropic: stream writer completes any sequence of events") {
  using Kind = ir::Event::Kind;
  SUBCASE("a delta without start, finish() without a finish event") {
    const std::vector<json> out = check_stream(write_stream({event(Kind::text_delta, 0, "x")}));
    REQUIRE(out.size() == 6);
    CHECK(out[0]["message"]["model"] == "claude-sonnet-4-5");
    CHECK(out[4]["delta"]["stop_reason"] == "end_turn");
  }
  SUBCASE("nothing at all") {
    CHECK(check_stream(write_stream({})).size() == 3);
  }
  SUBCASE("an error closes the stream, nothing follows") {
    ir::Event error = event(Kind::error, 0, "Rate limited");
    error.status = 429;
    const std::vector<json> out =
        check_stream(write_stream({event(Kind::start), event(Kind::text_delta, 0, "x"), error,
                                   event(Kind::text_delta, 0, "y"), event(Kind::finish)}));
    REQUIRE(out.size() == 4);
    CHECK(out[3] == json{{"type", "error"},
                         {"error", {{"type", "rate_limit_error"}, {"message", "Rate limited"}}}});
    ir::Event overloaded = event(Kind::error, 0, "busy");
    overloaded.status = 503;
    CHECK(check_stream(write_stream({overloaded}))[0]["error"]["type"] == "overloaded_error");
  }
  SUBCASE("interleaved parts, args for a call never started, redacted thinking") {
    ir::Event redacted = event(Kind::reasoning_signature, 5, "RED");
    redacted.redacted = true;
    const std::vector<json> out = check_stream(write_stream(
        {event(Kind::text_delta, 0, "a"), event(Kind::reasoning_delta, 1, "r"),
         event(Kind::text_delta, 0, "b"), event(Kind::tool_args_delta, 2, "{}"),
         event(Kind::tool_args_delta, 4, "{"), event(Kind::text_delta, 3, "c"),
         event(Kind::tool_args_delta, 4, "}"), redacted, event(Kind::text_delta, 0, ""),
         event(Kind::finish), event(Kind::text_delta, 0, "after")}));
    std::vector<std::string> blocks;
    for (const json& data : out) {
      if (data["type"] == "content_block_start") {
        blocks.push_back(data["content_block"]["type"]);
      }
    }
    CHECK(blocks == std::vector<std::string>{"text", "thinking", "text", "tool_use", "tool_use",
                                             "text", "redacted_thinking"});
    CHECK(out.back()["type"] == "message_stop");
    CHECK(out[out.size() - 2]["delta"]["stop_reason"] == "tool_use");
  }
}

TEST_CASE("anthropic: stream writer output read back by the stream reader") {
  const std::vector<ir::Event> events = read_stream(k_recorded_stream);
  const std::string stream = write_stream(events, false);
  check_stream(stream);
  CHECK(describe(read_stream(stream)) == recorded_stream_events());
}

TEST_CASE("anthropic: read_error_message") {
  CHECK(family().read_error_message(json::parse(
            R"({"type":"error","error":{"type":"not_found_error","message":"model: x"}})")) ==
        "model: x");
  CHECK(family().read_error_message(json::object()).empty());
  CHECK(family().read_error_message(json::array()).empty());
  CHECK(family().read_error_message({{"error", "plain"}}).empty());
}

TEST_CASE(
    "anthropic: messages of role system (Claude Code's environment notes) join the system text") {
  const ir::Conversation conversation = read(json::parse(R"({
    "model": "claude-sonnet-4-5", "max_tokens": 32000, "system": "You are Claude Code.",
    "messages": [
      {"role": "user", "content": [{"type": "text", "text": "<system-reminder>r</system-reminder>"},
                                   {"type": "text", "text": "hello"}]},
      {"role": "system", "content": "Working directory: /w"},
      {"role": "system", "content": [{"type": "text", "text": "Platform: linux"}]}
    ]})"));
  CHECK(conversation.system == "You are Claude Code.\n\nWorking directory: /w\n\nPlatform: linux");
  REQUIRE(conversation.messages.size() == 1);
  CHECK(conversation.messages[0].role == ir::Role::user);
  CHECK(ir::joined_text(conversation.messages[0].parts) ==
        "<system-reminder>r</system-reminder>hello");
}
