#include "server/protocols/family.hpp"
#include "server/protocols/sse.hpp"

#include <doctest/doctest.h>
#include <set>
#include <sstream>

using namespace agproxy;
using ir::json;

namespace {

const Family& gemini() {
  return gemini_family();
}

RequestSite site(bool stream = false, bool sse = true) {
  return {"gemini-2.5-pro", stream, sse};
}

// Return `events` as one line each, with the tool call ids the reader made up (random) replaced
// by their order of appearance, so that two decodings of one stream compare equal.
std::string describe(const std::vector<ir::Event>& events) {
  std::ostringstream out;
  int calls = 0;
  for (const ir::Event& e : events) {
    std::string id = e.id;
    if (e.kind == ir::Event::Kind::tool_call_start) {
      CHECK(id.starts_with("call_"));
      id = "made" + std::to_string(calls++);
    }
    out << static_cast<int>(e.kind) << '|' << e.index << '|' << e.text << '|' << id << '|'
        << e.model << '|' << e.name << '|' << e.signature << '|' << static_cast<int>(e.finish)
        << '|' << e.usage.input << ',' << e.usage.output << ',' << e.usage.cached << ','
        << e.usage.reasoning << '|' << e.status << '\n';
  }
  return out.str();
}

std::vector<ir::Event> decode(const std::vector<std::string>& pieces) {
  auto reader = gemini().stream_reader();
  std::vector<ir::Event> events;
  for (const std::string& piece : pieces) {
    reader->feed(piece, events);
  }
  reader->finish(events);
  return events;
}

std::vector<ir::Event> decode(const std::string& stream) {
  return decode(std::vector<std::string>{stream});
}

// Return the JSON of every SSE event in `stream`, checking the SSE framing on the way.
std::vector<json> sse_chunks(const std::string& stream) {
  REQUIRE(stream.ends_with("\r\n\r\n"));
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(stream, events);
  std::vector<SseEvent> rest;
  parser.finish(rest);
  CHECK(rest.empty());
  std::vector<json> chunks;
  for (const SseEvent& event : events) {
    CHECK(event.name.empty());
    const json chunk = json::parse(event.data, nullptr, false);
    REQUIRE_FALSE(chunk.is_discarded());
    chunks.push_back(chunk);
  }
  return chunks;
}

std::string write_stream(const std::vector<ir::Event>& events, bool sse = true) {
  ir::Conversation request;
  request.model = "gemini-2.5-pro";
  auto writer = gemini().stream_writer(request, site(true, sse));
  std::string out;
  for (const ir::Event& event : events) {
    writer->write(event, out);
  }
  writer->finish(out);
  return out;
}

ir::Event event(ir::Event::Kind kind, size_t index = 0, std::string text = "") {
  ir::Event e;
  e.kind = kind;
  e.index = index;
  e.text = std::move(text);
  return e;
}

ir::Part text_part(std::string text) {
  ir::Part part;
  part.text = std::move(text);
  return part;
}

ir::Part call(std::string id, std::string name, std::string arguments, std::string signature) {
  ir::Part part;
  part.kind = ir::Part::Kind::tool_call;
  part.call = {std::move(id), std::move(name), std::move(arguments), std::move(signature)};
  return part;
}

ir::Part result(std::string id, std::string name, std::string content, bool is_error = false) {
  ir::Part part;
  part.kind = ir::Part::Kind::tool_result;
  part.result = {std::move(id), std::move(name), std::move(content), is_error, {}};
  return part;
}

ir::Part reasoning(std::string text, std::string signature) {
  ir::Part part;
  part.kind = ir::Part::Kind::reasoning;
  part.reasoning.text = std::move(text);
  part.reasoning.signature = std::move(signature);
  return part;
}

// Check that `schema` uses only what Gemini's function declarations accept.
void check_gemini_schema(const json& schema, const std::string& where) {
  static const std::set<std::string> keys = {
      "type",    "format",     "description",      "nullable", "enum",
      "items",   "properties", "required",         "minItems", "maxItems",
      "minimum", "maximum",    "propertyOrdering", "anyOf"};
  static const std::set<std::string> types = {"string",  "number", "integer",
                                              "boolean", "array",  "object"};
  INFO(where << ": " << schema.dump());
  REQUIRE(schema.is_object());
  for (const auto& [key, value] : schema.items()) {
    CHECK(keys.contains(key));
  }
  if (schema.contains("type")) {
    CHECK(types.contains(schema["type"].get<std::string>()));
  }
  if (schema.contains("enum")) {
    CHECK(schema["type"] == "string");
    for (const json& value : schema["enum"]) {
      CHECK(value.is_string());
      CHECK_FALSE(value.get<std::string>().empty());
    }
  }
  if (schema.contains("properties")) {
    CHECK(schema["type"] == "object");
    CHECK_FALSE(schema["properties"].empty());
    for (const auto& [name, property] : schema["properties"].items()) {
      check_gemini_schema(property, where + "." + name);
    }
  }
  for (const json& name : schema.value("required", json::array())) {
    CHECK(schema["properties"].contains(name.get<std::string>()));
  }
  if (schema.contains("items")) {
    check_gemini_schema(schema["items"], where + "[]");
  }
  for (const json& choice : schema.value("anyOf", json::array())) {
    check_gemini_schema(choice, where + "|");
  }
}

json request_body(const ir::Conversation& conversation) {
  return json::parse(gemini().write_request(conversation).body);
}

// A turn of Gemini CLI with thinking, two calls of the same tool, their results and an image.
const char* const k_cli_request = R"({
  "contents": [
    {"role": "user", "parts": [{"text": "List /tmp and /var, then describe the picture."},
                               {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                               {"fileData": {"mimeType": "image/jpeg",
                                             "fileUri": "https://example.com/cat.jpg"}}]},
    {"role": "model", "parts": [
      {"text": "**Listing**", "thought": true, "thoughtSignature": "c2lnLXRob3VnaHQ="},
      {"text": "Let me look."},
      {"functionCall": {"name": "list_directory", "args": {"path": "/tmp"}},
       "thoughtSignature": "c2lnLWNhbGw="},
      {"functionCall": {"name": "list_directory", "args": {"path": "/var"}}}]},
    {"role": "user", "parts": [
      {"functionResponse": {"name": "list_directory", "response": {"output": "a.txt\nb.txt"}}},
      {"functionResponse": {"name": "list_directory",
                            "response": {"error": "permission denied"}}}]},
    {"role": "model", "parts": [{"text": "Done.", "thoughtSignature": "dGV4dC1zaWc="}]},
    {"role": "user", "parts": [{"text": "Thanks — ünïcödé ✓"}]}
  ],
  "systemInstruction": {"role": "user", "parts": [{"text": "You are a CLI."},
                                                   {"text": "Be brief."}]},
  "tools": [
    {"functionDeclarations": [
      {"name": "list_directory", "description": "Lists a directory.",
       "parametersJsonSchema": {"type": "object", "properties": {"path": {"type": "string"}},
                                "required": ["path"]}},
      {"name": "get_weather", "description": "Weather.",
       "parameters": {"type": "OBJECT", "properties": {
          "city": {"type": "STRING", "nullable": true},
          "unit": {"type": "STRING", "format": "enum", "enum": ["C", "F"]}},
          "propertyOrdering": ["city", "unit"]}}]},
    {"googleSearch": {}}
  ],
  "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                           "allowedFunctionNames": ["list_directory"]}},
  "generationConfig": {"maxOutputTokens": 2048, "temperature": 0.2, "topP": 0.95, "topK": 40,
                       "stopSequences": ["END"], "candidateCount": 1,
                       "responseModalities": ["TEXT"],
                       "thinkingConfig": {"thinkingBudget": 4096, "includeThoughts": true}},
  "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
  "labels": {"team": "x"}
})";

} // namespace

