// The gateway's CPU per call on the full path, per surface, and A/B between source trees:
//   npx tsx bench/percall-cpu.ts [--tree DIR]... [--n 20000] [--warmup 3000] [--rounds 2]
//     [--surfaces openai,mlflow,connect,grpc] [--cpu-prof] [--bare] [--bundle] [--log info,silent]
//     (also: responses, responses-nostore: POST /v1/responses with store true, OpenAI's default, and false;
//     openai-stream: /v1/chat/completions with stream true and include_usage, read to [DONE])
//     [--paths full,auth-off] [--batches N] [--rewarm 1000] [--tree-flags "NODE FLAGS"]...
// Starts the fake upstream, then for each round and each tree (interleaved: A B A B …) a gateway
// (`node --import tsx DIR/src/main.ts`) whose config has the issue-11 full path on: auth with a
// key, a team and an endpoint request quota, the ledger (SQLite), logging info (stdout to
// /dev/null), metrics. Each surface gets `--warmup` calls, then `--n` calls measured with h2load
// (HTTP/1.1, 32 connections for the JSON surfaces; one h2c connection with 32 streams for gRPC);
// the figure is the gateway process's CPU (utime + stime, /proc/PID/stat) over the measured calls
// divided by their number: unlike RPS it hardly depends on how the CPUs are shared with h2load.
// Its main thread's share (/proc/PID/task/PID/stat) is printed beside it: at c=32 the event loop
// is what bounds RPS; the rest is V8's helper threads (GC, compiler) and the SQLite write worker.
// `--bundle` runs each tree as `npm start` ships it: an esbuild bundle of its src/main.ts (the
// options of bin/modelgate.mjs) under the Node flags of `npm start` (bench/start-flags.ts), instead of tsx (whose
// keepNames wraps every closure); profiles then name the bundle's lines, not the sources'.
// `--log info,silent` runs each tree once per log level (LOG_LEVEL; default info only): what the
// call log line costs.
// `--paths full,auth-off` runs each tree once per path (default full only): `auth-off` is
// bench/run.ts's --auth-off (auth disabled, no team or endpoint quota, no key sent; the ledger,
// metrics and the log level stay): what auth and the two quotas cost.
// `--bare` adds the floors as one more "tree": the bare connect-node passthrough on Connect JSON and
// gRPC, the bare node:http + undici proxy on the REST rows (its own path and the Connect JSON body).
// `--batches N` keeps every system's process running for the whole round and alternates N
// measured batches of `--n` calls between them (the warm-up before the first; before each later
// one `--rewarm` calls, 1000 by default, not measured: a gateway that sat idle while the others
// ran has had its young generation shrunk and its caches taken, and its first calls cost more;
// the order reversed every other batch: A B, B A, …): a slow minute of the machine then falls on
// all systems alike. With two systems or more, each one's batches are also paired with the first
// system's, per two batches (A B + B A: each system once in each position), the median of the
// differences.
// `--tree-flags "FLAGS"` (one per --tree, in order) adds Node flags to that tree's gateway, after
// npm start's (a later flag wins): `--tree . --tree . --tree-flags "" --tree-flags
// "--max-semi-space-size=16"` measures a flag against npm start's own.
// `--cpu-prof` profiles the first tree's gateway in its first round and prints the summary
// (bench/cpuprofile.ts). Other processes' CPU during each run is printed too (other load, % of a
// CPU), as in bench/run.ts.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { ChatRequestSchema } from "../gen/modelgate/v1/chat_pb";
import { formatProfileSummary, summarizeProfile } from "./cpuprofile";
import { freePort } from "../test/support/free-port";
import { startNodeFlags } from "./start-flags";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: opt } = parseArgs({
  options: {
    tree: { type: "string", multiple: true },
    "tree-flags": { type: "string", multiple: true },
    n: { type: "string", default: "20000" },
    warmup: { type: "string", default: "3000" },
    rounds: { type: "string", default: "2" },
    batches: { type: "string", default: "0" },
    rewarm: { type: "string", default: "1000" },
    surfaces: { type: "string", default: "openai,mlflow,connect,grpc" },
    "cpu-prof": { type: "boolean", default: false },
    bare: { type: "boolean", default: false },
    bundle: { type: "boolean", default: false },
    log: { type: "string", default: "info" },
    paths: { type: "string", default: "full" },
  },
  strict: true,
});
const N = Number(opt.n);
const WARMUP = Number(opt.warmup);
const ROUNDS = Number(opt.rounds);
const BATCHES = Number(opt.batches);
if (!Number.isInteger(BATCHES) || BATCHES < 0) throw new Error(`--batches: expected a whole number, got ${JSON.stringify(opt.batches)}`);
const REWARM = Number(opt.rewarm);
if (!Number.isInteger(REWARM) || REWARM < 0) throw new Error(`--rewarm: expected a whole number, got ${JSON.stringify(opt.rewarm)}`);
const trees = (opt.tree ?? [root]).map((t) => path.resolve(t));
const treeFlags = opt["tree-flags"] ?? [];
if (treeFlags.length > trees.length) throw new Error(`--tree-flags: ${treeFlags.length} given for ${trees.length} trees`);
/** The extra Node flags of the i-th --tree (after npm start's, so a flag given here wins). */
const flagsOf = (i: number): string[] => (treeFlags[i] ?? "").split(" ").filter((f) => f !== "");
const LOG_LEVELS = opt.log.split(",").filter((l) => l !== "");
const PATHS = opt.paths.split(",").filter((p) => p !== "") as GatewayPath[];
type GatewayPath = "full" | "auth-off";
for (const p of PATHS) if (p !== "full" && p !== "auth-off") throw new Error(`--paths: unknown path ${JSON.stringify(p)} (full, auth-off)`);
const SURFACES = opt.surfaces.split(",").filter((s) => s !== "") as Surface[];
type Surface = "openai" | "openai-stream" | "mlflow" | "connect" | "grpc" | "responses" | "responses-nostore";
const KNOWN_SURFACES: readonly Surface[] = ["openai", "openai-stream", "mlflow", "connect", "grpc", "responses", "responses-nostore"];
for (const s of SURFACES) if (!KNOWN_SURFACES.includes(s)) throw new Error(`--surfaces: unknown surface ${JSON.stringify(s)} (${KNOWN_SURFACES.join(", ")})`);

