// Prices per provider and model, and the cost of a call. The config's `prices:` table overrides
// the shipped defaults (default-prices.ts). An unknown price gives an unknown cost (null), never
// 0: a ledger that silently records free calls under-bills and hides a missing price.
//
// Lookup (compiled once per table, then memoised per provider/model):
//   1. config entries, then 2. shipped defaults; within each, an exact match first, then globs,
//   the most specific first: the most literal characters in the model pattern, then in the
//   provider pattern, then file order.
// So a config glob `gpt-4o*` overrides every shipped gpt-4o price, and the shipped
// `claude-opus-4-5*` wins over the shipped `claude-opus-4*` whatever their order.
import { z } from "zod";
import { defaultPrices } from "./default-prices";

const perMtok = z.number().min(0, "must be >= 0");

const longContextSchema = z.strictObject({
  /** The long-context rates apply to the whole call when its prompt has more tokens than this. */
  above_prompt_tokens: z.number().int().positive(),
  input_per_mtok: perMtok,
  output_per_mtok: perMtok,
  cached_input_per_mtok: perMtok.optional(),
});

/** One row of the `prices:` table (the same shape as the shipped defaults). */
export const priceEntrySchema = z.strictObject({
  /** Provider name as in `model.provider`, or a glob ("*" for any provider). */
  provider: z.string().min(1, "a provider name or glob is required"),
  /** Model name as in `model.name` (exact), or a glob: `*` any characters, `?` one character. */
  model: z.string().min(1, "a model name or glob is required"),
  /** USD per million prompt (input) tokens. */
  input_per_mtok: perMtok,
  /** USD per million completion (output) tokens. */
  output_per_mtok: perMtok,
  /** USD per million prompt tokens read from the provider's prompt cache; default: input_per_mtok. */
  cached_input_per_mtok: perMtok.optional(),
  /** Higher rates for long prompts (Gemini 2.5 Pro above 200k, GPT-5.4 above 272k ...). */
  long_context: longContextSchema.optional(),
});

export type PriceEntry = z.infer<typeof priceEntrySchema>;

/** The config's `prices:` table: no two entries for the same provider and model. */
export const pricesSchema = z
  .array(priceEntrySchema)
  .superRefine((entries, ctx) => {
    const seen = new Map<string, number>();
    entries.forEach((e, i) => {
      const key = `${e.provider.toLowerCase()}\u0000${e.model.toLowerCase()}`;
      const first = seen.get(key);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [i, "model"],
          message: `duplicate price for provider "${e.provider}" model "${e.model}" (first at prices[${first}])`,
        });
      } else {
        seen.set(key, i);
      }
    });
  })
  .default([]);

interface Rates {
  inputPerMtok: number;
  outputPerMtok: number;
  cachedInputPerMtok?: number;
}

export interface Price extends Rates {
  longContext?: Rates & { abovePromptTokens: number };
  /** Where the price came from, for logs and `modelgate usage` explanations. */
  source: "config" | "default";
  /** The entry that matched, e.g. "openai/gpt-4o*". */
  matched: string;
}

/** Token counts of one call. */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  /** The part of promptTokens read from the provider's prompt cache (billed at the cached rate). */
  cachedPromptTokens?: number;
}

/**
 * USD for `usage` at `price`, or null when the price is unknown. Token counts that are not
 * finite non-negative numbers also give null: an unknown cost, not a wrong one.
 */
export function costUsd(usage: TokenUsage, price: Price | undefined): number | null {
  if (!price) return null;
  const { promptTokens, completionTokens } = usage;
  const cached = usage.cachedPromptTokens ?? 0;
  if (![promptTokens, completionTokens, cached].every((n) => Number.isFinite(n) && n >= 0)) return null;
  const rates: Rates = price.longContext && promptTokens > price.longContext.abovePromptTokens ? price.longContext : price;
  const cachedTokens = Math.min(cached, promptTokens);
  const usd =
    ((promptTokens - cachedTokens) * rates.inputPerMtok +
      cachedTokens * (rates.cachedInputPerMtok ?? rates.inputPerMtok) +
      completionTokens * rates.outputPerMtok) /
    1_000_000;
  // Float noise (0.1 + 0.2) would show in CSV exports; picodollars are far below any price.
  return Math.round(usd * 1e12) / 1e12;
}

