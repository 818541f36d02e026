// The fake provider's scripted models, spoken to over real sockets: each protocol's answers, its
// streams event by event, and the 400s a broken tool history gets.
#include "tests/fake_provider.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

using namespace agproxy::test;
using nlohmann::json;

namespace {

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
};

Reply post(const FakeProvider& fake, const std::string& path, const std::string& body) {
  httplib::Client client(fake.url());
  client.set_read_timeout(10, 0);
  const httplib::Result result = client.Post(path.c_str(), body, "application/json");
  REQUIRE(result);
  return {result->status, result->body, result->get_header_value("Content-Type")};
}

Reply post(const FakeProvider& fake, const std::string& path, const json& body) {
  return post(fake, path, body.dump());
}

json parse(const Reply& reply) {
  return json::parse(reply.body);
}

// One server-sent event: its `event:` name ("" when none) and its data parsed as JSON; OpenAI's
// closing "data: [DONE]" comes back named "[DONE]".
struct Event {
  std::string name;
  json data;
};

std::vector<Event> events_of(const Reply& reply) {
  CHECK(reply.status == 200);
  CHECK(reply.content_type == "text/event-stream");
  std::string body;
  for (char c : reply.body) {
    if (c != '\r') {
      body += c;
    }
  }
  std::vector<Event> events;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find("\n\n", start);
    REQUIRE(end != std::string::npos); // every event is terminated by a blank line
    Event event;
    std::string data;
    size_t line_start = start;
    while (line_start < end) {
      const size_t line_end = std::min(body.find('\n', line_start), end);
      const std::string line = body.substr(line_start, line_end - line_start);
      if (line.starts_with("event: ")) {
        event.name = line.substr(7);
      } else if (line.starts_with("data: ")) {
        data += line.substr(6);
      } else {
        FAIL("unexpected SSE line: " << line);
      }
      line_start = line_end + 1;
    }
    if (data == "[DONE]") {
      event.name = "[DONE]";
    } else {
      event.data = json::parse(data);
    }
    events.push_back(event);
    start = end + 2;
  }
  return events;
}

std::vector<std::string> names_of(const std::vector<Event>& events) {
  std::vector<std::string> names;
  for (const Event& event : events) {
    names.push_back(event.name);
  }
  return names;
}

std::string long_result() {
  std::string text;
  for (int i = 0; text.size() < 400; ++i) {
    text += "line " + std::to_string(i) + ";";
  }
  return text;
}

const std::string k_args = R"({"city":"Paris","days":[1,2]})";

// Anthropic Messages ------------------------------------------------------------------------------

// An Anthropic request with extended thinking on (as Claude Code sends it).
json anthropic_request(const json& messages, bool stream = false) {
  return {{"model", "scripted-claude"},
          {"max_tokens", 2048},
          {"thinking", {{"type", "enabled"}, {"budget_tokens", 1024}}},
          {"stream", stream},
          {"tools",
           {{{"name", "get_weather"}, {"input_schema", {{"type", "object"}}}},
            {{"name", "other"}, {"input_schema", {{"type", "object"}}}}}},
          {"messages", messages}};
}

// Return the assistant content the fake answered to a CALL_TOOL turn (thinking, then tool_use).
json anthropic_tool_turn(const FakeProvider& fake) {
  json answer = parse(post(
      fake, "/v1/messages",
      anthropic_request({{{"role", "user"}, {"content", "CALL_TOOL get_weather " + k_args}}})));
  return answer["content"];
}

json anthropic_history(const json& assistant_content, const json& result_content,
                       const std::string& tool_use_id) {
  return json::array(
      {{{"role", "user"}, {"content", "CALL_TOOL get_weather " + k_args}},
       {{"role", "assistant"}, {"content", assistant_content}},
       {{"role", "user"},
        {"content",
         {{{"type", "tool_result"}, {"tool_use_id", tool_use_id}, {"content", result_content}}}}}});
}

void check_anthropic_error(const Reply& reply, const std::string& part) {
  CHECK(reply.status == 400);
  json body = parse(reply);
  CHECK(body["type"] == "error");
  CHECK(body["error"]["type"] == "invalid_request_error");
  CHECK(body["error"]["message"].get<std::string>().find(part) != std::string::npos);
}

