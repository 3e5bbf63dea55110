// What the ledger bills for a call that failed: once the upstream has the request (it answered
// 2xx, or the request was sent and no answer came in time), the provider bills the prompt
// whatever happens next, so a stream broken by the upstream (reset, timeout), a stream cancelled
// by the client and a unary call whose answer was lost record the prompt estimate plus the text
// streamed so far. A call refused before any upstream request (auth, quota, validation, unknown
// endpoint) or refused by the upstream (an error status, connection refused) records no tokens.
//
// The upstream client tells when the upstream had the request through UpstreamCall's
// onUpstreamReached (set by src/services/endpoint-call.ts). The cases that need it run once
// src/upstream/client.ts calls it (probed below); a stream broken after it sent text is billed
// from the text alone, so that case runs always.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatService, StreamChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import type { LedgerRow } from "../../src/store/types";
import { countTokens, reservationForRequest, toolCallTokens } from "../../src/usage/tokens";
import { startFakeUpstream, TOOL_ARGUMENT_FRAGMENT_SIZE, type FaultyUpstream } from "../fakes/fake-upstream";
import { clientFor } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";

let fake: FaultyUpstream;
let gw: TestGateway;
let seq = 0;

// An upstream that accepts the request (200, SSE headers) and then resets the connection
// before sending a single byte of body; or, for a prompt with "#hold", sends one chunk without
// text (the assistant role) and then holds the stream open until the client goes away.
const abrupt: Server = createServer((req, res) => {
  let body = "";
  req.on("data", (chunk: Buffer) => (body += chunk.toString()));
  req.on("end", () => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    if (body.includes("#hold")) {
      const chunk = { id: "c1", object: "chat.completion.chunk", created: 1, model: "gpt-4o-mini", choices: [{ index: 0, delta: { role: "assistant" }, finish_reason: null }] };
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      return;
    }
    res.flushHeaders();
    setTimeout(() => res.socket?.destroy(), 20);
  });
});
await new Promise<void>((resolve) => abrupt.listen(0, "127.0.0.1", resolve));
const abruptUrl = `http://127.0.0.1:${(abrupt.address() as AddressInfo).port}/v1`;


const adminKey = "sk-admin-ledger-broken-0001";
const userKey = "sk-user-ledger-broken-0002";
const tinyKey = "sk-tiny-ledger-broken-0003";
const meteredKey = "sk-metered-ledger-broken-0004";
const meteredTpm = 100_000;

beforeAll(async () => {
  fake = await startFakeUpstream();
  const openai = (base: string) => `{ openai_api_key: sk-upstream, openai_api_base: "${base}" }`;
  gw = await startGateway(
    `
server: { upstream_timeout_ms: 1000 }
auth:
  enabled: true
  keys:
    - { name: admin, key: $ADMIN_KEY, roles: [admin] }
    - { name: user, key: $USER_KEY, team: t }
    - { name: tiny, key: $TINY_KEY, team: t, limits: { tpm: 3 } }
    - { name: metered, key: $METERED_KEY, team: t, limits: { tpm: ${meteredTpm} } }
access: { grants: [{ endpoints: ["*"], teams: [t] }] }
prices:
  - { provider: openai, model: gpt-4o-mini, input_per_mtok: 1000000, output_per_mtok: 2000000 }
  - { provider: anthropic, model: claude-sonnet-4-5, input_per_mtok: 1000000, output_per_mtok: 2000000 }
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: ${openai(`${fake.url}/v1`)} } }
  - { name: claude, endpoint_type: llm/v1/chat, model: { provider: anthropic, name: claude-sonnet-4-5, config: { anthropic_api_key: sk-ant, anthropic_api_base: "${fake.url}/v1" } } }
  - { name: abrupt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: ${openai(abruptUrl)} } }
  - { name: nowhere, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: ${openai("http://127.0.0.1:1/v1")} } }
`,
    { ADMIN_KEY: adminKey, USER_KEY: userKey, TINY_KEY: tinyKey, METERED_KEY: meteredKey },
  );
});
afterAll(async () => {
  await gw?.close();
  await fake?.close();
  await new Promise((resolve) => abrupt.close(resolve));
});
beforeEach(() => fake.reset());

