// Differential fuzzing of the gateway's HTTP adapter against connect-node's. The gateway answers
// unary calls and gRPC server streams without connect-es's universal handler
// (src/server/node-adapter.ts, unary-fast-path.ts, stream-fast-path.ts) and promises that the wire
// sees what connect-es would have answered. Here one set of routes is served twice, on two
// one-port servers: through createNodeHandler (the gateway's adapter, its HTTP/2 stream listener
// on) and through connect-node's own connectNodeAdapter. Each request, built at random from what
// the protocols let a client vary (Connect unary and streaming, gRPC, gRPC-Web, GET; HTTP/1.1 and
// HTTP/2; content types and their parameters, protocol version, timeouts, compression headers and
// compressed or mislabelled bodies, envelopes with odd flags and lengths, undecodable and oversize
// messages, unknown paths and methods, calls that run into their deadline), goes to both, and the
// answers must be the same: status, content type, compression headers, the implementation's
// headers and trailers, the gRPC status and message, the Connect error, and the messages
// themselves (decompressed).
//
// What the gateway changes on purpose is applied to connect-node's answer before comparing (see
// `normalize`): an undecodable message is INVALID_ARGUMENT (connect-es says INTERNAL "parse
// binary"), and grpc-message is percent-encoded as the gRPC spec says (compared decoded).
//
// A longer run: FUZZ_RUNS=2000 FUZZ_SEED=$RANDOM npx vitest run test/fuzz/protocol-diff.spec.ts
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { brotliCompressSync, brotliDecompressSync, deflateSync, gunzipSync, gzipSync, inflateSync } from "node:zlib";
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatService, StreamChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import { createNodeHandler } from "../../src/server/node-adapter";
import { isFarTimeout } from "../../src/server/handler-context";
import { acceptedCompressions } from "../../src/server/compression";
import { isGrpcWebText } from "../../src/server/grpc-web-text";
import { createOnePortServer, type NodeRequest, type NodeResponse, type OnePortServer } from "../../src/server/one-port";
import { base64Decode, base64Pieces, envelope } from "../support/envelopes";
import { h2Request } from "../support/h2-request";
import { fuzzRuns, fuzzSeed as seed, hashText, nastyStrings, Rng } from "./values";

/** The read limit of both adapters: some requests are over it. */
const readMaxBytes = 4096;
/** Requests per HTTP version and protocol family (FUZZ_RUNS is 40 by default: 30 × 40 × 2 × 5). */
const runs = fuzzRuns * 30;

/**
 * The implementation both servers run. What it does is chosen by the request: the endpoint field
 * says answer, fail with a code, throw a plain error, or fail after some stream messages; each
 * message's content comes back; headers and trailers are set on every call.
 */
function routes(router: ConnectRouter): void {
  const failIn: Interceptor = (next) => async (req) => {
    if (req.header.get("x-fail") === "interceptor") throw new ConnectError("refused in the interceptor: 100% ünïcode: ok", Code.PermissionDenied);
    return next(req);
  };
  const failure = (endpoint: string): Error | undefined => {
    const m = /^err:(\d+)/.exec(endpoint);
    if (m) return new ConnectError(`refused ${m[1]}: 100% ünïcode, "quotes" and a: colon`, Number(m[1]) as Code);
    if (endpoint.startsWith("throw")) return new Error("a plain error that must not leak");
    return undefined;
  };
  router.service(
    ChatService,
    {
      async chat(req, ctx) {
        ctx.responseHeader.set("x-impl", `chat ${req.messages.length}`);
        ctx.responseTrailer.set("x-impl-trailer", "done");
        if (req.endpoint === "wait") await untilAborted(ctx.signal);
        const err = failure(req.endpoint);
        if (err) throw err;
        return {
          id: req.endpoint,
          model: "differential",
          created: 7n,
          choices: req.messages.map((m, index) => ({ index, message: { role: "assistant", content: m.content }, finishReason: "stop" })),
        };
      },
      async *streamChat(req, ctx) {
        ctx.responseHeader.set("x-impl", `stream ${req.messages.length}`);
        for (const [index, m] of req.messages.entries()) yield { id: req.endpoint, model: "differential", choices: [{ index, delta: { content: m.content } }] };
        if (req.endpoint === "wait") await untilAborted(ctx.signal);
        ctx.responseTrailer.set("x-impl-trailer", "done");
        const err = failure(req.endpoint);
        if (err) throw err;
      },
    },
    { interceptors: [failIn] },
  );
}