// OpenAI Chat Completions -------------------------------------------------------------------------

json chat_request(const json& messages, bool stream = false) {
  return {{"model", "scripted-gpt"},
          {"stream", stream},
          {"tools",
           {{{"type", "function"},
             {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}}},
          {"messages", messages}};
}

void check_openai_error(const Reply& reply, const std::string& part) {
  CHECK(reply.status == 400);
  json body = parse(reply);
  CHECK(body["error"]["type"] == "invalid_request_error");
  CHECK(body["error"].contains("code"));
  CHECK(body["error"]["message"].get<std::string>().find(part) != std::string::npos);
}

// OpenAI Responses --------------------------------------------------------------------------------

json responses_request(const json& input, bool stream = false, bool encrypted = true) {
  json request = {
      {"model", "scripted-o"},
      {"stream", stream},
      {"store", false},
      {"tools",
       {{{"type", "function"}, {"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}},
      {"input", input}};
  if (encrypted) {
    request["include"] = {"reasoning.encrypted_content"};
  }
  return request;
}

// Gemini ------------------------------------------------------------------------------------------

json gemini_request(const json& contents) {
  return {{"contents", contents},
          {"tools",
           {{{"functionDeclarations",
              {{{"name", "get_weather"}, {"parameters", {{"type", "OBJECT"}}}}}}}}}};
}

const std::string k_gemini = "/v1beta/models/scripted-gemini";

void check_gemini_error(const Reply& reply, const std::string& part) {
  CHECK(reply.status == 400);
  json body = parse(reply);
  CHECK(body["error"]["code"] == 400);
  CHECK(body["error"]["status"] == "INVALID_ARGUMENT");
  CHECK(body["error"]["message"].get<std::string>().find(part) != std::string::npos);
}

} // namespace

TEST_CASE("fake provider: anthropic answers text, whole and streamed") {
  FakeProvider fake(4);
  json request = anthropic_request(
      {{{"role", "user"},
        {"content",
         {{{"type", "text"}, {"text", "hello "}}, {{"type", "text"}, {"text", "there"}}}}}});
  const Reply whole = post(fake, "/v1/messages", request);
  CHECK(whole.status == 200);
  json message = parse(whole);
  CHECK(message["type"] == "message");
  CHECK(message["role"] == "assistant");
  CHECK(message["model"] == "scripted-claude");
  CHECK(message["content"] == json::array({{{"type", "text"}, {"text", "scripted: hello there"}}}));
  CHECK(message["stop_reason"] == "end_turn");
  CHECK(message["usage"]["input_tokens"] == request.dump().size() / 4);
  CHECK(message["usage"]["output_tokens"] == std::string("scripted: hello there").size() / 4);

  json streamed = request;
  streamed["stream"] = true;
  std::vector<Event> events = events_of(post(fake, "/v1/messages", streamed));
  std::vector<std::string> names = names_of(events);
  REQUIRE(names == std::vector<std::string>{"message_start", "ping", "content_block_start",
                                            "content_block_delta", "content_block_delta",
                                            "content_block_delta", "content_block_stop",
                                            "message_delta", "message_stop"});
  std::string text;
  for (Event& event : events) {
    CHECK(event.data["type"] == event.name);
    if (event.name == "content_block_delta") {
      CHECK(event.data["delta"]["type"] == "text_delta");
      text += event.data["delta"]["text"].get<std::string>();
    }
  }
  CHECK(text == "scripted: hello there");
  CHECK(events[0].data["message"]["model"] == "scripted-claude");
  CHECK(events[0].data["message"]["usage"]["input_tokens"] == streamed.dump().size() / 4);
  CHECK(events[7].data["delta"]["stop_reason"] == "end_turn");
  CHECK(events[7].data["usage"]["output_tokens"] == text.size() / 4);
}

TEST_CASE("fake provider: anthropic calls a tool after a signed thinking block") {
  FakeProvider fake(4);
  json request = anthropic_request(
      {{{"role", "user"}, {"content", "first line\nCALL_TOOL GET_WEATHER " + k_args + "\n"}}});
  json message = parse(post(fake, "/v1/messages", request));
  CHECK(message["stop_reason"] == "tool_use");
  REQUIRE(message["content"].size() == 2);
  json thinking = message["content"][0];
  json tool_use = message["content"][1];
  CHECK(thinking["type"] == "thinking");
  CHECK(thinking["thinking"] == "planning");
  CHECK(thinking["signature"].get<std::string>().starts_with("sig-fake-"));
  CHECK(tool_use["type"] == "tool_use");
  CHECK(tool_use["name"] == "get_weather"); // the declared spelling wins over GET_WEATHER
  CHECK(tool_use["id"].get<std::string>().starts_with("toolu_fake_"));
  CHECK(tool_use["input"] == json::parse(k_args));

  json streamed = request;
  streamed["stream"] = true;
  std::vector<Event> events = events_of(post(fake, "/v1/messages", streamed));
  REQUIRE(events.size() >= 12);
  CHECK(events[2].data["content_block"]["type"] == "thinking");
  CHECK(events[3].data["delta"] == json{{"type", "thinking_delta"}, {"thinking", "planning"}});
  CHECK(events[4].data["delta"]["type"] == "signature_delta");
  const std::string signature = events[4].data["delta"]["signature"];
  CHECK(signature.starts_with("sig-fake-"));
  CHECK(signature != thinking["signature"]); // each answer issues its own
  CHECK(events[5].name == "content_block_stop");
  CHECK(events[6].data["content_block"]["type"] == "tool_use");
  CHECK(events[6].data["content_block"]["name"] == "get_weather");
  CHECK(events[6].data["index"] == 1);
  std::string arguments;
  int deltas = 0;
  for (Event& event : events) {
    if (event.name == "content_block_delta" && event.data["index"] == 1) {
      CHECK(event.data["delta"]["type"] == "input_json_delta");
      arguments += event.data["delta"]["partial_json"].get<std::string>();
      ++deltas;
    }
  }
  CHECK(deltas >= 2);
  CHECK(arguments == k_args);
  CHECK(events[events.size() - 2].data["delta"]["stop_reason"] == "tool_use");
  CHECK(events.back().name == "message_stop");
}

TEST_CASE("fake provider: anthropic quotes a tool result once the history checks out") {
  FakeProvider fake(4);
  json turn = anthropic_tool_turn(fake);
  const std::string id = turn[1]["id"];
  const std::string result = long_result();
  const std::string expected = "TOOL_RESULT_SEEN: " + result.substr(0, 300);

  SUBCASE("a string result") {
    json message =
        parse(post(fake, "/v1/messages", anthropic_request(anthropic_history(turn, result, id))));
    CHECK(message["content"] == json::array({{{"type", "text"}, {"text", expected}}}));
    CHECK(message["stop_reason"] == "end_turn");
  }
  SUBCASE("an array of text blocks, streamed") {
    json blocks = {{{"type", "text"}, {"text", result.substr(0, 150)}},
                   {{"type", "text"}, {"text", result.substr(150)}}};
    std::vector<Event> events = events_of(
        post(fake, "/v1/messages", anthropic_request(anthropic_history(turn, blocks, id), true)));
    std::string text;
    int deltas = 0;
    for (Event& event : events) {
      if (event.name == "content_block_delta") {
        text += event.data["delta"]["text"].get<std::string>();
        ++deltas;
      }
    }
    CHECK(deltas >= 3);
    CHECK(text == expected);
    CHECK(events[events.size() - 2].data["delta"]["stop_reason"] == "end_turn");
  }
}

TEST_CASE("fake provider: anthropic without thinking calls tools without thinking blocks") {
  FakeProvider fake(4);
  json request =
      anthropic_request({{{"role", "user"}, {"content", "CALL_TOOL get_weather " + k_args}}});
  request.erase("thinking");
  json message = parse(post(fake, "/v1/messages", request));
  REQUIRE(message["content"].size() == 1);
  CHECK(message["content"][0]["type"] == "tool_use");
  json streamed = request;
  streamed["stream"] = true;
  std::vector<Event> events = events_of(post(fake, "/v1/messages", streamed));
  REQUIRE(events.size() >= 3);
  CHECK(events[2].data["content_block"]["type"] == "tool_use");
  CHECK(events[2].data["index"] == 0);
  // And the result comes back without one.
  json history = anthropic_history(message["content"], "sunny", message["content"][0]["id"]);
  request["messages"] = history;
  json answer = parse(post(fake, "/v1/messages", request));
  CHECK(answer["content"][0]["text"] == "TOOL_RESULT_SEEN: sunny");
}

TEST_CASE("fake provider: anthropic refuses a tool history that lost what it issued") {
  FakeProvider fake(4);
  json turn = anthropic_tool_turn(fake);
  const std::string id = turn[1]["id"];

  SUBCASE("the thinking block is missing") {
    json without = json::array({turn[1]});
    check_anthropic_error(
        post(fake, "/v1/messages", anthropic_request(anthropic_history(without, "sunny", id))),
        "Expected `thinking`");
  }
  SUBCASE("the signature was altered") {
    json altered = turn;
    altered[0]["signature"] = "sig-fake-999";
    check_anthropic_error(
        post(fake, "/v1/messages", anthropic_request(anthropic_history(altered, "sunny", id))),
        "Invalid `signature`");
  }
  SUBCASE("another call's genuine signature does not do either") {
    json other = anthropic_tool_turn(fake);
    json swapped = turn;
    swapped[0]["signature"] = other[0]["signature"];
    check_anthropic_error(
        post(fake, "/v1/messages", anthropic_request(anthropic_history(swapped, "sunny", id))),
        "Invalid `signature`");
  }
  SUBCASE("the tool_use_id matches no tool_use") {
    check_anthropic_error(post(fake, "/v1/messages",
                               anthropic_request(anthropic_history(turn, "sunny", "toolu_other"))),
                          "unexpected `tool_use_id`");
  }
}

TEST_CASE("fake provider: anthropic counts tokens") {
  FakeProvider fake(4);
  json request = anthropic_request({{{"role", "user"}, {"content", "count me"}}});
  const Reply reply = post(fake, "/v1/messages/count_tokens", request);
  CHECK(reply.status == 200);
  CHECK(parse(reply) == json{{"input_tokens", request.dump().size() / 4}});
}

TEST_CASE("fake provider: openai chat answers text, whole and streamed") {
  FakeProvider fake(4);
  json request =
      chat_request({{{"role", "system"}, {"content", "be brief"}},
                    {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "hi there"}}}}}});
  const Reply whole = post(fake, "/v1/chat/completions", request);
  CHECK(whole.status == 200);
  json completion = parse(whole);
  CHECK(completion["object"] == "chat.completion");
  CHECK(completion["model"] == "scripted-gpt");
  CHECK(completion["choices"][0]["message"]["content"] == "scripted: hi there");
  CHECK(completion["choices"][0]["finish_reason"] == "stop");
  CHECK(completion["usage"]["prompt_tokens"] == request.dump().size() / 4);
  CHECK(completion["usage"]["completion_tokens"] == std::string("scripted: hi there").size() / 4);

  for (const bool include_usage : {false, true}) {
    CAPTURE(include_usage);
    json streamed = request;
    streamed["stream"] = true;
    if (include_usage) {
      streamed["stream_options"] = {{"include_usage", true}};
    }
    std::vector<Event> events = events_of(post(fake, "/v1/chat/completions", streamed));
    REQUIRE(events.size() == (include_usage ? 7u : 6u));
    CHECK(events.back().name == "[DONE]");
    CHECK(events[0].data["choices"][0]["delta"]["role"] == "assistant");
    std::string text;
    for (size_t i = 1; i < 4; ++i) {
      CHECK(events[i].data["object"] == "chat.completion.chunk");
      CHECK(events[i].data["choices"][0]["finish_reason"].is_null());
      text += events[i].data["choices"][0]["delta"]["content"].get<std::string>();
    }
    CHECK(text == "scripted: hi there");
    CHECK(events[4].data["choices"][0]["finish_reason"] == "stop");
    if (include_usage) {
      CHECK(events[4].data["usage"].is_null());
      CHECK(events[5].data["choices"] == json::array());
      CHECK(events[5].data["usage"]["prompt_tokens"] == streamed.dump().size() / 4);
      CHECK(events[5].data["usage"]["total_tokens"] ==
            streamed.dump().size() / 4 + text.size() / 4);
    } else {
      CHECK_FALSE(events[4].data.contains("usage"));
    }
  }
}

