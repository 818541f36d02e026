#include "server/upstream/key_pool.hpp"
#include "server/upstream/routing.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace agproxy;
using namespace std::string_literals;

TEST_CASE("glob_match") {
  struct Row {
    const char* pattern;
    const char* text;
    bool match;
  };
  const Row table[] = {
      {"gpt-*", "gpt-4o", true},
      {"gpt-*", "gpt-", true},
      {"gpt-*", "o3", false},
      {"o?", "o3", true},
      {"o?", "o33", false},
      {"*", "", true},
      {"*mini", "gpt-4o-mini", true},
      {"g*-*-mini", "gpt-4o-mini", true},
      {"claude", "claude", true},
      {"claude", "claude-3", false},
      // Wildcards never match '/' (DESIGN §11): a pattern cannot reach another path segment.
      {"*", "a/b", false},
      {"gemini-1.5-*", "gemini-1.5-flash/../x", false},
      {"o?b", "o/b", false},
      {"org/*", "org/model", true},
  };
  for (const Row& row : table) {
    CAPTURE(row.pattern);
    CAPTURE(row.text);
    CHECK(glob_match(row.pattern, row.text) == row.match);
  }
}

TEST_CASE("requested_model") {
  CHECK(requested_model(Protocol::openai, "/v1/chat/completions", R"({"model":"gpt-4o"})") ==
        std::optional<std::string>("gpt-4o"));
  CHECK(requested_model(Protocol::anthropic, "/v1/messages", R"({"model":"claude-x"})") ==
        std::optional<std::string>("claude-x"));
  CHECK(requested_model(Protocol::gemini, "/v1beta/models/gemini-2.5-flash:generateContent", "") ==
        std::optional<std::string>("gemini-2.5-flash"));
  CHECK(requested_model(Protocol::gemini, "/v1/models/gemini-pro:streamGenerateContent", "{}") ==
        std::optional<std::string>("gemini-pro"));
  CHECK_FALSE(requested_model(Protocol::openai, "/v1/files", ""));
  CHECK_FALSE(requested_model(Protocol::openai, "/v1/chat/completions", "not json"));
  CHECK_FALSE(requested_model(Protocol::openai, "/v1/chat/completions", R"({"model":3})"));
  // Only the top object's "model" counts, the last one as in a parsed document, and only in a
  // body that is valid JSON throughout.
  const auto model_of = [](std::string_view body) {
    return requested_model(Protocol::openai, "/v1/chat/completions", body);
  };
  CHECK(model_of(R"({"messages":[{"model":"inner"}],"model":"outer","x":{"model":"y"}})") ==
        std::optional<std::string>("outer"));
  CHECK_FALSE(model_of(R"({"a":{"model":"nested"}})"));
  CHECK(model_of(R"({"model":"a","model":"b"})") == std::optional<std::string>("b"));
  CHECK_FALSE(model_of(R"({"model":"a","model":3})"));
  CHECK_FALSE(model_of(R"({"model":"a","model":{"id":"b"}})"));
  CHECK_FALSE(model_of(R"({"model":"a","model":["b"]})"));
  CHECK(model_of(R"({"model":["b"],"model":"c"})") == std::optional<std::string>("c"));
  CHECK_FALSE(model_of(R"([{"model":"a"}])"));
  CHECK_FALSE(model_of(R"("model")"));
  CHECK_FALSE(model_of(R"({"model":"a"} trailing)"));
  CHECK_FALSE(model_of(R"({"model":"a")"));
  CHECK(model_of(R"({"model":"été"})") == std::optional<std::string>("été"));
}