/**
 * Waits for the call's signal ("wait" requests carry a deadline of a few tens of milliseconds) and
 * throws its reason; after 5 s without one, a distinctive error (a deadline one server missed).
 */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const timer = setTimeout(() => reject(new ConnectError("no deadline came", Code.Aborted)), 5_000);
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
  });
}

function notFound(_req: NodeRequest, res: NodeResponse): void {
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found");
}

interface Served {
  server: OnePortServer;
  port: number;
  /** The HTTP/2 session cases go out on; a new one when it is closed. */
  session?: http2.ClientHttp2Session;
  sessions: http2.ClientHttp2Session[];
}

async function serve(server: OnePortServer): Promise<Served> {
  await new Promise<void>((resolve) => server.tcp.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.tcp.address() as AddressInfo).port, sessions: [] };
}

let ours: Served;
let theirs: Served;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

beforeAll(async () => {
  const handler = createNodeHandler({ routes, readMaxBytes, fallback: notFound });
  // As the gateway wires it (gateway.ts): a call with an Origin comes through Node's compat
  // objects (its CORS headers), every other HTTP/2 stream goes to the handler's stream listener.
  ours = await serve(createOnePortServer(handler, { streamListener: (s, headers) => headers.origin === undefined && handler.stream(s, headers, () => ({})) }));
  const adapter = connectNodeAdapter({ routes, readMaxBytes, acceptCompression: acceptedCompressions, fallback: notFound });
  // connect-es arms its deadline timer with setTimeout, which runs a delay past 2^31-1 ms after
  // 1 ms; the gateway treats such a deadline as none (handler-context.ts, far-deadlines.spec.ts).
  // The reference is given the same reading, so a far deadline compares as what it means.
  const reference: typeof adapter = (req, res) => {
    for (const name of ["grpc-timeout", "connect-timeout-ms"] as const) {
      const value = req.headers[name];
      if (typeof value === "string" && isFarTimeout(name, value)) delete req.headers[name];
    }
    adapter(req, res);
  };
  theirs = await serve(createOnePortServer(reference));
  console.info(`protocol differential: seed ${seed}, ${runs} requests per protocol and HTTP version`);
});

afterAll(async () => {
  agent.destroy();
  for (const s of [ours, theirs]) {
    // Every session this test opened (a case may have left an earlier one closing), then the
    // server's own side of whatever is left: a teardown, not a graceful stop to wait out.
    for (const session of s.sessions) session.destroy();
    const closed = s.server.stopAccepting();
    s.server.destroyAll();
    await closed;
  }
});

// ---------------------------------------------------------------------------------------------
// Requests

interface Case {
  h2: boolean;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** HTTP/1.1: the body in two writes (chunked) instead of one with a Content-Length. */
  chunked: boolean;
}

type Family = "connect" | "connect-stream" | "grpc" | "grpc-web" | "get";
const families: Family[] = ["connect", "connect-stream", "grpc", "grpc-web", "get"];

const paths = ["/modelgate.v1.ChatService/Chat", "/modelgate.v1.ChatService/StreamChat"];
const oddPaths = ["/modelgate.v1.ChatService/Nope", "/modelgate.v1.ChatService/Chat?x=1", "/modelgate.v1.ChatService/chat", "/modelgate.v1.ChatService/StreamChat/"];

const contentTypes: Record<Family, string[]> = {
  connect: ["application/proto", "application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8", "application/JSON", "application/json; charset=latin1", "application/protox", "text/plain", "application/connect+proto"],
  "connect-stream": ["application/connect+proto", "application/connect+json", "application/connect+json; charset=utf-8", "application/connect+protox", "application/proto"],
  grpc: ["application/grpc", "application/grpc+proto", "application/grpc+json", "application/grpc; charset=utf-8", "application/grpc+json; charset=utf-8", "application/grpc+xml", "application/grpc+"],
  "grpc-web": ["application/grpc-web", "application/grpc-web+proto", "application/grpc-web+json", "application/grpc-web-text", "application/grpc-web+json; charset=utf-8"],
  get: [""],
};

