#include "server/protocols/family.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <map>
#include <string>

using namespace agproxy;
using ir::json;

namespace {

const Family& family() {
  return openai_responses_family();
}

ir::Conversation read(const json& body) {
  return family().read_request(body, RequestSite{});
}

// Return `event` as JSON, with the fields its kind uses, for exact comparisons.
json describe(const ir::Event& event) {
  switch (event.kind) {
  case ir::Event::Kind::start:
    return {"start", event.id, event.model, event.usage.input};
  case ir::Event::Kind::text_delta:
    return {"text", event.index, event.text};
  case ir::Event::Kind::reasoning_delta:
    return {"reasoning", event.index, event.text};
  case ir::Event::Kind::reasoning_signature:
    return {"signature", event.index, event.text, event.redacted};
  case ir::Event::Kind::tool_call_start:
    return {"call", event.index, event.id, event.name, event.signature};
  case ir::Event::Kind::tool_args_delta:
    return {"args", event.index, event.text};
  case ir::Event::Kind::finish:
    return {"finish",           static_cast<int>(event.finish),
            event.usage.input,  event.usage.output,
            event.usage.cached, event.usage.reasoning};
  case ir::Event::Kind::error:
    return {"error", event.text, event.status};
  }
  return nullptr;
}

json describe(const std::vector<ir::Event>& events) {
  json out = json::array();
  for (const ir::Event& event : events) {
    out.push_back(describe(event));
  }
  return out;
}

// Return the events the stream reader makes of `stream` fed in the pieces `cuts` marks.
std::vector<ir::Event> read_stream(std::string_view stream, const std::vector<size_t>& cuts = {}) {
  auto reader = family().stream_reader();
  std::vector<ir::Event> events;
  size_t at = 0;
  for (size_t cut : cuts) {
    reader->feed(stream.substr(at, cut - at), events);
    at = cut;
  }
  reader->feed(stream.substr(at), events);
  reader->finish(events);
  return events;
}

std::string sse(const json& data) {
  return "event: " + data["type"].get<std::string>() + "\ndata: " + data.dump() + "\n\n";
}

// Return the events of a stream written by this family's writer, checking what a Responses client
// relies on: "event: T\ndata: JSON\n\n" blocks whose data type is T, sequence numbers 0, 1, …,
// response.created first, one final response.completed or response.failed last, every item added
// before its deltas and done after them, and the final output made of the done items.
std::vector<json> parse_written(const std::string& bytes) {
  std::vector<json> events;
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t end = bytes.find("\n\n", at);
    REQUIRE(end != std::string::npos);
    const std::string block = bytes.substr(at, end - at);
    at = end + 2;
    const size_t newline = block.find('\n');
    REQUIRE(newline != std::string::npos);
    const std::string name_line = block.substr(0, newline);
    const std::string data_line = block.substr(newline + 1);
    REQUIRE(name_line.starts_with("event: "));
    REQUIRE(data_line.starts_with("data: "));
    REQUIRE(data_line.find('\n') == std::string::npos);
    const json data = json::parse(data_line.substr(6), nullptr, false);
    REQUIRE(data.is_object());
    CHECK(data["type"] == name_line.substr(7));
    CHECK(data["sequence_number"] == events.size());
    events.push_back(data);
  }
  REQUIRE(events.size() >= 3);
  CHECK(events[0]["type"] == "response.created");
  CHECK(events[1]["type"] == "response.in_progress");
  const std::string last = events.back()["type"];
  CHECK((last == "response.completed" || last == "response.failed"));
  std::map<std::string, int> state; // item id: 1 added, 2 done
  std::map<std::string, json> added_types;
  json done_items = json::array();
  for (size_t i = 0; i < events.size(); ++i) {
    const json& event = events[i];
    const std::string type = event["type"];
    if (i > 0 &&
        (type == "response.created" || type == "response.completed" || type == "response.failed")) {
      CHECK(i == events.size() - 1);
    }
    if (type == "response.output_item.added") {
      const std::string id = event["item"]["id"];
      CHECK(state[id] == 0);
      CHECK(event["output_index"] == done_items.size());
      state[id] = 1;
      added_types[id] = event["item"]["type"];
    } else if (type == "response.output_item.done") {
      const std::string id = event["item"]["id"];
      CHECK(state[id] == 1);
      state[id] = 2;
      CHECK(event["item"]["type"] == added_types[id]);
      done_items.push_back(event["item"]);
    } else if (event.contains("item_id")) {
      CHECK(state[event["item_id"].get<std::string>()] == 1);
    }
  }
  for (const auto& [id, seen] : state) {
    CHECK(seen == 2);
  }
  // The final output is the done items; a reasoning signature that came after its item was done
  // can only be in the final output.
  json output = events.back()["response"]["output"];
  REQUIRE(output.size() == done_items.size());
  for (size_t i = 0; i < output.size(); ++i) {
    if (!done_items[i].contains("encrypted_content")) {
      output[i].erase("encrypted_content");
    }
  }
  CHECK(output == done_items);
  CHECK(events.back()["response"]["id"] == events[0]["response"]["id"]);
  return events;
}

std::string write_stream(const std::vector<ir::Event>& events,
                         const ir::Conversation& request = {}) {
  auto writer = family().stream_writer(request, RequestSite{"gpt-test", true, true});
  std::string out;
  for (const ir::Event& event : events) {
    writer->write(event, out);
  }
  writer->finish(out);
  return out;
}

ir::Event make_event(ir::Event::Kind kind, size_t index = 0, std::string text = "") {
  ir::Event event;
  event.kind = kind;
  event.index = index;
  event.text = std::move(text);
  return event;
}

ir::Event make_call(size_t index, std::string id, std::string name, std::string signature = "") {
  ir::Event event = make_event(ir::Event::Kind::tool_call_start, index);
  event.id = std::move(id);
  event.name = std::move(name);
  event.signature = std::move(signature);
  return event;
}

// Return `body` with the random ids and times of a written answer replaced by their prefixes.
json without_random(json body) {
  body["created_at"] = 0;
  if (body["id"].get<std::string>().starts_with("resp_")) {
    body["id"] = "resp_";
  }
  for (json& item : body["output"]) {
    const std::string id = item["id"];
    item["id"] = id.substr(0, id.find('_') + 1);
  }
  return body;
}

