// UsageService.ListCalls through a real gateway, over gRPC and Connect: the calls just made, newest
// first, each with the trace id of its trace (the caller's traceparent continued), filtered by
// endpoint, key, team, status and request id, a page at a time with an opaque token; a key
// without the admin role sees only its own calls whatever it asks, and cannot name another key;
// bad page sizes, statuses and tokens are INVALID_ARGUMENT. With OpenTelemetry on, the recorded
// trace id is the one of the call's exported SERVER span.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { UsageService, type CallRecord, type ListCallsRequestSchema } from "../../gen/modelgate/v1/usage_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { startOtlpReceiver, type OtlpReceiver } from "../otel/otlp-receiver";
import { transportFor, type ProtocolName } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";

const keys = { RED_KEY: "sk-red-calls-0123456789", BLUE_KEY: "sk-blue-calls-0123456789", OPS_KEY: "sk-ops-calls-0123456789" };
const traceId = "0af7651916cd43dd8448eb211c80319c";
let gw: TestGateway;
/** What the calls below were, oldest first: [request id, key id, endpoint, status]. */
const made: [string, string, string, string][] = [];

type ListRequest = MessageInitShape<typeof ListCallsRequestSchema>;
const asKey = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

beforeAll(async () => {
  gw = await startGateway(
    `
auth:
  enabled: true
  keys:
    - { name: red, key: $RED_KEY, team: red }
    - { name: blue, key: $BLUE_KEY, team: blue }
    - { name: ops, key: $OPS_KEY, roles: [admin], team: ops }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
  - name: embed
    endpoint_type: llm/v1/embeddings
    model: { provider: echo, name: echo-embed-1 }
prices:
  - { provider: echo, model: echo-1, input_per_mtok: 1000, output_per_mtok: 2000 }
`,
    keys,
  );
  const chat = createClient(ChatService, transportFor("grpc", gw.url));
  const embeddings = createClient(EmbeddingsService, transportFor("grpc", gw.url));
  const call = async (requestId: string, key: string, keyId: string, endpoint: string, extra: Record<string, string> = {}) => {
    const headers = { authorization: `Bearer ${key}`, "x-request-id": requestId, ...extra };
    let status = "ok";
    try {
      if (endpoint === "embed") await embeddings.embed({ endpoint, inputs: ["a", "b"] }, { headers });
      else await chat.chat({ endpoint, messages: [{ role: "user", content: `hello ${requestId}` }] }, { headers });
    } catch (err) {
      status = Code[(err as { code: Code }).code];
    }
    made.push([requestId, keyId, endpoint, status]);
  };
  await call("red-1", keys.RED_KEY, "config:red", "chat", { traceparent: `00-${traceId}-b7ad6b7169203331-01` });
  await call("blue-1", keys.BLUE_KEY, "config:blue", "embed");
  await call("red-2", keys.RED_KEY, "config:red", "embed");
  await call("red-missing", keys.RED_KEY, "config:red", "no-such-endpoint");
  await call("blue-2", keys.BLUE_KEY, "config:blue", "chat");
  await call("red-3", keys.RED_KEY, "config:red", "chat");
  await gw.gateway.flushLedger();
});
afterAll(() => gw?.close());

/** The made calls matching `keep`, newest first (as ListCalls lists them). */
const expectedIds = (keep: (c: { requestId: string; keyId: string; endpoint: string; status: string }) => boolean) =>
  made
    .map(([requestId, keyId, endpoint, status]) => ({ requestId, keyId, endpoint, status }))
    .filter(keep)
    .reverse()
    .map((c) => c.requestId);

