// Differential test of the MLflow surface against the real MLflow AI Gateway 3.8.1 (PyPI,
// pinned): both gateways load the same config file, call the same fake upstream (OpenAI's wire
// format, test/fakes/fake-upstream.ts), and get the same requests. For every case the status,
// the headers that matter, the JSON body field by field (every SSE event of a stream), and what
// reached the upstream (body and credentials) must be equal, except where ALLOWED below says
// why not. ALLOWED is the one table of differences: each entry must be needed by some case (a
// difference that went away fails the test until its entry goes too).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeUpstream, type FakeUpstream, type JsonValue } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "../integration/harness";
import { runMlflowPython, startMlflowGateway, type MlflowGateway } from "./mlflow-gateway";

// ------------------------------------------------------------------------------------------------
// The allowed differences

interface Allowed {
  /** Names of the cases it applies to ("*" for any). */
  cases: readonly string[] | "*";
  /** The differing field: "status", "headers.<name>", "body...", "upstream.body...", "upstream.headers.<name>". */
  path: RegExp;
  /** Narrows the entry to these values (MLflow's, modelgate's). */
  check?: (mlflow: unknown, modelgate: unknown) => boolean;
  /** Needed in some runs only (so not checked for staleness). */
  sometimes?: true;
  reason: string;
}

const fakeId = (v: unknown) => typeof v === "string" && /^(chatcmpl|cmpl|call)[-_]fake\d+$/.test(v);
const unixSeconds = (v: unknown) => Number.isInteger(v) && (v as number) > 1_600_000_000;
const absent = (v: unknown) => v === undefined;

