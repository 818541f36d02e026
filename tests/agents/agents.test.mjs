// The real coding agents (Claude Code, Codex CLI, Gemini CLI) through agproxy to the fake provider's
// "scripted" models, one agent × upstream protocol at a time: the prompt asks the fake model for a
// call of the agent's own file-reading tool on marker.txt, the agent runs it and sends the result back,
// and the fake answers `TOOL_RESULT_SEEN: <result>`. A combination passes when the agent's final
// output shows that text with the marker's random token, the provider saw the turn on its own
// protocol's path with its own key, and no key leaked. The "echo" column has no upstream at all:
// the built-in agproxy-echo model must say the prompt's token back, the provider seeing nothing.
// Each agent also runs each upstream a second time with its image tool (Claude Code's Read, Codex's
// view_image, Gemini CLI's read_file) on shot.png, a small PNG ("+image" rows): the fake counts the
// images the tool result brought, wherever the protocol puts them, and the final output must say
// `[images: 1]`; an image lost in translation fails there. Not with AGENTS_SETUP=1 (wiring only).
//
// Environment: AGPROXY_BINARY, AGPROXY_FAKE_PROVIDER (CTest sets both; a .mjs provider runs under
// node), optional AGENTS="claude codex gemini", UPSTREAMS="anthropic openai openai-responses gemini echo",
// AGENT_TIMEOUT (seconds per agent run, default 120), AGENTS_DIRECT=1 (no agproxy: each agent talks
// to the provider of its own family, to tell an agent or fake-provider problem from a proxy one),
// AGENTS_KEEP=1 (keep the temporary directories and print where they are), AGENTS_VERBOSE=1 (the
// agent's output, what the provider saw and agproxy's log for passes too), AGENTS_SETUP=1 (the agent
// is wired only by `agproxy client setup`: its files hold no wiring before, and it runs with no
// variables of its own, just PATH, HOME and the locale).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const bin = (name) => join(here, "node_modules", ".bin", name);

// Canaries: fake keys that must never show in an agent's output, agproxy's log, or (the proxy key)
// anything the provider received.
const PROXY_KEY = `sk-canary-agents-proxy-${randomBytes(8).toString("hex")}`;
const PROVIDER_KEY = `sk-fake-provider-key-canary-${randomBytes(4).toString("hex")}`;
const CANARIES = [PROXY_KEY, PROVIDER_KEY];

const ALL_AGENTS = ["claude", "codex", "gemini"];
// "echo": no upstream at all; the built-in agproxy-echo model answers (DESIGN §6), as for a user
// trying an agent before adding a provider.
const ALL_UPSTREAMS = ["anthropic", "openai", "openai-responses", "gemini", "echo"];
const words = (value, all) => (value ?? all.join(" ")).split(/[\s,]+/).filter(Boolean);
const selectedAgents = words(process.env.AGENTS, ALL_AGENTS);
const selectedUpstreams = words(process.env.UPSTREAMS, ALL_UPSTREAMS);
const TIMEOUT_S = Number(process.env.AGENT_TIMEOUT ?? 120);
const DIRECT = process.env.AGENTS_DIRECT === "1";
const SETUP = process.env.AGENTS_SETUP === "1";
const KEEP = process.env.AGENTS_KEEP === "1";
const VERBOSE = process.env.AGENTS_VERBOSE === "1";

for (const name of selectedAgents) {
  if (!ALL_AGENTS.includes(name)) usage(`unknown agent '${name}' (AGENTS takes ${ALL_AGENTS.join(" ")})`);
}
for (const name of selectedUpstreams) {
  if (!ALL_UPSTREAMS.includes(name)) usage(`unknown upstream '${name}' (UPSTREAMS takes ${ALL_UPSTREAMS.join(" ")})`);
}
if (!process.env.AGPROXY_FAKE_PROVIDER || (!DIRECT && !process.env.AGPROXY_BINARY)) {
  usage("set AGPROXY_BINARY and AGPROXY_FAKE_PROVIDER to the built binaries (CTest does)");
}

function usage(message) {
  console.error(`agents.test.mjs: ${message}`);
  process.exit(2);
}

// The path each upstream protocol's requests take at the provider.
const UPSTREAM_PATH = {
  anthropic: /^\/v1\/messages$/,
  openai: /^\/v1\/chat\/completions$/,
  "openai-responses": /^\/v1\/responses$/,
  gemini: /^\/v1beta\/models\/[^/:]+:(stream)?[gG]enerateContent$/,
};

