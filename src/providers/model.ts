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
import { withoutCredentials } from "../upstream/credentials";
import type { UpstreamPeer, UpstreamRequest } from "../upstream/wire";
import type { Provider } from "./types";
import { completeViaChat } from "./complete-via-chat";
import { MappedStream } from "./mapped-stream";

/** Per-call context for a ModelClient: the upstream's, and what routing checks before it. */
export interface CallOptions extends UpstreamCall {
  /**
   * Registry model versions the caller may reach (access grants with `model_versions`);
   * undefined = any. Checked by routing's registry targets (src/routing/registry-targets.ts)
   * once the version an alias points to is known; providers never see it.
   */
  allowedModelVersions?: ReadonlySet<string>;
  /**
   * Predict on a registry model: checks (and may trim) the input once the version that will
   * answer is known (an endpoint's `predict_schema`, src/policies/predict-schema.ts). Called by
   * routing's registry targets before the model server is; providers never see it.
   */
  checkPredictInput?: (model: { name: string; version: string; tracking?: { uri: string; token?: string } }, params: PredictParams, call: CallOptions) => Promise<PredictParams>;
}

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
export function httpModelFactory(given: Provider): ModelFactory {
  // A chat-only provider also serves completions, as a one-message chat.
  const provider = given.chat && !given.complete ? { ...given, complete: completeViaChat(given.chat, given.name) } : given;
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

function httpModel(given: Provider, target: ModelTarget, upstream: UpstreamClient): ModelClient {
  const { chat, complete, embed, predict } = given;
  const provider = upstreamPeer(given, target);
  /**
   * A unary call: the request built and sent, its answer read by the provider. An error the answer
   * carries (a 200 with `{"error": …}`) is the upstream's text: it never quotes the request's
   * credentials. A promise chain rather than async functions around the upstream's promise (one
   * suspended frame less per call in flight); a request that cannot be built rejects, as before.
   */
  const unary = <T>(request: () => UpstreamRequest, read: (body: unknown) => T, call: CallOptions): Promise<T> => {
    let req: UpstreamRequest;
    let sent: Promise<unknown>;
    try {
      req = request();
      sent = upstream.json(req, provider, call);
    } catch (err) {
      return Promise.reject(err);
    }
    return sent.then((body) => {
      try {
        return read(body);
      } catch (err) {
        throw withoutCredentials(err, req.headers, req.url);
      }
    });
  };
  return {
    chat: chat && ((params, call) => unary(() => chat.request(params, target, false), (b) => named(chat.response(b), target, call), call)),
    streamChat: chat && ((params, call) =>
      namedStream(upstream.stream(chat.request(params, target, true), chat.streamDecoder(), provider, call, usageChunk), target, call)),
    complete: complete && ((params, call) => unary(() => complete.request(params, target, false), (b) => named(complete.response(b), target, call), call)),
    streamComplete: complete && ((params, call) =>
      namedStream(upstream.stream(complete.request(params, target, true), complete.streamDecoder(), provider, call, usageChunk), target, call)),
    embed: embed && ((params, call) =>
      unary(() => embed.request(params, target), (b) => {
        const res = embed.response(b);
        return res.model ? res : { ...res, model: target.name };
      }, call)),
    predict: predict && ((params, call) => unary(() => predict.request(params, target), (b) => predict.response(b), call)),
  };
}

/**
 * Some upstreams name neither the answer nor the model (Bedrock Converse): the configured model
 * name and the call's request id stand in, so clients always get both.
 */
function named<T extends { id: string; model: string }>(res: T, target: ModelTarget, call: CallOptions): T {
  if (res.id && res.model) return res;
  return { ...res, id: res.id || `mg-${call.requestId ?? ""}`, model: res.model || target.name };
}

/** named() on every chunk (MappedStream: no generator held while the stream is open). */
function namedStream<T extends { id: string; model: string }>(chunks: AsyncIterable<T>, target: ModelTarget, call: CallOptions): AsyncIterable<T> {
  return new NamedStream(chunks, target, call);
}

class NamedStream<T extends { id: string; model: string }> extends MappedStream<T> {
  constructor(
    chunks: AsyncIterable<T>,
    private readonly target: ModelTarget,
    private readonly call: CallOptions,
  ) {
    super(chunks);
  }
  protected map(chunk: T): T {
    return named(chunk, this.target, this.call);
  }
}

/** The closing chunk of every stream: no choices, the usage. */
function usageChunk(id: string, model: string, usage: ChatChunk["usage"]) {
  return { id, model, choices: [], usage };
}

/** The provider as the upstream client sees it for one endpoint target: signing gets the target. */
function upstreamPeer(provider: Provider, target: ModelTarget): UpstreamPeer {
  const { authorize, errorMessage } = provider;
  return {
    name: provider.name,
    ...(authorize ? { authorize: (req, body, signal) => authorize.call(provider, req, body, target, signal) } : {}),
    ...(errorMessage ? { errorMessage: (body) => errorMessage.call(provider, body) } : {}),
  };
}