const MODEL = "gpt-4o-mini";
const UPSTREAM_KEY = "sk-bench-not-a-real-key";
const GATEWAY_KEY = "mg-bench-0123456789abcdef";
const MESSAGES = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "Write one sentence about the sea." },
];
const tmp = mkdtempSync(path.join(os.tmpdir(), "modelgate-percall-"));
const bodies: Record<Surface, string> = {
  openai: path.join(tmp, "openai.json"),
  "openai-stream": path.join(tmp, "openai-stream.json"),
  mlflow: path.join(tmp, "mlflow.json"),
  connect: path.join(tmp, "connect.json"),
  grpc: path.join(tmp, "grpc.bin"),
  responses: path.join(tmp, "responses.json"),
  "responses-nostore": path.join(tmp, "responses-nostore.json"),
};
writeFileSync(bodies.openai, JSON.stringify({ model: "chat", messages: MESSAGES }));
writeFileSync(bodies["openai-stream"], JSON.stringify({ model: "chat", messages: MESSAGES, stream: true, stream_options: { include_usage: true } }));
writeFileSync(bodies.mlflow, JSON.stringify({ messages: MESSAGES }));
writeFileSync(bodies.connect, JSON.stringify({ endpoint: "chat", messages: MESSAGES }));
// The same conversation as the Responses API sends it: instructions, then one user turn.
const RESPONSES_BODY = { model: "chat", instructions: MESSAGES[0]!.content, input: MESSAGES[1]!.content };
writeFileSync(bodies.responses, JSON.stringify(RESPONSES_BODY));
writeFileSync(bodies["responses-nostore"], JSON.stringify({ ...RESPONSES_BODY, store: false }));
const pb = toBinary(ChatRequestSchema, create(ChatRequestSchema, { endpoint: "chat", messages: MESSAGES }));
const frame = Buffer.alloc(5 + pb.length);
frame.writeUInt32BE(pb.length, 1);
frame.set(pb, 5);
writeFileSync(bodies.grpc, frame);
const paths: Record<Surface, string> = {
  openai: "/v1/chat/completions",
  "openai-stream": "/v1/chat/completions",
  mlflow: "/gateway/chat/invocations",
  connect: "/modelgate.v1.ChatService/Chat",
  grpc: "/modelgate.v1.ChatService/Chat",
  responses: "/v1/responses",
  "responses-nostore": "/v1/responses",
};

