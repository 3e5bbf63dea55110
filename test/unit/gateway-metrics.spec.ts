// GatewayMetrics and the call-metrics interceptor: TTFT/TPOT and active streams from a real
// server stream (an in-memory router transport), bounded team labels, retries and fallbacks,
// and the OpenMetrics rendering (exemplars with the trace id; counters keep `_total` in both formats).
import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { createClient, createContextValues, createRouterTransport, ConnectError, Code, type StreamRequest, type StreamResponse } from "@connectrpc/connect";
import { ChatService, ChatResponseSchema, StreamChatResponseSchema } from "../../gen/modelgate/v1/chat_pb";
import { callEndpointKey, callIdsKey, getCallScope, openScope } from "../../src/interceptors/call-info";
import { callMetricsInterceptor, traceIdOf } from "../../src/interceptors/call-metrics";
import { GatewayMetrics } from "../../src/observability/metrics";
import type { RuntimeState } from "../../src/runtime";

const traceId = "0af7651916cd43dd8448eb211c80319c";
const traceparent = `00-${traceId}-b7ad6b7169203331-01`;

function metricsWith(teams: string[] = []) {
  return new GatewayMetrics({
    ledger: () => ({ queued: 0, written: 0, failedAppends: 0, rejected: 0, sanitized: 0, poisoned: 0, overloaded: false }),
    config: () => ({ endpoints: new Map([["chat", {}]]), teams: new Map(teams.map((t) => [t, { budgetUsd: 10, budgetPeriod: "day" }])) }),
  });
}

/** A Chat service behind the interceptor; the per-call values set as the outer interceptors would. */
function chatThrough(metrics: GatewayMetrics, words: string[], fail?: ConnectError) {
  const transport = createRouterTransport(
    (router) =>
      router.service(ChatService, {
        chat: () => create(ChatResponseSchema, {}),
        async *streamChat(_req, ctx) {
          const outcome = getCallScope(ctx.values)!.outcome;
          outcome.target = "primary";
          for (const w of words) {
            await new Promise((r) => setTimeout(r, 5));
            yield create(StreamChatResponseSchema, { choices: [{ delta: { role: "assistant", content: w } }] });
          }
          if (fail) throw fail;
          outcome.usage = { promptTokens: 3, completionTokens: words.length, totalTokens: 3 + words.length };
        },
      }),
    {
      router: {
        interceptors: [
          (next) => (req) => {
            openScope(req.contextValues, {} as RuntimeState, req.stream, undefined);
            req.contextValues.set(callIdsKey, { requestId: "r1", traceparent });
            req.contextValues.set(callEndpointKey, { name: "chat", endpoint: undefined });
            return next(req);
          },
          callMetricsInterceptor(metrics),
        ],
      },
    },
  );
  return createClient(ChatService, transport);
}

async function text(metrics: GatewayMetrics, accept?: string) {
  return (await metrics.render(accept)).body;
}

