import { describe, expect, it } from "vitest";
import { httpProviders } from "../../src/providers/registry";
import { defaultPrices } from "../../src/usage/default-prices";
import { compilePrices, costUsd, globToRegExp, pricesSchema, type PriceEntry } from "../../src/usage/prices";

const defaults = compilePrices([]);

function rates(provider: string, model: string, table = defaults) {
  const p = table.priceFor(provider, model);
  return p && { input: p.inputPerMtok, output: p.outputPerMtok, cached: p.cachedInputPerMtok, source: p.source };
}

describe("shipped default prices", () => {
  it("are a valid prices: table (same schema as the config), without duplicates", () => {
    const parsed = pricesSchema.safeParse(defaultPrices);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
    expect(defaultPrices.length).toBeGreaterThan(150);
  });

  it("name only providers the gateway has", () => {
    const providers = new Set(defaultPrices.map((e) => e.provider));
    for (const p of providers) expect(httpProviders.has(p), p).toBe(true);
  });

  it.each([
    ["openai", "gpt-4o", 2.5, 10, 1.25],
    ["openai", "gpt-4o-2024-08-06", 2.5, 10, 1.25],
    ["openai", "gpt-4o-2024-05-13", 5, 15, undefined], // the launch snapshot kept its own price
    ["openai", "gpt-4o-mini-2024-07-18", 0.15, 0.6, 0.075], // not gpt-4o's dated-snapshot glob
    ["openai", "gpt-4.1-nano-2025-04-14", 0.1, 0.4, 0.025],
    ["openai", "o3-mini", 1.1, 4.4, 0.55],
    ["openai", "o4-mini-2025-04-16", 1.1, 4.4, 0.275],
    ["openai", "gpt-5.4", 2.5, 15, 0.25],
    ["azure-openai", "gpt-4.1", 2, 8, 0.5],
    ["openai", "text-embedding-3-small", 0.02, 0, undefined],
    ["anthropic", "claude-sonnet-4-5-20250929", 3, 15, 0.3],
    ["anthropic", "claude-opus-4-5-20251101", 5, 25, 0.5],
    ["anthropic", "claude-opus-4-20250514", 15, 75, 1.5], // Opus 4(.0) is not Opus 4.5
    ["anthropic", "claude-opus-4-1-20250805", 15, 75, 1.5],
    ["anthropic", "claude-haiku-4-5", 1, 5, 0.1],
    ["gemini", "gemini-2.5-flash-lite", 0.1, 0.4, 0.01], // not gemini-2.5-flash
    ["gemini", "gemini-2.5-pro-preview-06-05", 1.25, 10, 0.125],
    ["mistral", "mistral-large-latest", 0.5, 1.5, undefined],
    ["cohere", "command-a-03-2025", 2.5, 10, undefined],
    ["cohere", "embed-v4.0", 0.12, 0, undefined],
    ["bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 3, 15, 0.3],
    ["bedrock", "global.anthropic.claude-opus-4-20250514-v1:0", 15, 75, 1.5],
    ["amazon-bedrock", "anthropic.claude-opus-4-6-v1", 5, 25, 0.5],
    ["bedrock", "us.amazon.nova-micro-v1:0", 0.035, 0.14, 0.00875],
    ["bedrock", "amazon.titan-embed-text-v2:0", 0.02, 0, undefined],
  ])("%s %s: $%s in, $%s out per Mtok", (provider, model, input, output, cached) => {
    expect(rates(provider, model)).toEqual({ input, output, cached, source: "default" });
  });

  it("leave unknown models unknown rather than guessing from a family name", () => {
    for (const [provider, model] of [
      ["openai", "gpt-4o-audio-preview"], // priced per audio token, not here
      ["openai", "gpt-5.9"], // a future model: not gpt-5's price
      ["anthropic", "claude-opus-4-9"],
      ["gemini", "gemini-2.5-flash-image"],
      ["groq", "gpt-4o"], // the right model at another provider is another price
      ["bedrock", "amazonXtitan-embed-text-v2:0"], // "." is literal in globs
    ]) {
      expect(defaults.priceFor(provider!, model!), `${provider}/${model}`).toBeUndefined();
    }
  });
});

describe("compilePrices: config over defaults", () => {
  const entry = (provider: string, model: string, input: number, output: number): PriceEntry => ({
    provider,
    model,
    input_per_mtok: input,
    output_per_mtok: output,
  });

  it("config entries win over shipped ones, globs included", () => {
    const table = compilePrices([entry("openai", "gpt-4o", 1, 2), entry("openai", "gpt-4.1*", 3, 4)]);
    expect(rates("openai", "gpt-4o", table)).toEqual({ input: 1, output: 2, cached: undefined, source: "config" });
    // A config glob beats even a shipped exact entry: the config is the operator's word.
    expect(rates("openai", "gpt-4.1-mini", table)?.input).toBe(3);
    // Untouched models keep the defaults.
    expect(rates("openai", "gpt-4o-mini", table)?.source).toBe("default");
  });

  it("an exact entry beats a glob, and the most specific glob wins whatever the order", () => {
    const table = compilePrices(
      [entry("acme", "m-*", 1, 1), entry("acme", "m-large-*", 2, 2), entry("acme", "m-large-v2", 3, 3), entry("*", "m-large-v9", 4, 4)],
      [],
    );
    expect(table.priceFor("acme", "m-small")?.inputPerMtok).toBe(1);
    expect(table.priceFor("acme", "m-large-v1")?.inputPerMtok).toBe(2);
    expect(table.priceFor("acme", "m-large-v2")?.inputPerMtok).toBe(3);
    // The model pattern decides first: an exact model name for any provider beats a model glob.
    expect(table.priceFor("acme", "m-large-v9")?.inputPerMtok).toBe(4);
    expect(table.priceFor("other", "m-large-v9")?.inputPerMtok).toBe(4);
    expect(table.priceFor("other", "m-large-v1")).toBeUndefined();
    expect(table.priceFor("acme", "n-large")).toBeUndefined();
  });

  it("matches provider and model names case-insensitively and reports what matched", () => {
    const table = compilePrices([entry("OpenAI", "GPT-4o*", 1, 1)]);
    expect(table.priceFor("openai", "gpt-4o-2024-08-06")).toMatchObject({ source: "config", matched: "OpenAI/GPT-4o*" });
    expect(defaults.priceFor("OPENAI", "GPT-4O")?.inputPerMtok).toBe(2.5);
  });

  it("globs: * any run, ? one character, everything else literal", () => {
    expect(globToRegExp("a?c*").test("abcdef")).toBe(true);
    expect(globToRegExp("a?c*").test("ac")).toBe(false);
    expect(globToRegExp("x.y+z(1)").test("x.y+z(1)")).toBe(true);
    expect(globToRegExp("x.y").test("xzy")).toBe(false);
  });
});

describe("costUsd", () => {
  const gpt4o = defaults.priceFor("openai", "gpt-4o");

  it("prices prompt and completion tokens per million", () => {
    expect(costUsd({ promptTokens: 1_000, completionTokens: 500 }, gpt4o)).toBe(0.0075);
    expect(defaults.costUsd("anthropic", "claude-opus-4-5", { promptTokens: 2_000_000, completionTokens: 100_000 })).toBe(12.5);
    expect(costUsd({ promptTokens: 0, completionTokens: 0 }, gpt4o)).toBe(0);
  });

  it("bills cached prompt tokens at the cached rate (never more of them than the prompt)", () => {
    // 600 fresh at $2.50 + 400 cached at $1.25 + 500 out at $10.
    expect(costUsd({ promptTokens: 1_000, completionTokens: 500, cachedPromptTokens: 400 }, gpt4o)).toBe(0.007);
    expect(costUsd({ promptTokens: 100, completionTokens: 0, cachedPromptTokens: 1_000 }, gpt4o)).toBe(0.000125);
    // No cached rate: cached tokens cost the input rate.
    const o1pro = defaults.priceFor("openai", "o1-pro");
    expect(costUsd({ promptTokens: 1_000, completionTokens: 0, cachedPromptTokens: 1_000 }, o1pro)).toBe(0.15);
  });

  it("switches the whole call to the long-context rates above the threshold", () => {
    const pro = defaults.priceFor("gemini", "gemini-2.5-pro");
    expect(costUsd({ promptTokens: 200_000, completionTokens: 1_000 }, pro)).toBe(0.26); // 0.25 + 0.01
    expect(costUsd({ promptTokens: 200_001, completionTokens: 1_000 }, pro)).toBe(0.5150025); // 2.5/M + 15/M
  });

  it("is null, never 0, when the price or the counts are unknown", () => {
    expect(costUsd({ promptTokens: 1_000, completionTokens: 500 }, undefined)).toBeNull();
    expect(defaults.costUsd("openai", "no-such-model", { promptTokens: 1, completionTokens: 1 })).toBeNull();
    expect(costUsd({ promptTokens: Number.NaN, completionTokens: 1 }, gpt4o)).toBeNull();
    expect(costUsd({ promptTokens: -1, completionTokens: 1 }, gpt4o)).toBeNull();
  });

  it("keeps sub-cent costs exact to the picodollar (no float noise)", () => {
    const micro = defaults.priceFor("bedrock", "amazon.nova-micro-v1:0");
    expect(costUsd({ promptTokens: 1, completionTokens: 1 }, micro)).toBe(0.000000175);
    const tenCents = compilePrices([{ provider: "p", model: "m", input_per_mtok: 0.1, output_per_mtok: 0 }]).priceFor("p", "m");
    expect(costUsd({ promptTokens: 3, completionTokens: 0 }, tenCents)).toBe(0.0000003); // not 3.0000000000000004e-7
  });
});

describe("pricesSchema", () => {
  it("defaults to an empty table", () => {
    expect(pricesSchema.parse(undefined)).toEqual([]);
  });

  it.each([
    [[{ provider: "openai", model: "gpt-4o", input_per_mtok: -1, output_per_mtok: 1 }], "0.input_per_mtok", "must be >= 0"],
    [[{ provider: "openai", model: "", input_per_mtok: 1, output_per_mtok: 1 }], "0.model", "a model name or glob is required"],
    [[{ provider: "openai", model: "gpt-4o", input_per_mtok: 1 }], "0.output_per_mtok", ""],
    [[{ provider: "openai", model: "gpt-4o", input_per_mtok: 1, output_per_mtok: 1, cost: 2 }], "0", "cost"],
    [
      [
        { provider: "openai", model: "gpt-4o", input_per_mtok: 1, output_per_mtok: 1 },
        { provider: "OpenAI", model: "GPT-4o", input_per_mtok: 2, output_per_mtok: 2 },
      ],
      "1.model",
      'duplicate price for provider "OpenAI" model "GPT-4o" (first at prices[0])',
    ],
    [
      [
        {
          provider: "gemini",
          model: "g",
          input_per_mtok: 1,
          output_per_mtok: 1,
          long_context: { above_prompt_tokens: 0, input_per_mtok: 1, output_per_mtok: 1 },
        },
      ],
      "0.long_context.above_prompt_tokens",
      "",
    ],
  ])("refuses %j at %s", (value, path, message) => {
    const parsed = pricesSchema.safeParse(value);
    expect(parsed.success).toBe(false);
    const issue = parsed.error!.issues[0]!;
    expect(issue.path.join(".")).toBe(path);
    expect(issue.message).toContain(message);
  });
});
