// Streams memory (issue 11: "5,000 concurrent open streams add ≤ 150 MB, ≤ 30 KB each").
// Used by bench/run.ts. Against bench/hold-upstream.ts, whose streams send a first token and
// then stay open, it opens N concurrent streams and waits until every one has its first
// token, then reads the server's VmRSS (/proc/PID/status) and compares it with the reading
// just before (after a warm-up batch opened and closed). Three systems, one after the other:
//   1. direct: N OpenAI SSE streams from this process to the hold upstream (one undici Agent,
//      N HTTP/1.1 connections); measured: the hold upstream itself (the floor: a bare
//      node:http server holding N responses);
//   2. bare connect-node passthrough (bench/bare-passthrough.ts, upstream = the hold upstream):
//      N StreamChat calls over gRPC (h2c), PER_SESSION streams per HTTP/2 session;
//   3. modelgate (src/main.ts, endpoint `hold` on the hold upstream, caps raised for the run:
//      http2_max_concurrent_streams, max_connections, max_connections_per_ip): the same calls;
//      also the V8 heap used (modelgate_process_nodejs_heap_size_used_bytes from GET /metrics).
// Each system's streams are closed (client aborts) before the next system starts.
// Two readings each: "as read" (the streams' garbage not yet collected, which moves it by ±3 KB
// per stream between runs), and after a full GC forced through the process's inspector
// (`--inspect=127.0.0.1:0`, HeapProfiler.collectGarbage twice): what the streams hold live. The
// forced GC before the streams comes first, so both "before" readings are of a collected heap;
// the "after" as read is taken before the second forced GC.
import type { ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Agent, request } from "undici";
import { ChatService } from "../gen/modelgate/v1/chat_pb";

/** Streams per HTTP/2 session (the gateway's http2_max_concurrent_streams is raised above it). */
const PER_SESSION = 500;
/** Streams opened at the same time while ramping up. */
const RAMP_BATCH = 250;
const HOLD_ENDPOINT = "hold";

interface ChildLike {
  proc: ChildProcess;
}

export interface StreamsMemoryDeps {
  tmp: string;
  /** Concurrent streams to hold. */
  n: number;
  /** Streams opened and closed before the "before" reading (warms code paths and pools). */
  warmup: number;
  /** Pause before each reading and after closing streams, in ms (the smoke run shortens it). */
  settleMs: number;
  /** The bench's usual fake (the gateway config's readiness endpoint `chat` points at it). */
  fakeUrl: string;
  log(line: string): void;
  spawnTs(name: string, script: string, args: string[], nodeArgs?: string[]): ChildLike;
  waitForLine(child: ChildLike, re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  stopChild(child: ChildLike): Promise<void>;
  startGateway(name: string, configFile: string, logLevel: string, nodeArgs?: string[]): Promise<{ child: ChildLike; url: string }>;
  /** What the child wrote to stderr lately (its inspector's address is read from it). */
  stderrOf(child: ChildLike): string;
  gatewayConfig(fakeUrl: string, extraServer: string, extraEndpoints: string): string;
  apiKey: string;
  /** Headers every call to modelgate carries (its API key on the full path; none with --auth-off). */
  gatewayHeaders: Record<string, string>;
  messages: { role: string; content: string }[];
}

export interface StreamsMemoryRow {
  label: string;
  measured: string;
  n: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  /** The same readings after a forced full GC. */
  gcRssBeforeMb: number;
  gcRssAfterMb: number;
  heapBeforeMb?: number;
  heapAfterMb?: number;
  openSeconds: number;
}

export interface StreamsMemoryResult {
  rows: StreamsMemoryRow[];
  lines: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb ?? Number.NaN) / 1024;
}

/** The gateway's V8 heap used, from prom-client's default metrics at GET /metrics. */
async function heapUsedMb(url: string): Promise<number> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const m = /^modelgate_process_nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)/m.exec(text);
  if (res.status !== 200 || !m) throw new Error(`GET ${url}/metrics: HTTP ${res.status}, no nodejs_heap_size_used_bytes`);
  return Number(m[1]) / 2 ** 20;
}