TEST_CASE("fake provider: openai chat calls a tool") {
  FakeProvider fake(4);
  json request =
      chat_request({{{"role", "user"}, {"content", "CALL_TOOL undeclared_tool " + k_args}}});
  json completion = parse(post(fake, "/v1/chat/completions", request));
  json choice = completion["choices"][0];
  CHECK(choice["finish_reason"] == "tool_calls");
  CHECK(choice["message"]["content"].is_null());
  REQUIRE(choice["message"]["tool_calls"].size() == 1);
  json call = choice["message"]["tool_calls"][0];
  CHECK(call["id"].get<std::string>().starts_with("call_fake_"));
  CHECK(call["type"] == "function");
  CHECK(call["function"]["name"] == "undeclared_tool"); // undeclared, still called
  CHECK(call["function"]["arguments"] == k_args);

  json streamed = request;
  streamed["stream"] = true;
  std::vector<Event> events = events_of(post(fake, "/v1/chat/completions", streamed));
  REQUIRE(events.size() >= 5);
  json first = events[0].data["choices"][0]["delta"]["tool_calls"][0];
  CHECK(first["id"].get<std::string>().starts_with("call_fake_"));
  CHECK(first["function"]["name"] == "undeclared_tool");
  std::string arguments;
  int deltas = 0;
  for (size_t i = 1; i + 2 < events.size(); ++i) {
    json delta = events[i].data["choices"][0]["delta"]["tool_calls"][0];
    CHECK(delta["index"] == 0);
    arguments += delta["function"]["arguments"].get<std::string>();
    ++deltas;
  }
  CHECK(deltas >= 2);
  CHECK(arguments == k_args);
  CHECK(events[events.size() - 2].data["choices"][0]["finish_reason"] == "tool_calls");
  CHECK(events.back().name == "[DONE]");
}