describe.each<ProtocolName>(["grpc", "connect-json-h1"])("ListCalls over %s", (protocol) => {
  const usage = () => createClient(UsageService, transportFor(protocol, gw.url));
  const list = (req: ListRequest, key = keys.OPS_KEY) => usage().listCalls(req, asKey(key));

  /** Every page, following next_page_token. */
  async function allPages(req: Omit<ListRequest, "pageToken" | "$typeName">, key = keys.OPS_KEY): Promise<CallRecord[][]> {
    const pages: CallRecord[][] = [];
    let pageToken = "";
    for (let i = 0; i < 50; i++) {
      const page = await list({ ...req, pageToken }, key);
      pages.push(page.calls);
      if (page.nextPageToken === "") return pages;
      pageToken = page.nextPageToken;
    }
    throw new Error("ListCalls never reached its last page");
  }

  it("lists the calls just made, newest first, with what the ledger recorded and the caller's trace id", async () => {
    const { calls, nextPageToken } = await list({});
    expect(nextPageToken).toBe("");
    expect(calls.map((c) => c.requestId)).toEqual(expectedIds(() => true));
    const times = calls.map((c) => timestampDate(c.time!).getTime());
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const first = calls.find((c) => c.requestId === "red-1")!;
    expect(first).toMatchObject({ traceId, keyId: "config:red", team: "red", endpoint: "chat", provider: "echo", model: "echo-1", target: "echo-1", status: "ok", streamed: false });
    expect(first.promptTokens).toBeGreaterThan(0n);
    expect(first.completionTokens).toBeGreaterThan(0n);
    expect(first.latencyMs).toBeGreaterThan(0);
    expect(first.costUsd).toBeGreaterThan(0);
    // Every call has a trace id of its own (the gateway starts a trace when the caller sends none).
    for (const c of calls) expect(c.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(calls.map((c) => c.traceId)).size).toBe(calls.length);
    // No price for the embeddings model: the cost is unset, never 0.
    expect(calls.find((c) => c.requestId === "blue-1")!.costUsd).toBeUndefined();
    const missing = calls.find((c) => c.requestId === "red-missing")!;
    expect(missing.status).toBe("NotFound");
    expect(missing.target).toBe("");
  });

  it("filters by endpoint, key, team, status and request id", async () => {
    expect((await list({ endpoint: "embed" })).calls.map((c) => c.requestId)).toEqual(expectedIds((c) => c.endpoint === "embed"));
    expect((await list({ keyId: "config:blue" })).calls.map((c) => c.requestId)).toEqual(expectedIds((c) => c.keyId === "config:blue"));
    expect((await list({ team: "red", endpoint: "chat" })).calls.map((c) => c.requestId)).toEqual(["red-3", "red-1"]);
    expect((await list({ status: "error" })).calls.map((c) => c.requestId)).toEqual(["red-missing"]);
    expect((await list({ status: "NotFound", team: "red" })).calls.map((c) => c.requestId)).toEqual(["red-missing"]);
    expect((await list({ status: "ok" })).calls.map((c) => c.requestId)).toEqual(expectedIds((c) => c.status === "ok"));
    expect((await list({ requestId: "blue-2" })).calls.map((c) => [c.requestId, c.endpoint])).toEqual([["blue-2", "chat"]]);
    const future = timestampFromDate(new Date(Date.now() + 60_000));
    expect((await list({ startTime: future, endTime: timestampFromDate(new Date(Date.now() + 120_000)) })).calls).toEqual([]);
  });

  it("pages with an opaque token: every call once, in order; the token belongs to its filters", async () => {
    for (const pageSize of [1, 2, 4]) {
      const pages = await allPages({ pageSize });
      expect(pages.flat().map((c) => c.requestId), `page_size ${pageSize}`).toEqual(expectedIds(() => true));
      expect(pages.length).toBe(Math.ceil(made.length / pageSize));
    }
    const filtered = await allPages({ pageSize: 1, team: "red" });
    expect(filtered.flat().map((c) => c.requestId)).toEqual(expectedIds((c) => c.keyId === "config:red"));
    const { nextPageToken } = await list({ pageSize: 2, team: "red" });
    expect(nextPageToken).not.toBe("");
    const other = await failure(list({ pageSize: 2, team: "blue", pageToken: nextPageToken }));
    expect(other.code).toBe(Code.InvalidArgument);
    expect(other.rawMessage).toMatch(/^page_token: it belongs to a listing with other filters/);
    // The page size may change between pages; the filters may not.
    expect((await list({ pageSize: 10, team: "red", pageToken: nextPageToken })).calls.map((c) => c.requestId)).toEqual(expectedIds((c) => c.keyId === "config:red").slice(2));
  });

  it("refuses a page size over 500, an unknown status and a token it did not make, with INVALID_ARGUMENT", async () => {
    const cases: [ListRequest, RegExp][] = [
      [{ pageSize: 501 }, /^page_size: 501 is over the limit of 500$/],
      [{ status: "broken" }, /^status: unknown status "broken"/],
      [{ pageToken: "not-a-token" }, /^page_token: not a token ListCalls returned$/],
      [{ pageToken: Buffer.from("1.2.3").toString("base64url") }, /^page_token: not a token ListCalls returned$/],
      [{ pageToken: "x".repeat(300) }, /^page_token: not a token ListCalls returned$/],
      [{ requestId: "r".repeat(300) }, /request_id/],
      [{ startTime: timestampFromDate(new Date(Date.now() + 60_000)), endTime: timestampFromDate(new Date(Date.now())) }, /^start_time .* must be before end_time/],
    ];
    for (const [req, message] of cases) {
      const err = await failure(list(req));
      expect(err.code, String(message)).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toMatch(message);
    }
    expect((await list({ pageSize: 500 })).calls.length).toBe(made.length);
  });

  it("shows a key without the admin role only its own calls, whatever it filters by", async () => {
    expect((await list({}, keys.RED_KEY)).calls.map((c) => c.requestId)).toEqual(expectedIds((c) => c.keyId === "config:red"));
    expect((await list({ keyId: "config:red", endpoint: "embed" }, keys.RED_KEY)).calls.map((c) => c.requestId)).toEqual(["red-2"]);
    expect((await list({ team: "blue" }, keys.RED_KEY)).calls).toEqual([]);
    expect((await list({ requestId: "blue-1" }, keys.RED_KEY)).calls).toEqual([]);
    const pages = await allPages({ pageSize: 1 }, keys.BLUE_KEY);
    expect(pages.flat().map((c) => c.requestId)).toEqual(expectedIds((c) => c.keyId === "config:blue"));
    const other = await failure(list({ keyId: "config:blue" }, keys.RED_KEY));
    expect(other.code).toBe(Code.PermissionDenied);
    expect(other.rawMessage).toMatch(/only its own calls/);
    // A token made for another key's listing does not open it either (its filters differ).
    const { nextPageToken } = await list({ pageSize: 1, keyId: "config:blue" });
    expect((await failure(list({ pageSize: 1, pageToken: nextPageToken }, keys.RED_KEY))).code).toBe(Code.InvalidArgument);
    expect((await failure(usage().listCalls({}))).code).toBe(Code.Unauthenticated);
    // The other UsageService methods stay admin-only.
    expect((await failure(usage().getUsage({}, asKey(keys.RED_KEY)))).code).toBe(Code.PermissionDenied);
  });
});