TEST_CASE("read_model: what cannot be routed safely is malformed") {
  const auto read = [](std::string_view body, std::string_view type = {}) {
    return read_model(Protocol::openai, "/v1/chat/completions", body, type);
  };
  // A provider's parser may read these otherwise (or read "model" where agproxy reads nothing).
  CHECK(read(R"({"model":"o1-pro","n":1e999})").malformed);
  CHECK(read(R"({"model":"gpt-4o","t":NaN})").malformed);
  CHECK(read(R"({"model":"gpt-4o","t":Infinity})").malformed);
  CHECK(read("hello").malformed);
  CHECK(read(R"({"model":"a")").malformed);
  // JSON without a model, or not an object, names none; multipart is not read.
  CHECK_FALSE(read(R"({"messages":[]})").malformed);
  CHECK_FALSE(read(R"({"messages":[]})").model);
  CHECK_FALSE(read("[1,2]").malformed);
  CHECK(read("[1,").malformed);
  CHECK_FALSE(read("").malformed);
  CHECK_FALSE(read("--x\r\nmodel\r\n", "multipart/form-data; boundary=x").malformed);
  CHECK(read(R"({"model":"gpt-4o"})").model == std::optional<std::string>("gpt-4o"));
  // A Gemini model segment is a model name, as sent.
  const auto gemini = [](std::string_view path) {
    return read_model(Protocol::gemini, path, "", {});
  };
  CHECK(gemini("/v1beta/models/gemini-2.5-flash:generateContent").model ==
        std::optional<std::string>("gemini-2.5-flash"));
  CHECK(gemini("/v1beta/models/a/b:generateContent").malformed);
  CHECK(gemini("/v1beta/models/gemini@1.5:generateContent").malformed);
  CHECK(gemini("/v1beta/models/gemini%2D1.5:generateContent").malformed);
  CHECK(gemini("/v1beta/models/:generateContent").malformed);
  CHECK_FALSE(gemini("/v1beta/files").malformed);
}