TEST_CASE("fake provider: openai chat quotes a tool result and refuses unmatched ids") {
  FakeProvider fake(4);
  const std::string result = long_result();
  auto history = [&](const std::string& call_id, const json& content) {
    return json::array({{{"role", "user"}, {"content", "CALL_TOOL get_weather {}"}},
                        {{"role", "assistant"},
                         {"content", nullptr},
                         {"tool_calls",
                          {{{"id", "call_1"},
                            {"type", "function"},
                            {"function", {{"name", "get_weather"}, {"arguments", "{}"}}}}}}},
                        {{"role", "tool"}, {"tool_call_id", call_id}, {"content", content}}});
  };
  const std::string expected = "TOOL_RESULT_SEEN: " + result.substr(0, 300);

  json completion =
      parse(post(fake, "/v1/chat/completions", chat_request(history("call_1", result))));
  CHECK(completion["choices"][0]["message"]["content"] == expected);
  CHECK(completion["choices"][0]["finish_reason"] == "stop");

  json parts = {{{"type", "text"}, {"text", result}}};
  std::vector<Event> events =
      events_of(post(fake, "/v1/chat/completions", chat_request(history("call_1", parts), true)));
  std::string text;
  int deltas = 0;
  for (Event& event : events) {
    if (event.name != "[DONE]" && event.data["choices"][0]["delta"].contains("content") &&
        event.data["choices"][0]["delta"]["content"] != "") {
      text += event.data["choices"][0]["delta"]["content"].get<std::string>();
      ++deltas;
    }
  }
  CHECK(deltas >= 3);
  CHECK(text == expected);

  check_openai_error(post(fake, "/v1/chat/completions", chat_request(history("call_2", "sunny"))),
                     "'tool_call_id' of 'call_2' not found");
  json orphan = json::array({{{"role", "user"}, {"content", "hi"}},
                             {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "x"}}});
  check_openai_error(post(fake, "/v1/chat/completions", chat_request(orphan)),
                     "must be a response to a preceeding message with 'tool_calls'");
}

