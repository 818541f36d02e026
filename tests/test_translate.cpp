// Translation between API families through the real binary (DESIGN §6): what the provider got,
// what the client got back, and the errors, against the fake provider on a loopback port.
#include "server/protocols/translate.hpp"
#include "tests/fake_provider.hpp"
#include "tests/support.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

using namespace agproxy::test;
using nlohmann::json;

namespace {

json upstream(const std::string& name, const std::string& protocol, const std::string& url,
              const std::string& key, std::vector<std::string> models) {
  return {{"name", name},
          {"protocol", protocol},
          {"base_url", url},
          {"api_keys", {key}},
          {"models", std::move(models)}};
}

struct Gateway {
  TempDir dir;
  std::unique_ptr<ServeProcess> server;

  explicit Gateway(const json& upstreams) {
    write_text(
        dir.file("c.json"),
        json{{"proxy", {{"auth_mode", "strict"}, {"api_key", k_key}, {"upstreams", upstreams}}}}
            .dump());
    server = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--config", dir.file("c.json")}, Env{});
  }
  httplib::Result post(const std::string& path, const json& body) const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(15, 0);
    return c.Post(path, {{"Authorization", std::string("Bearer ") + k_key}}, body.dump(),
                  "application/json");
  }
};

json anthropic_request(const std::string& model, const json& content) {
  return {{"model", model},
          {"max_tokens", 100},
          {"messages", json::array({{{"role", "user"}, {"content", content}}})}};
}

} // namespace

TEST_CASE("translate: anthropic client, openai provider: request and answer rewritten") {
  FakeProvider provider;
  Gateway gateway(
      json::array({upstream("oa", "openai", provider.url(), k_provider_canary, {"gpt-*"})}));
  json request = anthropic_request("gpt-4o", "hello across families");
  request["system"] = "Be brief.";
  request["metadata"] = {{"user_id", "u-1"}}; // tunes nothing the provider needs: dropped
  const auto answer = gateway.post("/v1/messages?beta=true", request);
  REQUIRE(answer);
  CHECK(answer->status == 200);
  CHECK(answer->get_header_value("x-agproxy-translation") == "anthropic->openai");
  CHECK(answer->get_header_value("x-agproxy-upstream") == "oa");
  const json body = json::parse(answer->body);
  CHECK(body["type"] == "message");
  CHECK(body["content"][0]["text"] == "hello across families");
  CHECK(body["stop_reason"] == "end_turn");

  const auto seen = provider.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].path == "/v1/chat/completions");
  CHECK(seen[0].query.empty()); // ?beta=true is Anthropic's
  CHECK(seen[0].headers.at("authorization") == std::string("Bearer ") + k_provider_canary);
  CHECK_FALSE(seen[0].headers.contains("x-api-key"));
  CHECK_FALSE(seen[0].headers.contains("anthropic-version"));
  const json sent = json::parse(seen[0].body);
  CHECK(sent["model"] == "gpt-4o");
  CHECK(sent["messages"][0] == json{{"role", "system"}, {"content", "Be brief."}});
  CHECK(sent["messages"][1]["content"] == "hello across families");
  CHECK(sent["max_tokens"] == 100);
  CHECK_FALSE(sent.contains("metadata"));
}

TEST_CASE("translate: provider errors keep their status and come in the client's shape") {
  FakeProvider provider;
  Gateway gateway(
      json::array({upstream("refusing", "openai", provider.url(), k_refused_canary, {"gpt-*"}),
                   upstream("failing", "gemini", provider.url(), k_failing_canary, {"gemini-*"})}));
  // The provider's 401: its message, the Anthropic shape, and not agproxy's realm.
  auto answer = gateway.post("/v1/messages", anthropic_request("gpt-4o", "x"));
  REQUIRE(answer);
  CHECK(answer->status == 401);
  CHECK(answer->get_header_value("WWW-Authenticate").find("agproxy") == std::string::npos);
  json body = json::parse(answer->body);
  CHECK(body["type"] == "error");
  CHECK(body["error"]["type"] == "authentication_error");
  CHECK(body["error"]["message"] == "Incorrect API key provided");
  // A 500 from a Gemini provider to an OpenAI client.
  answer = gateway.post("/v1/chat/completions",
                        {{"model", "gemini-2.5-flash"},
                         {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}});
  REQUIRE(answer);
  CHECK(answer->status == 500);
  body = json::parse(answer->body);
  CHECK(body["error"]["message"] == "internal");
  CHECK(body["error"]["type"] == "server_error");
}