/** Header values to vary, by protocol family (absent most of the time). */
const headerChoices: Record<Family, Record<string, string[]>> = {
  connect: {
    "connect-protocol-version": ["1", "2", "", "one"],
    "connect-timeout-ms": ["30000", "abc", "-5", "1e4", "99999999999", "", "10000000000", "0030000"],
    "content-encoding": ["gzip", "br", "identity", "bogus", "GZIP", "gzip, br", "deflate"],
    "accept-encoding": ["gzip", "br", "gzip, br", "bogus", "identity", "*", "deflate"],
  },
  "connect-stream": {
    "connect-protocol-version": ["1", "2", ""],
    "connect-timeout-ms": ["30000", "abc", "-5", "99999999999", ""],
    "connect-content-encoding": ["gzip", "br", "identity", "bogus", "deflate"],
    "connect-accept-encoding": ["gzip", "br", "gzip, br", "bogus", "deflate"],
  },
  grpc: {
    "grpc-timeout": ["30S", "30000m", "1x", "100000000S", "-1S", "99999999S", "5", "", "1H", "30000000u"],
    "grpc-encoding": ["gzip", "br", "identity", "bogus", "deflate"],
    "grpc-accept-encoding": ["gzip", "br", "gzip,br", "bogus", "identity", "deflate", "identity,deflate,gzip"],
    te: ["trailers", "gzip"],
    origin: ["https://console.example"],
  },
  "grpc-web": {
    "grpc-timeout": ["30S", "1x", "-1S", ""],
    "grpc-encoding": ["gzip", "identity", "bogus", "deflate"],
    "grpc-accept-encoding": ["gzip", "bogus", "deflate"],
    "x-grpc-web": ["1"],
  },
  get: {
    "connect-protocol-version": ["1", "2"],
    "accept-encoding": ["gzip", "bogus"],
  },
};

function randomRequest(rng: Rng, streaming: boolean, json: boolean, wait = false): Buffer {
  const endpoint = wait ? "wait" : rng.pick(["ok", "ok", "ok", "err:3", "err:5", "err:7", "err:8", "err:13", "err:14", "err:16", "throw", `err:${rng.int(17)}`]);
  const messages = Array.from({ length: rng.int(4) }, () => ({
    role: "user",
    content: rng.chance(0.2) ? rng.pick(nastyStrings) : rng.chance(0.1) ? "w".repeat(3000 + rng.int(3000)) : rng.pick(["hello", "sea", "ünï", "🤖", ""]),
  }));
  const schema = streaming ? StreamChatRequestSchema : ChatRequestSchema;
  const message = create(schema, { endpoint, messages });
  if (!json) return Buffer.from(toBinary(schema, message));
  let text = toJsonString(schema, message);
  switch (rng.int(12)) {
    case 0:
      text = text.slice(0, rng.int(text.length));
      break;
    case 1:
      text = `{"endpoint":"ok","nope":1}`;
      break;
    case 2:
      text = `{"endpoint":5,"messages":"x"}`;
      break;
    case 3:
      text = rng.pick(["", "null", "[]", "\u0000", '{"endpoint":"ok"}{}', '{"endpoint":"\\ud800"}']);
      break;
  }
  return Buffer.from(text);
}

function mutateBinary(rng: Rng, bytes: Buffer): Buffer {
  switch (rng.int(10)) {
    case 0:
      return bytes.subarray(0, rng.int(bytes.length + 1));
    case 1:
      return Buffer.concat([bytes, Buffer.from([0xff, 0xff, 0xff])]);
    case 2:
      return Buffer.from(Array.from({ length: rng.int(40) }, () => rng.int(256)));
    default:
      return bytes;
  }
}