TEST_CASE("fake provider: openai responses answers text, whole and streamed") {
  FakeProvider fake(4);
  json request = responses_request("what now");
  const Reply whole = post(fake, "/v1/responses", request);
  CHECK(whole.status == 200);
  json response = parse(whole);
  CHECK(response["object"] == "response");
  CHECK(response["status"] == "completed");
  CHECK(response["model"] == "scripted-o");
  REQUIRE(response["output"].size() == 1);
  CHECK(response["output"][0]["type"] == "message");
  CHECK(response["output"][0]["content"][0]["type"] == "output_text");
  CHECK(response["output"][0]["content"][0]["text"] == "scripted: what now");
  CHECK(response["usage"]["input_tokens"] == request.dump().size() / 4);
  CHECK(response["usage"]["output_tokens"] == std::string("scripted: what now").size() / 4);

  json items = {{{"type", "message"},
                 {"role", "user"},
                 {"content", {{{"type", "input_text"}, {"text", "what now"}}}}}};
  json streamed = responses_request(items, true);
  std::vector<Event> events = events_of(post(fake, "/v1/responses", streamed));
  REQUIRE(names_of(events) ==
          std::vector<std::string>{"response.created", "response.in_progress",
                                   "response.output_item.added", "response.content_part.added",
                                   "response.output_text.delta", "response.output_text.delta",
                                   "response.output_text.delta", "response.output_text.done",
                                   "response.content_part.done", "response.output_item.done",
                                   "response.completed"});
  std::string text;
  for (size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].data["type"] == events[i].name);
    CHECK(events[i].data["sequence_number"] == i);
    if (events[i].name == "response.output_text.delta") {
      text += events[i].data["delta"].get<std::string>();
    }
  }
  CHECK(text == "scripted: what now");
  CHECK(events[7].data["text"] == text);
  CHECK(events.back().data["response"]["status"] == "completed");
  CHECK(events.back().data["response"]["usage"]["input_tokens"] == streamed.dump().size() / 4);
  CHECK(events.back().data["response"]["output"][0]["content"][0]["text"] == text);
}