/** Headers for one call: the key, and a request id to find its ledger row by. */
function call(key = userKey): { requestId: string; headers: Record<string, string> } {
  const requestId = `ledger-broken-${++seq}`;
  return { requestId, headers: { authorization: `Bearer ${key}`, "x-request-id": requestId } };
}

async function ledgerRow(requestId: string): Promise<LedgerRow> {
  await gw.gateway.flushLedger();
  for await (const row of gw.gateway.store.ledger.rows({})) if (row.requestId === requestId) return row;
  throw new Error(`no ledger row for ${requestId}`);
}

/** The row of a call whose end the gateway may see only after the client did (a cancel). */
async function waitForRow(requestId: string): Promise<LedgerRow> {
  for (let i = 0; ; i++) {
    try {
      return await ledgerRow(requestId);
    } catch (err) {
      if (i >= 200) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** The prompt estimate the quota interceptor makes for a one-message chat. */
function promptEstimate(endpoint: string, content: string): number {
  const req = create(StreamChatRequestSchema, { endpoint, messages: [{ role: "user", content }] });
  return reservationForRequest(req, 1024).promptTokens;
}

describe.each(["gpt", "claude"])("a stream broken by the upstream (%s)", (endpoint) => {
  it("over gRPC bills the prompt estimate and the text streamed before the break", async () => {
    const content = "#break one two three four five six";
    const { requestId, headers } = call();
    let text = "";
    const err = await failure(
      (async () => {
        for await (const c of clientFor(ChatService, "grpc", gw.url).streamChat({ endpoint, messages: [{ role: "user", content }] }, { headers })) {
          text += c.choices.map((d) => d.delta?.content ?? "").join("");
        }
      })(),
    );
    expect(err.code).toBe(Code.Unavailable);
    expect(text.length).toBeGreaterThan(0);
    const row = await ledgerRow(requestId);
    const prompt = promptEstimate(endpoint, content);
    const completion = countTokens(text);
    expect(prompt).toBeGreaterThan(0);
    expect(completion).toBeGreaterThan(0);
    expect(row).toMatchObject({ status: "Unavailable", streamed: true, promptTokens: prompt, completionTokens: completion });
    expect(row.costUsd).toBeCloseTo(prompt * 1 + completion * 2, 9);
  });
});

describe("a stream broken by the upstream on the OpenAI REST surface", () => {
  it("bills the prompt estimate and the text streamed before the break", async () => {
    const content = "#break a b c d e f g";
    const { requestId, headers } = call();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt", messages: [{ role: "user", content }], stream: true }),
    });
    expect(res.status).toBe(200); // the error comes inside the stream
    const body = await res.text();
    let text = "";
    for (const line of body.split("\n")) {
      if (!line.startsWith("data: {")) continue;
      const event = JSON.parse(line.slice("data: ".length)) as { choices?: { delta?: { content?: string } }[] };
      for (const choice of event.choices ?? []) text += choice.delta?.content ?? "";
    }
    expect(text.length).toBeGreaterThan(0);
    const row = await ledgerRow(requestId);
    expect(row).toMatchObject({
      status: "Unavailable",
      streamed: true,
      promptTokens: promptEstimate("gpt", content),
      completionTokens: countTokens(text),
    });
  });
});

describe("an upstream that had the request and failed before answering anything", () => {
  it("a stream reset before its first event bills the prompt estimate", async () => {
    const content = "some words for the prompt";
    const { requestId, headers } = call();
    const err = await failure(
      (async () => {
        for await (const _ of clientFor(ChatService, "grpc", gw.url).streamChat({ endpoint: "abrupt", messages: [{ role: "user", content }] }, { headers })) void _;
      })(),
    );
    expect(err.code).toBe(Code.Unavailable);
    const row = await ledgerRow(requestId);
    expect(row).toMatchObject({ status: "Unavailable", promptTokens: promptEstimate("abrupt", content), completionTokens: 0 });
    expect(row.promptTokens).toBeGreaterThan(0);
  });

  it("a unary call whose answer is cut off bills the prompt estimate", async () => {
    const content = "tell me something";
    const { requestId, headers } = call();
    const err = await failure(clientFor(ChatService, "grpc", gw.url).chat({ endpoint: "abrupt", messages: [{ role: "user", content }] }, { headers }));
    expect(err.code).toBe(Code.Unavailable);
    const row = await ledgerRow(requestId);
    expect(row).toMatchObject({ status: "Unavailable", streamed: false, completionTokens: 0 });
    expect(row.promptTokens).toBe(promptEstimate("abrupt", content));
    expect(row.promptTokens).toBeGreaterThan(0);
    expect(row.costUsd).toBeCloseTo(row.promptTokens, 9);
  });

  it("a call the upstream never answered in time (it had the request) bills the prompt estimate", async () => {
    const content = "#hang a prompt that was sent";
    const { requestId, headers } = call();
    const err = await failure(clientFor(ChatService, "grpc", gw.url).chat({ endpoint: "gpt", messages: [{ role: "user", content }] }, { headers }));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/upstream timed out/);
    const row = await ledgerRow(requestId);
    expect(row).toMatchObject({ status: "Unavailable", promptTokens: promptEstimate("gpt", content), completionTokens: 0 });
  });

  it("a stream the client cancels before any text bills the prompt estimate", async () => {
    const content = "#hold then wait";
    const { requestId, headers } = call();
    const controller = new AbortController();
    let messages = 0;
    const err = await failure(
      (async () => {
        for await (const c of clientFor(ChatService, "grpc", gw.url).streamChat(
          { endpoint: "abrupt", messages: [{ role: "user", content }] },
          { headers, signal: controller.signal },
        )) {
          messages++;
          expect(c.choices.every((d) => !d.delta?.content)).toBe(true);
          controller.abort(); // the upstream has answered: cancel before any text
        }
      })(),
    );
    expect(err.code).toBe(Code.Canceled);
    expect(messages).toBe(1);
    const row = await waitForRow(requestId);
    expect(row).toMatchObject({ status: "Canceled", streamed: true, promptTokens: promptEstimate("abrupt", content), completionTokens: 0 });
  });
});

