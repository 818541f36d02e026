#!/usr/bin/env node
// A provider for bench/translated_streams.mjs that streams each provider protocol's way: Anthropic
// Messages (POST /v1/messages), OpenAI Chat Completions (POST /v1/chat/completions) and Gemini
// (POST /v1beta/models/{model}:streamGenerateContent, SSE with alt=sse, else a JSON array). A
// model named "...-N-MS" gets N text deltas MS ms apart; each delta's text is "t=<µs>;", the
// wall-clock time in microseconds at which it was written, so a client on the same machine can
// tell how long the delta took to reach it. Prints "stream upstream listening on URL"; serves
// until stdin closes or a signal stops it. Loopback only.
//
//   node bench/stream_upstream.mjs
import http from "node:http";

const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const sse = (data, event) => (event ? `event: ${event}\n` : "") + `data: ${JSON.stringify(data)}\n\n`;

// Each protocol: the events before the first delta, one delta, and the events after the last.
const protocols = {
  anthropic: {
    contentType: "text/event-stream",
    head: (model) =>
      sse({ type: "message_start", message: { id: "msg_bench", type: "message", role: "assistant",
                                              model, content: [], stop_reason: null, stop_sequence: null,
                                              usage: { input_tokens: 8, output_tokens: 0 } } },
          "message_start") +
      sse({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
          "content_block_start"),
    delta: (text) => sse({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text } },
                         "content_block_delta"),
    tail: (count) =>
      sse({ type: "content_block_stop", index: 0 }, "content_block_stop") +
      sse({ type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null },
            usage: { output_tokens: count } }, "message_delta") +
      sse({ type: "message_stop" }, "message_stop"),
  },
  openai: {
    contentType: "text/event-stream",
    head: (model) => sse({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 0, model,
                           choices: [{ index: 0, delta: { role: "assistant", content: "" },
                                       finish_reason: null }] }),
    delta: (text, model) => sse({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 0, model,
                                  choices: [{ index: 0, delta: { content: text }, finish_reason: null }] }),
    tail: (count, model) =>
      sse({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 0, model,
            choices: [{ index: 0, delta: {}, finish_reason: "stop" }],
            usage: { prompt_tokens: 8, completion_tokens: count, total_tokens: 8 + count } }) +
      "data: [DONE]\n\n",
  },
  gemini: {
    contentType: "text/event-stream",
    head: () => "",
    delta: (text, model) => sse({ candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0 }],
                                  modelVersion: model }),
    tail: (count, model) => sse({ candidates: [{ content: { role: "model", parts: [{ text: "" }] },
                                                 finishReason: "STOP", index: 0 }],
                                  usageMetadata: { promptTokenCount: 8, candidatesTokenCount: count,
                                                   totalTokenCount: 8 + count },
                                  modelVersion: model }),
  },
};

// Gemini without alt=sse: one JSON array, an element per chunk, as Google's servers stream it.
const geminiArray = {
  contentType: "application/json",
  head: () => "[",
  delta: (text, model, first) => (first ? "" : ",\r\n") + JSON.stringify(
    { candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0 }], modelVersion: model }),
  tail: (count, model) => ",\r\n" + JSON.stringify(
    { candidates: [{ content: { role: "model", parts: [{ text: "" }] }, finishReason: "STOP", index: 0 }],
      usageMetadata: { promptTokenCount: 8, candidatesTokenCount: count, totalTokenCount: 8 + count },
      modelVersion: model }) + "]",
};

const server = http.createServer((request, response) => {
  let body = "";
  request.on("data", (chunk) => { body += chunk; });
  request.on("end", () => {
    const url = new URL(request.url, "http://127.0.0.1");
    let protocol;
    let model;
    const gemini = url.pathname.match(/\/models\/([^:/]+):streamGenerateContent$/);
    if (gemini) {
      model = gemini[1];
      protocol = url.searchParams.get("alt") === "sse" ? protocols.gemini : geminiArray;
    } else {
      try {
        model = JSON.parse(body).model ?? "";
      } catch {
        model = "";
      }
      if (url.pathname.endsWith("/v1/messages")) protocol = protocols.anthropic;
      if (url.pathname.endsWith("/v1/chat/completions")) protocol = protocols.openai;
    }
    const shape = String(model).match(/-(\d+)-(\d+)$/);
    if (request.method !== "POST" || !protocol || !shape) {
      response.writeHead(404, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: `no stream here: ${request.method} ${url.pathname} ` +
                                                      `model ${model}` } }));
      return;
    }
    const count = Number(shape[1]);
    const spacing = Number(shape[2]);
    response.writeHead(200, { "content-type": protocol.contentType, "cache-control": "no-cache" });
    response.socket.setNoDelay(true);
    response.write(protocol.head(model));
    let sent = 0;
    let timer;
    const next = () => {
      response.write(protocol.delta(`t=${nowUs()};`, model, sent === 0));
      if (++sent < count) {
        timer = setTimeout(next, spacing);
      } else {
        response.end(protocol.tail(count, model));
      }
    };
    response.on("close", () => clearTimeout(timer));
    timer = setTimeout(next, spacing);
  });
});
server.keepAliveTimeout = 60 * 1000;
server.listen(0, "127.0.0.1", () => {
  console.log(`stream upstream listening on http://127.0.0.1:${server.address().port}`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