TEST_CASE("read_model: the body is judged and its model read exactly as nlohmann's parser would") {
  // The largest double's neighbourhood: 2^1024 - 2^970 is the least number strtod rounds to
  // infinity (nlohmann refuses it: "number overflow"); one less is DBL_MAX.
  const std::string overflow =
      "17976931348623158079372897140530341507993413271003782693617377898044496829276475094664901797"
      "75872070963302864166928879109465555478519404026306574886715058206819089020007083836762738548"
      "45817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711"
      "559699508093042880177904174497792";
  std::string below = overflow;
  below.back() = '1';
  const std::string deep_arrays = std::string(100000, '[') + std::string(100000, ']');
  std::string deep_objects;
  for (int i = 0; i < 100000; ++i) {
    deep_objects += R"({"model":)";
  }
  deep_objects += R"("inner")" + std::string(100000, '}');
  struct Row {
    std::string body;
    bool malformed;
    std::optional<std::string> model;
  };
  const std::optional<std::string> none;
  const Row table[] = {
      // Which "model": the last of the top object's, by its decoded key; nested ones are not.
      {R"({"model":"gpt-4o"})", false, "gpt-4o"},
      {R"({"mod\u0065l":"escaped-key"})", false, "escaped-key"},
      {R"({"\u006d\u006f\u0064\u0065\u006c":"all-escaped"})", false, "all-escaped"},
      {R"({"model\u0000":"x"})", false, none},
      {R"({"Model":"x"})", false, none},
      {R"({"model ":"x"})", false, none},
      {R"({"model":"a","model":"b"})", false, "b"},
      {R"({"model":"a","model":null})", false, none},
      {R"({"model":"a","model":false})", false, none},
      {R"({"model":"a","model":-1.5e3})", false, none},
      {R"({"model":"a","model":{}})", false, none},
      {R"({"model":"a","model":[]})", false, none},
      {R"({"model":{"model":"b"}})", false, none},
      {R"({"model":[],"model":"c"})", false, "c"},
      {R"({"a":{"model":"x"},"b":[{"model":"y"}]})", false, none},
      {R"({"a":{"model":"x"},"model":"top","b":{"model":"y"}})", false, "top"},
      {R"({})", false, none},
      {R"({"":"","model":""})", false, ""},
      // The model decoded: escapes, \u, surrogate pairs, raw UTF-8.
      {R"({"model":"\u00e9t\u00e9"})", false, "été"},
      {R"({"model":"\ud83d\ude00"})", false, "😀"},
      {R"({"model":"\uD83D\uDE00"})", false, "😀"},
      {R"({"model":"\udbff\udfff"})", false, "\xF4\x8F\xBF\xBF"},
      {R"({"model":"a\"b\\c\/d\b\f\n\r\t"})", false, "a\"b\\c/d\b\f\n\r\t"},
      {R"({"model":"a\u0000b"})", false, "a\0b"s},
      {"{\"model\":\"caf\xC3\xA9 \xEF\xBF\xBF \xF4\x8F\xBF\xBF \x7F\"}", false,
       "caf\xC3\xA9 \xEF\xBF\xBF \xF4\x8F\xBF\xBF \x7F"},
      // Whitespace, a byte order mark, and a NUL that ends the input for nlohmann.
      {" \t\r\n{ \"model\" \n:\t\"ws\" , \"n\" : 1 }\r\n ", false, "ws"},
      {"\xEF\xBB\xBF{\"model\":\"bom\"}", false, "bom"},
      {"\xEF\xBB{\"model\":\"bom\"}", true, none},
      {"{\"model\":\"m\"}\0 junk"s, false, "m"},
      {"{\"model\":\"m\"} \0"s, false, "m"},
      {"1\0x"s, false, none},
      {"\0"s, true, none},
      {"{\"model\":\"m\"\0}"s, true, none},
      {" ", true, none},
      // Not objects: JSON naming no model, or not JSON.
      {"[]", false, none},
      {R"([{"model":"a"}])", false, none},
      {R"("model")", false, none},
      {"3", false, none},
      {"null", false, none},
      {"true", false, none},
      {"[1,]", true, none},
      {"[1 2]", true, none},
      // Broken structure and trailing garbage.
      {R"({"model":"m"} junk)", true, none},
      {R"({"model":"m"},)", true, none},
      {R"({"model":"m"}})", true, none},
      {R"({"model":"m",})", true, none},
      {R"({"model":"m")", true, none},
      {R"({"model":"m)", true, none},
      {R"({"model" "m"})", true, none},
      {R"({"model":})", true, none},
      {R"({model:"m"})", true, none},
      {R"({'model':'m'})", true, none},
      {R"({,"model":"m"})", true, none},
      {R"([}])", true, none},
      {R"({"a":[}})", true, none},
      {"// c\n{\"model\":\"m\"}", true, none},
      {"/* c */{\"model\":\"m\"}", true, none},
      {R"({"model":"m"}/**/)", true, none},
      // Literals.
      {R"({"model":"m","t":tru})", true, none},
      {R"({"model":"m","t":True})", true, none},
      {R"({"model":"m","t":nul})", true, none},
      {R"({"model":"m","t":NaN})", true, none},
      {R"({"model":"m","t":Infinity})", true, none},
      {R"({"model":"m","t":-Infinity})", true, none},
      {R"({"model":"m","t":truex})", true, none},
      // Numbers: RFC 8259's grammar, and none that a double cannot hold.
      {R"({"model":"m","n":-0})", false, "m"},
      {R"({"model":"m","n":0.5e-3})", false, "m"},
      {R"({"model":"m","n":1E+2})", false, "m"},
      {R"({"model":"m","n":18446744073709551616})", false, "m"},
      {R"({"model":"m","n":-9223372036854775809})", false, "m"},
      {R"({"model":"m","n":1e-400})", false, "m"},
      {R"({"model":"m","n":0e99999999999999999999})", false, "m"},
      {R"({"model":"m","n":0.000e400})", false, "m"},
      {R"({"model":"m","n":1e308})", false, "m"},
      {R"({"model":"m","n":1.7976931348623157e308})", false, "m"},
      {R"({"model":"m","n":0.0001e312})", false, "m"},
      {R"({"model":"m","n":1000e305})", false, "m"},
      {R"({"model":"m","n":1.8e308})", true, none},
      {R"({"model":"m","n":1e309})", true, none},
      {R"({"model":"m","n":1e400})", true, none},
      {R"({"model":"m","n":-1e400})", true, none},
      {R"({"model":"m","n":1e99999999999999999999999})", true, none},
      {R"({"model":"m","n":10000e305})", true, none},
      {R"({"model":"m","n":)" + std::string(400, '9') + "}", true, none},
      {R"({"model":"m","n":)" + overflow + "}", true, none},
      {R"({"model":"m","n":-)" + overflow + "}", true, none},
      {R"({"model":"m","n":)" + overflow + "0e-1}", true, none},
      {R"({"model":"m","n":)" + overflow.substr(0, 1) + "." + overflow.substr(1) + "e308}", true,
       none},
      {R"({"model":"m","n":)" + below + "}", false, "m"},
      {R"({"model":"m","n":)" + below + ".999999999999999999999}", false, "m"},
      {R"({"model":"m","n":0.)" + below + "e309}", false, "m"},
      {R"({"model":"m","n":01})", true, none},
      {R"({"model":"m","n":-01})", true, none},
      {R"({"model":"m","n":1.})", true, none},
      {R"({"model":"m","n":.5})", true, none},
      {R"({"model":"m","n":+1})", true, none},
      {R"({"model":"m","n":1e})", true, none},
      {R"({"model":"m","n":1e+})", true, none},
      {R"({"model":"m","n":-})", true, none},
      {R"({"model":"m","n":0x10})", true, none},
      {R"({"model":"m","n":1.5.2})", true, none},
      // Strings: escapes, surrogates, control characters, UTF-8 (RFC 3629).
      {R"({"model":"m","s":"\x41"})", true, none},
      {R"({"model":"m","s":"\U0041"})", true, none},
      {R"({"model":"m","s":"\u00G0"})", true, none},
      {R"({"model":"m","s":"\u004"})", true, none},
      {R"({"model":"m","s":"\ud800"})", true, none},
      {R"({"model":"m","s":"\udc00"})", true, none},
      {R"({"model":"m","s":"\ud800\u0041"})", true, none},
      {R"({"model":"m","s":"\ud800\ud800"})", true, none},
      {R"({"model":"m","s":"\ud800\n"})", true, none},
      {R"({"model":"m","s":"\udc00\ud800"})", true, none},
      {R"({"model":"\ud800"})", true, none},
      {R"({"mod\ud800el":"m"})", true, none},
      {"{\"model\":\"m\",\"s\":\"tab\there\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"nl\nhere\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\x1F\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\0\"}"s, true, none},
      {"{\"model\":\"m\",\"s\":\"\x80\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\xC0\x80\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\xC1\xBF\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\xC3\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\xE0\x9F\xBF\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\xED\xA0\x80\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\xED\x9F\xBF\"}", false, "m"},
      {"{\"model\":\"m\",\"s\":\"\xF0\x8F\xBF\xBF\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\xF0\x90\x80\x80\"}", false, "m"},
      {"{\"model\":\"m\",\"s\":\"\xF4\x90\x80\x80\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\xF5\x80\x80\x80\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\xF0\x9F\x98\"}", true, none},
      {"{\"model\":\"m\",\"s\":\"\xFF\"}", true, none},
      {"{\"model\":\"m\",\"\xC3\xA9\":1}", false, "m"},
      {"{\"model\":\"m\",\"\xC3\":1}", true, none},
      {"{\"model\":\"m\"}\xC3\xA9", true, none},
      // Deep nesting: no limit, and no recursion (100,000 levels).
      {deep_arrays, false, none},
      {"{\"model\":\"m\",\"a\":" + deep_arrays + "}", false, "m"},
      {deep_objects, false, none},
      {std::string(100000, '['), true, none},
      {std::string(100000, '[') + std::string(99999, ']') + "}", true, none},
  };
  for (const Row& row : table) {
    CAPTURE(row.body.substr(0, 120));
    const ModelRead read = read_model(Protocol::openai, "/v1/chat/completions", row.body);
    CHECK(read.malformed == row.malformed);
    CHECK(read.model == row.model);
    // The row's expectation is nlohmann's own verdict.
    const nlohmann::json document = nlohmann::json::parse(row.body, nullptr, false);
    CHECK(document.is_discarded() == row.malformed);
    const bool has_model =
        document.is_object() && document.contains("model") && document["model"].is_string();
    CHECK(has_model == row.model.has_value());
    if (has_model && row.model) {
      CHECK(document["model"].get<std::string>() == *row.model);
    }
  }
}

