// libFuzzer target: the Gemini family. A provider stream must decode to the same events however
// it is cut; the writer must turn those events into a valid Gemini stream (each SSE data line
// JSON; the array form one JSON array); the readers of requests and answers must only throw
// their documented exceptions; any JSON as a tool schema must reduce to Gemini's subset.
#include "server/protocols/family.hpp"
#include "server/protocols/sse.hpp"
#include "tests/fuzz/require.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <set>
#include <string>

using namespace agproxy;
using ir::json;

namespace {

// Return `events` as text, with the ids the reader made up for tool calls (random) replaced by
// their order of appearance.
std::string describe(const std::vector<ir::Event>& events) {
  std::string out;
  int calls = 0;
  for (const ir::Event& e : events) {
    const std::string id =
        e.kind == ir::Event::Kind::tool_call_start ? std::to_string(calls++) : e.id;
    out += std::to_string(static_cast<int>(e.kind)) + '|' + std::to_string(e.index) + '|' + e.text +
           '|' + id + '|' + e.model + '|' + e.name + '|' + e.signature + '|' +
           std::to_string(static_cast<int>(e.finish)) + '|' + std::to_string(e.usage.input) + ',' +
           std::to_string(e.usage.output) + ',' + std::to_string(e.usage.cached) + ',' +
           std::to_string(e.usage.reasoning) + '|' + std::to_string(e.status) + '\n';
  }
  return out;
}

// Check that `schema` uses only what Gemini's function declarations accept.
void check_schema(const json& schema) {
  static const std::set<std::string> keys = {
      "type",    "format",     "description",      "nullable", "enum",
      "items",   "properties", "required",         "minItems", "maxItems",
      "minimum", "maximum",    "propertyOrdering", "anyOf"};
  FUZZ_REQUIRE(schema.is_object());
  for (const auto& [key, value] : schema.items()) {
    FUZZ_REQUIRE(keys.contains(key));
  }
  if (schema.contains("enum")) {
    FUZZ_REQUIRE(schema["type"] == "string");
  }
  if (schema.contains("properties")) {
    for (const auto& [name, property] : schema["properties"].items()) {
      check_schema(property);
    }
    for (const json& name : schema.value("required", json::array())) {
      FUZZ_REQUIRE(schema["properties"].contains(name.get<std::string>()));
    }
  }
  if (schema.contains("items")) {
    check_schema(schema["items"]);
  }
  for (const json& choice : schema.value("anyOf", json::array())) {
    check_schema(choice);
  }
}

void check_stream(const std::string& stream) {
  const Family& gemini = gemini_family();
  std::vector<ir::Event> whole;
  auto reader = gemini.stream_reader();
  reader->feed(stream, whole);
  reader->finish(whole);

  std::vector<ir::Event> chunked;
  auto cut_reader = gemini.stream_reader();
  size_t at = 0;
  while (at < stream.size()) {
    const size_t length = 1 + static_cast<unsigned char>(stream[at]) % 7;
    cut_reader->feed(std::string_view(stream).substr(at, length), chunked);
    at += length;
  }
  cut_reader->finish(chunked);
  FUZZ_REQUIRE(describe(chunked) == describe(whole));

  ir::Conversation request;
  request.model = "m";
  for (const bool sse : {true, false}) {
    auto writer = gemini.stream_writer(request, {"m", true, sse});
    std::string out;
    for (const ir::Event& event : whole) {
      writer->write(event, out);
    }
    writer->finish(out);
    if (sse) {
      SseParser parser;
      std::vector<SseEvent> events;
      parser.feed(out, events);
      parser.finish(events);
      FUZZ_REQUIRE(!events.empty());
      for (const SseEvent& event : events) {
        FUZZ_REQUIRE(json::parse(event.data, nullptr, false).is_object());
      }
      // What we wrote, our reader reads to the same number of finish and error events.
      std::vector<ir::Event> back;
      auto again = gemini.stream_reader();
      again->feed(out, back);
      again->finish(back);
      FUZZ_REQUIRE(!back.empty());
    } else {
      const json array = json::parse(out, nullptr, false);
      FUZZ_REQUIRE(array.is_array() && !array.empty());
    }
  }
}

void check_json(const json& body) {
  const Family& gemini = gemini_family();
  try {
    const ir::Conversation conversation = gemini.read_request(body, {"m", false, true});
    FUZZ_REQUIRE(json::parse(gemini.write_request(conversation).body, nullptr, false).is_object());
  } catch (const ir::Untranslatable&) {
  } catch (const std::invalid_argument&) {
  }
  try {
    const ir::Answer answer = gemini.read_answer(body);
    FUZZ_REQUIRE(json::parse(gemini.write_answer(answer, {}), nullptr, false).is_object());
  } catch (const std::invalid_argument&) {
  }
  (void)gemini.read_error_message(body);

  ir::Conversation conversation;
  conversation.model = "m";
  conversation.tools = {{"t", "", body}};
  conversation.format = {ir::OutputFormat::Kind::json_schema, "f", body};
  const json written = json::parse(gemini.write_request(conversation).body, nullptr, false);
  FUZZ_REQUIRE(written.is_object());
  const json& declaration = written["tools"][0]["functionDeclarations"][0];
  if (declaration.contains("parameters")) {
    check_schema(declaration["parameters"]);
  }
  if (written["generationConfig"].contains("responseSchema")) {
    check_schema(written["generationConfig"]["responseSchema"]);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string input(reinterpret_cast<const char*>(bytes), size);
  check_stream(input);
  const json body = json::parse(input, nullptr, false);
  if (!body.is_discarded()) {
    check_json(body);
  }
  return 0;
}