// A request as Codex CLI sends it, with a second turn of history.
json codex_request() {
  return json::parse(R"({
    "model": "gpt-5-codex",
    "instructions": "You are Codex.",
    "input": [
      {"type": "message", "role": "developer",
       "content": [{"type": "input_text", "text": "Sandbox: workspace-write"}]},
      {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "Fix the bug ✓"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"}]},
      {"type": "reasoning", "id": "rs_1",
       "summary": [{"type": "summary_text", "text": "Looking at files"}],
       "encrypted_content": "gAAAAB-enc"},
      {"type": "function_call", "id": "fc_1", "call_id": "call_1__sig__sig",
       "name": "shell", "arguments": "{\"command\":[\"ls\"]}"},
      {"type": "function_call_output", "call_id": "call_1__sig__sig", "output": "a.c\nb.c"},
      {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch",
       "input": "*** Begin Patch\n*** End Patch"},
      {"type": "custom_tool_call_output", "call_id": "call_2", "output": "Done!"},
      {"type": "message", "role": "assistant",
       "content": [{"type": "output_text", "text": "Patched."}]},
      {"role": "user", "content": "thanks"}
    ],
    "tools": [
      {"type": "function", "name": "shell", "description": "Runs a shell command",
       "strict": false,
       "parameters": {"type": "object", "properties": {"command": {"type": "array",
         "items": {"type": "string"}}}, "required": ["command"]}},
      {"type": "custom", "name": "apply_patch", "description": "Edit files",
       "format": {"type": "grammar", "syntax": "lark", "definition": "start: patch"}},
      {"type": "local_shell"},
      {"type": "web_search"}
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": false,
    "reasoning": {"effort": "minimal", "summary": "auto"},
    "store": false,
    "stream": true,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "0199-abc",
    "service_tier": "auto",
    "metadata": {"a": "b"},
    "text": {"verbosity": "low",
             "format": {"type": "json_schema", "name": "out", "strict": true,
                        "schema": {"type": "object"}}}
  })");
}

// A realistic recorded stream: reasoning with two summary parts, text, a function call whose
// arguments come in three deltas, a custom tool call, then response.completed.
const std::string k_recorded = [] {
  const json events[] = {
      {{"type", "response.created"},
       {"sequence_number", 0},
       {"response",
        {{"id", "resp_abc"},
         {"object", "response"},
         {"status", "in_progress"},
         {"model", "gpt-5-codex"},
         {"output", json::array()},
         {"usage", nullptr}}}},
      {{"type", "response.in_progress"},
       {"sequence_number", 1},
       {"response", {{"id", "resp_abc"}, {"status", "in_progress"}}}},
      {{"type", "response.output_item.added"},
       {"output_index", 0},
       {"item", {{"id", "rs_1"}, {"type", "reasoning"}, {"summary", json::array()}}}},
      {{"type", "response.reasoning_summary_part.added"},
       {"item_id", "rs_1"},
       {"output_index", 0},
       {"summary_index", 0}},
      {{"type", "response.reasoning_summary_text.delta"},
       {"item_id", "rs_1"},
       {"output_index", 0},
       {"summary_index", 0},
       {"delta", "Think"}},
      {{"type", "response.reasoning_summary_text.delta"},
       {"item_id", "rs_1"},
       {"output_index", 0},
       {"summary_index", 0},
       {"delta", "ing"}},
      {{"type", "response.reasoning_summary_text.delta"},
       {"item_id", "rs_1"},
       {"output_index", 0},
       {"summary_index", 1},
       {"delta", "More"}},
      {{"type", "response.output_item.done"},
       {"output_index", 0},
       {"item",
        {{"id", "rs_1"},
         {"type", "reasoning"},
         {"encrypted_content", "ENC=="},
         {"summary",
          {{{"type", "summary_text"}, {"text", "Thinking"}},
           {{"type", "summary_text"}, {"text", "More"}}}}}}},
      {{"type", "response.output_item.added"},
       {"output_index", 1},
       {"item",
        {{"id", "msg_1"}, {"type", "message"}, {"role", "assistant"}, {"content", json::array()}}}},
      {{"type", "response.content_part.added"},
       {"item_id", "msg_1"},
       {"output_index", 1},
       {"content_index", 0}},
      {{"type", "response.output_text.delta"},
       {"item_id", "msg_1"},
       {"output_index", 1},
       {"content_index", 0},
       {"delta", "Hé"}},
      {{"type", "response.output_text.delta"},
       {"item_id", "msg_1"},
       {"output_index", 1},
       {"content_index", 0},
       {"delta", "llo 👋"}},
      {{"type", "response.output_text.done"},
       {"item_id", "msg_1"},
       {"output_index", 1},
       {"content_index", 0},
       {"text", "Héllo 👋"}},
      {{"type", "response.output_item.done"},
       {"output_index", 1},
       {"item",
        {{"id", "msg_1"},
         {"type", "message"},
         {"role", "assistant"},
         {"content", {{{"type", "output_text"}, {"text", "Héllo 👋"}}}}}}},
      {{"type", "response.output_item.added"},
       {"output_index", 2},
       {"item",
        {{"id", "fc_1"},
         {"type", "function_call"},
         {"call_id", "call_A"},
         {"name", "shell"},
         {"arguments", ""}}}},
      {{"type", "response.function_call_arguments.delta"},
       {"item_id", "fc_1"},
       {"output_index", 2},
       {"delta", "{\"comm"}},
      {{"type", "response.function_call_arguments.delta"},
       {"item_id", "fc_1"},
       {"output_index", 2},
       {"delta", "and\":[\"l"}},
      {{"type", "response.function_call_arguments.delta"},
       {"item_id", "fc_1"},
       {"output_index", 2},
       {"delta", "s\"]}"}},
      {{"type", "response.function_call_arguments.done"},
       {"item_id", "fc_1"},
       {"output_index", 2},
       {"arguments", "{\"command\":[\"ls\"]}"}},
      {{"type", "response.output_item.done"},
       {"output_index", 2},
       {"item",
        {{"id", "fc_1"},
         {"type", "function_call"},
         {"call_id", "call_A"},
         {"name", "shell"},
         {"arguments", "{\"command\":[\"ls\"]}"}}}},
      {{"type", "response.output_item.added"},
       {"output_index", 3},
       {"item",
        {{"id", "ctc_1"},
         {"type", "custom_tool_call"},
         {"call_id", "call_B"},
         {"name", "apply_patch"},
         {"input", ""}}}},
      {{"type", "response.custom_tool_call_input.delta"},
       {"item_id", "ctc_1"},
       {"output_index", 3},
       {"delta", "*** Begin \"P\"\n"}},
      {{"type", "response.custom_tool_call_input.delta"},
       {"item_id", "ctc_1"},
       {"output_index", 3},
       {"delta", "*** End"}},
      {{"type", "response.custom_tool_call_input.done"},
       {"item_id", "ctc_1"},
       {"output_index", 3},
       {"input", "*** Begin \"P\"\n*** End"}},
      {{"type", "response.output_item.done"},
       {"output_index", 3},
       {"item",
        {{"id", "ctc_1"},
         {"type", "custom_tool_call"},
         {"call_id", "call_B"},
         {"name", "apply_patch"},
         {"input", "*** Begin \"P\"\n*** End"}}}},
      {{"type", "response.completed"},
       {"response",
        {{"id", "resp_abc"},
         {"status", "completed"},
         {"model", "gpt-5-codex"},
         {"usage",
          {{"input_tokens", 100},
           {"input_tokens_details", {{"cached_tokens", 40}}},
           {"output_tokens", 30},
           {"output_tokens_details", {{"reasoning_tokens", 12}}},
           {"total_tokens", 130}}}}}},
  };
  std::string stream;
  for (const json& event : events) {
    stream += sse(event);
  }
  return stream;
}();

const json k_recorded_events = json::parse(R"([
  ["start", "resp_abc", "gpt-5-codex", 0],
  ["reasoning", 0, "Think"],
  ["reasoning", 0, "ing"],
  ["reasoning", 0, "\n\n"],
  ["reasoning", 0, "More"],
  ["signature", 0, "ENC==", false],
  ["text", 1, "Hé"],
  ["text", 1, "llo 👋"],
  ["call", 2, "call_A", "shell", ""],
  ["args", 2, "{\"comm"],
  ["args", 2, "and\":[\"l"],
  ["args", 2, "s\"]}"],
  ["call", 3, "call_B", "apply_patch", ""],
  ["args", 3, "{\"input\":\"*** Begin \\\"P\\\"\\n"],
  ["args", 3, "*** End"],
  ["args", 3, "\"}"],
  ["finish", 2, 100, 30, 40, 12]
])");

} // namespace

