// Token usage as the translators build it: a plain object, like every chunk and result.
import type { Usage } from "../../gen/modelgate/v1/common_pb";
import type { DeepInit } from "./types";
import { MAX_COUNT } from "./upstream-reader";

export type UsageInit = DeepInit<Usage>;

/**
 * Usage from the counts a translator read (each at most MAX_COUNT, upstream-reader.ts). A sum it
 * makes (a total, Anthropic's input plus cache counts, a batch of embeddings) is held at the
 * same bound: the fields are uint32, and no real call comes near 4.29 billion tokens.
 */
export function tokenUsage(
  promptTokens: number,
  completionTokens: number,
  totalTokens = promptTokens + completionTokens,
): UsageInit {
  return { promptTokens: Math.min(promptTokens, MAX_COUNT), completionTokens: Math.min(completionTokens, MAX_COUNT), totalTokens: Math.min(totalTokens, MAX_COUNT) };
}
