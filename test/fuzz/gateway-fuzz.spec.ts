// Schema-driven fuzzing of every surface, with a fixed seed and a bounded count:
//  - every RPC of every service the gateway serves, with random messages built from the request
//    type's descriptor (every field covered: each run forces one field), over gRPC and Connect JSON
//    (connect-node) and gRPC through @grpc/grpc-js, which decodes answers with protobuf.js from our
//    .proto files (a polyglot client's decoder: an answer it cannot decode is INTERNAL to it);
//  - every RPC with undecodable bytes (Connect binary and gRPC frames);
//  - every REST route (listed from the surfaces themselves), with bodies mutated field by field from
//    the zod schemas, malformed path parameters, wrong content types and broken JSON.
// Whatever comes in, the answer is a precise client-side code (never INTERNAL/UNKNOWN or a 500),
// nothing is logged as an unexpected error, and the gateway keeps serving.
//
// A longer run: FUZZ_RUNS=2000 FUZZ_SEED=$RANDOM npx vitest run test/fuzz  (the seed is printed).
import * as http2 from "node:http2";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, deflateSync, gzipSync, zstdCompressSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { toBinary, type DescField, type DescMessage, type DescMethod, type DescService, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../gen/health/v1/health_pb";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb";
import { apiFiles } from "../../src/server/gateway";
import { chatCompletionBody } from "../../src/surfaces/openai/chat";
import { completionBody } from "../../src/surfaces/openai/completions";
import { embeddingBody } from "../../src/surfaces/openai/embeddings";
import { StoredResponses, type StoredResponsesOptions } from "../../src/surfaces/openai/stored-responses";
import { Conversations, type ConversationsOptions } from "../../src/surfaces/openai/conversations";
import { openaiSurface } from "../../src/surfaces/openai/index";
import { responsesBody } from "../../src/surfaces/openai/responses";
import { mlflowSurface } from "../../src/surfaces/mlflow/index";
import type { ServiceClients } from "../../src/surfaces/services";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "../integration/harness";
import { brokenCodes, fuzzRuns as runs, fuzzSeed as seed, hashText, nastyStrings, randomBytes, randomJson, randomMessage, randomString, Rng, type Hints } from "./values";

const adminKey = "mg-fuzz-admin-key-000000000001";

let fake: FakeUpstream;
let gw: TestGateway;

const endpointsByKind = {
  chat: ["chat", "gpt", "claude"],
  completions: ["completions", "gpt-text"],
  embeddings: ["embeddings", "gpt-embed"],
  predict: ["churn"],
};
const allEndpoints = Object.values(endpointsByKind).flat();

beforeAll(async () => {
  fake = await startFakeUpstream();
  const openai = `{ openai_api_key: sk-fuzz-openai-0000000000000, openai_api_base: "${fake.url}/v1" }`;
  const anthropic = `{ anthropic_api_key: sk-fuzz-anthropic-000000000, anthropic_api_base: "${fake.url}/v1" }`;
  gw = await startGateway(`
server: { max_body_bytes: 1048576 }
auth:
  enabled: true
  keys:
    - { name: fuzz-admin, key: ${adminKey}, roles: [admin, user], team: fuzzers, limits: { tpm: 1000000000, budget_usd: 1000000 } }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 }, limit: { renewal_period: minute, calls: 1000000, tokens: 1000000000 } }
  - { name: completions, endpoint_type: llm/v1/completions, model: { provider: echo, name: echo-1 } }
  - { name: embeddings, endpoint_type: llm/v1/embeddings, model: { provider: echo, name: echo-embed-1 } }
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: ${openai} } }
  - { name: gpt-text, endpoint_type: llm/v1/completions, model: { provider: openai, name: gpt-3.5-turbo-instruct, config: ${openai} } }
  - { name: gpt-embed, endpoint_type: llm/v1/embeddings, model: { provider: openai, name: text-embedding-3-small, config: ${openai} } }
  - { name: claude, endpoint_type: llm/v1/chat, model: { provider: anthropic, name: claude-sonnet-4-5, config: ${anthropic} } }
  - { name: churn, endpoint_type: predict, model: { provider: mlflow-model-serving, name: churn, config: { model_server_url: "${fake.url}" } } }
`);
  console.info(`fuzz: seed ${seed}, ${runs} runs per method and route (FUZZ_SEED / FUZZ_RUNS to change)`);
});

afterAll(async () => {
  // The gateway survived everything: health still answers, and nothing was an unexpected error.
  const health = await fetch(`${gw.url}/health`);
  expect(health.status).toBe(200);
  const unexpected = gw.logs.filter((l) => l["msg"] === "unexpected error" || l["msg"] === "request handler failed");
  expect(unexpected.map((l) => JSON.stringify(l).slice(0, 500))).toEqual([]);
  await gw.close();
  await fake.close();
});

const auth = { authorization: `Bearer ${adminKey}` };

/** Steers string fields to values that get past the first checks now and then, so calls go deep. */
function hintsFor(method: DescMethod): Hints {
  const service = method.parent.typeName;
  const endpoints = service.includes("Chat")
    ? endpointsByKind.chat
    : service.includes("Completions")
      ? endpointsByKind.completions
      : service.includes("Embeddings")
        ? endpointsByKind.embeddings
        : service.includes("Predict")
          ? endpointsByKind.predict
          : allEndpoints;
  return {
    string(field: DescField, rng: Rng) {
      if (rng.chance(0.3)) return undefined;
      switch (field.name) {
        case "endpoint":
          return rng.chance(0.85) ? rng.pick(endpoints) : rng.pick(allEndpoints);
        case "role":
          return rng.pick(["system", "user", "assistant", "tool"]);
        case "group_by":
          return rng.pick(["key", "team", "endpoint", "model"]);
        case "budget_period":
          return rng.pick(["day", "month"]);
        case "content":
        case "prompt":
        case "text":
          // Never the fake upstream's control words (#hang would only wait for the upstream timeout).
          return rng.pick(["hello", "how are you", "tell me a story", "x"]);
        default:
          return undefined;
      }
    },
  };
}

interface Failure {
  what: string;
  code: string;
  message: string;
  input: string;
}

function describeInput(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? `bytes(${v.length})` : v)).slice(0, 400);
  } catch {
    return String(value).slice(0, 400);
  }
}

