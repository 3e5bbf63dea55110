// Cached and reasoning tokens an OpenAI upstream reports reach the ledger, and the cached part of
// the prompt is billed at the cached-input price (gpt-4o: $2.50 input, $1.25 cached, $10 output
// per million tokens in the shipped table), unary and streamed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LedgerRow } from "../../src/store/types";
import { type ScriptedUpstream, startScriptedUpstream } from "../conformance/scripted-upstream";
import { startGateway, type TestGateway } from "./harness";

const key = "sk-usage-ledger-000001";
let up: ScriptedUpstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startScriptedUpstream();
  gw = await startGateway(
    `
auth: { enabled: true, keys: [{ name: app, key: $APP_KEY }] }
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o, config: { openai_api_key: sk-upstream-0000, openai_api_base: "${up.url}/v1" } } }
`,
    { APP_KEY: key },
  );
});
afterAll(async () => {
  await gw?.close();
  await up?.close();
});

const usage = {
  prompt_tokens: 1000,
  completion_tokens: 100,
  total_tokens: 1100,
  prompt_tokens_details: { cached_tokens: 800 },
  completion_tokens_details: { reasoning_tokens: 40 },
};
// 200 uncached × 2.5 + 800 cached × 1.25 + 100 output × 10, per million.
const expectedCost = (200 * 2.5 + 800 * 1.25 + 100 * 10) / 1_000_000;

async function call(body: Record<string, unknown>, requestId: string): Promise<string> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-request-id": requestId },
    body: JSON.stringify({ model: "gpt", messages: [{ role: "user", content: "hi" }], ...body }),
  });
  expect(res.status).toBe(200);
  return res.text();
}

async function row(requestId: string): Promise<LedgerRow | undefined> {
  await gw.gateway.flushLedger();
  for await (const r of gw.gateway.store.ledger.rows({})) if (r.requestId === requestId) return r;
  return undefined;
}

describe("cached and reasoning tokens", () => {
  it("unary: in the answer's usage, in the ledger row, and billed at the cached price", async () => {
    up.next("/v1/chat/completions", {
      json: {
        id: "chatcmpl-1",
        object: "chat.completion",
        created: 1741570283,
        model: "gpt-4o-2024-08-06",
        choices: [{ index: 0, message: { role: "assistant", content: "ok", refusal: null }, logprobs: null, finish_reason: "stop" }],
        usage,
      },
    });
    const answer = JSON.parse(await call({}, "ledger-unary")) as { usage: unknown };
    expect(answer.usage).toEqual(usage);
    expect(await row("ledger-unary")).toMatchObject({ promptTokens: 1000, cachedPromptTokens: 800, completionTokens: 100, reasoningTokens: 40 });
    expect((await row("ledger-unary"))?.costUsd).toBeCloseTo(expectedCost, 12);
  });

  it("streamed: from the usage chunk", async () => {
    const base = { id: "chatcmpl-2", object: "chat.completion.chunk", created: 1741570283, model: "gpt-4o-2024-08-06" };
    up.next("/v1/chat/completions", {
      sse: [
        { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "ok" }, logprobs: null, finish_reason: null }] },
        { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }] },
        { ...base, choices: [], usage },
      ],
    });
    const text = await call({ stream: true, stream_options: { include_usage: true } }, "ledger-stream");
    expect(text).toContain('"cached_tokens":800');
    expect(await row("ledger-stream")).toMatchObject({ cachedPromptTokens: 800, reasoningTokens: 40 });
    expect((await row("ledger-stream"))?.costUsd).toBeCloseTo(expectedCost, 12);
  });
});
