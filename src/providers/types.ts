// The provider contract. A provider is a pure translator: no I/O, no timers, no globals.
// HTTP, SSE parsing, retries and cancellation live in src/upstream; the glue that turns a
// translator into a callable model lives in src/providers/http-model.ts.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ChatMessage, TokenIds } from "../../gen/modelgate/v1/common_pb";
import type { ChatChoiceDeltaSchema, ChatChoiceSchema, ChatRequest, MaxTokensField } from "../../gen/modelgate/v1/chat_pb";
import type { CompletionChoiceSchema } from "../../gen/modelgate/v1/completions_pb";
import type { PredictRequest } from "../../gen/modelgate/v1/predict_pb";
import type { StreamDecoder, UpstreamRequest, UsageCounts } from "../upstream/wire";

/** Sampling parameters shared by chat and completions (the proto fields, minus the endpoint). */
export interface SamplingParams {
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  stop: string[];
  n?: number;
  seed?: bigint;
  user: string;
  extras?: JsonObject;
}

export interface ChatParams extends SamplingParams {
  messages: ChatMessage[];
  tools: ChatRequest["tools"];
  toolChoice?: ChatRequest["toolChoice"];
  responseFormat?: ChatRequest["responseFormat"];
  parallelToolCalls?: boolean;
  /** Which OpenAI field carries maxTokens (OpenAI-format providers only; others have one field). */
  maxTokensField?: MaxTokensField;
}

export interface CompleteParams extends SamplingParams {
  prompt: string;
  /** Several prompts instead of `prompt` (OpenAI format only; see translators' singlePrompt). */
  prompts?: string[];
  /** Prompts as token ids instead of `prompt` (OpenAI format only). */
  tokenPrompts?: TokenIds[];
}

export interface EmbedParams {
  inputs: string[];
  /** The inputs as token ids instead of `inputs` (OpenAI format only; see textInputs). */
  tokenInputs?: TokenIds[];
  user: string;
  extras?: JsonObject;
}

export type PredictParams = Pick<PredictRequest, "input" | "params">;

/**
 * Where and how to reach the upstream model: the endpoint's `model` block from the config,
 * with `$ENV` secrets already resolved. `config` is provider-specific and was validated by the
 * provider's own zod schema at load time (see Provider.configSchema).
 */
export interface ModelTarget<Config = Record<string, unknown>> {
  /** The provider's model name (`model.name` in the config). */
  name: string;
  config: Config;
}

/** Chunk and response shapes are the generated messages without their $typeName. */
export type Init<T> = Omit<T, "$typeName" | "$unknown">;

// Each translator gets the endpoint target with its provider's parsed, typed config (Config:
// what the provider's configSchema outputs), passed explicitly on every request.
export interface ChatTranslator<Config = Record<string, unknown>> {
  request(params: ChatParams, target: ModelTarget<Config>, stream: boolean): UpstreamRequest;
  response(body: unknown): ChatResult;
  streamDecoder(): StreamDecoder<ChatChunk>;
}

export interface CompleteTranslator<Config = Record<string, unknown>> {
  request(params: CompleteParams, target: ModelTarget<Config>, stream: boolean): UpstreamRequest;
  response(body: unknown): CompleteResult;
  streamDecoder(): StreamDecoder<CompleteChunk>;
}

export interface EmbedTranslator<Config = Record<string, unknown>> {
  request(params: EmbedParams, target: ModelTarget<Config>): UpstreamRequest;
  response(body: unknown): EmbedResult;
}

export interface PredictTranslator<Config = Record<string, unknown>> {
  request(params: PredictParams, target: ModelTarget<Config>): UpstreamRequest;
  response(body: unknown): PredictResult;
}

// Token counts as providers report them: a wire-level type (the stream decoders report them).
export type { UsageCounts } from "../upstream/wire";

/** What the upstream says about an answer beside its choices (OpenAI's metadata). */
export interface AnswerMetadata {
  /** When the upstream created the answer (Unix seconds). */
  created?: bigint;
  systemFingerprint?: string;
  serviceTier?: string;
}

// Results and chunks: the top level is fixed, nested messages use protobuf-es init shapes (any
// field may be left out and takes its default), which is what connect-node serialises.
export interface ChatResult extends AnswerMetadata {
  id: string;
  model: string;
  choices: MessageInitShape<typeof ChatChoiceSchema>[];
  usage?: UsageCounts;
}
export interface ChatChunk extends AnswerMetadata {
  id: string;
  model: string;
  choices: MessageInitShape<typeof ChatChoiceDeltaSchema>[];
  usage?: UsageCounts;
}
export interface CompleteResult extends Omit<AnswerMetadata, "serviceTier"> {
  id: string;
  model: string;
  choices: MessageInitShape<typeof CompletionChoiceSchema>[];
  usage?: UsageCounts;
}
export type CompleteChunk = CompleteResult;
export interface EmbedResult {
  model: string;
  data: { index: number; values: number[] }[];
  usage?: UsageCounts;
}
export interface PredictResult {
  predictions: JsonValue;
  /** The model that answered, when it is not the endpoint's model name (a registry model's NAME). */
  model?: string;
  /** The registered model version that answered, when known. */
  modelVersion?: string;
}

/** A generated message type as a plain object: no $typeName anywhere, usable with create(). */
export type DeepInit<T> = T extends Uint8Array | bigint
  ? T
  : T extends readonly (infer E)[]
    ? DeepInit<E>[]
    : T extends object
      ? { [K in keyof T as K extends "$typeName" | "$unknown" ? never : K]: DeepInit<T[K]> }
      : T;

/**
 * What a provider folder exports. Only the endpoint types it supports have a translator.
 * Config is what its configSchema outputs; every translator and authorize() receive the
 * endpoint target with that config (src/providers/model.ts binds it per endpoint), so nothing
 * rides on the request objects.
 */
export interface Provider<Config = Record<string, unknown>> {
  /** The name used in config (`model.provider`). */
  name: string;
  /**
   * Validates the provider's `model.config` block (after `$ENV` resolution). The base-URL
   * override (`<provider>_api_base` or `model_server_url`) is always accepted.
   */
  configSchema: import("zod").ZodType<Config>;
  chat?: ChatTranslator<Config>;
  complete?: CompleteTranslator<Config>;
  embed?: EmbedTranslator<Config>;
  predict?: PredictTranslator<Config>;
  /**
   * Adds headers that depend on the exact body or on the time (AWS SigV4), or on a token that
   * must be fetched (Azure Entra ID), for this target. Called by the upstream client (through
   * UpstreamPeer.authorize) just before sending.
   */
  authorize?(req: UpstreamRequest, body: string | undefined, target: ModelTarget<Config>, signal: AbortSignal): Promise<Record<string, string>>;
  /** Extracts a human-readable message from an upstream error body (never includes secrets). */
  errorMessage?(body: unknown): string | undefined;
}