TEST_CASE("choose_upstream: protocol, then model_map, then globs; first match wins") {
  const auto upstream = [](const char* name, Protocol protocol, std::vector<std::string> models,
                           std::vector<std::pair<std::string, std::string>> model_map = {}) {
    Upstream made;
    made.name = name;
    made.protocol = protocol;
    made.base_url = "http://a";
    made.models = std::move(models);
    made.model_map = std::move(model_map);
    return made;
  };
  const std::vector<Upstream> upstreams = {
      upstream("claude", Protocol::anthropic, {}),
      upstream("mini", Protocol::openai, {"gpt-*-mini"}, {{"fast", "gpt-4o-mini"}}),
      upstream("rest", Protocol::openai, {}),
      upstream("late", Protocol::openai, {"gpt-4o"}),
  };
  auto route = choose_upstream(upstreams, Protocol::openai, std::string("fast"));
  REQUIRE(route);
  CHECK(route->upstream == 1);
  CHECK(route->model == std::optional<std::string>("gpt-4o-mini"));
  CHECK(choose_upstream(upstreams, Protocol::openai, std::string("gpt-4o-mini"))->upstream == 1);
  CHECK(choose_upstream(upstreams, Protocol::openai, std::string("gpt-4o"))->upstream == 2);
  CHECK(choose_upstream(upstreams, Protocol::anthropic, std::string("anything"))->upstream == 0);
  // A request without a model never reaches an upstream that restricts its models.
  CHECK(choose_upstream(upstreams, Protocol::openai, std::nullopt)->upstream == 2);
  CHECK_FALSE(choose_upstream(upstreams, Protocol::gemini, std::string("gemini")));
}

