// Whether a gateway's CPU per call stays flat as it serves more calls: one gateway as `npm start`
// runs it (the bundle), on issue 11's full path (auth with a key, team and endpoint request
// quotas, the SQLite ledger, logging info to /dev/null, metrics), and batches of 20,000 unary
// calls (h2load, HTTP/1.1, 32 connections) one after another; after each batch it prints the
// process's CPU per call, each thread's (main, V8 workers, the SQLite write worker), RPS and RSS.
//   npx tsx bench/cpu-drift.ts [--surface connect|openai|mlflow] [--batches 8] [--batch 20000] [--log-ab]
// A figure that climbs batch after batch is state that grows with the calls served (it found the
// FeedbackBook's Map trimmed from its front: +150 µs a call after 50k calls).
// `--log-ab` alternates the batches between logging.level info and silent in the same process
// (the config is rewritten and reloaded before each batch) and prints what the call log line
// costs: the median CPU per call of the info batches over the silent ones (the first batch, a
// warm-up, left out). One process, so the
// comparison is free of what differs between two starts (JIT, heap layout, the ledger file).
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { freePort } from "../test/support/free-port";
import { startNodeFlags } from "./start-flags";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: opt } = parseArgs({
  options: { surface: { type: "string", default: "connect" }, batches: { type: "string", default: "8" }, batch: { type: "string", default: "20000" }, "log-ab": { type: "boolean", default: false } },
  strict: true,
});
const KEY = "mg-bench-0123456789abcdef";
const message = [{ role: "user", content: "Write one sentence about the sea." }];
const surfaces: Record<string, [string, unknown]> = {
  connect: ["/modelgate.v1.ChatService/Chat", { endpoint: "chat", messages: message }],
  openai: ["/v1/chat/completions", { model: "chat", messages: message }],
  mlflow: ["/gateway/chat/invocations", { messages: message }],
};
const surface = surfaces[opt.surface];
if (!surface) throw new Error(`--surface: one of ${Object.keys(surfaces).join(", ")}`);
const tmp = mkdtempSync(path.join(os.tmpdir(), "modelgate-cpu-drift-"));
const bodyFile = path.join(tmp, "body.json");
writeFileSync(bodyFile, JSON.stringify(surface[1]));

const fake = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(root, "bench/fake-upstream-main.ts")], { stdio: ["ignore", "pipe", "inherit"] });
const fakeUrl = await new Promise<string>((resolve) =>
  fake.stdout.on("data", (b: Buffer) => {
    const m = /listening (\S+)/.exec(b.toString());
    if (m) resolve(m[1]!);
  }),
);
const config = (level: string) => `auth:
  enabled: true
  keys:
    - { name: bench, key: ${KEY}, team: bench, roles: [user] }
logging: { level: ${level} }
store: { database_url: "sqlite:${tmp}/modelgate.db" }
teams:
  bench: { rpm: 1000000000 }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-bench, openai_api_base: ${fakeUrl}/v1 } }
    limit: { renewal_period: minute, calls: 1000000000 }
`;
const configFile = path.join(tmp, "config.yaml");
writeFileSync(configFile, config("info"));
const port = await freePort();
// The level comes from the config (a $LOG_LEVEL would pin it against --log-ab's reloads).
const { LOG_LEVEL: _pinned, ...env } = process.env;
// Stdout to /dev/null; with --log-ab to a pipe read here (as a log collector would), which only
// counts the gateway's "log level changed" lines.
const gw = spawn(process.execPath, [...startNodeFlags, path.join(root, "bin/modelgate.mjs"), "--config", configFile, "--port", String(port)], {
  stdio: ["ignore", opt["log-ab"] ? "pipe" : openSync("/dev/null", "w"), "inherit"],
  env,
});
let levelChanges = 0;
let tail = "";
gw.stdout?.on("data", (chunk: Buffer) => {
  const text = tail + chunk.toString("latin1");
  levelChanges += text.split('"msg":"log level changed"').length - 1;
  tail = text.slice(-40);
  if (tail.includes('"msg":"log level changed"')) tail = "";
});
const stop = () => {
  gw.kill("SIGTERM");
  fake.kill("SIGTERM");
};
process.on("exit", stop);

