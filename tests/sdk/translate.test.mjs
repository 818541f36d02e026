// The real SDKs of every family through agproxy to the fake provider speaking every upstream
// protocol (DESIGN §6): a tool-calling turn, plain and streamed, for each client x upstream pair.
// The fake provider's "scripted" models call the tool named in a `CALL_TOOL name {args}` line,
// check that the ids, signatures and reasoning they issued come back with the result, and then
// answer `TOOL_RESULT_SEEN: <result>`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { received, recorded, startProvider, startProxy, stopAll } from "./harness.mjs";

const PROXY_KEY = "sk-canary-proxy-translate-9b1e44d2";
const PROVIDER_KEY = "sk-canary-provider-translate-3c7a";
const UPSTREAMS = ["openai", "openai-responses", "anthropic", "gemini"];
const PROMPT = 'What is the weather?\nCALL_TOOL get_weather {"city":"Paris","days":2}';
const ARGS = { city: "Paris", days: 2 };
const RESULT = "sunny, 21 degrees";
const SCHEMA = {
  type: "object",
  properties: { city: { type: "string", description: "The city" }, days: { type: "integer" } },
  required: ["city"],
  additionalProperties: false,
};
let dir;
let proxyUrl;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "agproxy-translate-"));
  const providerUrl = await startProvider(dir);
  const config = join(dir, "config.json");
  // One upstream per protocol, each serving the models named after it; the Gemini one also maps
  // Claude model names (a glob model_map key) as a Claude Code user would.
  writeFileSync(config, JSON.stringify({
    proxy: {
      auth_mode: "strict",
      api_key: PROXY_KEY,
      echo_model: true,
      upstreams: UPSTREAMS.map((protocol) => ({
        name: `to-${protocol}`,
        protocol,
        base_url: providerUrl,
        api_keys: [PROVIDER_KEY],
        models: [`scripted-via-${protocol}`],
        ...(protocol === "gemini" ? { model_map: { "claude-*haiku*": "scripted-haiku" } } : {}),
      })),
    },
  }));
  proxyUrl = await startProxy(config, dir);
});

after(() => {
  stopAll();
  rmSync(dir, { recursive: true, force: true });
});

// Check an answer's translation header: present and naming the pair when the families differ.
function assertTranslation(headers, client, upstream) {
  const value = headers.get("x-agproxy-translation");
  if (client === upstream) {
    assert.equal(value, null);
  } else {
    assert.equal(value, `${client}->${upstream}`);
  }
}

const openai = () => new OpenAI({ baseURL: `${proxyUrl}/v1`, apiKey: PROXY_KEY, maxRetries: 0 });
const anthropic = () => new Anthropic({ baseURL: proxyUrl, apiKey: PROXY_KEY, maxRetries: 0 });
const gemini = () => new GoogleGenAI({ apiKey: PROXY_KEY, httpOptions: { baseUrl: proxyUrl } });