namespace {

Upstream upstream_of(const char* name, Protocol protocol, std::vector<std::string> models,
                     std::vector<std::pair<std::string, std::string>> model_map = {}) {
  Upstream made;
  made.name = name;
  made.protocol = protocol;
  made.base_url = "http://a";
  made.models = std::move(models);
  made.model_map = std::move(model_map);
  return made;
}

} // namespace

TEST_CASE("choose_upstream: other families only for translatable requests (DESIGN §6)") {
  const std::vector<Upstream> upstreams = {
      upstream_of("gemini", Protocol::gemini, {"gemini-*"}, {{"claude-*haiku*", "gemini-flash"}}),
      upstream_of("chat", Protocol::openai, {}),
      upstream_of("claude", Protocol::anthropic, {}),
  };
  // A model listed by another family's upstream is served there, translated.
  auto route = choose_upstream(upstreams, Protocol::anthropic, std::string("gemini-pro"), true);
  REQUIRE(route);
  CHECK(route->upstream == 0);
  CHECK(route->model == std::optional<std::string>("gemini-pro"));
  // A glob model_map key maps across families.
  route = choose_upstream(upstreams, Protocol::anthropic, std::string("claude-3-5-haiku"), true);
  REQUIRE(route);
  CHECK(route->upstream == 0);
  CHECK(route->model == std::optional<std::string>("gemini-flash"));
  // Not translatable (say, embeddings): only the request's own family.
  route = choose_upstream(upstreams, Protocol::anthropic, std::string("gemini-pro"), false);
  REQUIRE(route);
  CHECK(route->upstream == 2);
  // An upstream without models serves any model of its own family only: a Gemini request for an
  // unlisted model does not reach the OpenAI or Anthropic upstreams.
  CHECK_FALSE(choose_upstream(upstreams, Protocol::gemini, std::string("other"), true));
  // The two OpenAI APIs are one family: Responses requests reach a Chat Completions upstream.
  route = choose_upstream(upstreams, Protocol::openai_responses, std::string("gpt-5"), true);
  REQUIRE(route);
  CHECK(route->upstream == 1);
  CHECK(choose_upstream(upstreams, Protocol::openai_responses, std::nullopt, false)->upstream == 1);
}