/** Asks for the inspector on a port of its own choosing (its address is printed on stderr). */
const INSPECT = ["--inspect=127.0.0.1:0"];
const inspectors = new WeakMap<ChildLike, string>();

/**
 * Forces full GCs in `child` through its inspector (HeapProfiler.collectGarbage, twice: the first
 * can leave what finalizers freed), then reads its RSS.
 */
async function rssAfterGcMb(d: StreamsMemoryDeps, child: ChildLike): Promise<number> {
  // Read once (stderr is kept only in part, and more may follow).
  let url = inspectors.get(child);
  for (let waited = 0; url === undefined; waited += 50) {
    url = /Debugger listening on (ws:\/\/\S+)/.exec(d.stderrOf(child))?.[1];
    if (url !== undefined) inspectors.set(child, url);
    else if (waited > 10_000) throw new Error("no inspector address on the child's stderr within 10 s");
    else await sleep(50);
  }
  const ws = new WebSocket(url);
  try {
    await within(
      new Promise<void>((resolve, reject) => {
        let id = 0;
        const ask = () => ws.send(JSON.stringify({ id: ++id, method: "HeapProfiler.collectGarbage" }));
        ws.onopen = ask;
        ws.onerror = () => reject(new Error(`inspector ${url}: connection failed`));
        ws.onmessage = (e) => {
          const reply = JSON.parse(String(e.data)) as { id?: number; error?: { message: string } };
          if (reply.id === undefined) return; // an event, not our answer
          if (reply.error) reject(new Error(`inspector: ${reply.error.message}`));
          else if (reply.id < 2) ask();
          else resolve();
        };
      }),
      30_000,
      "forced GC",
    );
  } finally {
    ws.close();
  }
  await sleep(200); // freed pages go back to the system
  return rssMb(child.proc.pid);
}

/** Rejects after `ms` with `what`; the timer never keeps the process alive. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Open streams of one system, closed together. */
interface OpenStreams {
  close(): Promise<void>;
}

/** Opens `n` streams with `openOne` (RAMP_BATCH at a time); each resolves once its first token is in. */
async function openMany(n: number, settleMs: number, openOne: (i: number, signal: AbortSignal) => Promise<void>, what: string): Promise<{ streams: OpenStreams; seconds: number }> {
  const abort = new AbortController();
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i += RAMP_BATCH) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < Math.min(n, i + RAMP_BATCH); j++) batch.push(within(openOne(j, abort.signal), 60_000, `${what} stream ${j}`));
      await Promise.all(batch);
    }
  } catch (err) {
    abort.abort();
    throw err;
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    seconds,
    streams: {
      close: async () => {
        abort.abort();
        await sleep(settleMs); // let both ends tear the streams down
      },
    },
  };
}

/** An OpenAI SSE stream straight to the hold upstream: resolves at the first content chunk. */
function directStream(agent: Agent, holdUrl: string, messages: StreamsMemoryDeps["messages"]) {
  const body = JSON.stringify({ model: "hold-1", messages, stream: true });
  return async (_i: number, signal: AbortSignal): Promise<void> => {
    const res = await request(`${holdUrl}/v1/chat/completions`, {
      dispatcher: agent,
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal,
    });
    if (res.statusCode !== 200) throw new Error(`hold upstream: HTTP ${res.statusCode}`);
    res.body.on("error", () => {}); // the abort at close destroys the body: expected
    await new Promise<void>((resolve, reject) => {
      let seen = "";
      const onData = (b: Buffer) => {
        seen += b.toString("utf8");
        if (seen.includes('"content":"hold"')) {
          res.body.off("data", onData);
          res.body.pause();
          resolve();
        }
      };
      res.body.on("data", onData);
      res.body.once("end", () => reject(new Error("hold upstream: the stream ended")));
      res.body.once("error", reject);
    });
  };
}

