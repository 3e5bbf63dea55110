// The modelgate benchmark: `npm run bench [-- --duration 10 --warmup 3 --repeat 1 --ttft-n 200
//   --skip-silent --cpu-prof --parts LIST --streams N --long --json FILE]`. See bench/README.md.
//
// Starts on loopback, as child processes of this one: the fake OpenAI upstream, the bare
// connect-node passthrough (the floor) and modelgate (src/main.ts, provider openai pointed at
// the fake; a one-target and a two-target split endpoint). Then measures unary chat with wrk
// (HTTP/1.1: Connect JSON, OpenAI REST) and h2load (gRPC over h2c) at concurrency 1 and 32,
// streaming time to first token, memory with thousands of open streams
// (bench/streams-memory.ts), with --long the RSS drift over many calls, and the gateway's RSS;
// prints markdown.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ChatRequestSchema, ChatResponseSchema } from "../gen/modelgate/v1/chat_pb";
import { formatProfileSummary, summarizeProfile } from "./cpuprofile";
import { runPeers } from "./peers";
import { median as medianOf, startupOnce, type StartupSample } from "./startup";
import { runStreamsMemory, type StreamsMemoryResult } from "./streams-memory";
import { ttftConnect, ttftDirect, ttftGrpc, type ChatInput, type TtftSample } from "./ttft";
import { freePort } from "../test/support/free-port";
import { startNodeFlags, startScript } from "./start-flags";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const INSTALL_HINT = "sudo apt-get update && sudo apt-get install -y wrk nghttp2-client";

// ---------------------------------------------------------------------------------------------
// Options

const { values: opt } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    repeat: { type: "string", default: "1" },
    "quiet-wait": { type: "string", default: "60" },
    "ttft-n": { type: "string", default: "200" },
    "skip-silent": { type: "boolean", default: false },
    "skip-traced": { type: "boolean", default: false },
    "cpu-prof": { type: "boolean", default: false },
    "auth-off": { type: "boolean", default: false },
    smoke: { type: "boolean", default: false },
    peers: { type: "boolean", default: false },
    rounds: { type: "string", default: "3" },
    parts: { type: "string", default: "load,ttft,streams,startup" },
    streams: { type: "string", default: "5000" },
    long: { type: "boolean", default: false },
    "long-requests": { type: "string", default: "1000000" },
    "long-step": { type: "string", default: "100000" },
    json: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});
if (opt.help) {
  process.stdout.write(`Usage: npm run bench -- [options]

  --duration S    seconds per measured load run (default 10)
  --warmup S      seconds of unmeasured load before each run (default 3)
  --repeat N      measure each cell N times and report the median of each figure (default 1)
  --quiet-wait S  on a shared machine: before each measured run, wait up to S seconds for other
                  processes to use < 10% of a CPU, and redo a run (up to 2 more times) that
                  other processes disturbed; 0 turns this off (default 60)
  --ttft-n N      sequential streamed chats per TTFT row (default 200)
  --skip-silent   skip the extra modelgate run with LOG_LEVEL=silent (a second process: for
                  logging's own cost see bench/cpu-drift.ts --log-ab)
  --skip-traced   skip the extra modelgate run with OpenTelemetry tracing on (spans exported
                  over OTLP/HTTP to a sink in the bench process)
  --cpu-prof      also profile modelgate (node --cpu-prof) under c=32 load and summarise it
  --auth-off      modelgate without auth, quotas or store (the bench before issue 11's full path):
                  by default every modelgate row runs the full path (an API key on every call,
                  a team and an endpoint request quota far above what the bench sends, logging
                  info, metrics on)
  --json FILE     also write the raw results as JSON
  --smoke         a quick check that the bench works and prints (CI): 1 s cells, no silent run,
                  no quiet wait, 20 TTFT calls; the figures mean nothing
  --peers         modelgate against other gateways (Portkey, LiteLLM, MLflow) and the floors
                  (bare connect-node, bare node:http proxy), one table per surface; installs the
                  peers into ~/.cache/modelgate-bench (or $MODELGATE_BENCH_CACHE) first
  --rounds N      with --peers: rounds of the interleaved measurement (default 3, medians)
  --parts LIST    which parts of the default report to run, comma-separated, of
                  load,ttft,streams,startup (default: all four)
  --streams N     streams memory: concurrent open streams per system (default 5000)
  --long          also the RSS drift run: --long-requests unary Connect JSON calls at c=32
                  against a fresh modelgate, RSS and heap sampled every --long-step requests
  --long-requests N   (default 1000000)
  --long-step N       (default 100000)
`);
  process.exit(0);
}
const positiveInt = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench: --${name} must be a positive integer, got "${v}"\n`);
    process.exit(2);
  }
  return n;
};
if (opt.smoke) {
  // Only checks that every part of the bench runs and prints: the shortest cells, no waiting.
  Object.assign(opt, { duration: "1", warmup: "1", repeat: "1", "quiet-wait": "0", "ttft-n": "20", "skip-silent": true, streams: "200" });
}
const PART_NAMES = ["load", "ttft", "streams", "startup"] as const;
const PARTS = new Set(opt.parts.split(",").map((x) => x.trim()).filter((x) => x !== ""));
for (const part of PARTS) {
  if (!(PART_NAMES as readonly string[]).includes(part)) {
    process.stderr.write(`bench: --parts: unknown part "${part}" (use ${PART_NAMES.join(", ")})\n`);
    process.exit(2);
  }
}
const DURATION = positiveInt("duration", opt.duration);
const WARMUP = positiveInt("warmup", opt.warmup);
const TTFT_N = positiveInt("ttft-n", opt["ttft-n"]);
const REPEAT = positiveInt("repeat", opt.repeat);
const ROUNDS = positiveInt("rounds", opt.rounds);
const QUIET_WAIT_S = opt["quiet-wait"] === "0" ? 0 : positiveInt("quiet-wait", opt["quiet-wait"]);
const ATTEMPTS = QUIET_WAIT_S > 0 ? 3 : 1;
const STREAMS_N = positiveInt("streams", opt.streams);
const LONG_REQUESTS = positiveInt("long-requests", opt["long-requests"]);
const LONG_STEP = Math.min(LONG_REQUESTS, positiveInt("long-step", opt["long-step"]));

// ---------------------------------------------------------------------------------------------
// The request every row sends

const MODEL = "gpt-4o-mini";
const ENDPOINT = "chat";
/** The two-target endpoint (weighted 50/50 split over two targets on the same fake). */
const SPLIT_ENDPOINT = "chat-split";
const API_KEY = "sk-bench-not-a-real-key";
/**
 * Issue 11's full path (the default): modelgate checks an API key on every call, counts it
 * against its team's and its endpoint's request quotas (limits far above what the bench sends,
 * so they are checked and counted, never hit), logs at info and keeps its metrics. --auth-off:
 * auth off, no quotas (the bench before the full path).
 */
const FULL_PATH = !opt["auth-off"];
/** modelgate's own API key (auth.keys), sent by every load tool and client to modelgate only. */
const GATEWAY_KEY = "mg-bench-0123456789abcdef";
/** Headers every call to modelgate carries. */
const GW_HEADERS: Record<string, string> = FULL_PATH ? { authorization: `Bearer ${GATEWAY_KEY}` } : {};
/** The same as h2load `-H` arguments. */
const GW_H2LOAD_HEADERS: string[] = Object.entries(GW_HEADERS).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
/** Far above any request rate the bench reaches (about 10^4 per second on one machine). */
const QUOTA_CALLS = 1_000_000_000;
/** What the modelgate rows run, for the reports' headers. */
const PATH_DESCRIPTION = FULL_PATH
  ? `the full path: auth with one API key (sent on every call), a team request quota (rpm) and an endpoint request quota (calls per minute), ` +
    `both ${QUOTA_CALLS.toLocaleString("en-US")} (checked and counted, never hit), usage store SQLite in a temporary folder, logging info, metrics on`
  : "auth off (--auth-off): no key, no quotas; logging info, metrics on";
/** How modelgate is started, for the reports' headers. */
const START_DESCRIPTION = `started as \`npm start\` runs it: ${startScript} (the esbuild bundle of src/main.ts)`;
const MESSAGES = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "Write one sentence about the sea." },
];
const EXPECTED_REPLY = "echo: Write one sentence about the sea.";
const CHAT_INPUT: ChatInput = { model: MODEL, endpoint: ENDPOINT, messages: MESSAGES };

