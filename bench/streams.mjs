#!/usr/bin/env node
// How many concurrent SSE streams one agproxy carries, and the delay it adds to each event.
// Runs N streams straight to the fake provider, then N through agproxy, in one run, and compares
// the per-event delay (client receipt minus the provider's send timestamp, same clock).
//
//   node bench/streams.mjs [--streams 1000] [--events 20] [--spacing 100] [--build build] [--json 1]
//
// Needs the built agproxy and agproxy_fake_provider (./bootstrap test builds both). Loopback only.
import http from "node:http";
import { writeFileSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { options, nowUs, Processes } from "./lib.mjs";

const args = options();
const streams = Number(args.streams ?? 1000);
const events = Number(args.events ?? 20);
const spacing = Number(args.spacing ?? 100);
const build = args.build ?? "build";
const ramp = Math.max(spacing, streams);
if (ramp >= events * spacing) throw new Error("--events x --spacing must outlast the ramp");
const key = "sk-0123456789abcdef0123456789abcdef";
const processes = new Processes("agproxy-streams-");
const dir = processes.dir;
const start = (command, argv, pattern) => processes.start(command, argv, pattern);


async function runStreams(url, headers, count = streams) {
  const delays = [];
  const firstBytes = [];
  let completed = 0;
  let stalls = 0;
  const one = async () => {
    // Streams start spread over one event interval, or 1 ms per stream if longer (1,000 streams
    // over 1 s: opened within 100 ms, the load generator and the provider, sharing two cores with
    // agproxy, stalled the direct path more than the proxied one); every stream is still open
    // while the last ones start.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * ramp));
    const sentAt = performance.now();
    // One connection per stream, closed at its end: cpp-httplib 0.11.4 polls every idle keep-alive
    // connection 100 times a second, which would tax whichever server the last phase left them on.
    const response = await new Promise((resolve, reject) => {
      const request = http.request(url, {
        method: "POST", agent: false,
        headers: { "content-type": "application/json", connection: "close", ...headers },
      }, resolve);
      request.on("error", reject);
      request.end(JSON.stringify({ model: `sse-${events}-${spacing}`, stream: true }));
    });
    const decoder = new TextDecoder();
    let buffer = "";
    let seen = 0;
    let last = 0;
    let lastSent = 0;
    for await (const chunk of response) {
      const at = nowUs();
      if (seen === 0 && buffer === "") firstBytes.push(performance.now() - sentAt);
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = JSON.parse(buffer.slice(6, end));
        buffer = buffer.slice(end + 2);
        delays.push(at - event.sent_us);
        // A stall: the gap since the previous event grew by more than 100 ms on the way, beyond
        // the provider's own gap between sending them (the "gaps not present upstream").
        if (last && (at - last) - (event.sent_us - lastSent) > 100 * 1000) stalls++;
        last = at;
        lastSent = event.sent_us;
        seen++;
      }
    }
    if (seen === events) completed++;
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: count }, one));
  delays.sort((a, b) => a - b);
  firstBytes.sort((a, b) => a - b);
  const pick = (q) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? NaN;
  return { completed, events: delays.length, stalls, p50: pick(0.5), p99: pick(0.99),
           ttfb: firstBytes[Math.floor(firstBytes.length / 2)] ?? NaN,
           max: delays[delays.length - 1], seconds: (performance.now() - began) / 1000 };
}

try {
  const provider = await start(join(build, "agproxy_fake_provider"), [String(2 * streams + 64)],
                               /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  writeFileSync(join(dir, "config.json"), JSON.stringify({ proxy: {
    auth_mode: "strict", api_key: key,
    upstreams: [{ name: "fake", protocol: "openai", base_url: provider.value, api_keys: ["k-1"] }] } }));
  const proxy = await start(join(build, "agproxy"),
                            ["serve", "--config", join(dir, "config.json"), "--port", "0",
                             "--log-level", "warn"],
                            /listening on http:\/\/127\.0\.0\.1:(\d+)/);
  const directUrl = `${provider.value}/v1/chat/completions`;
  const proxyUrl = `http://127.0.0.1:${proxy.value}/v1/chat/completions`;
  const auth = { authorization: `Bearer ${key}` };
  await runStreams(directUrl, {}, 10); // warm up both paths (JIT, connections) before measuring
  await runStreams(proxyUrl, auth, 10);
  const cpuSeconds = (pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
  };
  const direct = await runStreams(directUrl, {});
  const cpuBefore = cpuSeconds(proxy.child.pid);
  const proxied = await runStreams(proxyUrl, auth);
  const proxyCpu = cpuSeconds(proxy.child.pid) - cpuBefore;
  const status = readFileSync(`/proc/${proxy.child.pid}/status`, "utf8");
  const peakKiB = Number(status.match(/VmHWM:\s+(\d+)/)[1]);
  const ms = (us) => (us / 1000).toFixed(3);
  if (args.json) {
    console.log(JSON.stringify({ streams, events, spacing, direct, proxied,
                                 added_p50_ms: (proxied.p50 - direct.p50) / 1000,
                                 added_p99_ms: (proxied.p99 - direct.p99) / 1000,
                                 peak_rss_mib: peakKiB / 1024, cpu_seconds: proxyCpu }));
  } else {
  console.log(`machine: ${cpus().length} cores, ${cpus()[0].model}`);
  console.log(`${streams} concurrent streams x ${events} events, ${spacing} ms apart`);
  console.log("path      completed  events  stalls  delay p50 ms  p99 ms  max ms  seconds");
  for (const [name, r] of [["direct", direct], ["agproxy", proxied]]) {
    console.log(`${name.padEnd(9)} ${String(r.completed).padStart(9)} ${String(r.events).padStart(7)} ` +
                `${String(r.stalls).padStart(7)} ${ms(r.p50).padStart(13)} ${ms(r.p99).padStart(7)} ` +
                `${ms(r.max).padStart(7)} ${r.seconds.toFixed(1).padStart(8)}`);
  }
  console.log(`added by agproxy: p50 ${ms(proxied.p50 - direct.p50)} ms, p99 ${ms(proxied.p99 - direct.p99)} ms`);
  console.log(`agproxy peak RSS: ${(peakKiB / 1024).toFixed(1)} MiB, CPU ${proxyCpu.toFixed(2)} s ` +
              `for ${proxied.events} events; first byte ${direct.ttfb.toFixed(2)} ms direct, ` +
              `${proxied.ttfb.toFixed(2)} ms through agproxy (medians)`);
  }
  process.exitCode = proxied.completed === streams ? 0 : 1;
} finally {
  processes.stopAll();
}