for (const upstream of UPSTREAMS) {
  const model = `scripted-via-${upstream}`;

  for (const stream of [false, true]) {
    const how = stream ? "streamed" : "plain";

    test(`openai chat -> ${upstream}: tool call and result, ${how}`, async () => {
      const client = openai();
      const tools = [{ type: "function", function: { name: "get_weather", description: "Weather", parameters: SCHEMA } }];
      const user = { role: "user", content: PROMPT };
      let first;
      let deltas = 0;
      if (stream) {
        const s = client.chat.completions.stream({ model, messages: [user], tools });
        s.on("chunk", (chunk) => { deltas += chunk.choices[0]?.delta?.tool_calls ? 1 : 0; });
        first = await s.finalChatCompletion();
      } else {
        const { data, response } = await client.chat.completions
          .create({ model, messages: [user], tools }).withResponse();
        assertTranslation(response.headers, "openai", upstream);
        first = data;
      }
      received(first);
      const message = first.choices[0].message;
      assert.equal(first.choices[0].finish_reason, "tool_calls");
      assert.equal(message.tool_calls.length, 1);
      const call = message.tool_calls[0];
      assert.equal(call.function.name, "get_weather");
      assert.deepEqual(JSON.parse(call.function.arguments), ARGS);
      if (stream && upstream !== "gemini") {
        assert.ok(deltas >= 2, `the arguments came in ${deltas} deltas`);
      }
      const messages = [user, message, { role: "tool", tool_call_id: call.id, content: RESULT }];
      let text = "";
      let pieces = 0;
      if (stream) {
        const s = await client.chat.completions.create({ model, messages, tools, stream: true });
        for await (const chunk of s) {
          const piece = received(chunk).choices[0]?.delta?.content ?? "";
          pieces += piece ? 1 : 0;
          text += piece;
        }
        assert.ok(pieces >= 3, `the text came in ${pieces} deltas`);
      } else {
        const second = await client.chat.completions.create({ model, messages, tools });
        text = received(second).choices[0].message.content;
        assert.equal(second.choices[0].finish_reason, "stop");
        assert.ok(second.usage.prompt_tokens > 0);
      }
      assert.match(text, new RegExp(`^TOOL_RESULT_SEEN: .*${RESULT}`));
    });

    test(`openai responses -> ${upstream}: tool call and result, ${how}`, async () => {
      const client = openai();
      const tools = [{ type: "function", name: "get_weather", description: "Weather", parameters: SCHEMA, strict: false }];
      const base = { model, tools, store: false, include: ["reasoning.encrypted_content"] };
      let first;
      let deltas = 0;
      if (stream) {
        const s = client.responses.stream({ ...base, input: PROMPT });
        s.on("response.function_call_arguments.delta", () => { deltas += 1; });
        first = await s.finalResponse();
      } else {
        const { data, response } = await client.responses.create({ ...base, input: PROMPT }).withResponse();
        assertTranslation(response.headers, "openai-responses", upstream);
        first = data;
      }
      received(first);
      const call = first.output.find((item) => item.type === "function_call");
      assert.ok(call, `a function_call in ${JSON.stringify(first.output)}`);
      assert.equal(call.name, "get_weather");
      assert.deepEqual(JSON.parse(call.arguments), ARGS);
      if (stream && upstream !== "gemini") {
        assert.ok(deltas >= 2, `the arguments came in ${deltas} deltas`);
      }
      const input = [{ role: "user", content: PROMPT }, ...first.output,
                     { type: "function_call_output", call_id: call.call_id, output: RESULT }];
      let second;
      let pieces = 0;
      if (stream) {
        const s = client.responses.stream({ ...base, input });
        s.on("response.output_text.delta", () => { pieces += 1; });
        second = await s.finalResponse();
        assert.ok(pieces >= 3, `the text came in ${pieces} deltas`);
      } else {
        second = await client.responses.create({ ...base, input });
      }
      received(second);
      assert.equal(second.status, "completed");
      assert.match(second.output_text, new RegExp(`^TOOL_RESULT_SEEN: .*${RESULT}`));
      assert.ok(second.usage.input_tokens > 0);
    });

    test(`anthropic -> ${upstream}: tool call and result, ${how}`, async () => {
      const client = anthropic();
      const tools = [{ name: "get_weather", description: "Weather", input_schema: SCHEMA }];
      const user = { role: "user", content: PROMPT };
      const base = { model, max_tokens: 1024, tools };
      let first;
      let deltas = 0;
      if (stream) {
        const s = client.messages.stream({ ...base, messages: [user] });
        s.on("inputJson", () => { deltas += 1; });
        first = await s.finalMessage();
      } else {
        const { data, response } = await client.messages.create({ ...base, messages: [user] }).withResponse();
        assertTranslation(response.headers, "anthropic", upstream);
        first = data;
      }
      received(first);
      assert.equal(first.stop_reason, "tool_use");
      const use = first.content.find((block) => block.type === "tool_use");
      assert.ok(use, `a tool_use in ${JSON.stringify(first.content)}`);
      assert.equal(use.name, "get_weather");
      assert.deepEqual(use.input, ARGS);
      if (stream && upstream !== "gemini") {
        assert.ok(deltas >= 2, `the arguments came in ${deltas} deltas`);
      }
      const messages = [user, { role: "assistant", content: first.content },
                        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: RESULT }] }];
      let second;
      let pieces = 0;
      if (stream) {
        const s = client.messages.stream({ ...base, messages });
        s.on("text", () => { pieces += 1; });
        second = await s.finalMessage();
        assert.ok(pieces >= 3, `the text came in ${pieces} deltas`);
      } else {
        second = await client.messages.create({ ...base, messages });
      }
      received(second);
      assert.equal(second.stop_reason, "end_turn");
      const text = second.content.filter((b) => b.type === "text").map((b) => b.text).join("");
      assert.match(text, new RegExp(`^TOOL_RESULT_SEEN: .*${RESULT}`));
    });

    test(`gemini -> ${upstream}: tool call and result, ${how}`, async () => {
      const ai = gemini();
      const config = { tools: [{ functionDeclarations: [{ name: "get_weather", description: "Weather", parametersJsonSchema: SCHEMA }] }] };
      const user = { role: "user", parts: [{ text: PROMPT }] };
      let first;
      if (stream) {
        const parts = [];
        let last;
        for await (const chunk of await ai.models.generateContentStream({ model, contents: [user], config })) {
          received(chunk);
          parts.push(...(chunk.candidates?.[0]?.content?.parts ?? []));
          last = chunk;
        }
        first = { candidates: [{ content: { role: "model", parts } }], last };
      } else {
        first = received(await ai.models.generateContent({ model, contents: [user], config }));
      }
      const content = first.candidates[0].content;
      const call = content.parts.find((part) => part.functionCall)?.functionCall;
      assert.ok(call, `a functionCall in ${JSON.stringify(content)}`);
      assert.equal(call.name, "get_weather");
      assert.deepEqual(call.args, ARGS);
      const contents = [user, content,
                        { role: "user", parts: [{ functionResponse: { name: "get_weather", id: call.id, response: { result: RESULT } } }] }];
      let text = "";
      let pieces = 0;
      if (stream) {
        for await (const chunk of await ai.models.generateContentStream({ model, contents, config })) {
          const piece = received(chunk).text ?? "";
          pieces += piece ? 1 : 0;
          text += piece;
        }
        assert.ok(pieces >= 3, `the text came in ${pieces} deltas`);
      } else {
        text = received(await ai.models.generateContent({ model, contents, config })).text;
      }
      assert.match(text, new RegExp(`^TOOL_RESULT_SEEN: .*${RESULT}`));
    });
  }
}

