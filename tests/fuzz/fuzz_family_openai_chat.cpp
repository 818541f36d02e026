// libFuzzer target: the OpenAI Chat Completions family. A provider stream must decode to the same
// events however it is cut; the stream writer must turn any events into a valid chunk stream that
// reads back to the same text; the readers take any JSON with no exception but the documented ones.
#include "server/protocols/family.hpp"
#include "server/protocols/sse.hpp"
#include "tests/fuzz/require.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

using namespace agproxy;
using nlohmann::json;

namespace {

const Family& chat() {
  return openai_chat_family();
}

bool same(const ir::Event& a, const ir::Event& b) {
  return a.kind == b.kind && a.index == b.index && a.text == b.text && a.id == b.id &&
         a.model == b.model && a.name == b.name && a.signature == b.signature &&
         a.finish == b.finish && a.usage.input == b.usage.input &&
         a.usage.output == b.usage.output && a.usage.cached == b.usage.cached &&
         a.usage.reasoning == b.usage.reasoning && a.status == b.status;
}

bool same(const std::vector<ir::Event>& a, const std::vector<ir::Event>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (!same(a[i], b[i])) {
      return false;
    }
  }
  return true;
}

// Return the events of `stream` fed in chunks whose sizes come from its own bytes (`step` 0: a
// byte at a time; no chunking at all when `whole`).
std::vector<ir::Event> read_stream(std::string_view stream, bool whole, size_t step) {
  auto reader = chat().stream_reader();
  std::vector<ir::Event> events;
  if (whole) {
    reader->feed(stream, events);
  } else {
    size_t at = 0;
    while (at < stream.size()) {
      const size_t length = step == 0 ? 1 : 1 + static_cast<unsigned char>(stream[at]) % step;
      reader->feed(stream.substr(at, length), events);
      at += length;
    }
  }
  reader->finish(events);
  // Ids the reader made up for calls that came without one differ from run to run.
  for (ir::Event& event : events) {
    if (event.kind == ir::Event::Kind::tool_call_start &&
        stream.find(event.id) == std::string_view::npos) {
      event.id = "made up";
    }
  }
  return events;
}

// Check what a reader promises of its events: a start first (unless the stream is an error), one
// finish or error at most and last, parts numbered in order, arguments only for started calls.
void check_event_order(const std::vector<ir::Event>& events) {
  size_t next_index = 0;
  std::vector<bool> is_call;
  for (size_t i = 0; i < events.size(); ++i) {
    const ir::Event& event = events[i];
    using K = ir::Event::Kind;
    FUZZ_REQUIRE((event.kind == K::start) == (i == 0 && event.kind == K::start));
    if (event.kind == K::finish || event.kind == K::error) {
      FUZZ_REQUIRE(i + 1 == events.size());
    }
    if (event.kind == K::text_delta || event.kind == K::reasoning_delta ||
        event.kind == K::tool_call_start) {
      FUZZ_REQUIRE(event.index <= next_index);
      FUZZ_REQUIRE(event.kind != K::tool_call_start || event.index == next_index);
      if (event.index == next_index) {
        ++next_index;
        is_call.push_back(event.kind == K::tool_call_start);
      }
      FUZZ_REQUIRE(is_call[event.index] == (event.kind == K::tool_call_start));
    }
    if (event.kind == K::tool_args_delta) {
      FUZZ_REQUIRE(event.index < next_index && is_call[event.index]);
    }
  }
}

struct Summary {
  std::string text;
  std::string reasoning;
  size_t calls = 0;
  std::string arguments;
  std::string error;
};

Summary summarize(const std::vector<ir::Event>& events) {
  Summary out;
  for (const ir::Event& event : events) {
    if (event.kind == ir::Event::Kind::text_delta) {
      out.text += event.text;
    } else if (event.kind == ir::Event::Kind::reasoning_delta) {
      out.reasoning += event.text;
    } else if (event.kind == ir::Event::Kind::tool_call_start) {
      ++out.calls;
    } else if (event.kind == ir::Event::Kind::tool_args_delta) {
      out.arguments += event.text;
    } else if (event.kind == ir::Event::Kind::error) {
      out.error = event.text;
    }
  }
  return out;
}

