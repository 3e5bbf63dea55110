// What the `extras` of a chat or completion request may carry: provider-specific knobs only,
// never what a typed field governs.
//
// Why it matters: the quota interceptor reserves tokens before the call from the typed fields
// (prompt estimate + max_tokens x n, src/usage/tokens.ts). A knob in extras that lengthens or
// multiplies the output (`max_completion_tokens`, Gemini's generationConfig.maxOutputTokens,
// Ollama's options.num_predict, `best_of` ...) would have the upstream produce far more than was
// reserved, so a key with a 5,000-token TPM could have 100,000 tokens generated per call.
//
// Policy: a deny-list, checked by every provider's request builder before the upstream request
// exists (so a refused call never reaches the upstream, and quota settles it at zero tokens):
//   - the central list below, matched whatever the spelling (max_tokens, maxTokens, MAX-TOKENS
//     are one key: Google's APIs take both snake_case and camelCase field names), at the top
//     level of extras and one level down in the objects providers nest sampling settings in
//     (generationConfig, options, parameters, inferenceConfig, textGenerationConfig);
//   - the provider's own keys (what its translator writes), whose wording takes precedence.
// Why not an allow-list: extras exist for knobs the gateway has no field for, and the providers
// add them every few months (reasoning_effort, verbosity, thinking, safety settings, vLLM's
// sampling extensions ...); an allow-list would refuse them until someone edits it. The hosted
// APIs (OpenAI, Anthropic, Gemini, Cohere, Bedrock Converse) refuse unknown fields themselves, so
// an unlisted key cannot be silently ignored there; what a deny-list must catch is the known
// set of keys that set the output's length or count, and that set is small and stable. The
// `echo` provider, which has no knobs, refuses every extra (an empty allow-list).
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../errors";
import { isRecord } from "./upstream-reader";

/** A key as compared here: lower case, letters and digits only (max_tokens = maxTokens). */
export function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, "");
}

const useMaxTokens = "use the max_tokens field instead";
const useN = "use the n field instead";

/**
 * Keys the typed fields govern, by normalised name, with what to do instead. The first groups
 * are the reason this list exists: what sets how long the output may be, or how many outputs
 * there are, by the names the providers we speak (and the servers behind them) use.
 */
const governed: ReadonlyMap<string, string> = new Map(
  (
    [
      // The output ceiling: OpenAI (both names), Gemini generationConfig.maxOutputTokens, OpenAI
      // Responses max_output_tokens, TGI / transformers max_new_tokens and max_length, Anthropic's
      // legacy max_tokens_to_sample, Bedrock's model-native max_gen_len (Llama) and
      // maxTokenCount (Titan), Ollama num_predict, Cohere / Mistral / Bedrock Converse max_tokens.
      ["max_tokens", useMaxTokens],
      ["max_completion_tokens", useMaxTokens],
      ["max_output_tokens", useMaxTokens],
      ["max_new_tokens", useMaxTokens],
      ["max_length", useMaxTokens],
      ["max_tokens_to_sample", useMaxTokens],
      ["max_gen_len", useMaxTokens],
      ["max_token_count", useMaxTokens],
      ["num_predict", useMaxTokens],
      // A floor can push the output past what was reserved when max_tokens is left unset.
      ...["min_tokens", "min_new_tokens", "min_length", "min_output_tokens"].map(
        (key): [string, string] => [key, "a minimum output length is not passed on (quota is reserved on max_tokens); leave it out"],
      ),
      // How many outputs: OpenAI n, Gemini candidateCount, Cohere v1 num_generations,
      // transformers num_return_sequences, AI21 numResults; best_of generates that many
      // completions upstream, all of them billed, and returns the best.
      ["n", useN],
      ["candidate_count", useN],
      ["num_generations", useN],
      ["num_return_sequences", useN],
      ["num_results", useN],
      ["best_of", "it has the upstream generate (and bill) that many answers per call; use the n field instead"],
      // The other typed sampling fields, by their wire names.
      ["temperature", "use the temperature field instead"],
      ["top_p", "use the top_p field instead"],
      ["stop", "use the stop field instead"],
      ["stop_sequences", "use the stop field instead"],
      ["seed", "use the seed field instead"],
      ["random_seed", "use the seed field instead"],
      ["user", "use the user field instead"],
      // What the gateway itself decides.
      ["model", "the endpoint's model is used"],
      ["messages", "the gateway sets it from the request"],
      ["prompt", "the gateway sets it from the request"],
      ["stream", "call the streaming method instead"],
      ["stream_options", "the gateway always asks for usage on streams"],
      ["tools", "use the tools field instead"],
      ["tool_choice", "use the tool_choice field instead"],
      ["parallel_tool_calls", "use the parallel_tool_calls field instead"],
      ["response_format", "use the response_format field instead"],
    ] as [string, string][]
  ).map(([key, reason]) => [normalizeKey(key), reason]),
);