TEST_CASE("gemini: read_request reads a Gemini CLI turn into the representation") {
  const ir::Conversation c = gemini().read_request(json::parse(k_cli_request), site(true));
  CHECK(c.model == "gemini-2.5-pro");
  CHECK(c.stream);
  CHECK(c.system == "You are a CLI.\n\nBe brief.");
  REQUIRE(c.messages.size() == 5);

  const auto& user = c.messages[0];
  CHECK(user.role == ir::Role::user);
  REQUIRE(user.parts.size() == 3);
  CHECK(user.parts[0].text == "List /tmp and /var, then describe the picture.");
  CHECK(user.parts[1].kind == ir::Part::Kind::image);
  CHECK(user.parts[1].image.media_type == "image/png");
  CHECK(user.parts[1].image.data == "iVBORw0KGgo=");
  CHECK(user.parts[2].image.url == "https://example.com/cat.jpg");
  CHECK(user.parts[2].image.media_type == "image/jpeg");

  const auto& model = c.messages[1];
  CHECK(model.role == ir::Role::assistant);
  REQUIRE(model.parts.size() == 4);
  CHECK(model.parts[0].kind == ir::Part::Kind::reasoning);
  CHECK(model.parts[0].reasoning.text == "**Listing**");
  CHECK(model.parts[0].reasoning.signature == "c2lnLXRob3VnaHQ=");
  CHECK(model.parts[1].text == "Let me look.");
  CHECK(model.parts[2].call.id == "call_0");
  CHECK(model.parts[2].call.name == "list_directory");
  CHECK(json::parse(model.parts[2].call.arguments) == json{{"path", "/tmp"}});
  CHECK(model.parts[2].call.signature == "c2lnLWNhbGw=");
  CHECK(model.parts[3].call.id == "call_1");
  CHECK(model.parts[3].call.signature.empty());

  const auto& results = c.messages[2];
  REQUIRE(results.parts.size() == 2);
  CHECK(results.parts[0].result.id == "call_0");
  CHECK(results.parts[0].result.name == "list_directory");
  CHECK(results.parts[0].result.content == "a.txt\nb.txt");
  CHECK_FALSE(results.parts[0].result.is_error);
  CHECK(results.parts[1].result.id == "call_1");
  CHECK(results.parts[1].result.content == "permission denied");
  CHECK(results.parts[1].result.is_error);

  REQUIRE(c.messages[3].parts.size() == 1);
  CHECK(c.messages[3].parts[0].kind == ir::Part::Kind::text);
  CHECK(c.messages[4].parts[0].text == "Thanks — ünïcödé ✓");

  REQUIRE(c.tools.size() == 2);
  CHECK(c.tools[0].name == "list_directory");
  CHECK(c.tools[0].parameters == json::parse(R"({"type": "object",
      "properties": {"path": {"type": "string"}}, "required": ["path"]})"));
  CHECK(c.tools[1].description == "Weather.");
  CHECK(c.tools[1].parameters == json::parse(R"({"type": "object", "properties": {
      "city": {"type": ["string", "null"]}, "unit": {"type": "string", "enum": ["C", "F"]}}})"));
  CHECK(c.tool_choice.mode == ir::ToolChoice::Mode::tool);
  CHECK(c.tool_choice.name == "list_directory");
  CHECK(c.max_tokens == 2048);
  CHECK(c.temperature == doctest::Approx(0.2));
  CHECK(c.top_p == doctest::Approx(0.95));
  CHECK(c.top_k == 40);
  CHECK(c.stop == std::vector<std::string>{"END"});
  CHECK(c.reasoning_budget == 4096);
  CHECK(c.reasoning_effort.empty());
  CHECK(c.format.kind == ir::OutputFormat::Kind::text);
}

TEST_CASE("gemini: read_request matches results to calls by id, else the earliest by name") {
  const json body = json::parse(R"({"contents": [
    {"role": "model", "parts": [
      {"functionCall": {"name": "read", "args": {}}},
      {"functionCall": {"name": "grep", "args": {}, "id": "given-id"}},
      {"functionCall": {"name": "read", "args": {}}}]},
    {"role": "user", "parts": [
      {"functionResponse": {"name": "grep", "id": "given-id", "response": {"result": [1, 2]}}},
      {"functionResponse": {"name": "read", "response": {"content": "second?"}}},
      {"functionResponse": {"name": "read", "response": {"a": 1, "b": 2}}},
      {"functionResponse": {"name": "orphan", "response": "plain"}}]}]})");
  const ir::Conversation c = gemini().read_request(body, site());
  const auto& calls = c.messages[0].parts;
  CHECK(calls[0].call.id == "call_0");
  CHECK(calls[1].call.id == "given-id");
  CHECK(calls[2].call.id == "call_1");
  const auto& results = c.messages[1].parts;
  CHECK(results[0].result.id == "given-id");
  CHECK(results[0].result.content == "[1,2]");
  CHECK(results[1].result.id == "call_0");
  CHECK(results[1].result.content == "second?");
  CHECK(results[2].result.id == "call_1");
  CHECK(json::parse(results[2].result.content) == json{{"a", 1}, {"b", 2}});
  CHECK(results[3].result.id == "call_2");
  CHECK(results[3].result.content == "plain");
  // Deterministic: the same request translates to the same ids.
  const ir::Conversation again = gemini().read_request(body, site());
  CHECK(again.messages[1].parts[3].result.id == "call_2");
}

TEST_CASE("gemini: read_request recovers a signature folded into a call id") {
  const std::string joined = ir::join_call_id("call_x", "ab+/=");
  const json body = {
      {"contents",
       {{{"role", "model"}, {"parts", {{{"functionCall", {{"name", "f"}, {"id", joined}}}}}}},
        {{"role", "user"},
         {"parts",
          {{{"functionResponse",
             {{"name", "f"}, {"id", joined}, {"response", {{"output", "ok"}}}}}}}}}}}};
  const ir::Conversation c = gemini().read_request(body, site());
  CHECK(c.messages[0].parts[0].call.id == "call_x");
  CHECK(c.messages[0].parts[0].call.signature == "ab+/=");
  CHECK(c.messages[0].parts[0].call.arguments == "{}");
  CHECK(c.messages[1].parts[0].result.id == "call_x");
}

TEST_CASE("gemini: read_request reads output formats, thinking levels and tool modes") {
  struct Row {
    const char* body;
    ir::OutputFormat::Kind format;
    const char* effort;
    std::optional<long long> budget;
    ir::ToolChoice::Mode mode;
  };
  const Row rows[] = {
      {R"({"contents": [], "generationConfig": {"responseMimeType": "application/json"}})",
       ir::OutputFormat::Kind::json_object, "", std::nullopt, ir::ToolChoice::Mode::unset},
      {R"({"contents": [], "generationConfig": {"responseMimeType": "application/json",
          "responseSchema": {"type": "OBJECT"}}})",
       ir::OutputFormat::Kind::json_schema, "", std::nullopt, ir::ToolChoice::Mode::unset},
      {R"({"contents": [], "generationConfig": {"thinkingConfig": {"thinkingBudget": -1}},
          "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}})",
       ir::OutputFormat::Kind::text, "medium", std::nullopt, ir::ToolChoice::Mode::automatic},
      {R"({"contents": [], "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}},
          "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}})",
       ir::OutputFormat::Kind::text, "", 0, ir::ToolChoice::Mode::none},
      {R"({"contents": [], "generationConfig": {"thinkingConfig": {"thinkingLevel": "low"}},
          "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}})",
       ir::OutputFormat::Kind::text, "low", std::nullopt, ir::ToolChoice::Mode::required},
      {R"({"contents": [], "generationConfig": {"thinkingConfig": {"thinkingLevel": "high"}},
          "toolConfig": {"functionCallingConfig": {"mode": "VALIDATED"}}})",
       ir::OutputFormat::Kind::text, "high", std::nullopt, ir::ToolChoice::Mode::automatic},
  };
  for (const Row& row : rows) {
    INFO(row.body);
    const ir::Conversation c = gemini().read_request(json::parse(row.body), site());
    CHECK(c.format.kind == row.format);
    CHECK(c.reasoning_effort == row.effort);
    CHECK(c.reasoning_budget == row.budget);
    CHECK(c.tool_choice.mode == row.mode);
    if (row.format == ir::OutputFormat::Kind::json_schema) {
      CHECK(c.format.schema == json{{"type", "object"}});
      CHECK(c.format.name == "response");
    }
  }
}