const directBody = JSON.stringify({ model: MODEL, messages: MESSAGES });
const connectBody = JSON.stringify({ endpoint: ENDPOINT, messages: MESSAGES });
const connectSplitBody = JSON.stringify({ endpoint: SPLIT_ENDPOINT, messages: MESSAGES });
/** modelgate's OpenAI REST surface: `model` is the endpoint's name. */
const openaiBody = JSON.stringify({ model: ENDPOINT, messages: MESSAGES });
const openaiSplitBody = JSON.stringify({ model: SPLIT_ENDPOINT, messages: MESSAGES });
const grpcBody = grpcFrame(toBinary(ChatRequestSchema, create(ChatRequestSchema, { endpoint: ENDPOINT, messages: MESSAGES })));

function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

// ---------------------------------------------------------------------------------------------
// Child processes (always stopped at the end, even on error or Ctrl-C)

interface Child {
  name: string;
  proc: ChildProcess;
  stderr: string;
  exited: Promise<number | null>;
}
const children = new Set<Child>();

/** Runs a TypeScript file in a node child with tsx as a loader: the child's pid is the server's. */
function spawnTs(
  name: string,
  script: string,
  args: string[],
  opts: { stdout: "pipe" | number; env?: NodeJS.ProcessEnv; nodeArgs?: string[] },
): Child {
  return spawnCmd(name, process.execPath, [...(opts.nodeArgs ?? []), "--import", "tsx", script, ...args], opts);
}

/** Runs any command as a tracked child (stopped at the end, on error and on Ctrl-C). */
function spawnCmd(
  name: string,
  cmd: string,
  args: string[],
  opts: { stdout: "pipe" | "ignore" | number; env?: NodeJS.ProcessEnv; cwd?: string },
): Child {
  // Its own process group, so stopping it also stops what it started (MLflow's gateway runs
  // gunicorn and uvicorn workers, which outlived a signal to the parent alone).
  const proc = spawn(cmd, args, {
    cwd: opts.cwd ?? root,
    env: opts.env ?? process.env,
    stdio: ["ignore", opts.stdout, "pipe"],
    detached: true,
  });
  const child: Child = {
    name,
    proc,
    stderr: "",
    exited: new Promise((resolve) => proc.once("exit", (code) => resolve(code))),
  };
  proc.stderr?.setEncoding("utf8");
  proc.stderr?.on("data", (s: string) => {
    child.stderr = (child.stderr + s).slice(-4000);
  });
  children.add(child);
  void child.exited.then(() => children.delete(child));
  return child;
}

function failure(child: Child, what: string): Error {
  return new Error(`${child.name}: ${what}${child.stderr ? `\n--- stderr ---\n${child.stderr}` : ""}`);
}

/** Resolves with the first stdout line matching `re`. */
function waitForLine(child: Child, re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const out = child.proc.stdout;
    if (!out) return reject(new Error(`${child.name}: stdout is not piped`));
    let buffered = "";
    const timer = setTimeout(() => done(failure(child, `no "${re.source}" line within ${timeoutMs} ms`)), timeoutMs);
    const onData = (s: string) => {
      buffered += s;
      for (let nl; (nl = buffered.indexOf("\n")) !== -1; ) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const m = re.exec(line);
        if (m) return done(undefined, m);
      }
    };
    const onExit = (code: number | null) => done(failure(child, `exited (${String(code)}) before it was ready`));
    const done = (err?: Error, m?: RegExpExecArray) => {
      clearTimeout(timer);
      out.off("data", onData);
      child.proc.off("exit", onExit);
      out.resume(); // keep draining (nothing more is expected)
      if (err) reject(err);
      else resolve(m!);
    };
    out.setEncoding("utf8");
    out.on("data", onData);
    child.proc.once("exit", onExit);
  });
}

/** Signals the child's process group (the child and everything it started). */
function signalGroup(child: Child, signal: NodeJS.Signals): void {
  try {
    if (child.proc.pid !== undefined) process.kill(-child.proc.pid, signal);
  } catch {
    child.proc.kill(signal); // the group is gone: the child alone, if it is still there
  }
}

async function stopChild(child: Child, graceMs = 5_000): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  signalGroup(child, "SIGTERM");
  const timer = setTimeout(() => signalGroup(child, "SIGKILL"), graceMs);
  await child.exited;
  clearTimeout(timer);
}

async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c)));
}
/** Running wrk / h2load processes. */
const tools = new Set<ChildProcess>();