/** THE table: every way modelgate's MLflow surface may answer differently from MLflow 3.8.1, and why. */
export const ALLOWED: readonly Allowed[] = [
  {
    cases: "*",
    path: /^body(\.events\[\d+\])?(\.id|\.choices\[\d+\]\.(message|delta)\.tool_calls\[\d+\]\.id)$/,
    check: (a, b) => fakeId(a) && fakeId(b),
    reason: "ids: both pass the upstream's id on; the fake upstream numbers every answer, so each gateway's request gets its own",
  },
  {
    cases: "*",
    path: /^body(\.events\[\d+\])?\.created$/,
    check: (a, b) => unixSeconds(a) && unixSeconds(b),
    sometimes: true,
    reason: "created: both pass the upstream's on; the fake upstream stamps its clock, so two requests a second apart differ",
  },
  {
    cases: ["limit: second call is refused"],
    path: /^headers\.(retry-after|x-ratelimit-limit-requests|x-ratelimit-remaining-requests)$/,
    check: (a, b) => absent(a) && typeof b === "string",
    reason: "modelgate's superset: its 429 says when to come back (retry-after) and the limit's state (x-ratelimit-*); MLflow's slowapi sends no headers",
  },
  {
    cases: ["limit: first call passes"],
    path: /^headers\.(x-ratelimit-limit-requests|x-ratelimit-remaining-requests)$/,
    check: (a, b) => absent(a) && typeof b === "string",
    reason: "modelgate's superset: an answer on a limited endpoint carries the limit's state (x-ratelimit-*)",
  },
  {
    cases: ["upstream 429"],
    path: /^headers\.retry-after$/,
    check: (a, b) => absent(a) && b === "7",
    reason: "modelgate's superset: the upstream's retry-after is passed on (MLflow drops it)",
  },
  {
    cases: ["upstream 401", "upstream 403"],
    path: /^body\.detail$/,
    reason: "a refused credential: MLflow quotes the upstream's message (OpenAI's quotes the API key); modelgate never echoes it and says which key to check",
  },
  {
    cases: ["upstream answers with a body that is not JSON"],
    path: /^(status|headers\.content-type|body)$/,
    reason: "MLflow crashes on it (500 text/plain 'Internal Server Error'); modelgate answers 503 with what was wrong",
  },
  {
    cases: ["streamed chat, upstream fails before the first chunk"],
    path: /^(status|headers\.content-type|body(\..*)?)$/,
    reason: "MLflow answers 200 and ends the stream empty (it crashes reading the error); modelgate answers the upstream's status and message as a plain error",
  },
  {
    cases: ["streamed completions"],
    path: /^body(\..*)?$/,
    reason: "MLflow 3.8.1 crashes on streamed completions (it reads a chat `delta` from a completions chunk) and sends an empty stream; modelgate streams text_completion_chunk events in MLflow's schema",
  },
  {
    cases: ["streamed chat with include_usage"],
    path: /^body\.events\[\d+\]\.usage(\..*)?$/,
    check: (a) => absent(a),
    reason: "modelgate's superset: the closing choices: [] chunk (sent only when asked for) carries the usage; MLflow's chunk schema drops it",
  },
  {
    cases: ["streamed chat", "streamed chat with include_usage", "streamed chat with a tool call", "streamed chat, error mid-stream"],
    path: /^upstream\.body\.stream_options(\.include_usage)?$/,
    reason: "modelgate always asks the upstream for the usage of a stream (it counts and bills tokens); the client still gets the usage chunk only when it asked",
  },
  {
    cases: ["chat with lax values", "chat with more lax values"],
    path: /^upstream\.body\.stream$/,
    check: (a, b) => a === false && absent(b),
    reason: "`stream: false` (sent as \"false\"): MLflow passes the default on to the upstream, modelgate leaves it out",
  },
  {
    cases: ["chat continuing after a tool call"],
    path: /^upstream\.body\.messages\[\d+\]\.content$/,
    check: (a, b) => absent(a) && b === null,
    reason: "an assistant turn's `content: null` reaches the upstream as null; MLflow drops null fields (both mean no text to OpenAI)",
  },
  {
    cases: ["embeddings of one string"],
    path: /^upstream\.body\.input$/,
    check: (a, b) => typeof a === "string" && Array.isArray(b) && b.length === 1 && b[0] === a,
    reason: "one input string reaches the upstream as a one-item list (the same request to OpenAI; the answer is the same)",
  },
  {
    cases: ["streamed chat, error mid-stream"],
    path: /^body(\..*)?$/,
    reason: "an upstream error mid-stream: MLflow crashes and cuts the stream; modelgate ends it with a last event holding {\"detail\": ...}",
  },
  {
    cases: ["embeddings: the older `text` field"],
    path: /^(status|body|body\..*)$/,
    reason: "modelgate's superset: older MLflow clients send `text`; MLflow 3.8.1 refuses it (422), modelgate reads it as `input`",
  },
  {
    cases: ["listing: a bad page_token"],
    path: /^(status|headers\.content-type|body)$/,
    reason: "MLflow crashes on an undecodable page_token (500 text/plain); modelgate answers 400 with MLflow's own message",
  },
  {
    cases: ["listing without the trailing slash"],
    path: /^(status|headers\.location|headers\.content-type|body)$/,
    reason: "MLflow redirects /api/2.0/endpoints to /api/2.0/endpoints/ (307); modelgate serves both",
  },
  {
    cases: ["an unknown path outside the REST prefixes"],
    path: /^body(\..*)?$/,
    reason: "modelgate serves Connect/gRPC on the same port: a path outside /api, /endpoints, /gateway (and /v1) is Connect's (404 {code, message})",
  },
  {
    cases: ["openapi.json"],
    path: /^body(\..*)?$/,
    reason: "a different API: modelgate's document is generated from its own schemas (MLflow's and OpenAI's surfaces); /docs reads it the same way",
  },
];

// ------------------------------------------------------------------------------------------------
// The cases

interface Case {
  name: string;
  method?: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  /** A JSON body, or the exact text to send. */
  body?: unknown;
  raw?: string;
  /** The content-type header; null sends none. Default: application/json when there is a body. */
  contentType?: string | null;
  /** Compare what reached the fake upstream, too. */
  upstream?: boolean;
}