TEST_CASE("gemini: ANY with several allowed functions offers only those tools") {
  const json body = json::parse(R"({"contents": [], "tools": [{"functionDeclarations": [
      {"name": "a"}, {"name": "b"}, {"name": "c"}]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a", "c"]}}})");
  const ir::Conversation c = gemini().read_request(body, site());
  CHECK(c.tool_choice.mode == ir::ToolChoice::Mode::required);
  REQUIRE(c.tools.size() == 2);
  CHECK(c.tools[0].name == "a");
  CHECK(c.tools[1].name == "c");
  CHECK(c.tools[0].parameters == json::parse(R"({"type": "object", "properties": {}})"));
}

TEST_CASE("gemini: read_request refuses what would change the meaning if dropped") {
  struct Row {
    const char* body;
    const char* field;
  };
  const Row rows[] = {
      {R"({"contents": [{"role": "model", "parts": [{"text": "x"},
          {"executableCode": {"language": "PYTHON", "code": "1"}}]}]})",
       "contents[0].parts[1]"},
      {R"({"contents": [{"parts": []}, {"role": "user", "parts": [
          {"codeExecutionResult": {"outcome": "OUTCOME_OK"}}]}]})",
       "contents[1].parts[0]"},
      {R"({"contents": [{"parts": [{"videoMetadata": {}, "fileData": {"fileUri": "u"}}]}]})",
       "contents[0].parts[0]"},
      {R"({"contents": [{"parts": [{"inlineData": {"mimeType": "application/pdf",
          "data": "JVBE"}}]}]})",
       "contents[0].parts[0]"},
      {R"({"contents": [{"parts": [{"someFutureThing": {}}]}]})", "contents[0].parts[0]"},
      {R"({"contents": [], "generationConfig": {"candidateCount": 2}})",
       "generationConfig.candidateCount"},
      {R"({"contents": [], "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}})",
       "generationConfig.responseModalities"},
      {R"({"contents": [], "generationConfig": {"responseMimeType": "text/x.enum"}})",
       "generationConfig.responseMimeType"},
      {R"({"contents": [], "cachedContent": "cachedContents/abc"})", "cachedContent"},
  };
  for (const Row& row : rows) {
    INFO(row.body);
    try {
      (void)gemini().read_request(json::parse(row.body), site());
      FAIL("no Untranslatable");
    } catch (const ir::Untranslatable& e) {
      CHECK(e.field() == row.field);
      CHECK(std::string(e.what()).find(row.field) != std::string::npos);
      CHECK(std::string(e.what()).find("cannot be translated to another API family") !=
            std::string::npos);
    }
  }
}

TEST_CASE("gemini: read_request rejects bodies that are not requests") {
  for (const char* body : {R"([])", R"({})", R"({"contents": {}})", R"({"contents": [1]})",
                           R"({"contents": [{"role": "system", "parts": []}]})",
                           R"({"contents": [{"parts": ["text"]}]})"}) {
    INFO(body);
    CHECK_THROWS_AS((void)gemini().read_request(json::parse(body), site()), std::invalid_argument);
  }
  // Empty contents and empty text parts are requests, with nothing to carry.
  const ir::Conversation c = gemini().read_request(
      json::parse(R"({"contents": [{"role": "user", "parts": [{"text": ""}]}]})"), site());
  CHECK(c.messages.empty());
}

TEST_CASE("gemini: write_request writes the Gemini request") {
  ir::Conversation c;
  c.model = "gemini-2.5-flash";
  c.system = "Be brief.";
  ir::Part inline_image;
  inline_image.kind = ir::Part::Kind::image;
  inline_image.image = {"image/png", "iVBOR", ""};
  ir::Part url_image;
  url_image.kind = ir::Part::Kind::image;
  url_image.image = {"", "", "https://example.com/a.webp"};
  ir::Part data_url;
  data_url.kind = ir::Part::Kind::image;
  data_url.image = {"", "", "data:image/gif;base64,R0lG"};
  c.messages = {
      {ir::Role::user, {text_part("Hi"), inline_image, url_image, data_url}},
      {ir::Role::assistant,
       {reasoning("thinking", "c2ln"), text_part("Calling."),
        call("toolu_1", "get_weather", R"({"city":"Paris"})", ""),
        call("toolu_2", "get_time", "not json", "Z2VtaW5p")}},
      {ir::Role::user,
       {result("toolu_1", "", R"({"temp": 21})"), result("toolu_2", "get_time", "boom", true),
        text_part("and?")}},
      {ir::Role::user, {text_part("more")}},
      {ir::Role::assistant, {reasoning("unsigned musing", ""), text_part("")}},
      {ir::Role::assistant, {text_part("Sunny.")}},
  };
  c.tools = {{"get_weather", "Weather now.",
              json::parse(R"({"$schema": "http://json-schema.org/draft-07/schema#",
                  "type": "object", "additionalProperties": false,
                  "properties": {"city": {"type": "string", "minLength": 1}},
                  "required": ["city", "country"]})")},
             {"get_time", "", json::parse(R"({"type": "object", "properties": {}})")}};
  c.tool_choice = {ir::ToolChoice::Mode::tool, "get_weather"};
  c.max_tokens = 1000;
  c.temperature = 0.5;
  c.top_p = 0.9;
  c.top_k = 40;
  c.stop = {"END"};
  c.format.kind = ir::OutputFormat::Kind::json_object;
  c.reasoning_effort = "high";
  c.parallel_tool_calls = false;

  const WireRequest wire = gemini().write_request(c);
  CHECK(wire.path == "/v1beta/models/gemini-2.5-flash:generateContent");
  CHECK(json::parse(wire.body) == json::parse(R"({
    "contents": [
      {"role": "user", "parts": [{"text": "Hi"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/a.webp"}},
        {"inlineData": {"mimeType": "image/gif", "data": "R0lG"}}]},
      {"role": "model", "parts": [
        {"text": "thinking", "thought": true, "thoughtSignature": "c2ln"},
        {"text": "Calling."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
         "thoughtSignature": "skip_thought_signature_validator"},
        {"functionCall": {"name": "get_time", "args": {}}, "thoughtSignature": "Z2VtaW5p"}]},
      {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
        {"functionResponse": {"name": "get_time", "response": {"error": "boom"}}},
        {"text": "and?"}, {"text": "more"}]},
      {"role": "model", "parts": [{"text": "Sunny."}]}
    ],
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "tools": [{"functionDeclarations": [
      {"name": "get_weather", "description": "Weather now.",
       "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                      "required": ["city"]}},
      {"name": "get_time"}]}],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY",
                                             "allowedFunctionNames": ["get_weather"]}},
    "generationConfig": {"maxOutputTokens": 1000, "temperature": 0.5, "topP": 0.9, "topK": 40,
      "stopSequences": ["END"], "responseMimeType": "application/json",
      "thinkingConfig": {"thinkingBudget": 24576, "includeThoughts": true}}
  })"));

  ir::Conversation streamed;
  streamed.model = "gemini-2.5-pro";
  streamed.stream = true;
  const WireRequest minimal = gemini().write_request(streamed);
  CHECK(minimal.path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
  CHECK(json::parse(minimal.body) == json{{"contents", json::array()}});
}