describe("calls that never reached the upstream, or that it refused, bill nothing", () => {
  const chat = () => clientFor(ChatService, "grpc", gw.url);

  it.each([
    ["an unknown endpoint", userKey, { endpoint: "no-such-endpoint" }, Code.NotFound],
    ["an invalid request", userKey, { endpoint: "gpt", temperature: 7 }, Code.InvalidArgument],
    ["a bad key", "sk-not-a-key-000000000000", { endpoint: "gpt" }, Code.Unauthenticated],
    ["a token limit", tinyKey, { endpoint: "gpt" }, Code.ResourceExhausted],
    ["a connection refused", userKey, { endpoint: "nowhere" }, Code.Unavailable],
    ["an upstream error status", userKey, { endpoint: "gpt", content: "#status:500 hi there" }, Code.Unavailable],
    ["an upstream refusing the request", userKey, { endpoint: "gpt", content: "#status:400 hi there" }, Code.InvalidArgument],
  ])("%s", async (_what, key, req: { endpoint: string; content?: string; temperature?: number }, code) => {
    const { requestId, headers } = call(key);
    const messages = [{ role: "user", content: req.content ?? "a prompt of several words that would count" }];
    for (const stream of [false, true]) {
      const err = stream
        ? await failure((async () => {
            for await (const _ of chat().streamChat({ endpoint: req.endpoint, messages, temperature: req.temperature }, { headers })) void _;
          })())
        : await failure(chat().chat({ endpoint: req.endpoint, messages, temperature: req.temperature }, { headers }));
      expect(Code[err.code]).toBe(Code[code]);
    }
    await gw.gateway.flushLedger();
    const rows: LedgerRow[] = [];
    for await (const row of gw.gateway.store.ledger.rows({})) if (row.requestId === requestId) rows.push(row);
    if (code === Code.Unauthenticated) {
      expect(rows).toEqual([]); // no principal: not a call of anyone's (no row at all)
      return;
    }
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatchObject({ status: Code[code], promptTokens: 0, completionTokens: 0 });
  });
});