/** CPU ticks (utime + stime) per thread name of `pid` (the main thread marked "main"). */
function threads(pid: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const name = t === String(pid) ? "main" : s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      m.set(name, (m.get(name) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return m;
}
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const h2load = (n: number) =>
  // Not execFileSync: this process must go on reading the gateway's stdout pipe (--log-ab) meanwhile.
  promisify(execFile)("h2load", ["--h1", "-c", String(Math.min(32, n)), "-t", "1", "-n", String(n), "-d", bodyFile, "-H", "content-type: application/json", "-H", `authorization: Bearer ${KEY}`, `http://127.0.0.1:${port}${surface[0]}`], { encoding: "utf8" }).then((r) => r.stdout);

for (let ready = false, tries = 0; !ready; tries++) {
  if (tries > 100) throw new Error("the gateway did not answer within 20 s");
  await new Promise((r) => setTimeout(r, 200));
  ready = /1 succeeded/.test(await h2load(1));
}
await new Promise((r) => setTimeout(r, 4_000)); // the tokenizer's background build
const HZ = 100;
const BATCH = Number(opt.batch);
/** Rewrites the config at `level`, reloads it (SIGHUP) and waits for the gateway's "log level changed" line. */
async function setLevel(level: string): Promise<void> {
  const seen = levelChanges;
  writeFileSync(configFile, config(level));
  gw.kill("SIGHUP");
  for (let i = 0; levelChanges === seen; i++) {
    if (i > 100) throw new Error(`the gateway did not change its log level to ${level} within 10 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const perLevel = new Map<string, number[]>();
const level = (b: number) => (b % 2 === 1 ? "info" : "silent");
process.stdout.write(
  `| calls served |${opt["log-ab"] ? " log |" : ""} CPU µs/call | main thread | other threads | RPS | RSS MB |\n| ---: |${opt["log-ab"] ? " --- |" : ""} ---: | ---: | --- | ---: | ---: |\n`,
);
for (let b = 1; b <= Number(opt.batches); b++) {
  if (opt["log-ab"] && b > 1) await setLevel(level(b));
  const before = threads(gw.pid!);
  const out = await h2load(BATCH);
  const after = threads(gw.pid!);
  const ok = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const rps = /finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1] ?? "?";
  const per = (name: string) => (((after.get(name) ?? 0) - (before.get(name) ?? 0)) * (1e6 / HZ)) / Math.max(1, ok);
  const total = [...after.keys()].reduce((n, k) => n + per(k), 0);
  const others = [...after.keys()].filter((k) => k !== "main" && per(k) >= 1).map((k) => `${k} ${per(k).toFixed(0)}`).join(", ");
  // The first batch warms the gateway up (its CPU per call is far above the rest): not counted.
  if (opt["log-ab"] && b > 1) perLevel.set(level(b), [...(perLevel.get(level(b)) ?? []), total]);
  const levelCell = opt["log-ab"] ? ` ${level(b)} |` : "";
  process.stdout.write(`| ${b * BATCH} |${levelCell} ${total.toFixed(0)} | ${per("main").toFixed(0)} | ${others} | ${Number(rps).toFixed(0)} | ${rssMb(gw.pid!).toFixed(0)} |\n`);
}
if (opt["log-ab"]) {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const infos = perLevel.get("info") ?? [];
  const silents = perLevel.get("silent") ?? [];
  const info = median(infos);
  const silent = median(silents);
  // Each silent batch against the info batch after it: the machine's slow drifts cancel out.
  const paired = median(silents.map((s, i) => (infos[i] ?? Number.NaN) - s).filter((d) => !Number.isNaN(d)));
  process.stdout.write(
    `\nlog info: ${info.toFixed(0)} µs CPU/call, log silent: ${silent.toFixed(0)} µs (medians of ${infos.length} and ${silents.length} batches); ` +
      `the call log line costs ${(info - silent).toFixed(1)} µs a call (${(((info - silent) / info) * 100).toFixed(1)} % of the CPU), ` +
      `${paired.toFixed(1)} µs (${((paired / info) * 100).toFixed(1)} %) as the median of adjacent pairs\n`,
  );
}
stop();
rmSync(tmp, { recursive: true, force: true });
process.exit(0);