/** StreamChat over gRPC: one connect-node transport (one HTTP/2 session) per PER_SESSION streams. */
function grpcStream(baseUrl: string, n: number, messages: StreamsMemoryDeps["messages"], headers: Record<string, string> = {}) {
  const clients: Client<typeof ChatService>[] = [];
  for (let s = 0; s < Math.ceil(n / PER_SESSION); s++) {
    clients.push(createClient(ChatService, createGrpcTransport({ baseUrl, idleConnectionTimeoutMs: 600_000 })));
  }
  return async (i: number, signal: AbortSignal): Promise<void> => {
    const client = clients[Math.floor(i / PER_SESSION)]!;
    const it = client.streamChat({ endpoint: HOLD_ENDPOINT, messages }, { signal, headers })[Symbol.asyncIterator]();
    for (;;) {
      const r = await it.next();
      if (r.done) throw new Error(`${baseUrl}: the stream ended before its first token`);
      if (r.value.choices.some((c) => (c.delta?.content ?? "") !== "")) break;
    }
    // Keep reading in the background (nothing more comes until the abort at close).
    void (async () => {
      try {
        while (!(await it.next()).done);
      } catch {
        // the abort at close: expected
      }
    })();
  };
}

export async function runStreamsMemory(d: StreamsMemoryDeps): Promise<StreamsMemoryResult> {
  const rows: StreamsMemoryRow[] = [];
  const hold = d.spawnTs("hold upstream", "bench/hold-upstream.ts", ["--port", "0"], INSPECT);
  const holdUrl = (await d.waitForLine(hold, /^listening (http:\/\/\S+)/))[1]!;
  const children: ChildLike[] = [hold];
  try {
    // 1. direct
    {
      const agent = new Agent({ keepAliveTimeout: 30_000, connections: null });
      const open = directStream(agent, holdUrl, d.messages);
      const warm = await openMany(d.warmup, d.settleMs, open, "direct warm-up");
      await warm.streams.close();
      await sleep(d.settleMs);
      const gcBefore = await rssAfterGcMb(d, hold);
      const before = rssMb(hold.proc.pid);
      d.log(`streams memory: ${d.n} direct SSE streams to the hold upstream`);
      const opened = await openMany(d.n, d.settleMs, open, "direct");
      await sleep(d.settleMs);
      rows.push({
        label: "hold upstream (bare node:http), direct SSE streams",
        measured: "hold upstream",
        n: d.n,
        rssBeforeMb: before,
        rssAfterMb: rssMb(hold.proc.pid),
        gcRssBeforeMb: gcBefore,
        gcRssAfterMb: await rssAfterGcMb(d, hold),
        openSeconds: opened.seconds,
      });
      await opened.streams.close();
      await agent.close().catch(() => {});
    }

    // 2. bare connect-node passthrough
    {
      const bare = d.spawnTs("bare passthrough (streams)", "bench/bare-passthrough.ts", ["--upstream", `${holdUrl}/v1`, "--model", "hold-1"], INSPECT);
      children.push(bare);
      const h2Url = (await d.waitForLine(bare, /^listening \S+ h2c (http:\/\/\S+)/))[1]!;
      const open = grpcStream(h2Url, Math.max(d.n, d.warmup), d.messages);
      const warm = await openMany(d.warmup, d.settleMs, open, "bare warm-up");
      await warm.streams.close();
      await sleep(d.settleMs);
      const gcBefore = await rssAfterGcMb(d, bare);
      const before = rssMb(bare.proc.pid);
      d.log(`streams memory: ${d.n} StreamChat (gRPC) through the bare connect-node passthrough`);
      const opened = await openMany(d.n, d.settleMs, open, "bare");
      await sleep(d.settleMs);
      rows.push({
        label: "bare connect-node passthrough, StreamChat over gRPC",
        measured: "passthrough",
        n: d.n,
        rssBeforeMb: before,
        rssAfterMb: rssMb(bare.proc.pid),
        gcRssBeforeMb: gcBefore,
        gcRssAfterMb: await rssAfterGcMb(d, bare),
        openSeconds: opened.seconds,
      });
      await opened.streams.close();
      await d.stopChild(bare);
    }

    // 3. modelgate
    {
      const file = path.join(d.tmp, "modelgate-streams.yaml");
      const cap = d.n + 1_000;
      writeFileSync(
        file,
        d.gatewayConfig(
          d.fakeUrl,
          `  max_connections: ${cap}\n  max_connections_per_ip: ${cap}\n  http2_max_concurrent_streams: ${PER_SESSION * 2}\n`,
          `  - name: ${HOLD_ENDPOINT}
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: hold-1, config: { openai_api_key: ${d.apiKey}, openai_api_base: "${holdUrl}/v1" } }
`,
        ),
      );
      const gw = await d.startGateway("modelgate (streams)", file, "info", INSPECT);
      children.push(gw.child);
      const open = grpcStream(gw.url, Math.max(d.n, d.warmup), d.messages, d.gatewayHeaders);
      const warm = await openMany(d.warmup, d.settleMs, open, "modelgate warm-up");
      await warm.streams.close();
      await sleep(d.settleMs);
      const gcBefore = await rssAfterGcMb(d, gw.child);
      const before = rssMb(gw.child.proc.pid);
      const heapBefore = await heapUsedMb(gw.url);
      d.log(`streams memory: ${d.n} StreamChat (gRPC) through modelgate`);
      const opened = await openMany(d.n, d.settleMs, open, "modelgate");
      await sleep(d.settleMs);
      const after = rssMb(gw.child.proc.pid);
      const heapAfter = await heapUsedMb(gw.url);
      rows.push({
        label: "modelgate (log info), StreamChat over gRPC",
        measured: "modelgate",
        n: d.n,
        rssBeforeMb: before,
        rssAfterMb: after,
        gcRssBeforeMb: gcBefore,
        gcRssAfterMb: await rssAfterGcMb(d, gw.child),
        heapBeforeMb: heapBefore,
        heapAfterMb: heapAfter,
        openSeconds: opened.seconds,
      });
      await opened.streams.close();
      await d.stopChild(gw.child);
    }
  } finally {
    for (const c of children) await d.stopChild(c);
  }
  return { rows, lines: report(rows, d) };
}

