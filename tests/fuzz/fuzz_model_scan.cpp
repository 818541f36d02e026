// libFuzzer target: the JSON scan that routing reads a body's "model" with, against nlohmann's
// parser (a document, which keeps the last of duplicate keys): the same verdict on whether the
// bytes are JSON, and the same model, for any bytes; and the model spliced into a body makes the
// document nlohmann would.
#include "server/upstream/json_scan.hpp"
#include "server/upstream/routing.hpp"
#include "tests/fuzz/require.hpp"

#include <nlohmann/json.hpp>
#include <string_view>

using namespace agproxy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(bytes), size);
  const nlohmann::json document = nlohmann::json::parse(body, nullptr, false);
  std::optional<std::string> expected;
  if (document.is_object()) {
    const auto model = document.find("model");
    if (model != document.end() && model->is_string()) {
      expected = model->get<std::string>();
    }
  }
  const JsonScan scan = scan_json_member(body, "model");
  FUZZ_REQUIRE(scan.valid == !document.is_discarded());
  FUZZ_REQUIRE(scan.valid == nlohmann::json::accept(body));
  FUZZ_REQUIRE(scan.member == expected);
  // The model spliced in: the same document as nlohmann's with its "model" set.
  std::string spliced(body);
  FUZZ_REQUIRE(replace_body_model(spliced, "real") == document.is_object());
  if (document.is_object()) {
    nlohmann::json expected_document = document;
    expected_document["model"] = "real";
    FUZZ_REQUIRE(nlohmann::json::parse(spliced, nullptr, false) == expected_document);
  } else {
    FUZZ_REQUIRE(spliced == body);
  }
  if (!body.empty()) {
    const ModelRead read = read_model(Protocol::openai, "/v1/chat/completions", body);
    FUZZ_REQUIRE(read.malformed == document.is_discarded());
    FUZZ_REQUIRE(read.model == expected);
  }
  return 0;
}