const user = (content: string) => ({ messages: [{ role: "user", content }] });
const tool = { type: "function", function: { name: "lookup", parameters: { type: "object", properties: { q: { type: "string" } } } } };

const cases: Case[] = [
  // Paths and listings
  { name: "health", path: "/health" },
  { name: "listing", path: "/api/2.0/endpoints/" },
  { name: "listing without the trailing slash", path: "/api/2.0/endpoints" },
  { name: "listing: second page", path: `/api/2.0/endpoints/?page_token=${b64({ index: 1 })}` },
  { name: "listing: a bad page_token", path: "/api/2.0/endpoints/?page_token=xx" },
  { name: "get endpoint", path: "/api/2.0/endpoints/chat" },
  { name: "get a limited endpoint", path: "/api/2.0/endpoints/limited" },
  { name: "get an unknown endpoint", path: "/api/2.0/endpoints/nope" },
  { name: "legacy listing", path: "/api/2.0/gateway/routes/" },
  { name: "legacy get", path: "/api/2.0/gateway/routes/limited" },
  { name: "legacy get unknown", path: "/api/2.0/gateway/routes/nope" },
  { name: "v3 get endpoint", path: "/api/3.0/gateway/endpoint/chat" },
  { name: "v3 get unknown endpoint", path: "/api/3.0/gateway/endpoint/nope" },
  { name: "v3 get unknown route", path: "/api/3.0/gateway/route/nope" },
  { name: "get_limits", path: "/api/2.0/endpoints/limits/chat" },
  { name: "get_limits (gateway path)", path: "/api/2.0/gateway/limits/chat" },
  { name: "set_limits without a body", method: "POST", path: "/api/2.0/endpoints/limits/", body: {} },
  { name: "set_limits", method: "POST", path: "/api/2.0/endpoints/limits/", body: { route: "chat", limits: [] } },
  { name: "root redirects to the docs", path: "/" },
  { name: "docs page", path: "/docs" },
  { name: "openapi.json", path: "/openapi.json" },
  { name: "favicon", path: "/favicon.ico" },
  { name: "an unknown path under /api", path: "/api/2.0/nope" },
  { name: "an unknown path outside the REST prefixes", path: "/nope" },
  { name: "wrong method on an invocation path", path: "/gateway/chat/invocations" },
  { name: "wrong method on the listing", method: "POST", path: "/api/2.0/endpoints/", body: {} },
  { name: "unknown endpoint (MLflow 3 path)", method: "POST", path: "/gateway/nope/invocations", body: user("x") },
  { name: "unknown endpoint (deployments path)", method: "POST", path: "/endpoints/nope/invocations", body: user("x") },

  // Happy paths
  { name: "chat", method: "POST", path: "/gateway/chat/invocations", body: user("hello there"), upstream: true },
  { name: "chat (deployments path)", method: "POST", path: "/endpoints/chat/invocations", body: user("hello there"), upstream: true },
  {
    name: "chat with parameters",
    method: "POST",
    path: "/gateway/chat/invocations",
    body: { messages: [{ role: "system", content: "be brief" }, { role: "user", content: "one two three four" }], temperature: 0.5, max_tokens: 3, stop: ["four"], n: 1, top_p: 0.9 },
    upstream: true,
  },
  { name: "chat with lax values", method: "POST", path: "/gateway/chat/invocations", body: { ...user("x y"), temperature: "0.5", n: 1.0, max_tokens: "7", stream: "false" }, upstream: true },
  { name: "chat with more lax values", method: "POST", path: "/gateway/chat/invocations", body: { ...user("x y"), temperature: "+.5", n: " 1 ", max_tokens: "1_0", stream: "Off" }, upstream: true },
  { name: "lax values refused", method: "POST", path: "/gateway/chat/invocations", body: { ...user("x"), temperature: "inf", n: "1.5", max_tokens: "-0", stream: " true " } },
  { name: "lax values refused (2)", method: "POST", path: "/gateway/completions/invocations", body: { prompt: "x", temperature: "-inf", n: true, max_tokens: 1e20, stream: 0.5 } },
  { name: "chat with model: null", method: "POST", path: "/gateway/chat/invocations", body: { ...user("x"), model: null }, upstream: true },
  { name: "chat with a tool call", method: "POST", path: "/gateway/chat/invocations", body: { ...user("#tool weather"), tools: [tool] }, upstream: true },
  { name: "chat with content parts", method: "POST", path: "/gateway/chat/invocations", body: { messages: [{ role: "user", content: [{ type: "text", text: "parts here" }] }] }, upstream: true },
  { name: "chat with n: 2", method: "POST", path: "/gateway/chat/invocations", body: { ...user("two ways"), n: 2 }, upstream: true },
  {
    name: "chat continuing after a tool call",
    method: "POST",
    path: "/gateway/chat/invocations",
    body: {
      messages: [
        { role: "user", content: "#tool weather" },
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":"weather"}' } }] },
        { role: "tool", tool_call_id: "call_1", content: "sunny" },
      ],
      tools: [tool],
    },
    upstream: true,
  },
  {
    name: "chat with an image part",
    method: "POST",
    path: "/gateway/chat/invocations",
    body: { messages: [{ role: "user", content: [{ type: "text", text: "what is it" }, { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "low" } }] }] },
    upstream: true,
  },
  { name: "completions with n: 2 and stop", method: "POST", path: "/gateway/completions/invocations", body: { prompt: "one two three", n: 2, stop: ["three"] }, upstream: true },
  { name: "chat with a key from $ENV", method: "POST", path: "/gateway/chat-env/invocations", body: user("x"), upstream: true },
  { name: "streamed chat", method: "POST", path: "/gateway/chat/invocations", body: { ...user("a b c"), stream: true }, upstream: true },
  { name: "streamed chat with include_usage", method: "POST", path: "/gateway/chat/invocations", body: { ...user("a b"), stream: true, stream_options: { include_usage: true } }, upstream: true },
  { name: "streamed chat with a tool call", method: "POST", path: "/gateway/chat/invocations", body: { ...user("#tool weather"), tools: [tool], stream: true }, upstream: true },
  { name: "completions", method: "POST", path: "/gateway/completions/invocations", body: { prompt: "once upon", max_tokens: 5 }, upstream: true },
  { name: "streamed completions", method: "POST", path: "/gateway/completions/invocations", body: { prompt: "once upon", stream: true } },
  { name: "embeddings", method: "POST", path: "/gateway/embeddings/invocations", body: { input: ["a b", "c"] }, upstream: true },
  { name: "embeddings of one string", method: "POST", path: "/endpoints/embeddings/invocations", body: { input: "a b" }, upstream: true },
  { name: "embeddings: the older `text` field", method: "POST", path: "/gateway/embeddings/invocations", body: { text: "a b" } },

  // Request validation (422 with FastAPI's detail list)
  { name: "messages not a list", method: "POST", path: "/gateway/chat/invocations", body: { messages: "nope" } },
  { name: "messages missing", method: "POST", path: "/gateway/chat/invocations", body: {} },
  { name: "messages empty", method: "POST", path: "/gateway/chat/invocations", body: { messages: [] } },
  { name: "bad messages", method: "POST", path: "/gateway/chat/invocations", body: { messages: ["x", {}, { role: "user" }, { role: 5, content: 5 }] } },
  {
    name: "bad content parts",
    method: "POST",
    path: "/gateway/chat/invocations",
    body: { messages: [{ role: "user", content: [{ type: "foo" }, { text: "x" }, { type: "text" }, { type: "image_url", image_url: { url: "u", detail: "x" } }] }] },
  },
  { name: "bad tools and tool_calls", method: "POST", path: "/gateway/chat/invocations", body: { messages: [{ role: "user", content: "x", tool_calls: 5 }], tools: [{ type: "x" }] } },
  {
    name: "every parameter wrong",
    method: "POST",
    path: "/gateway/chat/invocations",
    body: { tools: 5, messages: 5, model: 5, stream_options: 5, stream: 5, max_tokens: "x", stop: 5, n: "x", temperature: "x" },
  },
  { name: "temperature out of range", method: "POST", path: "/gateway/completions/invocations", body: { prompt: "x", temperature: 5 } },
  { name: "temperature null", method: "POST", path: "/gateway/chat/invocations", body: { ...user("x"), temperature: null } },
  { name: "numbers out of range", method: "POST", path: "/gateway/completions/invocations", body: { prompt: "x", n: 0, max_tokens: 0, temperature: -1, stop: [] } },
  { name: "fractional and unreadable values", method: "POST", path: "/gateway/chat/invocations", body: { ...user("x"), n: 1.5, stream: "maybe", temperature: "abc" } },
  { name: "stop as a string", method: "POST", path: "/gateway/chat/invocations", body: { ...user("x"), stop: "END" } },
  { name: "prompt missing", method: "POST", path: "/gateway/completions/invocations", body: {} },
  { name: "prompt as a list", method: "POST", path: "/gateway/completions/invocations", body: { prompt: ["x"] } },
  { name: "embeddings input not text", method: "POST", path: "/gateway/embeddings/invocations", body: { input: 5 } },
  { name: "embeddings input mixed", method: "POST", path: "/gateway/embeddings/invocations", body: { input: ["a", 1] } },
  { name: "model in a chat body", method: "POST", path: "/gateway/chat/invocations", body: { ...user("x"), model: "gpt-4" } },
  { name: "model in a completions body", method: "POST", path: "/gateway/completions/invocations", body: { prompt: "x", model: "gpt-4" } },
  { name: "model in an embeddings body", method: "POST", path: "/gateway/embeddings/invocations", body: { input: "x", model: "m" } },
  { name: "body not an object", method: "POST", path: "/gateway/chat/invocations", body: [1] },
  { name: "JSON syntax error", method: "POST", path: "/gateway/chat/invocations", raw: '{"messages": [1,}' },
  { name: "not JSON at all", method: "POST", path: "/gateway/chat/invocations", raw: "not json" },
  { name: "JSON with extra data", method: "POST", path: "/gateway/chat/invocations", raw: '{"messages": []} x' },
  { name: "unquoted key", method: "POST", path: "/gateway/chat/invocations", raw: "{messages: []}" },
  { name: "unterminated string", method: "POST", path: "/gateway/chat/invocations", raw: '{"messages": "abc' },
  { name: "bad \\u escape", method: "POST", path: "/gateway/chat/invocations", raw: '{"messages": "a\\u12g4"}' },
  { name: "bad one-character escape", method: "POST", path: "/gateway/chat/invocations", raw: '{"messages": "a\\qb"}' },
  { name: "empty body", method: "POST", path: "/gateway/chat/invocations", raw: "" },
  { name: "text/plain body", method: "POST", path: "/gateway/chat/invocations", raw: JSON.stringify(user("x")), contentType: "text/plain" },
  { name: "no content-type", method: "POST", path: "/gateway/chat/invocations", raw: JSON.stringify(user("x")), contentType: null },

  // Upstream errors: MLflow's status and message
  ...[400, 401, 403, 404, 429, 500, 502, 503].map((s) => ({ name: `upstream ${s}`, method: "POST" as const, path: "/gateway/chat/invocations", body: user(`#status:${s} x`) })),
  { name: "upstream 400 on completions", method: "POST", path: "/gateway/completions/invocations", body: { prompt: "#status:400 x" } },
  { name: "upstream 500 on embeddings", method: "POST", path: "/gateway/embeddings/invocations", body: { input: "#status:500 x" } },
  { name: "upstream answers with a body that is not JSON", method: "POST", path: "/gateway/chat/invocations", body: user("#garbage x") },
  { name: "streamed chat, upstream fails before the first chunk", method: "POST", path: "/gateway/chat/invocations", body: { ...user("#status:500 x"), stream: true } },
  { name: "streamed chat, error mid-stream", method: "POST", path: "/gateway/chat/invocations", body: { ...user("#stream-error a b"), stream: true }, upstream: true },

  // The endpoint's rate limit (1 a day: no window boundary between the two calls)
  { name: "limit: first call passes", method: "POST", path: "/gateway/limited/invocations", body: user("x") },
  { name: "limit: second call is refused", method: "POST", path: "/gateway/limited/invocations", body: user("x") },
];

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64");
}

