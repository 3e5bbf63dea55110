// Cohere's v2 API: chat (streamable, tools, images, structured output) and embeddings.
import type { Provider } from "../types";
import type { CohereConfig } from "./config";
import { cohereChat } from "./chat";
import { PROVIDER, cohereConfigSchema, cohereErrorMessage } from "./config";
import { cohereEmbed } from "./embeddings";

export const cohereProvider: Provider<CohereConfig> = {
  name: PROVIDER,
  configSchema: cohereConfigSchema,
  chat: cohereChat,
  embed: cohereEmbed,
  errorMessage: cohereErrorMessage,
};