/** Server streams that run until the client leaves. */
const endless = new Set(["Watch", "WatchStats"]);

async function callOnce(transport: Transport, service: DescService, method: DescMethod, message: unknown): Promise<ConnectError | undefined> {
  const client = createClient(service, transport) as unknown as Record<string, (m: unknown, o: object) => unknown>;
  // Health/Watch and StatsService/WatchStats never end by themselves: their first answer is
  // enough, and the call is then cancelled through its signal. (Only breaking out of the loop
  // leaves connect-node 2.2's HTTP/2 stream open until its deadline: after 256 such calls on one
  // connection, the gateway's SETTINGS_MAX_CONCURRENT_STREAMS, the next call waits for a slot.)
  const stop = new AbortController();
  const options = { headers: auth, timeoutMs: 30_000, signal: stop.signal };
  try {
    if (method.methodKind === "server_streaming") {
      for await (const _ of client[method.localName]!(message, options) as AsyncIterable<unknown>) {
        if (endless.has(method.name)) {
          stop.abort();
          break;
        }
      }
    } else {
      await client[method.localName]!(message, options);
    }
    return undefined;
  } catch (err) {
    return ConnectError.from(err);
  }
}

/** The modelgate.v1 services as grpc-js loads them from the .proto sources (protobuf.js decodes the answers). */
const grpcJsDefinition = protoLoader.loadSync(
  apiFiles.map((f) => f.name + ".proto"),
  { includeDirs: [fileURLToPath(new URL("../../proto", import.meta.url))], keepCase: false, longs: String, enums: String, defaults: true, oneofs: true },
);