function report(rows: readonly StreamsMemoryRow[], d: StreamsMemoryDeps): string[] {
  const f1 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(1));
  const out = [
    `### Streams memory (${d.n.toLocaleString("en-US")} concurrent open streams, each with its first token in; ${PER_SESSION} gRPC streams per HTTP/2 session)`,
    "",
    "| system | process measured | RSS before MB | RSS with the streams MB | added MB | KB per stream | after a forced GC: RSS before → with MB | KB per stream | heap used before → with MB | seconds to open all |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const perStream = (before: number, after: number, n: number) => ((after - before) * 1024) / n;
  for (const r of rows) {
    const added = r.rssAfterMb - r.rssBeforeMb;
    const heap = r.heapBeforeMb === undefined ? "–" : `${f1(r.heapBeforeMb)} → ${f1(r.heapAfterMb)}`;
    out.push(
      `| ${r.label} | ${r.measured} | ${f1(r.rssBeforeMb)} | ${f1(r.rssAfterMb)} | ${f1(added)} | ${f1(perStream(r.rssBeforeMb, r.rssAfterMb, r.n))} | ` +
        `${f1(r.gcRssBeforeMb)} → ${f1(r.gcRssAfterMb)} | ${f1(perStream(r.gcRssBeforeMb, r.gcRssAfterMb, r.n))} | ${heap} | ${r.openSeconds.toFixed(1)} |`,
    );
  }
  const gw = rows.find((r) => r.measured === "modelgate");
  if (gw !== undefined) {
    const asIs = perStream(gw.rssBeforeMb, gw.rssAfterMb, gw.n);
    const live = perStream(gw.gcRssBeforeMb, gw.gcRssAfterMb, gw.n);
    out.push(
      "",
      `Goal (issue 11): ≤ 30 KB per open stream through modelgate (5,000 streams ≤ 150 MB): as read **${asIs <= 30 ? "met" : "NOT met"}** (${f1(asIs)} KB); ` +
        `after a forced GC **${live <= 30 ? "met" : "NOT met"}** (${f1(live)} KB).`,
    );
  }
  return out;
}
