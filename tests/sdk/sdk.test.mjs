// The real SDKs, as users run them, through agproxy to the fake provider.
// Needs AGPROXY_BINARY and AGPROXY_FAKE_PROVIDER (paths to the built binaries); CTest sets both.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { received, recorded, startProvider, startProxy, stopAll } from "./harness.mjs";

// Canaries: the proxy key and the provider keys must never show in the proxy's log or in anything
// a client receives (the last test checks both).
const PROXY_KEY = "sk-canary-proxy-4f2a9d1c7e3b5a80";
const PROVIDER_KEYS = {
  openai: "sk-canary-openai-provider-7c1e",
  anthropic: "sk-ant-canary-provider-2b9d",
  gemini: "AIza-canary-provider-5e3f",
};
const CANARIES = [PROXY_KEY, ...Object.values(PROVIDER_KEYS)];
const WRONG_KEY = "sk-ffffffffffffffffffffffffffffffff";
let dir;
let proxyUrl;
let providerUrl;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "agproxy-sdk-"));
  providerUrl = await startProvider(dir);
  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify({
    proxy: {
      auth_mode: "strict",
      api_key: PROXY_KEY,
      upstreams: [
        { name: "openai", protocol: "openai", base_url: providerUrl, api_keys: [PROVIDER_KEYS.openai] },
        { name: "anthropic", protocol: "anthropic", base_url: providerUrl, api_keys: [PROVIDER_KEYS.anthropic] },
        { name: "gemini", protocol: "gemini", base_url: providerUrl, api_keys: [PROVIDER_KEYS.gemini] },
      ],
    },
  }));
  proxyUrl = await startProxy(config, dir);
});

after(() => {
  stopAll();
  rmSync(dir, { recursive: true, force: true });
});

async function providerSaw() {
  return (await fetch(`${providerUrl}/_fake/requests`)).json();
}

function assertAgproxy401(error) {
  received(String(error.message));
  assert.equal(error.status, 401);
  assert.match(String(error.message), /agproxy: invalid proxy API key/);
}

test("openai: chat completion, plain and streamed", async () => {
  const client = new OpenAI({ baseURL: `${proxyUrl}/v1`, apiKey: PROXY_KEY, maxRetries: 0 });
  const answer = await client.chat.completions.create({
    model: "gpt-4o-mini", messages: [{ role: "user", content: "hello openai" }],
  });
  assert.equal(received(answer).choices[0].message.content, "hello openai");

  const stream = await client.chat.completions.create({
    model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "streamed openai" }],
  });
  let text = "";
  for await (const chunk of stream) {
    text += received(chunk).choices[0]?.delta?.content ?? "";
  }
  assert.equal(text, "streamed openai");
});

test("openai: a wrong proxy key shows agproxy's message", async () => {
  const client = new OpenAI({ baseURL: `${proxyUrl}/v1`, apiKey: WRONG_KEY, maxRetries: 0 });
  await assert.rejects(client.chat.completions.create({ model: "gpt-4o-mini", messages: [] }),
                       (error) => { assertAgproxy401(error); return true; });
});

test("anthropic: message, plain and streamed", async () => {
  const client = new Anthropic({ baseURL: proxyUrl, apiKey: PROXY_KEY, maxRetries: 0 });
  const message = await client.messages.create({
    model: "claude-agproxy-test", max_tokens: 16, messages: [{ role: "user", content: "hello claude" }],
  });
  assert.equal(received(message).content[0].text, "hello claude");

  const stream = client.messages.stream({
    model: "claude-agproxy-test", max_tokens: 16, messages: [{ role: "user", content: "streamed claude" }],
  });
  assert.equal(await stream.finalText(), "streamed claude");
  received(await stream.finalMessage());
});

test("anthropic: a wrong proxy key shows agproxy's message", async () => {
  const client = new Anthropic({ baseURL: proxyUrl, apiKey: WRONG_KEY, maxRetries: 0 });
  await assert.rejects(
    client.messages.create({ model: "claude-agproxy-test", max_tokens: 16, messages: [] }),
    (error) => { assertAgproxy401(error); return true; });
});

test("gemini: generateContent, plain and streamed", async () => {
  const ai = new GoogleGenAI({ apiKey: PROXY_KEY, httpOptions: { baseUrl: proxyUrl } });
  const answer = await ai.models.generateContent({ model: "gemini-2.5-flash", contents: "hello gemini" });
  assert.equal(received(answer).text, "hello gemini");

  let text = "";
  for await (const chunk of await ai.models.generateContentStream({
    model: "gemini-2.5-flash", contents: "streamed gemini",
  })) {
    text += received(chunk).text ?? "";
  }
  assert.equal(text, "streamed gemini");
});

test("gemini: a wrong proxy key shows agproxy's message", async () => {
  const ai = new GoogleGenAI({ apiKey: WRONG_KEY, httpOptions: { baseUrl: proxyUrl } });
  await assert.rejects(ai.models.generateContent({ model: "gemini-2.5-flash", contents: "x" }),
                       (error) => {
                         received(String(error.message));
                         assert.match(String(error.message), /agproxy: invalid proxy API key/);
                         assert.match(String(error.message), /UNAUTHENTICATED|401/);
                         return true;
                       });
});

test("the provider saw its own keys, never the proxy key", async () => {
  const seen = await providerSaw();
  assert.ok(seen.length >= 6, `the provider saw ${seen.length} requests`);
  const credentials = new Set();
  for (const request of seen) {
    assert.ok(!JSON.stringify(request).includes(PROXY_KEY), `proxy key leaked to ${request.path}`);
    credentials.add(request.headers["authorization"] ?? request.headers["x-api-key"] ??
                    request.headers["x-goog-api-key"]);
  }
  assert.deepEqual([...credentials].sort(),
                   [PROVIDER_KEYS.gemini, `Bearer ${PROVIDER_KEYS.openai}`, PROVIDER_KEYS.anthropic].sort());
});

test("secrets: no canary key in the proxy's log or in anything the SDKs received", () => {
  const transcript = recorded();
  assert.ok(transcript.includes("listening on"), "the proxy's log was captured");
  assert.ok(transcript.includes("hello claude"), "the SDKs' answers were captured");
  for (const canary of CANARIES) {
    assert.ok(!transcript.includes(canary), `canary …${canary.slice(-4)} leaked`);
  }
});