// ------------------------------------------------------------------------------------------------
// Sending, normalising, comparing

/** The headers compared (others, such as date, server and x-request-id, say nothing about fidelity). */
const comparedHeaders = ["content-type", "allow", "location", "retry-after", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests"];

/** A connection per request: uvicorn closes idle keep-alive connections, and a reused one may be reset. */
const noKeepAlive = new Agent({ pipelining: 0 });

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: unknown;
  upstream?: { body: JsonValue | undefined; headers: Record<string, string | undefined> }[];
}

async function send(base: string, c: Case, fake: FakeUpstream): Promise<Answer> {
  fake.reset();
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (c.raw !== undefined || c.body !== undefined) {
    body = c.raw ?? JSON.stringify(c.body);
    const type = c.contentType === undefined ? "application/json" : c.contentType;
    if (type !== null) headers["content-type"] = type;
  }
  const res = await undiciFetch(`${base}${c.path}`, { method: c.method ?? "GET", headers, body: body ?? null, redirect: "manual", dispatcher: noKeepAlive });
  const type = res.headers.get("content-type") ?? "";
  let parsed: unknown;
  if (type.startsWith("text/event-stream")) {
    // MLflow cuts some streams off (it crashes mid-response): what came before the cut counts.
    let text = "";
    let cut = false;
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
    } catch {
      cut = true;
    }
    const events = text.split("\n\n").filter((b) => b.trim() !== "" && b.startsWith("data: ") && (!cut || b.endsWith("}")));
    parsed = { events: events.map((b) => JSON.parse(b.slice(6)) as unknown), ...(cut ? { cut: true } : {}) };
  } else if (type.startsWith("application/json")) {
    parsed = await res.json();
  } else if (type.startsWith("text/plain")) {
    parsed = await res.text();
  } else {
    parsed = (await res.arrayBuffer()).byteLength > 0 ? `<${type}>` : "";
  }
  return {
    status: res.status,
    headers: Object.fromEntries(comparedHeaders.map((h) => [h, res.headers.get(h) ?? undefined])),
    body: parsed,
    upstream: c.upstream
      ? fake.requests.map((r) => ({ body: r.body, headers: { authorization: r.headers.authorization, "openai-organization": r.headers["openai-organization"] as string | undefined } }))
      : undefined,
  };
}