/** One call through @grpc/grpc-js with the message's bytes; its status as a ConnectError, undefined for OK. */
function callGrpcJs(client: grpc.Client, method: DescMethod, message: Message): Promise<ConnectError | undefined> {
  const definition = grpcJsDefinition[method.parent.typeName] as protoLoader.ServiceDefinition | undefined;
  const rpc = definition?.[method.name];
  if (!rpc) throw new Error(`grpc-js has no ${method.parent.typeName}/${method.name}`);
  const bytes = Buffer.from(toBinary(method.input, message));
  const asIs = (b: Buffer) => b;
  const metadata = new grpc.Metadata();
  metadata.set("authorization", auth.authorization);
  const options = { deadline: Date.now() + 30_000 };
  const statusOf = (code: number, details: string) => (code === grpc.status.OK ? undefined : new ConnectError(details, code as Code));
  return new Promise((resolve) => {
    if (method.methodKind === "server_streaming") {
      const call = client.makeServerStreamRequest(rpc.path, asIs, rpc.responseDeserialize, bytes, metadata, options);
      let cancelled = false;
      call.on("data", () => {
        if (endless.has(method.name) && !cancelled) {
          cancelled = true;
          call.cancel();
        }
      });
      call.on("error", () => {}); // the status event says it
      call.on("status", (st: grpc.StatusObject) => resolve(cancelled && st.code === grpc.status.CANCELLED ? undefined : statusOf(st.code, st.details)));
    } else {
      client.makeUnaryRequest(rpc.path, asIs, rpc.responseDeserialize, bytes, metadata, options, (err) => resolve(err ? statusOf(err.code, err.details) : undefined));
    }
  });
}

/** Everything the gateway serves: the API, health and reflection (reflection is bidi: bytes only). */
const services: DescService[] = [...apiFiles.flatMap((f) => f.services), Health];
const rawServices: DescService[] = [...services, ServerReflection, ServerReflectionV1alpha];

describe(`every RPC with random messages from its descriptor (seed ${seed})`, () => {
  const methods = services.flatMap((s) => s.methods.map((m) => [`${s.typeName}/${m.name}`, s, m] as const));
  it.each(methods)("%s", async (_name, service, method) => {
    const rng = new Rng(seed ^ hashText(method.parent.typeName + method.name));
    const transports: [string, Transport | "grpc-js"][] = [
      ["grpc", createGrpcTransport({ baseUrl: gw.url })],
      ["connect-json", createConnectTransport({ baseUrl: gw.url, httpVersion: "1.1" })],
    ];
    // grpc-js loads modelgate.v1 only (health has no .proto source here).
    const grpcJs = method.parent.typeName.startsWith("modelgate.v1.") ? new grpc.Client(new URL(gw.url).host, grpc.credentials.createInsecure()) : undefined;
    if (grpcJs) transports.push(["grpc-js", "grpc-js"]);
    const fields = method.input.fields;
    const failures: Failure[] = [];
    let ok = 0;
    for (let i = 0; i < runs; i++) {
      const force = fields.length > 0 ? fields[i % fields.length]!.name : undefined;
      const message = randomMessage(rng, method.input, hintsFor(method), force);
      const [protocol, transport] = transports[i % transports.length]!;
      const err = transport === "grpc-js" ? await callGrpcJs(grpcJs!, method, message) : await callOnce(transport, service, method, message);
      if (!err) ok++;
      else if (brokenCodes.has(err.code) || err.code === Code.DeadlineExceeded) {
        failures.push({ what: protocol, code: Code[err.code], message: err.rawMessage.slice(0, 300), input: describeInput(message) });
      }
    }
    grpcJs?.close();
    expect(failures).toEqual([]);
    expect(ok + failures.length).toBeLessThanOrEqual(runs);
  });
});

