// Starting and stopping the processes the SDK tests talk to, and the transcript of everything
// they printed and the SDKs received (for the canary checks).
import { spawn } from "node:child_process";

const children = [];
let transcript = "";

// Record `value` (a string or anything JSON) in the transcript and return it.
export function received(value) {
  transcript += (typeof value === "string" ? value : JSON.stringify(value)) + "\n";
  return value;
}

// Return everything recorded so far.
export function recorded() {
  return transcript;
}

// Start `command` with HOME `home` and resolve with the first match of `pattern` in its output.
export function startAndWait(command, args, pattern, home, env = {}) {
  const child = spawn(command, args, { env: { PATH: process.env.PATH, HOME: home, ...env } });
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`${command} did not start:\n${output}`)), 10000);
    const onData = (data) => {
      output += data;
      transcript += data;
      const match = output.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${command} exited (${code}):\n${output}`)));
  });
}

// Start the fake provider; resolve with its URL.
export function startProvider(home) {
  return startAndWait(process.env.AGPROXY_FAKE_PROVIDER, [],
                      /listening on (http:\/\/127\.0\.0\.1:\d+)/, home);
}

// Start `agproxy serve` on config file `config`; resolve with its URL.
export async function startProxy(config, home) {
  const port = await startAndWait(process.env.AGPROXY_BINARY,
                                  ["serve", "--config", config, "--port", "0"],
                                  /listening on http:\/\/127\.0\.0\.1:(\d+)/, home);
  return `http://127.0.0.1:${port}`;
}

// Stop every process started.
export function stopAll() {
  for (const child of children) {
    child.kill("SIGTERM");
  }
}
