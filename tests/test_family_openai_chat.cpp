#include "server/protocols/family.hpp"
#include "server/protocols/sse.hpp"

#include <doctest/doctest.h>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

using namespace agproxy;
using nlohmann::json;

namespace {

const Family& chat() {
  return openai_chat_family();
}

ir::Conversation read(const char* body) {
  return chat().read_request(json::parse(body), {});
}

// Return `event` as one line, every field a reader sets, for comparing event sequences.
std::string show(const ir::Event& event) {
  return std::to_string(static_cast<int>(event.kind)) + " #" + std::to_string(event.index) +
         " text=" + event.text + " id=" + event.id + " model=" + event.model +
         " name=" + event.name + " sig=" + event.signature +
         " finish=" + std::to_string(static_cast<int>(event.finish)) +
         " usage=" + std::to_string(event.usage.input) + "/" + std::to_string(event.usage.output) +
         "/" + std::to_string(event.usage.cached) + "/" + std::to_string(event.usage.reasoning) +
         " status=" + std::to_string(event.status);
}

std::vector<std::string> show(const std::vector<ir::Event>& events) {
  std::vector<std::string> lines;
  for (const ir::Event& event : events) {
    lines.push_back(show(event));
  }
  return lines;
}

// Return the events of provider stream `stream` fed in pieces cut at `cuts` (offsets, ascending).
std::vector<ir::Event> read_stream(std::string_view stream, const std::vector<size_t>& cuts = {}) {
  auto reader = chat().stream_reader();
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

ir::Event event(ir::Event::Kind kind, size_t index = 0, std::string text = {}) {
  ir::Event out;
  out.kind = kind;
  out.index = index;
  out.text = std::move(text);
  return out;
}

// Return the client-side view of a written stream: the JSON of each data line, in order, after
// checking it is a valid event stream that ends with [DONE] (or an error) and nothing after.
std::vector<json> chunks_of(const std::string& stream) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(stream, events);
  const size_t complete = events.size();
  parser.finish(events);
  CHECK(events.size() == complete); // every event ends with its blank line
  std::vector<json> chunks;
  bool ended = false;
  for (const SseEvent& sse : events) {
    CHECK_FALSE(ended);
    CHECK(sse.name.empty());
    if (sse.data == "[DONE]") {
      ended = true;
      continue;
    }
    const json chunk = json::parse(sse.data, nullptr, false);
    REQUIRE(chunk.is_object());
    if (chunk.contains("error")) {
      ended = true;
    }
    chunks.push_back(chunk);
  }
  CHECK(ended);
  return chunks;
}

std::string write_stream(const std::vector<ir::Event>& events, const std::string& model = "m",
                         bool usage = true) {
  ir::Conversation request;
  request.model = model;
  request.stream_usage = usage;
  auto writer = chat().stream_writer(request, {});
  std::string out;
  for (const ir::Event& e : events) {
    writer->write(e, out);
  }
  writer->finish(out);
  return out;
}

// A Chat Completions stream as OpenAI sends it with stream_options.include_usage: role chunk,
// text, two parallel tool calls with arguments in pieces, the finish reason, then usage.
const char* const k_recorded_stream =
    R"(data: {"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Let me "},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"check ☀"},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Paris\"}"}}]},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}

data: {"id":"chatcmpl-B1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":30,"total_tokens":80,"prompt_tokens_details":{"cached_tokens":10},"completion_tokens_details":{"reasoning_tokens":0}}}

data: [DONE]

)";

std::vector<std::string> recorded_events() {
  using K = ir::Event::Kind;
  std::vector<ir::Event> events;
  ir::Event start = event(K::start);
  start.id = "chatcmpl-B1";
  start.model = "gpt-4o-2024-08-06";
  events.push_back(start);
  events.push_back(event(K::text_delta, 0, "Let me "));
  events.push_back(event(K::text_delta, 0, "check ☀"));
  ir::Event call_a = event(K::tool_call_start, 1);
  call_a.id = "call_a";
  call_a.name = "get_weather";
  events.push_back(call_a);
  events.push_back(event(K::tool_args_delta, 1, "{\"ci"));
  events.push_back(event(K::tool_args_delta, 1, "ty\": \"Paris\"}"));
  ir::Event call_b = event(K::tool_call_start, 2);
  call_b.id = "call_b";
  call_b.name = "get_time";
  events.push_back(call_b);
  events.push_back(event(K::tool_args_delta, 2, "{}"));
  ir::Event finish = event(K::finish);
  finish.finish = ir::Finish::tool_calls;
  finish.usage = {50, 30, 10, 0};
  events.push_back(finish);
  return show(events);
}

} // namespace

