#!/usr/bin/env node
// The delay agproxy adds to each streamed text delta when it translates between API families,
// next to passthrough. bench/stream_upstream.mjs streams Anthropic, OpenAI Chat and Gemini, each
// delta's text its send time ("t=<µs>;"); this runs N concurrent streams straight to it in each
// upstream protocol, then N through agproxy for each row, parses the client family's stream and
// takes receipt minus send time per delta (same machine, same clock). Added delay = a row's
// percentile through agproxy minus the same percentile straight to the upstream it reaches; with
// --rounds R the median over R rounds; each row's direct run is made just before its proxied one.
//
//   node bench/translated_streams.mjs [--streams 100] [--events 20] [--spacing 100] [--rounds 1]
//                                     [--build build] [--json 1]
//
// Needs the built agproxy (./bootstrap test builds it). Loopback only.
import http from "node:http";
import { writeFileSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { options, nowUs, Processes } from "./lib.mjs";

const args = options();
const streams = Number(args.streams ?? 100);
const events = Number(args.events ?? 20);
const spacing = Number(args.spacing ?? 100);
const rounds = Number(args.rounds ?? 1);
const build = args.build ?? "build";
const ramp = Math.max(spacing, streams);
if (ramp >= events * spacing) throw new Error("--events x --spacing must outlast the ramp");
const key = "sk-0123456789abcdef0123456789abcdef";
const processes = new Processes("agproxy-translated-streams-");
const dir = processes.dir;
const start = (command, argv, pattern) => processes.start(command, argv, pattern);

const model = (upstream) => `ts-${upstream}-${events}-${spacing}`;

// Each client family: its route, its request body and the text of one event of its stream.
const families = {
  anthropic: {
    path: () => "/v1/messages",
    body: (m) => ({ model: m, max_tokens: 64, stream: true, messages: [{ role: "user", content: "hi" }] }),
    text: (data) => (data.type === "content_block_delta" && data.delta?.type === "text_delta"
      ? data.delta.text : ""),
  },
  openai: {
    path: () => "/v1/chat/completions",
    body: (m) => ({ model: m, stream: true, messages: [{ role: "user", content: "hi" }] }),
    text: (data) => data.choices?.[0]?.delta?.content ?? "",
  },
  "openai-responses": {
    path: () => "/v1/responses",
    body: (m) => ({ model: m, stream: true, input: "hi" }),
    text: (data) => (data.type === "response.output_text.delta" ? data.delta : ""),
  },
  gemini: {
    path: (m) => `/v1beta/models/${m}:streamGenerateContent?alt=sse`,
    body: () => ({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
    text: (data) => (data.candidates?.[0]?.content?.parts ?? []).map((part) => part.text ?? "").join(""),
  },
};

// The upstreams agproxy is configured with (all the one stream upstream) and the rows measured.
const upstreams = { an: "anthropic", oa: "openai", ge: "gemini" };
const rows = [
  { name: "passthrough", client: "anthropic", upstream: "an", translation: undefined },
  { name: "anthropic->openai", client: "anthropic", upstream: "oa", translation: "anthropic->openai" },
  { name: "openai->gemini", client: "openai", upstream: "ge", translation: "openai->gemini" },
  { name: "openai-responses->anthropic", client: "openai-responses", upstream: "an",
    translation: "openai-responses->anthropic" },
];

async function runStreams(base, family, upstream, headers, expectedTranslation, count = streams) {
  const { path, body, text } = families[family];
  const m = model(upstream);
  const delays = [];
  let completed = 0;
  let translationSeen = 0;
  const one = async () => {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * ramp));
    // One connection per stream, closed at its end, as bench/streams.mjs.
    const response = await new Promise((resolve, reject) => {
      const request = http.request(base + path(m), {
        method: "POST", agent: false,
        headers: { "content-type": "application/json", connection: "close", ...headers },
      }, resolve);
      request.on("error", reject);
      request.end(JSON.stringify(body(m)));
    });
    if (response.headers["x-agproxy-translation"] === expectedTranslation) translationSeen++;
    const decoder = new TextDecoder();
    let buffer = "";
    let carried = "";
    let seen = 0;
    for await (const chunk of response) {
      const at = nowUs();
      buffer += decoder.decode(chunk, { stream: true }).replaceAll("\r", "");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split("\n").filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart()).join("\n");
        if (!data || data === "[DONE]") continue;
        carried += text(JSON.parse(data));
        // A delta's stamp may in principle arrive split over events: count it once it is whole.
        let last = 0;
        for (const match of carried.matchAll(/t=(\d+);/g)) {
          delays.push(at - Number(match[1]));
          seen++;
          last = match.index + match[0].length;
        }
        carried = carried.slice(last);
      }
    }
    if (response.statusCode === 200 && seen === events) completed++;
  };
  await Promise.all(Array.from({ length: count }, one));
  delays.sort((a, b) => a - b);
  const pick = (q) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? NaN;
  return { completed, translationSeen, events: delays.length, p50: pick(0.5), p99: pick(0.99) };
}