interface Difference {
  path: string;
  mlflow: unknown;
  modelgate: unknown;
}

function diff(a: unknown, b: unknown, path: string, out: Difference[]): void {
  if (Object.is(a, b)) return;
  const objA = a !== null && typeof a === "object";
  const objB = b !== null && typeof b === "object";
  if (objA && objB && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length && !/events$/.test(path)) out.push({ path: `${path}.length`, mlflow: a.length, modelgate: b.length });
      for (let i = 0; i < Math.max(a.length, b.length); i++) diff(a[i], b[i], `${path}[${i}]`, out);
      return;
    }
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, out);
    return;
  }
  // Numbers that print alike in both languages (Python's 2.0 is JSON.parse's 2).
  if (typeof a === "number" && typeof b === "number" && a === b) return;
  out.push({ path, mlflow: a, modelgate: b });
}

function differences(a: Answer, b: Answer): Difference[] {
  const out: Difference[] = [];
  diff(a.status, b.status, "status", out);
  for (const h of comparedHeaders) diff(a.headers[h], b.headers[h], `headers.${h}`, out);
  // A whole body of another kind (text vs JSON) is one difference.
  if (typeof a.body !== typeof b.body || (typeof a.body !== "object" && a.body !== b.body)) out.push({ path: "body", mlflow: a.body, modelgate: b.body });
  else diff(a.body, b.body, "body", out);
  if (a.upstream && b.upstream) {
    diff(a.upstream.length, b.upstream.length, "upstream.requests", out);
    diff(a.upstream[0]?.body, b.upstream[0]?.body, "upstream.body", out);
    diff(a.upstream[0]?.headers, b.upstream[0]?.headers, "upstream.headers", out);
  }
  return out;
}