TEST_CASE("fake provider: openai responses calls a tool after a reasoning item") {
  FakeProvider fake(4);
  json input = "CALL_TOOL get_weather " + k_args;

  json response = parse(post(fake, "/v1/responses", responses_request(input)));
  REQUIRE(response["output"].size() == 2);
  CHECK(response["output"][0]["type"] == "reasoning");
  CHECK(response["output"][0]["summary"][0]["text"] == "planning");
  CHECK(response["output"][0]["encrypted_content"].get<std::string>().starts_with("enc-fake-"));
  CHECK(response["output"][1]["type"] == "function_call");
  CHECK(response["output"][1]["name"] == "get_weather");
  CHECK(response["output"][1]["arguments"] == k_args);
  CHECK(response["output"][1]["call_id"].get<std::string>().starts_with("call_fake_"));

  json plain = parse(post(fake, "/v1/responses", responses_request(input, false, false)));
  CHECK_FALSE(plain["output"][0].contains("encrypted_content")); // only when asked for

  std::vector<Event> events =
      events_of(post(fake, "/v1/responses", responses_request(input, true)));
  CHECK(names_of(events) == std::vector<std::string>{
                                "response.created",
                                "response.in_progress",
                                "response.output_item.added",
                                "response.reasoning_summary_part.added",
                                "response.reasoning_summary_text.delta",
                                "response.reasoning_summary_text.done",
                                "response.reasoning_summary_part.done",
                                "response.output_item.done",
                                "response.output_item.added",
                                "response.function_call_arguments.delta",
                                "response.function_call_arguments.delta",
                                "response.function_call_arguments.done",
                                "response.output_item.done",
                                "response.completed",
                            });
  REQUIRE(events.size() == 14);
  CHECK(events[7].data["item"]["type"] == "reasoning");
  CHECK(events[7].data["item"]["encrypted_content"].get<std::string>().starts_with("enc-fake-"));
  CHECK(events[8].data["item"]["type"] == "function_call");
  CHECK(events[8].data["output_index"] == 1);
  const std::string arguments =
      events[9].data["delta"].get<std::string>() + events[10].data["delta"].get<std::string>();
  CHECK(arguments == k_args);
  CHECK(events[11].data["arguments"] == k_args);
  CHECK(events[12].data["item"]["arguments"] == k_args);
  CHECK(events[13].data["response"]["output"].size() == 2);
  for (size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].data["sequence_number"] == i);
  }
}