describe(`every RPC with undecodable bytes (seed ${seed})`, () => {
  const methods = rawServices.flatMap((s) => s.methods.map((m) => [`${s.typeName}/${m.name}`, m] as const));
  let session: http2.ClientHttp2Session;
  beforeAll(() => {
    session = http2.connect(gw.url);
    session.on("error", () => undefined);
  });
  afterAll(() => session.close());

  it.each(methods)("%s", async (_name, method) => {
    const rng = new Rng(seed ^ hashText(`bytes:${method.parent.typeName}/${method.name}`));
    const path = `/${method.parent.typeName}/${method.name}`;
    const valid = toBinary(method.input, randomMessage(rng, method.input, hintsFor(method)));
    const failures: Failure[] = [];
    for (let i = 0; i < Math.max(4, runs / 4); i++) {
      const bytes = randomBytes(rng, valid);
      // gRPC: a complete frame (5-byte prefix, then the bytes) whose payload does not decode.
      const endlessStream = endless.has(method.name);
      const grpc = await grpcRaw(session, path, frame(bytes), endlessStream);
      if (grpc.status !== "0" && brokenCodes.has(Number(grpc.status))) {
        failures.push({ what: "grpc", code: grpc.status, message: grpc.message, input: Buffer.from(bytes).toString("hex").slice(0, 200) });
      }
      // Connect: unary bodies are bare protobuf; streaming requests are enveloped.
      const streaming = method.methodKind !== "unary";
      const stop = new AbortController();
      const res = await fetch(`${gw.url}${path}`, {
        method: "POST",
        headers: { ...auth, "content-type": streaming ? "application/connect+proto" : "application/proto", "connect-protocol-version": "1" },
        body: streaming ? frame(bytes) : bytes,
        signal: AbortSignal.any([stop.signal, AbortSignal.timeout(30_000)]),
      });
      // Bytes that happen to decode start an endless stream: its first message (an envelope
      // without the end-stream flag) shows the call was taken; it is then cancelled.
      const body = endlessStream ? await untilFirstMessage(res, stop) : Buffer.from(await res.arrayBuffer());
      const text = body.toString("latin1");
      // 505: a bidi stream (reflection) needs HTTP/2, and fetch speaks HTTP/1.1 — a precise refusal.
      const precise = res.status === 505 && method.methodKind === "bidi_streaming";
      if ((res.status >= 500 && !precise) || /"code":"(internal|unknown)"/.test(text)) {
        failures.push({ what: "connect", code: String(res.status), message: text.slice(0, 300), input: Buffer.from(bytes).toString("hex").slice(0, 200) });
      }
    }
    expect(failures).toEqual([]);
  });
});

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

/**
 * A Connect streaming response's body up to its first message: the whole body when that first
 * envelope ends the stream (an error or an empty stream), else what came, and the call is
 * cancelled.
 */
async function untilFirstMessage(res: Response, stop: AbortController): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const reader = res.body!.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return Buffer.concat(chunks);
      chunks.push(Buffer.from(value));
      const got = Buffer.concat(chunks);
      // An envelope: flags (0x02: end of stream), then a 4-byte length.
      if (got.length >= 5 && (got[0]! & 0x02) === 0 && got.length >= 5 + got.readUInt32BE(1)) {
        stop.abort();
        return got;
      }
    }
  } catch (err) {
    if (stop.signal.aborted) return Buffer.concat(chunks);
    throw err;
  }
}

