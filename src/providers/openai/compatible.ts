// A provider for a hosted OpenAI-compatible API: the shared OpenAI translators, a config with
// `<name>_api_key` and `<name>_api_base` (MLflow's naming), and the server's capabilities.
import { z } from "zod";
import { httpUrl, joinUrl } from "../request-builder";
import type { Provider } from "../types";
import { openaiChatTranslator } from "./chat";
import { openaiCompleteTranslator } from "./completions";
import { type OpenAICapabilities, type OpenAIDialect, compatibleCapabilities, openaiCapabilities } from "./dialect";
import { openaiEmbedTranslator } from "./embeddings";
import { openaiErrorMessage } from "./wire";

export interface OpenAICompatiblePreset {
  /** The provider name in config; also the prefix of its config keys. */
  name: string;
  /** The real default base URL, overridable with `<name>_api_base`. */
  apiBase: string;
  /** The OpenAI endpoints the server offers. */
  serves: readonly ("chat" | "complete" | "embed")[];
  /** How the server differs from OpenAI. */
  capabilities?: Partial<OpenAICapabilities>;
  /** Optional config keys sent as headers (OpenRouter's app attribution), key -> header name. */
  headerKeys?: Readonly<Record<string, string>>;
}

/** A preset's config: its own key names (`<name>_api_key`, `<name>_api_base`, header keys), all strings. */
type CompatibleConfig = Record<string, string | undefined>;

export function openaiCompatibleProvider(preset: OpenAICompatiblePreset): Provider<CompatibleConfig> {
  const { name, apiBase, serves, headerKeys = {} } = preset;
  const keyKey = `${name}_api_key`;
  const baseKey = `${name}_api_base`;
  const configSchema = z.strictObject({
    [keyKey]: z.string().min(1),
    [baseKey]: httpUrl().default(apiBase),
    ...Object.fromEntries(Object.keys(headerKeys).map((key) => [key, z.string().min(1).optional()])),
  });

  const dialect: OpenAIDialect<CompatibleConfig> = {
    provider: name,
    capabilities: { ...openaiCapabilities, ...compatibleCapabilities, ...preset.capabilities },
    connect(target, path) {
      const config = target.config;
      const headers: Record<string, string> = {
        "content-type": "application/json",
        authorization: `Bearer ${config[keyKey] ?? ""}`,
      };
      for (const [key, header] of Object.entries(headerKeys)) {
        const value = config[key];
        if (value !== undefined) headers[header] = value;
      }
      return { url: joinUrl(config[baseKey] ?? apiBase, path), headers, modelInBody: true };
    },
  };

  return {
    name,
    configSchema,
    ...(serves.includes("chat") ? { chat: openaiChatTranslator(dialect) } : {}),
    ...(serves.includes("complete") ? { complete: openaiCompleteTranslator(dialect) } : {}),
    ...(serves.includes("embed") ? { embed: openaiEmbedTranslator(dialect) } : {}),
    errorMessage: openaiErrorMessage,
  };
}