// A stream that sent only tool calls (no text) before it broke or was cancelled is billed for
// the tool calls it sent, counted as the prompt estimate counts a tool call (framing, id, name,
// arguments): not 0. The fake streams the call's id and name first, then the arguments in
// TOOL_ARGUMENT_FRAGMENT_SIZE-character fragments (#break: two of them, then the socket closes;
// #slow: one every SLOW_INTERVAL_MS until the client goes away).
describe("a stream that sent only tool calls", () => {
  const tool = {
    type: "function" as const,
    function: { name: "lookup", description: "Looks a thing up.", parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] } },
  };
  const content = "#tool the weather in paris today and tomorrow";

  /** Tool-call deltas as a client received them, keyed by the call's index. */
  class ReceivedCalls {
    readonly calls = new Map<number, { id: string; name: string; args: string }>();
    add(index: number, delta: { id?: string | null; name?: string | null; args?: string | null }): void {
      const c = this.calls.get(index) ?? { id: "", name: "", args: "" };
      c.id += delta.id ?? "";
      c.name += delta.name ?? "";
      c.args += delta.args ?? "";
      this.calls.set(index, c);
    }
    tokens(): number {
      let n = 0;
      for (const c of this.calls.values()) n += toolCallTokens(c.id, c.name, c.args);
      return n;
    }
  }

  it("broken by the upstream, over gRPC: the ledger and the key's token counter settle the streamed tool call", async () => {
    fake.queueFaults("#break");
    const { requestId, headers } = call(meteredKey);
    const received = new ReceivedCalls();
    let text = "";
    const err = await failure(
      (async () => {
        for await (const c of clientFor(ChatService, "grpc", gw.url).streamChat({ endpoint: "gpt", messages: [{ role: "user", content }], tools: [tool] }, { headers })) {
          for (const choice of c.choices) {
            text += choice.delta?.content ?? "";
            for (const t of choice.delta?.toolCalls ?? []) received.add(t.index, { id: t.id, name: t.function?.name, args: t.function?.arguments });
          }
        }
      })(),
    );
    expect(err.code).toBe(Code.Unavailable);
    expect(text).toBe("");
    const streamed = received.calls.get(0);
    expect(streamed).toMatchObject({ name: "lookup", args: '{"q":"the weather in paris today and tomorrow"}'.slice(0, 2 * TOOL_ARGUMENT_FRAGMENT_SIZE) });
    expect(streamed?.id).not.toBe("");
    const completion = received.tokens();
    expect(completion).toBeGreaterThan(countTokens(streamed!.args));
    const row = await ledgerRow(requestId);
    const prompt = reservationForRequest(create(StreamChatRequestSchema, { endpoint: "gpt", messages: [{ role: "user", content }], tools: [tool] }), 1024).promptTokens;
    expect(row).toMatchObject({ status: "Unavailable", streamed: true, promptTokens: prompt, completionTokens: completion });
    expect(row.costUsd).toBeCloseTo(prompt * 1 + completion * 2, 9);

    // The key's token counter holds what was settled: the next call's remaining tokens say so.
    const next = { role: "user", content: "and now a short one" };
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${meteredKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt", messages: [next], max_tokens: 1 }),
    });
    expect(res.status).toBe(200);
    await res.text();
    const reserved = reservationForRequest(create(ChatRequestSchema, { endpoint: "gpt", messages: [next], maxTokens: 1 }), 1024);
    expect(Number(res.headers.get("x-ratelimit-remaining-tokens"))).toBe(meteredTpm - (prompt + completion) - (reserved.promptTokens + reserved.maxCompletionTokens));
  });

  it("broken by an Anthropic upstream (tool_use + input_json_delta), over gRPC: the ledger row bills the streamed tool call", async () => {
    fake.queueFaults("#break");
    const { requestId, headers } = call();
    const received = new ReceivedCalls();
    const err = await failure(
      (async () => {
        for await (const c of clientFor(ChatService, "grpc", gw.url).streamChat({ endpoint: "claude", messages: [{ role: "user", content }], tools: [tool] }, { headers })) {
          for (const choice of c.choices) {
            expect(choice.delta?.content ?? "").toBe("");
            for (const t of choice.delta?.toolCalls ?? []) received.add(t.index, { id: t.id, name: t.function?.name, args: t.function?.arguments });
          }
        }
      })(),
    );
    expect(err.code).toBe(Code.Unavailable);
    expect(received.calls.get(0)?.name).toBe("lookup");
    expect(received.calls.get(0)?.args.length).toBeGreaterThan(0); // input_json_delta fragments before the break
    const completion = received.tokens();
    expect(completion).toBeGreaterThan(0);
    const row = await ledgerRow(requestId);
    expect(row).toMatchObject({ status: "Unavailable", streamed: true, completionTokens: completion });
    expect(row.promptTokens).toBeGreaterThan(0);
  });

  it("broken by the upstream, through the OpenAI SDK: the ledger row bills the streamed tool call", async () => {
    fake.queueFaults("#break");
    const { requestId, headers } = call();
    const client = new OpenAI({ apiKey: userKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const received = new ReceivedCalls();
    const err = await (async () => {
      const stream = await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content }], tools: [tool], stream: true }, { headers });
      for await (const chunk of stream) {
        for (const choice of chunk.choices) {
          expect(choice.delta.content ?? "").toBe("");
          for (const t of choice.delta.tool_calls ?? []) received.add(t.index, { id: t.id, name: t.function?.name, args: t.function?.arguments });
        }
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(received.calls.get(0)?.args.length).toBe(2 * TOOL_ARGUMENT_FRAGMENT_SIZE);
    const completion = received.tokens();
    expect(completion).toBeGreaterThan(0);
    const row = await ledgerRow(requestId);
    expect(row).toMatchObject({ status: "Unavailable", streamed: true, completionTokens: completion });
    expect(row.promptTokens).toBeGreaterThan(0);
  });

  it("cancelled by the client over gRPC after some argument fragments: the ledger row bills them", async () => {
    fake.queueFaults("#slow");
    const { requestId, headers } = call();
    const controller = new AbortController();
    const received = new ReceivedCalls();
    const err = await failure(
      (async () => {
        for await (const c of clientFor(ChatService, "grpc", gw.url).streamChat(
          { endpoint: "gpt", messages: [{ role: "user", content }], tools: [tool] },
          { headers, signal: controller.signal },
        )) {
          for (const choice of c.choices) {
            for (const t of choice.delta?.toolCalls ?? []) received.add(t.index, { id: t.id, name: t.function?.name, args: t.function?.arguments });
          }
          if ((received.calls.get(0)?.args.length ?? 0) >= 2 * TOOL_ARGUMENT_FRAGMENT_SIZE) controller.abort();
        }
      })(),
    );
    expect(err.code).toBe(Code.Canceled);
    const streamed = received.calls.get(0)!;
    expect(streamed.args).toBe('{"q":"the weather in paris today and tomorrow"}'.slice(0, 2 * TOOL_ARGUMENT_FRAGMENT_SIZE));
    const row = await waitForRow(requestId);
    // The gateway may have sent (and billed) a fragment the client no longer read: at least what it read.
    expect(row).toMatchObject({ status: "Canceled", streamed: true });
    expect(row.completionTokens).toBeGreaterThanOrEqual(received.tokens());
    expect(row.completionTokens).toBeLessThanOrEqual(toolCallTokens(streamed.id, streamed.name, '{"q":"the weather in paris today and tomorrow"}'));
    expect(row.promptTokens).toBeGreaterThan(0);
  });
});
