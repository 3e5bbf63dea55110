// The REST surfaces call the same services, through the same interceptors, as gRPC and Connect
// clients do: typed clients over the direct in-process transport (src/server/direct-transport.ts),
// which hands the message objects to the implementations without encoding them. One request path.
import type { DescMessage, DescMethodServerStreaming, DescService, MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type CallOptions, type Client, type ConnectRouter, type StreamResponse } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { CompletionsService } from "../../gen/modelgate/v1/completions_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { EndpointService } from "../../gen/modelgate/v1/endpoint_pb";
import { PredictService } from "../../gen/modelgate/v1/predict_pb";
import { createDirectTransport, type DirectTransport, type DirectTransportOptions } from "../server/direct-transport";

export interface ServiceClients {
  chat: Client<typeof ChatService>;
  completions: Client<typeof CompletionsService>;
  embeddings: Client<typeof EmbeddingsService>;
  predict: Client<typeof PredictService>;
  endpoints: Client<typeof EndpointService>;
}

export function inProcessClients(routes: (router: ConnectRouter) => void, options: DirectTransportOptions = {}): ServiceClients {
  const transport = createDirectTransport(routes, options);
  return {
    chat: clientOf(ChatService, transport),
    completions: clientOf(CompletionsService, transport),
    embeddings: clientOf(EmbeddingsService, transport),
    predict: clientOf(PredictService, transport),
    endpoints: clientOf(EndpointService, transport),
  };
}

/**
 * connect-es's client, with its server-streaming methods replaced by ServerStreamCall: connect-es
 * wraps a stream's messages in one more async generator (its handleStreamResponse) and its single
 * request in another (createAsyncIterable), ~60 µs of a REST stream's CPU (bench/README.md,
 * "Thirteenth pass"); the transport takes the request as is.
 */
function clientOf<S extends DescService>(service: S, transport: DirectTransport): Client<S> {
  const client = createClient(service, transport) as Record<string, unknown>;
  for (const method of service.methods) {
    if (method.methodKind !== "server_streaming") continue;
    const streaming = method as DescMethodServerStreaming; // DescMethod does not narrow on methodKind
    client[method.localName] = (input: MessageInitShape<DescMessage>, options?: CallOptions) =>
      new ServerStreamCall(transport.serverStream(streaming, options?.signal, options?.timeoutMs, options?.headers, input, options?.contextValues), options);
  }
  return client as Client<S>;
}

/**
 * A server stream's messages as connect-es's client gives them: the call's head first (onHeader),
 * then each message, then its end (onTrailer); a failure rejects the next read. Like connect-es's,
 * the iterable has no return() or throw(): a caller that stops reading cancels through its signal.
 */
class ServerStreamCall<O> implements AsyncIterable<O>, AsyncIterator<O> {
  private messages: AsyncIterator<O> | undefined;
  private trailer: Headers | undefined;
  private ended = false;

  constructor(
    private readonly response: Promise<StreamResponse<DescMessage, DescMessage>>,
    private readonly options: CallOptions | undefined,
  ) {
    response.catch(() => {}); // rejects the first read; not unhandled if no read comes
  }

  [Symbol.asyncIterator](): AsyncIterator<O> {
    return this;
  }

  async next(): Promise<IteratorResult<O>> {
    if (this.ended) return { done: true, value: undefined };
    try {
      if (this.messages === undefined) {
        const response = await this.response;
        this.options?.onHeader?.(response.header);
        this.trailer = response.trailer;
        this.messages = (response.message as AsyncIterable<O>)[Symbol.asyncIterator]();
      }
      const r = await this.messages.next();
      if (r.done === true) {
        this.ended = true;
        this.options?.onTrailer?.(this.trailer!);
      }
      return r;
    } catch (err) {
      this.ended = true;
      throw err;
    }
  }
}