TEST_CASE("openai_responses: read_request maps a Codex request into the IR") {
  const ir::Conversation c = read(codex_request());
  CHECK(c.model == "gpt-5-codex");
  CHECK(c.system == "You are Codex.\n\nSandbox: workspace-write");
  CHECK(c.stream);
  CHECK(c.reasoning_effort == "low");
  CHECK(c.tool_choice.mode == ir::ToolChoice::Mode::automatic);
  REQUIRE(c.parallel_tool_calls.has_value());
  CHECK_FALSE(*c.parallel_tool_calls);
  CHECK(c.format.kind == ir::OutputFormat::Kind::json_schema);
  CHECK(c.format.name == "out");
  CHECK(c.format.schema == json{{"type", "object"}});

  REQUIRE(c.messages.size() == 7);
  const ir::Message& user = c.messages[0];
  CHECK(user.role == ir::Role::user);
  REQUIRE(user.parts.size() == 3);
  CHECK(user.parts[0].text == "Fix the bug ✓");
  CHECK(user.parts[1].kind == ir::Part::Kind::image);
  CHECK(user.parts[1].image.media_type == "image/png");
  CHECK(user.parts[1].image.data == "iVBORw0KGgo=");
  CHECK(user.parts[2].image.url == "https://example.com/a.png");

  const ir::Message& assistant = c.messages[1];
  CHECK(assistant.role == ir::Role::assistant);
  REQUIRE(assistant.parts.size() == 2);
  CHECK(assistant.parts[0].kind == ir::Part::Kind::reasoning);
  CHECK(assistant.parts[0].reasoning.text == "Looking at files");
  CHECK(assistant.parts[0].reasoning.signature == "gAAAAB-enc");
  CHECK(assistant.parts[1].kind == ir::Part::Kind::tool_call);
  CHECK(assistant.parts[1].call.id == "call_1");
  CHECK(assistant.parts[1].call.signature == "sig");
  CHECK(assistant.parts[1].call.name == "shell");
  CHECK(assistant.parts[1].call.arguments == R"({"command":["ls"]})");

  const ir::Message& result = c.messages[2];
  CHECK(result.role == ir::Role::user);
  REQUIRE(result.parts.size() == 1);
  CHECK(result.parts[0].kind == ir::Part::Kind::tool_result);
  CHECK(result.parts[0].result.id == "call_1");
  CHECK(result.parts[0].result.name == "shell");
  CHECK(result.parts[0].result.content == "a.c\nb.c");

  const ir::Message& custom = c.messages[3];
  CHECK(custom.role == ir::Role::assistant);
  REQUIRE(custom.parts.size() == 1);
  CHECK(custom.parts[0].call.name == "apply_patch");
  CHECK(json::parse(custom.parts[0].call.arguments) ==
        json{{"input", "*** Begin Patch\n*** End Patch"}});
  const ir::Message& custom_output = c.messages[4];
  CHECK(custom_output.role == ir::Role::user);
  REQUIRE(custom_output.parts.size() == 1);
  CHECK(custom_output.parts[0].result.name == "apply_patch");
  CHECK(custom_output.parts[0].result.content == "Done!");
  CHECK(c.messages[5].role == ir::Role::assistant);
  CHECK(c.messages[5].parts[0].text == "Patched.");
  CHECK(c.messages[6].role == ir::Role::user);
  CHECK(c.messages[6].parts[0].text == "thanks");

  REQUIRE(c.tools.size() == 3);
  CHECK(c.tools[0].name == "shell");
  CHECK(c.tools[0].description == "Runs a shell command");
  CHECK(c.tools[0].parameters["required"] == json{"command"});
  CHECK(c.tools[1].name == "apply_patch");
  CHECK(c.tools[1].parameters["required"] == json{"input"});
  CHECK(c.tools[1].parameters["properties"]["input"]["type"] == "string");
  CHECK(c.tools[1].parameters["properties"]["input"]["description"].get<std::string>().find(
            "start: patch") != std::string::npos);
  CHECK(c.tools[2].name == "local_shell");
  CHECK(c.tools[2].parameters["properties"]["command"]["type"] == "array");
}

TEST_CASE("openai_responses: read_request merges items of one role and keeps the order") {
  const ir::Conversation c = read(json::parse(R"({
    "model": "m", "input": [
      {"role": "user", "content": "a"},
      {"role": "user", "content": [{"type": "input_text", "text": "b"}]},
      {"role": "assistant", "content": "c"},
      {"type": "function_call", "call_id": "x", "name": "f", "arguments": "{}"},
      {"type": "function_call", "call_id": "y", "name": "g", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "x",
       "output": [{"type": "input_text", "text": "one"}, {"type": "input_text", "text": "two"}]},
      {"type": "function_call_output", "call_id": "y", "output": "three"},
      {"type": "reasoning", "summary": []},
      {"type": "local_shell_call", "call_id": "z", "status": "completed",
       "action": {"type": "exec", "command": ["ls", "-l"], "working_directory": "/tmp",
                  "timeout_ms": 500}},
      {"type": "local_shell_call_output", "id": "z", "output": "total 0"},
      {"type": "web_search_call", "id": "ws_1", "status": "completed",
       "action": {"type": "search", "query": "x"}}
    ]})"));
  REQUIRE(c.messages.size() == 5);
  CHECK(c.messages[0].parts.size() == 2);
  CHECK(c.messages[0].parts[1].text == "b");
  REQUIRE(c.messages[1].parts.size() == 3);
  CHECK(c.messages[1].parts[0].text == "c");
  CHECK(c.messages[1].parts[2].call.name == "g");
  REQUIRE(c.messages[2].parts.size() == 2);
  CHECK(c.messages[2].parts[0].result.content == "onetwo");
  CHECK(c.messages[2].parts[1].result.name == "g");
  REQUIRE(c.messages[3].parts.size() == 1); // the empty reasoning item is skipped
  CHECK(c.messages[3].parts[0].call.name == "local_shell");
  CHECK(json::parse(c.messages[3].parts[0].call.arguments) ==
        json{{"command", {"ls", "-l"}}, {"workdir", "/tmp"}, {"timeout_ms", 500}});
  CHECK(c.messages[4].parts[0].result.id == "z");
  CHECK(c.messages[4].parts[0].result.name == "local_shell");
  CHECK(c.messages[4].parts[0].result.content == "total 0");

  const ir::Conversation text = read({{"model", "m"}, {"input", "hi"}});
  REQUIRE(text.messages.size() == 1);
  CHECK(text.messages[0].parts[0].text == "hi");
}