/** tsx as a URL: the gateways run in a scratch working folder, where a bare "tsx" would not resolve. */
const TSX = import.meta.resolve("tsx");
const children = new Set<ChildProcess>();
function stopAll(): void {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) c.kill("SIGTERM");
}
process.on("exit", stopAll);
process.on("SIGINT", () => process.exit(130));

function start(script: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = [], stdout: "pipe" | number = "pipe"): ChildProcess {
  const loader = script.endsWith(".mjs") ? [] : ["--import", TSX];
  const child = spawn(process.execPath, [...nodeArgs, ...loader, script, ...args], { cwd, env, stdio: ["ignore", stdout, "inherit"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

function lineFrom(child: ChildProcess, re: RegExp, ms = 30_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms`)), ms);
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (s: string) => {
      buf += s;
      const m = re.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** utime + stime of a process (all its threads), or with `thread` of that one thread (its main thread: pid). */
function cpuTicksOf(pid: number, thread?: number): number {
  const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
}
function machineTicks(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
  return Number(f[1]) + Number(f[2]) + Number(f[3]);
}
const HZ = 100;

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(p);
    let out = "";
    p.stdout.on("data", (b: Buffer) => (out += b.toString()));
    p.stderr.on("data", (b: Buffer) => (out += b.toString()));
    p.once("exit", (code) => {
      children.delete(p);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} exited ${code}\n${out.slice(-2000)}`));
    });
  });
}

/**
 * What h2load sends for `surface` to the server at `url`. The bare node:http proxy answers only
 * the Connect JSON path and body (it reads the messages of whatever body it gets), so it stands in
 * for the REST surfaces with those (`plain`).
 */
function h2loadArgs(surface: Surface, url: string, n: number, auth: boolean, plain = false): string[] {
  const c = String(Math.min(32, n));
  const conn = surface === "grpc" ? ["-c", "1", "-m", c] : ["--h1", "-c", c];
  const type = surface === "grpc" ? ["-H", "content-type: application/grpc", "-H", "te: trailers"] : ["-H", "content-type: application/json"];
  const as: Surface = plain ? "connect" : surface;
  return [...conn, "-t", "1", "-n", String(n), "-d", bodies[as], ...type, ...(auth ? ["-H", `authorization: Bearer ${GATEWAY_KEY}`] : []), url + paths[as]];
}

interface Cell {
  cpuMsPerCall: number;
  /** The main thread's share (the event loop: what bounds c=32 RPS); the rest is V8's helpers and workers (the SQLite ledger's). */
  mainMsPerCall: number;
  rps: number;
  otherPct: number;
  failed: number;
}

/** This process's own CPU plus its reaped children's (h2load): fields utime, stime, cutime, cstime. */
function selfAndChildrenTicks(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

async function measure(pid: number, surface: Surface, url: string, auth: boolean, plain: boolean, warmup: number): Promise<Cell> {
  if (warmup > 0) await run("h2load", h2loadArgs(surface, url, warmup, auth, plain));
  const cpu0 = cpuTicksOf(pid);
  const main0 = cpuTicksOf(pid, pid);
  const fake0 = cpuTicksOf(fake.pid!);
  const m0 = machineTicks();
  const ours0 = selfAndChildrenTicks();
  const t0 = performance.now();
  const out = await run("h2load", h2loadArgs(surface, url, N, auth, plain));
  const wallS = (performance.now() - t0) / 1000;
  const gw = cpuTicksOf(pid) - cpu0;
  const main = cpuTicksOf(pid, pid) - main0;
  const fakeTicks = cpuTicksOf(fake.pid!) - fake0;
  const machine = machineTicks() - m0;
  const ours = selfAndChildrenTicks() - ours0;
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed/.exec(out);
  const succeeded = Number(req?.[4] ?? 0);
  const rps = Number(/finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1] ?? Number.NaN);
  // Other processes: the machine's busy time minus the gateway's, the fake's, this runner's and h2load's.
  const other = Math.max(0, machine - gw - fakeTicks - ours);
  const perCall = (ticks: number) => ((ticks / HZ) * 1000) / Math.max(1, succeeded);
  return { cpuMsPerCall: perCall(gw), mainMsPerCall: perCall(main), rps, otherPct: (other / HZ / wallS) * 100, failed: N - succeeded };
}