TEST_CASE("openai_chat: read_request carries history, tools and options") {
  const ir::Conversation c = read(R"({
    "model": "gpt-4o",
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
      {"role": "user", "content": [
        {"type": "text", "text": "Weather here?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}]},
      {"role": "assistant", "reasoning_content": "Need the tool.", "content": null,
       "tool_calls": [
         {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
         {"id": "call_2__sig__ab-_c.", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
      {"role": "tool", "tool_call_id": "call_2__sig__ab-_c.", "content": [{"type": "text", "text": "noon"}]},
      {"role": "user", "content": "Thanks"}
    ],
    "tools": [
      {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}},
      {"type": "function", "function": {"name": "get_time"}},
      {"type": "custom", "custom": {"name": "free_text"}}
    ],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": false,
    "max_completion_tokens": 500, "max_tokens": 100,
    "temperature": 0.5, "top_p": 0.9, "stop": ["END", "STOP"],
    "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "strict": true,
                        "schema": {"type": "object"}}},
    "reasoning_effort": "minimal",
    "stream": true
  })");
  CHECK(c.model == "gpt-4o");
  CHECK(c.system == "Be brief.\n\nUse metric units.");
  REQUIRE(c.messages.size() == 4);

  const ir::Message& user = c.messages[0];
  CHECK(user.role == ir::Role::user);
  REQUIRE(user.parts.size() == 3);
  CHECK(user.parts[0].kind == ir::Part::Kind::text);
  CHECK(user.parts[0].text == "Weather here?");
  CHECK(user.parts[1].kind == ir::Part::Kind::image);
  CHECK(user.parts[1].image.media_type == "image/png");
  CHECK(user.parts[1].image.data == "iVBORw0K");
  CHECK(user.parts[1].image.url.empty());
  CHECK(user.parts[2].image.url == "https://example.com/a.jpg");
  CHECK(user.parts[2].image.data.empty());

  const ir::Message& assistant = c.messages[1];
  CHECK(assistant.role == ir::Role::assistant);
  REQUIRE(assistant.parts.size() == 3);
  CHECK(assistant.parts[0].kind == ir::Part::Kind::reasoning);
  CHECK(assistant.parts[0].reasoning.text == "Need the tool.");
  CHECK(assistant.parts[1].kind == ir::Part::Kind::tool_call);
  CHECK(assistant.parts[1].call.id == "call_1");
  CHECK(assistant.parts[1].call.name == "get_weather");
  CHECK(assistant.parts[1].call.arguments == R"({"city":"Paris"})");
  CHECK(assistant.parts[1].call.signature.empty());
  CHECK(assistant.parts[2].call.id == "call_2");
  CHECK(assistant.parts[2].call.signature == "ab+/c=");

  const ir::Message& results = c.messages[2];
  CHECK(results.role == ir::Role::user);
  REQUIRE(results.parts.size() == 2);
  CHECK(results.parts[0].kind == ir::Part::Kind::tool_result);
  CHECK(results.parts[0].result.id == "call_1");
  CHECK(results.parts[0].result.name == "get_weather");
  CHECK(results.parts[0].result.content == "18C");
  CHECK(results.parts[1].result.id == "call_2");
  CHECK(results.parts[1].result.name == "get_time");
  CHECK(results.parts[1].result.content == "noon");

  CHECK(c.messages[3].role == ir::Role::user);
  CHECK(ir::joined_text(c.messages[3].parts) == "Thanks");

  REQUIRE(c.tools.size() == 2);
  CHECK(c.tools[0].name == "get_weather");
  CHECK(c.tools[0].description == "Weather of a city");
  CHECK(c.tools[0].parameters ==
        json::parse(R"({"type":"object","properties":{"city":{"type":"string"}}})"));
  CHECK(c.tools[1].parameters == json::object());
  CHECK(c.tool_choice.mode == ir::ToolChoice::Mode::tool);
  CHECK(c.tool_choice.name == "get_weather");
  CHECK(c.parallel_tool_calls == false);
  CHECK(c.max_tokens == 500);
  CHECK(c.temperature == 0.5);
  CHECK(c.top_p == 0.9);
  CHECK(c.stop == std::vector<std::string>{"END", "STOP"});
  CHECK(c.format.kind == ir::OutputFormat::Kind::json_schema);
  CHECK(c.format.name == "weather");
  CHECK(c.format.schema == json{{"type", "object"}});
  CHECK(c.reasoning_effort == "low");
  CHECK_FALSE(c.reasoning_budget);
  CHECK(c.stream);
}

TEST_CASE("openai_chat: read_request field by field") {
  struct Row {
    const char* extra; // fields added to a one-message request
    const char* what;
    std::function<bool(const ir::Conversation&)> holds;
  };
  using Mode = ir::ToolChoice::Mode;
  const Row table[] = {
      {R"("max_tokens": 64)", "max_tokens",
       [](auto& c) {
         return c.max_tokens == 64;
       }},
      {R"("max_tokens": null)", "null is unset",
       [](auto& c) {
         return !c.max_tokens;
       }},
      {R"("stop": "END")", "stop string",
       [](auto& c) {
         return c.stop.size() == 1 && c.stop[0] == "END";
       }},
      {R"("tool_choice": "auto")", "auto",
       [](auto& c) {
         return c.tool_choice.mode == Mode::automatic;
       }},
      {R"("tool_choice": "none")", "none",
       [](auto& c) {
         return c.tool_choice.mode == Mode::none;
       }},
      {R"("tool_choice": "required")", "required",
       [](auto& c) {
         return c.tool_choice.mode == Mode::required;
       }},
      {R"("temperature": 0.2)", "no tool_choice",
       [](auto& c) {
         return c.tool_choice.mode == Mode::unset;
       }},
      {R"("response_format": {"type": "json_object"})", "json_object",
       [](auto& c) {
         return c.format.kind == ir::OutputFormat::Kind::json_object;
       }},
      {R"("response_format": {"type": "text"})", "text format",
       [](auto& c) {
         return c.format.kind == ir::OutputFormat::Kind::text;
       }},
      {R"("reasoning_effort": "high")", "high",
       [](auto& c) {
         return c.reasoning_effort == "high";
       }},
      {R"("reasoning_effort": "medium")", "medium",
       [](auto& c) {
         return c.reasoning_effort == "medium";
       }},
      {R"("reasoning_effort": "none")", "none effort",
       [](auto& c) {
         return c.reasoning_effort.empty();
       }},
      {R"("n": 1, "modalities": ["text"])", "n 1, text",
       [](auto& c) {
         return c.messages.size() == 1;
       }},
      {R"("stream": false)", "no stream",
       [](auto& c) {
         return !c.stream;
       }},
      // Fields that only tune the answer are dropped.
      {R"("logprobs": true, "top_logprobs": 2, "seed": 7, "user": "u1", "metadata": {"a": "b"},
          "store": true, "service_tier": "flex", "stream_options": {"include_usage": true},
          "prediction": {"type": "content", "content": "x"}, "frequency_penalty": 0.1,
          "presence_penalty": 0.1, "logit_bias": {"50256": -100}, "prompt_cache_key": "k",
          "safety_identifier": "s", "verbosity": "low")",
       "tuning fields dropped",
       [](auto& c) {
         return c.messages.size() == 1 && c.system.empty();
       }},
  };
  for (const Row& row : table) {
    CAPTURE(row.what);
    const std::string body =
        std::string(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], )") +
        row.extra + "}";
    CHECK(row.holds(chat().read_request(json::parse(body), {})));
  }
}