TEST_CASE("openai_responses: read_request refuses what cannot be carried") {
  struct Row {
    const char* body;
    const char* field;
  };
  const Row rows[] = {
      {R"({"model":"m","input":"x","previous_response_id":"resp_1"})", "previous_response_id"},
      {R"({"model":"m","input":"x","conversation":"conv_1"})", "conversation"},
      {R"({"model":"m","input":"x","background":true})", "background"},
      {R"({"model":"m","input":"x","prompt":{"id":"pmpt_1"}})", "prompt"},
      {R"({"model":"m","input":[{"role":"user","content":"a"},{"type":"item_reference","id":"x"}]})",
       "input[1].type"},
      {R"({"model":"m","input":[{"type":"compaction","encrypted_content":"x"}]})", "input[0].type"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]})",
       "input[0].content[0].type"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"f"}]}]})",
       "input[0].content[0].file_id"},
      {R"({"model":"m","input":"x","tool_choice":{"type":"web_search_preview"}})", "tool_choice"},
      {R"({"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_file","file_data":"x"}]}]})",
       "input[0].output[0].type"},
      {R"({"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[{"type":"input_image","file_id":"f"}]}]})",
       "input[0].output[0].file_id"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.body);
    try {
      read(json::parse(row.body));
      FAIL("accepted");
    } catch (const ir::Untranslatable& error) {
      CHECK(error.field() == row.field);
      CHECK(std::string(error.what()).find("cannot be translated to another API family") !=
            std::string::npos);
    }
  }
}

TEST_CASE("openai_responses: read_request rejects bodies that are no request") {
  const char* bodies[] = {
      R"([1])",
      R"({"input":"x"})",
      R"({"model":5,"input":"x"})",
      R"({"model":"m","input":5})",
      R"({"model":"m","input":[5]})",
      R"({"model":"m","input":[{"role":"robot","content":"x"}]})",
      R"({"model":"m","input":[{"role":"user","content":5}]})",
      R"({"model":"m","input":[{"type":"function_call","call_id":"a","name":"f","arguments":{}}]})",
      R"({"model":"m","input":[{"type":"function_call_output","call_id":"a","output":5}]})",
      R"({"model":"m","input":"x","tools":{}})",
      R"({"model":"m","input":"x","tools":[{"type":"function"}]})",
      R"({"model":"m","input":"x","tool_choice":"sometimes"})",
      R"({"model":"m","input":"x","tool_choice":5})",
      R"({"model":"m","input":"x","stream":"yes"})",
      R"({"model":"m","input":"x","max_output_tokens":1.5})",
      R"({"model":"m","input":"x","temperature":"hot"})",
      R"({"model":"m","input":"x","text":{"format":{"type":"yaml"}}})",
  };
  for (const char* body : bodies) {
    CAPTURE(body);
    CHECK_THROWS_AS(read(json::parse(body)), std::invalid_argument);
  }
}

TEST_CASE("openai_responses: read_request drops fields that only tune the answer") {
  const json plain = {{"model", "m"}, {"input", "x"}};
  json tuned = plain;
  tuned.update(json::parse(R"({"store": true, "include": ["reasoning.encrypted_content"],
    "metadata": {"k": "v"}, "prompt_cache_key": "p", "service_tier": "flex", "truncation": "auto",
    "text": {"verbosity": "high"}, "user": "u", "safety_identifier": "s", "background": false,
    "previous_response_id": null, "top_logprobs": 2, "max_tool_calls": 3,
    "tools": [{"type": "web_search"}, {"type": "file_search"}, {"type": "mcp"},
              {"type": "image_generation"}, {"type": "code_interpreter"},
              {"type": "computer_use_preview"}]})"));
  const ir::Conversation a = read(plain), b = read(tuned);
  CHECK(b.tools.empty());
  CHECK(b.messages.size() == a.messages.size());
  CHECK(b.format.kind == ir::OutputFormat::Kind::text);
  CHECK(b.system == a.system);
}

TEST_CASE("openai_responses: write_request golden") {
  ir::Conversation c;
  c.model = "gpt-5";
  c.system = "Be brief.";
  c.stream = true;
  c.max_tokens = 1000;
  c.temperature = 0.5;
  c.top_p = 0.9;
  c.top_k = 40;
  c.parallel_tool_calls = true;
  c.reasoning_budget = 5000;
  c.tool_choice = {ir::ToolChoice::Mode::tool, "get"};
  c.format = {ir::OutputFormat::Kind::json_schema, "", json{{"type", "object"}}};
  c.tools.push_back({"get", "Gets", json{{"type", "object"}}});
  c.tools.push_back({"noargs", "", json::object()});
  ir::Part text, image, call, result, thought, unsigned_thought, url_image;
  text.text = "hi";
  image.kind = ir::Part::Kind::image;
  image.image = {"image/jpeg", "AAAA", ""};
  url_image.kind = ir::Part::Kind::image;
  url_image.image = {"", "", "https://x/y.png"};
  call.kind = ir::Part::Kind::tool_call;
  call.call = {"call_9", "get", R"({"a":1})", "gemini-sig"};
  result.kind = ir::Part::Kind::tool_result;
  result.result = {"call_9", "get", "42", false, {}};
  thought.kind = ir::Part::Kind::reasoning;
  thought.reasoning = {"", "ENC", false};
  unsigned_thought.kind = ir::Part::Kind::reasoning;
  unsigned_thought.reasoning = {"no signature", "", false};
  ir::Part answer_text;
  answer_text.text = "ok";
  c.messages = {{ir::Role::user, {text, image, url_image}},
                {ir::Role::assistant, {unsigned_thought, thought, answer_text, call}},
                {ir::Role::user, {result, text}}};

  const WireRequest wire = family().write_request(c);
  CHECK(wire.path == "/v1/responses");
  const json expected = json::parse(R"({
    "model": "gpt-5", "instructions": "Be brief.", "stream": true, "store": false,
    "max_output_tokens": 1000, "parallel_tool_calls": true,
    "reasoning": {"effort": "medium"}, "include": ["reasoning.encrypted_content"],
    "tool_choice": {"type": "function", "name": "get"},
    "text": {"format": {"type": "json_schema", "name": "response", "schema": {"type": "object"}}},
    "tools": [
      {"type": "function", "name": "get", "description": "Gets", "strict": false,
       "parameters": {"type": "object"}},
      {"type": "function", "name": "noargs", "strict": false,
       "parameters": {"type": "object", "properties": {}}}],
    "input": [
      {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "hi"},
        {"type": "input_image", "image_url": "data:image/jpeg;base64,AAAA"},
        {"type": "input_image", "image_url": "https://x/y.png"}]},
      {"type": "reasoning", "summary": [], "encrypted_content": "ENC"},
      {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
      {"type": "function_call", "call_id": "call_9", "name": "get", "arguments": "{\"a\":1}"},
      {"type": "function_call_output", "call_id": "call_9", "output": "42"},
      {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ]})");
  CHECK(json::parse(wire.body) == expected);
}

