// What differs between OpenAI and the servers that speak its Chat Completions wire format
// (Azure OpenAI, Mistral, Groq, Together, Fireworks, DeepSeek, xAI, OpenRouter, vLLM ...).
// The translators are shared; a dialect says where a request goes, how it authenticates and
// which features the server takes, so a new OpenAI-compatible provider is data, not code.
import type { ModelTarget } from "../types";

export type OpenAIPath = "/chat/completions" | "/completions" | "/embeddings";

/** Where one call goes and with which headers, from the endpoint's parsed config. */
export interface OpenAIConnection {
  url: string;
  headers: Record<string, string>;
  /** False for Azure: the deployment in the URL names the model and the body carries none. */
  modelInBody: boolean;
}

/** Features that vary between OpenAI-compatible servers. A request using a missing one is refused. */
export interface OpenAICapabilities {
  /** Image content parts (image_url and inline bytes as a data: URL). */
  images: boolean;
  /** response_format {type: "json_schema"} (json_object is assumed everywhere). */
  jsonSchema: boolean;
  /** Most choices one request may ask for (n); undefined when the server sets no limit. */
  maxChoices?: number;
  /** The wire name of the sampling seed, or undefined when the server has none. */
  seedField?: "seed" | "random_seed";
  /** What tool_choice "required" is called on the wire (Mistral calls it "any"). */
  requiredToolChoice: "required" | "any";
  /**
   * How a stream reports usage: "stream_options" when it must be asked for with
   * stream_options.include_usage (OpenAI), "always" when the server sends it unasked on the
   * last chunk and refuses unknown fields (Mistral).
   */
  streamUsage: "stream_options" | "always";
  /** The `user` end-user identifier field. */
  user: boolean;
  /** `name` on system, user and assistant messages. */
  messageName: boolean;
  /** Extras the server refuses, with what to say instead (Groq: logprobs, logit_bias ...). */
  refusedExtras?: ReadonlyMap<string, string>;
  /**
   * `max_completion_tokens`: when the caller asks for it (max_tokens_field), it is sent;
   * servers without it get `max_tokens`, their only name for the limit.
   */
  maxCompletionTokens: boolean;
  /** The `developer` role; servers without it get the message as `system`. */
  developerRole: boolean;
  /**
   * OpenAI's assistant-history fields beyond text and tool calls: `refusal`, `audio`, and the
   * deprecated `function_call` with role `function` messages. Without them a refusal is sent as
   * the assistant's text and the others are refused (see portableMessages).
   */
  openaiHistory: boolean;
  /** Token-id inputs for embeddings and completions, and several prompts per completion. */
  tokenInputs: boolean;
  /**
   * How tool-call ids must look, when the server constrains them: "alnum9" (Mistral: exactly
   * nine letters or digits). Other ids are mapped to such ids (see tool-call-ids.ts).
   */
  toolCallIds?: "alnum9";
}

/** Config: what the provider's configSchema outputs; connect() reads it from the target. */
export interface OpenAIDialect<Config = Record<string, unknown>> {
  /** The provider name, used in every error message. */
  provider: string;
  connect(target: ModelTarget<Config>, path: OpenAIPath): OpenAIConnection;
  capabilities: OpenAICapabilities;
}

/** OpenAI itself (and, by default, any server that claims to be compatible). */
export const openaiCapabilities: OpenAICapabilities = {
  images: true,
  jsonSchema: true,
  seedField: "seed",
  requiredToolChoice: "required",
  streamUsage: "stream_options",
  user: true,
  messageName: true,
  maxCompletionTokens: true,
  developerRole: true,
  openaiHistory: true,
  tokenInputs: true,
};

/**
 * The defaults for hosted servers that copy OpenAI's format but not its newer fields: the
 * limit as `max_tokens`, `developer` as `system`, refusals as text, no token-id inputs.
 */
export const compatibleCapabilities: Partial<OpenAICapabilities> = {
  maxCompletionTokens: false,
  developerRole: false,
  openaiHistory: false,
  tokenInputs: false,
};