TEST_CASE("openai_chat: read_request refuses what would change the meaning") {
  struct Row {
    const char* body;
    const char* field;
  };
  const Row table[] = {
      {R"({"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]})", "n"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA","format":"wav"}}]}]})",
       "input_audio"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"f"}}]}]})",
       "file"},
      {R"({"model":"m","messages":[{"role":"function","name":"f","content":"1"}]})", "function"},
      {R"({"model":"m","messages":[{"role":"assistant","function_call":{"name":"f","arguments":"{}"}}]})",
       "function_call"},
      {R"({"model":"m","functions":[{"name":"f"}],"messages":[{"role":"user","content":"hi"}]})",
       "functions"},
      {R"({"model":"m","function_call":"auto","messages":[{"role":"user","content":"hi"}]})",
       "function_call"},
      {R"({"model":"m","modalities":["text","audio"],"messages":[{"role":"user","content":"hi"}]})",
       "modalities"},
      {R"({"model":"m","audio":{"voice":"alloy","format":"wav"},"messages":[{"role":"user","content":"hi"}]})",
       "audio"},
      {R"({"model":"m","web_search_options":{},"messages":[{"role":"user","content":"hi"}]})",
       "web_search_options"},
      {R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{"name":"x","input":"y"}}]}]})",
       "tool_calls[].type: custom"},
      {R"({"model":"m","tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}},"messages":[]})",
       "tool_choice"},
  };
  for (const Row& row : table) {
    CAPTURE(row.body);
    try {
      read(row.body);
      FAIL("not refused");
    } catch (const ir::Untranslatable& error) {
      CHECK(error.field() == row.field);
      CHECK(std::string(error.what()).find(row.field) != std::string::npos);
      CHECK(std::string(error.what()).find("cannot be translated") != std::string::npos);
    }
  }
}

TEST_CASE("openai_chat: read_request rejects bodies that are not requests") {
  const char* const bodies[] = {
      R"([])",
      R"({"model":"m"})",
      R"({"model":"m","messages":{}})",
      R"({"model":"m","messages":[{"role":"wizard","content":"hi"}]})",
      R"({"model":"m","messages":[{"role":"user","content":42}]})",
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":7}]}]})",
      R"({"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})",
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,AAAA"}}]}]})",
      R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function"}]}]})",
      R"({"model":"m","messages":[],"max_tokens":"10"})",
      R"({"model":"m","messages":[],"max_tokens":1.5})",
      R"({"model":"m","messages":[],"stop":7})",
      R"({"model":"m","messages":[],"stop":[1]})",
      R"({"model":"m","messages":[],"temperature":"hot"})",
      R"({"model":"m","messages":[],"tool_choice":"sometimes"})",
      R"({"model":"m","messages":[],"stream":"yes"})",
      R"({"model":7,"messages":[]})",
  };
  for (const char* body : bodies) {
    CAPTURE(body);
    CHECK_THROWS_AS(read(body), std::invalid_argument);
  }
}

TEST_CASE("openai_chat: images in a tool message (compatible servers) are the result's") {
  const ir::Conversation c = read(R"({"model":"m","messages":[
      {"role":"user","content":"look"},
      {"role":"assistant","tool_calls":[{"id":"call_1","type":"function",
                                         "function":{"name":"shot","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":[
          {"type":"text","text":"a "},
          {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},
          {"type":"text","text":"chart"},
          {"type":"image_url","image_url":"https://example.com/b.png"}]}]})");
  REQUIRE(c.messages.size() == 3);
  const ir::ToolResult& result = c.messages[2].parts.at(0).result;
  CHECK(result.name == "shot");
  CHECK(result.content == "a chart");
  REQUIRE(result.images.size() == 2);
  CHECK(result.images[0].media_type == "image/png");
  CHECK(result.images[0].data == "AAAA");
  CHECK(result.images[1].url == "https://example.com/b.png");
  // Written back for Chat Completions: the tool message says where they went, the user message
  // after it carries them.
  const json sent = json::parse(chat().write_request(c).body);
  REQUIRE(sent["messages"].size() == 4);
  CHECK(sent["messages"][2]["content"] ==
        "a chart\n\n[2 images of this result in the next user message]");
  CHECK(sent["messages"][3]["content"].size() == 3);
  CHECK(sent["messages"][3]["content"][2]["image_url"]["url"] == "https://example.com/b.png");
  CHECK_THROWS_AS(read(R"({"model":"m","messages":[{"role":"tool","tool_call_id":"c","content":[
      {"type":"image_url","image_url":{"url":"data:image/png,AAAA"}}]}]})"),
                  std::invalid_argument);
}

TEST_CASE("openai_chat: read_request edge cases") {
  // Empty content, null content, unicode, and the model from the path when the body has none.
  RequestSite site;
  site.model = "from-site";
  const ir::Conversation c = chat().read_request(json::parse(R"({"messages":[
      {"role":"system","content":""},
      {"role":"user","content":""},
      {"role":"assistant","content":null},
      {"role":"user","content":"héllo 🌍 \u0000 end"},
      {"role":"tool","tool_call_id":"unknown","content":null}]})"),
                                                 site);
  CHECK(c.model == "from-site");
  CHECK(c.system.empty());
  REQUIRE(c.messages.size() == 4);
  REQUIRE(c.messages[0].parts.size() == 1);
  CHECK(c.messages[0].parts[0].text.empty());
  CHECK(c.messages[1].parts.empty());
  CHECK(c.messages[2].parts[0].text == std::string("héllo 🌍 ") + '\0' + " end");
  CHECK(c.messages[3].parts[0].result.id == "unknown");
  CHECK(c.messages[3].parts[0].result.name.empty());
  CHECK(c.messages[3].parts[0].result.content.empty());
  CHECK_FALSE(c.stream);
}

