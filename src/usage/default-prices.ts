// Shipped prices for common models, in USD per million tokens (standard on-demand tier, no batch
// or priority discounts). The config's `prices:` table overrides any of them (see prices.ts).
//
// Prices as of 2026-11-25, from the providers' public pricing pages (read through published
// copies where the page itself was not reachable):
//   OpenAI     developers.openai.com/api/docs/pricing (GPT-5.x cached and long-context tiers as
//              republished in github/docs data/tables/copilot/models-and-pricing.yml)
//   Anthropic  platform.claude.com/docs/en/about-claude/pricing ("cache hits" = cached input)
//   Google     ai.google.dev/gemini-api/docs/pricing (Standard tier; > 200k prompt tiers)
//   Mistral    mistral.ai/pricing (La Plateforme; no cached-input discount published)
//   Cohere     cohere.com/pricing (Command A / R / R+ / R7B at their published per-token rates)
//   AWS        aws.amazon.com/bedrock/pricing (on-demand, us-east-1; Anthropic models on Bedrock
//              at Anthropic's list price, Nova and Titan at Amazon's)
// Not modelled: Anthropic cache writes (1.25x/2x input), Bedrock's regional-endpoint premium,
// per-image or per-search fees, Haiku 5.5's surcharge rates on cached reads above 100k. Override
// in config when those matter to you.
//
// Globs: `X-20*` catches dated snapshots (gpt-4o-2024-08-06, claude-sonnet-4-5-20250929) without
// catching a newer family member (gpt-4o-mini has its own entries). Bedrock ids carry a region
// prefix (us., eu., global. ...) and a version suffix (-v1:0), hence `*anthropic.claude-...*`.
import type { PriceEntry } from "./prices";

interface Rates {
  input: number;
  output: number;
  cached?: number;
  /** Long-context tier: rates for the whole call when the prompt is above `above` tokens. */
  long?: { above: number; input: number; output: number; cached?: number };
}

function entry(provider: string, model: string, r: Rates): PriceEntry {
  const e: PriceEntry = { provider, model, input_per_mtok: r.input, output_per_mtok: r.output };
  if (r.cached !== undefined) e.cached_input_per_mtok = r.cached;
  if (r.long) {
    e.long_context = { above_prompt_tokens: r.long.above, input_per_mtok: r.long.input, output_per_mtok: r.long.output };
    if (r.long.cached !== undefined) e.long_context.cached_input_per_mtok = r.long.cached;
  }
  return e;
}

/** Several exact model ids at one price. */
function models(provider: string, ids: readonly string[], r: Rates): PriceEntry[] {
  return ids.map((m) => entry(provider, m, r));
}

/** A model id, exact and with dated snapshots, for each provider name. */
function family(providers: readonly string[], models: readonly string[], r: Rates, snapshots = "-20*"): PriceEntry[] {
  return providers.flatMap((p) => models.flatMap((m) => [entry(p, m, r), entry(p, `${m}${snapshots}`, r)]));
}

// `azure-openai` (and `openai` with openai_api_type azure) name deployments, not models: these
// match when deployments are named after the model, as Azure's portal suggests.
const openai = ["openai", "azure-openai"] as const;