function allowedFor(name: string, d: Difference): Allowed | undefined {
  return ALLOWED.find(
    (e) => (e.cases === "*" || e.cases.includes(name)) && e.path.test(d.path) && (e.check === undefined || e.check(d.mlflow, d.modelgate)),
  );
}

// ------------------------------------------------------------------------------------------------

let fake: FakeUpstream;
let mlflow: MlflowGateway;
let modelgate: TestGateway;
let dir: string;
const used = new Set<Allowed>();
let compared = 0;

/** The one config both gateways load (MLflow's own format; MLflow reads it, modelgate too). */
function configYaml(upstream: string, keyFile: string): string {
  const openai = (key: string) => `{ openai_api_key: ${key}, openai_api_base: "${upstream}/v1" }`;
  return `endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: gpt-4o-mini, config: ${openai(JSON.stringify(keyFile))} }
  - name: limited
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: gpt-4o-mini, config: ${openai("sk-limited-0001")} }
    limit: { renewal_period: day, calls: 1 }
  - name: completions
    endpoint_type: llm/v1/completions
    model: { provider: openai, name: gpt-3.5-turbo-instruct, config: ${openai("sk-text-0001")} }
    limit: null
  - name: embeddings
    endpoint_type: llm/v1/embeddings
    model: { provider: openai, name: text-embedding-3-small, config: ${openai("sk-embed-0001")} }
  - name: chat-env
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: gpt-4o, config: ${openai("$DIFF_OPENAI_KEY")} }
`;
}