test("a glob model_map key sends Claude model names to the Gemini upstream", async () => {
  const { data, response } = await anthropic().messages
    .create({ model: "claude-3-5-haiku-latest", max_tokens: 64, messages: [{ role: "user", content: "hi there" }] })
    .withResponse();
  received(data);
  assert.equal(response.headers.get("x-agproxy-translation"), "anthropic->gemini");
  assert.equal(response.headers.get("x-agproxy-upstream"), "to-gemini");
  assert.equal(data.content[0].text, "scripted: hi there");
});

test("echo: the Responses API, plain and streamed", async () => {
  const client = openai();
  const answer = await client.responses.create({ model: "agproxy-echo", input: "hello responses" });
  assert.equal(received(answer).output_text, "hello responses");
  assert.equal(answer.status, "completed");
  const s = client.responses.stream({ model: "agproxy-echo", input: "streamed responses" });
  const types = [];
  s.on("event", (event) => types.push(event.type));
  const final = await s.finalResponse();
  assert.equal(received(final).output_text, "streamed responses");
  assert.equal(types[0], "response.created");
  assert.equal(types.at(-1), "response.completed");
});

test("a field that cannot be translated is refused in the client's shape, naming it", async () => {
  await assert.rejects(
    openai().chat.completions.create({ model: "scripted-via-anthropic", n: 2, messages: [{ role: "user", content: "x" }] }),
    (error) => {
      received(String(error.message));
      assert.equal(error.status, 400);
      assert.match(String(error.message), /\bn\b/);
      return true;
    });
});

test("translate secrets: no canary key in the proxy's log or in anything the SDKs received", () => {
  const transcript = recorded();
  assert.ok(transcript.includes("TOOL_RESULT_SEEN"), "the SDKs' answers were captured");
  for (const canary of [PROXY_KEY, PROVIDER_KEY]) {
    assert.ok(!transcript.includes(canary), `canary …${canary.slice(-4)} leaked`);
  }
});