function gatewayConfig(fakeUrl: string, dbDir: string, gwPath: GatewayPath): string {
  const full = gwPath === "full";
  return `# written by bench/percall-cpu.ts: ${full ? "the full path (auth with a key, quotas, ledger, log info, metrics)" : "auth off, no quotas (ledger, log, metrics)"}
server:
  host: 127.0.0.1
  port: 0
auth:
  enabled: ${full}
  keys:
    - name: bench
      key: ${GATEWAY_KEY}
      team: bench
      roles: [user]
logging:
  level: info
store:
  database_url: sqlite:${dbDir}/modelgate.db
${full ? "teams:\n  bench: { rpm: 100000000 }\n" : ""}endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model:
      provider: openai
      name: ${MODEL}
      config:
        openai_api_key: ${UPSTREAM_KEY}
        openai_api_base: ${fakeUrl}/v1
${full ? "    limit:\n      renewal_period: minute\n      calls: 100000000\n" : ""}`;
}

async function check(surface: Surface, url: string, auth: boolean, plain = false): Promise<void> {
  const out = await run("h2load", h2loadArgs(surface, url, 1, auth, plain));
  if (!/1 succeeded/.test(out) || /\b1 failed/.test(out)) throw new Error(`${surface} check failed on ${url}\n${out}`);
}

/**
 * With `--bundle`: `tree`'s src/main.ts bundled as bin/modelgate.mjs bundles it, written inside the
 * tree's node_modules (so its external packages resolve), one file per tree.
 */
const bundles = new Map<string, string>();
async function bundleOf(tree: string): Promise<string> {
  let out = bundles.get(tree);
  if (out !== undefined) return out;
  const esbuild = await import("esbuild");
  out = path.join(tree, "node_modules", ".cache", "modelgate-bench", `${createHash("sha256").update(tree).digest("hex").slice(0, 12)}.mjs`);
  await esbuild.build({
    entryPoints: [path.join(tree, "src", "main.ts")],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    packages: "external",
    sourcemap: "inline",
    logLevel: "silent",
  });
  await esbuild.stop();
  bundles.set(tree, out);
  return out;
}

const fake = start("bench/fake-upstream-main.ts", [], root, process.env);
const fakeUrl = (await lineFrom(fake, /listening (http:\/\/\S+)/))[1]!;

type System = { name: string; tree?: string; treeIndex?: number; logLevel?: string; gwPath?: GatewayPath };
const systems: System[] = trees.flatMap((t, treeIndex) =>
  LOG_LEVELS.flatMap((level) =>
    PATHS.map((gwPath) => ({
      name:
        (path.relative(root, t) || ".") +
        (flagsOf(treeIndex).length > 0 ? ` [${flagsOf(treeIndex).join(" ")}]` : "") +
        (LOG_LEVELS.length > 1 ? ` (log ${level})` : "") +
        (PATHS.length > 1 ? ` (${gwPath})` : ""),
      tree: t,
      treeIndex,
      logLevel: level,
      gwPath,
    })),
  ),
);
if (opt.bare) systems.push({ name: "bare (connect-node; node:http proxy on REST)" });
const results = new Map<string, Cell[]>();
let profiled = false;

/** One system's process, started and ready, with the URL of each surface it serves. */
interface Running {
  sys: System;
  child: ChildProcess;
  urls: Partial<Record<Surface, string>>;
  spawnedAt: number;
  profileFromMs?: number;
  /** Set when this process is the profiled one: where its profile goes, and tsx's cache for the summary. */
  prof?: { dir: string; tsxTmp: string };
}