process.on("exit", () => {
  for (const c of children) signalGroup(c, "SIGKILL");
  for (const t of tools) t.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping children\n`);
    for (const t of tools) t.kill("SIGTERM");
    void stopAll().finally(() => {
      if (tmp !== "") rmSync(tmp, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Servers

async function startFake(): Promise<{ child: Child; url: string }> {
  const child = spawnTs("fake upstream", "bench/fake-upstream-main.ts", ["--port", "0"], { stdout: "pipe" });
  const m = await waitForLine(child, /^listening (http:\/\/\S+)/);
  return { child, url: m[1]! };
}

async function startBare(
  fakeUrl: string,
  nodeArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: Child; h1Url: string; h2Url: string; plainUrl: string }> {
  const child = spawnTs(
    "bare passthrough",
    "bench/bare-passthrough.ts",
    ["--upstream", `${fakeUrl}/v1`, "--model", MODEL, "--api-key", API_KEY],
    { stdout: "pipe", nodeArgs, env: { ...process.env, ...env } },
  );
  const m = await waitForLine(child, /^listening (http:\/\/\S+) h2c (http:\/\/\S+) plain (http:\/\/\S+)/);
  return { child, h1Url: m[1]!, h2Url: m[2]!, plainUrl: m[3]! };
}

function gatewayConfig(fakeUrl: string, extraServer = "", extraEndpoints = ""): string {
  return `# written by bench/run.ts
server:
  host: 127.0.0.1
  port: 0
${extraServer}${authConfig()}logging:
  level: info
endpoints:
  - name: ${ENDPOINT}
    endpoint_type: llm/v1/chat
    model:
      provider: openai
      name: ${MODEL}
      config:
        openai_api_key: ${API_KEY}
        openai_api_base: ${fakeUrl}/v1
${endpointLimit()}  # Two targets, a weighted 50/50 split, both on the same fake: the routing layer's own cost.
  - name: ${SPLIT_ENDPOINT}
    endpoint_type: llm/v1/chat
    targets:
      - name: a
        weight: 50
        model: { provider: openai, name: ${MODEL}, config: { openai_api_key: ${API_KEY}, openai_api_base: "${fakeUrl}/v1" } }
      - name: b
        weight: 50
        model: { provider: openai, name: ${MODEL}, config: { openai_api_key: ${API_KEY}, openai_api_base: "${fakeUrl}/v1" } }
    routing: { strategy: weighted }
${endpointLimit()}${extraEndpoints}`;
}

/** The config's auth, teams and store blocks: the full path's key and team quota, or auth off. */
function authConfig(): string {
  if (!FULL_PATH) return "auth:\n  enabled: false\n";
  return `auth:
  enabled: true
  keys:
    - name: bench
      key: ${GATEWAY_KEY}
      team: bench
      roles: [user]
teams:
  bench: { rpm: ${QUOTA_CALLS} }
store:
  database_url: sqlite:${path.join(tmp, "modelgate.db")}
`;
}

/** An endpoint's request quota on the full path (indented for an endpoint entry), else nothing. */
function endpointLimit(): string {
  return FULL_PATH ? `    limit: { renewal_period: minute, calls: ${QUOTA_CALLS} }\n` : "";
}

/**
 * Starts modelgate with its stdout (the pino log, one line per call) on /dev/null, so the
 * logging cost is paid but no reader competes for the CPUs. With stdout gone (and nothing at
 * all with LOG_LEVEL=silent) readiness is polled instead: the port must answer a real Chat.
 * `runner` "shipped": the command `npm start` runs (package.json's start script: node, its flags,
 * bin/modelgate.mjs, which runs the esbuild bundle of src/main.ts, built before the first start);
 * "tsx": src/main.ts through tsx with the same Node flags (the --cpu-prof run, whose summary maps
 * positions back to .ts lines through tsx's cached source maps).
 */
async function startGateway(
  name: string,
  configFile: string,
  logLevel: string,
  nodeArgs: string[] = [],
  extraEnv: NodeJS.ProcessEnv = {},
  runner: "shipped" | "tsx" = "shipped",
): Promise<{ child: Child; url: string; spawnedAt: number }> {
  const port = await freePort();
  const spawnedAt = performance.now();
  const devNull = openSync("/dev/null", "w");
  let child: Child;
  try {
    const args = ["--config", configFile, "--port", String(port)];
    const opts = { stdout: devNull, env: { ...process.env, ...extraEnv, LOG_LEVEL: logLevel } };
    child =
      runner === "tsx"
        ? spawnTs(name, "src/main.ts", args, { ...opts, nodeArgs: [...startNodeFlags, ...nodeArgs] })
        : spawnCmd(name, process.execPath, [...startNodeFlags, ...nodeArgs, path.join(root, "bin", "modelgate.mjs"), ...args], opts);
  } finally {
    closeSync(devNull);
  }
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.proc.exitCode !== null) throw failure(child, `exited (${child.proc.exitCode}) before it was ready`);
    try {
      await checkConnectJson(url, `${name} (Connect JSON)`, connectBody, GW_HEADERS);
      break;
    } catch (err) {
      if (Date.now() > until) throw failure(child, `not ready after 30 s: ${(err as Error).message}`);
      await sleep(100);
    }
  }
  return { child, url, spawnedAt };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/**
 * Builds (or finds up to date) the bundle bin/modelgate.mjs runs, once before any gateway starts,
 * so no measured start pays for the build and no gateway keeps esbuild's module in its heap:
 * `modelgate --help` runs bin/modelgate.mjs's bundle step, then the bundle's help, and exits.
 */
function buildBundle(): void {
  const r = spawnSync(process.execPath, [path.join(root, "bin", "modelgate.mjs"), "--help"], { cwd: root, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`bin/modelgate.mjs --help exited ${String(r.status)}: ${(r.stderr ?? "").slice(-2000)}`);
  const bundle = path.join(root, "node_modules", ".cache", "modelgate", "main.mjs");
  try {
    statSync(bundle);
  } catch {
    throw new Error(`bin/modelgate.mjs did not build its bundle (${bundle}): the gateway would run through tsx, not as shipped`);
  }
}

/** An OTLP/HTTP traces receiver that only counts: answers each export with an empty (valid) ExportTraceServiceResponse. */
async function startOtlpSink(): Promise<{ url: string; exports(): number; bytes(): number; close(): Promise<void> }> {
  let exports = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => {
      if (req.url === "/v1/traces") exports++;
      res.writeHead(200, { "content-type": "application/x-protobuf", "content-length": "0" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exports: () => exports,
    bytes: () => bytes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// ---------------------------------------------------------------------------------------------
// Correctness checks: the exact bodies the load tools send must get the expected answer

/** POST /v1/chat/completions (the fake itself, or modelgate's OpenAI REST surface) with `body`. */
async function checkDirect(baseUrl: string, body = directBody, what = "direct", headers: Record<string, string> = { authorization: `Bearer ${API_KEY}` }): Promise<void> {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body,
  });
  const text = await res.text();
  let content: string | undefined;
  try {
    content = (JSON.parse(text) as { choices?: { message?: { content?: string } }[] }).choices?.[0]?.message?.content;
  } catch {
    content = undefined;
  }
  if (res.status !== 200 || content !== EXPECTED_REPLY) throw new Error(`${what}: HTTP ${res.status} ${text.slice(0, 300)}`);
}

async function checkConnectJson(url: string, what: string, body = connectBody, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(`${url}/modelgate.v1.ChatService/Chat`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body,
  });
  const text = await res.text();
  let content: string | undefined;
  try {
    content = (JSON.parse(text) as { choices?: { message?: { content?: string } }[] }).choices?.[0]?.message?.content;
  } catch {
    content = undefined;
  }
  if (res.status !== 200 || content !== EXPECTED_REPLY) throw new Error(`${what}: HTTP ${res.status} ${text.slice(0, 300)}`);
}

/**
 * The full path really checks the key: a call without it must be refused (401,
 * unauthenticated), or the figures would measure auth off.
 */
async function checkAuthEnforced(url: string): Promise<void> {
  const res = await fetch(`${url}/modelgate.v1.ChatService/Chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: connectBody,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status !== 401) throw new Error(`modelgate without its API key: expected HTTP 401 (auth on), got ${res.status} ${text.slice(0, 300)}`);
}

/** Sends the h2load body once over h2c; returns the response's DATA byte count (for h2load's check). */
async function checkGrpc(url: string, what: string, headers: Record<string, string> = {}): Promise<number> {
  const session = http2.connect(url);
  try {
    return await new Promise<number>((resolve, reject) => {
      session.once("error", reject);
      const req = session.request({
        ...headers,
        ":method": "POST",
        ":path": "/modelgate.v1.ChatService/Chat",
        "content-type": "application/grpc",
        te: "trailers",
      });
      const parts: Buffer[] = [];
      let grpcStatus: string | undefined;
      let grpcMessage: string | undefined;
      req.on("response", (h) => {
        if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
      });
      req.on("trailers", (t) => {
        grpcStatus = String(t["grpc-status"]);
        grpcMessage = t["grpc-message"] === undefined ? undefined : String(t["grpc-message"]);
      });
      req.on("data", (b: Buffer) => parts.push(b));
      req.on("error", reject);
      req.on("end", () => {
        const data = Buffer.concat(parts);
        if (grpcStatus !== "0" || data.length < 5) {
          return reject(new Error(`${what}: grpc-status ${String(grpcStatus)} ${grpcMessage ?? ""}`));
        }
        const msg = fromBinary(ChatResponseSchema, data.subarray(5, 5 + data.readUInt32BE(1)));
        const content = msg.choices[0]?.message?.content;
        if (content !== EXPECTED_REPLY) return reject(new Error(`${what}: unexpected content ${String(content)}`));
        resolve(data.length);
      });
      req.end(grpcBody);
    });
  } finally {
    session.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Load tools

interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  /** CPU used by processes other than ours during the run, in % of one CPU (see otherCpu()). */
  otherCpu?: number;
}

// ---------------------------------------------------------------------------------------------
// Other load on the machine: a shared machine (other builds, tests, databases) skews every
// figure, so each run reports how much CPU went to processes that are not part of it:
// Δ(user+nice+system of /proc/stat) − Δ(our servers + this process + its reaped children,
// i.e. the finished load tool). Interrupt time is left out on both sides (loopback traffic).

const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100;

function systemBusyTicks(): number {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0);
}

function processTicks(pid: number | "self", withReapedChildren: boolean): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
    // fields 14-17 of proc(5): utime stime cutime cstime (f[0] is field 3)
    return (f[11] ?? 0) + (f[12] ?? 0) + (withReapedChildren ? (f[13] ?? 0) + (f[14] ?? 0) : 0);
  } catch {
    return 0; // gone
  }
}

function ourTicks(): number {
  let t = processTicks("self", true);
  for (const c of children) if (c.proc.pid !== undefined) t += processTicks(c.proc.pid, false);
  return t;
}

/**
 * Waits (up to --quiet-wait seconds) until other processes use less than OTHER_LOAD_WARN % of a
 * CPU over 2 s. Our servers are idle meanwhile, so what is measured is the others' load.
 */
async function waitQuiet(): Promise<void> {
  if (QUIET_WAIT_S === 0) return;
  const until = performance.now() + QUIET_WAIT_S * 1000;
  let said = false;
  for (;;) {
    const { otherCpu } = await withOtherCpu(() => sleep(2_000));
    if (otherCpu < OTHER_LOAD_WARN) return;
    if (performance.now() > until) {
      log(`  other processes still use ${otherCpu.toFixed(0)}% CPU after ${QUIET_WAIT_S} s: measuring anyway`);
      return;
    }
    if (!said) log(`  other processes use ${otherCpu.toFixed(0)}% CPU: waiting for a quiet moment`);
    said = true;
    await sleep(3_000);
  }
}