TEST_CASE("gemini: the images of tool results follow every functionResponse and read back") {
  ir::Conversation c;
  c.model = "gemini-2.5-flash";
  ir::Part first = result("call_1", "shot", "one");
  first.result.images = {{"image/png", "AAAA", ""}, {"image/jpeg", "BBBB", ""}};
  ir::Part second = result("call_2", "shot", "");
  second.result.images = {{"image/png", "CCCC", ""}};
  c.messages = {{ir::Role::user, {text_part("look")}},
                {ir::Role::assistant,
                 {call("call_1", "shot", "{}", "c2ln"), call("call_2", "shot", "{}", "")}},
                {ir::Role::user, {first, second}}};
  const json body = request_body(c);
  const json& parts = body["contents"][2]["parts"];
  REQUIRE(parts.size() == 5);
  CHECK(parts[0].contains("functionResponse"));
  CHECK(parts[1].contains("functionResponse"));
  CHECK(parts[2]["inlineData"]["data"] == "AAAA");
  CHECK(parts[3]["inlineData"]["data"] == "BBBB");
  CHECK(parts[4]["inlineData"]["data"] == "CCCC");

  // Read back, the images trailing the functionResponses go to the last result: Gemini's form
  // does not say which call each came from, and none is lost.
  const ir::Conversation back = gemini().read_request(body, site(false));
  REQUIRE(back.messages.size() == 3);
  const auto& results = back.messages[2].parts;
  REQUIRE(results.size() == 2);
  CHECK(results[0].result.images.empty());
  REQUIRE(results[1].result.images.size() == 3);
  CHECK(results[1].result.images[0].data == "AAAA");
  CHECK(results[1].result.images[2].media_type == "image/png");
}

TEST_CASE("gemini: write_request maps tool choice, budgets and JSON schemas") {
  struct Row {
    ir::ToolChoice::Mode mode;
    const char* gemini_mode;
  };
  for (const Row row :
       {Row{ir::ToolChoice::Mode::automatic, "AUTO"}, Row{ir::ToolChoice::Mode::none, "NONE"},
        Row{ir::ToolChoice::Mode::required, "ANY"}}) {
    ir::Conversation c;
    c.tool_choice.mode = row.mode;
    CHECK(request_body(c)["toolConfig"] ==
          json{{"functionCallingConfig", {{"mode", row.gemini_mode}}}});
  }
  struct Budget {
    const char* effort;
    std::optional<long long> budget;
    long long written;
    bool thoughts;
  };
  for (const Budget row :
       {Budget{"low", std::nullopt, 1024, true}, Budget{"medium", std::nullopt, 8192, true},
        Budget{"none", std::nullopt, 0, false}, Budget{"high", 3000, 3000, true},
        Budget{"", 0, 0, false}}) {
    ir::Conversation c;
    c.reasoning_effort = row.effort;
    c.reasoning_budget = row.budget;
    CHECK(request_body(c)["generationConfig"]["thinkingConfig"] ==
          json{{"thinkingBudget", row.written}, {"includeThoughts", row.thoughts}});
  }
  ir::Conversation c;
  c.format = {ir::OutputFormat::Kind::json_schema, "person",
              json::parse(R"({"type": "object", "additionalProperties": false,
                 "properties": {"age": {"type": "integer", "exclusiveMinimum": 0}}})")};
  CHECK(request_body(c)["generationConfig"] == json::parse(R"({
      "responseMimeType": "application/json",
      "responseSchema": {"type": "object", "properties": {"age": {"type": "integer"}}}})"));
}

TEST_CASE("gemini: tool schemas are reduced to the subset Gemini accepts") {
  const json schema = json::parse(R"({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "x", "title": "Todo", "type": "object", "additionalProperties": false,
    "$defs": {
      "item": {"type": "object", "additionalProperties": false,
               "properties": {"content": {"type": "string", "minLength": 1},
                              "status": {"type": "string",
                                         "enum": ["pending", "in_progress", "completed"]},
                              "id": {"type": "string"}},
               "required": ["content", "status", "id"]},
      "node": {"type": "object", "properties": {"children": {"type": "array",
               "items": {"$ref": "#/$defs/node"}}}}
    },
    "properties": {
      "todos": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 1,
                "uniqueItems": true, "description": "The list."},
      "timeout": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 600000,
                  "default": 120000},
      "mode": {"const": "replace"},
      "level": {"type": "integer", "enum": [1, 2, 3], "format": "int32"},
      "when": {"type": "string", "format": "date-time", "pattern": "^\\d"},
      "url": {"type": "string", "format": "uri", "examples": ["https://x"]},
      "value": {"type": ["string", "integer"], "description": "Either."},
      "choice": {"oneOf": [{"type": "string"}, {"type": "null"}]},
      "either": {"anyOf": [{"type": "string"}, {"type": "object", "properties": {}}]},
      "merged": {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}},
                            "required": ["a"]},
                           {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]},
      "tree": {"$ref": "#/$defs/node"},
      "dangling": {"$ref": "#/$defs/missing", "description": "Gone."},
      "free": {"type": "object", "patternProperties": {".*": {"type": "string"}}},
      "tags": {"type": "array", "items": [{"type": "string"}]},
      "nothing": true
    },
    "required": ["todos", "ghost"]
  })");
  ir::Conversation c;
  c.tools = {{"TodoWrite", "Write todos.", schema}};
  const json parameters = request_body(c)["tools"][0]["functionDeclarations"][0]["parameters"];
  const json item = json::parse(R"({"type": "object",
      "properties": {"content": {"type": "string"},
                     "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                     "id": {"type": "string"}},
      "required": ["content", "status", "id"]})");
  CHECK(parameters["properties"]["todos"] ==
        json{{"type", "array"}, {"description", "The list."}, {"minItems", 1}, {"items", item}});
  CHECK(parameters["properties"]["timeout"] ==
        json::parse(R"({"type": "number", "nullable": true, "maximum": 600000})"));
  CHECK(parameters["properties"]["mode"] == json::parse(R"({"type": "string",
      "enum": ["replace"]})"));
  CHECK(parameters["properties"]["level"] ==
        json::parse(R"({"type": "integer", "format": "int32"})"));
  CHECK(parameters["properties"]["when"] ==
        json::parse(R"({"type": "string", "format": "date-time"})"));
  CHECK(parameters["properties"]["url"] == json{{"type", "string"}});
  CHECK(parameters["properties"]["value"] == json::parse(R"({"description": "Either.",
      "anyOf": [{"type": "string"}, {"type": "integer"}]})"));
  CHECK(parameters["properties"]["choice"] ==
        json::parse(R"({"type": "string", "nullable": true})"));
  CHECK(parameters["properties"]["either"] ==
        json::parse(R"({"anyOf": [{"type": "string"}, {"type": "object"}]})"));
  CHECK(parameters["properties"]["merged"] == json::parse(R"({"type": "object",
      "properties": {"a": {"type": "string"}, "b": {"type": "boolean"}},
      "required": ["a", "b"]})"));
  // A cyclic $ref is cut where it closes.
  CHECK(parameters["properties"]["tree"] == json::parse(R"({"type": "object", "properties":
      {"children": {"type": "array", "items": {"type": "object"}}}})"));
  CHECK(parameters["properties"]["dangling"] ==
        json::parse(R"({"type": "object", "description": "Gone."})"));
  CHECK(parameters["properties"]["free"] == json{{"type", "object"}});
  CHECK(parameters["properties"]["tags"] ==
        json::parse(R"({"type": "array", "items": {"type": "string"}})"));
  CHECK(parameters["properties"]["nothing"] == json::object());
  CHECK(parameters["required"] == json{"todos"});
  CHECK_FALSE(parameters.contains("title"));
  check_gemini_schema(parameters, "TodoWrite");
}