// Each agent: its model, the tool call the prompt scripts, its files and environment, its command.
// The environment is built from nothing (no real HOME, no proxy variables, no provider keys).
const AGENTS = {
  claude: {
    family: "anthropic",
    tool: (work) => `Read ${JSON.stringify({ file_path: join(work, "marker.txt") })}`,
    imageTool: (work) => `Read ${JSON.stringify({ file_path: join(work, "shot.png") })}`,
    env: (url, model) => ({
      ANTHROPIC_BASE_URL: url,
      ANTHROPIC_API_KEY: PROXY_KEY, // only one of ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN (README)
      // Background calls (titles, summaries) go to a scripted model too, never to a real one.
      ANTHROPIC_DEFAULT_HAIKU_MODEL: model,
      ANTHROPIC_SMALL_FAST_MODEL: model,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      DISABLE_AUTOUPDATER: "1",
      DISABLE_TELEMETRY: "1",
      DISABLE_ERROR_REPORTING: "1",
      DISABLE_BUG_COMMAND: "1",
    }),
    // With AGENTS_SETUP=1 the settings that are not wiring go in the settings file instead, for
    // `agproxy client setup claude-code` to keep.
    setup: (home, url, model) => {
      if (!SETUP) return;
      const { ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY, ...rest } = AGENTS.claude.env(url, model);
      mkdirSync(join(home, ".claude"), { recursive: true });
      writeFileSync(join(home, ".claude", "settings.json"), JSON.stringify({ env: rest }, null, 2));
    },
    // As root Claude Code refuses --dangerously-skip-permissions; --allowedTools Read is enough
    // for its Read tool to run headless.
    command: (prompt, work, model) => [bin("claude"), ["-p", prompt, "--model", model, "--allowedTools", "Read",
                                          "--output-format", "text", "--no-session-persistence"]],
  },
  codex: {
    family: "openai-responses",
    tool: () => `exec_command ${JSON.stringify({ cmd: "cat marker.txt" })}`,
    imageTool: (work) => `view_image ${JSON.stringify({ path: join(work, "shot.png") })}`,
    env: () => ({ AGPROXY_KEY: PROXY_KEY }),
    setup: (home, url, model) => {
      mkdirSync(join(home, ".codex"), { recursive: true });
      writeFileSync(join(home, ".codex", "config.toml"), [
        `model = "${model}"`,
        ...(SETUP ? [] : [`model_provider = "agproxy"`]),
        `check_for_update_on_startup = false`,
        ``,
        ...(SETUP ? [] : [
          `[model_providers.agproxy]`,
          `name = "agproxy"`,
          `base_url = "${url}/v1"`,
          `env_key = "AGPROXY_KEY"`,
          `wire_api = "responses"`,
          ``]),
        `[analytics]`,
        `enabled = false`,
        ``,
        `[feedback]`,
        `enabled = false`,
        ``,
        // Without these Codex looks up github.com, api.github.com and chatgpt.com at start.
        `[features]`,
        `plugins = false`,
        `remote_plugin = false`,
        `apps = false`,
        ``,
        // The shell tool's commands get no key from this environment.
        `[shell_environment_policy]`,
        `inherit = "core"`,
        ``,
      ].join("\n"));
    },
    // The command is scripted by the fake provider (no model chooses it) and runs in a throwaway
    // directory, so Codex's sandbox (bubblewrap, which needs user namespaces a container may not
    // have) is bypassed; approvals are never asked in `exec`.
    command: (prompt, work) => [bin("codex"), ["exec", "--skip-git-repo-check", "--ephemeral", "--strict-config",
                                               "--color", "never", "--dangerously-bypass-approvals-and-sandbox",
                                               "-C", work, prompt]],
  },
  gemini: {
    family: "gemini",
    tool: (work) => `read_file ${JSON.stringify({ file_path: join(work, "marker.txt") })}`,
    imageTool: (work) => `read_file ${JSON.stringify({ file_path: join(work, "shot.png") })}`,
    env: (url) => ({
      GOOGLE_GEMINI_BASE_URL: url,
      GEMINI_API_KEY: PROXY_KEY,
      GEMINI_CLI_TRUST_WORKSPACE: "true",
      GEMINI_TELEMETRY_ENABLED: "false",
    }),
    setup: (home) => {
      mkdirSync(join(home, ".gemini"), { recursive: true });
      writeFileSync(join(home, ".gemini", "settings.json"), JSON.stringify({
        ...(SETUP ? {} : { security: { auth: { selectedType: "gemini-api-key" } } }),
        general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
        privacy: { usageStatisticsEnabled: false },
        telemetry: { enabled: false },
      }, null, 2));
    },
    // read_file needs no confirmation in the default approval mode, so no --yolo.
    // With AGENTS_SETUP=1 there is no GEMINI_CLI_TRUST_WORKSPACE: --skip-trust trusts the workspace.
    command: (prompt, work, model) => [bin("gemini"), ["-p", prompt, "-m", model, "--output-format", "text",
                                                       ...(SETUP ? ["--skip-trust"] : [])]],
  },
};

