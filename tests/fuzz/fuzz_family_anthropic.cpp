// libFuzzer target: the Anthropic Messages family. Random bytes read as a provider's event stream
// must give the same events however they are cut; those events written back as a client's stream
// must make a valid Anthropic stream; random JSON read as a request or an answer may only throw
// the documented exceptions.
#include "server/protocols/family.hpp"
#include "tests/fuzz/require.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using namespace agproxy;
using nlohmann::json;

namespace {

bool same_events(const std::vector<ir::Event>& a, const std::vector<ir::Event>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const ir::Event& x = a[i];
    const ir::Event& y = b[i];
    if (x.kind != y.kind || x.index != y.index || x.text != y.text || x.id != y.id ||
        x.model != y.model || x.name != y.name || x.signature != y.signature ||
        x.redacted != y.redacted || x.finish != y.finish || x.status != y.status ||
        x.usage.input != y.usage.input || x.usage.output != y.usage.output ||
        x.usage.cached != y.usage.cached) {
      return false;
    }
  }
  return true;
}

// Check that `stream` is what an Anthropic SDK reads: `event:` and `data:` lines whose JSON type
// names the event, message_start first, blocks opened, extended and closed in index order with
// deltas of their own kind, then message_delta and message_stop, or an error that ends it.
void check_stream(const std::string& stream) {
  enum class Stage { before, in_message, in_block, after_delta, done } stage = Stage::before;
  std::string block_type;
  long long next_block = 0;
  size_t at = 0;
  while (at < stream.size()) {
    const size_t end = stream.find("\n\n", at);
    FUZZ_REQUIRE(end != std::string::npos);
    const std::string event = stream.substr(at, end - at);
    at = end + 2;
    const size_t newline = event.find('\n');
    FUZZ_REQUIRE(newline != std::string::npos);
    FUZZ_REQUIRE(event.compare(0, 7, "event: ") == 0);
    FUZZ_REQUIRE(event.compare(newline + 1, 6, "data: ") == 0);
    const std::string name = event.substr(7, newline - 7);
    const std::string data_text = event.substr(newline + 7);
    FUZZ_REQUIRE(data_text.find('\n') == std::string::npos);
    FUZZ_REQUIRE(data_text.find('\r') == std::string::npos);
    const json data = json::parse(data_text, nullptr, false);
    FUZZ_REQUIRE(data.is_object());
    FUZZ_REQUIRE(data.value("type", "") == name);
    FUZZ_REQUIRE(stage != Stage::done);
    const long long index = data.value("index", -1LL);
    if (name == "error") {
      stage = Stage::done;
    } else if (name == "message_start") {
      FUZZ_REQUIRE(stage == Stage::before);
      stage = Stage::in_message;
    } else if (name == "content_block_start") {
      FUZZ_REQUIRE(stage == Stage::in_message && index == next_block);
      block_type = data["content_block"].value("type", "");
      stage = Stage::in_block;
    } else if (name == "content_block_delta") {
      FUZZ_REQUIRE(stage == Stage::in_block && index == next_block);
      const std::string type = data["delta"].value("type", "");
      FUZZ_REQUIRE(
          (block_type == "text" && type == "text_delta") ||
          (block_type == "thinking" && (type == "thinking_delta" || type == "signature_delta")) ||
          (block_type == "tool_use" && type == "input_json_delta"));
    } else if (name == "content_block_stop") {
      FUZZ_REQUIRE(stage == Stage::in_block && index == next_block);
      ++next_block;
      stage = Stage::in_message;
    } else if (name == "message_delta") {
      FUZZ_REQUIRE(stage == Stage::in_message);
      stage = Stage::after_delta;
    } else {
      FUZZ_REQUIRE(name == "message_stop" && stage == Stage::after_delta);
      stage = Stage::done;
    }
  }
  FUZZ_REQUIRE(stage == Stage::done);
}

// Read `body` as a request and as an answer: only the documented exceptions may come out, and
// what is read must be writable.
void read_json(const json& body) {
  const Family& family = anthropic_family();
  try {
    const ir::Conversation conversation = family.read_request(body, RequestSite{});
    const WireRequest request = family.write_request(conversation);
    FUZZ_REQUIRE(!json::parse(request.body, nullptr, false).is_discarded());
  } catch (const ir::Untranslatable&) {
  } catch (const std::invalid_argument&) {
  }
  try {
    const ir::Answer answer = family.read_answer(body);
    const std::string written = family.write_answer(answer, ir::Conversation{});
    FUZZ_REQUIRE(!json::parse(written, nullptr, false).is_discarded());
  } catch (const std::invalid_argument&) {
  }
  family.read_error_message(body);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider data(bytes, size);
  const std::vector<uint8_t> cut_sizes =
      data.ConsumeBytes<uint8_t>(data.ConsumeIntegral<uint8_t>());
  const std::string stream = data.ConsumeRemainingBytesAsString();
  const Family& family = anthropic_family();

  std::vector<ir::Event> whole;
  auto reader = family.stream_reader();
  reader->feed(stream, whole);
  reader->finish(whole);

  std::vector<ir::Event> cut;
  reader = family.stream_reader();
  size_t at = 0, next = 0;
  while (at < stream.size()) {
    const size_t length = cut_sizes.empty() ? 1 : 1 + cut_sizes[next++ % cut_sizes.size()] % 16;
    reader->feed(std::string_view(stream).substr(at, length), cut);
    at += length;
  }
  reader->finish(cut);
  FUZZ_REQUIRE(same_events(whole, cut));

  ir::Conversation request;
  request.model = "claude";
  auto writer = family.stream_writer(request, RequestSite{});
  std::string out;
  for (const ir::Event& event : whole) {
    writer->write(event, out);
  }
  writer->finish(out);
  check_stream(out);

  // Any sequence of events, not only a reader's, makes a valid stream.
  writer = family.stream_writer(request, RequestSite{});
  out.clear();
  for (const uint8_t byte : cut_sizes) {
    ir::Event event;
    event.kind = static_cast<ir::Event::Kind>(byte % 8);
    event.index = byte / 8 % 4;
    event.text = byte / 32 % 2 == 0 ? "" : "t\xff";
    event.redacted = byte / 64 % 2 == 1;
    event.status = byte;
    writer->write(event, out);
  }
  writer->finish(out);
  check_stream(out);

  read_json(json::parse(stream, nullptr, false));
  return 0;
}