/**
 * Measures with waitQuiet() first; a measurement that other processes disturbed (more than
 * OTHER_LOAD_WARN % of a CPU) is redone, up to ATTEMPTS in all. Keeps the least disturbed one.
 */
async function undisturbed<T>(fn: () => Promise<T>, describe: (value: T, otherCpu: number) => string): Promise<{ value: T; otherCpu: number }> {
  let best: { value: T; otherCpu: number } | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    await waitQuiet();
    const r = await withOtherCpu(fn);
    log(`  ${describe(r.value, r.otherCpu)}, other processes ${r.otherCpu.toFixed(0)}% CPU`);
    if (best === undefined || r.otherCpu < best.otherCpu) best = r;
    if (r.otherCpu <= OTHER_LOAD_WARN) break;
    if (attempt < ATTEMPTS) log(`  disturbed by other processes: measuring again (attempt ${attempt + 1} of ${ATTEMPTS})`);
  }
  return best!;
}

/** Runs `fn`; returns its result and the other processes' CPU meanwhile, in % of one CPU. */
async function withOtherCpu<T>(fn: () => Promise<T>): Promise<{ value: T; otherCpu: number }> {
  const sys0 = systemBusyTicks();
  const ours0 = ourTicks();
  const t0 = performance.now();
  const value = await fn();
  const other = systemBusyTicks() - sys0 - (ourTicks() - ours0);
  const seconds = (performance.now() - t0) / 1000;
  return { value, otherCpu: Math.max(0, (other / CLK_TCK / seconds) * 100) };
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    tools.add(p);
    p.once("exit", () => tools.delete(p));
    let out = "";
    let err = "";
    p.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    p.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    p.once("error", reject);
    p.once("exit", (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${String(code)}\n${out}\n${err}`));
    });
  });
}

let tmp = "";

function luaLongString(s: string): string {
  let eq = "=";
  while (s.includes(`]${eq}]`)) eq += "=";
  return `[${eq}[${s}]${eq}]`;
}

function wrkScript(name: string, body: string, headers: Record<string, string>): string {
  const file = path.join(tmp, `${name}.lua`);
  const lines = ['wrk.method = "POST"', `wrk.body = ${luaLongString(body)}`];
  for (const [k, v] of Object.entries(headers)) {
    if (!/^[\x20-\x7e]*$/.test(k + v) || /["\\]/.test(k + v)) throw new Error(`wrk header not plain ASCII: ${k}`);
    lines.push(`wrk.headers["${k}"] = "${v}"`);
  }
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

/** wrk's duration units: "123.45us", "1.23ms", "1.02s", "1.5m". Returns milliseconds. */
function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`wrk: cannot read duration "${text}"`);
  const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return Number(m[1]) * scale[m[2]!]!;
}

function parseWrk(out: string): LoadResult {
  const p = (q: string) => {
    const m = new RegExp(`^\\s+${q}%\\s+(\\S+)`, "m").exec(out);
    if (!m) throw new Error(`wrk: no ${q}% line in\n${out}`);
    return wrkMs(m[1]!);
  };
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const total = /^\s+(\d+) requests in/m.exec(out);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (!rps || !total) throw new Error(`wrk: cannot parse\n${out}`);
  const sockErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    rps: Number(rps[1]),
    p50: p("50"),
    p99: p("99"),
    requests: Number(total[1]),
    errors: Number(non2xx?.[1] ?? 0) + sockErrors,
  };
}

async function wrk(url: string, script: string, conc: 1 | 32, seconds: number): Promise<LoadResult> {
  const threads = conc === 1 ? "1" : "2";
  const args = ["-t", threads, "-c", String(conc), "-d", `${seconds}s`, "--timeout", "10s", "--latency", "-s", script, url];
  return parseWrk(await run("wrk", args));
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

let h2loadRun = 0;
/**
 * h2load over h2c: c=1 -> `-c 1 -m 1`, c=32 -> `-c 1 -m 32` (one connection, 32 concurrent
 * streams, as a gRPC client multiplexes). Percentiles come from --log-file (µs per request).
 * `expectedData` is the DATA bytes of one good answer: a failed gRPC call is still HTTP 200
 * (trailers-only, no DATA), so good answers = DATA bytes / expectedData.
 */
async function h2load(
  url: string,
  conc: 1 | 32,
  seconds: number,
  expectedData: number,
  measure: boolean,
  headers: readonly string[] = [],
): Promise<LoadResult> {
  const log = path.join(tmp, `h2load-${++h2loadRun}.tsv`);
  const args = [
    "-c", "1", "-m", String(conc), "-t", "1", "-D", String(seconds),
    "-d", path.join(tmp, "grpc-body.bin"),
    "-H", "content-type: application/grpc",
    "-H", "te: trailers",
    ...headers,
    ...(measure ? ["--log-file", log] : []),
    `${url}/modelgate.v1.ChatService/Chat`,
  ];
  const out = await run("h2load", args);
  const rps = /finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const data = /\((\d+)\) data/.exec(out);
  if (!rps || !req || !data) throw new Error(`h2load: cannot parse\n${out}`);
  const succeeded = Number(req[4]);
  const httpErrors = Number(req[5]) + Number(req[6]) + Number(req[7]);
  const grpcOk = Math.floor(Number(data[1]) / expectedData);
  const result: LoadResult = {
    rps: Number(rps[1]),
    p50: Number.NaN,
    p99: Number.NaN,
    requests: succeeded,
    errors: httpErrors + Math.max(0, succeeded - grpcOk),
  };
  if (measure) {
    const times = readFileSync(log, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => l.split("\t"))
      .filter((cols) => cols[1] === "200")
      .map((cols) => Number(cols[2]) / 1000)
      .sort((a, b) => a - b);
    result.p50 = percentile(times, 50);
    result.p99 = percentile(times, 99);
    rmSync(log, { force: true });
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Memory

interface Memory {
  rssMb: number;
  hwmMb: number;
}
function memoryOf(pid: number | undefined): Memory {
  if (pid === undefined) return { rssMb: Number.NaN, hwmMb: Number.NaN };
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024 };
}

// ---------------------------------------------------------------------------------------------
// Measuring

type Tool = "wrk" | "h2load";
interface Row {
  key: string;
  label: string;
  protocol: string;
  tool: Tool;
  c1?: LoadResult;
  c32?: LoadResult;
}
const rows: Row[] = [];

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function measureRow(row: Row, once: (conc: 1 | 32, seconds: number, measure: boolean) => Promise<LoadResult>): Promise<void> {
  rows.push(row);
  for (const conc of [1, 32] as const) {
    const times = REPEAT > 1 ? ` × ${REPEAT}` : "";
    log(`${row.label} · ${row.protocol} · c=${conc}: warm-up ${WARMUP} s, then ${DURATION} s${times}`);
    checkErrors(row, "warm-up", await once(conc, WARMUP, false));
    const runs: LoadResult[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const { value: r, otherCpu } = await undisturbed(
        () => once(conc, DURATION, true),
        (r) => `${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, errors ${r.errors}`,
      );
      r.otherCpu = otherCpu;
      checkErrors(row, "measured run", r);
      runs.push(r);
    }
    row[conc === 1 ? "c1" : "c32"] = medianResult(runs);
  }
}

function median(xs: readonly number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

/** Each figure's median over the repeats (errors summed, other load: the worst). */
function medianResult(runs: readonly LoadResult[]): LoadResult {
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    requests: runs.reduce((a, r) => a + r.requests, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    otherCpu: Math.max(...runs.map((r) => r.otherCpu ?? 0)),
  };
}

/** Failed answers are fast answers: more than 1% of them makes the row meaningless. */
function checkErrors(row: Row, phase: string, r: LoadResult): void {
  if (r.errors === 0) return;
  const what = `${row.label} · ${row.protocol}: ${r.errors} of ${r.requests} requests failed in the ${phase}`;
  if (r.errors > r.requests / 100) throw new Error(what);
  log(`WARNING ${what}`);
}

interface TtftRow {
  label: string;
  samples: TtftSample[];
  otherCpu: number;
}

async function ttftRow(label: string, fn: () => Promise<TtftSample[]>): Promise<TtftRow> {
  const { value, otherCpu } = await undisturbed(fn, (samples) => {
    const s = stats(samples.map((x) => x.ttft));
    return `${label}: TTFT p50 ${s.p50.toFixed(3)} ms, p99 ${s.p99.toFixed(3)} ms`;
  });
  return { label, samples: value, otherCpu };
}

function stats(samples: readonly number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

// ---------------------------------------------------------------------------------------------
// Output

/** Above this much other load (% of one CPU) the report warns that rows are skewed. */
const OTHER_LOAD_WARN = 10;

const f1 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(1));
const f3 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(3));
const fInt = (x: number | undefined) =>
  x === undefined || Number.isNaN(x) ? "–" : Math.round(x).toLocaleString("en-US");
const signed = (x: number) => (x >= 0 ? "+" : "−") + Math.abs(x).toFixed(3);

function toolVersion(cmd: string, args: string[], re: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return re.exec(`${r.stdout}${r.stderr}`)?.[0] ?? "?";
}

function loadTable(): string {
  const out = [
    "| what | protocol · tool | c=1 RPS | c=1 p50 ms | c=1 p99 ms | c=32 RPS | c=32 p50 ms | c=32 p99 ms | errors | other load |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const errors = (r.c1?.errors ?? 0) + (r.c32?.errors ?? 0);
    const other = Math.max(r.c1?.otherCpu ?? 0, r.c32?.otherCpu ?? 0);
    out.push(
      `| ${r.label} | ${r.protocol} | ${fInt(r.c1?.rps)} | ${f3(r.c1?.p50)} | ${f3(r.c1?.p99)} | ${fInt(r.c32?.rps)} | ${f3(r.c32?.p50)} | ${f3(r.c32?.p99)} | ${errors} | ${other.toFixed(0)}% |`,
    );
  }
  const worst = Math.max(0, ...rows.map((r) => Math.max(r.c1?.otherCpu ?? 0, r.c32?.otherCpu ?? 0)));
  out.push(
    "",
    "*other load*: CPU used during the measured runs by processes that are not part of the benchmark, in % of one CPU (the worse of c=1 and c=32).",
  );
  if (worst > OTHER_LOAD_WARN) {
    out.push(
      `**Warning: other processes used up to ${worst.toFixed(0)}% of a CPU during some runs; those rows are skewed. Re-run on a quiet machine.**`,
    );
  }
  return out.join("\n");
}

function row(key: string): Row | undefined {
  return rows.find((r) => r.key === key);
}

function overheadLines(): string[] {
  const lines: string[] = [];
  const direct = row("direct");
  const pairs: [string, string, string][] = [
    ["gw-json", "direct", "modelgate (log info) Connect JSON − direct upstream"],
    ["gw-openai", "direct", "modelgate (log info) OpenAI REST − direct upstream"],
    ["gw-json-split", "gw-json", "two-target split − one-target endpoint, Connect JSON (routing's cost)"],
    ["gw-openai-split", "gw-openai", "two-target split − one-target endpoint, OpenAI REST (routing's cost)"],
    ["gw-json-silent", "direct", "modelgate (log silent) Connect JSON − direct upstream"],
    ["plain-json", "direct", "plain node:http + undici − direct upstream (the extra hop)"],
    ["bare-json", "plain-json", "bare connect-node − plain node:http, Connect JSON (connect-node itself)"],
    ["bare-json", "direct", "bare connect-node Connect JSON − direct upstream"],
    ["gw-json", "bare-json", "modelgate (log info) − bare, Connect JSON"],
    ["gw-json-silent", "bare-json", "modelgate (log silent) − bare, Connect JSON"],
    ["gw-grpc", "bare-grpc", "modelgate (log info) − bare, gRPC"],
    ["gw-grpc-silent", "bare-grpc", "modelgate (log silent) − bare, gRPC"],
    ["gw-json-traced", "gw-json", "tracing on − off, Connect JSON (OpenTelemetry's cost)"],
    ["gw-grpc-traced", "gw-grpc", "tracing on − off, gRPC (OpenTelemetry's cost)"],
  ];
  lines.push(
    "| comparison | Δ p50 c=1 ms | Δ p99 c=1 ms | RPS ratio c=1 | RPS ratio c=32 |",
    "| --- | ---: | ---: | ---: | ---: |",
  );
  for (const [a, b, label] of pairs) {
    const ra = row(a);
    const rb = row(b);
    if (!ra?.c1 || !rb?.c1 || !ra.c32 || !rb.c32) continue;
    lines.push(
      `| ${label} | ${signed(ra.c1.p50 - rb.c1.p50)} | ${signed(ra.c1.p99 - rb.c1.p99)} | ${(ra.c1.rps / rb.c1.rps).toFixed(2)} | ${(ra.c32.rps / rb.c32.rps).toFixed(2)} |`,
    );
  }
  const gw = row("gw-json");
  if (direct?.c1 && gw?.c1) {
    const overhead = gw.c1.p50 - direct.c1.p50;
    lines.push(
      "",
      `**Gateway overhead at concurrency 1** (modelgate Connect JSON p50 − direct p50, both wrk over HTTP/1.1): ` +
        `**${overhead.toFixed(3)} ms** — target < 0.5 ms: **${overhead < 0.5 ? "met" : "NOT met"}**.`,
    );
  }
  if (row("gw-json-silent")) {
    lines.push(
      "",
      "The *log silent* rows are a second gateway, started after the first has served every cell: two processes started at different " +
        "times differ by more than a log line here. Logging's own cost is measured in one gateway whose level is switched between " +
        "batches: `npx tsx bench/cpu-drift.ts --surface openai --batches 31 --batch 8000 --log-ab`.",
    );
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// --long: RSS drift over many calls

interface DriftSample {
  /** Calls answered so far. */
  requests: number;
  rssMb: number;
  heapUsedMb: number;
  /** RPS of the wrk run that ended at this sample. */
  rps: number;
  errors: number;
}

/** The gateway's V8 heap used (prom-client default metrics, GET /metrics). */
async function gatewayHeapUsedMb(url: string): Promise<number> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const m = /^modelgate_process_nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/m.exec(text);
  if (res.status !== 200 || !m) throw new Error(`GET ${url}/metrics: HTTP ${res.status}, no nodejs_heap_size_used_bytes`);
  return Number(m[1]) / 2 ** 20;
}

/**
 * LONG_REQUESTS unary Connect JSON calls at c=32 (wrk) against a fresh modelgate, in wrk runs
 * sized from the last run's RPS to end near each multiple of LONG_STEP; after each multiple is
 * passed, reads VmRSS and the heap used.
 */
async function driftRun(configFile: string, connectScript: string): Promise<DriftSample[]> {
  const gw = await startGateway("modelgate (drift)", configFile, "info");
  log(`drift: ${LONG_REQUESTS.toLocaleString("en-US")} calls at c=32 against ${gw.url}, RSS every ${LONG_STEP.toLocaleString("en-US")}`);
  const samples: DriftSample[] = [];
  let done = 0;
  let errors = 0;
  let rps = Number.NaN; // unknown until the first (short) run
  let next = LONG_STEP;
  while (done < LONG_REQUESTS) {
    // Short runs until the first reading: the first runs' RPS (JIT warming up) is well under the
    // steady one, and a run sized from it overshot the first step (318k calls for 100k once).
    const cap = samples.length === 0 ? 3 : 60;
    const seconds = Number.isNaN(rps) ? 2 : Math.max(1, Math.min(cap, Math.round((next - done) / rps)));
    const r = await wrk(`${gw.url}/modelgate.v1.ChatService/Chat`, connectScript, 32, seconds);
    if (r.requests === 0) throw new Error("drift: a wrk run answered no calls");
    if (r.errors > r.requests / 100) throw new Error(`drift: ${r.errors} of ${r.requests} calls failed`);
    done += r.requests;
    errors += r.errors;
    rps = r.rps;
    if (done >= next || done >= LONG_REQUESTS) {
      const sample: DriftSample = { requests: done, rssMb: memoryOf(gw.child.proc.pid).rssMb, heapUsedMb: await gatewayHeapUsedMb(gw.url), rps, errors };
      samples.push(sample);
      log(`drift: ${done.toLocaleString("en-US")} calls, RSS ${sample.rssMb.toFixed(1)} MB, heap used ${sample.heapUsedMb.toFixed(1)} MB, ${rps.toFixed(0)} req/s`);
      while (next <= done) next += LONG_STEP;
    }
  }
  await stopChild(gw.child);
  return samples;
}

function driftLines(samples: readonly DriftSample[]): string[] {
  const out = [
    `### RSS drift (${LONG_REQUESTS.toLocaleString("en-US")} unary Connect JSON calls at c=32, wrk, a fresh modelgate with logging info)`,
    "",
    "| calls answered | RSS MB | heap used MB | RPS of the last wrk run | errors so far |",
    "| ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const x of samples) out.push(`| ${fInt(x.requests)} | ${f1(x.rssMb)} | ${f1(x.heapUsedMb)} | ${fInt(x.rps)} | ${x.errors} |`);
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (first !== undefined && last !== undefined && last !== first) {
    const drift = ((last.rssMb - first.rssMb) / first.rssMb) * 100;
    out.push(
      "",
      `RSS after ${fInt(last.requests)} calls vs after the first ${fInt(first.requests)}: ${f1(first.rssMb)} → ${f1(last.rssMb)} MB, ` +
        `**${drift >= 0 ? "+" : "−"}${Math.abs(drift).toFixed(1)} %** (goal: within 10 %: **${Math.abs(drift) <= 10 ? "met" : "NOT met"}**); ` +
        `heap used ${f1(first.heapUsedMb)} → ${f1(last.heapUsedMb)} MB.`,
    );
  }
  return out;
}

/**
 * Issue 11's TTFT goal, per surface: modelgate's TTFT − the direct call's (≤ 1 ms p50). The
 * bare connect-node row of the same protocol splits off what the client and connect-node cost.
 */
function ttftGoalLines(ttft: readonly TtftRow[]): string[] {
  const p = (label: string) => {
    const t = ttft.find((x) => x.label.startsWith(label));
    return t === undefined ? undefined : stats(t.samples.map((x) => x.ttft));
  };
  const direct = p("direct upstream");
  if (direct === undefined) return [];
  const lines = ["| surface | modelgate − direct, p50 ms | modelgate − direct, p99 ms | modelgate − bare connect-node, p50 ms | goal: p50 ≤ 1 ms |", "| --- | ---: | ---: | ---: | --- |"];
  for (const [surface, gw, bare] of [
    ["OpenAI REST SSE", "modelgate OpenAI REST", undefined],
    ["gRPC", "modelgate StreamChat (gRPC", "bare connect-node StreamChat (gRPC"],
    ["Connect JSON", "modelgate StreamChat (Connect", "bare connect-node StreamChat (Connect"],
  ] as const) {
    const g = p(gw);
    if (g === undefined) continue;
    const b = bare === undefined ? undefined : p(bare);
    const d = g.p50 - direct.p50;
    lines.push(`| ${surface} | ${signed(d)} | ${signed(g.p99 - direct.p99)} | ${b === undefined ? "–" : signed(g.p50 - b.p50)} | ${d <= 1 ? "met" : "NOT met"} |`);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const missing = ["wrk", "h2load"].filter((t) => spawnSync(t, ["--version"]).error !== undefined);
  if (missing.length > 0) {
    process.stderr.write(`bench: ${missing.join(" and ")} not found. Install with:\n\n  ${INSTALL_HINT}\n\n`);
    process.exitCode = 1;
    return;
  }
  tmp = mkdtempSync(path.join(os.tmpdir(), "modelgate-bench-"));
  writeFileSync(path.join(tmp, "grpc-body.bin"), grpcBody);
  const configFile = path.join(tmp, "modelgate.yaml");
  log(`modelgate rows: ${PATH_DESCRIPTION}; ${START_DESCRIPTION}`);
  buildBundle();

  if (opt.peers) {
    const report = await runPeers({
      tmp,
      root,
      duration: DURATION,
      warmup: WARMUP,
      rounds: ROUNDS,
      model: MODEL,
      apiKey: API_KEY,
      endpoint: ENDPOINT,
      messages: MESSAGES,
      expectedReply: EXPECTED_REPLY,
      grpcBodyFile: path.join(tmp, "grpc-body.bin"),
      clkTck: CLK_TCK,
      log,
      spawnCmd: (name, cmd, args, o) => spawnCmd(name, cmd, args, o),
      waitForLine: (child, re, ms) => waitForLine(child as Child, re, ms),
      stopChild: (child) => stopChild(child as Child),
      startFake,
      startBare,
      startGateway: (name, file, level) => startGateway(name, file, level),
      gatewayConfig,
      gatewayHeaders: GW_HEADERS,
      gatewayH2loadHeaders: GW_H2LOAD_HEADERS,
      pathDescription: `${PATH_DESCRIPTION}; ${START_DESCRIPTION}`,
      checkGrpc,
      wrkScript,
      wrk,
      h2load,
    });
    await stopAll();
    process.stdout.write(report);
    return;
  }

  const fake = await startFake();
  log(`fake upstream ${fake.url}`);
  writeFileSync(configFile, gatewayConfig(fake.url));
  const bare = await startBare(fake.url);
  log(`bare passthrough ${bare.h1Url} (HTTP/1.1), ${bare.h2Url} (h2c), ${bare.plainUrl} (plain node:http)`);
  const gw = await startGateway("modelgate", configFile, "info");
  log(`modelgate ${gw.url} (LOG_LEVEL=info, log lines to /dev/null)`);

  await checkDirect(fake.url);
  await checkConnectJson(gw.url, "modelgate two-target (Connect JSON)", connectSplitBody, GW_HEADERS);
  await checkDirect(gw.url, openaiBody, "modelgate (OpenAI REST)", GW_HEADERS);
  await checkDirect(gw.url, openaiSplitBody, "modelgate two-target (OpenAI REST)", GW_HEADERS);
  await checkConnectJson(bare.h1Url, "bare (Connect JSON)");
  await checkConnectJson(bare.plainUrl, "plain node:http passthrough");
  const bareGrpcData = await checkGrpc(bare.h2Url, "bare (gRPC)");
  const gwGrpcData = await checkGrpc(gw.url, "modelgate (gRPC)", GW_HEADERS);
  if (FULL_PATH) await checkAuthEnforced(gw.url);
  const memory: { label: string; idle: Memory; after?: Memory }[] = [];
  await sleep(500);
  const gwMem = { label: "modelgate (log info)", idle: memoryOf(gw.child.proc.pid) } as (typeof memory)[number];
  const bareMem = { label: "bare connect-node", idle: memoryOf(bare.child.proc.pid) } as (typeof memory)[number];
  memory.push(gwMem, bareMem);

  const directScript = wrkScript("direct", directBody, {
    "Content-Type": "application/json",
    Authorization: `Bearer ${API_KEY}`,
  });
  const connectScript = wrkScript("connect", connectBody, { "Content-Type": "application/json" });
  // modelgate's scripts carry its API key on the full path.
  const gwJson = { "Content-Type": "application/json", ...GW_HEADERS };
  const gwConnectScript = wrkScript("gw-connect", connectBody, gwJson);
  const connectSplitScript = wrkScript("connect-split", connectSplitBody, gwJson);
  const openaiScript = wrkScript("openai", openaiBody, gwJson);
  const openaiSplitScript = wrkScript("openai-split", openaiSplitBody, gwJson);

  if (PARTS.has("load")) {
  await measureRow(
    { key: "direct", label: "direct upstream (fake OpenAI)", protocol: "OpenAI JSON, HTTP/1.1 · wrk", tool: "wrk" },
    (c, s) => wrk(`${fake.url}/v1/chat/completions`, directScript, c, s),
  );
  await measureRow(
    { key: "plain-json", label: "plain node:http + undici (no connect)", protocol: "Connect JSON shape, HTTP/1.1 · wrk", tool: "wrk" },
    (c, s) => wrk(`${bare.plainUrl}/modelgate.v1.ChatService/Chat`, connectScript, c, s),
  );
  await measureRow(
    { key: "bare-json", label: "bare connect-node passthrough", protocol: "Connect JSON, HTTP/1.1 · wrk", tool: "wrk" },
    (c, s) => wrk(`${bare.h1Url}/modelgate.v1.ChatService/Chat`, connectScript, c, s),
  );
  await measureRow(
    { key: "gw-json", label: "modelgate (log info)", protocol: "Connect JSON, HTTP/1.1 · wrk", tool: "wrk" },
    (c, s) => wrk(`${gw.url}/modelgate.v1.ChatService/Chat`, gwConnectScript, c, s),
  );
  // The routing layer's cost: the same call to a two-target endpoint (weighted 50/50), right after.
  await measureRow(
    { key: "gw-json-split", label: "modelgate, two-target split endpoint", protocol: "Connect JSON, HTTP/1.1 · wrk", tool: "wrk" },
    (c, s) => wrk(`${gw.url}/modelgate.v1.ChatService/Chat`, connectSplitScript, c, s),
  );
  await measureRow(
    { key: "gw-openai", label: "modelgate (log info)", protocol: "OpenAI REST, HTTP/1.1 · wrk", tool: "wrk" },
    (c, s) => wrk(`${gw.url}/v1/chat/completions`, openaiScript, c, s),
  );
  await measureRow(
    { key: "gw-openai-split", label: "modelgate, two-target split endpoint", protocol: "OpenAI REST, HTTP/1.1 · wrk", tool: "wrk" },
    (c, s) => wrk(`${gw.url}/v1/chat/completions`, openaiSplitScript, c, s),
  );
  await measureRow(
    { key: "bare-grpc", label: "bare connect-node passthrough", protocol: "gRPC, h2c · h2load", tool: "h2load" },
    (c, s, m) => h2load(bare.h2Url, c, s, bareGrpcData, m),
  );
  await measureRow(
    { key: "gw-grpc", label: "modelgate (log info)", protocol: "gRPC, h2c · h2load", tool: "h2load" },
    (c, s, m) => h2load(gw.url, c, s, gwGrpcData, m, GW_H2LOAD_HEADERS),
  );
  gwMem.after = memoryOf(gw.child.proc.pid);
  bareMem.after = memoryOf(bare.child.proc.pid);
  }

  const ttft: TtftRow[] = [];
  if (PARTS.has("ttft")) {
  log(`TTFT: ${TTFT_N} sequential streamed chats per row (+20 warm-up)`);
  ttft.push(
    await ttftRow("direct upstream (SSE, undici)", () => ttftDirect(fake.url, CHAT_INPUT, TTFT_N, 20)),
    await ttftRow("modelgate OpenAI REST SSE (undici, log info)", () => ttftDirect(gw.url, CHAT_INPUT, TTFT_N, 20, ENDPOINT, GW_HEADERS)),
    await ttftRow("bare connect-node StreamChat (gRPC)", () => ttftGrpc(bare.h2Url, CHAT_INPUT, TTFT_N, 20)),
    await ttftRow("modelgate StreamChat (gRPC, log info)", () => ttftGrpc(gw.url, CHAT_INPUT, TTFT_N, 20, GW_HEADERS)),
    await ttftRow("bare connect-node StreamChat (Connect JSON, HTTP/1.1)", () => ttftConnect(bare.h1Url, CHAT_INPUT, TTFT_N, 20)),
    await ttftRow("modelgate StreamChat (Connect JSON, HTTP/1.1, log info)", () => ttftConnect(gw.url, CHAT_INPUT, TTFT_N, 20, GW_HEADERS)),
  );
  }
  await stopChild(gw.child);

  if (!opt["skip-silent"] && PARTS.has("load")) {
    const silent = await startGateway("modelgate (silent)", configFile, "silent");
    log(`modelgate ${silent.url} (LOG_LEVEL=silent)`);
    const silentGrpcData = await checkGrpc(silent.url, "modelgate silent (gRPC)", GW_HEADERS);
    await sleep(500);
    const silentMem = { label: "modelgate (log silent)", idle: memoryOf(silent.child.proc.pid) } as (typeof memory)[number];
    memory.push(silentMem);
    await measureRow(
      { key: "gw-json-silent", label: "modelgate (log silent)", protocol: "Connect JSON, HTTP/1.1 · wrk", tool: "wrk" },
      (c, s) => wrk(`${silent.url}/modelgate.v1.ChatService/Chat`, gwConnectScript, c, s),
    );
    await measureRow(
      { key: "gw-grpc-silent", label: "modelgate (log silent)", protocol: "gRPC, h2c · h2load", tool: "h2load" },
      (c, s, m) => h2load(silent.url, c, s, silentGrpcData, m, GW_H2LOAD_HEADERS),
    );
    silentMem.after = memoryOf(silent.child.proc.pid);
    await stopChild(silent.child);
  }

  if (!opt["skip-traced"] && PARTS.has("load")) {
    // Tracing on (issue 12): every call gets its server span and a client span per upstream
    // attempt, exported in batches over OTLP/HTTP protobuf to a sink here that counts the bytes.
    const sink = await startOtlpSink();
    const traced = await startGateway("modelgate (tracing on)", configFile, "info", [], {
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      OTEL_SERVICE_NAME: "modelgate-bench",
    });
    try {
      log(`modelgate ${traced.url} (LOG_LEVEL=info, OpenTelemetry traces to ${sink.url})`);
      const tracedGrpcData = await checkGrpc(traced.url, "modelgate traced (gRPC)", GW_HEADERS);
      await sleep(500);
      await measureRow(
        { key: "gw-json-traced", label: "modelgate (log info, tracing on)", protocol: "Connect JSON, HTTP/1.1 · wrk", tool: "wrk" },
        (c, s) => wrk(`${traced.url}/modelgate.v1.ChatService/Chat`, gwConnectScript, c, s),
      );
      await measureRow(
        { key: "gw-grpc-traced", label: "modelgate (log info, tracing on)", protocol: "gRPC, h2c · h2load", tool: "h2load" },
        (c, s, m) => h2load(traced.url, c, s, tracedGrpcData, m, GW_H2LOAD_HEADERS),
      );
      await sleep(1_500); // one more batch export (the SDK's scheduled delay is 1 s by default here)
      if (sink.exports() === 0) throw new Error("tracing on: the OTLP sink received no export: the gateway exported no span");
      log(`OTLP sink: ${sink.exports()} exports, ${(sink.bytes() / 1e6).toFixed(1)} MB of spans`);
    } finally {
      await stopChild(traced.child);
      await sink.close();
    }
  }

  let profileText: string | undefined;
  if (opt["cpu-prof"]) {
    // modelgate and the bare connect-node passthrough, each under the same load, one after the
    // other; each with a private TMPDIR (an empty tsx cache: afterwards it holds the source maps
    // of exactly the code that ran, to map profile positions back to .ts lines).
    const texts: string[] = [];
    for (const which of ["modelgate", "bare connect-node passthrough"] as const) {
      const profDir = path.join(tmp, `prof-${which === "modelgate" ? "gw" : "bare"}`);
      const tsxTmp = path.join(tmp, `tsx-tmp-${which === "modelgate" ? "gw" : "bare"}`);
      mkdirSync(tsxTmp);
      const nodeArgs = ["--cpu-prof", "--cpu-prof-dir", profDir];
      let target: { child: Child; jsonUrl: string; grpcUrl: string; spawnedAt: number; script: string; headers: Record<string, string> };
      if (which === "modelgate") {
        // Through tsx (not the bundle), with the same V8 flag and config: the summary maps
        // profile positions back to .ts lines through tsx's source maps.
        const prof = await startGateway("modelgate (cpu-prof)", configFile, "info", nodeArgs, { TMPDIR: tsxTmp }, "tsx");
        target = { child: prof.child, jsonUrl: prof.url, grpcUrl: prof.url, spawnedAt: prof.spawnedAt, script: gwConnectScript, headers: GW_HEADERS };
      } else {
        const spawnedAt = performance.now();
        const prof = await startBare(fake.url, nodeArgs, { TMPDIR: tsxTmp });
        await checkConnectJson(prof.h1Url, "bare cpu-prof (Connect JSON)");
        target = { child: prof.child, jsonUrl: prof.h1Url, grpcUrl: prof.h2Url, spawnedAt, script: connectScript, headers: {} };
      }
      const profGrpcData = await checkGrpc(target.grpcUrl, `${which} cpu-prof (gRPC)`, target.headers);
      const h2Headers = Object.entries(target.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
      log(`cpu profile: ${which} under wrk Connect JSON c=32 then h2load gRPC c=32, ${DURATION} s each (after warm-up)`);
      await wrk(`${target.jsonUrl}/modelgate.v1.ChatService/Chat`, target.script, 32, WARMUP);
      await h2load(target.grpcUrl, 32, WARMUP, profGrpcData, false, h2Headers);
      // Profile time starts about when the child does: samples before now are start-up and warm-up.
      const fromMs = performance.now() - target.spawnedAt;
      const json = await wrk(`${target.jsonUrl}/modelgate.v1.ChatService/Chat`, target.script, 32, DURATION);
      const grpc = await h2load(target.grpcUrl, 32, DURATION, profGrpcData, false, h2Headers);
      await stopChild(target.child);
      const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
      if (file === undefined) throw new Error(`no .cpuprofile written in ${profDir}`);
      const kept = path.join(os.tmpdir(), `modelgate-bench-${which === "modelgate" ? "gw" : "bare"}-${Date.now()}.cpuprofile`);
      writeFileSync(kept, readFileSync(path.join(profDir, file)));
      texts.push(
        `#### ${which}`,
        "",
        `Calls answered while sampled: ${fInt(json.requests)} Connect JSON + ${fInt(grpc.requests)} gRPC. Profile file: ${kept}`,
        "",
        formatProfileSummary(summarizeProfile(kept, root, { tsxCacheDir: tsxTmp, fromMs })),
        "",
      );
    }
    profileText = texts.join("\n");
  }

  await stopAll();

  // Streams memory: N open streams through each system (bench/streams-memory.ts).
  let streams: StreamsMemoryResult | undefined;
  if (PARTS.has("streams")) {
    const streamFake = await startFake();
    streams = await runStreamsMemory({
      tmp,
      n: STREAMS_N,
      warmup: Math.min(STREAMS_N, opt.smoke ? 20 : 200),
      settleMs: opt.smoke ? 200 : 2_000,
      fakeUrl: streamFake.url,
      log,
      spawnTs: (name, script, args, nodeArgs) => spawnTs(name, script, args, { stdout: "pipe", nodeArgs }),
      waitForLine: (child, re, ms) => waitForLine(child as Child, re, ms),
      stopChild: (child) => stopChild(child as Child),
      startGateway: (name, file, level, nodeArgs) => startGateway(name, file, level, nodeArgs),
      stderrOf: (child) => (child as Child).stderr,
      gatewayConfig,
      apiKey: API_KEY,
      gatewayHeaders: GW_HEADERS,
      messages: MESSAGES,
    });
    await stopAll();
  }

  // RSS drift over --long-requests calls against a fresh modelgate.
  let drift: DriftSample[] | undefined;
  if (opt.long) {
    const driftFake = await startFake();
    writeFileSync(configFile, gatewayConfig(driftFake.url));
    drift = await driftRun(configFile, gwConnectScript);
    await stopAll();
  }

  // Cold start to SERVING of `npm start`'s command on the default config (bench/startup.ts).
  const startupRuns = opt.smoke ? 1 : 3;
  const startup: StartupSample[] = [];
  if (PARTS.has("startup")) {
    log(`start-up: ${startupRuns} cold start(s) of bin/modelgate.mjs --config config/default.yaml`);
    for (let i = 0; i < startupRuns; i++) {
      startup.push(await startupOnce([process.execPath, ...startNodeFlags, path.join(root, "bin", "modelgate.mjs")], "config/default.yaml"));
    }
  }

  // --- report ---
  const cpu = os.cpus();
  const out: string[] = [];
  out.push(
    `## modelgate benchmark — ${new Date().toISOString()}`,
    "",
    `Machine: ${cpu[0]?.model.trim() ?? "?"}, ${cpu.length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
      `Node ${process.version}; ${toolVersion("wrk", ["-v"], /wrk \S+/)}; ${toolVersion("h2load", ["--version"], /nghttp2\/\S+/).replace("nghttp2", "h2load nghttp2")}.`,
    `Load generator, fake upstream and server under test all share these ${cpu.length} CPUs (at c=32 they compete for them).`,
    `modelgate rows: ${PATH_DESCRIPTION}; ${START_DESCRIPTION}${opt["cpu-prof"] ? " (the --cpu-prof run: src/main.ts through tsx, same flag and config)" : ""}.`,
  );
  if (rows.length > 0) {
    out.push(
      `Each cell: ${DURATION} s measured after ${WARMUP} s of warm-up${REPEAT > 1 ? `, median of ${REPEAT} runs` : ""}. c=1: wrk -t1 -c1 / h2load -c1 -m1. ` +
        `c=32: wrk -t2 -c32 (32 connections) / h2load -c1 -m32 (one connection, 32 concurrent streams).`,
      `Request: unary chat, ${MESSAGES.length} messages, reply "${EXPECTED_REPLY}". Latency: wrk --latency; h2load per-request log.`,
      "",
      "### Unary chat",
      "",
      loadTable(),
      "",
      "### Overhead",
      "",
      ...overheadLines(),
    );
  }
  if (ttft.length > 0) {
    out.push(
      "",
      `### Streaming time to first token (${TTFT_N} sequential streamed chats per row)`,
      "",
      "| path | TTFT p50 ms | TTFT p99 ms | Δ p50 vs direct | Δ p99 vs direct | whole stream p50 ms | other load |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    const direct = stats(ttft[0]!.samples.map((s) => s.ttft));
    for (const t of ttft) {
      const s = stats(t.samples.map((x) => x.ttft));
      const total = stats(t.samples.map((x) => x.total));
      out.push(
        `| ${t.label} | ${f3(s.p50)} | ${f3(s.p99)} | ${t === ttft[0] ? "–" : signed(s.p50 - direct.p50)} | ${t === ttft[0] ? "–" : signed(s.p99 - direct.p99)} | ${f3(total.p50)} | ${t.otherCpu.toFixed(0)}% |`,
      );
    }
    out.push("", ...ttftGoalLines(ttft));
  }
  if (streams !== undefined) out.push("", ...streams.lines);
  if (drift !== undefined) out.push("", ...driftLines(drift));
  if (memory.length > 0 && PARTS.has("load")) {
    out.push(
      "",
      "### Memory (RSS of the server process, /proc/PID/status)",
      "",
      "| process | RSS idle MB | RSS after load MB | peak (VmHWM) MB |",
      "| --- | ---: | ---: | ---: |",
    );
    for (const m of memory) out.push(`| ${m.label} | ${f1(m.idle.rssMb)} | ${f1(m.after?.rssMb)} | ${f1(m.after?.hwmMb)} |`);
  }
  if (startup.length > 0) {
    out.push(
      "",
      `### Start-up (\`npm start\`'s command, config/default.yaml, ${startupRuns} cold start${startupRuns > 1 ? "s, median" : ""})`,
      "",
      "| cold start to SERVING ms | RSS 1 s after MB | idle RSS 4 s after MB | settled RSS 20 s after MB |",
      "| ---: | ---: | ---: | ---: |",
      `| ${medianOf(startup.map((x) => x.servingMs)).toFixed(0)} | ${f1(medianOf(startup.map((x) => x.rss1sMb)))} | ${f1(medianOf(startup.map((x) => x.idleRssMb)))} | ${f1(medianOf(startup.map((x) => x.settledRssMb)))} |`,
    );
  }
  if (profileText !== undefined) out.push("", "### CPU profiles under load (c=32): modelgate and the bare connect-node passthrough", "", profileText);
  process.stdout.write(out.join("\n") + "\n");

  if (opt.json !== undefined) {
    writeFileSync(
      opt.json,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          cpus: cpu.length,
          durationS: DURATION,
          warmupS: WARMUP,
          repeat: REPEAT,
          rows,
          ttft: ttft.map((t) => ({ label: t.label, otherCpu: t.otherCpu, ...stats(t.samples.map((s) => s.ttft)) })),
          memory,
          streams: streams?.rows,
          drift,
        },
        null,
        2,
      ) + "\n",
    );
  }
}

main()
  .catch(async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    if (tmp !== "") rmSync(tmp, { recursive: true, force: true });
  });
