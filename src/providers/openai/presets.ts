// Hosted OpenAI-compatible APIs: each is its base URL, the endpoints it serves and how it
// differs from OpenAI (see dialect.ts for what each capability means).
import { openaiCompatibleProvider } from "./compatible";

/**
 * Mistral La Plateforme. `seed` is `random_seed`; tool_choice "required" is "any"; streams
 * always end with usage and stream_options is refused, as is `user` (unknown fields are
 * validation errors there). Tool-call deltas come whole, without index. Tool-call ids must be
 * nine letters or digits: ids from other providers are mapped (tool-call-ids.ts).
 * https://docs.mistral.ai/api/ (chat/completions, embeddings)
 */
export const mistralProvider = openaiCompatibleProvider({
  name: "mistral",
  apiBase: "https://api.mistral.ai/v1",
  serves: ["chat", "embed"],
  capabilities: { seedField: "random_seed", requiredToolChoice: "any", streamUsage: "always", user: false, toolCallIds: "alnum9" },
});

/**
 * Groq. Refuses (HTTP 400) logprobs, logit_bias, top_logprobs, messages[].name and any n but
 * 1; also reports stream usage as `x_groq.usage`. Takes max_completion_tokens.
 * https://console.groq.com/docs/openai
 */
export const groqProvider = openaiCompatibleProvider({
  name: "groq",
  apiBase: "https://api.groq.com/openai/v1",
  serves: ["chat"],
  capabilities: {
    maxChoices: 1,
    messageName: false,
    maxCompletionTokens: true,
    refusedExtras: new Map(
      ["logprobs", "logit_bias", "top_logprobs"].map((key) => [key, "groq does not support it"]),
    ),
  },
});

/** Together AI: chat, completions and embeddings, OpenAI-shaped. https://docs.together.ai/ */
export const togetherProvider = openaiCompatibleProvider({
  name: "together",
  apiBase: "https://api.together.xyz/v1",
  serves: ["chat", "complete", "embed"],
});

/** MLflow's name for Together AI (`togetherai`, keys `togetherai_api_key` / `togetherai_api_base`). */
export const togetheraiProvider = openaiCompatibleProvider({
  name: "togetherai",
  apiBase: "https://api.together.xyz/v1",
  serves: ["chat", "complete", "embed"],
});

/** Fireworks AI: chat, completions and embeddings. https://docs.fireworks.ai/tools-sdks/openai-compatibility */
export const fireworksProvider = openaiCompatibleProvider({
  name: "fireworks",
  apiBase: "https://api.fireworks.ai/inference/v1",
  serves: ["chat", "complete", "embed"],
});

/**
 * DeepSeek: text only (no image parts), response_format json_object but not json_schema, no
 * seed and one choice per request (neither `seed` nor `n` is a DeepSeek parameter).
 * https://api-docs.deepseek.com/api/create-chat-completion
 */
export const deepseekProvider = openaiCompatibleProvider({
  name: "deepseek",
  apiBase: "https://api.deepseek.com",
  serves: ["chat"],
  capabilities: { images: false, jsonSchema: false, maxChoices: 1, seedField: undefined },
});

/** xAI (Grok): chat; takes max_completion_tokens. https://docs.x.ai/docs/api-reference */
export const xaiProvider = openaiCompatibleProvider({
  name: "xai",
  apiBase: "https://api.x.ai/v1",
  serves: ["chat"],
  capabilities: { maxCompletionTokens: true },
});

/**
 * OpenRouter: chat and completions routed to many models. The optional app attribution
 * headers are config keys. https://openrouter.ai/docs/api-reference/overview
 */
export const openrouterProvider = openaiCompatibleProvider({
  name: "openrouter",
  apiBase: "https://openrouter.ai/api/v1",
  serves: ["chat", "complete"],
  headerKeys: { openrouter_site_url: "http-referer", openrouter_app_name: "x-title" },
});

export const openaiCompatiblePresets = [
  mistralProvider,
  groqProvider,
  togetherProvider,
  togetheraiProvider,
  fireworksProvider,
  deepseekProvider,
  xaiProvider,
  openrouterProvider,
];