TEST_CASE("fake provider: openai responses checks a tool result's history") {
  FakeProvider fake(4);
  json first = "CALL_TOOL get_weather " + k_args;
  json output = parse(post(fake, "/v1/responses", responses_request(first)))["output"];
  json reasoning = output[0];
  json call = output[1];
  const std::string call_id = call["call_id"];
  const std::string result = long_result();
  const std::string expected = "TOOL_RESULT_SEEN: " + result.substr(0, 300);
  auto input = [&](bool with_reasoning, const std::string& answered, const json& result_output) {
    json items = json::array({{{"role", "user"}, {"content", first}}});
    if (with_reasoning) {
      items.push_back(reasoning);
    }
    items.push_back(call);
    items.push_back(
        {{"type", "function_call_output"}, {"call_id", answered}, {"output", result_output}});
    return items;
  };

  SUBCASE("a complete history, whole") {
    json answer =
        parse(post(fake, "/v1/responses", responses_request(input(true, call_id, result))));
    CHECK(answer["output"][0]["content"][0]["text"] == expected);
  }
  SUBCASE("a complete history with an array output, streamed") {
    json parts = {{{"type", "input_text"}, {"text", result}}};
    std::vector<Event> events = events_of(
        post(fake, "/v1/responses", responses_request(input(true, call_id, parts), true)));
    std::string text;
    int deltas = 0;
    for (Event& event : events) {
      if (event.name == "response.output_text.delta") {
        text += event.data["delta"].get<std::string>();
        ++deltas;
      }
    }
    CHECK(deltas >= 3);
    CHECK(text == expected);
  }
  SUBCASE("the reasoning item is missing") {
    check_openai_error(
        post(fake, "/v1/responses", responses_request(input(false, call_id, "sunny"))),
        "without its required 'reasoning' item");
    // Without include the provider keeps no such promise, so it asks for nothing back.
    CHECK(
        post(fake, "/v1/responses", responses_request(input(false, call_id, "sunny"), false, false))
            .status == 200);
  }
  SUBCASE("the call_id matches no function_call") {
    check_openai_error(
        post(fake, "/v1/responses", responses_request(input(true, "call_nobody", "sunny"))),
        "No tool call found for function call output with call_id call_nobody");
  }
  SUBCASE("a custom tool's output") {
    json items = {
        {{"role", "user"}, {"content", "go"}},
        {{"type", "custom_tool_call"}, {"call_id", "call_c"}, {"name", "shell"}, {"input", "ls"}},
        {{"type", "custom_tool_call_output"}, {"call_id", "call_c"}, {"output", "a.txt"}}};
    json answer = parse(post(fake, "/v1/responses", responses_request(items)));
    CHECK(answer["output"][0]["content"][0]["text"] == "TOOL_RESULT_SEEN: a.txt");
  }
}

TEST_CASE("fake provider: gemini answers text, whole and streamed") {
  FakeProvider fake(4);
  json request = gemini_request(
      {{{"role", "user"}, {"parts", {{{"text", "bonjour "}}, {{"text", "monde"}}}}}});
  const Reply whole = post(fake, k_gemini + ":generateContent", request);
  CHECK(whole.status == 200);
  json answer = parse(whole);
  json candidate = answer["candidates"][0];
  CHECK(candidate["content"]["role"] == "model");
  CHECK(candidate["content"]["parts"] == json::array({{{"text", "scripted: bonjour monde"}}}));
  CHECK(candidate["finishReason"] == "STOP");
  CHECK(answer["modelVersion"] == "scripted-gemini");
  CHECK(answer["usageMetadata"]["promptTokenCount"] == request.dump().size() / 4);
  CHECK(answer["usageMetadata"]["candidatesTokenCount"] ==
        std::string("scripted: bonjour monde").size() / 4);

  const Reply sse = post(fake, k_gemini + ":streamGenerateContent?alt=sse", request);
  CHECK(sse.body.find("\r\n\r\n") != std::string::npos); // Google's line ends
  std::vector<Event> events = events_of(sse);
  REQUIRE(events.size() >= 3);
  std::string text;
  for (size_t i = 0; i < events.size(); ++i) {
    json& chunk = events[i].data;
    CHECK(events[i].name == "");
    text += chunk["candidates"][0]["content"]["parts"][0]["text"].get<std::string>();
    CHECK(chunk["candidates"][0].contains("finishReason") == (i + 1 == events.size()));
  }
  CHECK(text == "scripted: bonjour monde");
  CHECK(events.back().data["candidates"][0]["finishReason"] == "STOP");
  CHECK(events.back().data["usageMetadata"]["candidatesTokenCount"] == text.size() / 4);

  const Reply array = post(fake, k_gemini + ":streamGenerateContent", request);
  CHECK(parse(array).size() == events.size());
}