const openaiPrices: PriceEntry[] = [
  ...family(openai, ["gpt-4o"], { input: 2.5, cached: 1.25, output: 10 }),
  // The first GPT-4o snapshot kept its launch price.
  ...openai.map((p) => entry(p, "gpt-4o-2024-05-13", { input: 5, output: 15 })),
  ...family(openai, ["gpt-4o-mini"], { input: 0.15, cached: 0.075, output: 0.6 }),
  ...family(openai, ["gpt-4.1"], { input: 2, cached: 0.5, output: 8 }),
  ...family(openai, ["gpt-4.1-mini"], { input: 0.4, cached: 0.1, output: 1.6 }),
  ...family(openai, ["gpt-4.1-nano"], { input: 0.1, cached: 0.025, output: 0.4 }),
  ...family(openai, ["o1"], { input: 15, cached: 7.5, output: 60 }),
  ...family(openai, ["o1-mini", "o3-mini"], { input: 1.1, cached: 0.55, output: 4.4 }),
  ...family(openai, ["o1-pro"], { input: 150, output: 600 }),
  ...family(openai, ["o3"], { input: 2, cached: 0.5, output: 8 }),
  ...family(openai, ["o3-pro"], { input: 20, output: 80 }),
  ...family(openai, ["o4-mini"], { input: 1.1, cached: 0.275, output: 4.4 }),
  ...family(openai, ["gpt-5", "gpt-5.1"], { input: 1.25, cached: 0.125, output: 10 }),
  ...family(openai, ["gpt-5-mini"], { input: 0.25, cached: 0.025, output: 2 }),
  ...family(openai, ["gpt-5-nano"], { input: 0.05, cached: 0.005, output: 0.4 }),
  ...family(openai, ["gpt-5-pro"], { input: 15, output: 120 }),
  ...family(openai, ["gpt-5.2"], { input: 1.75, cached: 0.175, output: 14 }),
  ...family(openai, ["gpt-5.4"], {
    input: 2.5,
    cached: 0.25,
    output: 15,
    long: { above: 272_000, input: 5, cached: 0.5, output: 22.5 },
  }),
  ...family(openai, ["gpt-5.4-mini"], { input: 0.75, cached: 0.075, output: 4.5 }),
  ...family(openai, ["gpt-5.4-nano"], { input: 0.2, cached: 0.02, output: 1.25 }),
  ...family(openai, ["gpt-5.5"], {
    input: 5,
    cached: 0.5,
    output: 30,
    long: { above: 272_000, input: 10, cached: 1, output: 45 },
  }),
  ...openai.flatMap((p) => [
    entry(p, "text-embedding-3-small", { input: 0.02, output: 0 }),
    entry(p, "text-embedding-3-large", { input: 0.13, output: 0 }),
    entry(p, "text-embedding-ada-002", { input: 0.1, output: 0 }),
  ]),
];

// Anthropic's ids, one price per group. On Bedrock the same models are `anthropic.<id>-<date>-v1:0`
// (older) or `anthropic.<id>-v1` (newer), behind an optional region prefix.
const sonnet4LongContext = { above: 200_000, input: 6, cached: 0.6, output: 22.5 };

const claudeModels: { ids: string[]; rates: Rates }[] = [
  {
    ids: ["claude-opus-5", "claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6", "claude-opus-4-5"],
    rates: { input: 5, cached: 0.5, output: 25 },
  },
  { ids: ["claude-opus-5-5"], rates: { input: 4, cached: 0.2, output: 20 } },
  { ids: ["claude-opus-4-1", "claude-opus-4", "claude-opus-4-0"], rates: { input: 15, cached: 1.5, output: 75 } },
  { ids: ["claude-sonnet-4-6"], rates: { input: 3, cached: 0.3, output: 15 } },
  {
    ids: ["claude-sonnet-4-5", "claude-sonnet-4", "claude-sonnet-4-0"],
    rates: { input: 3, cached: 0.3, output: 15, long: sonnet4LongContext },
  },
  { ids: ["claude-sonnet-5"], rates: { input: 2, cached: 0.2, output: 10 } },
  // Sonnet 5.5 cache reads fell to $0.10 on 2026-10-07.
  { ids: ["claude-sonnet-5-5"], rates: { input: 2, cached: 0.1, output: 10 } },
  { ids: ["claude-haiku-4-5"], rates: { input: 1, cached: 0.1, output: 5 } },
  {
    ids: ["claude-haiku-5-5"],
    rates: { input: 0.1, cached: 0.01, output: 0.5, long: { above: 100_000, input: 0.5, cached: 0.05, output: 2.5 } },
  },
  { ids: ["claude-3-5-haiku"], rates: { input: 0.8, cached: 0.08, output: 4 } },
  { ids: ["claude-3-haiku"], rates: { input: 0.25, cached: 0.03, output: 1.25 } },
  { ids: ["claude-fable-5"], rates: { input: 10, cached: 1, output: 50 } },
  { ids: ["claude-fable-5-1"], rates: { input: 10, cached: 0.25, output: 50 } },
];

const bedrock = ["bedrock", "amazon-bedrock"] as const;

/** `-0` ids are Anthropic-only aliases; `-20*`/`-v*` keep claude-opus-4 from matching claude-opus-4-5. */
function bedrockGlobs(id: string): string[] {
  return id.endsWith("-0") ? [] : [`*anthropic.${id}-20*`, `*anthropic.${id}-v*`];
}

const anthropicPrices: PriceEntry[] = claudeModels.flatMap((m) => [
  ...family(["anthropic"], m.ids, m.rates),
  ...bedrock.flatMap((p) => m.ids.flatMap(bedrockGlobs).map((g) => entry(p, g, m.rates))),
]);