TEST_CASE("gemini: Claude Code's and Codex's tool schemas reduce to valid Gemini schemas") {
  // Shapes of the tools those clients send (zod-to-json-schema output and Codex's own).
  const char* const schemas[] = {
      R"({"type": "object", "properties": {"command": {"type": "string",
          "description": "The command"}, "timeout": {"type": "number"},
          "description": {"type": "string"}, "run_in_background": {"type": "boolean"}},
          "required": ["command"], "additionalProperties": false,
          "$schema": "http://json-schema.org/draft-07/schema#"})",
      R"({"type": "object", "properties": {"file_path": {"type": "string"},
          "edits": {"type": "array", "items": {"type": "object", "properties": {
            "old_string": {"type": "string"}, "new_string": {"type": "string"},
            "replace_all": {"type": "boolean", "default": false}},
            "required": ["old_string", "new_string"], "additionalProperties": false},
          "minItems": 1}}, "required": ["file_path", "edits"], "additionalProperties": false,
          "$schema": "http://json-schema.org/draft-07/schema#"})",
      R"({"type": "object", "properties": {"pattern": {"type": "string"},
          "output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
          "-A": {"type": "number"}, "head_limit": {"type": "number"},
          "multiline": {"type": "boolean"}}, "required": ["pattern"],
          "additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#"})",
      R"({"type": "object", "properties": {"url": {"type": "string", "format": "uri"},
          "prompt": {"type": "string"}}, "required": ["url", "prompt"],
          "additionalProperties": false})",
      R"({"type": "object", "properties": {"notebook_path": {"type": "string"},
          "cell_type": {"type": "string", "enum": ["code", "markdown"]},
          "edit_mode": {"type": "string", "enum": ["replace", "insert", "delete"]}},
          "required": ["notebook_path"], "additionalProperties": false})",
      R"({"type": "object", "properties": {"questions": {"type": "array", "items": {
          "type": "object", "properties": {"question": {"type": "string"},
          "options": {"type": "array", "items": {"type": "object", "properties": {
            "label": {"type": "string"}}, "required": ["label"],
            "additionalProperties": false}, "minItems": 2, "maxItems": 4},
          "multiSelect": {"type": "boolean"}}, "required": ["question", "options"],
          "additionalProperties": false}, "minItems": 1, "maxItems": 4}},
          "required": ["questions"], "additionalProperties": false})",
      // Codex: shell, apply_patch (freeform falls back to a function), update_plan.
      R"({"type": "object", "properties": {"command": {"type": "array",
          "items": {"type": "string"}}, "workdir": {"type": "string"},
          "timeout_ms": {"type": "number"}, "with_escalated_permissions": {"type": "boolean"},
          "justification": {"type": "string"}}, "required": ["command"],
          "additionalProperties": false})",
      R"({"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"],
          "additionalProperties": false})",
      R"({"type": "object", "properties": {"explanation": {"type": "string"},
          "plan": {"type": "array", "items": {"type": "object", "properties": {
            "step": {"type": "string"}, "status": {"type": "string",
            "enum": ["pending", "in_progress", "completed"]}},
            "required": ["step", "status"], "additionalProperties": false}}},
          "required": ["plan"], "additionalProperties": false})",
      R"({"type": "object", "properties": {"server": {"type": ["string", "null"]},
          "cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]},
          "args": {"type": "object", "additionalProperties": {}}}, "required": ["server"]})",
  };
  int index = 0;
  for (const char* text : schemas) {
    ir::Conversation c;
    c.tools = {{"tool" + std::to_string(index), "", json::parse(text)}};
    const json declaration = request_body(c)["tools"][0]["functionDeclarations"][0];
    REQUIRE(declaration.contains("parameters"));
    check_gemini_schema(declaration["parameters"], "tool" + std::to_string(index++));
  }
}

TEST_CASE("gemini: read_answer reads a whole answer") {
  const json body = json::parse(R"({
    "candidates": [{"content": {"role": "model", "parts": [
        {"text": "Plan: list.", "thought": true, "thoughtSignature": "dGhvdWdodA=="},
        {"text": "Listing ✓."},
        {"functionCall": {"name": "ls", "args": {"path": "/"}}, "thoughtSignature": "Y2FsbA=="},
        {"functionCall": {"name": "ls", "args": {"path": "/x"}, "id": "given"}}]},
      "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
                      "thoughtsTokenCount": 30, "cachedContentTokenCount": 64,
                      "totalTokenCount": 150},
    "modelVersion": "gemini-2.5-pro", "responseId": "resp-1"})");
  const ir::Answer a = gemini().read_answer(body);
  CHECK(a.id == "resp-1");
  CHECK(a.model == "gemini-2.5-pro");
  CHECK(a.finish == ir::Finish::tool_calls);
  CHECK(a.usage.input == 100);
  CHECK(a.usage.output == 50);
  CHECK(a.usage.reasoning == 30);
  CHECK(a.usage.cached == 64);
  REQUIRE(a.parts.size() == 4);
  CHECK(a.parts[0].kind == ir::Part::Kind::reasoning);
  CHECK(a.parts[0].reasoning.text == "Plan: list.");
  CHECK(a.parts[0].reasoning.signature == "dGhvdWdodA==");
  CHECK(a.parts[1].text == "Listing ✓.");
  CHECK(a.parts[2].call.name == "ls");
  CHECK(a.parts[2].call.id.starts_with("call_"));
  CHECK(json::parse(a.parts[2].call.arguments) == json{{"path", "/"}});
  CHECK(a.parts[2].call.signature == "Y2FsbA==");
  CHECK(a.parts[3].call.id == "given");
  CHECK(a.parts[3].call.signature.empty());
}

TEST_CASE("gemini: read_answer maps finish reasons and blocked prompts") {
  struct Row {
    const char* reason;
    ir::Finish finish;
  };
  for (const Row row :
       {Row{"STOP", ir::Finish::stop}, Row{"MAX_TOKENS", ir::Finish::length},
        Row{"SAFETY", ir::Finish::content_filter}, Row{"RECITATION", ir::Finish::content_filter},
        Row{"BLOCKLIST", ir::Finish::content_filter},
        Row{"PROHIBITED_CONTENT", ir::Finish::content_filter},
        Row{"SPII", ir::Finish::content_filter}, Row{"MALFORMED_FUNCTION_CALL", ir::Finish::error},
        Row{"OTHER", ir::Finish::stop}}) {
    const json body = {{"candidates",
                        {{{"content", {{"role", "model"}, {"parts", {{{"text", "x"}}}}}},
                          {"finishReason", row.reason}}}}};
    CHECK(gemini().read_answer(body).finish == row.finish);
  }
  const ir::Answer blocked = gemini().read_answer(json::parse(
      R"({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}})"));
  CHECK(blocked.finish == ir::Finish::content_filter);
  CHECK(blocked.parts.empty());
  CHECK(blocked.usage.input == 5);
  for (const char* body :
       {R"([])", R"({"error": {"message": "x"}})", R"("text")", R"({"candidates": {}})"}) {
    INFO(body);
    if (json::parse(body).contains("candidates")) {
      CHECK(gemini().read_answer(json::parse(body)).parts.empty());
    } else {
      CHECK_THROWS_AS((void)gemini().read_answer(json::parse(body)), std::invalid_argument);
    }
  }
}

