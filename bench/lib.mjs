// What the stream benchmarks share: their --name value options, starting the processes they
// measure (each waited for until it prints what it listens on), and the clock both sides stamp.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Return the command line's `--name value` pairs as an object.
export function options(argv = process.argv.slice(2)) {
  return Object.fromEntries(argv.reduce((pairs, word, i, all) =>
    word.startsWith("--") ? [...pairs, [word.slice(2), all[i + 1]]] : pairs, []));
}

// Microseconds since the epoch, comparable across processes on this machine.
export const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

// The processes one benchmark starts, in a throwaway HOME, all stopped by stopAll().
export class Processes {
  constructor(prefix) {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.children = [];
  }

  // Start `command` and resolve with { child, value }: value the first match of `pattern` in its
  // output.
  start(command, argv, pattern) {
    const child = spawn(command, argv, { env: { PATH: process.env.PATH, HOME: this.dir } });
    this.children.push(child);
    return new Promise((resolve, reject) => {
      let output = "";
      const onData = (data) => {
        output += data;
        const match = output.match(pattern);
        if (match) resolve({ child, value: match[1] });
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.on("exit", (code) => reject(new Error(`${command} exited ${code}: ${output}`)));
    });
  }

  // Stop every process started and remove the HOME.
  stopAll() {
    for (const child of this.children) child.kill("SIGTERM");
    rmSync(this.dir, { recursive: true, force: true });
  }
}
