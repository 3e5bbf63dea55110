// A plain ledger row for store tests: one OpenAI chat call of key_1, 1 + 2 tokens, 0.25 USD, ok.
import type { LedgerRow } from "../../src/store/types";

export function ledgerRow(requestId: string, overrides: Partial<LedgerRow> = {}): LedgerRow {
  return {
    time: new Date(1_750_000_000_000),
    requestId,
    keyId: "key_1",
    team: "t",
    endpoint: "chat",
    provider: "openai",
    model: "gpt-4o-mini",
    modelVersion: "",
    promptTokens: 1,
    completionTokens: 2,
    costUsd: 0.25,
    status: "ok",
    latencyMs: 1,
    streamed: false,
    ...overrides,
  };
}