/** A raw gRPC call's status and message; for an endless stream, "" once its first message came (then cancelled). */
function grpcRaw(session: http2.ClientHttp2Session, path: string, body: Uint8Array, endlessStream = false): Promise<{ status: string; message: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...auth });
    let status = "";
    let message = "";
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) message = String(h["grpc-message"]);
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("data", () => {
      if (endlessStream && status === "") {
        resolve({ status, message });
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    stream.on("end", () => resolve({ status, message }));
    stream.on("error", reject);
    stream.setTimeout(30_000, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.end(body);
  });
}

// ------------------------------------------------------------------------------------------------
// REST

/** The REST routes, listed from the surfaces themselves (a new route is fuzzed without a change here). */
const noClients = {} as ServiceClients;
const restRoutes = [...openaiSurface(noClients, 0, { stored: new StoredResponses({} as StoredResponsesOptions), conversations: new Conversations({} as ConversationsOptions) }).routes, ...mlflowSurface(noClients, 0, () => undefined).routes].map((r) => ({
  method: r.method,
  path: r.path,
}));

/** A valid body per POST route; the fuzzer mutates fields of these. */
function baseBody(path: string, rng: Rng): Record<string, unknown> {
  const messages = [{ role: "user", content: "hello" }];
  if (path === "/v1/chat/completions") return { model: rng.pick(endpointsByKind.chat), messages };
  if (path === "/v1/completions") return { model: rng.pick(endpointsByKind.completions), prompt: "hello" };
  if (path === "/v1/responses") return { model: rng.pick(endpointsByKind.chat), input: rng.pick(["hello", [{ role: "user", content: "hello" }]]) };
  if (path === "/v1/embeddings") return { model: rng.pick(endpointsByKind.embeddings), input: ["hello"] };
  // The Conversations API's bodies (create, update, add items).
  if (path === "/v1/conversations") return { metadata: { topic: "t" }, items: [{ role: "user", content: "hello" }] };
  if (path === "/v1/conversations/{conversation_id}") return { metadata: { topic: "t" } };
  if (path === "/v1/conversations/{conversation_id}/items") return { items: [{ role: "user", content: "hello" }] };
  // /endpoints/{name}/invocations: the payload follows the endpoint's type (chosen with the name).
  return rng.pick([{ messages }, { prompt: "hello" }, { input: "hello" }, { dataframe_split: { columns: ["a"], data: [[1]] } }, { inputs: [1, 2] }]);
}

/** The keys each body's schema knows (from zod), plus the invocation payload keys. */
const schemaKeys: Record<string, string[]> = {
  "/v1/chat/completions": Object.keys(chatCompletionBody.shape),
  "/v1/completions": Object.keys(completionBody.shape),
  "/v1/responses": Object.keys(responsesBody.shape),
  "/v1/embeddings": Object.keys(embeddingBody.shape),
  "/v1/conversations": ["metadata", "items"],
  "/v1/conversations/{conversation_id}": ["metadata"],
  "/v1/conversations/{conversation_id}/items": ["items"],
};
const invocationKeys = [
  ...new Set([...Object.keys(chatCompletionBody.shape), ...Object.keys(completionBody.shape), ...Object.keys(embeddingBody.shape)]),
  "text",
  "dataframe_split",
  "dataframe_records",
  "instances",
  "inputs",
  "params",
];
const messageKeys = ["role", "content", "name", "tool_calls", "tool_call_id"];

/** Values at the edges of the types the REST fields map onto (uint32, int64, double, bool, string). */
const edgeValues: unknown[] = [-1, 0, 1, 2 ** 31, 2 ** 32, 2 ** 53 + 2, 1e300, -1e300, 0.5, -0.5, true, false, null, "", "1", [], {}, [null], { "": null }];

function mutateBody(rng: Rng, path: string, body: Record<string, unknown>, forced: string): Record<string, unknown> {
  const keys = schemaKeys[path] ?? invocationKeys;
  const out = { ...body };
  out[forced] = rng.chance(0.5) ? rng.pick(edgeValues) : randomJson(rng);
  for (let i = rng.int(3); i > 0; i--) out[rng.pick(keys)] = randomJson(rng);
  if (rng.chance(0.2)) out[rng.pick(nastyStrings) || "unknown"] = randomJson(rng);
  if (Array.isArray(out["messages"]) && rng.chance(0.5)) {
    const m: Record<string, unknown> = { role: "user", content: "hi" };
    m[rng.pick(messageKeys)] = randomJson(rng);
    out["messages"] = [...(out["messages"] as unknown[]), m];
  }
  return out;
}

/** A path parameter: real names, junk, malformed escapes, encoded NULs, very long names. */
function pathParam(rng: Rng): string {
  switch (rng.int(5)) {
    case 0:
      return rng.pick(allEndpoints);
    case 1:
      return rng.pick(["%", "%E0%A4", "%FF", "%00", "%zz", "a%2Fb", "%C0%AF", "x%"]);
    case 2:
      return encodeOrRaw(randomString(rng)).slice(0, 20_000) || "x";
    case 3:
      return "n".repeat(rng.pick([129, 300, 10_000]));
    default:
      return encodeOrRaw(rng.pick(nastyStrings)) || "%20";
  }
}

/** Percent-encoded; a lone surrogate (which encodeURIComponent refuses) as a raw invalid escape. */
function encodeOrRaw(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return "%ED%A0%80";
  }
}