TEST_CASE("openai_chat: write_request golden") {
  ir::Conversation c;
  c.model = "gpt-4o";
  c.system = "Be brief.";
  ir::Message user;
  ir::Part text;
  text.text = "What is here?";
  ir::Part image;
  image.kind = ir::Part::Kind::image;
  image.image.media_type = "image/png";
  image.image.data = "iVBOR";
  user.parts = {text, image};
  ir::Message assistant;
  assistant.role = ir::Role::assistant;
  ir::Part thought;
  thought.kind = ir::Part::Kind::reasoning;
  thought.reasoning.text = "hmm";
  thought.reasoning.signature = "sig";
  ir::Part call;
  call.kind = ir::Part::Kind::tool_call;
  call.call = {"call_1", "look", R"({"q":1})", "gemini-signature"};
  assistant.parts = {thought, call};
  ir::Message results;
  ir::Part result;
  result.kind = ir::Part::Kind::tool_result;
  result.result = {"call_1", "look", "a cat", false, {}};
  ir::Part after;
  after.text = "And now?";
  results.parts = {after, result}; // the result goes first all the same
  ir::Message only_text;
  only_text.parts = {text};
  c.messages = {user, assistant, results};
  c.tools = {{"look", "Look around", json{{"type", "object"}}}};
  c.tool_choice.mode = ir::ToolChoice::Mode::required;
  c.parallel_tool_calls = true;
  c.max_tokens = 256;
  c.temperature = 0.7;
  c.top_p = 0.95;
  c.top_k = 40;
  c.stop = {"END"};
  c.format.kind = ir::OutputFormat::Kind::json_schema;
  c.format.schema = {{"type", "object"}};
  c.reasoning_budget = 5000; // dropped: gpt-4o takes no effort
  c.stream = true;

  const WireRequest wire = chat().write_request(c);
  CHECK(wire.path == "/v1/chat/completions");
  CHECK(json::parse(wire.body) == json::parse(R"({
    "model": "gpt-4o",
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [
        {"type": "text", "text": "What is here?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}]},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"q\":1}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
      {"role": "user", "content": "And now?"}
    ],
    "tools": [{"type": "function", "function": {"name": "look", "description": "Look around",
               "parameters": {"type": "object"}}}],
    "tool_choice": "required",
    "parallel_tool_calls": true,
    "max_tokens": 256,
    "temperature": 0.7,
    "top_p": 0.95,
    "stop": ["END"],
    "response_format": {"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}},
    "stream": true,
    "stream_options": {"include_usage": true}
  })"));
}

TEST_CASE("openai_chat: write_request for OpenAI reasoning models") {
  struct Row {
    const char* model;
    std::optional<long long> budget;
    const char* effort;
    const char* expected; // the fields besides model and messages
  };
  const Row table[] = {
      {"o3-mini", 1024, "", R"({"max_completion_tokens":100,"reasoning_effort":"low"})"},
      {"o4-mini", 2048, "", R"({"max_completion_tokens":100,"reasoning_effort":"low"})"},
      {"gpt-5", 2049, "", R"({"max_completion_tokens":100,"reasoning_effort":"medium"})"},
      {"o1", 12000, "", R"({"max_completion_tokens":100,"reasoning_effort":"medium"})"},
      {"gpt-5-mini", 12001, "", R"({"max_completion_tokens":100,"reasoning_effort":"high"})"},
      {"gpt-5", std::nullopt, "medium",
       R"({"max_completion_tokens":100,"reasoning_effort":"medium"})"},
      {"gpt-5", std::nullopt, "", R"({"max_completion_tokens":100})"},
      {"gpt-5", -1, "", R"({"max_completion_tokens":100})"},
      {"gpt-4.1", 50000, "high", R"({"max_tokens":100,"temperature":0.3})"},
      {"deepseek-chat", std::nullopt, "", R"({"max_tokens":100,"temperature":0.3})"},
  };
  for (const Row& row : table) {
    CAPTURE(row.model);
    CAPTURE(row.expected);
    ir::Conversation c;
    c.model = row.model;
    c.max_tokens = 100;
    c.temperature = 0.3;
    c.reasoning_budget = row.budget;
    c.reasoning_effort = row.effort;
    json body = json::parse(chat().write_request(c).body);
    CHECK(body["model"] == row.model);
    CHECK(body["messages"] == json::array());
    body.erase("model");
    body.erase("messages");
    CHECK(body == json::parse(row.expected));
  }
}

TEST_CASE("openai_chat: write_request small shapes") {
  ir::Conversation c;
  c.model = "llama3";
  c.tool_choice.mode = ir::ToolChoice::Mode::none; // no tools: OpenAI refuses a tool_choice
  c.parallel_tool_calls = false;
  ir::Message empty_user;
  ir::Message thinking_only;
  thinking_only.role = ir::Role::assistant;
  ir::Part thought;
  thought.kind = ir::Part::Kind::reasoning;
  thought.reasoning.text = "...";
  thinking_only.parts = {thought};
  ir::Message two_texts;
  ir::Part a, b;
  a.text = "one";
  b.text = "two";
  two_texts.parts = {a, b};
  ir::Message url_image;
  ir::Part image;
  image.kind = ir::Part::Kind::image;
  image.image.url = "https://example.com/x.png";
  url_image.parts = {image};
  ir::Message results_only;
  ir::Part r1, r2;
  r1.kind = r2.kind = ir::Part::Kind::tool_result;
  r1.result.id = "c1";
  r1.result.content = "1";
  r2.result.id = "c2";
  r2.result.content = "ünï";
  results_only.parts = {r1, r2};
  c.messages = {empty_user, thinking_only, two_texts, url_image, results_only};
  CHECK(json::parse(chat().write_request(c).body) == json::parse(R"({
    "model": "llama3",
    "messages": [
      {"role": "user", "content": ""},
      {"role": "assistant", "content": ""},
      {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
      {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "1"},
      {"role": "tool", "tool_call_id": "c2", "content": "ünï"}
    ]
  })"));

  // Invalid UTF-8 from another family's client must not make the writer throw.
  c.messages = {};
  c.system = "bad \xff byte";
  json body;
  CHECK_NOTHROW(body = json::parse(chat().write_request(c).body));
  CHECK(body["messages"][0]["content"] == "bad \xEF\xBF\xBD byte");

  // A call without arguments still sends a JSON object.
  ir::Message call_only;
  call_only.role = ir::Role::assistant;
  ir::Part call;
  call.kind = ir::Part::Kind::tool_call;
  call.call.id = "c";
  call.call.name = "now";
  call_only.parts = {call};
  c.system.clear();
  c.messages = {call_only};
  body = json::parse(chat().write_request(c).body);
  CHECK(body["messages"][0]["tool_calls"][0]["function"]["arguments"] == "{}");
}

TEST_CASE("openai_chat: request round trip keeps the meaning") {
  const json original = json::parse(R"({
    "model": "gpt-4o",
    "messages": [
      {"role": "system", "content": "Sys"},
      {"role": "user", "content": [{"type": "text", "text": "Look"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]},
      {"role": "assistant", "content": "Calling.", "tool_calls": [
        {"id": "call_x", "type": "function", "function": {"name": "f", "arguments": "{\"a\":[1,2]}"}},
        {"id": "call_y", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "call_x", "content": "one"},
      {"role": "tool", "tool_call_id": "call_y", "content": "two"},
      {"role": "assistant", "content": "Done."},
      {"role": "user", "content": "ok"}
    ],
    "tools": [{"type": "function", "function": {"name": "f", "description": "F", "parameters": {"type": "object"}}},
              {"type": "function", "function": {"name": "g", "parameters": {"type": "object"}}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}},
    "parallel_tool_calls": true,
    "max_tokens": 50,
    "temperature": 1,
    "top_p": 0.5,
    "stop": ["x", "y"],
    "response_format": {"type": "json_object"},
    "stream": true,
    "stream_options": {"include_usage": true}
  })");
  const ir::Conversation first = chat().read_request(original, {});
  const json written = json::parse(chat().write_request(first).body);
  CHECK(written == original);
  const ir::Conversation second = chat().read_request(written, {});
  CHECK(json::parse(chat().write_request(second).body) == written);
}

TEST_CASE("openai_chat: read_answer golden") {
  const ir::Answer a = chat().read_answer(json::parse(R"({
    "id": "chatcmpl-9", "object": "chat.completion", "created": 1700000000, "model": "deepseek-reasoner",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "It is sunny.",
      "reasoning_content": "Check weather.", "tool_calls": [
        {"id": "call_w", "type": "function", "function": {"name": "weather", "arguments": "{\"c\":\"P\"}"}}]},
      "logprobs": null, "finish_reason": "tool_calls"}],
    "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140,
      "prompt_tokens_details": {"cached_tokens": 64}, "completion_tokens_details": {"reasoning_tokens": 12}}
  })"));
  CHECK(a.id == "chatcmpl-9");
  CHECK(a.model == "deepseek-reasoner");
  REQUIRE(a.parts.size() == 3);
  CHECK(a.parts[0].kind == ir::Part::Kind::reasoning);
  CHECK(a.parts[0].reasoning.text == "Check weather.");
  CHECK(a.parts[1].kind == ir::Part::Kind::text);
  CHECK(a.parts[1].text == "It is sunny.");
  CHECK(a.parts[2].kind == ir::Part::Kind::tool_call);
  CHECK(a.parts[2].call.id == "call_w");
  CHECK(a.parts[2].call.name == "weather");
  CHECK(a.parts[2].call.arguments == R"({"c":"P"})");
  CHECK(a.finish == ir::Finish::tool_calls);
  CHECK(a.usage.input == 100);
  CHECK(a.usage.output == 40);
  CHECK(a.usage.cached == 64);
  CHECK(a.usage.reasoning == 12);
}

TEST_CASE("openai_chat: read_answer finish reasons and server variants") {
  struct Row {
    const char* message;
    const char* finish_reason;
    ir::Finish finish;
    const char* text;
    size_t calls;
  };
  const Row table[] = {
      {R"({"role":"assistant","content":"a"})", "\"stop\"", ir::Finish::stop, "a", 0},
      {R"({"role":"assistant","content":"a"})", "\"length\"", ir::Finish::length, "a", 0},
      {R"({"role":"assistant","content":"a"})", "\"content_filter\"", ir::Finish::content_filter,
       "a", 0},
      {R"({"role":"assistant","content":"a"})", "null", ir::Finish::stop, "a", 0},
      {R"({"role":"assistant","content":null,"refusal":"I can't help."})", "\"stop\"",
       ir::Finish::content_filter, "I can't help.", 0},
      // Older Ollama: "stop" after a tool call, arguments as an object.
      {R"({"role":"assistant","content":"","tool_calls":[{"id":"c","function":{"name":"f","arguments":{"x":1}}}]})",
       "\"stop\"", ir::Finish::tool_calls, "", 1},
      {R"({"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}})",
       "\"function_call\"", ir::Finish::tool_calls, "", 1},
      {R"({"role":"assistant","content":[{"type":"text","text":"parts"}]})", "\"stop\"",
       ir::Finish::stop, "parts", 0},
  };
  for (const Row& row : table) {
    CAPTURE(row.message);
    const std::string body =
        std::string(R"({"id":"x","model":"m","choices":[{"index":0,"message":)") + row.message +
        R"(,"finish_reason":)" + row.finish_reason + "}]}";
    const ir::Answer a = chat().read_answer(json::parse(body));
    CHECK(a.finish == row.finish);
    CHECK(ir::joined_text(a.parts) == row.text);
    size_t calls = 0;
    for (const ir::Part& part : a.parts) {
      if (part.kind == ir::Part::Kind::tool_call) {
        ++calls;
        CHECK(part.call.name == "f");
        CHECK_FALSE(part.call.id.empty());
        CHECK(json::parse(part.call.arguments).is_object());
      }
    }
    CHECK(calls == row.calls);
  }

  // DeepSeek counts cache hits on its own field.
  const ir::Answer deepseek = chat().read_answer(json::parse(R"({"choices":[],
      "usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_cache_hit_tokens":8,"prompt_cache_miss_tokens":2}})"));
  CHECK(deepseek.usage.cached == 8);
  CHECK(deepseek.parts.empty());
  // Counts no server could mean are taken as unknown.
  const ir::Answer odd = chat().read_answer(json::parse(
      R"({"choices":[],"usage":{"prompt_tokens":-5,"completion_tokens":"7","total_tokens":1e300}})"));
  CHECK(odd.usage.input == 0);
  CHECK(odd.usage.output == 0);

  for (const char* bad : {R"({})", R"([])", R"({"choices":{}})", R"({"choices":[{"message":"x"}]})",
                          R"({"choices":[{"message":{"content":5}}]})"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(chat().read_answer(json::parse(bad)), std::invalid_argument);
  }
}

