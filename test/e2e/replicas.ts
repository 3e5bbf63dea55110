// Real `modelgate` processes for end-to-end tests: the CLI and two gateway replicas sharing a
// store (and Redis), started the way an operator starts them.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = fileURLToPath(new URL("../../bin/modelgate.mjs", import.meta.url));

export interface Replica {
  url: string;
  port: number;
  logs: () => string;
  stop(): Promise<number | null>;
}

export async function startReplica(configPath: string): Promise<Replica> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [bin, "--config", configPath, "--port", "0"], { cwd: root, env: { ...process.env, LOG_LEVEL: "info" } });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  for (let i = 0; i < 400; i++) {
    const m = /"port":(\d+)[^\n]*modelgate listening/.exec(out);
    if (m) {
      const port = Number(m[1]);
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        logs: () => out,
        async stop() {
          if (child.exitCode === null) child.kill("SIGTERM");
          return exited;
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`replica exited: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`replica did not start: ${out}`);
}

/** Runs `modelgate <args>` to completion. */
export function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