TEST_CASE("map_model: exact key, then the most specific glob, then file order") {
  const Upstream upstream = upstream_of("u", Protocol::openai, {},
                                        {{"claude-*", "general"},
                                         {"claude-*haiku*", "small"},
                                         {"claude-*sonnet*", "medium"},
                                         {"claude-*-sonnet-*", "medium-2"},
                                         {"claude-3-haiku", "exact"},
                                         {"g?t", "one"},
                                         {"g*t", "two"}});
  CHECK(map_model(upstream, "claude-3-haiku") == std::optional<std::string>("exact"));
  CHECK(map_model(upstream, "claude-3-5-haiku-latest") == std::optional<std::string>("small"));
  CHECK(map_model(upstream, "claude-opus-4") == std::optional<std::string>("general"));
  CHECK(map_model(upstream, "claude-4-sonnet-x") == std::optional<std::string>("medium-2"));
  CHECK(map_model(upstream, "claude-sonnet") == std::optional<std::string>("medium"));
  CHECK(map_model(upstream, "gat") == std::optional<std::string>("one")); // same literals: order
  CHECK_FALSE(map_model(upstream, "gpt-4"));
}

TEST_CASE("request rewriting and header filters") {
  CHECK(replace_path_model("/v1beta/models/alias:generateContent", "real") ==
        "/v1beta/models/real:generateContent");
  // Spliced: the rest of the body as the client wrote it, whatever nlohmann would reformat.
  struct Splice {
    std::string body;
    std::optional<std::string> spliced;
  };
  const Splice splices[] = {
      {R"({"model":"alias","stream":true})", R"({"model":"real","stream":true})"},
      {"[]", std::nullopt},
      {R"({"stream":true, "model" : "alias" ,"n":1.50})",
       R"({"stream":true, "model" : "real" ,"n":1.50})"},
      {R"({"model":"a","x":{"model":"inner"},"model":"b"})",
       R"({"model":"real","x":{"model":"inner"},"model":"real"})"},
      {R"({"mod\u0065l":"alias"})", R"({"mod\u0065l":"real"})"},
      {R"({"model":{"id":[1,{}]},"n":2})", R"({"model":"real","n":2})"},
      {R"({"model":[],"model":null})", R"({"model":"real","model":"real"})"},
      {R"({"n":1})", R"({"model":"real","n":1})"},
      {R"( { } )", R"( {"model":"real" } )"},
      {"\xEF\xBB\xBF{\"model\":\"a\"}\n", "\xEF\xBB\xBF{\"model\":\"real\"}\n"},
      {R"([{"model":"a"}])", std::nullopt},
      {R"({"model":"a"} x)", std::nullopt},
      {R"("model")", std::nullopt},
  };
  for (const Splice& row : splices) {
    CAPTURE(row.body);
    std::string body = row.body;
    CHECK(replace_body_model(body, "real") == row.spliced.has_value());
    CHECK(body == row.spliced.value_or(row.body));
    if (row.spliced) {
      nlohmann::json expected = nlohmann::json::parse(row.body);
      expected["model"] = "real";
      CHECK(nlohmann::json::parse(body) == expected);
    }
  }
  std::string escaped = R"({"model":"a"})";
  CHECK(replace_body_model(escaped, "r\"\u00e9\n"));
  CHECK(escaped == "{\"model\":\"r\\\"\u00e9\\n\"}");
  CHECK(strip_key_parameter("key=secret&alt=sse") == "alt=sse");
  CHECK(strip_key_parameter("alt=sse&key=secret") == "alt=sse");
  CHECK(strip_key_parameter("monkey=1&key=2") == "monkey=1");
  CHECK(strip_key_parameter("") == "");
  // The name as a server decodes it: an encoded key= is a key too.
  CHECK(strip_key_parameter("%6Bey=secret&alt=sse") == "alt=sse");
  CHECK(strip_key_parameter("alt=sse&KEY=secret&k%65y=s") == "alt=sse");
  CHECK(strip_key_parameter("key") == "");
  for (const char* name :
       {"Authorization", "x-api-key", "X-Goog-Api-Key", "api-key", "Host", "Connection",
        "Content-Length", "Transfer-Encoding", "Accept-Encoding", "x-agproxy-upstream", "Cookie",
        "Forwarded", "X-Forwarded-For", "x-forwarded-host", "X-Real-IP", "Origin"}) {
    CAPTURE(name);
    CHECK_FALSE(forwarded_request_header(name));
  }
  CHECK(forwarded_request_header("anthropic-version"));
  CHECK(forwarded_request_header("Content-Type"));
  CHECK_FALSE(forwarded_response_header("x-agproxy-upstream"));
  CHECK_FALSE(forwarded_response_header("Transfer-Encoding"));
  CHECK(forwarded_response_header("x-request-id"));
  CHECK_FALSE(forwarded_response_header("Access-Control-Allow-Origin"));
  CHECK(credential_header(Protocol::openai, "k") ==
        std::make_pair(std::string("Authorization"), std::string("Bearer k")));
  CHECK(credential_header(Protocol::anthropic, "k").first == "x-api-key");
  CHECK(credential_header(Protocol::gemini, "k").first == "x-goog-api-key");
}