async function startSystem(sys: System): Promise<Running> {
  const cwd = mkdtempSync(path.join(tmp, "gw-"));
  const profile = opt["cpu-prof"] && !profiled && sys.tree !== undefined;
  if (profile) profiled = true;
  const profDir = path.join(cwd, "prof");
  const tsxTmp = path.join(cwd, "tsx");
  mkdirSync(tsxTmp);
  const nodeArgs = profile ? ["--cpu-prof", "--cpu-prof-dir", profDir] : [];
  const spawnedAt = performance.now();
  const prof = profile ? { dir: profDir, tsxTmp } : undefined;
  if (!sys.tree) {
    const child = start("bench/bare-passthrough.ts", ["--upstream", `${fakeUrl}/v1`, "--model", MODEL, "--api-key", UPSTREAM_KEY], root, process.env);
    const m = await lineFrom(child, /^listening (http:\/\/\S+) h2c (http:\/\/\S+) plain (http:\/\/\S+)/m);
    return { sys, child, urls: { connect: m[1]!, grpc: m[2]!, openai: m[3]!, mlflow: m[3]! }, spawnedAt };
  }
  writeFileSync(path.join(cwd, "config.yaml"), gatewayConfig(fakeUrl, cwd, sys.gwPath ?? "full"));
  const port = await freePort();
  const devNull = openSync("/dev/null", "w");
  const script = opt.bundle ? await bundleOf(sys.tree) : path.join(sys.tree, "src/main.ts");
  const child = start(script, ["--config", "config.yaml", "--port", String(port)], cwd, { ...process.env, LOG_LEVEL: sys.logLevel ?? "info", TMPDIR: tsxTmp }, [...startNodeFlags, ...flagsOf(sys.treeIndex ?? 0), ...nodeArgs], devNull);
  closeSync(devNull);
  const u = `http://127.0.0.1:${port}`;
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      await check("connect", u, sys.gwPath !== "auth-off");
      break;
    } catch (err) {
      if (Date.now() > until || child.exitCode !== null) throw err;
      await sleep(200);
    }
  }
  // The gateway builds the tokenizer in the background ~2 s after start (~0.3 s of CPU):
  // wait it out, or it lands in the first surface's figure.
  await sleep(4_000);
  return { sys, child, urls: Object.fromEntries(KNOWN_SURFACES.map((s) => [s, u])), spawnedAt, ...(prof ? { prof } : {}) };
}

/** Measures each surface `r` serves once (after `warmup` calls), and prints the cells. */
async function measureSystem(r: Running, label: string, warmup: number): Promise<void> {
  const { sys } = r;
  for (const surface of SURFACES) {
    const url = r.urls[surface];
    if (url === undefined) continue;
    const auth = sys.tree !== undefined && sys.gwPath !== "auth-off";
    const plain = sys.tree === undefined && (surface === "openai" || surface === "mlflow");
    await check(surface, url, auth, plain);
    r.profileFromMs ??= performance.now() - r.spawnedAt;
    const cell = await measure(r.child.pid!, surface, url, auth, plain, warmup);
    const key = `${sys.name}|${surface}`;
    results.set(key, [...(results.get(key) ?? []), cell]);
    process.stderr.write(
      `${label} ${sys.name} ${surface}: ${(cell.cpuMsPerCall * 1000).toFixed(0)} µs CPU/call (main thread ${(cell.mainMsPerCall * 1000).toFixed(0)}), ${cell.rps.toFixed(0)} RPS, other ${cell.otherPct.toFixed(0)} %${cell.failed ? `, ${cell.failed} FAILED` : ""}\n`,
    );
  }
}

async function stopSystem(r: Running): Promise<void> {
  const exited = new Promise((resolve) => r.child.once("exit", resolve));
  r.child.kill("SIGTERM");
  await Promise.race([exited, sleep(10_000)]);
  if (!r.prof) return;
  const file = readdirSync(r.prof.dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) return;
  const kept = path.join(os.tmpdir(), `modelgate-percall-${Date.now()}.cpuprofile`);
  writeFileSync(kept, readFileSync(path.join(r.prof.dir, file)));
  process.stdout.write(`#### CPU profile of ${r.sys.name} (from the first surface's warm-up on): ${kept}\n\n`);
  process.stdout.write(formatProfileSummary(summarizeProfile(kept, r.sys.tree!, { tsxCacheDir: r.prof.tsxTmp, fromMs: r.profileFromMs ?? 0 })) + "\n\n");
}