TEST_CASE("translate: what cannot be carried is a 400 naming the field") {
  FakeProvider provider;
  Gateway gateway(
      json::array({upstream("oa", "openai", provider.url(), k_provider_canary, {"gpt-*"}),
                   upstream("an", "anthropic", provider.url(), k_provider_canary, {"claude-*"})}));
  auto answer = gateway.post("/v1/chat/completions",
                             {{"model", "claude-x"},
                              {"n", 3},
                              {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}});
  REQUIRE(answer);
  CHECK(answer->status == 400);
  json body = json::parse(answer->body);
  CHECK(body["error"]["code"] == "untranslatable_field");
  CHECK(contains(body["error"]["message"], "field n;"));
  CHECK(contains(body["error"]["message"], "upstream 'an' speaks anthropic"));
  // The Responses API's server-side conversations cannot reach another family's provider.
  answer = gateway.post(
      "/v1/responses", {{"model", "claude-x"}, {"input", "x"}, {"previous_response_id", "resp_1"}});
  REQUIRE(answer);
  CHECK(answer->status == 400);
  body = json::parse(answer->body);
  CHECK(contains(body["error"]["message"], "previous_response_id"));
  CHECK(provider.requests().empty());
}

TEST_CASE("translate: token counts for another family's provider are estimated here") {
  FakeProvider provider;
  Gateway gateway(
      json::array({upstream("ge", "gemini", provider.url(), k_provider_canary, {"gemini-*"})}));
  const auto answer = gateway.post("/v1/messages/count_tokens",
                                   anthropic_request("gemini-2.5-pro", std::string(400, 'a')));
  REQUIRE(answer);
  CHECK(answer->status == 200);
  CHECK(answer->get_header_value("x-agproxy-translation") == "anthropic->gemini");
  const long long tokens = json::parse(answer->body)["input_tokens"].get<long long>();
  CHECK(tokens >= 100);
  CHECK(tokens < 200);
  CHECK(provider.requests().empty());
}

TEST_CASE("translate: an answer that is not the provider family's is a 502") {
  FakeProvider provider;
  Gateway gateway(
      json::array({upstream("an", "anthropic", provider.url(), k_provider_canary, {"big-*"})}));
  const auto answer = gateway.post(
      "/v1/chat/completions",
      {{"model", "big-100"}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}});
  REQUIRE(answer);
  CHECK(answer->status == 502);
  const json body = json::parse(answer->body);
  CHECK(body["error"]["code"] == "upstream_bad_answer");
  CHECK(contains(body["error"]["message"], "upstream 'an'"));
}

