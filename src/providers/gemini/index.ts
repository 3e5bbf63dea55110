// Google's Gemini API (AI Studio): chat (streamable, tools, images, structured output) and
// embeddings.
import type { Provider } from "../types";
import type { GeminiConfig } from "./config";
import { nestedErrorMessage } from "../upstream-reader";
import { geminiChat } from "./chat";
import { PROVIDER, geminiConfigSchema } from "./config";
import { geminiEmbed } from "./embeddings";

export const geminiProvider: Provider<GeminiConfig> = {
  name: PROVIDER,
  configSchema: geminiConfigSchema,
  chat: geminiChat,
  embed: geminiEmbed,
  // {"error": {"code", "message", "status"}} (https://ai.google.dev/gemini-api/docs/troubleshooting)
  errorMessage: nestedErrorMessage,
};
