// Ollama's native API: chat (with tools, images and structured output) and completions, both
// streamed as NDJSON, and embeddings. (Ollama's OpenAI-compatible /v1 API is reachable through
// the openai provider; this one needs no compatibility layer and reports usage everywhere.)
import type { Provider } from "../types";
import type { OllamaConfig } from "./config";
import { ollamaChat } from "./chat";
import { ollamaComplete } from "./completions";
import { PROVIDER, ollamaConfigSchema } from "./config";
import { ollamaEmbed } from "./embeddings";
import { ollamaErrorMessage } from "./wire";

export const ollamaProvider: Provider<OllamaConfig> = {
  name: PROVIDER,
  configSchema: ollamaConfigSchema,
  chat: ollamaChat,
  complete: ollamaComplete,
  embed: ollamaEmbed,
  errorMessage: ollamaErrorMessage,
};
