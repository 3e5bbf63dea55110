// Anthropic's Messages API: chat and completions, both streamable. Anthropic has no embeddings.
import type { Provider } from "../types";
import type { AnthropicConfig } from "./config";
import { nestedErrorMessage } from "../upstream-reader";
import { anthropicChat } from "./chat";
import { anthropicComplete } from "./completions";
import { PROVIDER, anthropicConfigSchema } from "./config";

export const anthropicProvider: Provider<AnthropicConfig> = {
  name: PROVIDER,
  configSchema: anthropicConfigSchema,
  chat: anthropicChat,
  complete: anthropicComplete,
  errorMessage: nestedErrorMessage,
};