export interface PriceTable {
  /** The price of a model, or undefined when neither the config nor the defaults know it. */
  priceFor(provider: string, model: string): Price | undefined;
  /** costUsd(usage, priceFor(provider, model)). */
  costUsd(provider: string, model: string, usage: TokenUsage): number | null;
}

interface GlobRule {
  provider: RegExp;
  model: RegExp;
  specificity: number;
  order: number;
  price: Price;
}

interface Tier {
  exact: Map<string, Price>;
  globs: GlobRule[];
}

/** Memoised lookups per table; model names come from the config, so this stays small. */
const memoLimit = 10_000;

/**
 * Compiles the config table over the shipped defaults. `config` is expected to have passed
 * pricesSchema (the config loader does that); the defaults are checked by a unit test.
 */
export function compilePrices(config: readonly PriceEntry[], defaults: readonly PriceEntry[] = defaultPrices): PriceTable {
  const tiers = [compileTier(config, "config"), compileTier(defaults, "default")];
  const memo = new Map<string, Price | null>();
  const priceFor = (provider: string, model: string): Price | undefined => {
    const key = `${provider.toLowerCase()}\u0000${model.toLowerCase()}`;
    const hit = memo.get(key);
    if (hit !== undefined) return hit ?? undefined;
    const found = lookup(tiers, key, provider.toLowerCase(), model.toLowerCase());
    if (memo.size >= memoLimit) memo.clear();
    memo.set(key, found ?? null);
    return found;
  };
  return {
    priceFor,
    costUsd: (provider, model, usage) => costUsd(usage, priceFor(provider, model)),
  };
}

function lookup(tiers: Tier[], key: string, provider: string, model: string): Price | undefined {
  for (const tier of tiers) {
    const exact = tier.exact.get(key);
    if (exact) return exact;
    for (const rule of tier.globs) {
      if (rule.provider.test(provider) && rule.model.test(model)) return rule.price;
    }
  }
  return undefined;
}

function compileTier(entries: readonly PriceEntry[], source: Price["source"]): Tier {
  const exact = new Map<string, Price>();
  const globs: GlobRule[] = [];
  entries.forEach((e, order) => {
    const price = toPrice(e, source);
    const provider = e.provider.toLowerCase();
    const model = e.model.toLowerCase();
    if (!isGlob(provider) && !isGlob(model)) {
      const key = `${provider}\u0000${model}`;
      if (!exact.has(key)) exact.set(key, price);
      return;
    }
    globs.push({
      provider: globToRegExp(provider),
      model: globToRegExp(model),
      // The model decides first: `*`/`m-large-v9` beats `acme`/`m-large-*` for acme too.
      specificity: literalLength(model) * 1_000 + literalLength(provider),
      order,
      price,
    });
  });
  globs.sort((a, b) => b.specificity - a.specificity || a.order - b.order);
  return { exact, globs };
}

function toPrice(e: PriceEntry, source: Price["source"]): Price {
  const price: Price = {
    inputPerMtok: e.input_per_mtok,
    outputPerMtok: e.output_per_mtok,
    source,
    matched: `${e.provider}/${e.model}`,
  };
  if (e.cached_input_per_mtok !== undefined) price.cachedInputPerMtok = e.cached_input_per_mtok;
  if (e.long_context) {
    price.longContext = {
      abovePromptTokens: e.long_context.above_prompt_tokens,
      inputPerMtok: e.long_context.input_per_mtok,
      outputPerMtok: e.long_context.output_per_mtok,
    };
    if (e.long_context.cached_input_per_mtok !== undefined) {
      price.longContext.cachedInputPerMtok = e.long_context.cached_input_per_mtok;
    }
  }
  return price;
}

function isGlob(pattern: string): boolean {
  return pattern.includes("*") || pattern.includes("?");
}

function literalLength(pattern: string): number {
  return pattern.replace(/[*?]/g, "").length;
}

/** `*` any run of characters, `?` one character; everything else literal (model ids have `.` and `:`). */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split("")
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[\\^$.|+()[\]{}]/g, "\\$&")))
    .join("");
  return new RegExp(`^${body}$`, "s");
}