TEST_CASE("openai_responses: stop sequences are refused (the API has none)") {
  ir::Conversation c;
  c.model = "gpt-4.1";
  c.stop = {"END"};
  CHECK_THROWS_AS(family().write_request(c), ir::Untranslatable);
  try {
    family().write_request(c);
  } catch (const ir::Untranslatable& e) {
    CHECK(e.field() == "stop sequences");
  }
}

TEST_CASE("openai_responses: what each kind of model accepts") {
  ir::Conversation c;
  c.temperature = 0.5;
  c.top_p = 0.9;
  c.reasoning_effort = "high";
  c.max_tokens = 1;
  // A reasoning model: the effort, no sampling settings (it refuses them).
  c.model = "gpt-5-codex";
  json body = json::parse(family().write_request(c).body);
  CHECK_FALSE(body.contains("temperature"));
  CHECK_FALSE(body.contains("top_p"));
  CHECK(body["reasoning"]["effort"] == "high");
  CHECK(body["include"] == json{"reasoning.encrypted_content"});
  CHECK(body["max_output_tokens"] == 16); // the API's least
  // Any other model: the sampling settings, no effort (it refuses one).
  c.model = "gpt-4.1";
  body = json::parse(family().write_request(c).body);
  CHECK(body["temperature"] == 0.5);
  CHECK(body["top_p"] == 0.9);
  CHECK_FALSE(body.contains("reasoning"));
  CHECK_FALSE(body.contains("include"));
}

TEST_CASE("openai_responses: write_request maps a thinking budget to an effort") {
  struct Row {
    long long budget;
    const char* effort;
  };
  for (const Row row : {Row{1024, "low"}, Row{2048, "low"}, Row{2049, "medium"},
                        Row{12000, "medium"}, Row{12001, "high"}, Row{32000, "high"}}) {
    ir::Conversation c;
    c.model = "o4-mini";
    c.reasoning_budget = row.budget;
    const json body = json::parse(family().write_request(c).body);
    CAPTURE(row.budget);
    CHECK(body["reasoning"]["effort"] == row.effort);
    CHECK(body["include"] == json{"reasoning.encrypted_content"});
  }
  ir::Conversation plain;
  plain.model = "m";
  const json body = json::parse(family().write_request(plain).body);
  CHECK_FALSE(body.contains("reasoning"));
  CHECK_FALSE(body.contains("include"));
  CHECK_FALSE(body.contains("instructions"));
  CHECK(body["input"] == json::array());
}

TEST_CASE("openai_responses: read_answer golden") {
  const json body = json::parse(R"({
    "id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
    "model": "gpt-5",
    "output": [
      {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Hm"}],
       "encrypted_content": "ENC"},
      {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
       "content": [{"type": "output_text", "text": "Hi", "annotations": []},
                   {"type": "refusal", "refusal": "No."}]},
      {"id": "ws_1", "type": "web_search_call", "status": "completed"},
      {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_1",
       "name": "f", "arguments": "{\"x\":1}"},
      {"id": "ctc_1", "type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch",
       "input": "diff"}
    ],
    "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4},
              "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 3},
              "total_tokens": 17}})");
  const ir::Answer a = family().read_answer(body);
  CHECK(a.id == "resp_1");
  CHECK(a.model == "gpt-5");
  CHECK(a.finish == ir::Finish::tool_calls);
  CHECK(a.usage.input == 10);
  CHECK(a.usage.cached == 4);
  CHECK(a.usage.output == 7);
  CHECK(a.usage.reasoning == 3);
  REQUIRE(a.parts.size() == 5);
  CHECK(a.parts[0].reasoning.text == "Hm");
  CHECK(a.parts[0].reasoning.signature == "ENC");
  CHECK(a.parts[1].text == "Hi");
  CHECK(a.parts[2].text == "No.");
  CHECK(a.parts[3].call.id == "call_1");
  CHECK(a.parts[3].call.name == "f");
  CHECK(a.parts[3].call.arguments == R"({"x":1})");
  CHECK(a.parts[4].call.name == "apply_patch");
  CHECK(json::parse(a.parts[4].call.arguments) == json{{"input", "diff"}});

  struct Row {
    const char* status;
    json details;
    ir::Finish finish;
  };
  const Row rows[] = {
      {"completed", nullptr, ir::Finish::stop},
      {"incomplete", {{"reason", "max_output_tokens"}}, ir::Finish::length},
      {"incomplete", {{"reason", "content_filter"}}, ir::Finish::content_filter},
      {"failed", nullptr, ir::Finish::error},
  };
  for (const Row& row : rows) {
    const json answer = {
        {"status", row.status}, {"incomplete_details", row.details}, {"output", json::array()}};
    CAPTURE(row.status);
    CHECK(family().read_answer(answer).finish == row.finish);
  }
  CHECK_THROWS_AS(family().read_answer(json::array()), std::invalid_argument);
  CHECK_THROWS_AS(family().read_answer(json{{"id", "x"}}), std::invalid_argument);
  CHECK_THROWS_AS(family().read_answer(json{{"output", "x"}}), std::invalid_argument);
  // Odd items and fields of the wrong type are skipped, not fatal.
  CHECK(family()
            .read_answer(json::parse(R"({"output":[5,"x",{"type":"message","content":7},
              {"type":"local_shell_call","action":"x"}],"usage":{"input_tokens":"many"}})"))
            .parts.size() == 1);
}

TEST_CASE("openai_responses: write_answer golden") {
  ir::Answer a;
  a.id = "msg_from_anthropic";
  a.model = "claude";
  a.finish = ir::Finish::tool_calls;
  a.usage = {20, 5, 8, 2};
  ir::Part thought, text1, text2, call;
  thought.kind = ir::Part::Kind::reasoning;
  thought.reasoning = {"Plan", "SIG", false};
  text1.text = "A";
  text2.text = "B";
  call.kind = ir::Part::Kind::tool_call;
  call.call = {"toolu_1", "shell", R"({"command":["ls"]})", "g+s/="};
  a.parts = {thought, text1, text2, call};
  const json body = without_random(json::parse(family().write_answer(a, ir::Conversation{})));
  const json expected = json::parse(R"({
    "id": "msg_from_anthropic", "object": "response", "created_at": 0, "status": "completed",
    "model": "claude", "error": null, "incomplete_details": null,
    "output": [
      {"id": "rs_", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Plan"}],
       "encrypted_content": "SIG"},
      {"id": "msg_", "type": "message", "status": "completed", "role": "assistant", "content": [
        {"type": "output_text", "text": "A", "annotations": []},
        {"type": "output_text", "text": "B", "annotations": []}]},
      {"id": "fc_", "type": "function_call", "status": "completed",
       "call_id": "toolu_1__sig__g-s_.", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"}
    ],
    "usage": {"input_tokens": 20, "input_tokens_details": {"cached_tokens": 8},
              "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2},
              "total_tokens": 25}})");
  CHECK(body == expected);

  ir::Answer cut;
  cut.finish = ir::Finish::length;
  const json incomplete = json::parse(family().write_answer(cut, read({{"model", "m"}})));
  CHECK(incomplete["status"] == "incomplete");
  CHECK(incomplete["incomplete_details"] == json{{"reason", "max_output_tokens"}});
  CHECK(incomplete["model"] == "m");
  CHECK(incomplete["id"].get<std::string>().starts_with("resp_"));
  CHECK(incomplete["output"] == json::array());
}

