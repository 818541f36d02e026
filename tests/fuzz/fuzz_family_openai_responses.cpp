// libFuzzer target: the OpenAI Responses family. A provider stream must decode to the same events
// however it was cut, those events must make a valid Responses stream for a client, and reading
// any JSON as a request or an answer may only fail with the documented exceptions.
#include "server/protocols/family.hpp"
#include "tests/fuzz/require.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <string>
#include <vector>

using namespace agproxy;

namespace {

bool same(const ir::Event& a, const ir::Event& b) {
  return a.kind == b.kind && a.index == b.index && a.text == b.text && a.id == b.id &&
         a.model == b.model && a.name == b.name && a.signature == b.signature &&
         a.redacted == b.redacted && a.finish == b.finish && a.usage.input == b.usage.input &&
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

// Check that `bytes` is a Responses stream as Codex reads it: "event: T\ndata: JSON\n\n" blocks
// whose data has type T and sequence numbers 0, 1, …, response.created first and exactly one
// response.completed or response.failed, last.
void require_valid_stream(const std::string& bytes) {
  size_t at = 0, count = 0;
  std::string last;
  while (at < bytes.size()) {
    const size_t end = bytes.find("\n\n", at);
    FUZZ_REQUIRE(end != std::string::npos);
    const std::string block = bytes.substr(at, end - at);
    at = end + 2;
    const size_t newline = block.find('\n');
    FUZZ_REQUIRE(newline != std::string::npos);
    FUZZ_REQUIRE(block.starts_with("event: "));
    FUZZ_REQUIRE(block.compare(newline + 1, 6, "data: ") == 0);
    const ir::json data = ir::json::parse(block.substr(newline + 7), nullptr, false);
    FUZZ_REQUIRE(data.is_object());
    FUZZ_REQUIRE(data["type"] == block.substr(7, newline - 7));
    FUZZ_REQUIRE(data["sequence_number"] == count);
    FUZZ_REQUIRE(count > 0 || data["type"] == "response.created");
    FUZZ_REQUIRE(last != "response.completed" && last != "response.failed");
    last = data["type"];
    ++count;
  }
  FUZZ_REQUIRE(last == "response.completed" || last == "response.failed");
}

void read_as_json(const std::string& text) {
  const ir::json body = ir::json::parse(text, nullptr, false);
  if (body.is_discarded()) {
    return;
  }
  const Family& family = openai_responses_family();
  try {
    const ir::Conversation conversation = family.read_request(body, RequestSite{"m"});
    FUZZ_REQUIRE(
        !ir::json::parse(family.write_request(conversation).body, nullptr, false).is_discarded());
  } catch (const std::invalid_argument&) {
  } catch (const ir::Untranslatable&) {
  }
  try {
    const ir::Answer answer = family.read_answer(body);
    FUZZ_REQUIRE(!ir::json::parse(family.write_answer(answer, {}), nullptr, false).is_discarded());
  } catch (const std::invalid_argument&) {
  }
  family.read_error_message(body);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider data(bytes, size);
  const std::string cuts = data.ConsumeRandomLengthString(32);
  const std::string stream = data.ConsumeRemainingBytesAsString();
  const Family& family = openai_responses_family();

  std::vector<ir::Event> whole;
  auto reader = family.stream_reader();
  reader->feed(stream, whole);
  reader->finish(whole);

  std::vector<ir::Event> chunked;
  auto cut_reader = family.stream_reader();
  size_t at = 0, next_cut = 0;
  while (at < stream.size()) {
    const size_t length =
        cuts.empty() ? 1 : 1 + static_cast<unsigned char>(cuts[next_cut++ % cuts.size()]) % 23;
    cut_reader->feed(std::string_view(stream).substr(at, length), chunked);
    at += length;
  }
  cut_reader->finish(chunked);
  FUZZ_REQUIRE(same(whole, chunked));

  auto writer = family.stream_writer(ir::Conversation{}, RequestSite{"m"});
  std::string written;
  for (const ir::Event& event : whole) {
    writer->write(event, written);
  }
  writer->finish(written);
  require_valid_stream(written);

  read_as_json(stream);
  return 0;
}