TEST_CASE("gemini: write_answer writes the Gemini answer") {
  ir::Answer a;
  a.id = "msg_1";
  a.model = "claude-sonnet-4";
  a.finish = ir::Finish::tool_calls;
  a.usage = {100, 50, 64, 30};
  a.parts = {reasoning("hmm", "sig"), text_part("Calling."),
             call("toolu_9", "ls", R"({"path":"/"})", ""), call("toolu_8", "ls", "bad", "gs")};
  ir::Part redacted = reasoning("", "opaque");
  redacted.reasoning.redacted = true;
  a.parts.push_back(redacted);
  ir::Conversation request;
  request.model = "asked";
  CHECK(json::parse(gemini().write_answer(a, request)) == json::parse(R"({
    "candidates": [{"content": {"role": "model", "parts": [
        {"text": "hmm", "thought": true, "thoughtSignature": "sig"},
        {"text": "Calling."},
        {"functionCall": {"name": "ls", "args": {"path": "/"}, "id": "toolu_9"}},
        {"functionCall": {"name": "ls", "args": {}, "id": "toolu_8"}, "thoughtSignature": "gs"}]},
      "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
                      "thoughtsTokenCount": 30, "cachedContentTokenCount": 64,
                      "totalTokenCount": 150},
    "modelVersion": "claude-sonnet-4", "responseId": "msg_1"})"));

  struct Row {
    ir::Finish finish;
    const char* reason;
  };
  for (const Row row :
       {Row{ir::Finish::stop, "STOP"}, Row{ir::Finish::length, "MAX_TOKENS"},
        Row{ir::Finish::content_filter, "SAFETY"}, Row{ir::Finish::error, "OTHER"}}) {
    ir::Answer empty;
    empty.finish = row.finish;
    const json body = json::parse(gemini().write_answer(empty, request));
    CHECK(body["candidates"][0]["finishReason"] == row.reason);
    CHECK(body["candidates"][0]["content"]["parts"] == json::array());
    CHECK(body["modelVersion"] == "asked");
    CHECK_FALSE(body.contains("responseId"));
  }
}

TEST_CASE("gemini: an answer survives write_answer then read_answer") {
  ir::Answer a;
  a.id = "r";
  a.model = "m";
  a.finish = ir::Finish::tool_calls;
  a.usage = {10, 7, 2, 3};
  a.parts = {reasoning("why", "s1"), text_part("ünï ✓"), call("c1", "f", R"({"x":[1,2]})", "s2")};
  const ir::Answer back = gemini().read_answer(json::parse(gemini().write_answer(a, {})));
  CHECK(back.id == a.id);
  CHECK(back.model == a.model);
  CHECK(back.finish == a.finish);
  CHECK(back.usage.input == 10);
  CHECK(back.usage.output == 7);
  CHECK(back.usage.cached == 2);
  CHECK(back.usage.reasoning == 3);
  REQUIRE(back.parts.size() == 3);
  CHECK(back.parts[0].reasoning.text == "why");
  CHECK(back.parts[0].reasoning.signature == "s1");
  CHECK(back.parts[1].text == "ünï ✓");
  CHECK(back.parts[2].call.id == "c1");
  CHECK(back.parts[2].call.signature == "s2");
  CHECK(json::parse(back.parts[2].call.arguments) == json{{"x", {1, 2}}});
}

TEST_CASE("gemini: a request survives read_request, write_request, read_request") {
  const ir::Conversation first = gemini().read_request(json::parse(k_cli_request), site());
  const ir::Conversation second = gemini().read_request(request_body(first), site());
  CHECK(second.system == first.system);
  REQUIRE(second.messages.size() == first.messages.size());
  for (size_t i = 0; i < first.messages.size(); ++i) {
    const auto& a = first.messages[i].parts;
    const auto& b = second.messages[i].parts;
    REQUIRE(a.size() == b.size());
    for (size_t j = 0; j < a.size(); ++j) {
      INFO(i << "," << j);
      CHECK(a[j].kind == b[j].kind);
      CHECK(a[j].text == b[j].text);
      CHECK(a[j].image.data == b[j].image.data);
      CHECK(a[j].image.url == b[j].image.url);
      CHECK(a[j].call.id == b[j].call.id);
      CHECK(a[j].call.name == b[j].call.name);
      CHECK(json::parse(a[j].call.arguments.empty() ? "{}" : a[j].call.arguments) ==
            json::parse(b[j].call.arguments.empty() ? "{}" : b[j].call.arguments));
      CHECK(a[j].result.id == b[j].result.id);
      CHECK(a[j].result.content == b[j].result.content);
      CHECK(a[j].result.is_error == b[j].result.is_error);
      CHECK(a[j].reasoning.text == b[j].reasoning.text);
      CHECK(a[j].reasoning.signature == b[j].reasoning.signature);
    }
  }
  // The unsigned call came back with Google's placeholder, which is a signature now.
  CHECK(second.messages[1].parts[3].call.signature == "skip_thought_signature_validator");
  CHECK(second.messages[1].parts[2].call.signature == "c2lnLWNhbGw=");
  CHECK(second.tools.size() == 2);
  CHECK(second.tool_choice.name == "list_directory");
  CHECK(second.max_tokens == first.max_tokens);
  CHECK(second.temperature == first.temperature);
  CHECK(second.top_p == first.top_p);
  CHECK(second.top_k == first.top_k);
  CHECK(second.stop == first.stop);
  CHECK(second.reasoning_budget == first.reasoning_budget);
}

namespace {

// The shape of a recorded Gemini 2.5 `alt=sse` stream: thoughts, text, then two calls (one with
// a signature) with the finish reason and full usage in the last chunk.
const std::string k_stream =
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"**Planning**\\n\\nLet me "
    "look\",\"thought\": true}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": "
    "{\"promptTokenCount\": 120,\"totalTokenCount\": 120},\"modelVersion\": "
    "\"gemini-2.5-pro\",\"responseId\": \"abc123\"}\r\n\r\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" at the files.\",\"thought\": "
    "true, \"thoughtSignature\": \"dGhpbms=\"}],\"role\": \"model\"},\"index\": 0}],"
    "\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"abc123\"}\r\n\r\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"I'll list \xc3\xa9\"}],"
    "\"role\": \"model\"},\"index\": 0}],\"modelVersion\": \"gemini-2.5-pro\"}\r\n\r\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" the directory.\"},"
    "{\"functionCall\": {\"name\": \"list_directory\",\"args\": {\"path\": \"/tmp\"}},"
    "\"thoughtSignature\": \"Q2lRQg==\"},{\"functionCall\": {\"name\": \"read_file\",\"args\": "
    "{\"absolute_path\": \"/tmp/a.txt\", \"limit\": 10}}}],\"role\": \"model\"},"
    "\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 120,"
    "\"candidatesTokenCount\": 30,\"totalTokenCount\": 190,\"thoughtsTokenCount\": 40,"
    "\"cachedContentTokenCount\": 100},\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": "
    "\"abc123\"}\r\n\r\n";

} // namespace

TEST_CASE("gemini: the stream reader decodes a recorded stream") {
  const std::vector<ir::Event> events = decode(k_stream);
  REQUIRE(events.size() == 11);
  CHECK(events[0].kind == ir::Event::Kind::start);
  CHECK(events[0].id == "abc123");
  CHECK(events[0].model == "gemini-2.5-pro");
  CHECK(events[0].usage.input == 120);
  CHECK(events[1].kind == ir::Event::Kind::reasoning_delta);
  CHECK(events[1].index == 0);
  CHECK(events[1].text == "**Planning**\n\nLet me look");
  CHECK(events[2].kind == ir::Event::Kind::reasoning_delta);
  CHECK(events[2].text == " at the files.");
  CHECK(events[3].kind == ir::Event::Kind::reasoning_signature);
  CHECK(events[3].index == 0);
  CHECK(events[3].text == "dGhpbms=");
  CHECK(events[4].kind == ir::Event::Kind::text_delta);
  CHECK(events[4].index == 1);
  CHECK(events[4].text == "I'll list é");
  CHECK(events[5].text == " the directory.");
  CHECK(events[5].index == 1);
  CHECK(events[6].kind == ir::Event::Kind::tool_call_start);
  CHECK(events[6].index == 2);
  CHECK(events[6].name == "list_directory");
  CHECK(events[6].signature == "Q2lRQg==");
  CHECK(events[6].id.starts_with("call_"));
  CHECK(events[7].kind == ir::Event::Kind::tool_args_delta);
  CHECK(events[7].index == 2);
  CHECK(json::parse(events[7].text) == json{{"path", "/tmp"}});
  CHECK(events[8].kind == ir::Event::Kind::tool_call_start);
  CHECK(events[8].index == 3);
  CHECK(events[8].id != events[6].id);
  CHECK(events[8].signature.empty());
  CHECK(events[9].kind == ir::Event::Kind::tool_args_delta);
  CHECK(events[9].index == 3);
  CHECK(json::parse(events[9].text) == json::parse(R"({"absolute_path": "/tmp/a.txt",
      "limit": 10})"));
  CHECK(events[10].kind == ir::Event::Kind::finish);
  CHECK(events[10].finish == ir::Finish::tool_calls);
  CHECK(events[10].usage.input == 120);
  CHECK(events[10].usage.output == 70);
  CHECK(events[10].usage.reasoning == 40);
  CHECK(events[10].usage.cached == 100);
}

TEST_CASE("gemini: the stream reader gives the same events for every cut of the stream") {
  const std::string whole = describe(decode(k_stream));
  for (size_t cut = 0; cut <= k_stream.size(); ++cut) {
    const std::string got = describe(decode({k_stream.substr(0, cut), k_stream.substr(cut)}));
    if (got != whole) {
      FAIL("cut at " << cut);
    }
  }
  std::vector<std::string> bytes;
  for (const char byte : k_stream) {
    bytes.emplace_back(1, byte);
  }
  CHECK(describe(decode(bytes)) == whole);
  // Without the final blank line the last chunk still counts.
  CHECK(describe(decode(k_stream.substr(0, k_stream.size() - 4))) == whole);
}

TEST_CASE("gemini: the stream reader reports errors, blocks and odd chunks") {
  const std::vector<ir::Event> error =
      decode("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}]}}]}\n\n"
             "data: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded.\", "
             "\"status\": \"UNAVAILABLE\"}}\n\n"
             "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"late\"}]}}]}\n\n");
  REQUIRE(error.size() == 3);
  CHECK(error[1].text == "Hi");
  CHECK(error[2].kind == ir::Event::Kind::error);
  CHECK(error[2].status == 503);
  CHECK(error[2].text == "The model is overloaded.");

  const std::vector<ir::Event> bad = decode("data: {not json\n\n");
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].kind == ir::Event::Kind::error);
  CHECK(bad[0].status == 502);

  const std::vector<ir::Event> blocked =
      decode("data: {\"promptFeedback\": {\"blockReason\": \"PROHIBITED_CONTENT\"}, "
             "\"usageMetadata\": {\"promptTokenCount\": 9}}\n\n");
  REQUIRE(blocked.size() == 2);
  CHECK(blocked[1].kind == ir::Event::Kind::finish);
  CHECK(blocked[1].finish == ir::Finish::content_filter);
  CHECK(blocked[1].usage.input == 9);

  const std::vector<ir::Event> length =
      decode("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}]}}]}\n\n"
             "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"a\\u00e9\"}]}, "
             "\"finishReason\": \"MAX_TOKENS\"}]}\n\n");
  REQUIRE(length.size() == 3);
  CHECK(length[1].index == 0);
  CHECK(length[1].text == "a\xc3\xa9");
  CHECK(length[2].finish == ir::Finish::length);

  CHECK(decode("").empty());
  CHECK(decode(": keep-alive\n\n").empty());

  // Invalid UTF-8 from the provider costs the bad bytes only (U+FFFD each), not the chunk.
  const std::vector<ir::Event> raw = decode("data: {\"candidates\": [{\"content\": {\"parts\": "
                                            "[{\"text\": \"bad \xff\xe2\x82 \xc3\xa9\"}]}}]}\n\n");
  REQUIRE(raw.size() == 3);
  CHECK(raw[1].text == "bad \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xc3\xa9");

  // Invalid UTF-8 in an event (from another family's provider) does not stop the writer.
  const std::vector<json> chunks =
      sse_chunks(write_stream({event(ir::Event::Kind::text_delta, 0, "bad \xff")}));
  CHECK(chunks[0]["candidates"][0]["content"]["parts"][0]["text"] == "bad \xef\xbf\xbd");
}