TEST_CASE("openai_chat: write_answer golden") {
  ir::Answer a;
  a.id = "msg_01";
  a.model = "claude-x";
  ir::Part thought;
  thought.kind = ir::Part::Kind::reasoning;
  thought.reasoning.text = "Think.";
  thought.reasoning.signature = "opaque";
  ir::Part text;
  text.text = "Hello ";
  ir::Part more;
  more.text = "world";
  ir::Part call;
  call.kind = ir::Part::Kind::tool_call;
  call.call = {"c1", "f", "{}", "s+/="};
  a.parts = {thought, text, call, more};
  a.finish = ir::Finish::tool_calls;
  a.usage = {100, 20, 30, 5};
  ir::Conversation request;
  request.model = "alias";
  json body = json::parse(chat().write_answer(a, request));
  CHECK(body["created"].is_number_integer());
  CHECK(body["created"].get<long long>() > 1700000000);
  body.erase("created");
  CHECK(body == json::parse(R"({
    "id": "msg_01", "object": "chat.completion", "model": "claude-x",
    "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls",
      "message": {"role": "assistant", "content": "Hello world", "refusal": null,
        "reasoning_content": "Think.",
        "tool_calls": [{"id": "c1__sig__s-_.", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
    "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
      "prompt_tokens_details": {"cached_tokens": 30}, "completion_tokens_details": {"reasoning_tokens": 5}}
  })"));

  // Nothing known: a made-up id, the request's model, content null beside tool calls only.
  ir::Answer bare;
  bare.parts = {call};
  bare.finish = ir::Finish::error;
  body = json::parse(chat().write_answer(bare, request));
  CHECK(body["id"].get<std::string>().starts_with("chatcmpl-"));
  CHECK(body["id"].get<std::string>().size() > 20);
  CHECK(body["model"] == "alias");
  CHECK(body["choices"][0]["message"]["content"].is_null());
  CHECK(body["choices"][0]["finish_reason"] == "stop");

  ir::Answer empty;
  empty.parts = {};
  text.text = "bad \xc3";
  ir::Answer invalid;
  invalid.parts = {text};
  body = json::parse(chat().write_answer(empty, request));
  CHECK(body["choices"][0]["message"]["content"] == "");
  CHECK_NOTHROW(body = json::parse(chat().write_answer(invalid, request)));
  CHECK(body["choices"][0]["message"]["content"] == "bad \xEF\xBF\xBD");
}

TEST_CASE("openai_chat: answer round trip keeps the meaning") {
  const json original = json::parse(R"({
    "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o",
    "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls",
      "message": {"role": "assistant", "content": "Sure.", "refusal": null, "tool_calls": [
        {"id": "call_1__sig__abc", "type": "function", "function": {"name": "f", "arguments": "{\"k\":\"v\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
      "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}
  })");
  const ir::Answer answer = chat().read_answer(original);
  // An id carrying a signature splits, and joins back unchanged.
  CHECK(answer.parts[1].call.id == "call_1");
  CHECK(answer.parts[1].call.signature == "abc");
  json written = json::parse(chat().write_answer(answer, {}));
  written.erase("created");
  CHECK(written == original);
}

TEST_CASE("openai_chat: stream reader decodes a recorded stream") {
  CHECK(show(read_stream(k_recorded_stream)) == recorded_events());
}

TEST_CASE("openai_chat: stream reader gives the same events for every cut") {
  const std::string stream = k_recorded_stream;
  const std::vector<std::string> expected = recorded_events();
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    REQUIRE(show(read_stream(stream, {cut})) == expected);
  }
  std::vector<size_t> every;
  for (size_t at = 1; at < stream.size(); ++at) {
    every.push_back(at);
  }
  CHECK(show(read_stream(stream, every)) == expected);
  // CRLF line ends read the same.
  std::string crlf;
  for (const char c : stream) {
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  }
  CHECK(show(read_stream(crlf)) == expected);
}

TEST_CASE("openai_chat: stream reader variants of compatible servers") {
  using K = ir::Event::Kind;
  SUBCASE("DeepSeek reasoning before text, usage in the finish chunk, no [DONE]") {
    const auto events = read_stream(
        "data: "
        "{\"id\":\"d\",\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{"
        "\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"Hm\"}}]}\n\n"
        "data: "
        "{\"id\":\"d\",\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"reasoning_content\":"
        "\"m.\"}}]}\n\n"
        "data: {\"id\":\"d\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Yes\"}}]}\n\n"
        "data: "
        "{\"id\":\"d\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":"
        "\"length\"}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"prompt_cache_hit_tokens\":3,"
        "\"completion_tokens_details\":{\"reasoning_tokens\":4}}}\n\n");
    REQUIRE(events.size() == 5);
    CHECK(events[0].kind == K::start);
    CHECK(events[0].model == "deepseek-reasoner");
    CHECK(show(events[1]) == show(event(K::reasoning_delta, 0, "Hm")));
    CHECK(show(events[2]) == show(event(K::reasoning_delta, 0, "m.")));
    CHECK(show(events[3]) == show(event(K::text_delta, 1, "Yes")));
    CHECK(events[4].kind == K::finish);
    CHECK(events[4].finish == ir::Finish::length);
    CHECK(events[4].usage.input == 5);
    CHECK(events[4].usage.output == 7);
    CHECK(events[4].usage.cached == 3);
    CHECK(events[4].usage.reasoning == 4);
  }
  SUBCASE("Ollama: whole arguments at once, no index, id on every delta, reasoning field") {
    const auto events = read_stream(
        "data: "
        "{\"id\":\"o\",\"model\":\"qwen3\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
        "\"assistant\",\"reasoning\":\"r\"}}]}\n\n"
        "data: "
        "{\"id\":\"o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"call_1\","
        "\"function\":{\"name\":\"a\",\"arguments\":\"{\\\"x\\\":1}\"}}]}}]}\n\n"
        "data: "
        "{\"id\":\"o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"call_1\","
        "\"function\":{\"arguments\":\"\"}}]}}]}\n\n"
        "data: "
        "{\"id\":\"o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"call_2\","
        "\"function\":{\"name\":\"b\",\"arguments\":{\"y\":2}}}]}}]}\n\n"
        "data: "
        "{\"id\":\"o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}"
        "\n\n"
        "data: [DONE]\n\n");
    REQUIRE(events.size() == 7);
    CHECK(show(events[1]) == show(event(K::reasoning_delta, 0, "r")));
    CHECK(events[2].kind == K::tool_call_start);
    CHECK(events[2].index == 1);
    CHECK(events[2].id == "call_1");
    CHECK(events[2].name == "a");
    CHECK(show(events[3]) == show(event(K::tool_args_delta, 1, "{\"x\":1}")));
    CHECK(events[4].kind == K::tool_call_start);
    CHECK(events[4].index == 2);
    CHECK(events[4].id == "call_2");
    CHECK(show(events[5]) == show(event(K::tool_args_delta, 2, "{\"y\":2}")));
    CHECK(events[6].finish == ir::Finish::tool_calls);
  }
  SUBCASE("vLLM: the id repeated with the index, and text after a tool call is a new part") {
    const auto events = read_stream(
        "data: {\"id\":\"v\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
        "data: "
        "{\"id\":\"v\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
        "\"t\",\"function\":{\"name\":\"f\"}}]}}]}\n\n"
        "data: "
        "{\"id\":\"v\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
        "\"t\",\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n"
        "data: {\"id\":\"v\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\n"
        "data: {\"id\":\"v\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"second "
        "choice\"}}]}\n\n"
        "data: "
        "{\"id\":\"v\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n");
    REQUIRE(events.size() == 6);
    CHECK(show(events[1]) == show(event(K::text_delta, 0, "a")));
    CHECK(events[2].kind == K::tool_call_start);
    CHECK(events[2].index == 1);
    CHECK(show(events[3]) == show(event(K::tool_args_delta, 1, "{}")));
    CHECK(show(events[4]) == show(event(K::text_delta, 2, "b")));
    CHECK(events[5].kind == K::finish);
  }
  SUBCASE("an error mid-stream") {
    const auto events = read_stream(
        "data: {\"id\":\"e\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
        "data: {\"error\":{\"message\":\"Rate limit "
        "reached\",\"type\":\"rate_limit_error\",\"code\":null}}\n\n"
        "data: {\"id\":\"e\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ignored\"}}]}\n\n");
    REQUIRE(events.size() == 3);
    CHECK(events[2].kind == K::error);
    CHECK(events[2].text == "Rate limit reached");
    CHECK(events[2].status == 429);
  }
  SUBCASE("an error with a numeric code, before anything else") {
    const auto events = read_stream(
        "data: {\"error\":{\"message\":\"overloaded\",\"code\":503}}\n\ndata: [DONE]\n\n");
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == K::error);
    CHECK(events[0].status == 503);
  }
  SUBCASE("vLLM's error body") {
    const auto events = read_stream("data: {\"object\":\"error\",\"message\":\"too "
                                    "long\",\"type\":\"BadRequestError\",\"code\":400}\n\n");
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == K::error);
    CHECK(events[0].text == "too long");
    CHECK(events[0].status == 400);
  }
  SUBCASE("a stream cut before any finish reason ends in error") {
    const auto events =
        read_stream(": keep-alive\n\ndata: "
                    "{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n"
                    "data: not json\n\n");
    REQUIRE(events.size() == 3);
    CHECK(events[2].kind == K::finish);
    CHECK(events[2].finish == ir::Finish::error);
  }
  SUBCASE("invalid UTF-8 from the provider becomes U+FFFD") {
    const auto events = read_stream(
        "data: {\"id\":\"u\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\xff\xc3(\xe2\x82 "
        "\xf0\x9f\x98\x80\"}}]}\n\n"
        "data: [DONE]\n\n");
    REQUIRE(events.size() == 3);
    CHECK(events[1].text == "a\xEF\xBF\xBD\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD \xf0\x9f\x98\x80");
  }
  SUBCASE("an empty stream gives no events") {
    CHECK(read_stream("").empty());
    CHECK(read_stream("data: [DONE]\n\n").empty());
  }
}

TEST_CASE("openai_chat: stream writer output reads back as the same events") {
  // The recorded stream through our reader, out of our writer and back through our reader.
  const std::vector<ir::Event> events = read_stream(k_recorded_stream);
  const std::string written = write_stream(events);
  const std::vector<json> chunks = chunks_of(written);
  REQUIRE(chunks.size() == 10);
  for (const json& chunk : chunks) {
    CHECK(chunk["id"] == "chatcmpl-B1");
    CHECK(chunk["object"] == "chat.completion.chunk");
    CHECK(chunk["model"] == "gpt-4o-2024-08-06");
    CHECK(chunk["created"].is_number_integer());
  }
  CHECK(chunks[0]["choices"][0]["delta"] == json::parse(R"({"role":"assistant","content":""})"));
  CHECK(chunks[0]["choices"][0]["finish_reason"].is_null());
  CHECK(chunks[1]["choices"][0]["delta"] == json{{"content", "Let me "}});
  CHECK(chunks[3]["choices"][0]["delta"] == json::parse(R"({"tool_calls":[{"index":0,"id":"call_a",
      "type":"function","function":{"name":"get_weather","arguments":""}}]})"));
  CHECK(chunks[4]["choices"][0]["delta"] ==
        json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]})"));
  CHECK(chunks[6]["choices"][0]["delta"]["tool_calls"][0]["index"] == 1);
  CHECK(chunks[8]["choices"][0]["delta"] == json::object());
  CHECK(chunks[8]["choices"][0]["finish_reason"] == "tool_calls");
  CHECK(chunks[9]["choices"] == json::array());
  CHECK(chunks[9]["usage"] == json::parse(R"({"prompt_tokens":50,"completion_tokens":30,
      "total_tokens":80,"prompt_tokens_details":{"cached_tokens":10},
      "completion_tokens_details":{"reasoning_tokens":0}})"));
  CHECK(show(read_stream(written)) == recorded_events());
}