// Check that `stream` is a chunk stream an OpenAI SDK reads: complete SSE events, each a JSON
// chunk; the role first; one finish reason, then the usage chunk and [DONE] (or an error last).
void check_written(const std::string& stream) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(stream, events);
  const size_t complete = events.size();
  parser.finish(events);
  FUZZ_REQUIRE(events.size() == complete);
  FUZZ_REQUIRE(!events.empty());
  bool ended = false, finished = false, usage = false;
  size_t calls = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    FUZZ_REQUIRE(!ended);
    if (events[i].data == "[DONE]") {
      FUZZ_REQUIRE(usage);
      ended = true;
      continue;
    }
    const json chunk = json::parse(events[i].data, nullptr, false);
    FUZZ_REQUIRE(chunk.is_object());
    if (chunk.contains("error")) {
      FUZZ_REQUIRE(chunk["error"]["message"].is_string());
      ended = true;
      continue;
    }
    FUZZ_REQUIRE(chunk["object"] == "chat.completion.chunk");
    FUZZ_REQUIRE(chunk["id"].is_string() && chunk["created"].is_number_integer());
    const json& choices = chunk["choices"];
    FUZZ_REQUIRE(choices.is_array());
    if (choices.empty()) {
      FUZZ_REQUIRE(finished && !usage && chunk["usage"]["total_tokens"].is_number_integer());
      usage = true;
      continue;
    }
    FUZZ_REQUIRE(!finished && choices.size() == 1);
    const json& delta = choices[0]["delta"];
    FUZZ_REQUIRE(delta.is_object());
    FUZZ_REQUIRE((i == 0) == delta.contains("role"));
    finished = !choices[0]["finish_reason"].is_null();
    if (delta.contains("tool_calls")) {
      const json& call = delta["tool_calls"][0];
      FUZZ_REQUIRE(call["index"].is_number_unsigned());
      if (call.contains("id")) {
        FUZZ_REQUIRE(call["index"] == calls);
        ++calls;
      } else {
        FUZZ_REQUIRE(call["index"] < calls);
      }
    }
  }
  FUZZ_REQUIRE(ended);
}

std::string write_stream(const std::vector<ir::Event>& events) {
  ir::Conversation request;
  request.model = "fuzz";
  request.stream_usage = true; // the usage chunk checked below
  auto writer = chat().stream_writer(request, {});
  std::string out;
  for (const ir::Event& event : events) {
    writer->write(event, out);
  }
  writer->finish(out);
  return out;
}

// Return events made from fuzz bytes, in any order, with any indexes and any bytes as text.
std::vector<ir::Event> random_events(FuzzedDataProvider& data) {
  std::vector<ir::Event> events;
  while (data.remaining_bytes() > 0 && events.size() < 64) {
    ir::Event event;
    event.kind = static_cast<ir::Event::Kind>(data.ConsumeIntegralInRange<int>(0, 7));
    event.index = data.ConsumeIntegralInRange<size_t>(0, 4);
    event.text = data.ConsumeRandomLengthString(16);
    event.id = data.ConsumeRandomLengthString(8);
    event.name = data.ConsumeRandomLengthString(8);
    event.signature = data.ConsumeRandomLengthString(8);
    event.finish = static_cast<ir::Finish>(data.ConsumeIntegralInRange<int>(0, 4));
    event.usage.input = data.ConsumeIntegral<int>();
    event.status = data.ConsumeIntegral<short>();
    events.push_back(std::move(event));
  }
  return events;
}

// Read `text` as a request and as an answer, and write what was read; only the documented
// exceptions may come out.
void check_documents(const std::string& text) {
  const json body = json::parse(text, nullptr, false);
  if (body.is_discarded()) {
    return;
  }
  try {
    const ir::Conversation conversation = chat().read_request(body, {});
    FUZZ_REQUIRE(json::parse(chat().write_request(conversation).body).is_object());
  } catch (const ir::Untranslatable&) {
  } catch (const std::invalid_argument&) {
  }
  try {
    const ir::Answer answer = chat().read_answer(body);
    FUZZ_REQUIRE(json::parse(chat().write_answer(answer, {})).is_object());
  } catch (const std::invalid_argument&) {
  }
  (void)chat().read_error_message(body);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string input(reinterpret_cast<const char*>(bytes), size);

  const std::vector<ir::Event> whole = read_stream(input, true, 0);
  FUZZ_REQUIRE(same(whole, read_stream(input, false, 7)));
  FUZZ_REQUIRE(same(whole, read_stream(input, false, 0)));
  check_event_order(whole);

  const std::string written = write_stream(whole);
  check_written(written);
  const Summary before = summarize(whole), after = summarize(read_stream(written, true, 0));
  FUZZ_REQUIRE(before.text == after.text);
  FUZZ_REQUIRE(before.reasoning == after.reasoning);
  FUZZ_REQUIRE(before.calls == after.calls);
  FUZZ_REQUIRE(before.arguments == after.arguments);
  FUZZ_REQUIRE(before.error == after.error);

  FuzzedDataProvider data(bytes, size);
  check_written(write_stream(random_events(data)));

  check_documents(input);
  return 0;
}
