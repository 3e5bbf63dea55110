// What connect-es (@connectrpc/connect 2.x + connect-node) costs per call, piece by piece:
// a micro-benchmark for the upstream report in bench/README.md.
//
//   npx tsx bench/connect-percall.ts [--ms 300] [--rounds 5] [--json FILE]
//
// Each case runs in a loop for --ms milliseconds after an equal warm-up, --rounds times; the
// report gives the median CPU ns per operation (process.cpuUsage(), so waiting for a CPU on a
// shared machine does not count; async cases are awaited one by one, as a server handles one
// call's steps). In one process, no network, no other work: what remains is the
// CPU each piece costs. Cases:
//   - the primitives connect-es creates for every call: AbortController (and abort() with no
//     reason, which makes a DOMException), createLinkedAbortController, createDeadlineSignal,
//     createHandlerContext (+ its abort() in the handler's `finally`), WHATWG Headers built from
//     Node's header object and copied, `new URL()` of the request URL, createAsyncIterable;
//   - one whole unary call through connect-es's universal handler (createConnectRouter, the
//     handler that connect-node's adapter calls), for the Connect protocol (JSON) and gRPC
//     (binary), with the request built as universalRequestFromNodeRequest() builds it and the
//     response body drained; the implementation returns a fixed message;
//   - the floor of the same call: parse the request and serialize the answer with protobuf-es
//     and call the implementation, nothing else.
// The difference between a whole call and its floor is connect-es's own per-call cost.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { create, fromBinary, fromJson, toBinary, toJson, type MessageInitShape } from "@bufbuild/protobuf";
import { createConnectRouter, createContextValues, createHandlerContext } from "@connectrpc/connect";
import { createAsyncIterable, createDeadlineSignal, createLinkedAbortController, type UniversalServerRequest } from "@connectrpc/connect/protocol";
import { ChatRequestSchema, ChatResponseSchema, ChatService } from "../gen/modelgate/v1/chat_pb";

const { values: opt } = parseArgs({
  options: {
    ms: { type: "string", default: "300" },
    rounds: { type: "string", default: "5" },
    json: { type: "string" },
  },
  strict: true,
});
const MS = Number(opt.ms);
const ROUNDS = Number(opt.rounds);
if (!(MS > 0) || !Number.isInteger(ROUNDS) || ROUNDS < 1) {
  process.stderr.write("connect-percall: --ms must be > 0 and --rounds a positive integer\n");
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Inputs shaped like the bench's calls

const MESSAGES = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "Write one sentence about the sea." },
];
const request = create(ChatRequestSchema, { endpoint: "chat", messages: MESSAGES });
const answer: MessageInitShape<typeof ChatResponseSchema> = {
  id: "chatcmpl-bench",
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "echo: Write one sentence about the sea." }, finishReason: "stop" }],
  usage: { promptTokens: 14, completionTokens: 7, totalTokens: 21 },
};
const jsonBody = new TextEncoder().encode(JSON.stringify(toJson(ChatRequestSchema, request)));
const protoBytes = toBinary(ChatRequestSchema, request);
const grpcBody = new Uint8Array(5 + protoBytes.length);
new DataView(grpcBody.buffer).setUint32(1, protoBytes.length);
grpcBody.set(protoBytes, 5);

/** Node's header object as wrk sends a Connect JSON call (HTTP/1.1). */
const connectNodeHeaders: Record<string, string> = {
  host: "127.0.0.1:8080",
  "content-type": "application/json",
  "content-length": String(jsonBody.length),
};
/** As h2load / a gRPC client sends a unary call (HTTP/2; the pseudo-headers are skipped). */
const grpcNodeHeaders: Record<string, string> = {
  ":method": "POST",
  ":path": "/modelgate.v1.ChatService/Chat",
  ":scheme": "http",
  ":authority": "127.0.0.1:8080",
  "content-type": "application/grpc",
  te: "trailers",
  "user-agent": "h2load nghttp2/1.52.0",
  "grpc-accept-encoding": "identity,deflate,gzip",
};

/** connect-node's nodeHeaderToWebHeader() (node-universal-header.js), as it is. */
function nodeHeaderToWebHeader(nodeHeaders: Record<string, string>): Headers {
  const header = new Headers();
  for (const [k, v] of Object.entries(nodeHeaders)) {
    if (k.startsWith(":")) continue;
    header.append(k, v);
  }
  return header;
}

// ---------------------------------------------------------------------------------------------
// The router connect-node's adapter would call

const router = createConnectRouter();
router.service(ChatService, {
  chat: () => answer,
  // Not called here; the service needs both methods.
  async *streamChat() {
    yield* [];
  },
});
const handler = router.handlers.find((h) => h.requestPath === "/modelgate.v1.ChatService/Chat");
if (handler === undefined) throw new Error("no Chat handler");