for (let round = 0; round < ROUNDS; round++) {
  if (BATCHES === 0) {
    for (const sys of systems) {
      const r = await startSystem(sys);
      await measureSystem(r, `round ${round + 1}`, WARMUP);
      await stopSystem(r);
    }
    continue;
  }
  // --batches: every system's process runs for the whole round, and the measured batches
  // alternate between them (A B A B …), so a slow minute of the machine falls on all alike.
  const running: Running[] = [];
  for (const sys of systems) running.push(await startSystem(sys));
  for (let b = 0; b < BATCHES; b++) {
    // A B, then B A: a drift of the machine within a pair of batches favours neither.
    const order = b % 2 === 0 ? running : [...running].reverse();
    for (const r of order) await measureSystem(r, `round ${round + 1} batch ${b + 1}`, b === 0 ? WARMUP : REWARM);
  }
  for (const r of running) await stopSystem(r);
}

/**
 * Each system's cells against the first system's, in µs: with --batches, one difference per two
 * batches (the mean of batch 2k, in A B order, and 2k+1, in B A order: each system measured once
 * in each position, so a cost of the position, such as having sat idle while the others ran,
 * cancels out); otherwise one per round.
 */
function pairedDiffs(base: Cell[], cells: Cell[]): number[] {
  const n = Math.min(base.length, cells.length);
  const diffs: number[] = [];
  if (BATCHES < 2) {
    for (let i = 0; i < n; i++) diffs.push((cells[i]!.cpuMsPerCall - base[i]!.cpuMsPerCall) * 1000);
    return diffs;
  }
  for (let i = 0; i + 1 < n; i += 2) {
    diffs.push(((cells[i]!.cpuMsPerCall + cells[i + 1]!.cpuMsPerCall - base[i]!.cpuMsPerCall - base[i + 1]!.cpuMsPerCall) / 2) * 1000);
  }
  return diffs;
}

const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
process.stdout.write(
  `| system | surface | CPU µs/call (each round) | median | main thread µs/call (median) | RPS (median) | other load % (max) |\n| --- | --- | --- | ---: | ---: | ---: | ---: |\n`,
);
for (const sys of systems) {
  for (const surface of SURFACES) {
    const cells = results.get(`${sys.name}|${surface}`);
    if (!cells) continue;
    process.stdout.write(
      `| ${sys.name} | ${surface} | ${cells.map((c) => (c.cpuMsPerCall * 1000).toFixed(0)).join(" / ")} | ${(med(cells.map((c) => c.cpuMsPerCall)) * 1000).toFixed(0)} | ${(med(cells.map((c) => c.mainMsPerCall)) * 1000).toFixed(0)} | ${med(cells.map((c) => c.rps)).toFixed(0)} | ${Math.max(...cells.map((c) => c.otherPct)).toFixed(0)} |\n`,
    );
  }
}
// Paired against the first system: each batch (or round) of a system against the first system's
// in the same batch, so the machine's drifts between batches cancel out.
if (systems.length > 1) {
  const pairedBy = BATCHES >= 2 ? "per two batches (A B + B A)" : "per round";
  process.stdout.write(`\n| system | surface | CPU µs/call against ${systems[0]!.name}, paired ${pairedBy} (median of the differences) | lower in |\n| --- | --- | ---: | ---: |\n`);
  for (const sys of systems.slice(1)) {
    for (const surface of SURFACES) {
      const base = results.get(`${systems[0]!.name}|${surface}`);
      const cells = results.get(`${sys.name}|${surface}`);
      if (!base || !cells) continue;
      const diffs = pairedDiffs(base, cells);
      const d = med(diffs);
      const pct = (d / (med(base.map((c) => c.cpuMsPerCall)) * 1000)) * 100;
      process.stdout.write(`| ${sys.name} | ${surface} | ${d >= 0 ? "+" : ""}${d.toFixed(0)} (${pct >= 0 ? "+" : ""}${pct.toFixed(1)} %) | ${diffs.filter((x) => x < 0).length} of ${diffs.length} |\n`);
    }
  }
}
fake.kill("SIGTERM");
rmSync(tmp, { recursive: true, force: true });
// A figure over calls that failed measures something else: say so, and fail (a smoke run in CI relies on it).
const failed = [...results].filter(([, cells]) => cells.some((c) => c.failed > 0)).map(([key]) => key.replace("|", " "));
if (failed.length > 0) process.stderr.write(`calls failed in: ${failed.join(", ")}\n`);
process.exit(failed.length > 0 ? 1 : 0);