/**
 * Objects in which providers nest sampling settings, so their keys are checked too: Gemini
 * generationConfig, Ollama options, TGI / Hugging Face parameters, Bedrock Converse (and Nova's
 * native body) inferenceConfig, Titan's native textGenerationConfig.
 */
const containers: ReadonlySet<string> = new Set(
  ["generationConfig", "options", "parameters", "inferenceConfig", "textGenerationConfig"].map(normalizeKey),
);

/** Why `key` may not be an extra, or undefined when it may (by the central list only). */
export function governedReason(key: string): string | undefined {
  return governed.get(normalizeKey(key));
}

/** What one provider adds to the central list. */
export interface ExtrasRules {
  /** Top-level keys the provider's translator writes, with what to do instead (checked first). */
  owned?: ReadonlyMap<string, string>;
  /** Keys inside a nested object the provider merges an extra into, by the object's key. */
  nested?: Readonly<Record<string, ReadonlyMap<string, string>>>;
}

// Owned maps are module constants: their normalised forms are built once.
const normalizedMaps = new WeakMap<ReadonlyMap<string, string>, ReadonlyMap<string, string>>();
function lookup(map: ReadonlyMap<string, string> | undefined, key: string): string | undefined {
  if (map === undefined) return undefined;
  let normalized = normalizedMaps.get(map);
  if (normalized === undefined) {
    normalized = new Map([...map].map(([k, reason]) => [normalizeKey(k), reason]));
    normalizedMaps.set(map, normalized);
  }
  return map.get(key) ?? normalized.get(normalizeKey(key));
}

function refuse(provider: string, path: string, reason: string | undefined): void {
  if (reason !== undefined) throw invalidArgument(`${provider}: extras.${path} is not allowed: ${reason}`);
}

/**
 * Throws INVALID_ARGUMENT, naming the key and the typed field to use, when the extras of a chat
 * or completion request set what a typed field governs. Every provider's request builder calls
 * this before building the body. (Embedding extras are not checked here: there is no output to
 * bound, and some embedding APIs have knobs such as Cohere's max_tokens that mean truncation.)
 */
export function checkSamplingExtras(provider: string, extras: JsonObject | undefined, rules: ExtrasRules = {}): void {
  if (extras === undefined) return;
  for (const [key, value] of Object.entries(extras)) {
    refuse(provider, key, lookup(rules.owned, key) ?? governedReason(key));
    const nestedOwned = rules.nested === undefined ? undefined : nestedRules(rules.nested, key);
    if ((nestedOwned !== undefined || containers.has(normalizeKey(key))) && isRecord(value)) {
      for (const inner of Object.keys(value)) {
        refuse(provider, `${key}.${inner}`, lookup(nestedOwned, inner) ?? governedReason(inner));
      }
    }
  }
}

function nestedRules(nested: NonNullable<ExtrasRules["nested"]>, key: string): ReadonlyMap<string, string> | undefined {
  if (Object.hasOwn(nested, key)) return nested[key];
  const normalized = normalizeKey(key);
  for (const [k, map] of Object.entries(nested)) if (normalizeKey(k) === normalized) return map;
  return undefined;
}
