// Soak: does normal traffic still flow while slow clients and long streams hold connections?
//
//   npx tsx bench/soak.ts                      # ~1.5 min: 1,000 slow connections, 2,000 open streams
//   npx tsx bench/soak.ts --phase 30 --slow 1000 --streams 2000 --concurrency 8
//
// Starts modelgate as a child (`node --import tsx src/main.ts`, the echo provider, no network)
// on a free loopback port, and measures unary Chat calls (Connect JSON over HTTP/1.1 with an
// undici pool, and gRPC over one HTTP/2 connection, each at --concurrency) in three phases:
//   1. baseline: nothing else running;
//   2. under load: --slow slow connections, re-opened as the gateway closes them
//      (60% trickle one header byte a second and never finish their headers, 20% send one
//      byte and go silent, 20% are HTTP/2 sessions that send the preface and stay idle), and
//      --streams StreamChat server streams over HTTP/2 (200 per connection) from an echo
//      endpoint that sends one word a second, so every stream stays open the whole phase;
//   3. after: the slow load stopped.
// It prints the unary calls' p50/p99 and the gateway's RSS per phase, and how many slow
// connections the gateway closed. Everything it starts, it stops (also on error and Ctrl-C),
// and it gives up after --max-seconds.
//
// All connections come from 127.0.0.1, so the config raises server.max_connections_per_ip
// (and max_connections) for this run. Both this process and the gateway hold one descriptor per
// connection: `ulimit -n` must be above --slow + --streams/200 + 2 × --concurrency + ~200; the
// script checks and tells you (`ulimit -n 4096` in the shell that runs it is plenty).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Pool } from "undici";
import { ChatService } from "../gen/modelgate/v1/chat_pb";
import { freePort } from "../test/support/free-port";

const { values: args } = parseArgs({
  options: {
    phase: { type: "string", default: "15" },
    slow: { type: "string", default: "1000" },
    streams: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "8" },
    "max-seconds": { type: "string", default: "300" },
  },
});
const phaseMs = Number(args.phase) * 1000;
const slowTarget = Number(args.slow);
const streamTarget = Number(args.streams);
const concurrency = Number(args.concurrency);
const streamsPerSession = 200;
const root = fileURLToPath(new URL("..", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`soak: ${s}\n`);

// ---------------------------------------------------------------------------------------------
// Descriptors

function openFilesLimit(): number {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return line?.[1] === "unlimited" ? Infinity : Number(line?.[1] ?? Infinity);
  } catch {
    return Infinity; // not Linux: trust the user
  }
}
const needed = slowTarget + Math.ceil(streamTarget / streamsPerSession) + 2 * concurrency + 200;
if (openFilesLimit() < needed) {
  process.stderr.write(
    `soak: this needs about ${needed} file descriptors per process and the limit is ${openFilesLimit()}.\n` +
      `Raise it in this shell first:  ulimit -n 4096   (then run again)\n`,
  );
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// The gateway

const words = Array.from({ length: 300 }, (_, i) => `w${i}`).join(" ");
const config = `
server:
  host: 127.0.0.1
  # Every client here is 127.0.0.1: the per-address cap must admit the whole test.
  max_connections: ${slowTarget + 1000}
  max_connections_per_ip: ${slowTarget + 1000}
logging:
  level: warn
store:
  database_url: "sqlite::memory:"
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
  - name: slow-chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1, config: { stream_delay_ms: 1000 } }
`;

interface Gateway {
  proc: ChildProcess;
  url: string;
  port: number;
  output: string;
  refusalLines: number;
}
let gateway: Gateway | undefined;
const dir = mkdtempSync(join(tmpdir(), "modelgate-soak-"));

async function startGateway(): Promise<Gateway> {
  const file = join(dir, "soak.yaml");
  writeFileSync(file, config);
  const port = await freePort();
  const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--config", file, "--port", String(port)], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const gw: Gateway = { proc, url: `http://127.0.0.1:${port}`, port, output: "", refusalLines: 0 };
  for (const stream of [proc.stdout!, proc.stderr!]) {
    stream.setEncoding("utf8");
    stream.on("data", (s: string) => {
      gw.output = (gw.output + s).slice(-4000);
      gw.refusalLines += s.split("connections refused").length - 1;
    });
  }
  const until = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the gateway exited (${proc.exitCode}) before it was ready:\n${gw.output}`);
    try {
      const res = await fetch(`${gw.url}/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`the gateway is not ready after 30 s:\n${gw.output}`);
    await sleep(100);
  }
  return gw;
}

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return Number(kb) / 1024;
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// Normal traffic: unary Chat, closed loop at `concurrency`, over HTTP/1.1 and over HTTP/2

interface Sample {
  latencies: number[];
  errors: number;
  firstError?: string;
}

const unaryBody = JSON.stringify({ endpoint: "chat", messages: [{ role: "user", content: "hello there" }] });