function compress(encoding: string | undefined, data: Buffer): Buffer {
  if (encoding === "gzip") return gzipSync(data);
  if (encoding === "br") return brotliCompressSync(data);
  if (encoding === "deflate") return deflateSync(data);
  return data;
}

/** One or more envelopes around `data`, now and then with an odd flag, length or tail. */
function enveloped(rng: Rng, data: Buffer, encoding: string | undefined): Buffer {
  let flags = 0;
  let payload = data;
  if (rng.chance(0.15)) {
    flags = 1;
    payload = rng.chance(0.7) ? compress(encoding ?? "gzip", data) : data;
  } else if (rng.chance(0.1)) flags = rng.pick([2, 0x80, 0xff, 4]);
  let out = envelope(flags, payload);
  switch (rng.int(14)) {
    case 0:
      out.writeUInt32BE(payload.length + 1 + rng.int(10), 1);
      break;
    case 1:
      if (payload.length > 0) out.writeUInt32BE(payload.length - 1, 1);
      break;
    case 2:
      out.writeUInt32BE(0xffffffff, 1);
      break;
    case 3:
      out = Buffer.concat([out, envelope(0, data)]);
      break;
    case 4:
      out = out.subarray(0, rng.int(out.length));
      break;
    case 5:
      out = Buffer.alloc(0);
      break;
  }
  return out;
}

function randomCase(rng: Rng, family: Family, h2: boolean): Case {
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(headerChoices[family])) if (rng.chance(0.25)) headers[name] = rng.pick(values);
  if (rng.chance(0.05)) headers["x-fail"] = "interceptor";
  let path = rng.chance(0.06) ? rng.pick(oddPaths) : rng.pick(paths);
  const method = rng.chance(0.04) ? rng.pick(["PUT", "GET", "DELETE"]) : family === "get" ? "GET" : "POST";
  const contentType = rng.pick(contentTypes[family]);
  if (contentType !== "") headers["content-type"] = contentType;
  if (family === "grpc" && h2 && headers.te === undefined && rng.chance(0.8)) headers.te = "trailers";
  // Now and then a call that waits for its deadline, a short one (any other call's deadline, when
  // valid, is long enough never to pass: the outcome must not depend on timing).
  const wait = family !== "get" && rng.chance(0.04);
  if (wait) {
    if (family === "grpc" || family === "grpc-web") headers["grpc-timeout"] = `${20 + rng.int(60)}m`;
    else headers["connect-timeout-ms"] = String(20 + rng.int(60));
  }
  const json = contentType.includes("json");
  const streaming = path.includes("StreamChat");
  let body: Buffer;
  if (family === "get") {
    const encoding = rng.pick(["json", "proto", "xml"]);
    const message = randomRequest(rng, streaming, encoding === "json");
    const base64 = encoding !== "json" || rng.chance(0.3);
    const params = new URLSearchParams({ connect: rng.pick(["v1", "v1", "v2"]), encoding, message: base64 ? message.toString("base64url") : message.toString() });
    if (base64) params.set("base64", "1");
    if (rng.chance(0.1)) params.set("compression", rng.pick(["gzip", "bogus"]));
    if (rng.chance(0.1)) params.delete(rng.pick(["connect", "encoding", "message"]));
    path += (path.includes("?") ? "&" : "?") + params.toString();
    body = Buffer.alloc(0);
  } else {
    const message = json ? randomRequest(rng, streaming, true, wait) : mutateBinary(rng, randomRequest(rng, streaming, false, wait));
    if (family === "connect") {
      const encoding = headers["content-encoding"];
      body = rng.chance(0.8) ? compress(encoding, message) : message;
    } else {
      const encoding = family === "connect-stream" ? headers["connect-content-encoding"] : headers["grpc-encoding"];
      body = enveloped(rng, message, encoding);
    }
  }
  return { h2, method, path, headers, body, chunked: !h2 && rng.chance(0.2) };
}

// ---------------------------------------------------------------------------------------------
// Answers

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  trailers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function send(to: Served, c: Case): Promise<Answer> {
  return c.h2 ? sendH2(to, c) : sendH1(to, c);
}

