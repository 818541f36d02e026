// A development aid, not the acceptance check: a small provider that records every request and
// answers the "scripted" models like the C++ fake provider's scripted mode (a tool call for a
// `CALL_TOOL <name> <json-args>` line, then `TOOL_RESULT_SEEN: <result>`), without its validation of
// signatures and ids. Use it to see what a new agent version sends (its tools, their argument names)
// before anything is built:
//   AGPROXY_FAKE_PROVIDER=$PWD/tests/agents/discover.mjs AGENTS_DIRECT=1 DISCOVER_LOG=/tmp/seen.jsonl \
//     tests/agents/run.sh
// Prints "fake provider listening on URL", serves GET /_fake/requests like the C++ fake, and stops
// when its stdin closes; DISCOVER_LOG (optional) gets one JSON line per request with the parsed body.
import http from "node:http";
import { appendFileSync } from "node:fs";

const log = process.env.DISCOVER_LOG;
const seen = [];
let counter = 0;

// The text of a message's content, whether a string or an array of parts.
function userTextOf(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p) => (typeof p === "string" ? p : p.text ?? "")).filter(Boolean).join("\n");
}

// What the scripted model answers to a request of protocol `kind`: {tool: {name, args}} or {text}.
function decide(kind, body) {
  let lastText = "";
  let result = null;
  if (kind === "anthropic") {
    const last = (body.messages ?? []).findLast((m) => m.role === "user") ?? {};
    if (Array.isArray(last.content)) {
      const tr = last.content.find((b) => b.type === "tool_result");
      if (tr) result = userTextOf(tr.content);
    }
    lastText = userTextOf(last.content);
  } else if (kind === "chat") {
    const last = (body.messages ?? []).at(-1) ?? {};
    if (last.role === "tool") result = userTextOf(last.content);
    lastText = userTextOf(last.content);
  } else if (kind === "responses") {
    const input = typeof body.input === "string" ? [{ role: "user", content: body.input }] : body.input ?? [];
    const last = input.at(-1) ?? {};
    if (last.type === "function_call_output" || last.type === "custom_tool_call_output") {
      result = typeof last.output === "string" ? last.output : userTextOf(last.output);
    }
    for (const item of input) {
      if (item.role === "user") lastText = userTextOf(item.content);
    }
  } else if (kind === "gemini") {
    const last = (body.contents ?? []).at(-1) ?? {};
    for (const p of last.parts ?? []) {
      if (p.functionResponse) result = JSON.stringify(p.functionResponse.response);
    }
    lastText = (last.parts ?? []).map((p) => p.text ?? "").join("\n");
  }
  if (result !== null) return { text: "TOOL_RESULT_SEEN: " + result.slice(0, 300) };
  const m = lastText.match(/^CALL_TOOL (\S+) (.*)$/m);
  if (m) return { tool: { name: m[1], args: JSON.parse(m[2]) } };
  return { text: "scripted: " + lastText.slice(-200) };
}

function sse(res, event, data) {
  if (event) res.write(`event: ${event}\n`);
  res.write(`data: ${JSON.stringify(data)}\n\n`);
}

