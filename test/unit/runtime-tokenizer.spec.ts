// countsTokensUpFront decides whether the gateway builds the tokenizer (~40 MB) in the background
// at start: only when a call may need a token count before it is answered.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import { buildRuntimeState, countsTokensUpFront } from "../../src/runtime";
import { UpstreamClient } from "../../src/upstream/client";

const endpoint = (extra = "") => `
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
${extra}`;

function counts(yaml: string): boolean {
  const config = parseConfig(yaml, "t.yaml", modelFactories, {});
  return countsTokensUpFront(buildRuntimeState(config, modelFactories, new UpstreamClient({ timeoutMs: 1_000 })));
}

describe("countsTokensUpFront", () => {
  it("is false for the default shape: auth off, call limits only", () => {
    expect(counts(`auth: { enabled: false }\n${endpoint("    limit: { renewal_period: minute, calls: 600 }")}`)).toBe(false);
  });

  it("is true for an endpoint token limit", () => {
    expect(counts(`auth: { enabled: false }\n${endpoint("    limit: { renewal_period: minute, calls: 600, tokens: 1000 }")}`)).toBe(true);
  });

  it("is true for a context-window policy (with a known window)", () => {
    expect(counts(`auth: { enabled: false }\n${endpoint("    policies: { context: { on_overflow: refuse } }")}`)).toBe(false); // echo: no window known, so no policy
    expect(counts(`auth: { enabled: false }\n${endpoint("    policies: { context: { on_overflow: refuse, context_window: 8192 } }")}`)).toBe(true);
  });

  it("is true for a team with a token or spend limit, not for a team with a request limit only", () => {
    expect(counts(`auth: { enabled: false }\nteams: { search: { rpm: 10 } }\n${endpoint()}`)).toBe(false);
    expect(counts(`auth: { enabled: false }\nteams: { search: { tpm: 1000 } }\n${endpoint()}`)).toBe(true);
    expect(counts(`auth: { enabled: false }\nteams: { search: { budget_usd: 5 } }\n${endpoint()}`)).toBe(true);
  });

  it("is true with auth on (store keys and JWT callers may carry limits)", () => {
    const key = "k".repeat(40);
    expect(counts(`auth: { enabled: true, keys: [{ name: a, key: ${key} }] }\n${endpoint()}`)).toBe(true);
  });
});