function sendH1(to: Served, c: Case): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: to.port, method: c.method, path: c.path, headers: c.headers, agent, timeout: 30_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => parts.push(b));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, trailers: res.trailers, body: Buffer.concat(parts) }));
    });
    req.on("timeout", () => req.destroy(new Error("no answer in 30 s")));
    req.on("error", reject);
    if (c.chunked && c.body.length > 1) {
      req.write(c.body.subarray(0, c.body.length >> 1));
      req.end(c.body.subarray(c.body.length >> 1));
    } else req.end(c.body);
  });
}

async function sendH2(to: Served, c: Case): Promise<Answer> {
  if (to.session === undefined || to.session.closed || to.session.destroyed) {
    to.session = http2.connect(`http://127.0.0.1:${to.port}`);
    to.session.on("error", () => {});
    to.sessions.push(to.session);
  }
  const a = await h2Request(to.session, { ":method": c.method, ":path": c.path, ...c.headers }, c.body, 30_000);
  return { status: Number(a.headers[":status"] ?? 0), ...a };
}

/** The response headers a client acts on (framing headers, date and connection headers aside). */
const comparedHeaders = [
  "content-type",
  "content-encoding",
  "accept-encoding",
  "connect-content-encoding",
  "connect-accept-encoding",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-status",
  "grpc-message",
  "x-impl",
  "x-impl-trailer",
];

function decodeMessage(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(",") : value;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function decompress(encoding: string | undefined, data: Buffer): Buffer | string {
  try {
    if (encoding === "gzip") return gunzipSync(data);
    if (encoding === "br") return brotliDecompressSync(data);
    if (encoding === "deflate") return inflateSync(data);
  } catch (err) {
    return `undecompressable (${String(err)})`;
  }
  return data;
}

/** What a client reads out of an answer, as comparable text, with the gateway's corrections applied. */
function normalize(a: Answer): Record<string, unknown> {
  const pick = (from: Record<string, string | string[] | undefined>) => {
    const out: Record<string, unknown> = {};
    for (const name of comparedHeaders) {
      const v = from[name];
      if (v !== undefined) out[name] = name === "grpc-message" ? decodeMessage(v) : v;
    }
    return out;
  };
  const headers = pick(a.headers);
  const trailers = pick(a.trailers);
  const contentType = String(a.headers["content-type"] ?? "");
  let body: unknown;
  if (contentType.startsWith("application/grpc") || contentType.startsWith("application/connect+")) {
    const encoding = String(a.headers["grpc-encoding"] ?? a.headers["connect-content-encoding"] ?? "");
    const frames: unknown[] = [];
    for (let i = 0; i < a.body.length; ) {
      if (i + 5 > a.body.length) {
        frames.push({ partial: a.body.subarray(i).toString("hex") });
        break;
      }
      const flags = a.body[i]!;
      const len = a.body.readUInt32BE(i + 1);
      let data: Buffer | string = a.body.subarray(i + 5, i + 5 + len);
      if (flags & 1) data = decompress(encoding, data);
      if (typeof data === "string") frames.push({ flags, data });
      else if (flags & 0x80) frames.push({ flags, trailers: webTrailers(data.toString("utf8")) });
      else if (flags & 2) frames.push({ flags, end: fixedConnectError(data.toString("utf8")) });
      else frames.push({ flags, data: data.toString("hex") });
      i += 5 + len;
    }
    body = frames;
  } else {
    const data = decompress(String(a.headers["content-encoding"] ?? ""), a.body);
    body = typeof data === "string" ? data : contentType.startsWith("application/json") && a.status !== 200 ? fixedConnectError(data.toString("utf8")) : data.toString("hex");
  }
  // A Connect unary parse error is a 400 here, a 500 from connect-es.
  const status = typeof body === "object" && body !== null && (body as { code?: unknown }).code === "invalid_argument" && a.status === 500 ? 400 : a.status;
  fixGrpcStatus(headers);
  fixGrpcStatus(trailers);
  return { status, headers, trailers, body };
}

function fixGrpcStatus(h: Record<string, unknown>): void {
  if (h["grpc-status"] === String(Code.Internal) && typeof h["grpc-message"] === "string" && h["grpc-message"].startsWith("parse binary:")) {
    h["grpc-status"] = String(Code.InvalidArgument);
  }
}

function webTrailers(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  if (typeof out["grpc-message"] === "string") out["grpc-message"] = decodeMessage(out["grpc-message"]);
  fixGrpcStatus(out);
  return out;
}

/** A Connect error (unary body or end-of-stream message), INTERNAL "parse binary" as INVALID_ARGUMENT. */
function fixedConnectError(text: string): unknown {
  let json: { code?: unknown; message?: unknown; error?: { code?: unknown; message?: unknown } };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    return text;
  }
  for (const e of [json, json.error]) {
    if (e && e.code === "internal" && typeof e.message === "string" && e.message.startsWith("parse binary:")) e.code = "invalid_argument";
  }
  return json;
}