TEST_CASE("translate: a streamed answer is rewritten event by event") {
  FakeProvider provider;
  Gateway gateway(
      json::array({upstream("ge", "gemini", provider.url(), k_provider_canary, {"gemini-*"})}));
  json request = {{"model", "gemini-2.5-flash"},
                  {"stream", true},
                  {"messages", json::array({{{"role", "user"}, {"content", "stream me"}}})}};
  const auto answer = gateway.post("/v1/chat/completions", request);
  REQUIRE(answer);
  CHECK(answer->status == 200);
  CHECK(answer->get_header_value("Content-Type") == "text/event-stream");
  CHECK(answer->get_header_value("x-agproxy-translation") == "openai->gemini");
  std::string text;
  bool done = false;
  size_t start = 0;
  while (start < answer->body.size()) {
    const size_t end = answer->body.find("\n\n", start);
    REQUIRE(end != std::string::npos);
    const std::string event = answer->body.substr(start, end - start);
    start = end + 2;
    if (event.starts_with(":")) {
      continue; // a heartbeat
    }
    REQUIRE(event.starts_with("data: "));
    if (event == "data: [DONE]") {
      done = true;
      continue;
    }
    const json chunk = json::parse(event.substr(6));
    CHECK(chunk["object"] == "chat.completion.chunk");
    if (!chunk["choices"].empty() && chunk["choices"][0]["delta"].contains("content")) {
      text += chunk["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  CHECK(done);
  CHECK(text == "stream me");
  const auto seen = provider.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
  CHECK(seen[0].query == "alt=sse");
  CHECK(seen[0].headers.at("x-goog-api-key") == k_provider_canary);
}

TEST_CASE("translate: model lists in each family's shape") {
  FakeProvider provider;
  json upstreams = json::array({upstream("ge", "gemini", provider.url(), k_provider_canary,
                                         {"gemini-2.5-pro", "gemini-*"})});
  upstreams[0]["model_map"] = {{"claude-*haiku*", "gemini-2.5-flash"},
                               {"fast", "gemini-2.5-flash"}};
  Gateway gateway(upstreams);
  httplib::Client c("127.0.0.1", gateway.server->port());
  const httplib::Headers key = {{"Authorization", std::string("Bearer ") + k_key}};
  httplib::Headers anthropic = key;
  anthropic.emplace("anthropic-version", "2023-06-01");
  // Listed: model_map keys and models that are not globs.
  const auto openai = c.Get("/v1/models", key);
  REQUIRE(openai);
  json body = json::parse(openai->body);
  CHECK(body["object"] == "list");
  REQUIRE(body["data"].size() == 2);
  CHECK(body["data"][0]["id"] == "fast");
  CHECK(body["data"][1]["id"] == "gemini-2.5-pro");
  const auto claude = c.Get("/v1/models", anthropic);
  REQUIRE(claude);
  body = json::parse(claude->body);
  REQUIRE(body["data"].size() == 2);
  CHECK(body["data"][0]["type"] == "model");
  CHECK(body["data"][0]["id"] == "fast");
  CHECK(body["has_more"] == false);
  CHECK(body["first_id"] == "fast");
  CHECK(body["last_id"] == "gemini-2.5-pro");
  const auto gemini = c.Get("/v1beta/models", key);
  REQUIRE(gemini);
  body = json::parse(gemini->body);
  REQUIRE(body["models"].size() == 2);
  CHECK(body["models"][1]["name"] == "models/gemini-2.5-pro");
}

TEST_CASE("translate: a model that is not a name never reaches a Gemini path") {
  FakeProvider provider;
  Gateway gateway(
      json::array({upstream("ge", "gemini", provider.url(), k_provider_canary, {"gemini-*"})}));
  for (const std::string model : {"gemini-x?alt=sse&key=1", "gemini-%2F..", "gemini-a b"}) {
    CAPTURE(model);
    const auto answer = gateway.post(
        "/v1/chat/completions",
        {{"model", model}, {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}});
    REQUIRE(answer);
    CHECK(answer->status == 400);
    CHECK(contains(json::parse(answer->body)["error"]["message"], "not a model name"));
  }
  CHECK(provider.requests().empty());
}

TEST_CASE("echo: a stream field that is not a boolean is an answer, not a 500") {
  Gateway gateway(json::array());
  const auto answer = gateway.post(
      "/v1/chat/completions", {{"model", "agproxy-echo"},
                               {"stream", "yes"},
                               {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}});
  REQUIRE(answer);
  CHECK(answer->status == 200);
  // (a request the family cannot read is echoed as empty text, as it always was)
  CHECK(json::parse(answer->body)["choices"][0]["message"]["content"] == "");
}

TEST_CASE("translate: a provider stream that breaks off ends in the client's in-stream error") {
  FakeProvider provider;
  Gateway gateway(json::array(
      {upstream("oa", "openai", provider.url(), k_provider_canary, {"reset-*", "gpt-*"})}));
  json request = anthropic_request("reset-3", "x");
  request["stream"] = true;
  auto answer = gateway.post("/v1/messages", request);
  REQUIRE(answer);
  CHECK(answer->status == 200);
  CHECK(contains(answer->body, "event: error"));
  CHECK(contains(answer->body, "broke off"));
  CHECK_FALSE(contains(answer->body, "\"stop_reason\":\"end_turn\""));
  // A whole stream ends as it should, without an error.
  request["model"] = "gpt-4o";
  answer = gateway.post("/v1/messages", request);
  REQUIRE(answer);
  CHECK(contains(answer->body, "event: message_stop"));
  CHECK_FALSE(contains(answer->body, "event: error"));
}

TEST_CASE("translate: a provider's error code survives where the client's shape has a slot") {
  const json request = {{"model", "m"},
                        {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}};
  const agproxy::Translation to_anthropic(agproxy::Protocol::openai, agproxy::Protocol::anthropic,
                                          request, agproxy::RequestSite{}, "m");
  json body = json::parse(to_anthropic.error(
      429, R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})"));
  CHECK(body["error"]["code"] == "rate_limit_error");
  CHECK(body["error"]["message"] == "slow down");
  const agproxy::Translation to_gemini(agproxy::Protocol::openai, agproxy::Protocol::gemini,
                                       request, agproxy::RequestSite{}, "m");
  body = json::parse(to_gemini.error(
      429, R"({"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}})"));
  CHECK(body["error"]["code"] == "RESOURCE_EXHAUSTED");
  CHECK(body["error"]["type"] == "rate_limit_error");
  const agproxy::Translation from_openai(
      agproxy::Protocol::anthropic, agproxy::Protocol::openai,
      json{{"model", "m"},
           {"max_tokens", 5},
           {"messages", json::array({{{"role", "user"}, {"content", "x"}}})}},
      agproxy::RequestSite{}, "m");
  body = json::parse(from_openai.error(
      429,
      R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}})"));
  CHECK(body["type"] == "error");
  CHECK(body["error"]["type"] == "rate_limit_error");
  CHECK(body["error"]["message"] == "You exceeded your current quota");
  // A body that is not JSON: the status says it.
  body = json::parse(to_anthropic.error(503, "<html>"));
  CHECK(body["error"]["code"] == "provider_error");
}

// Claude Code's Read of a screenshot gives a tool_result holding an image: each provider family
// gets it where it takes images from a tool (DESIGN §6), none loses it.
TEST_CASE("translate: an image in a tool result reaches every family's provider") {
  FakeProvider provider;
  Gateway gateway(
      json::array({upstream("oa", "openai", provider.url(), k_provider_canary, {"gpt-*"}),
                   upstream("re", "openai-responses", provider.url(), k_provider_canary, {"o4-*"}),
                   upstream("ge", "gemini", provider.url(), k_provider_canary, {"gemini-*"})}));
  const json image_block = {
      {"type", "image"},
      {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", "iVBORw0KGgo="}}}};
  const auto request = [&](const std::string& model) {
    return json{
        {"model", model},
        {"max_tokens", 100},
        {"messages",
         {{{"role", "user"}, {"content", "What is on the screen?"}},
          {{"role", "assistant"},
           {"content",
            {{{"type", "tool_use"},
              {"id", "toolu_1"},
              {"name", "Read"},
              {"input", {{"file_path", "/tmp/shot.png"}}}}}}},
          {{"role", "user"},
           {"content",
            {{{"type", "tool_result"},
              {"tool_use_id", "toolu_1"},
              {"content", {{{"type", "text"}, {"text", "shot.png, 1 KB"}}, image_block}}}}}}}}};
  };

  SUBCASE("openai: the tool message says where the image went; a user message carries it") {
    const auto answer = gateway.post("/v1/messages", request("gpt-4o"));
    REQUIRE(answer);
    CHECK(answer->status == 200);
    const json sent = json::parse(provider.requests().at(0).body);
    const json& messages = sent["messages"];
    REQUIRE(messages.size() == 4);
    CHECK(messages[2]["role"] == "tool");
    CHECK(messages[2]["tool_call_id"] == "toolu_1");
    CHECK(messages[2]["content"] ==
          "shot.png, 1 KB\n\n[1 image of this result in the next user message]");
    CHECK(messages[3]["role"] == "user");
    CHECK(messages[3]["content"][0]["text"] ==
          "Images from the result of tool call toolu_1 (Read):");
    CHECK(messages[3]["content"][1] ==
          json{{"type", "image_url"},
               {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}}}});
  }
  SUBCASE("openai-responses: the function_call_output holds text and image") {
    const auto answer = gateway.post("/v1/messages", request("o4-mini"));
    REQUIRE(answer);
    CHECK(answer->status == 200);
    const json sent = json::parse(provider.requests().at(0).body);
    json output;
    for (const json& item : sent["input"]) {
      if (item["type"] == "function_call_output") {
        output = item["output"];
      }
    }
    CHECK(output == json::array({{{"type", "input_text"}, {"text", "shot.png, 1 KB"}},
                                 {{"type", "input_image"},
                                  {"image_url", "data:image/png;base64,iVBORw0KGgo="}}}));
  }
  SUBCASE("gemini: inline data after the functionResponse, as Gemini CLI sends it") {
    const auto answer = gateway.post("/v1/messages", request("gemini-2.5-flash"));
    REQUIRE(answer);
    CHECK(answer->status == 200);
    const json sent = json::parse(provider.requests().at(0).body);
    const json& parts = sent["contents"][2]["parts"];
    REQUIRE(parts.size() == 2);
    CHECK(parts[0]["functionResponse"]["name"] == "Read");
    CHECK(parts[1] == json{{"inlineData", {{"mimeType", "image/png"}, {"data", "iVBORw0KGgo="}}}});
  }
}

// The other way: Codex's and Gemini CLI's tool outputs with images, to an Anthropic provider.
TEST_CASE("translate: images in Responses and Gemini tool outputs become tool_result images") {
  FakeProvider provider;
  Gateway gateway(
      json::array({upstream("an", "anthropic", provider.url(), k_provider_canary, {"claude-*"})}));
  const json png = {
      {"type", "image"},
      {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", "iVBORw0KGgo="}}}};
  const auto tool_result = [&] {
    const json sent = json::parse(provider.requests().back().body);
    for (const json& message : sent["messages"]) {
      for (const json& block : message["content"]) {
        if (block.is_object() && block["type"] == "tool_result") {
          return block;
        }
      }
    }
    return json();
  };

  SUBCASE("openai-responses client") {
    const json request = {
        {"model", "claude-x"},
        {"input",
         {{{"type", "function_call"},
           {"call_id", "call_1"},
           {"name", "view_image"},
           {"arguments", "{}"}},
          {{"type", "function_call_output"},
           {"call_id", "call_1"},
           {"output",
            {{{"type", "input_text"}, {"text", "a chart"}},
             {{"type", "input_image"}, {"image_url", "data:image/png;base64,iVBORw0KGgo="}}}}}}}};
    const auto answer = gateway.post("/v1/responses", request);
    REQUIRE(answer);
    CHECK(answer->status == 200);
    CHECK(tool_result()["content"] == json::array({{{"type", "text"}, {"text", "a chart"}}, png}));
  }
  SUBCASE("openai-responses client: an image by file_id cannot be carried") {
    const json request = {
        {"model", "claude-x"},
        {"input",
         {{{"type", "function_call"}, {"call_id", "call_1"}, {"name", "f"}, {"arguments", "{}"}},
          {{"type", "function_call_output"},
           {"call_id", "call_1"},
           {"output", {{{"type", "input_image"}, {"file_id", "file-1"}}}}}}}};
    const auto answer = gateway.post("/v1/responses", request);
    REQUIRE(answer);
    CHECK(answer->status == 400);
    CHECK(answer->body.find("input[1].output[0].file_id") != std::string::npos);
  }
  SUBCASE("gemini client: both of Gemini CLI's forms") {
    const json call = {
        {"role", "model"},
        {"parts", {{{"functionCall", {{"name", "read_file"}, {"args", json::object()}}}}}}};
    const json inline_png = {{"inlineData", {{"mimeType", "image/png"}, {"data", "iVBORw0KGgo="}}}};
    const json after = {{"role", "user"},
                        {"parts",
                         {{{"functionResponse",
                            {{"name", "read_file"}, {"response", {{"output", "Binary content"}}}}}},
                          inline_png}}};
    const json inside = {{"role", "user"},
                         {"parts",
                          {{{"functionResponse",
                             {{"name", "read_file"},
                              {"response", {{"output", "Binary content"}}},
                              {"parts", {inline_png}}}}}}}};
    for (const json& results : {after, inside}) {
      const json request = {
          {"contents", {{{"role", "user"}, {"parts", {{{"text", "look"}}}}}, call, results}}};
      const auto answer = gateway.post("/v1beta/models/claude-x:generateContent", request);
      REQUIRE(answer);
      CHECK(answer->status == 200);
      CHECK(tool_result()["content"] ==
            json::array({{{"type", "text"}, {"text", "Binary content"}}, png}));
    }
  }
}