TEST_CASE("fake provider: gemini calls a tool with a thought signature, in one chunk") {
  FakeProvider fake(4);
  json request = gemini_request(
      {{{"role", "user"}, {"parts", {{{"text", "CALL_TOOL Get_Weather " + k_args}}}}}});
  json answer = parse(post(fake, k_gemini + ":generateContent", request));
  json part = answer["candidates"][0]["content"]["parts"][0];
  CHECK(part["functionCall"]["name"] == "get_weather");
  CHECK(part["functionCall"]["args"] == json::parse(k_args));
  CHECK(part["thoughtSignature"].get<std::string>().starts_with("sig-fake-"));
  CHECK(answer["candidates"][0]["finishReason"] == "STOP");

  std::vector<Event> events =
      events_of(post(fake, k_gemini + ":streamGenerateContent?alt=sse", request));
  REQUIRE(events.size() == 1);
  CHECK(events[0].data["candidates"][0]["content"]["parts"][0]["functionCall"]["args"] ==
        json::parse(k_args));
  CHECK(events[0].data["candidates"][0]["finishReason"] == "STOP");
}

TEST_CASE("fake provider: gemini checks a function response's history") {
  FakeProvider fake(4);
  json question = {{"role", "user"}, {"parts", {{{"text", "CALL_TOOL get_weather {}"}}}}};
  json model_turn =
      parse(post(fake, k_gemini + ":generateContent",
                 gemini_request(json::array({question}))))["candidates"][0]["content"];
  const std::string result = long_result();
  auto history = [&](const json& model, const std::string& name) {
    return gemini_request(
        {question,
         model,
         {{"role", "user"},
          {"parts",
           {{{"functionResponse", {{"name", name}, {"response", {{"result", result}}}}}}}}}});
  };

  SUBCASE("a complete history") {
    json answer =
        parse(post(fake, k_gemini + ":generateContent", history(model_turn, "get_weather")));
    CHECK(answer["candidates"][0]["content"]["parts"][0]["text"] ==
          "TOOL_RESULT_SEEN: " + result.substr(0, 300));
  }
  SUBCASE("the thought signature is missing") {
    json stripped = model_turn;
    stripped["parts"][0].erase("thoughtSignature");
    check_gemini_error(post(fake, k_gemini + ":generateContent", history(stripped, "get_weather")),
                       "missing a thought_signature");
  }
  SUBCASE("the thought signature was not issued") {
    json forged = model_turn;
    forged["parts"][0]["thoughtSignature"] = "sig-fake-77";
    check_gemini_error(post(fake, k_gemini + ":generateContent", history(forged, "get_weather")),
                       "Corrupted thought signature");
  }
  SUBCASE("the function response names another function") {
    check_gemini_error(post(fake, k_gemini + ":generateContent", history(model_turn, "get_time")),
                       "does not match the name `get_weather`");
  }
}

TEST_CASE("fake provider: gemini counts tokens") {
  FakeProvider fake(4);
  json request = gemini_request({{{"role", "user"}, {"parts", {{{"text", "count me"}}}}}});
  const Reply reply = post(fake, k_gemini + ":countTokens", request);
  CHECK(reply.status == 200);
  CHECK(parse(reply) == json{{"totalTokens", request.dump().size() / 4}});
}

TEST_CASE("fake provider: scripted answers leave other models and keys to their own scripts") {
  FakeProvider fake(4);
  httplib::Client client(fake.url());
  json request = {{"model", "scripted-gpt"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}};
  const httplib::Result limited =
      client.Post("/v1/chat/completions", {{"Authorization", "Bearer rl-key"}}, request.dump(),
                  "application/json");
  REQUIRE(limited);
  CHECK(limited->status == 429);
  json events = request;
  events["model"] = "sse-2-1";
  const Reply reply = post(fake, "/v1/chat/completions", events);
  CHECK(reply.body.starts_with("data: {\"i\":0,"));
}