describe("call metrics", () => {
  it("a stream records TTFT once, TPOT over the tokens after the first, the call, and leaves no active stream", async () => {
    const metrics = metricsWith();
    const client = chatThrough(metrics, ["a", "b", "c", "d", "e"]);
    const seen: number[] = [];
    for await (const _ of client.streamChat({ endpoint: "chat" })) {
      seen.push(1);
      // Mid-stream the gauge counts it.
      if (seen.length === 2) expect(await text(metrics)).toContain('modelgate_active_streams{endpoint="chat"} 1');
    }
    const out = await text(metrics);
    expect(out).toContain('modelgate_time_to_first_token_seconds_count{endpoint="chat",target="primary"} 1');
    expect(out).toContain('modelgate_time_per_output_token_seconds_count{endpoint="chat",target="primary"} 1');
    expect(out).toContain('modelgate_calls_total{endpoint="chat",code="ok"} 1');
    expect(out).toContain('modelgate_active_streams{endpoint="chat"} 0');
    // 4 gaps of >= 5 ms after the first token: TPOT >= ~5 ms (a lower bound only).
    const sum = Number(/modelgate_time_per_output_token_seconds_sum\{endpoint="chat",target="primary"\} (\S+)/.exec(out)![1]);
    expect(sum).toBeGreaterThan(0.003);
  });

  it("a stream that fails counts its code and no TPOT", async () => {
    const metrics = metricsWith();
    const client = chatThrough(metrics, ["a", "b"], new ConnectError("upstream broke", Code.Unavailable));
    await expect(async () => {
      for await (const _ of client.streamChat({ endpoint: "chat" })) void _;
    }).rejects.toThrow(/upstream broke/);
    const out = await text(metrics);
    expect(out).toContain('modelgate_calls_total{endpoint="chat",code="Unavailable"} 1');
    expect(out).toContain('modelgate_time_to_first_token_seconds_count{endpoint="chat",target="primary"} 1');
    expect(out).not.toContain("modelgate_time_per_output_token_seconds_count{");
    expect(out).toContain('modelgate_active_streams{endpoint="chat"} 0');
  });

  it("a reader that stops early, or never reads, ends the stream once or not at all; the stream underneath is ended", async () => {
    const metrics = metricsWith();
    let ended = 0;
    async function* words() {
      try {
        for (const w of ["a", "b", "c", "d"]) yield create(StreamChatResponseSchema, { choices: [{ delta: { content: w } }] });
      } finally {
        ended++;
      }
    }
    // The interceptor called as connect calls it, on a request with the values the outer interceptors set.
    const call = async () => {
      const contextValues = createContextValues();
      openScope(contextValues, {} as RuntimeState, true, undefined);
      getCallScope(contextValues)!.outcome.target = "primary";
      contextValues.set(callIdsKey, { requestId: "r1", traceparent });
      contextValues.set(callEndpointKey, { name: "chat", endpoint: undefined });
      const req = { stream: true, service: ChatService, method: ChatService.method.streamChat, contextValues, signal: new AbortController().signal } as unknown as StreamRequest;
      const next = async () => ({ stream: true, message: words() }) as unknown as StreamResponse;
      return (await callMetricsInterceptor(metrics)(next as never)(req)) as StreamResponse;
    };
    let n = 0;
    for await (const _ of (await call()).message) {
      void _;
      if (++n === 2) break; // return(): reported once, and passed on to the stream
    }
    expect(ended).toBe(1);
    let out = await text(metrics);
    expect(out).toContain('modelgate_time_to_first_token_seconds_count{endpoint="chat",target="primary"} 1');
    expect(out).toContain('modelgate_calls_total{endpoint="chat",code="ok"} 1');
    expect(out).toContain('modelgate_active_streams{endpoint="chat"} 0');
    // A stream never read reports nothing (as a generator never started runs no finally).
    const unread = (await call()).message[Symbol.asyncIterator]();
    await unread.return?.();
    out = await text(metrics);
    expect(out).toContain('modelgate_calls_total{endpoint="chat",code="ok"} 1');
    expect(out).toContain('modelgate_active_streams{endpoint="chat"} 0');
  });

  it("OpenMetrics carries the trace id as exemplar; the text format after it still names counters with _total", async () => {
    const metrics = metricsWith();
    await chatThrough(metrics, ["x", "y"]).chat({ endpoint: "chat" });
    const om = await metrics.render("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");
    expect(om.contentType).toMatch(/^application\/openmetrics-text/);
    expect(om.body).toMatch(new RegExp(`modelgate_call_duration_seconds_bucket\\{le="[^"]+",endpoint="chat"\\} 1 # \\{trace_id="${traceId}"\\}`));
    expect(om.body).toContain('modelgate_calls_total{endpoint="chat",code="ok"} 1');
    expect(om.body.endsWith("# EOF\n")).toBe(true);
    const plain = await metrics.render(undefined);
    expect(plain.contentType).toMatch(/^text\/plain/);
    expect(plain.body).toContain('modelgate_calls_total{endpoint="chat",code="ok"} 1');
    expect(plain.body).not.toContain("# {trace_id");
  });

  it("traceIdOf reads a W3C traceparent, nothing else", () => {
    expect(traceIdOf(traceparent)).toBe(traceId);
    expect(traceIdOf(undefined)).toBeUndefined();
    expect(traceIdOf("garbage")).toBeUndefined();
  });
});

describe("GatewayMetrics labels", () => {
  it("teams: config teams by name, 50 others by name, then 'other'; no team is '(none)'; unknown endpoints are '(unknown)'", async () => {
    const metrics = metricsWith(["red"]);
    const row = (team: string, endpoint = "chat") => ({ endpoint, team, promptTokens: 1, completionTokens: 2, costUsd: 0.5 });
    metrics.recordUsage(row("red"));
    metrics.recordUsage(row(""));
    for (let i = 0; i < 60; i++) metrics.recordUsage(row(`key-team-${i}`, "made-up"));
    const out = await text(metrics);
    expect(out).toContain('modelgate_team_cost_usd_total{team="red"} 0.5');
    expect(out).toContain('modelgate_team_cost_usd_total{team="(none)"} 0.5');
    expect(out).toContain('modelgate_team_cost_usd_total{team="key-team-49"} 0.5');
    expect(out).not.toContain("key-team-50");
    expect(out).toContain('modelgate_team_cost_usd_total{team="other"} 5');
    expect(out).toContain('modelgate_team_tokens_total{team="other",kind="completion"} 20');
    expect(out).toContain('modelgate_tokens_total{endpoint="(unknown)",kind="prompt"} 60');
    expect(out).not.toContain("made-up");
    expect(out).toContain('modelgate_team_budget_usd{team="red",period="day"} 10');
    // 63 rows, 52 team series: a repeated name past the cap still lands in "other".
    metrics.recordUsage(row("key-team-55"));
    expect(await text(metrics)).toContain('modelgate_team_cost_usd_total{team="other"} 5.5');
  });

  it("attempts: retries and fallbacks counted apart; a breaker-open skip is no request", async () => {
    const metrics = metricsWith();
    metrics.recordAttempt("chat", "a", "server_error", "first");
    metrics.recordAttempt("chat", "a", "server_error", "retry");
    metrics.recordAttempt("chat", "b", "ok", "fallback");
    metrics.recordAttempt("chat", "c", "breaker_open", "fallback");
    const out = await text(metrics);
    expect(out).toContain('modelgate_upstream_attempts_total{endpoint="chat",target="a",outcome="server_error"} 2');
    expect(out).toContain('modelgate_upstream_retries_total{endpoint="chat",target="a"} 1');
    expect(out).toContain('modelgate_upstream_fallbacks_total{endpoint="chat",target="b"} 1');
    expect(out).not.toContain('modelgate_upstream_fallbacks_total{endpoint="chat",target="c"}');
  });
});