function anthropic(res, body, d) {
  const id = `msg_fake_${++counter}`;
  const usage = { input_tokens: 10, output_tokens: 5 };
  if (!body.stream) {
    const content = d.tool
      ? [{ type: "tool_use", id: `toolu_fake_${counter}`, name: d.tool.name, input: d.tool.args }]
      : [{ type: "text", text: d.text }];
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ id, type: "message", role: "assistant", model: body.model, content,
      stop_reason: d.tool ? "tool_use" : "end_turn", stop_sequence: null, usage }));
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  sse(res, "message_start", { type: "message_start", message: { id, type: "message", role: "assistant",
    model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } } });
  if (d.tool) {
    sse(res, "content_block_start", { type: "content_block_start", index: 0,
      content_block: { type: "tool_use", id: `toolu_fake_${counter}`, name: d.tool.name, input: {} } });
    const json = JSON.stringify(d.tool.args);
    const half = Math.floor(json.length / 2);
    for (const part of [json.slice(0, half), json.slice(half)]) {
      sse(res, "content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: part } });
    }
  } else {
    sse(res, "content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
    sse(res, "content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: d.text } });
  }
  sse(res, "content_block_stop", { type: "content_block_stop", index: 0 });
  sse(res, "message_delta", { type: "message_delta", delta: { stop_reason: d.tool ? "tool_use" : "end_turn", stop_sequence: null }, usage: { output_tokens: 5 } });
  sse(res, "message_stop", { type: "message_stop" });
  res.end();
}

function responses(res, body, d) {
  const id = `resp_fake_${++counter}`;
  let seq = 0;
  const base = { id, object: "response", created_at: Math.floor(Date.now() / 1000), model: body.model };
  const item = d.tool
    ? { type: "function_call", id: `fc_fake_${counter}`, call_id: `call_fake_${counter}`, name: d.tool.name,
        arguments: JSON.stringify(d.tool.args), status: "completed" }
    : { type: "message", id: `msg_fake_${counter}`, role: "assistant", status: "completed",
        content: [{ type: "output_text", text: d.text, annotations: [] }] };
  const usage = { input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5,
                  output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 };
  if (!body.stream) {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ ...base, status: "completed", output: [item], usage }));
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  const ev = (type, data) => sse(res, type, { type, sequence_number: seq++, ...data });
  ev("response.created", { response: { ...base, status: "in_progress", output: [] } });
  ev("response.in_progress", { response: { ...base, status: "in_progress", output: [] } });
  if (d.tool) {
    ev("response.output_item.added", { output_index: 0, item: { ...item, arguments: "", status: "in_progress" } });
    const json = item.arguments;
    const half = Math.floor(json.length / 2);
    for (const part of [json.slice(0, half), json.slice(half)]) {
      ev("response.function_call_arguments.delta", { item_id: item.id, output_index: 0, delta: part });
    }
    ev("response.function_call_arguments.done", { item_id: item.id, output_index: 0, arguments: json });
  } else {
    ev("response.output_item.added", { output_index: 0, item: { ...item, content: [], status: "in_progress" } });
    ev("response.content_part.added", { item_id: item.id, output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } });
    ev("response.output_text.delta", { item_id: item.id, output_index: 0, content_index: 0, delta: d.text });
    ev("response.output_text.done", { item_id: item.id, output_index: 0, content_index: 0, text: d.text });
    ev("response.content_part.done", { item_id: item.id, output_index: 0, content_index: 0, part: item.content[0] });
  }
  ev("response.output_item.done", { output_index: 0, item });
  ev("response.completed", { response: { ...base, status: "completed", output: [item], usage } });
  res.end();
}

function chat(res, body, d) {
  const id = `chatcmpl_fake_${++counter}`;
  const message = d.tool
    ? { role: "assistant", content: null, tool_calls: [{ id: `call_fake_${counter}`, type: "function",
        function: { name: d.tool.name, arguments: JSON.stringify(d.tool.args) } }] }
    : { role: "assistant", content: d.text };
  const finish = d.tool ? "tool_calls" : "stop";
  const base = { id, created: Math.floor(Date.now() / 1000), model: body.model };
  if (!body.stream) {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ ...base, object: "chat.completion", choices: [{ index: 0, message, finish_reason: finish }],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }));
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  const chunk = (delta, fr = null) => sse(res, null, { ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: fr }] });
  chunk(d.tool ? { role: "assistant", tool_calls: [{ index: 0, ...message.tool_calls[0] }] } : { role: "assistant", content: d.text });
  chunk({}, finish);
  res.write("data: [DONE]\n\n");
  res.end();
}

function gemini(res, body, d, stream) {
  const part = d.tool ? { functionCall: { name: d.tool.name, args: d.tool.args }, thoughtSignature: `sig-fake-${++counter}` }
                      : { text: d.text };
  const answer = { candidates: [{ content: { role: "model", parts: [part] }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 }, modelVersion: "scripted" };
  if (!stream) {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify(answer));
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  sse(res, null, answer);
  res.end();
}

const server = http.createServer((req, res) => {
  let raw = "";
  req.on("data", (c) => (raw += c));
  req.on("end", () => {
    let body = {};
    try { body = raw ? JSON.parse(raw) : {}; } catch { body = { unparsed: raw.slice(0, 2000) }; }
    const url = new URL(req.url, "http://x");
    if (req.method === "GET" && url.pathname === "/_fake/requests") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(seen));
    }
    seen.push({ method: req.method, path: url.pathname, target: req.url, query: url.search.slice(1),
                headers: req.headers, body: raw });
    if (log) appendFileSync(log, JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }) + "\n");
    const g = url.pathname.match(/^\/v1(?:beta)?\/models\/([^/:]+):(\w+)$/);
    try {
      if (url.pathname === "/v1/messages/count_tokens") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ input_tokens: 10 }));
      }
      if (url.pathname === "/v1/messages") return anthropic(res, body, decide("anthropic", body));
      if (url.pathname === "/v1/responses") return responses(res, body, decide("responses", body));
      if (url.pathname === "/v1/chat/completions") return chat(res, body, decide("chat", body));
      if (g && g[2] === "countTokens") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ totalTokens: 10 }));
      }
      if (g) return gemini(res, body, decide("gemini", body), g[2] === "streamGenerateContent");
    } catch (e) {
      res.writeHead(400, { "content-type": "application/json" });
      return res.end(JSON.stringify({ error: { message: String(e) } }));
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: "not found " + url.pathname } }));
  });
});
server.listen(0, "127.0.0.1", () => console.log(`fake provider listening on http://127.0.0.1:${server.address().port}`));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