TEST_CASE("openai_chat: stream writer completes any sequence of events") {
  using K = ir::Event::Kind;
  SUBCASE("no events at all") {
    const std::vector<json> chunks = chunks_of(write_stream({}));
    REQUIRE(chunks.size() == 3);
    CHECK(chunks[0]["choices"][0]["delta"]["role"] == "assistant");
    CHECK(chunks[0]["model"] == "m");
    CHECK(chunks[0]["id"].get<std::string>().starts_with("chatcmpl-"));
    CHECK(chunks[1]["choices"][0]["finish_reason"] == "stop");
    CHECK(chunks[2]["usage"]["total_tokens"] == 0);
  }
  SUBCASE("a text delta without a start, no finish event") {
    const std::vector<json> chunks = chunks_of(write_stream({event(K::text_delta, 0, "hi")}));
    REQUIRE(chunks.size() == 4);
    CHECK(chunks[0]["choices"][0]["delta"]["role"] == "assistant");
    CHECK(chunks[1]["choices"][0]["delta"]["content"] == "hi");
    CHECK(chunks[2]["choices"][0]["finish_reason"] == "stop");
  }
  SUBCASE("reasoning, a signature, arguments without a call start, a Gemini signature") {
    ir::Event start = event(K::start);
    start.usage.input = 42;
    start.usage.cached = 2;
    ir::Event signature = event(K::reasoning_signature, 0, "sig");
    ir::Event call = event(K::tool_call_start, 2);
    call.id = "g1";
    call.name = "f";
    call.signature = "a/b";
    ir::Event finish = event(K::finish);
    finish.finish = ir::Finish::length;
    finish.usage.output = 8;
    const std::vector<json> chunks = chunks_of(write_stream(
        {start, event(K::reasoning_delta, 0, "think"), signature,
         event(K::tool_args_delta, 1, "{}"), call, event(K::tool_args_delta, 2, "{\"a\":1}"),
         finish, event(K::text_delta, 3, "after the end is dropped")}));
    REQUIRE(chunks.size() == 8);
    CHECK(chunks[1]["choices"][0]["delta"] == json{{"reasoning_content", "think"}});
    const json& made_up = chunks[2]["choices"][0]["delta"]["tool_calls"][0];
    CHECK(made_up["index"] == 0);
    CHECK(made_up["id"].get<std::string>().starts_with("call_"));
    CHECK(chunks[3]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] == "{}");
    const json& joined = chunks[4]["choices"][0]["delta"]["tool_calls"][0];
    CHECK(joined["index"] == 1);
    CHECK(joined["id"] == "g1__sig__a_b");
    CHECK(chunks[5]["choices"][0]["delta"]["tool_calls"][0]["index"] == 1);
    CHECK(chunks[6]["choices"][0]["finish_reason"] == "length");
    CHECK(chunks[7]["usage"]["prompt_tokens"] == 42);
    CHECK(chunks[7]["usage"]["prompt_tokens_details"]["cached_tokens"] == 2);
    CHECK(chunks[7]["usage"]["completion_tokens"] == 8);
  }
  SUBCASE("a part index started twice is two calls") {
    ir::Event call = event(K::tool_call_start, 1);
    call.id = "a";
    const std::vector<json> chunks = chunks_of(write_stream({call, call}));
    REQUIRE(chunks.size() == 5);
    CHECK(chunks[1]["choices"][0]["delta"]["tool_calls"][0]["index"] == 0);
    CHECK(chunks[2]["choices"][0]["delta"]["tool_calls"][0]["index"] == 1);
  }
  SUBCASE("an error event is the last thing written") {
    ir::Event error = event(K::error, 0, "upstream overloaded");
    error.status = 529;
    const std::string written =
        write_stream({event(K::text_delta, 0, "partial"), error, event(K::text_delta, 0, "more")});
    const std::vector<json> chunks = chunks_of(written);
    REQUIRE(chunks.size() == 3);
    CHECK(chunks[2]["error"]["message"] == "upstream overloaded");
    CHECK(chunks[2]["error"]["type"].is_string());
    CHECK(written.find("[DONE]") == std::string::npos);
    const auto back = read_stream(written);
    REQUIRE(back.size() == 3);
    CHECK(back[2].kind == K::error);
    CHECK(back[2].text == "upstream overloaded");
  }
  SUBCASE("invalid UTF-8 and unicode in deltas") {
    const std::vector<json> chunks = chunks_of(
        write_stream({event(K::text_delta, 0, "\xff ok 🌍"), event(K::text_delta, 0, "")}));
    REQUIRE(chunks.size() == 4); // the empty delta writes nothing
    CHECK(chunks[1]["choices"][0]["delta"]["content"] == "\xEF\xBF\xBD ok 🌍");
  }
}