/** What universalRequestFromNodeRequest() builds (connect-node), minus reading a socket. */
function universalRequest(nodeHeaders: Record<string, string>, body: Uint8Array, httpVersion: string, signal: AbortSignal, parseUrl = true): UniversalServerRequest {
  return {
    httpVersion,
    method: "POST",
    url: parseUrl ? new URL("/modelgate.v1.ChatService/Chat", "http://127.0.0.1:8080").toString() : "http://127.0.0.1:8080/modelgate.v1.ChatService/Chat",
    header: nodeHeaderToWebHeader(nodeHeaders),
    body: createAsyncIterable([body]),
    signal,
    contextValues: undefined,
  };
}

async function drain(body: AsyncIterable<Uint8Array> | undefined): Promise<number> {
  let n = 0;
  if (body !== undefined) for await (const chunk of body) n += chunk.length;
  return n;
}

/** The reason an adapter can abort a finished request's signal with: made once, no DOMException per call. */
const requestClosed = new Error("the request is complete");

/**
 * One call as connect-node's adapter makes it (`asAdapterCould`: false): one AbortController per
 * request, aborted with no reason when the request closes (a DOMException), the URL rebuilt
 * with `new URL()`. With `asAdapterCould`, what our own adapter could do instead without
 * touching connect-es: the URL string as is, and the close-abort with one shared reason.
 */
async function wholeCall(nodeHeaders: Record<string, string>, body: Uint8Array, httpVersion: string, asAdapterCould = false): Promise<void> {
  const requestAbort = new AbortController();
  const res = await handler!(universalRequest(nodeHeaders, body, httpVersion, requestAbort.signal, !asAdapterCould));
  if (res.status !== 200 || (await drain(res.body)) === 0) throw new Error(`status ${res.status}`);
  if (asAdapterCould) requestAbort.abort(requestClosed);
  else requestAbort.abort();
}

function handlerContext(requestSignal: AbortSignal) {
  return createHandlerContext({
    service: ChatService,
    method: ChatService.method.chat,
    protocolName: "connect",
    requestMethod: "POST",
    url: "http://127.0.0.1:8080/modelgate.v1.ChatService/Chat",
    requestSignal,
    requestHeader: connectHeadersWeb,
    responseHeader: { "content-type": "application/json" },
    contextValues: createContextValues(),
  });
}

// ---------------------------------------------------------------------------------------------
// Cases

type Case = { name: string; group: string; fn: () => unknown; async?: boolean };
const sink: unknown[] = [];
const keep = (x: unknown) => {
  sink[0] = x;
};
const reason = new Error("prepared reason");
const cases: Case[] = [
  { group: "signals", name: "new AbortController()", fn: () => keep(new AbortController()) },
  { group: "signals", name: "new AbortController() + abort() (no reason: makes a DOMException)", fn: () => new AbortController().abort() },
  { group: "signals", name: "new AbortController() + abort(reason) (no DOMException)", fn: () => new AbortController().abort(reason) },
  { group: "signals", name: 'new DOMException("…", "AbortError")', fn: () => keep(new DOMException("This operation was aborted", "AbortError")) },
  {
    group: "signals",
    name: "createLinkedAbortController(deadline, request) + abort()",
    fn: () => {
      const a = new AbortController();
      const b = new AbortController();
      createLinkedAbortController(a.signal, b.signal, undefined).abort();
    },
  },
  {
    group: "signals",
    name: "createDeadlineSignal(undefined) + cleanup()",
    fn: () => createDeadlineSignal(undefined).cleanup(),
  },
  {
    group: "signals",
    name: "AbortSignal.any([a, b])",
    fn: () => keep(AbortSignal.any([new AbortController().signal, new AbortController().signal])),
  },
  {
    group: "context",
    name: "createHandlerContext(init) alone",
    fn: () => keep(handlerContext(new AbortController().signal)),
  },
  {
    group: "context",
    name: "createHandlerContext(init) + context.abort() (no reason, as every unary handler's `finally` does)",
    fn: () => handlerContext(new AbortController().signal).abort(),
  },
  {
    group: "context",
    name: "createHandlerContext(init) + context.abort(sharedReason)",
    fn: () => handlerContext(new AbortController().signal).abort(requestClosed),
  },
  { group: "headers", name: "nodeHeaderToWebHeader(Connect JSON request headers) (3 headers)", fn: () => keep(nodeHeaderToWebHeader(connectNodeHeaders)) },
  { group: "headers", name: "nodeHeaderToWebHeader(gRPC request headers) (4 + 4 pseudo)", fn: () => keep(nodeHeaderToWebHeader(grpcNodeHeaders)) },
  { group: "headers", name: "new Headers(headers) (a copy, 3 headers)", fn: () => keep(new Headers(connectHeadersWeb)) },
  { group: "headers", name: "headers.get(name) × 4 (what the handler reads)", fn: () => keep(readFour(connectHeadersWeb)) },
  { group: "url", name: 'new URL(path, base).toString() (connect-node, every call)', fn: () => keep(new URL("/modelgate.v1.ChatService/Chat", "http://127.0.0.1:8080").toString()) },
  { group: "url", name: "new URL(url).searchParams (Connect unary handler, every call)", fn: () => keep(new URL("http://127.0.0.1:8080/modelgate.v1.ChatService/Chat").searchParams) },
  { group: "async iterables", name: "createAsyncIterable([bytes]) drained with for await", async: true, fn: () => drain(createAsyncIterable([jsonBody])) },
  { group: "floor", name: "floor, Connect JSON: fromJson + impl + toJson (JSON.parse/stringify)", fn: () => keep(floorJson()) },
  { group: "floor", name: "floor, gRPC: fromBinary + impl + toBinary", fn: () => keep(floorBinary()) },
  { group: "whole call", name: "whole unary call, Connect JSON (universal handler)", async: true, fn: () => wholeCall(connectNodeHeaders, jsonBody, "1.1") },
  { group: "whole call", name: "whole unary call, gRPC (universal handler)", async: true, fn: () => wholeCall(grpcNodeHeaders, grpcBody, "2.0") },
  {
    group: "whole call",
    name: "whole unary call, Connect JSON, request as our adapter could build it (URL kept, close-abort with a shared reason)",
    async: true,
    fn: () => wholeCall(connectNodeHeaders, jsonBody, "1.1", true),
  },
  {
    group: "whole call",
    name: "whole unary call, gRPC, request as our adapter could build it",
    async: true,
    fn: () => wholeCall(grpcNodeHeaders, grpcBody, "2.0", true),
  },
];
const connectHeadersWeb = nodeHeaderToWebHeader(connectNodeHeaders);
function readFour(h: Headers): number {
  return (h.get("content-type")?.length ?? 0) + (h.get("connect-timeout-ms")?.length ?? 0) + (h.get("content-encoding")?.length ?? 0) + (h.get("accept-encoding")?.length ?? 0);
}
const decoder = new TextDecoder();
const encoder = new TextEncoder();
function floorJson(): Uint8Array {
  const req = fromJson(ChatRequestSchema, JSON.parse(decoder.decode(jsonBody)));
  if (req.endpoint !== "chat") throw new Error("floor");
  return encoder.encode(JSON.stringify(toJson(ChatResponseSchema, create(ChatResponseSchema, answer))));
}
function floorBinary(): Uint8Array {
  const req = fromBinary(ChatRequestSchema, grpcBody.subarray(5));
  if (req.endpoint !== "chat") throw new Error("floor");
  return toBinary(ChatResponseSchema, create(ChatResponseSchema, answer));
}