describe("ListCalls with OpenTelemetry on", () => {
  let receiver: OtlpReceiver;
  let traced: TestGateway;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    traced = await startGateway(
      `
telemetry: { export_delay_ms: 50 }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
`,
      {},
      { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "modelgate-list-calls" } },
    );
  });
  afterAll(async () => {
    await traced?.close();
    await receiver?.close();
  });

  it("records the trace id of the call's span: the caller's when it sent a traceparent, else the new trace's", async () => {
    const chat = createClient(ChatService, transportFor("grpc", traced.url));
    const hello = { endpoint: "chat", messages: [{ role: "user", content: "hello" }] };
    await chat.chat(hello, { headers: { "x-request-id": "otel-new" } });
    await chat.chat(hello, { headers: { "x-request-id": "otel-continued", traceparent: `00-${traceId}-b7ad6b7169203331-01` } });
    await traced.gateway.flushLedger();
    const serverSpan = (requestId: string) => receiver.spans.find((s) => s.kind === "server" && s.attributes["modelgate.request_id"] === requestId);
    await receiver.waitFor(() => serverSpan("otel-new") !== undefined && serverSpan("otel-continued") !== undefined, 10_000);
    const { calls } = await createClient(UsageService, transportFor("grpc", traced.url)).listCalls({});
    const traceOf = (requestId: string) => calls.find((c) => c.requestId === requestId)?.traceId;
    expect(traceOf("otel-new")).toBe(serverSpan("otel-new")!.traceId);
    expect(traceOf("otel-new")).not.toBe(traceId);
    expect(traceOf("otel-continued")).toBe(traceId);
    expect(serverSpan("otel-continued")!.traceId).toBe(traceId);
  });
});

describe("ListCalls with access grants", () => {
  let granted: TestGateway;
  beforeAll(async () => {
    granted = await startGateway(
      `
auth:
  enabled: true
  keys:
    - { name: red, key: $RED_KEY, team: red }
    - { name: ops, key: $OPS_KEY, roles: [admin], team: ops }
access: { grants: [{ endpoints: [chat], teams: [red] }] }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
  - name: embed
    endpoint_type: llm/v1/embeddings
    model: { provider: echo, name: echo-embed-1 }
`,
      keys,
    );
    const chat = createClient(ChatService, transportFor("grpc", granted.url));
    await chat.chat({ endpoint: "chat", messages: [{ role: "user", content: "hi" }] }, { headers: { authorization: `Bearer ${keys.RED_KEY}`, "x-request-id": "granted-1" } });
    await granted.gateway.flushLedger();
  });
  afterAll(() => granted?.close());

  it("treats the endpoint as a filter, not a call: no grant is needed to list an endpoint's calls", async () => {
    const usage = createClient(UsageService, transportFor("grpc", granted.url));
    // The admin has no grant for "chat" (its team has none), and still sees its calls.
    expect((await usage.listCalls({ endpoint: "chat" }, asKey(keys.OPS_KEY))).calls.map((c) => c.requestId)).toEqual(["granted-1"]);
    expect((await usage.listCalls({ endpoint: "chat" }, asKey(keys.RED_KEY))).calls.map((c) => c.requestId)).toEqual(["granted-1"]);
    // A key may filter by an endpoint it may not call: it has no calls there.
    expect((await usage.listCalls({ endpoint: "embed" }, asKey(keys.RED_KEY))).calls).toEqual([]);
    // Calling that endpoint is refused as before.
    const embed = createClient(EmbeddingsService, transportFor("grpc", granted.url));
    expect((await failure(embed.embed({ endpoint: "embed", inputs: ["x"] }, asKey(keys.RED_KEY)))).code).toBe(Code.PermissionDenied);
  });
});