// Every process started, each the leader of its own process group, killed at the end whatever happens.
const children = new Set();
function killAll() {
  for (const child of children) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  children.clear();
  if (!KEEP) {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  }
}
// The temporary directory of the combination running, removed on a signal too.
const roots = new Set();
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

function start(command, args, options = {}) {
  const child = spawn(command, args, { detached: true, stdio: ["pipe", "pipe", "pipe"], ...options });
  children.add(child);
  child.output = "";
  const append = (data) => {
    if (child.output.length < 4 << 20) child.output += data;
  };
  child.stdout.on("data", append);
  child.stderr.on("data", append);
  // A child leaves the set when it is gone, so that exit and signals kill whatever is still running.
  child.done = new Promise((resolveDone) => child.on("close", (code, signal) => {
    children.delete(child);
    resolveDone(code ?? signal);
  }));
  child.on("error", (error) => append(`\n[spawn error: ${error.message}]\n`));
  return child;
}

function stop(child) {
  if (!child) return;
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    // Already gone.
  }
  setTimeout(() => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }, 2000).unref();
}

// Resolves with the first match of `pattern` in the child's output, or rejects after 15 s or on exit.
function waitFor(child, pattern, what) {
  return new Promise((resolveWait, reject) => {
    const check = () => {
      const match = child.output.match(pattern);
      if (match) {
        cleanup();
        resolveWait(match[1]);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} did not start within 15 s:\n${tail(child.output)}`));
    }, 15000);
    const onExit = (code) => {
      cleanup();
      reject(new Error(`${what} exited (${code}) before it listened:\n${tail(child.output)}`));
    };
    const onError = (error) => {
      cleanup();
      reject(new Error(`${what} could not start: ${error.message}`));
    };
    function cleanup() {
      clearTimeout(timer);
      child.stdout.off("data", check);
      child.stderr.off("data", check);
      child.off("exit", onExit);
      child.off("error", onError);
    }
    child.stdout.on("data", check);
    child.stderr.on("data", check);
    child.on("exit", onExit);
    child.on("error", onError);
    check();
  });
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

function redact(text) {
  let out = String(text);
  for (const canary of CANARIES) out = out.split(canary).join(`[canary …${canary.slice(-4)}]`);
  return out;
}

function tail(text, lines = 40) {
  return redact(String(text).trimEnd().split("\n").slice(-lines).join("\n"));
}

// The last two entries of a request's conversation, in any of the four protocols, shortened.
function lastTurns(body) {
  try {
    const request = JSON.parse(body);
    const turns = request.messages ?? (Array.isArray(request.input) ? request.input : null) ?? request.contents;
    if (Array.isArray(turns)) return JSON.stringify(turns.slice(-2)).slice(0, 700);
  } catch {
    // Not JSON: shown as is.
  }
  return String(body).slice(0, 300);
}

function startProvider() {
  const provider = process.env.AGPROXY_FAKE_PROVIDER;
  const [command, args] = provider.endsWith(".mjs") ? [process.execPath, [provider]] : [provider, []];
  // The fake provider serves until its stdin closes: the pipe stays open until stop().
  const env = { PATH: process.env.PATH };
  if (process.env.DISCOVER_LOG) env.DISCOVER_LOG = process.env.DISCOVER_LOG;
  return start(command, args, { env });
}

// A 4 × 4 RGB PNG made for this test (orange).
const SHOT_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGP478AARwzEcQAWohPx03ZM6QAAAABJRU5ErkJggg==";

async function runOne(agentName, upstream, image = false) {
  const agent = AGENTS[agentName];
  const began = Date.now();
  const result = { agent: agentName, upstream: image ? `${upstream}+image` : upstream, ok: false, seconds: 0,
                   why: [], details: [] };
  const echo = upstream === "echo";
  const root = mkdtempSync(join(tmpdir(), `agproxy-agents-${agentName}-${upstream}-`));
  roots.add(root);
  const home = join(root, "home");
  const work = join(root, "work");
  mkdirSync(home);
  mkdirSync(work);
  const token = `MARKER-${randomBytes(12).toString("hex")}`;
  writeFileSync(join(work, "marker.txt"), `${token}\n`);
  writeFileSync(join(work, "shot.png"), Buffer.from(SHOT_PNG, "base64"));
  let provider;
  let proxy;
  try {
    provider = startProvider();
    const providerUrl = await waitFor(provider, /listening on (http:\/\/127\.0\.0\.1:\d+)/, "the fake provider");
    let agentUrl = providerUrl;
    if (!DIRECT) {
      const config = join(root, "agproxy.json");
      writeFileSync(config, JSON.stringify({
        proxy: {
          port: await freePort(),
          allow_lan_access: false,
          auth_mode: "strict",
          api_key: PROXY_KEY,
          echo_model: echo,
          request_timeout: TIMEOUT_S,
          upstreams: echo ? [] : [{ name: `fake-${upstream}`, protocol: upstream, base_url: providerUrl,
                                    api_keys: [PROVIDER_KEY], models: ["scripted*"] }],
        },
      }, null, 2), { mode: 0o600 });
      // `client setup` reads the port from the config, so with AGENTS_SETUP=1 agproxy listens there.
      proxy = start(process.env.AGPROXY_BINARY, ["serve", "--config", config, ...(SETUP ? [] : ["--port", "0"]),
                                                 "--workers", "1"],
                    { env: { PATH: process.env.PATH, HOME: home } });
      const port = await waitFor(proxy, /listening on http:\/\/127\.0\.0\.1:(\d+)/, "agproxy");
      agentUrl = `http://127.0.0.1:${port}`;
    }
    const model = echo ? "agproxy-echo" : `scripted-${agentName}`;
    agent.setup(home, agentUrl, model);
    if (SETUP) {
      const name = { claude: "claude-code", codex: "codex", gemini: "gemini-cli" }[agentName];
      const wired = spawnSync(process.env.AGPROXY_BINARY, ["client", "setup", name, "--config", join(root, "agproxy.json")],
                              { env: { PATH: process.env.PATH, HOME: home }, encoding: "utf8" });
      const said = `${wired.stdout}${wired.stderr}`;
      result.details.push(`--- agproxy client setup ${name}:\n${redact(said)}`);
      if (wired.status !== 0) throw new Error(`agproxy client setup ${name}: exit ${wired.status}\n${redact(said)}`);
      if (CANARIES.some((canary) => said.includes(canary))) result.why.push("a key in client setup's output");
    }
    // The echo model says the prompt back, token included; a scripted one calls the agent's tool.
    const prompt = echo ? `Say this back: ${token}`
                 : image ? `Look at the picture shot.png.\nCALL_TOOL ${agent.imageTool(work)}`
                         : `Read the file marker.txt and tell me what it says.\nCALL_TOOL ${agent.tool(work)}`;
    const [command, args] = agent.command(prompt, work, model);
    const env = {
      PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: home,
      USER: process.env.USER ?? "agents",
      LANG: "C.UTF-8",
      TERM: "dumb",
      NO_COLOR: "1",
      TMPDIR: tmpdir(),
      ...(SETUP ? {} : agent.env(agentUrl, model)),
    };
    // `timeout` bounds the run (its own process group: the agent's children go with it); the node
    // timer is the backstop.
    const run = start("timeout", ["-k", "5", String(TIMEOUT_S), command, ...args],
                      { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] });
    run.stdoutText = "";
    run.stdout.on("data", (data) => (run.stdoutText += data));
    const backstop = setTimeout(() => stop(run), (TIMEOUT_S + 15) * 1000);
    // An agent retries a dead proxy until its bound: stop it as soon as agproxy is gone.
    let proxyDied = null;
    const onProxyExit = (exitCode, signal) => {
      proxyDied = signal ?? `exit ${exitCode}`;
      stop(run);
    };
    proxy?.on("exit", onProxyExit);
    const code = await run.done;
    proxy?.off("exit", onProxyExit);
    clearTimeout(backstop);
    try {
      process.kill(-run.pid, "SIGKILL"); // anything the agent left behind
    } catch {
      // Nothing left.
    }

    const seen = await (await fetch(`${providerUrl}/_fake/requests`)).json();
    const onPath = echo ? [] : seen.filter((request) => UPSTREAM_PATH[DIRECT ? agent.family : upstream].test(request.path));
    const finalText = run.stdoutText;
    if (proxyDied) result.why.push(`agproxy died during the run (${proxyDied})`);
    else if (code !== 0) result.why.push(code === 124 || code === 137 || code === "SIGTERM" ? `timed out after ${TIMEOUT_S} s` : `exit ${code}`);
    if (!proxyDied && echo) {
      if (!finalText.includes(token)) result.why.push("the echoed token is not in the final output");
      if (seen.length > 0) result.why.push(`the provider saw ${seen.length} request(s) (want none)`);
    } else if (!proxyDied) {
      if (!finalText.includes("TOOL_RESULT_SEEN")) result.why.push("no TOOL_RESULT_SEEN in the final output");
      if (image && !finalText.includes("[images: 1]")) result.why.push("the provider did not get the image (no [images: 1])");
      if (!image && !finalText.includes(token)) result.why.push("marker token not in the final output");
      if (onPath.length < 2) result.why.push(`provider saw ${onPath.length} request(s) on its path (want >= 2)`);
    }
    for (const request of seen) {
      const credential = request.headers["authorization"] ?? request.headers["x-api-key"] ??
                         request.headers["x-goog-api-key"] ?? "";
      if (!DIRECT && JSON.stringify(request).includes(PROXY_KEY)) result.why.push(`proxy key reached the provider (${request.path})`);
      if (!DIRECT && !credential.includes(PROVIDER_KEY)) result.why.push(`provider got another credential on ${request.path}`);
    }
    for (const canary of CANARIES) {
      if (run.output.includes(canary)) result.why.push(`key …${canary.slice(-4)} in the agent's output`);
      if (proxy && proxy.output.includes(canary)) result.why.push(`key …${canary.slice(-4)} in agproxy's log`);
    }
    result.ok = result.why.length === 0;
    result.requests = onPath.length;
    if (!result.ok || VERBOSE) {
      result.details.push(`--- ${agentName} output (stdout+stderr, tail):\n${tail(run.output)}`);
      result.details.push(`--- provider saw:\n${seen.length === 0 ? "(nothing)" : redact(seen.map((request) =>
        `${request.method} ${request.target} ${String(request.body).length} bytes, ending: ` +
        lastTurns(request.body)).join("\n"))}`);
    }
  } catch (error) {
    result.why.push(String(error.message).split("\n")[0]);
    result.details.push(redact(error.message));
  } finally {
    if (proxy && (!result.ok || VERBOSE)) result.details.push(`--- agproxy log (tail):\n${tail(proxy.output)}`);
    if (provider) provider.stdin.end();
    stop(provider);
    stop(proxy);
    result.seconds = (Date.now() - began) / 1000;
    if (KEEP) result.details.push(`--- kept ${root}`);
    else rmSync(root, { recursive: true, force: true });
    roots.delete(root);
  }
  return result;
}

