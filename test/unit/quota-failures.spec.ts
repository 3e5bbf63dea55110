// A counter settlement or budget seed that fails is not swallowed: the quota interceptor reports
// it (src/quota/failures.ts), which logs it with the endpoint, key id and team (no secret) and
// counts it in modelgate_quota_settle_failures_total{reason}. The call itself is not failed.
import { create } from "@bufbuild/protobuf";
import { createContextValues, type HandlerContext, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatService } from "../../gen/modelgate/v1/chat_pb";
import { callEndpointKey, callIdsKey, callerKey, openScope } from "../../src/interceptors/call-info";
import { quotaInterceptor, type Accounting } from "../../src/interceptors/quota";
import { quotaFailureSink } from "../../src/quota/failures";
import type { Principal, RuntimeEndpoint, RuntimeState } from "../../src/runtime";
import { beginEndpointCall, recordAnswer } from "../../src/services/endpoint-call";
import { MemoryCounters } from "../../src/store/memory/counters";
import type { LedgerRow } from "../../src/store/types";
import { reservationForRequest } from "../../src/usage/tokens";

const endpoint: RuntimeEndpoint = { name: "chat", type: "llm/v1/chat", provider: "openai", model: "gpt-4o-mini", client: {}, targetName: "gpt-4o-mini", targets: [] };
const state = { endpoints: new Map([["chat", endpoint]]), teams: new Map(), defaultMaxTokens: 100 } as unknown as RuntimeState;
const principal: Principal = {
  keyId: "key_fail",
  keyName: "k",
  team: "t",
  roles: new Set(["user"]),
  limits: { tpm: 10_000, budgetUsd: 50, budgetPeriod: "day" },
};

/** A counters store whose decisions work but whose reads and corrections fail (a flaky backend). */
class FailingCounters extends MemoryCounters {
  override async add(): Promise<void> {
    throw new Error("counters backend: connection reset");
  }
  override async get(): Promise<number | undefined> {
    throw new Error("counters backend: connection reset");
  }
}

interface LogLine {
  fields: Record<string, unknown>;
  msg: string;
}

async function answeredCall() {
  const logs: LogLine[] = [];
  const log = { error: (fields: Record<string, unknown>, msg: string) => void logs.push({ fields, msg }) };
  const registry = new Registry();
  const rows: LedgerRow[] = [];
  const accounting: Accounting = {
    reservation: (info) => reservationForRequest(info.message, 100),
    cost: (_p, _m, u) => (u.promptTokens + u.completionTokens) / 1e3,
    record: (row) => void rows.push(row),
    spend: async () => 1,
  };
  const interceptor = quotaInterceptor({ counters: new FailingCounters(), accounting, onFailure: quotaFailureSink(log as never, registry) });
  const values = createContextValues();
  const message = create(ChatRequestSchema, { endpoint: "chat", messages: [{ role: "user", content: "one two three" }] });
  // What the interceptors before quota set: callContext, tracing, bounds, auth.
  openScope(values, state, false, message);
  values.set(callIdsKey, { requestId: "r-fail", traceparent: "" });
  values.set(callEndpointKey, { name: "chat", endpoint: state.endpoints.get("chat") });
  values.set(callerKey, { principal });
  const req = {
    stream: false,
    service: ChatService,
    method: ChatService.method.chat,
    message,
    contextValues: values,
    signal: new AbortController().signal,
    header: new Headers({ authorization: "Bearer sk-secret-never-logged" }),
  } as unknown as UnaryRequest;
  const next = async (): Promise<UnaryResponse> => {
    const ctx = { values, signal: req.signal, requestHeader: new Headers(), responseHeader: new Headers(), responseTrailer: new Headers(), method: ChatService.method.chat } as unknown as HandlerContext;
    const { outcome } = beginEndpointCall({ getState: () => state }, ctx, "chat", "llm/v1/chat");
    recordAnswer(outcome, { usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 } });
    return { stream: false, service: ChatService, method: ChatService.method.chat, header: new Headers(), trailer: new Headers(), message: {} } as unknown as UnaryResponse;
  };
  const res = await interceptor(next as never)(req);
  // Settlement is not awaited by the call: wait (bounded) for its outcome to be reported.
  for (let i = 0; i < 100 && logs.filter((l) => l.fields.reason === "settle").length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  return { res, logs, registry, rows };
}

describe("quota: failed counter updates are logged and counted", () => {
  it("a failed seed and failed settlements each log the endpoint, key and counter, and count by reason", async () => {
    const { res, logs, registry, rows } = await answeredCall();
    expect(res.stream).toBe(false); // the call itself answered
    expect(rows).toEqual([expect.objectContaining({ status: "ok", promptTokens: 3, completionTokens: 4 })]);

    const seed = logs.filter((l) => l.fields.reason === "seed");
    const settle = logs.filter((l) => l.fields.reason === "settle");
    expect(seed).toHaveLength(1);
    expect(seed[0]!.fields).toMatchObject({ endpoint: "chat", keyId: "key_fail", team: "t", err: "counters backend: connection reset" });
    expect(seed[0]!.fields.counter).toMatch(/^usd:key:key_fail:/);
    expect(seed[0]!.msg).toMatch(/not seeded/);
    // The token and spend reservations both differ from the real usage: two corrections, both failed.
    expect(settle.map((l) => String(l.fields.counter).split(":")[0]).sort()).toEqual(["tpm", "usd"]);
    for (const l of settle) expect(l.fields).toMatchObject({ endpoint: "chat", keyId: "key_fail", team: "t" });
    expect(JSON.stringify(logs)).not.toContain("sk-secret");

    const text = await registry.metrics();
    expect(text).toContain('modelgate_quota_settle_failures_total{reason="settle"} 2');
    expect(text).toContain('modelgate_quota_settle_failures_total{reason="seed"} 1');
  });

  it("the metric starts at 0 for both reasons, so an alert on its rate has a series from the start", async () => {
    const registry = new Registry();
    quotaFailureSink({ error: () => undefined } as never, registry);
    const text = await registry.metrics();
    expect(text).toContain('modelgate_quota_settle_failures_total{reason="settle"} 0');
    expect(text).toContain('modelgate_quota_settle_failures_total{reason="seed"} 0');
  });
});