/** Nested far deeper than JSON.stringify could write (it recurses). */
function deepJsonText(depth: number): string {
  return '{"model":"chat","messages":' + "[".repeat(depth) + "]".repeat(depth) + "}";
}

interface RestCase {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

/** A body sent with a content-encoding: compressed as it says, as another encoding says, or bytes. */
function encodedBody(rng: Rng, json: string): { encoding: string; body: Buffer } {
  const encoders: Record<string, (b: Buffer) => Buffer> = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync, zstd: zstdCompressSync };
  const encoding = rng.pick(["gzip", "deflate", "br", "zstd", "compress", "gzip, gzip", "identity", "GZIP", ""]);
  const plain = Buffer.from(json);
  const body = rng.pick([
    () => (encoders[encoding.toLowerCase()] ?? gzipSync)(plain),
    () => encoders[rng.pick(Object.keys(encoders))]!(plain),
    () => Buffer.from(randomBytes(rng, gzipSync(plain))),
    () => gzipSync(plain).subarray(0, rng.int(20)),
  ])();
  return { encoding, body };
}

/** Sends one REST request; returns what was wrong with the answer, if anything. */
async function checkRest(c: RestCase): Promise<Failure | undefined> {
  const what = `${c.method} ${c.url.slice(0, 200)}`;
  const input = typeof c.body === "string" || c.body === undefined ? (c.body ?? "").slice(0, 300) : `${c.headers["content-encoding"]}: ${c.body.subarray(0, 150).toString("hex")}`;
  let status: number;
  let text: string;
  let contentType: string;
  try {
    const res = await fetch(c.url, { method: c.method, headers: c.headers, body: c.body, signal: AbortSignal.timeout(30_000) });
    status = res.status;
    contentType = res.headers.get("content-type") ?? "";
    text = await res.text();
  } catch (err) {
    return { what, code: "fetch failed", message: String(err), input };
  }
  const sse = text.startsWith("data:") || text.startsWith("event:");
  if (status === 500 || status >= 505 || /"(code|error_code)":"(internal|Internal|unknown|Unknown)"/.test(text)) {
    return { what, code: String(status), message: text.slice(0, 300), input };
  }
  // Node answers 431 itself (headers over 16 KiB) with an empty body; every other error says why.
  if (!sse && status >= 400 && status !== 431 && text === "") return { what, code: String(status), message: "empty error body", input };
  // Errors and JSON answers must be JSON; a page or an icon (/docs, /favicon.ico) need not.
  if (!sse && text !== "" && (status >= 400 || contentType.startsWith("application/json"))) {
    try {
      JSON.parse(text);
    } catch {
      return { what, code: String(status), message: `not JSON: ${text.slice(0, 200)}`, input };
    }
  }
  return undefined;
}

