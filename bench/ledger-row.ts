// The ledger row the ledger benches write: a successful OpenAI chat through the full path, as the
// quota interceptor records it, with the request id given.
import type { LedgerRow } from "../src/store/types";

export function benchLedgerRow(requestId: string): LedgerRow {
  return {
    time: new Date(),
    requestId,
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    keyId: "cfg:bench",
    team: "bench",
    endpoint: "chat",
    provider: "openai",
    model: "gpt-4o-mini",
    modelVersion: "",
    target: "",
    promptTokens: 20,
    completionTokens: 30,
    cachedPromptTokens: 0,
    reasoningTokens: 0,
    costUsd: 0.00001,
    status: "ok",
    latencyMs: 1.2,
    streamed: false,
    template: "",
    cache: "",
    costSavedUsd: null,
    guardrails: "",
  };
}
