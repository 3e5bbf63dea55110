// A ModelClient is what services call: one per configured endpoint, built at config load.
// HTTP providers get theirs from `httpModel` (translator + shared upstream client); built-in
// providers such as `echo` implement it directly.
import type { ZodType } from "zod";
import type { EndpointType } from "../config/schema";
import type {
  ChatChunk,
  ChatParams,
  ChatResult,
  CompleteChunk,
  CompleteParams,
  CompleteResult,
  EmbedParams,
  EmbedResult,
  ModelTarget,
  PredictParams,
  PredictResult,
} from "./types";
import type { UpstreamCall, UpstreamClient } from "../upstream/client";
import type { Provider } from "./types";

export type CallOptions = UpstreamCall;

/**
 * Calls one model. Streams yield content chunks and end with one chunk that has no choices
 * and carries the usage, so every stream's last message holds the usage.
 */
export interface ModelClient {
  chat?(params: ChatParams, call: CallOptions): Promise<ChatResult>;
  streamChat?(params: ChatParams, call: CallOptions): AsyncIterable<ChatChunk>;
  complete?(params: CompleteParams, call: CallOptions): Promise<CompleteResult>;
  streamComplete?(params: CompleteParams, call: CallOptions): AsyncIterable<CompleteChunk>;
  embed?(params: EmbedParams, call: CallOptions): Promise<EmbedResult>;
  predict?(params: PredictParams, call: CallOptions): Promise<PredictResult>;
}

/** A provider as the config loader sees it: validates its config and builds clients. */
export interface ModelFactory {
  name: string;
  configSchema: ZodType<Record<string, unknown>>;
  supports: readonly EndpointType[];
  create(target: ModelTarget, deps: { upstream: UpstreamClient }): ModelClient;
}

/** Wraps a pure translator provider into a factory backed by the shared upstream client. */
export function httpModelFactory(provider: Provider): ModelFactory {
  const supports: EndpointType[] = [];
  if (provider.chat) supports.push("llm/v1/chat");
  if (provider.complete) supports.push("llm/v1/completions");
  if (provider.embed) supports.push("llm/v1/embeddings");
  if (provider.predict) supports.push("predict");
  return {
    name: provider.name,
    configSchema: provider.configSchema,
    supports,
    create: (target, { upstream }) => httpModel(provider, target, upstream),
  };
}

function httpModel(provider: Provider, target: ModelTarget, upstream: UpstreamClient): ModelClient {
  const { chat, complete, embed, predict } = provider;
  return {
    chat: chat && (async (params, call) => chat.response(await upstream.json(chat.request(params, target, false), provider, call))),
    streamChat: chat && ((params, call) =>
      upstream.stream(chat.request(params, target, true), chat.streamDecoder(), provider, call, usageChunk)),
    complete: complete && (async (params, call) =>
      complete.response(await upstream.json(complete.request(params, target, false), provider, call))),
    streamComplete: complete && ((params, call) =>
      upstream.stream(complete.request(params, target, true), complete.streamDecoder(), provider, call, usageChunk)),
    embed: embed && (async (params, call) => embed.response(await upstream.json(embed.request(params, target), provider, call))),
    predict: predict && (async (params, call) =>
      predict.response(await upstream.json(predict.request(params, target), provider, call))),
  };
}

/** The closing chunk of every stream: no choices, the usage. */
function usageChunk(id: string, model: string, usage: ChatChunk["usage"]) {
  return { id, model, choices: [], usage };
}
