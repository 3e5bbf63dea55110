// Token usage as the translators build it: a plain object, like every chunk and result.
import type { Usage } from "../../gen/modelgate/v1/common_pb";
import type { DeepInit } from "./types";

export type UsageInit = DeepInit<Usage>;

export function tokenUsage(
  promptTokens: number,
  completionTokens: number,
  totalTokens = promptTokens + completionTokens,
): UsageInit {
  return { promptTokens, completionTokens, totalTokens };
}