async function normalTraffic(gw: Gateway, ms: number): Promise<{ h1: Sample; grpc: Sample }> {
  const h1: Sample = { latencies: [], errors: 0 };
  const grpc: Sample = { latencies: [], errors: 0 };
  const pool = new Pool(gw.url, { connections: concurrency });
  const chat = createClient(ChatService, createGrpcTransport({ baseUrl: gw.url }));
  const until = performance.now() + ms;
  const loop = async (sample: Sample, call: () => Promise<void>) => {
    while (performance.now() < until) {
      const t = performance.now();
      try {
        await call();
        sample.latencies.push(performance.now() - t);
      } catch (err) {
        sample.errors++;
        sample.firstError ??= String(err);
      }
    }
  };
  const h1Call = async () => {
    const res = await pool.request({
      path: "/modelgate.v1.ChatService/Chat",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: unaryBody,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200 || !text.includes("echo: hello there")) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
  };
  const grpcCall = async () => {
    const res = await chat.chat({ endpoint: "chat", messages: [{ role: "user", content: "hello there" }] }, { timeoutMs: 30_000 });
    if (res.choices[0]?.message?.content !== "echo: hello there") throw new Error("wrong answer");
  };
  await Promise.all([
    ...Array.from({ length: concurrency }, () => loop(h1, h1Call)),
    ...Array.from({ length: concurrency }, () => loop(grpc, grpcCall)),
  ]);
  await pool.close();
  return { h1, grpc };
}

// ---------------------------------------------------------------------------------------------
// Slow load: slow connections (re-opened when closed) and long server streams

interface SlowLoad {
  openSlow(): number;
  openStreams(): number;
  closedByGateway: number;
  opened: number;
  streamErrors: number;
  firstStreamError?: string;
  chunks: number;
  stop(): Promise<void>;
}

type SlowKind = "trickle" | "one-byte" | "h2-idle";
const kindFor = (i: number): SlowKind => (i % 5 < 3 ? "trickle" : i % 5 === 3 ? "one-byte" : "h2-idle");
const h2Preface = Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

function startSlowLoad(gw: Gateway): SlowLoad {
  let stopping = false;
  const sockets = new Set<net.Socket>();
  const trickling = new Set<net.Socket>();
  const state: SlowLoad = {
    openSlow: () => sockets.size,
    openStreams: () => streamsOpen,
    closedByGateway: 0,
    opened: 0,
    streamErrors: 0,
    chunks: 0,
    stop: async () => {
      stopping = true;
      clearInterval(trickle);
      for (const s of sockets) s.destroy();
      abort.abort();
      await Promise.allSettled(streamLoops);
    },
  };

  const openSlow = (i: number) => {
    if (stopping) return;
    const kind = kindFor(i);
    const socket = net.connect(gw.port, "127.0.0.1");
    state.opened++;
    socket.on("error", () => {});
    socket.resume();
    socket.once("connect", () => {
      sockets.add(socket);
      if (kind === "trickle") {
        socket.write("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-slow: ");
        trickling.add(socket);
      } else if (kind === "one-byte") {
        socket.write("G");
      } else {
        socket.write(h2Preface);
      }
    });
    socket.once("close", () => {
      sockets.delete(socket);
      trickling.delete(socket);
      if (stopping) return;
      state.closedByGateway++;
      setTimeout(() => openSlow(i), 200); // the attacker comes back
    });
  };
  // One header byte a second on every trickling connection.
  const trickle = setInterval(() => {
    for (const s of trickling) if (!s.destroyed) s.write("a");
  }, 1_000);
  // Open the slow connections in batches, not all in one tick.
  void (async () => {
    for (let i = 0; i < slowTarget && !stopping; i += 100) {
      for (let j = i; j < Math.min(slowTarget, i + 100); j++) openSlow(j);
      await sleep(50);
    }
  })();

  // Long streams: `streamsPerSession` per HTTP/2 connection (one transport = one connection).
  const abort = new AbortController();
  let streamsOpen = 0;
  const streamLoops: Promise<void>[] = [];
  const sessions = Math.ceil(streamTarget / streamsPerSession);
  for (let s = 0; s < sessions; s++) {
    const client = createClient(ChatService, createGrpcTransport({ baseUrl: gw.url }));
    const n = Math.min(streamsPerSession, streamTarget - s * streamsPerSession);
    for (let k = 0; k < n; k++) {
      streamLoops.push(
        (async () => {
          while (!stopping) {
            let counted = false;
            try {
              const it = client.streamChat({ endpoint: "slow-chat", messages: [{ role: "user", content: words }] }, { signal: abort.signal });
              for await (const _chunk of it) {
                state.chunks++;
                if (!counted) {
                  counted = true;
                  streamsOpen++;
                }
              }
            } catch (err) {
              if (!stopping) {
                state.streamErrors++;
                state.firstStreamError ??= String(err);
                await sleep(500);
              }
            } finally {
              if (counted) streamsOpen--;
            }
          }
        })(),
      );
    }
  }
  return state;
}

// ---------------------------------------------------------------------------------------------
// Report

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Row {
  phase: string;
  surface: string;
  calls: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  rss: number;
  slow: string;
  streams: string;
}
const rows: Row[] = [];
const notes: string[] = [];

async function measure(gw: Gateway, phase: string, load?: SlowLoad): Promise<void> {
  log(`${phase}: ${phaseMs / 1000} s of unary Chat at concurrency ${concurrency} per surface`);
  let rssMax = 0;
  const slowSamples: number[] = [];
  const streamSamples: number[] = [];
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, rssMb(gw.proc.pid));
    if (load) {
      slowSamples.push(load.openSlow());
      streamSamples.push(load.openStreams());
    }
  }, 500);
  const { h1, grpc } = await normalTraffic(gw, phaseMs);
  clearInterval(sampler);
  rssMax = Math.max(rssMax, rssMb(gw.proc.pid));
  const avg = (xs: number[]) => (xs.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : 0);
  const range = (xs: number[]) => (xs.length ? `${avg(xs)} (${Math.min(...xs)}–${Math.max(...xs)})` : "0");
  for (const [surface, s] of [
    ["Connect JSON, HTTP/1.1", h1],
    ["gRPC, HTTP/2", grpc],
  ] as const) {
    const sorted = [...s.latencies].sort((a, b) => a - b);
    rows.push({
      phase,
      surface,
      calls: s.latencies.length,
      rps: s.latencies.length / (phaseMs / 1000),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      errors: s.errors,
      rss: rssMax,
      slow: load ? range(slowSamples) : "0",
      streams: load ? range(streamSamples) : "0",
    });
    if (s.firstError) notes.push(`${phase}, ${surface}: first error: ${s.firstError}`);
  }
}