const results = [];
for (const agentName of selectedAgents) {
  for (const upstream of selectedUpstreams) {
    if (DIRECT && upstream !== AGENTS[agentName].family) continue;
    if (!existsSync(bin(agentName))) {
      results.push({ agent: agentName, upstream, ok: false, seconds: 0, why: [`${bin(agentName)} missing`], details: [] });
      continue;
    }
    const runs = [false];
    if (AGENTS[agentName].imageTool && upstream !== "echo" && !SETUP) runs.push(true);
    for (const image of runs) {
      const result = await runOne(agentName, upstream, image);
      console.log(`${result.ok ? "PASS" : "FAIL"} ${agentName} × ${result.upstream} (${result.seconds.toFixed(1)} s)` +
                  (result.ok ? "" : `: ${result.why.join("; ")}`));
      results.push(result);
    }
  }
}

console.log(`\n${DIRECT ? "agents → provider directly (AGENTS_DIRECT=1)" : "agents → agproxy → fake provider"}`);
console.log(`${"agent".padEnd(8)} ${"upstream".padEnd(18)} ${"result".padEnd(6)} ${"seconds".padStart(7)}  why`);
for (const result of results) {
  console.log(`${result.agent.padEnd(8)} ${result.upstream.padEnd(18)} ${(result.ok ? "PASS" : "FAIL").padEnd(6)} ` +
              `${result.seconds.toFixed(1).padStart(7)}  ${result.ok ? "" : result.why.join("; ")}`);
}
for (const result of results.filter((r) => !r.ok || VERBOSE)) {
  console.log(`\n=== ${result.agent} × ${result.upstream}: ${result.ok ? "PASS" : result.why.join("; ")}`);
  for (const detail of result.details) console.log(detail);
}
const failed = results.filter((r) => !r.ok).length;
console.log(`\n${results.length - failed} passed, ${failed} failed`);
killAll();
process.exit(failed === 0 && results.length > 0 ? 0 : 1);