TEST_CASE("KeyPool: round-robin, rests, soonest recovery") {
  KeyPool pool({"a", "b", "c"});
  const auto t0 = KeyPool::Clock::now();
  CHECK(pool.next(t0, {}) == std::optional<size_t>(0));
  CHECK(pool.next(t0, {}) == std::optional<size_t>(1));
  CHECK(pool.next(t0, {}) == std::optional<size_t>(2));
  CHECK(pool.next(t0, {}) == std::optional<size_t>(0));
  pool.rest(1, std::chrono::seconds(10), t0);
  CHECK(pool.next(t0, {}) == std::optional<size_t>(2));  // 1 is resting
  CHECK(pool.next(t0, {2}) == std::optional<size_t>(0)); // 2 was tried
  pool.rest(0, std::chrono::seconds(5), t0);
  pool.rest(2, std::chrono::seconds(20), t0);
  CHECK_FALSE(pool.next(t0, {}));
  CHECK_FALSE(pool.any_usable(t0));
  CHECK(pool.soonest_usable(t0) == t0 + std::chrono::seconds(5));
  CHECK(pool.any_usable(t0 + std::chrono::seconds(5)));
  CHECK(pool.next(t0 + std::chrono::seconds(6), {}) == std::optional<size_t>(0));
  pool.rest(0, std::chrono::seconds(1), t0); // never shortens a longer rest
  CHECK(pool.soonest_usable(t0) == t0 + std::chrono::seconds(5));
}

TEST_CASE("parse_retry_after") {
  const auto now = std::chrono::system_clock::from_time_t(1'800'000'000);
  CHECK(parse_retry_after("7", now) == std::optional<std::chrono::seconds>(7));
  const time_t date = 1'800'000'030; // 30 s after now
  char text[64];
  std::tm utc{};
  gmtime_r(&date, &utc);
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  CHECK(parse_retry_after(text, now) == std::optional<std::chrono::seconds>(30));
  CHECK_FALSE(parse_retry_after("", now));
  CHECK_FALSE(parse_retry_after("soon", now));
  // Found by tests/fuzz: a date in the year 20000 overflowed the clock; it is capped instead.
  CHECK(parse_retry_after("Wed, 21 Oct 20000 07:28:00 GMT", now) ==
        std::optional<std::chrono::seconds>(999'999'999));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) ==
        std::optional<std::chrono::seconds>(0));
}