const geminiPrices: PriceEntry[] = [
  ...family(
    ["gemini"],
    ["gemini-2.5-pro"],
    { input: 1.25, cached: 0.125, output: 10, long: { above: 200_000, input: 2.5, cached: 0.25, output: 15 } },
    "-preview*",
  ),
  ...family(["gemini"], ["gemini-2.5-flash"], { input: 0.3, cached: 0.03, output: 2.5 }, "-preview*"),
  ...family(["gemini"], ["gemini-2.5-flash-lite"], { input: 0.1, cached: 0.01, output: 0.4 }, "-preview*"),
  ...family(["gemini"], ["gemini-2.0-flash"], { input: 0.1, cached: 0.025, output: 0.4 }, "-0*"),
  ...family(
    ["gemini"],
    ["gemini-3.1-pro"],
    { input: 2, cached: 0.2, output: 12, long: { above: 200_000, input: 4, cached: 0.4, output: 18 } },
    "-preview*",
  ),
  entry("gemini", "gemini-embedding-001", { input: 0.15, output: 0 }),
];

// Mistral's `-latest` aliases move to new models: these are the prices of what they name today.
const mistralPrices: PriceEntry[] = [
  ...models("mistral", ["mistral-large-latest", "mistral-large-2512"], { input: 0.5, output: 1.5 }),
  ...models("mistral", ["mistral-large-2411", "mistral-large-2407"], { input: 2, output: 6 }),
  ...models("mistral", ["mistral-medium-latest", "mistral-medium-2505", "mistral-medium-2508"], { input: 0.4, output: 2 }),
  ...models("mistral", ["mistral-small-latest", "mistral-small-2503", "mistral-small-2506"], { input: 0.1, output: 0.3 }),
  ...models("mistral", ["codestral-latest", "codestral-2508"], { input: 0.3, output: 0.9 }),
  entry("mistral", "mistral-embed", { input: 0.1, output: 0 }),
];

const coherePrices: PriceEntry[] = [
  ...models("cohere", ["command-a-03-2025", "command-a"], { input: 2.5, output: 10 }),
  ...models("cohere", ["command-r-plus-08-2024", "command-r-plus"], { input: 2.5, output: 10 }),
  ...models("cohere", ["command-r-08-2024", "command-r"], { input: 0.15, output: 0.6 }),
  ...models("cohere", ["command-r7b-12-2024", "command-r7b"], { input: 0.0375, output: 0.15 }),
  entry("cohere", "embed-v4.0", { input: 0.12, output: 0 }),
  ...models(
    "cohere",
    ["embed-english-v3.0", "embed-multilingual-v3.0", "embed-english-light-v3.0", "embed-multilingual-light-v3.0"],
    { input: 0.1, output: 0 },
  ),
];

const amazonPrices: PriceEntry[] = bedrock.flatMap((p) => [
  entry(p, "*amazon.nova-micro-v1*", { input: 0.035, cached: 0.00875, output: 0.14 }),
  entry(p, "*amazon.nova-lite-v1*", { input: 0.06, cached: 0.015, output: 0.24 }),
  entry(p, "*amazon.nova-pro-v1*", { input: 0.8, cached: 0.2, output: 3.2 }),
  entry(p, "*amazon.nova-premier-v1*", { input: 2.5, cached: 0.625, output: 12.5 }),
  entry(p, "amazon.titan-text-express-v1*", { input: 0.2, output: 0.6 }),
  entry(p, "amazon.titan-text-lite-v1*", { input: 0.15, output: 0.2 }),
  entry(p, "amazon.titan-text-premier-v1*", { input: 0.5, output: 1.5 }),
  entry(p, "amazon.titan-embed-text-v2*", { input: 0.02, output: 0 }),
  entry(p, "amazon.titan-embed-text-v1*", { input: 0.1, output: 0 }),
  entry(p, "cohere.embed-english-v3*", { input: 0.1, output: 0 }),
  entry(p, "cohere.embed-multilingual-v3*", { input: 0.1, output: 0 }),
  entry(p, "*cohere.embed-v4*", { input: 0.12, output: 0 }),
]);

export const defaultPrices: readonly PriceEntry[] = [
  ...openaiPrices,
  ...anthropicPrices,
  ...geminiPrices,
  ...mistralPrices,
  ...coherePrices,
  ...amazonPrices,
];