const median = (values) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : NaN;
};

try {
  const upstream = await start(process.execPath,
                               [join(dirname(fileURLToPath(import.meta.url)), "stream_upstream.mjs")],
                               /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  writeFileSync(join(dir, "config.json"), JSON.stringify({ proxy: {
    auth_mode: "strict", api_key: key,
    upstreams: Object.entries(upstreams).map(([short, protocol]) => ({
      name: `stream-${short}`, protocol, base_url: upstream.value, api_keys: ["k-1"],
      models: [`ts-${short}-*`] })) } }));
  const proxy = await start(join(build, "agproxy"),
                            ["serve", "--config", join(dir, "config.json"), "--port", "0",
                             "--log-level", "warn"],
                            /listening on http:\/\/127\.0\.0\.1:(\d+)/);
  const proxyBase = `http://127.0.0.1:${proxy.value}`;
  const auth = { authorization: `Bearer ${key}` };
  const direct = (short) => runStreams(upstream.value, upstreams[short], short, {}, undefined);
  const through = (row, count) => runStreams(proxyBase, row.client, row.upstream, auth, row.translation, count);
  for (const row of rows) await through(row, 10); // warm up every path before measuring
  for (const short of Object.keys(upstreams)) await direct(short);
  const perRound = [];
  for (let r = 0; r < rounds; r++) {
    const measured = [];
    for (const row of rows) measured.push({ row, direct: await direct(row.upstream), proxied: await through(row) });
    perRound.push(measured);
  }
  const status = readFileSync(`/proc/${proxy.child.pid}/status`, "utf8");
  const result = rows.map((row, i) => {
    const all = perRound.map((round) => round[i]);
    return {
      row: row.name,
      completed: Math.min(...all.map((x) => x.proxied.completed)),
      translation_header: Math.min(...all.map((x) => x.proxied.translationSeen)),
      direct_p50_ms: median(all.map((x) => x.direct.p50 / 1000)),
      direct_p99_ms: median(all.map((x) => x.direct.p99 / 1000)),
      proxied_p50_ms: median(all.map((x) => x.proxied.p50 / 1000)),
      proxied_p99_ms: median(all.map((x) => x.proxied.p99 / 1000)),
      added_p50_ms: median(all.map((x) => (x.proxied.p50 - x.direct.p50) / 1000)),
      added_p99_ms: median(all.map((x) => (x.proxied.p99 - x.direct.p99) / 1000)),
      added_p50_rounds_ms: all.map((x) => (x.proxied.p50 - x.direct.p50) / 1000),
    };
  });
  const peakMiB = Number(status.match(/VmHWM:\s+(\d+)/)[1]) / 1024;
  if (args.json) {
    console.log(JSON.stringify({ streams, events, spacing, rounds, rows: result, peak_rss_mib: peakMiB }));
  } else {
    const f = (x) => x.toFixed(3).padStart(9);
    console.log(`machine: ${cpus().length} cores, ${cpus()[0].model}`);
    console.log(`${streams} concurrent streams x ${events} text deltas, ${spacing} ms apart; ` +
                `median of ${rounds} round(s)`);
    console.log("row                          completed  direct p50/p99 ms    agproxy p50/p99 ms   added p50/p99 ms");
    for (const r of result) {
      console.log(`${r.row.padEnd(28)} ${String(r.completed).padStart(9)} ${f(r.direct_p50_ms)} ${f(r.direct_p99_ms)}  ` +
                  `${f(r.proxied_p50_ms)} ${f(r.proxied_p99_ms)}  ${f(r.added_p50_ms)} ${f(r.added_p99_ms)}`);
    }
    console.log(`agproxy peak RSS: ${peakMiB.toFixed(1)} MiB`);
  }
  const ok = result.every((r) => r.completed === streams && r.translation_header === streams);
  if (!ok) console.error("translated_streams: a stream did not complete, or lacked its x-agproxy-translation");
  process.exitCode = ok ? 0 : 1;
} finally {
  processes.stopAll();
}