TEST_CASE("gemini: the stream writer writes an SSE stream, holding each call until it ends") {
  ir::Event start = event(ir::Event::Kind::start);
  start.id = "msg_1";
  start.model = "claude-sonnet-4";
  start.usage.input = 50;
  ir::Event call_start = event(ir::Event::Kind::tool_call_start, 2);
  call_start.id = "toolu_1";
  call_start.name = "Bash";
  ir::Event signature = event(ir::Event::Kind::reasoning_signature, 0, "c2ln");
  ir::Event finish = event(ir::Event::Kind::finish);
  finish.finish = ir::Finish::tool_calls;
  finish.usage = {50, 30, 10, 5};
  const std::string out = write_stream({start, event(ir::Event::Kind::reasoning_delta, 0, "Think"),
                                        signature, event(ir::Event::Kind::text_delta, 1, "Run"),
                                        event(ir::Event::Kind::text_delta, 1, "ning."), call_start,
                                        event(ir::Event::Kind::tool_args_delta, 2, "{\"comm"),
                                        event(ir::Event::Kind::tool_args_delta, 2, "and\": \"ls\""),
                                        event(ir::Event::Kind::tool_args_delta, 2, "}"), finish});
  CHECK(out.starts_with("data: {"));
  const std::vector<json> chunks = sse_chunks(out);
  REQUIRE(chunks.size() == 6);
  const auto parts = [&](size_t i) {
    return chunks[i]["candidates"][0]["content"]["parts"];
  };
  CHECK(parts(0) == json::parse(R"([{"text": "Think", "thought": true}])"));
  CHECK(parts(1) == json::parse(R"([{"text": "", "thought": true, "thoughtSignature": "c2ln"}])"));
  CHECK(parts(2) == json::parse(R"([{"text": "Run"}])"));
  CHECK(parts(3) == json::parse(R"([{"text": "ning."}])"));
  CHECK(parts(4) == json::parse(
                        R"([{"functionCall": {"name": "Bash", "args": {"command": "ls"},
                            "id": "toolu_1"}}])"));
  for (const json& chunk : chunks) {
    CHECK(chunk["modelVersion"] == "claude-sonnet-4");
    CHECK(chunk["responseId"] == "msg_1");
    CHECK(chunk["candidates"][0]["content"]["role"] == "model");
  }
  CHECK(chunks[5] == json::parse(R"({"candidates": [{"content": {"role": "model", "parts": []},
      "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 50,
      "candidatesTokenCount": 25, "thoughtsTokenCount": 5, "cachedContentTokenCount": 10,
      "totalTokenCount": 80}, "modelVersion": "claude-sonnet-4", "responseId": "msg_1"})"));
}

