// Remote guardrails without a network: the config's refusals (naming the path), the order in
// which rules run over the texts, and how a stream's chunks are held, checked and released
// (StreamRemoteGuard), with stub checks.
import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/config/schema";
import type { GuardDecision } from "../../src/policies/guardrails";
import { StreamRemoteGuard } from "../../src/policies/guardrails-flow";
import { runRemoteRules, type RemoteCheckContext, type RemoteRule } from "../../src/policies/guardrails-remote";

const endpoint = (policies: unknown, type = "llm/v1/chat") => ({
  endpoints: [{ name: "e", endpoint_type: type, model: { provider: "echo", name: "echo-1" }, policies }],
});
const issues = (p: unknown, type?: string) => configSchema.safeParse(endpoint(p, type)).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`);

const ctx: RemoteCheckContext = { side: "output", endpoint: "e", endpointType: "llm/v1/chat", keyName: "", team: "", requestId: "r", signal: new AbortController().signal, final: true };

/** A stub check: records what it was asked; blocks on "bad", redacts "secret" when it may. */
function stub(check: "moderation" | "webhook"): RemoteRule & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    check,
    mayRedact: check === "webhook",
    asked,
    async run(texts) {
      asked.push([...texts]);
      if (texts.some((t) => t.includes("bad"))) return { decisions: [{ reason: `${check}.bad`, action: "block", count: 1 }] };
      if (check === "webhook" && texts.some((t) => t.includes("secret"))) {
        return { decisions: [{ reason: "hidden", action: "redact", count: 1 }], texts: texts.map((t) => t.replaceAll("secret", "[x]")) };
      }
      return { decisions: [] };
    },
  };
}

const chunk = (text: string, index = 0) => ({ choices: [{ index, delta: { content: text } }] });
type Chunk = ReturnType<typeof chunk>;

describe("remote guardrail config", () => {
  it("accepts both types with their defaults, and names the path of what is wrong", () => {
    const ok = configSchema.parse(endpoint({ guardrails: { input: [{ type: "moderation" }, { type: "webhook", url: "http://hook.local/x" }] } }));
    expect(ok.endpoints[0]?.policies?.guardrails?.input).toEqual([
      { type: "moderation", api_base: "https://api.openai.com/v1", model: "omni-moderation-latest", action: "block", timeout_ms: 2000, on_error: "block" },
      { type: "webhook", url: "http://hook.local/x", headers: {}, timeout_ms: 1000, on_error: "block", reason: "webhook" },
    ]);
    expect(ok.endpoints[0]?.policies?.guardrails?.stream_check_chars).toBe(400);
    expect(issues({ guardrails: { input: [{ type: "moderation", action: "redact" }] } })?.[0]).toMatch(/^endpoints\.0\.policies\.guardrails\.input\.0\.action: /);
    expect(issues({ guardrails: { output: [{ type: "webhook", url: "ftp://x" }] } })?.[0]).toBe("endpoints.0.policies.guardrails.output.0.url: must be an http(s) URL");
    expect(issues({ guardrails: { input: [{ type: "webhook", url: "http://x", on_error: "ignore" }] } })?.[0]).toMatch(/^endpoints\.0\.policies\.guardrails\.input\.0\.on_error: /);
    expect(issues({ guardrails: { input: [{ type: "moderation", categories: ["Violence!"] }] } })?.[0]).toMatch(/^endpoints\.0\.policies\.guardrails\.input\.0\.categories\.0: /);
    expect(issues({ predict_schema: {} })?.[0]).toBe("endpoints.0.policies.predict_schema: only a predict endpoint takes predict_schema (this one is llm/v1/chat)");
    // Policies an endpoint type has no use for are refused, not ignored.
    expect(issues({ guardrails: { input: [{ type: "pii" }] } }, "llm/v1/embeddings")).toBeUndefined();
    expect(issues({ guardrails: { output: [{ type: "pii" }] }, cache: {} }, "llm/v1/embeddings")).toEqual([
      "endpoints.0.policies.guardrails: embeddings take input guardrails only: their output is vectors (this endpoint is llm/v1/embeddings)",
      "endpoints.0.policies.cache: the response cache is for chat and completions (this endpoint is llm/v1/embeddings)",
    ]);
    expect(issues({ guardrails: { input: [{ type: "pii" }] } }, "predict")?.[0]).toBe(
      "endpoints.0.policies.guardrails: guardrails check text: a predict endpoint takes predict_schema instead (this endpoint is predict)",
    );
  });
});

describe("runRemoteRules", () => {
  it("hands each rule the texts the one before left, and stops at a block", async () => {
    const hook = stub("webhook");
    const mod = stub("moderation");
    const redacted = await runRemoteRules([hook, mod], ["a secret", "b"], ctx);
    expect(redacted.texts).toEqual(["a [x]", "b"]);
    expect(mod.asked).toEqual([["a [x]", "b"]]);
    const blocked = await runRemoteRules([mod, hook], ["bad"], ctx);
    expect(blocked.decisions).toEqual([{ reason: "moderation.bad", action: "block", count: 1 }]);
    expect(hook.asked).toHaveLength(1);
  });
});

describe("StreamRemoteGuard", () => {
  it("holds chunks until stream_check_chars came, checks them, then releases them in order", async () => {
    const mod = stub("moderation");
    const guard = new StreamRemoteGuard<Chunk>([mod], 10, () => ctx);
    expect((await guard.push(chunk("hello "))).release).toEqual([]);
    const first = await guard.push(chunk("world, "));
    expect(first.release.map((c) => c.choices[0]?.delta.content)).toEqual(["hello ", "world, "]);
    expect((await guard.push(chunk("more"))).release).toEqual([]);
    const last = await guard.flush();
    expect(last.release.map((c) => c.choices[0]?.delta.content)).toEqual(["more"]);
    // Moderation sees each choice's text so far.
    expect(mod.asked).toEqual([["hello world, "], ["hello world, more"]]);
  });

  it("a block releases nothing of the held text", async () => {
    const guard = new StreamRemoteGuard<Chunk>([stub("moderation")], 0, () => ctx);
    await guard.push(chunk("fine "));
    await guard.push(chunk("bad words"));
    const out = await guard.flush();
    expect(out.release).toEqual([]);
    expect(out.blocked).toEqual<GuardDecision>({ reason: "moderation.bad", action: "block", count: 1 });
  });

  it("a webhook sees the new text per choice and its redaction lands in the first held chunk", async () => {
    const hook = stub("webhook");
    const guard = new StreamRemoteGuard<Chunk>([hook], 0, () => ctx);
    await guard.push(chunk("my sec", 0));
    await guard.push(chunk("ret is", 0));
    await guard.push(chunk("plain", 1));
    const out = await guard.flush();
    expect(hook.asked).toEqual([["my secret is", "plain"]]);
    expect(out.release.map((c) => c.choices[0]?.delta.content)).toEqual(["my [x] is", "", "plain"]);
  });
});
