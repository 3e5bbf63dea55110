// Context windows and output limits of common models, beside the price table (default-prices.ts),
// for the context policy (src/policies/context.ts): a request whose prompt and requested output do
// not fit is refused or trimmed before any upstream call. An endpoint's `policies.context` may set
// `context_window` / `max_output_tokens` for models not listed here (or to be stricter).
//
// Limits as of 2026-11-25, from the providers' model pages (OpenAI models docs, Anthropic "models
// overview", Google Gemini models, Mistral and Cohere model cards). Model ids are matched like the
// price table: provider and model globs (`*` any run, `?` one character), the most specific first.
import { globToRegExp } from "./prices";

export interface ContextLimits {
  /** Prompt + output tokens the model accepts in one call. */
  contextTokens: number;
  /** The most output tokens one call may ask for. */
  maxOutputTokens: number;
}

type Row = readonly [provider: string, model: string, contextTokens: number, maxOutputTokens: number];

const openai = "*openai*"; // openai, azure-openai
const rows: readonly Row[] = [
  [openai, "gpt-4o-mini*", 128_000, 16_384],
  [openai, "gpt-4o*", 128_000, 16_384],
  [openai, "gpt-4.1*", 1_047_576, 32_768],
  [openai, "o1-mini*", 128_000, 65_536],
  [openai, "o1*", 200_000, 100_000],
  [openai, "o3*", 200_000, 100_000],
  [openai, "o4-mini*", 200_000, 100_000],
  [openai, "gpt-5.4*", 1_050_000, 128_000],
  [openai, "gpt-5*", 400_000, 128_000],
  [openai, "gpt-4-turbo*", 128_000, 4_096],
  [openai, "gpt-3.5-turbo*", 16_385, 4_096],
  ["*", "*claude-opus-4*", 200_000, 32_000],
  ["*", "*claude-sonnet-4*", 200_000, 64_000],
  ["*", "*claude-haiku-4*", 200_000, 64_000],
  ["*", "*claude-3-7-sonnet*", 200_000, 64_000],
  ["*", "*claude-3-5-haiku*", 200_000, 8_192],
  ["*", "*claude-3-5-sonnet*", 200_000, 8_192],
  ["gemini", "gemini-2.5-*", 1_048_576, 65_536],
  ["gemini", "gemini-3*", 1_048_576, 65_536],
  ["gemini", "gemini-2.0-flash*", 1_048_576, 8_192],
  ["mistral", "mistral-large-*", 131_072, 131_072],
  ["mistral", "mistral-medium-*", 131_072, 131_072],
  ["mistral", "mistral-small-*", 131_072, 131_072],
  ["mistral", "codestral-*", 256_000, 256_000],
  ["cohere", "command-a-*", 256_000, 8_000],
  ["cohere", "command-r*", 128_000, 4_000],
  ["*", "*amazon.nova-pro*", 300_000, 10_000],
  ["*", "*amazon.nova-lite*", 300_000, 10_000],
  ["*", "*amazon.nova-micro*", 128_000, 10_000],
];

interface Rule {
  provider: RegExp;
  model: RegExp;
  specificity: number;
  limits: ContextLimits;
}

const rules: Rule[] = rows
  .map(([provider, model, contextTokens, maxOutputTokens]) => ({
    provider: globToRegExp(provider),
    model: globToRegExp(model),
    specificity: model.replace(/[*?]/g, "").length,
    limits: { contextTokens, maxOutputTokens },
  }))
  .sort((a, b) => b.specificity - a.specificity);

/** The shipped limits of a provider's model, or undefined when it is not in the table. */
export function contextLimitsOf(provider: string, model: string): ContextLimits | undefined {
  for (const r of rules) if (r.provider.test(provider) && r.model.test(model)) return r.limits;
  return undefined;
}