TEST_CASE("openai_responses: write_answer answers custom and local_shell tools in kind") {
  const ir::Conversation request = read(codex_request());
  ir::Answer a;
  a.finish = ir::Finish::tool_calls;
  ir::Part patch, shell, broken;
  patch.kind = shell.kind = broken.kind = ir::Part::Kind::tool_call;
  patch.call = {"call_p", "apply_patch", R"({"input":"*** Begin Patch"})", ""};
  shell.call = {"call_s", "local_shell", R"({"command":["ls"],"workdir":"/w"})", ""};
  broken.call = {"call_b", "local_shell", R"({"cmd":"ls"})", ""};
  a.parts = {patch, shell, broken};
  const json body = without_random(json::parse(family().write_answer(a, request)));
  const json expected = json::parse(R"([
    {"id": "ctc_", "type": "custom_tool_call", "status": "completed", "call_id": "call_p",
     "name": "apply_patch", "input": "*** Begin Patch"},
    {"id": "lsh_", "type": "local_shell_call", "status": "completed", "call_id": "call_s",
     "action": {"type": "exec", "command": ["ls"], "working_directory": "/w"}},
    {"id": "lsh_", "type": "local_shell_call", "status": "completed", "call_id": "call_b",
     "action": {"type": "exec", "command": []}}
  ])");
  CHECK(body["output"] == expected);
  // Read back as the client's next turn, the calls are the same calls.
  json next = codex_request();
  next["input"] = body["output"];
  const ir::Conversation again = read(next);
  REQUIRE(again.messages.size() == 1);
  CHECK(json::parse(again.messages[0].parts[0].call.arguments) ==
        json{{"input", "*** Begin Patch"}});
  CHECK(json::parse(again.messages[0].parts[1].call.arguments) ==
        json{{"command", {"ls"}}, {"workdir", "/w"}});
}

TEST_CASE("openai_responses: request round trip Responses -> IR -> Responses keeps the meaning") {
  const ir::Conversation first = read(codex_request());
  const json written = json::parse(family().write_request(first).body);
  const ir::Conversation second = read(written);
  CHECK(second.model == first.model);
  CHECK(second.system == first.system);
  CHECK(second.stream == first.stream);
  CHECK(second.reasoning_effort == first.reasoning_effort);
  CHECK(second.tool_choice.mode == first.tool_choice.mode);
  CHECK(second.parallel_tool_calls == first.parallel_tool_calls);
  CHECK(second.format.schema == first.format.schema);
  REQUIRE(second.tools.size() == first.tools.size());
  for (size_t i = 0; i < first.tools.size(); ++i) {
    CHECK(second.tools[i].name == first.tools[i].name);
    CHECK(second.tools[i].description == first.tools[i].description);
    CHECK(second.tools[i].parameters == first.tools[i].parameters);
  }
  REQUIRE(second.messages.size() == first.messages.size());
  for (size_t i = 0; i < first.messages.size(); ++i) {
    const ir::Message &a = first.messages[i], &b = second.messages[i];
    CHECK(a.role == b.role);
    REQUIRE(a.parts.size() == b.parts.size());
    for (size_t j = 0; j < a.parts.size(); ++j) {
      CAPTURE(i);
      CAPTURE(j);
      CHECK(a.parts[j].kind == b.parts[j].kind);
      CHECK(a.parts[j].text == b.parts[j].text);
      CHECK(a.parts[j].image.data == b.parts[j].image.data);
      CHECK(a.parts[j].image.url == b.parts[j].image.url);
      CHECK(a.parts[j].call.id == b.parts[j].call.id);
      CHECK(a.parts[j].call.arguments == b.parts[j].call.arguments);
      CHECK(a.parts[j].result.content == b.parts[j].result.content);
      CHECK(a.parts[j].reasoning.signature == b.parts[j].reasoning.signature);
      CHECK(a.parts[j].reasoning.text == b.parts[j].reasoning.text);
    }
  }
}

TEST_CASE("openai_responses: answer round trip Responses -> IR -> Responses keeps the meaning") {
  const json body = json::parse(R"({"id": "resp_9", "status": "incomplete", "model": "gpt-5",
    "incomplete_details": {"reason": "max_output_tokens"},
    "output": [
      {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "E"},
      {"id": "msg_1", "type": "message", "role": "assistant",
       "content": [{"type": "output_text", "text": "Über 日本", "annotations": []}]},
      {"id": "fc_1", "type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}],
    "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}})");
  const ir::Answer first = family().read_answer(body);
  const ir::Answer second =
      family().read_answer(json::parse(family().write_answer(first, ir::Conversation{})));
  CHECK(second.id == "resp_9");
  CHECK(second.finish == ir::Finish::length);
  CHECK(second.usage.input == 3);
  CHECK(second.usage.output == 4);
  REQUIRE(second.parts.size() == 3);
  CHECK(second.parts[0].reasoning.signature == "E");
  CHECK(second.parts[1].text == "Über 日本");
  CHECK(second.parts[2].call.id == "c");
  CHECK(second.parts[2].call.arguments == "{}");
}

TEST_CASE("openai_responses: stream reader decodes a recorded stream") {
  CHECK(describe(read_stream(k_recorded)) == k_recorded_events);
}

TEST_CASE("openai_responses: stream reader gives the same events for every cut of the input") {
  for (size_t cut = 0; cut <= k_recorded.size(); ++cut) {
    CAPTURE(cut);
    REQUIRE(describe(read_stream(k_recorded, {cut})) == k_recorded_events);
  }
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < k_recorded.size(); ++i) {
    every_byte.push_back(i);
  }
  CHECK(describe(read_stream(k_recorded, every_byte)) == k_recorded_events);
}

TEST_CASE("openai_responses: stream reader takes items that come only whole") {
  // Codex's own fixtures and some compatible servers send output_item.done without deltas.
  std::string stream =
      sse({{"type", "response.output_item.done"},
           {"item",
            {{"type", "message"},
             {"role", "assistant"},
             {"content", {{{"type", "output_text"}, {"text", "Hello"}}}}}}}) +
      sse({{"type", "response.output_item.done"},
           {"output_index", 1},
           {"item",
            {{"type", "function_call"}, {"call_id", "c1"}, {"name", "f"}, {"arguments", "{}"}}}}) +
      sse({{"type", "response.output_item.done"},
           {"output_index", 2},
           {"item",
            {{"type", "custom_tool_call"}, {"call_id", "c2"}, {"name", "p"}, {"input", "x"}}}}) +
      sse({{"type", "response.output_item.done"},
           {"output_index", 3},
           {"item",
            {{"type", "local_shell_call"},
             {"call_id", "c3"},
             {"status", "completed"},
             {"action", {{"type", "exec"}, {"command", {"ls"}}}}}}}) +
      sse({{"type", "response.output_item.done"},
           {"output_index", 4},
           {"item", {{"type", "reasoning"}, {"summary", json::array()}}}}) +
      sse({{"type", "response.completed"}, {"response", {{"id", "r"}}}});
  const json expected = json::parse(R"([
    ["start", "", "", 0],
    ["text", 0, "Hello"],
    ["call", 1, "c1", "f", ""], ["args", 1, "{}"],
    ["call", 2, "c2", "p", ""], ["args", 2, "{\"input\":\"x"], ["args", 2, "\"}"],
    ["call", 3, "c3", "local_shell", ""], ["args", 3, "{\"command\":[\"ls\"]}"],
    ["finish", 2, 0, 0, 0, 0]])");
  CHECK(describe(read_stream(stream)) == expected);
}

