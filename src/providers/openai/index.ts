// OpenAI, Azure OpenAI and OpenAI-compatible servers: chat, completions (both streamable) and
// embeddings, one set of translators configured by a dialect.
import type { Provider } from "../types";
import { openaiChatTranslator } from "./chat";
import { openaiCompleteTranslator } from "./completions";
import { PROVIDER, azureOpenaiConfigSchema, connectOpenAI, openaiConfigSchema, type OpenAIConfig } from "./config";
import { type OpenAIDialect, openaiCapabilities } from "./dialect";
import { openaiEmbedTranslator } from "./embeddings";
import { openaiCompatiblePresets } from "./presets";
import { openaiErrorMessage } from "./wire";

function openaiFamilyProvider(name: string, configSchema: Provider<OpenAIConfig>["configSchema"]): Provider<OpenAIConfig> {
  const dialect: OpenAIDialect<OpenAIConfig> = { provider: name, capabilities: openaiCapabilities, connect: connectOpenAI };
  return {
    name,
    configSchema,
    chat: openaiChatTranslator(dialect),
    complete: openaiCompleteTranslator(dialect),
    embed: openaiEmbedTranslator(dialect),
    errorMessage: openaiErrorMessage,
  };
}

/** `openai`: OpenAI, Azure OpenAI via openai_api_type (MLflow's keys) and self-hosted compatible servers. */
export const openaiProvider = openaiFamilyProvider(PROVIDER, openaiConfigSchema);

/**
 * `azure-openai`: the same keys as `openai` with openai_api_type defaulting to azure (azuread
 * allowed, openai refused), so an MLflow Azure config works under either name.
 */
export const azureOpenaiProvider = openaiFamilyProvider("azure-openai", azureOpenaiConfigSchema);

/** Every provider of this folder, for the registry. */
export const openaiFamilyProviders: readonly Provider[] = [openaiProvider, azureOpenaiProvider, ...openaiCompatiblePresets];