TEST_CASE("gemini: the stream writer writes a JSON array stream") {
  ir::Event finish = event(ir::Event::Kind::finish);
  finish.finish = ir::Finish::length;
  const std::string out = write_stream({event(ir::Event::Kind::text_delta, 0, "a"),
                                        event(ir::Event::Kind::text_delta, 0, "b"), finish},
                                       false);
  CHECK(out.starts_with("[{"));
  CHECK(out.ends_with("}]"));
  CHECK(out.find("},\r\n{") != std::string::npos);
  const json array = json::parse(out);
  REQUIRE(array.size() == 3);
  CHECK(array[1]["candidates"][0]["content"]["parts"][0]["text"] == "b");
  CHECK(array[2]["candidates"][0]["finishReason"] == "MAX_TOKENS");

  const json error = json::parse(write_stream({event(ir::Event::Kind::text_delta, 0, "a"),
                                               [] {
                                                 ir::Event e =
                                                     event(ir::Event::Kind::error, 0, "overloaded");
                                                 e.status = 429;
                                                 return e;
                                               }(),
                                               event(ir::Event::Kind::text_delta, 0, "ignored")},
                                              false));
  REQUIRE(error.size() == 2);
  CHECK(error[1] == json::parse(R"({"error": {"code": 429, "message": "overloaded",
      "status": "RESOURCE_EXHAUSTED"}})"));
  CHECK(json::parse(write_stream({}, false)).size() == 1);
}

TEST_CASE("gemini: the stream writer completes any sequence of events") {
  // No start, no finish, a call that ends the stream, arguments without a call start.
  const std::vector<json> chunks =
      sse_chunks(write_stream({event(ir::Event::Kind::text_delta, 3, "x"),
                               event(ir::Event::Kind::tool_args_delta, 4, "{\"a\":"),
                               event(ir::Event::Kind::tool_args_delta, 4, "1}")}));
  REQUIRE(chunks.size() == 3);
  const json call = chunks[1]["candidates"][0]["content"]["parts"][0]["functionCall"];
  CHECK(call["args"] == json{{"a", 1}});
  CHECK(call["id"].get<std::string>().starts_with("call_"));
  CHECK(chunks[2]["candidates"][0]["finishReason"] == "STOP");
  CHECK_FALSE(chunks[2].contains("responseId"));
  CHECK(chunks[2]["modelVersion"] == "gemini-2.5-pro");

  // A delta for another index closes the open call; events after finish are ignored.
  ir::Event first = event(ir::Event::Kind::tool_call_start, 0);
  first.name = "a";
  first.signature = "Zmly";
  ir::Event second = event(ir::Event::Kind::tool_call_start, 1);
  second.name = "b";
  const std::vector<json> calls = sse_chunks(
      write_stream({first, event(ir::Event::Kind::tool_args_delta, 0, "{}"), second,
                    event(ir::Event::Kind::text_delta, 2, "after"), event(ir::Event::Kind::finish),
                    event(ir::Event::Kind::text_delta, 2, "ignored")}));
  REQUIRE(calls.size() == 4);
  CHECK(calls[0]["candidates"][0]["content"]["parts"][0]["thoughtSignature"] == "Zmly");
  CHECK(calls[1]["candidates"][0]["content"]["parts"][0]["functionCall"]["name"] == "b");
  CHECK(calls[1]["candidates"][0]["content"]["parts"][0]["functionCall"]["args"] == json::object());
  CHECK(calls[2]["candidates"][0]["content"]["parts"][0]["text"] == "after");

  // An error: the in-stream error object and nothing after it.
  ir::Event failure = event(ir::Event::Kind::error, 0, "upstream died");
  const std::vector<json> failed = sse_chunks(write_stream({failure}));
  REQUIRE(failed.size() == 1);
  CHECK(failed[0] == json::parse(R"({"error": {"code": 500, "message": "upstream died",
      "status": "INTERNAL"}})"));

  // Nothing at all is still a complete stream.
  const std::vector<json> nothing = sse_chunks(write_stream({}));
  REQUIRE(nothing.size() == 1);
  CHECK(nothing[0]["candidates"][0]["finishReason"] == "STOP");
}

TEST_CASE("gemini: what the stream writer writes, the stream reader reads back") {
  const std::vector<ir::Event> events = decode(k_stream);
  const std::vector<ir::Event> back = decode(write_stream(events));
  REQUIRE(back.size() == events.size());
  CHECK(back[0].id == "abc123");
  CHECK(back[0].model == "gemini-2.5-pro");
  CHECK(back[1].text == events[1].text);
  CHECK(back[3].kind == ir::Event::Kind::reasoning_signature);
  CHECK(back[3].index == 0);
  CHECK(back[3].text == "dGhpbms=");
  CHECK(back[5].text == " the directory.");
  CHECK(back[6].id == events[6].id);
  CHECK(back[6].signature == "Q2lRQg==");
  CHECK(json::parse(back[9].text) == json::parse(events[9].text));
  CHECK(back.back().finish == ir::Finish::tool_calls);
  CHECK(back.back().usage.output == 70);
  CHECK(back.back().usage.reasoning == 40);
  CHECK(back.back().usage.cached == 100);
}

TEST_CASE("gemini: read_error_message finds the message") {
  CHECK(gemini().read_error_message(json::parse(
            R"({"error": {"code": 400, "message": "API key not valid.", "status": "X"}})")) ==
        "API key not valid.");
  CHECK(gemini().read_error_message(json::parse(R"([{"error": {"code": 429,
      "message": "Resource exhausted."}}])")) == "Resource exhausted.");
  CHECK(gemini().read_error_message(json::parse(R"({"message": "x"})")).empty());
  CHECK(gemini().read_error_message(json::parse(R"([])")).empty());
  CHECK(gemini().read_error_message(json::parse(R"("text")")).empty());
}

TEST_CASE(
    "gemini: write_request opens a history that starts with the model's turn with a user turn") {
  ir::Conversation c;
  c.model = "gemini-2.5-flash";
  ir::Message assistant;
  assistant.role = ir::Role::assistant;
  ir::Part call;
  call.kind = ir::Part::Kind::tool_call;
  call.call = {"call_1", "get", "{}", ""};
  assistant.parts.push_back(call);
  ir::Message user;
  ir::Part result;
  result.kind = ir::Part::Kind::tool_result;
  result.result = {"call_1", "get", "42", false, {}};
  user.parts.push_back(result);
  c.messages = {assistant, user};
  const json body = json::parse(gemini_family().write_request(c).body);
  REQUIRE(body["contents"].size() == 3);
  CHECK(body["contents"][0]["role"] == "user");
  CHECK(body["contents"][1]["role"] == "model");
  CHECK(body["contents"][1]["parts"][0].contains("functionCall"));
  CHECK(body["contents"][2]["role"] == "user");
}