function printReport(load: SlowLoad | undefined): void {
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "–");
  const out: string[] = [];
  out.push(`## modelgate soak (${new Date().toISOString()})`, "");
  out.push(
    `Unary Chat (echo) at concurrency ${concurrency} per surface, ${phaseMs / 1000} s per phase. Slow load: ${slowTarget} slow ` +
      `connections (60% trickling headers, 20% one byte, 20% idle HTTP/2 sessions; re-opened when closed) and ` +
      `${streamTarget} StreamChat streams over ${Math.ceil(streamTarget / streamsPerSession)} HTTP/2 connections (one word a second).`,
    "",
  );
  out.push("| phase | surface | calls | calls/s | p50 ms | p99 ms | errors | gateway RSS MB (max) | slow conns open avg (min–max) | streams open avg (min–max) |");
  out.push("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    out.push(`| ${r.phase} | ${r.surface} | ${r.calls} | ${f(r.rps, 0)} | ${f(r.p50)} | ${f(r.p99)} | ${r.errors} | ${f(r.rss, 0)} | ${r.slow} | ${r.streams} |`);
  }
  out.push("");
  if (load) {
    out.push(
      `Slow connections opened: ${load.opened}; closed by the gateway (header, request or idle timeout): ${load.closedByGateway}. ` +
        `Stream chunks received: ${load.chunks}; stream errors: ${load.streamErrors}.` +
        (load.firstStreamError ? ` First stream error: ${load.firstStreamError}` : ""),
    );
  }
  if (gateway) out.push(`Gateway warnings about refused connections: ${gateway.refusalLines}.`);
  for (const n of notes) out.push(`- ${n}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

// ---------------------------------------------------------------------------------------------

async function stopGateway(): Promise<void> {
  const gw = gateway;
  gateway = undefined;
  if (!gw || gw.proc.exitCode !== null) return;
  const exited = new Promise((r) => gw.proc.once("exit", r));
  gw.proc.kill("SIGTERM");
  await Promise.race([exited, sleep(15_000)]);
  if (gw.proc.exitCode === null) gw.proc.kill("SIGKILL");
}

async function cleanup(): Promise<void> {
  await stopGateway();
  rmSync(dir, { recursive: true, force: true });
}

const deadline = setTimeout(() => {
  process.stderr.write(`soak: gave up after ${args["max-seconds"]} s\n`);
  void cleanup().finally(() => process.exit(2));
}, Number(args["max-seconds"]) * 1000);
deadline.unref();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void cleanup().finally(() => process.exit(130)));
}

async function main(): Promise<void> {
  gateway = await startGateway();
  log(`gateway at ${gateway.url} (pid ${gateway.proc.pid})`);
  await normalTraffic(gateway, 2_000); // warm-up, not reported
  await measure(gateway, "1. baseline");

  log(`starting the slow load: ${slowTarget} slow connections, ${streamTarget} streams`);
  const load = startSlowLoad(gateway);
  const until = performance.now() + 30_000;
  while (performance.now() < until && (load.openStreams() < streamTarget || load.openSlow() < slowTarget * 0.9)) await sleep(250);
  log(`slow load ready: ${load.openSlow()} slow connections, ${load.openStreams()} streams`);
  await measure(gateway, "2. under slow load", load);
  await load.stop();
  await sleep(3_000);
  await measure(gateway, "3. after");
  printReport(load);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => void cleanup().then(() => process.exit()));
