// Cold start to SERVING: `npx tsx bench/startup.ts [--runs 5] [--config config/default.yaml]
//   [--cmd "node --max-semi-space-size=8 bin/modelgate.mjs"]` (default: `npm start`'s command,
//   package.json's start script)
// Spawns the gateway (as `npm start` does, minus npm itself) on a free port in a fresh temporary
// working directory copy of nothing but the config's directory (so the store starts empty), and
// polls grpc.health.v1.Health/Check (Connect JSON) every 5 ms until it answers SERVING. Reports
// the time from spawn to that answer, and the idle RSS (VmRSS) 1 s later, median over --runs.
// Also usable as a module: startupOnce().
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "../test/support/free-port";
import { startScript } from "./start-flags";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface StartupSample {
  /** ms from spawn to the first SERVING answer */
  servingMs: number;
  /** VmRSS 1 s after SERVING, MB (before the tokenizer's background warm-up at 2 s) */
  rss1sMb: number;
  /** VmRSS 4 s after SERVING, MB: idle */
  idleRssMb: number;
  /**
   * VmRSS 20 s after SERVING, MB: idle and settled (after the start-up collection at 5 s and
   * V8's memory reducer ~9 s later, src/server/startup-gc.ts)
   */
  settledRssMb: number;
}

/** When settledRssMb is read, after SERVING. */
export const SETTLED_AFTER_MS = 20_000;

export function rssMbOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

async function serving(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const j = (await res.json()) as { status?: string };
    return res.status === 200 && j.status === "SERVING";
  } catch {
    return false;
  }
}

/** One cold start of `cmd` (argv; `--config FILE --port N` are appended). */
export async function startupOnce(cmd: readonly string[], configFile: string, env: NodeJS.ProcessEnv = process.env): Promise<StartupSample> {
  const port = await freePort();
  // A fresh working directory: the default config's store (.modelgate/modelgate.db) starts empty.
  const cwd = mkdtempSync(path.join(os.tmpdir(), "modelgate-startup-"));
  const t0 = performance.now();
  const proc = spawn(cmd[0]!, [...cmd.slice(1), "--config", path.resolve(root, configFile), "--port", String(port)], {
    cwd,
    env: { ...env, LOG_LEVEL: env["LOG_LEVEL"] ?? "warn" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  proc.stderr.setEncoding("utf8").on("data", (s: string) => (stderr = (stderr + s).slice(-2000)));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  try {
    const url = `http://127.0.0.1:${port}`;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`exited ${proc.exitCode} before SERVING\n${stderr}`);
      if (await serving(url)) break;
      if (performance.now() - t0 > 30_000) throw new Error(`not SERVING after 30 s\n${stderr}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const servingMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1000));
    const rss1sMb = rssMbOf(proc.pid!);
    await new Promise((r) => setTimeout(r, 3000));
    const idleRssMb = rssMbOf(proc.pid!);
    await new Promise((r) => setTimeout(r, SETTLED_AFTER_MS - 4000));
    return { servingMs, rss1sMb, idleRssMb, settledRssMb: rssMbOf(proc.pid!) };
  } finally {
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
    rmSync(cwd, { recursive: true, force: true });
  }
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.ceil(s.length / 2) - 1]!;
};

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "5" },
      config: { type: "string", default: "config/default.yaml" },
      cmd: { type: "string", multiple: true },
    },
  });
  const cmds = values.cmd ?? [startScript];
  const runs = Number(values.runs);
  // Interleave the commands run by run, so a noisy machine skews them alike.
  const samples = cmds.map(() => [] as StartupSample[]);
  for (let i = 0; i < runs; i++) {
    for (const [k, c] of cmds.entries()) {
      const argv = c.split(" ").map((a) => (a.startsWith("src/") || a.startsWith("bin/") || a.startsWith(".build/") ? path.join(root, a) : a === "tsx" ? import.meta.resolve("tsx") : a));
      if (argv[0] === "node") argv[0] = process.execPath;
      samples[k]!.push(await startupOnce(argv, values.config));
    }
  }
  process.stdout.write(
    "| command | cold start to SERVING, median ms | min–max ms | RSS 1 s after MB | idle RSS 4 s after MB | settled RSS 20 s after MB |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
  );
  for (const [k, c] of cmds.entries()) {
    const ms = samples[k]!.map((s) => s.servingMs);
    process.stdout.write(
      `| \`${c}\` | ${median(ms).toFixed(0)} | ${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)} | ${median(samples[k]!.map((s) => s.rss1sMb)).toFixed(0)} | ${median(samples[k]!.map((s) => s.idleRssMb)).toFixed(0)} | ${median(samples[k]!.map((s) => s.settledRssMb)).toFixed(0)} |\n`,
    );
  }
}
