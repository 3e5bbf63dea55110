// Guardrail detectors, the `policies:` config's errors, and the context-window table.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import { configSchema } from "../../src/config/schema";
import { checkText, compileGuardRule, ibanValid, luhnValid, type GuardDecision } from "../../src/policies/guardrails";
import { guardRuleSchema } from "../../src/policies/config";
import { compileContextPolicy, fitChat } from "../../src/policies/context";
import { cacheKey, decodeEntry, encodeEntry, MemoryCacheStore } from "../../src/policies/cache";
import { contextLimitsOf } from "../../src/usage/context-windows";

const pii = (kinds?: string[]) => [compileGuardRule(guardRuleSchema.parse({ type: "pii", ...(kinds ? { kinds } : {}) }))];

describe("checksums", () => {
  it("Luhn: test card numbers pass, one digit off fails", () => {
    expect(luhnValid("4111 1111 1111 1111")).toBe(true);
    expect(luhnValid("5500-0000-0000-0004")).toBe(true);
    expect(luhnValid("378282246310005")).toBe(true);
    expect(luhnValid("4111 1111 1111 1112")).toBe(false);
    expect(luhnValid("123")).toBe(false);
  });
  it("IBAN mod 97", () => {
    expect(ibanValid("DE89 3704 0044 0532 0130 00")).toBe(true);
    expect(ibanValid("GB82WEST12345698765432")).toBe(true);
    expect(ibanValid("GB82WEST12345698765433")).toBe(false);
  });
});

describe("PII detection", () => {
  const redact = (text: string, kinds?: string[]) => {
    const decisions: GuardDecision[] = [];
    return { text: checkText(pii(kinds), text, decisions), decisions };
  };
  it("redacts each kind and says how many, never what", () => {
    const out = redact("a@b.io and c.d+e@x.co.uk; GB82WEST12345698765432; ghp_" + "a".repeat(36) + "; AKIAABCDEFGHIJKLMNOP");
    expect(out.text).toBe("[REDACTED:pii.email] and [REDACTED:pii.email]; [REDACTED:pii.iban]; [REDACTED:pii.secret]; [REDACTED:pii.secret]");
    expect(out.decisions).toEqual([
      { reason: "pii.secret", action: "redact", count: 2 },
      { reason: "pii.email", action: "redact", count: 2 },
      { reason: "pii.iban", action: "redact", count: 1 },
    ]);
  });
  it("leaves numbers that are not PII: dates, short numbers, versions, failed checksums", () => {
    const text = "on 2026-12-06 at 10:30, version 1.2.3, order 12345, total 99.95, card 4111 1111 1111 1112";
    expect(redact(text).text).toBe(text);
  });
  it("finds phone numbers in common international and grouped forms", () => {
    expect(redact("+1 415 555 2671 or (020) 7946 0958 or +33612345678", ["phone"]).text).toBe(
      "[REDACTED:pii.phone] or [REDACTED:pii.phone] or [REDACTED:pii.phone]",
    );
  });
  it("a private key block", () => {
    expect(redact("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- done").text).toBe("[REDACTED:pii.secret] done");
  });
});

describe("deny lists and regexes", () => {
  it("deny-list terms match whole words, any case and spacing", () => {
    const rule = compileGuardRule(guardRuleSchema.parse({ type: "deny_list", terms: ["project zeus"], reason: "confidential" }));
    const d: GuardDecision[] = [];
    checkText([rule], "about PROJECT   Zeus.", d);
    expect(d).toEqual([{ reason: "confidential", action: "block", count: 1 }]);
    const none: GuardDecision[] = [];
    checkText([rule], "about projectzeus", none);
    expect(none).toEqual([]);
  });
  it("flag leaves the text as it is", () => {
    const rule = compileGuardRule(guardRuleSchema.parse({ type: "regex", pattern: "b+", action: "flag", reason: "bees" }));
    const d: GuardDecision[] = [];
    expect(checkText([rule], "abba bb", d)).toBe("abba bb");
    expect(d).toEqual([{ reason: "bees", action: "flag", count: 2 }]);
  });
});

describe("policies config", () => {
  const endpoint = (policies: unknown) => ({
    endpoints: [{ name: "e", endpoint_type: "llm/v1/chat", model: { provider: "echo", name: "echo-1" }, policies }],
  });
  it("names the path of a bad regex, an unknown strategy and an unknown key", () => {
    const issues = (p: unknown) => configSchema.safeParse(endpoint(p)).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    expect(issues({ guardrails: { input: [{ type: "regex", pattern: "(" }] } })?.[0]).toMatch(
      /^endpoints\.0\.policies\.guardrails\.input\.0: not a valid regular expression/,
    );
    expect(issues({ context: { on_overflow: "truncate" } })?.[0]).toMatch(/^endpoints\.0\.policies\.context\.on_overflow: /);
    expect(issues({ cache: { ttl: 5 } })?.[0]).toMatch(/^endpoints\.0\.policies\.cache: Unrecognized key: "ttl"/);
    expect(issues({ cache: { redis_url: "http://x" } })?.[0]).toBe("endpoints.0.policies.cache.redis_url: expected a redis:// or rediss:// URL");
  });
});

