// What the quota interceptor bills for a call that fails: the prompt estimate once the upstream
// had the request (CallOutcome.upstreamReached, set through the onUpstreamReached hook that
// beginEndpointCall hands to the upstream client), plus the text streamed so far; nothing for a
// call that failed before any upstream request. The counters are corrected the same way.
import { create } from "@bufbuild/protobuf";
import {
  createContextValues,
  type HandlerContext,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatService, StreamChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import { unavailable } from "../../src/errors";
import { callEndpointKey, callIdsKey, callerKey, openScope, type CallOutcome } from "../../src/interceptors/call-info";
import { quotaInterceptor, type Accounting } from "../../src/interceptors/quota";
import type { Principal, RuntimeEndpoint, RuntimeState } from "../../src/runtime";
import { beginEndpointCall, streamedOutput, type UpstreamReachedHook } from "../../src/services/endpoint-call";
import type { CounterCheck } from "../../src/store/counters";
import { MemoryCounters } from "../../src/store/memory/counters";
import type { LedgerRow } from "../../src/store/types";
import { countTokens, reservationForRequest } from "../../src/usage/tokens";

const endpoint: RuntimeEndpoint = { name: "chat", type: "llm/v1/chat", provider: "openai", model: "gpt-4o-mini", client: {}, targetName: "gpt-4o-mini", targets: [] };
const state = {
  endpoints: new Map([["chat", endpoint]]),
  teams: new Map(),
  defaultMaxTokens: 100,
} as unknown as RuntimeState;
const principal: Principal = { keyId: "key_1", keyName: "k", team: "t", roles: new Set(["user"]), limits: { tpm: 10_000, budgetPeriod: "day" } };

/** Memory counters that remember the checks of each call. */
class SeenCounters extends MemoryCounters {
  seen: CounterCheck[] = [];
  override hitAll(checks: readonly CounterCheck[]) {
    this.seen.push(...checks);
    return super.hitAll(checks);
  }
}

function harness() {
  const rows: LedgerRow[] = [];
  const counters = new SeenCounters();
  const accounting: Accounting = {
    reservation: (info) => reservationForRequest(info.message, 100),
    cost: (_p, _m, u) => u.promptTokens * 1 + u.completionTokens * 2,
    record: (row) => void rows.push(row),
    spend: async () => 0,
  };
  const interceptor = quotaInterceptor({
    counters,
    accounting,
    onFailure: (f) => {
      throw new Error(`unexpected quota ${f.reason} failure on ${f.counter}`, { cause: f.err });
    },
  });
  return { rows, counters, interceptor };
}

/** The per-call values the interceptors before quota set (callContext, tracing, bounds, auth). */
function openCall(values: ReturnType<typeof createContextValues>, streamed: boolean, message: unknown): void {
  openScope(values, state, streamed, message);
  values.set(callIdsKey, { requestId: "r1", traceparent: "" });
  values.set(callEndpointKey, { name: "chat", endpoint });
  values.set(callerKey, { principal });
}

/** What a service does: begins the endpoint call (as chat.ts does), then `work` with its hook. */
function service(values: ReturnType<typeof createContextValues>, work: (reached: () => void, outcome: CallOutcome) => void) {
  const ctx = { values, signal: new AbortController().signal, requestHeader: new Headers(), responseHeader: new Headers(), responseTrailer: new Headers(), method: ChatService.method.chat } as unknown as HandlerContext;
  const { outcome, options } = beginEndpointCall({ getState: () => state }, ctx, "chat", "llm/v1/chat");
  work(() => (options as UpstreamReachedHook).onUpstreamReached?.(), outcome);
}

async function unary(reachUpstream: boolean) {
  const h = harness();
  const values = createContextValues();
  const message = create(ChatRequestSchema, { endpoint: "chat", messages: [{ role: "user", content: "one two three four five" }] });
  openCall(values, false, message);
  const req = {
    stream: false,
    service: ChatService,
    method: ChatService.method.chat,
    message,
    contextValues: values,
    signal: new AbortController().signal,
    header: new Headers(),
  } as unknown as UnaryRequest;
  const next = async (): Promise<UnaryResponse> => {
    service(values, (reached) => {
      if (reachUpstream) reached();
    });
    throw unavailable("openai: upstream connection failed (UND_ERR_SOCKET)");
  };
  await expect(h.interceptor(next as never)(req)).rejects.toThrow(/upstream connection failed/);
  return { ...h, estimate: reservationForRequest(message, 100).promptTokens };
}

describe("quota: a unary call that failed", () => {
  it("after the upstream had the request bills the prompt estimate (and corrects the token counter to it)", async () => {
    const { rows, counters, estimate } = await unary(true);
    expect(estimate).toBeGreaterThan(0);
    expect(rows).toEqual([expect.objectContaining({ status: "Unavailable", promptTokens: estimate, completionTokens: 0, costUsd: estimate })]);
    const tokens = counters.seen.find((c) => c.key.startsWith("tpm:"));
    expect(tokens).toBeDefined();
    await new Promise((r) => setImmediate(r)); // the correction is not awaited by the call
    expect(await counters.get(tokens!.key)).toBe(estimate);
  });

  it("before any upstream request bills nothing", async () => {
    const { rows } = await unary(false);
    expect(rows).toEqual([expect.objectContaining({ status: "Unavailable", promptTokens: 0, completionTokens: 0, costUsd: 0 })]);
  });
});

describe("quota: a stream that failed", () => {
  async function stream(reachUpstream: boolean, texts: string[]) {
    const h = harness();
    const values = createContextValues();
    const message = create(StreamChatRequestSchema, { endpoint: "chat", messages: [{ role: "user", content: "stream me some words" }] });
    openCall(values, true, message);
    const req = {
      stream: true,
      service: ChatService,
      method: ChatService.method.streamChat,
      message: (async function* () {
        yield message;
      })(),
      contextValues: values,
      signal: new AbortController().signal,
      header: new Headers(),
    } as unknown as StreamRequest;
    const next = async (): Promise<StreamResponse> => {
      let outcome: CallOutcome | undefined;
      service(values, (reached, o) => {
        outcome = o;
        if (reachUpstream) reached();
      });
      return {
        stream: true,
        service: ChatService,
        method: ChatService.method.streamChat,
        header: new Headers(),
        trailer: new Headers(),
        message: (async function* () {
          for (const text of texts) {
            streamedOutput(outcome!).add(text);
            yield { choices: [{ delta: { content: text } }] };
          }
          throw unavailable("openai: upstream stream ended before it was complete");
        })(),
      } as unknown as StreamResponse;
    };
    const res = (await h.interceptor(next as never)(req)) as StreamResponse;
    await expect(
      (async () => {
        for await (const _ of res.message) void _;
      })(),
    ).rejects.toThrow(/ended before it was complete/);
    return { ...h, estimate: reservationForRequest(message, 100).promptTokens };
  }

  it("broken before any text, once the upstream had the request, bills the prompt estimate", async () => {
    const { rows, estimate } = await stream(true, []);
    expect(rows).toEqual([expect.objectContaining({ status: "Unavailable", streamed: true, promptTokens: estimate, completionTokens: 0 })]);
  });

  it("broken mid-way bills the prompt estimate and the text streamed", async () => {
    const { rows, estimate } = await stream(true, ["Hello", " there", " friend"]);
    const completion = countTokens("Hello there friend");
    expect(rows).toEqual([
      expect.objectContaining({ status: "Unavailable", promptTokens: estimate, completionTokens: completion, costUsd: estimate + 2 * completion }),
    ]);
  });

  it("failing before any upstream request bills nothing", async () => {
    const { rows } = await stream(false, []);
    expect(rows).toEqual([expect.objectContaining({ promptTokens: 0, completionTokens: 0 })]);
  });
});
