// OpenAI and OpenAI-compatible servers: chat, completions (both streamable) and embeddings.
import type { Provider } from "../types";
import { nestedErrorMessage } from "../upstream-reader";
import { openaiChat } from "./chat";
import { openaiComplete } from "./completions";
import { PROVIDER, openaiConfigSchema } from "./config";
import { openaiEmbed } from "./embeddings";

export const openaiProvider: Provider = {
  name: PROVIDER,
  configSchema: openaiConfigSchema,
  chat: openaiChat,
  complete: openaiComplete,
  embed: openaiEmbed,
  errorMessage: nestedErrorMessage,
};