TEST_CASE("openai_chat: read_error_message") {
  struct Row {
    const char* body;
    const char* message;
  };
  const Row table[] = {
      {R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}})",
       "Incorrect API key provided"},
      {R"({"error":"model not found"})", "model not found"},
      {R"({"message":"bad things"})", "bad things"},
      {R"({"error":{"code":500}})", ""},
      {R"({"detail":"x"})", ""},
      {R"([1,2])", ""},
      {R"("text")", ""},
  };
  for (const Row& row : table) {
    CAPTURE(row.body);
    CHECK(chat().read_error_message(json::parse(row.body)) == row.message);
  }
}

TEST_CASE(
    "openai_chat: the usage chunk only for a client that asked (stream_options.include_usage)") {
  using K = ir::Event::Kind;
  ir::Event finish;
  finish.kind = K::finish;
  finish.usage.output = 3;
  ir::Event text;
  text.kind = K::text_delta;
  text.text = "hi";
  const std::string without = write_stream({text, finish}, "m", false);
  CHECK(without.find("\"usage\"") == std::string::npos);
  CHECK(without.find("\"choices\":[]") == std::string::npos);
  CHECK(without.ends_with("data: [DONE]\n\n"));
  CHECK(write_stream({text, finish}, "m", true).find("\"usage\"") != std::string::npos);
  // The reader takes the client's wish from the request.
  const ir::Conversation asked = chat().read_request(
      json::parse(R"({"model":"m","stream":true,"stream_options":{"include_usage":true},
                      "messages":[{"role":"user","content":"x"}]})"),
      {});
  CHECK(asked.stream_usage);
  const ir::Conversation plain = chat().read_request(
      json::parse(R"({"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]})"), {});
  CHECK_FALSE(plain.stream_usage);
}