// ---------------------------------------------------------------------------------------------

/**
 * gRPC-Web's text mode, which connect-node does not speak: the gateway gets the case's body in
 * base64 and connect-node the binary mode's request, and the gateway's answer is decoded back
 * (fromTextMode), so text mode must answer exactly as connect-node's binary mode does.
 */
function textModePair(c: Case): [Case, Case] {
  const contentType = c.headers["content-type"];
  if (!isGrpcWebText(contentType)) return [c, c];
  const binaryType = contentType!.replace(/grpc-web-text/i, "grpc-web");
  return [{ ...c, body: Buffer.from(c.body.toString("base64"), "latin1") }, { ...c, headers: { ...c.headers, "content-type": binaryType } }];
}

function fromTextMode(a: Answer): Answer {
  const contentType = String(a.headers["content-type"] ?? "");
  if (!contentType.startsWith("application/grpc-web-text")) return a;
  const body = base64Decode(base64Pieces(a.body.toString("latin1")));
  return { ...a, headers: { ...a.headers, "content-type": contentType.replace("grpc-web-text", "grpc-web") }, body };
}

function describeCase(c: Case): string {
  const body = c.body.length > 120 ? `${c.body.subarray(0, 120).toString("hex")}… (${c.body.length} bytes)` : c.body.toString("hex");
  return `${c.h2 ? "h2" : "h1"}${c.chunked ? " chunked" : ""} ${c.method} ${c.path.slice(0, 200)} ${JSON.stringify(c.headers)} body ${body}`;
}

describe(`the gateway's adapter answers as connect-node's (seed ${seed})`, () => {
  for (const family of families) {
    for (const h2 of [false, true]) {
      it(`${family} over ${h2 ? "HTTP/2" : "HTTP/1.1"}`, { timeout: 600_000 }, async () => {
        const rng = new Rng(seed ^ hashText(`${family} ${h2}`));
        const differences: string[] = [];
        let answered = 0;
        for (let i = 0; i < runs && differences.length < 5; i++) {
          const c = randomCase(rng, family, h2);
          const [forOurs, forTheirs] = textModePair(c);
          const [mine, reference] = await Promise.allSettled([send(ours, forOurs).then(fromTextMode), send(theirs, forTheirs)]);
          if (mine.status === "rejected" || reference.status === "rejected") {
            const why = (r: PromiseSettledResult<Answer>) => (r.status === "rejected" ? `failed: ${String(r.reason)}` : `answered ${r.value.status}`);
            if (mine.status !== reference.status) differences.push(`${describeCase(c)}\n  ours: ${why(mine)}\n  connect-node: ${why(reference)}`);
            continue;
          }
          answered++;
          const a = normalize(mine.value);
          const b = normalize(reference.value);
          if (JSON.stringify(a) !== JSON.stringify(b)) {
            differences.push(`${describeCase(c)}\n  ours:         ${JSON.stringify(a).slice(0, 1500)}\n  connect-node: ${JSON.stringify(b).slice(0, 1500)}`);
          }
        }
        expect(differences).toEqual([]);
        // Most requests get an answer to compare (not a reset or a closed connection on both).
        expect(answered).toBeGreaterThan(runs / 2);
      });
    }
  }
});