// ---------------------------------------------------------------------------------------------
// Timing

/**
 * CPU nanoseconds per operation (this process's user + system time, process.cpuUsage()): on a
 * shared machine, time spent waiting for a CPU does not count, unlike wall time.
 */
async function nsPerOp(c: Case, ms: number): Promise<number> {
  let n = 0;
  const cpu0 = process.cpuUsage();
  const until = performance.now() + ms;
  if (c.async) {
    while (performance.now() < until) {
      for (let i = 0; i < 64; i++) await c.fn();
      n += 64;
    }
  } else {
    while (performance.now() < until) {
      for (let i = 0; i < 256; i++) c.fn();
      n += 256;
    }
  }
  const cpu = process.cpuUsage(cpu0);
  return ((cpu.user + cpu.system) * 1e3) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

async function main(): Promise<void> {
  const results: { group: string; name: string; ns: number; min: number; max: number }[] = [];
  for (const c of cases) {
    await nsPerOp(c, MS); // warm-up: JIT
    const runs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) runs.push(await nsPerOp(c, MS));
    const ns = median(runs);
    results.push({ group: c.group, name: c.name, ns, min: Math.min(...runs), max: Math.max(...runs) });
    process.stderr.write(`[connect-percall] ${c.name}: ${ns.toFixed(0)} ns\n`);
  }
  const out = [
    `### connect-es per-call pieces (${new Date().toISOString()}, Node ${process.version}, median of ${ROUNDS} × ${MS} ms per case)`,
    "",
    "| group | operation | CPU ns/op (median) | min–max ns |",
    "| --- | --- | ---: | ---: |",
    ...results.map((r) => `| ${r.group} | ${r.name} | ${r.ns.toFixed(0)} | ${r.min.toFixed(0)}–${r.max.toFixed(0)} |`),
  ];
  const get = (name: string) => results.find((r) => r.name.startsWith(name))?.ns ?? Number.NaN;
  const connectOwn = get("whole unary call, Connect JSON") - get("floor, Connect JSON");
  const grpcOwn = get("whole unary call, gRPC") - get("floor, gRPC");
  out.push(
    "",
    `connect-es's own cost per unary call (whole call − floor): Connect JSON **${(connectOwn / 1000).toFixed(1)} µs**, gRPC **${(grpcOwn / 1000).toFixed(1)} µs**.`,
  );
  process.stdout.write(out.join("\n") + "\n");
  if (opt.json !== undefined) writeFileSync(opt.json, JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2) + "\n");
  if (sink.length > 1) process.stderr.write("\n"); // keeps `sink` observable to the optimiser
}

main().catch((err: unknown) => {
  process.stderr.write(`connect-percall: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