describe("context windows", () => {
  it("knows common models, dated snapshots and Bedrock ids; not unknown ones", () => {
    expect(contextLimitsOf("openai", "gpt-4o-mini-2024-07-18")).toEqual({ contextTokens: 128_000, maxOutputTokens: 16_384 });
    expect(contextLimitsOf("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")?.contextTokens).toBe(200_000);
    expect(contextLimitsOf("gemini", "gemini-2.5-flash")?.contextTokens).toBe(1_048_576);
    expect(contextLimitsOf("echo", "echo-1")).toBeUndefined();
  });
});

describe("context strategies", () => {
  const chat = (messages: { role: string; content: string; toolCallId?: string; toolCalls?: { id: string }[] }[]) =>
    create(ChatRequestSchema, { endpoint: "e", messages: messages.map((m) => ({ ...m, toolCalls: (m.toolCalls ?? []).map((c) => ({ id: c.id, type: "function", function: { name: "f", arguments: "{}" } })) })) });
  const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(" ");

  it("route: sends on what fits a larger target's window, refuses what fits none", () => {
    const policy = compileContextPolicy({ on_overflow: "route" }, [
      { provider: "openai", model: "gpt-3.5-turbo" },
      { provider: "openai", model: "gpt-4o-mini" },
    ])!;
    expect(policy.limits.contextTokens).toBe(16_385);
    const big = chat([{ role: "user", content: words(10_000) }]);
    const routed = fitChat(policy, "e", big);
    expect(routed.outcome).toBe("routed");
    expect(routed.params).toBe(big);
    const huge = chat([{ role: "user", content: words(70_000) }]);
    expect(() => fitChat(policy, "e", huge)).toThrow(/> 128,000 tokens of gpt-4o-mini on endpoint "e" \(no target of the endpoint has a larger window\)/);
  });

  it("drop_oldest drops a tool result with the call it answered", () => {
    const policy = compileContextPolicy({ on_overflow: "drop_oldest", context_window: 80 }, [{ provider: "echo", model: "echo-1" }])!;
    const out = fitChat(policy, "e", chat([
      { role: "system", content: "s" },
      { role: "assistant", content: words(30), toolCalls: [{ id: "call_1" }] },
      { role: "tool", content: "result", toolCallId: "call_1" },
      { role: "user", content: "now" },
    ]));
    expect(out.outcome).toBe("trimmed");
    expect(out.params.messages.map((m) => m.role)).toEqual(["system", "user"]);
  });

  it("no window known and none configured: no check", () => {
    expect(compileContextPolicy({ on_overflow: "refuse" }, [{ provider: "echo", model: "echo-1" }])).toBeUndefined();
  });
});

describe("memory cache store", () => {
  it("evicts the least recently used entries past its byte bound", async () => {
    const store = new MemoryCacheStore(100);
    const v = (n: number) => Buffer.alloc(n, 1);
    await store.set("a", v(30), 60_000);
    await store.set("b", v(30), 60_000);
    await store.get("a"); // a is now the most recent
    await store.set("c", v(30), 60_000); // 3 x 31 bytes (value + key) fit
    await store.set("d", v(30), 60_000); // over: b goes
    expect(await store.get("b")).toBeUndefined();
    expect((await store.get("a"))?.length).toBe(30);
    expect(store.size.bytes).toBeLessThanOrEqual(100);
    await store.set("huge", v(200), 60_000); // larger than the bound: not stored, nothing evicted
    expect(await store.get("huge")).toBeUndefined();
    expect(store.size.entries).toBe(3);
  });
  it("an expired entry is a miss and frees its bytes", async () => {
    const store = new MemoryCacheStore(1000);
    await store.set("k", Buffer.alloc(10), 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(await store.get("k")).toBeUndefined();
    expect(store.size).toEqual({ entries: 0, bytes: 0 });
  });
  it("entries round-trip and a corrupt one is refused", () => {
    const e = encodeEntry([new Uint8Array([1, 2]), new Uint8Array([])]);
    expect(decodeEntry(e)?.map((m) => [...m])).toEqual([[1, 2], []]);
    expect(decodeEntry(e.subarray(0, e.length - 1))).toBeUndefined();
    expect(decodeEntry(Buffer.from("xy"))).toBeUndefined();
  });
  it("the key ignores field order", () => {
    const a = cacheKey({ endpoint: "e", models: ["m"], stream: false, request: { x: 1, y: { b: 2, a: 1 } } });
    const b = cacheKey({ endpoint: "e", models: ["m"], stream: false, request: { y: { a: 1, b: 2 }, x: 1 } });
    expect(a).toBe(b);
    expect(cacheKey({ endpoint: "e", models: ["m"], stream: true, request: { x: 1, y: { b: 2, a: 1 } } })).not.toBe(a);
  });
});