describe(`every REST route with mutated bodies, paths and headers (seed ${seed})`, () => {
  it.each(restRoutes.map((r) => [`${r.method} ${r.path}`, r] as const))("%s", async (_name, route) => {
    const rng = new Rng(seed ^ hashText(`rest:${route.method} ${route.path}`));
    const keys = schemaKeys[route.path] ?? invocationKeys;
    const json = { ...auth, "content-type": "application/json" };
    const cases: RestCase[] = [];
    // Every field of the body's schema with every edge value, on an otherwise valid request.
    if (route.method === "POST") {
      for (const key of keys) {
        for (const value of edgeValues) {
          const body = { ...baseBody(route.path, rng), [key]: value };
          cases.push({ url: gw.url + route.path.replace(/\{\w+\}/g, () => rng.pick(allEndpoints)), method: "POST", headers: json, body: JSON.stringify(body) });
        }
      }
    }
    // Then random mutations: several fields at once, nested ones, path parameters, content types, broken JSON.
    for (let i = 0; i < runs; i++) {
      const c: RestCase = { url: gw.url + route.path.replace(/\{\w+\}/g, () => pathParam(rng)), method: route.method, headers: { ...auth } };
      if (route.method === "POST") {
        const mode = rng.int(10);
        c.headers["content-type"] = mode === 0 ? rng.pick(["text/plain", "application/x-www-form-urlencoded", "", "application/jsonx", "multipart/form-data"]) : "application/json";
        if (mode === 1) c.body = rng.pick(['{"model": ', "[", "null", "\u0000", '{"a":1}{', deepJsonText(100_000), ""]);
        else c.body = JSON.stringify(mutateBody(rng, route.path, baseBody(route.path, rng), keys[i % keys.length]!));
        if (mode === 2) {
          const { encoding, body } = encodedBody(rng, c.body);
          c.headers["content-encoding"] = encoding;
          c.body = body;
        }
      }
      cases.push(c);
    }
    const failures: Failure[] = [];
    for (const c of cases) {
      const failure = await checkRest(c);
      if (failure) failures.push(failure);
    }
    expect(failures).toEqual([]);
  });
});


export type { DescMessage };

// ------------------------------------------------------------------------------------------------
// Nesting deeper than any recursive decoder or encoder can follow

/** protobuf bytes of google.protobuf.Value nesting `depth` list_values around a null. */
function deepValueBytes(depth: number): Buffer {
  let v = Buffer.from([0x08, 0x00]); // Value.null_value = 0
  for (let i = 0; i < depth; i++) {
    const list = Buffer.concat([Buffer.from([0x0a]), varint(v.length), v]); // ListValue.values
    v = Buffer.concat([Buffer.from([0x32]), varint(list.length), list]); // Value.list_value (6)
  }
  return v;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

function lenField(tag: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), varint(payload.length), payload]);
}

describe("deeply nested extras", () => {
  const depth = 20_000;
  const chatRequestBytes = () => {
    const entry = Buffer.concat([lenField(0x0a, Buffer.from("x")), lenField(0x12, deepValueBytes(depth))]); // map entry key=1, value=2
    const extras = lenField(0x0a, entry); // Struct.fields (1)
    const message = Buffer.concat([lenField(0x0a, Buffer.from("user")), lenField(0x12, Buffer.from("hi"))]);
    return Buffer.concat([lenField(0x0a, Buffer.from("chat")), lenField(0x12, message), lenField(0x52, extras)]); // endpoint 1, messages 2, extras 10
  };

  it("over gRPC (binary) are INVALID_ARGUMENT, and the gateway keeps serving", async () => {
    const session = http2.connect(gw.url);
    session.on("error", () => undefined);
    try {
      const out = await grpcRaw(session, "/modelgate.v1.ChatService/Chat", frame(chatRequestBytes()));
      expect(out.status).toBe(String(Code.InvalidArgument));
    } finally {
      session.close();
    }
  });

  it("over Connect (binary and JSON) are 400 invalid_argument", async () => {
    const binary = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/proto" },
      body: chatRequestBytes(),
    });
    expect(binary.status).toBe(400);
    const json = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: `{"endpoint":"chat","messages":[{"role":"user","content":"hi"}],"extras":{"x":${"[".repeat(depth)}${"]".repeat(depth)}}}`,
    });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { code: string }).code).toBe("invalid_argument");
  });

  it("on the OpenAI surface are 400 invalid_request_error", async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: `{"model":"chat","messages":[{"role":"user","content":"hi"}],"response_format":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("invalid_request_error");
  });
});