TEST_CASE("openai_responses: stream reader reports errors, cut answers and cut streams") {
  const std::string created =
      sse({{"type", "response.created"}, {"response", {{"id", "r"}, {"model", "m"}}}});
  const std::string text =
      sse({{"type", "response.output_text.delta"}, {"output_index", 0}, {"delta", "x"}});
  struct Row {
    std::string stream;
    json events;
  };
  const Row rows[] = {
      {created + text +
           sse({{"type", "response.failed"},
                {"response",
                 {{"status", "failed"},
                  {"error", {{"code", "rate_limit_exceeded"}, {"message", "slow"}}}}}}),
       json::parse(R"([["start","r","m",0],["text",0,"x"],["error","slow",429]])")},
      {created + sse({{"type", "error"}, {"code", "server_error"}, {"message", "boom"}}) + text,
       json::parse(R"([["start","r","m",0],["error","boom",500]])")},
      {created + text +
           sse({{"type", "response.incomplete"},
                {"response",
                 {{"status", "incomplete"},
                  {"incomplete_details", {{"reason", "max_output_tokens"}}},
                  {"usage", {{"input_tokens", 5}, {"output_tokens", 9}}}}}}),
       json::parse(R"([["start","r","m",0],["text",0,"x"],["finish",1,5,9,0,0]])")},
      {created + text, json::parse(R"([["start","r","m",0],["text",0,"x"],["finish",0,0,0,0,0]])")},
      {created +
           sse({{"type", "response.function_call_arguments.delta"},
                {"output_index", 0},
                {"delta", "{"}}) +
           sse({{"type", "response.custom_tool_call_input.delta"},
                {"output_index", 1},
                {"delta", "a"}}),
       json::parse(R"([["start","r","m",0],["call",0,"","",""],["args",0,"{"],
                       ["call",1,"","",""],["args",1,"{\"input\":\"a"],["args",1,"\"}"],
                       ["finish",2,0,0,0,0]])")},
      {"", json::array()},
      {": keep-alive\n\ndata: not json\n\ndata: [DONE]\n\n", json::array()},
      {"data: {\"type\":\"response.output_text.delta\",\"delta\":\"\xff\xfe ok\"}\n\n",
       json::parse(R"([["start","","",0],["text",0,"\ufffd\ufffd ok"],["finish",0,0,0,0,0]])")},
  };
  for (const Row& row : rows) {
    CAPTURE(row.stream);
    CHECK(describe(read_stream(row.stream)) == row.events);
  }
}

TEST_CASE("openai_responses: stream writer writes a complete stream Codex accepts") {
  ir::Event start = make_event(ir::Event::Kind::start);
  start.id = "resp_x";
  start.model = "m1";
  start.usage.input = 11;
  ir::Event finish = make_event(ir::Event::Kind::finish);
  finish.finish = ir::Finish::tool_calls;
  finish.usage = {0, 6, 0, 2};
  ir::Event signature = make_event(ir::Event::Kind::reasoning_signature, 0, "SIG");
  const std::vector<ir::Event> events = {
      start,
      make_event(ir::Event::Kind::reasoning_delta, 0, "think"),
      signature,
      make_event(ir::Event::Kind::text_delta, 1, "Hel"),
      make_event(ir::Event::Kind::text_delta, 1, "lo"),
      make_call(2, "call_1", "shell", "sig"),
      make_event(ir::Event::Kind::tool_args_delta, 2, "{\"a\""),
      make_event(ir::Event::Kind::tool_args_delta, 2, ":1}"),
      finish,
  };
  const std::vector<json> written = parse_written(write_stream(events));
  std::vector<std::string> types;
  for (const json& event : written) {
    types.push_back(event["type"]);
  }
  const std::vector<std::string> expected_types = {
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
  };
  CHECK(types == expected_types);
  CHECK(written[0]["response"]["id"] == "resp_x");
  CHECK(written[0]["response"]["model"] == "m1");
  CHECK(written[0]["response"]["status"] == "in_progress");
  CHECK(written[4]["summary_index"] == 0);
  CHECK(written[7]["item"]["encrypted_content"] == "SIG");
  CHECK(written[7]["item"]["summary"] ==
        json::parse(R"([{"type":"summary_text","text":"think"}])"));
  CHECK(written[10]["delta"] == "Hel");
  CHECK(written[12]["text"] == "Hello");
  CHECK(written[15]["item"]["call_id"] == "call_1__sig__sig");
  CHECK(written[15]["item"]["name"] == "shell");
  CHECK(written[18]["arguments"] == "{\"a\":1}");
  const json& completed = written.back()["response"];
  CHECK(completed["status"] == "completed");
  CHECK(completed["usage"] == json::parse(R"({"input_tokens": 11,
    "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 6,
    "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 17})"));
  CHECK(completed["output"].size() == 3);
}

TEST_CASE("openai_responses: stream writer completes any sequence of events") {
  ir::Event cut = make_event(ir::Event::Kind::finish);
  cut.finish = ir::Finish::length;
  ir::Event failure = make_event(ir::Event::Kind::error, 0, "overloaded");
  failure.status = 429;
  ir::Event redacted = make_event(ir::Event::Kind::reasoning_signature, 3, "DATA");
  redacted.redacted = true;
  struct Row {
    const char* name;
    std::vector<ir::Event> events;
    const char* last;
    size_t items;
  };
  const Row rows[] = {
      {"nothing", {}, "response.completed", 0},
      {"a delta without start",
       {make_event(ir::Event::Kind::text_delta, 0, "x")},
       "response.completed",
       1},
      {"args without a call start",
       {make_event(ir::Event::Kind::tool_args_delta, 4, "{}")},
       "response.completed",
       1},
      {"interleaved parts",
       {make_event(ir::Event::Kind::text_delta, 0, "a"), make_call(1, "c", "f"),
        make_event(ir::Event::Kind::text_delta, 0, "b"), make_call(1, "c", "f"),
        make_event(ir::Event::Kind::tool_args_delta, 1, "{}")},
       "response.completed",
       4},
      {"a signature alone, then redacted data",
       {make_event(ir::Event::Kind::reasoning_signature, 0, "S"), redacted},
       "response.completed",
       2},
      {"an error mid-text",
       {make_event(ir::Event::Kind::text_delta, 0, "x"), failure,
        make_event(ir::Event::Kind::text_delta, 0, "y")},
       "response.failed",
       1},
      {"a cut answer",
       {make_event(ir::Event::Kind::text_delta, 0, "x"), cut, cut},
       "response.completed",
       1},
      {"invalid UTF-8",
       {make_event(ir::Event::Kind::text_delta, 0, "bad \xc3\x28 byte")},
       "response.completed",
       1},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    const std::vector<json> written = parse_written(write_stream(row.events));
    CHECK(written.back()["type"] == row.last);
    CHECK(written.back()["response"]["output"].size() == row.items);
  }
  const std::vector<json> cut_stream =
      parse_written(write_stream({make_event(ir::Event::Kind::text_delta, 0, "x"), cut}));
  CHECK(cut_stream.back()["response"]["status"] == "incomplete");
  CHECK(cut_stream.back()["response"]["incomplete_details"]["reason"] == "max_output_tokens");
  const std::vector<json> failed = parse_written(write_stream({failure}));
  CHECK(failed.back()["response"]["error"] ==
        json{{"code", "rate_limit_exceeded"}, {"message", "overloaded"}});
  const std::vector<json> signed_late =
      parse_written(write_stream({make_event(ir::Event::Kind::reasoning_delta, 0, "t"),
                                  make_event(ir::Event::Kind::text_delta, 1, "x"),
                                  make_event(ir::Event::Kind::reasoning_signature, 0, "LATE")}));
  CHECK(signed_late.back()["response"]["output"][0]["encrypted_content"] == "LATE");
}

TEST_CASE("openai_responses: stream writer gives custom and local_shell calls in kind") {
  const ir::Conversation request = read(codex_request());
  const std::string bytes =
      write_stream({make_call(0, "call_p", "apply_patch"),
                    make_event(ir::Event::Kind::tool_args_delta, 0, "{\"input\":\"*** Begin"),
                    make_event(ir::Event::Kind::tool_args_delta, 0, " Patch\\n\"}"),
                    make_call(1, "call_s", "local_shell"),
                    make_event(ir::Event::Kind::tool_args_delta, 1, "{\"command\":[\"ls\"]}")},
                   request);
  const std::vector<json> written = parse_written(bytes);
  std::vector<std::string> types;
  for (const json& event : written) {
    types.push_back(event["type"]);
  }
  CHECK(std::count(types.begin(), types.end(), "response.function_call_arguments.delta") == 0);
  const auto input_delta =
      std::find(types.begin(), types.end(), "response.custom_tool_call_input.delta");
  REQUIRE(input_delta != types.end());
  CHECK(written[input_delta - types.begin()]["delta"] == "*** Begin Patch\n");
  const json& output = written.back()["response"]["output"];
  REQUIRE(output.size() == 2);
  CHECK(output[0]["type"] == "custom_tool_call");
  CHECK(output[0]["input"] == "*** Begin Patch\n");
  CHECK(output[1]["type"] == "local_shell_call");
  CHECK(output[1]["action"] == json::parse(R"({"type":"exec","command":["ls"]})"));

  // This family's reader makes the same calls of the written stream.
  const json events = describe(read_stream(bytes));
  CHECK(events[1] == json{"call", 0, "call_p", "apply_patch", ""});
  CHECK(events[2] == json{"args", 0, "{\"input\":\"*** Begin Patch\\n"});
  CHECK(events[3] == json{"args", 0, "\"}"});
  CHECK(events[4] == json{"call", 1, "call_s", "local_shell", ""});
}

TEST_CASE("openai_responses: stream writer output reads back to the same events") {
  // The recorded provider stream, read, written for a client, and read again.
  const std::vector<ir::Event> events = read_stream(k_recorded);
  const std::string written = write_stream(events);
  parse_written(written);
  // To a client without the custom tool, the custom call is a function call whose arguments are
  // the IR's JSON text, given out in the same deltas.
  CHECK(describe(read_stream(written)) == k_recorded_events);
}

TEST_CASE("openai_responses: read_error_message") {
  CHECK(family().read_error_message(json::parse(
            R"({"error":{"message":"Incorrect API key","type":"invalid_request_error"}})")) ==
        "Incorrect API key");
  CHECK(family().read_error_message(json::parse(R"({"error":"plain"})")) == "plain");
  CHECK(family().read_error_message(json::parse(R"({"detail":"x"})")).empty());
  CHECK(family().read_error_message(json::parse(R"("x")")).empty());
}

TEST_CASE("openai_responses: edge cases of content") {
  const ir::Conversation empty = read(json::parse(
      R"({"model":"m","input":[{"role":"user","content":""},{"role":"user","content":[]}]})"));
  REQUIRE(empty.messages.size() == 1);
  CHECK(empty.messages[0].parts.size() == 1);
  CHECK(empty.messages[0].parts[0].text.empty());
  CHECK(read(json::parse(R"({"model":"m","input":[]})")).messages.empty());
  CHECK(read(json::parse(R"({"model":"m"})")).messages.empty());
  CHECK(family().read_request(json::parse(R"({"input":"x"})"), RequestSite{"from-path"}).model ==
        "from-path");

  // A redacted Anthropic thinking block survives the trip through a Codex client.
  ir::Answer a;
  ir::Part redacted;
  redacted.kind = ir::Part::Kind::reasoning;
  redacted.reasoning = {"", "OPAQUE", true};
  a.parts = {redacted};
  json next = {{"model", "m"},
               {"input", json::parse(family().write_answer(a, ir::Conversation{}))["output"]}};
  const ir::Conversation back = read(next);
  REQUIRE(back.messages.size() == 1);
  CHECK(back.messages[0].parts[0].reasoning.redacted);
  CHECK(back.messages[0].parts[0].reasoning.signature == "OPAQUE");
  // … and is not sent to OpenAI, which could not read it.
  CHECK(json::parse(family().write_request(back).body)["input"] == json::array());

  // Invalid UTF-8 in the IR does not stop the writers.
  ir::Answer bad;
  ir::Part text;
  text.text = "\xff\xfe";
  bad.parts = {text};
  CHECK_NOTHROW(json::parse(family().write_answer(bad, ir::Conversation{})));
  ir::Conversation bad_request;
  bad_request.system = "\xc3";
  CHECK_NOTHROW(json::parse(family().write_request(bad_request).body));
}