const env = { DIFF_OPENAI_KEY: "sk-from-env-0001" };

beforeAll(async () => {
  fake = await startFakeUpstream();
  dir = mkdtempSync(join(tmpdir(), "mlflow-diff-"));
  const keyFile = join(dir, "openai.key");
  writeFileSync(keyFile, "sk-from-file-0001");
  const config = join(dir, "gateway.yaml");
  writeFileSync(config, configYaml(fake.url, keyFile));
  // Both from the same file; MLflow's venv is built on first use (about two minutes, once).
  [mlflow, modelgate] = await Promise.all([startMlflowGateway(config, env), startGateway(configYaml(fake.url, keyFile), env)]);
}, 900_000);

afterAll(async () => {
  await Promise.all([mlflow?.close(), modelgate?.close(), fake?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("modelgate answers as MLflow 3.8.1 does", () => {
  // In order: the limit cases depend on it.
  for (const c of cases) {
    it(c.name, async () => {
      compared++;
      const a = await send(mlflow.url, c, fake);
      const b = await send(modelgate.url, c, fake);
      const unexplained: Difference[] = [];
      for (const d of differences(a, b)) {
        const entry = allowedFor(c.name, d);
        if (entry) used.add(entry);
        else unexplained.push(d);
      }
      expect(unexplained, `MLflow: ${JSON.stringify(a).slice(0, 1500)}\nmodelgate: ${JSON.stringify(b).slice(0, 1500)}`).toEqual([]);
    });
  }

  it("every entry of the table of allowed differences is still needed", (ctx) => {
    if (compared < cases.length) ctx.skip(); // a filtered run (-t) leaves entries unused
    const stale = ALLOWED.filter((e) => !used.has(e) && !e.sometimes).map((e) => e.reason);
    expect(stale).toEqual([]);
  });
});

describe("MLflow's deployments client (mlflow.deployments.get_deploy_client) sees the same answers", () => {
  const script = new URL("./deploy_client.py", import.meta.url).pathname;
  const calls = (out: string) =>
    new Map(
      out
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { call: string; ok: boolean; value: unknown })
        .map((r) => [r.call, r]),
    );
  let fromMlflow: Map<string, { ok: boolean; value: unknown }>;
  let fromModelgate: Map<string, { ok: boolean; value: unknown }>;
  beforeAll(async () => {
    fromMlflow = calls(await runMlflowPython(script, [mlflow.url]));
    fromModelgate = calls(await runMlflowPython(script, [modelgate.url]));
  }, 300_000);

  it.each([
    "list_endpoints",
    "get_endpoint",
    "get_endpoint (limited)",
    "get_endpoint (unknown)",
    "predict chat",
    "predict chat with parameters",
    "predict completions",
    "predict embeddings",
    "predict with a bad payload",
    "predict with model in the payload",
    "predict on an unknown endpoint",
    "predict, upstream refuses",
    "predict_stream",
  ])("%s", (name) => {
    const a = fromMlflow.get(name);
    expect(a, `MLflow's client printed nothing for ${name}`).toBeDefined();
    expect(fromModelgate.get(name)).toEqual(a);
  });

  it("the happy calls succeed (against both)", () => {
    for (const name of ["list_endpoints", "get_endpoint", "predict chat", "predict completions", "predict embeddings"]) {
      expect(fromModelgate.get(name)?.ok, name).toBe(true);
    }
    // The MLflow client of a gateway URL has no streaming call (it is Databricks-only in 3.8.1).
    expect(fromModelgate.get("predict_stream")?.value).toMatch(/^NotImplementedError/);
  });
});

describe("what the differences leave to modelgate (its own checks)", () => {
  it("the keys reached the upstream as configured: from the file, from $ENV, literal", async () => {
    const keys: Record<string, string | undefined> = {};
    for (const [name, path] of [
      ["chat", "/gateway/chat/invocations"],
      ["chat-env", "/gateway/chat-env/invocations"],
    ] as const) {
      fake.reset();
      expect((await fetch(`${modelgate.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(user("k")) })).status).toBe(200);
      keys[name] = fake.requests[0]?.headers.authorization;
    }
    expect(keys).toEqual({ chat: "Bearer sk-from-file-0001", "chat-env": "Bearer sk-from-env-0001" });
  });

  it("a streamed chat has no usage-only chunk unless asked for, and every chunk has choices[0]", async () => {
    const res = await fetch(`${modelgate.url}/gateway/chat/invocations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...user("a b c"), stream: true }),
    });
    const events = (await res.text()).split("\n\n").filter(Boolean).map((e) => JSON.parse(e.slice(6)) as { choices: unknown[] });
    expect(events.length).toBeGreaterThan(1);
    for (const e of events) expect(e.choices[0]).toBeDefined();
  });

  it("/docs and /redoc load the OpenAPI document modelgate serves", async () => {
    for (const page of ["/docs", "/redoc"]) {
      const res = await fetch(`${modelgate.url}${page}`);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await res.text()).toContain("/openapi.json");
    }
    const doc = (await (await fetch(`${modelgate.url}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/gateway/{name}/invocations");
  });

  it("streamed completions work (where MLflow itself fails)", async () => {
    const res = await fetch(`${modelgate.url}/gateway/completions/invocations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "once upon", stream: true }),
    });
    const events = (await res.text()).split("\n\n").filter(Boolean).map((e) => JSON.parse(e.slice(6)) as { object: string; choices: { text: string | null }[] });
    expect(events.every((e) => e.object === "text_completion_chunk")).toBe(true);
    expect(events.map((e) => e.choices[0]?.text ?? "").join("")).toBe("echo: once upon");
  });
});
