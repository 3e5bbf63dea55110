// The OpenAI-compatible surface: /v1/chat/completions, /v1/completions, /v1/embeddings,
// /v1/models. Existing OpenAI SDKs work unchanged with base URL http://HOST:PORT/v1. Every
// answer, SSE chunk and error is checked against OpenAI's OpenAPI document in
// test/conformance/.
import { EmbeddingPrecision } from "../../../gen/modelgate/v1/embeddings_pb";
import { callOptionsFor, readJson, sendJson, streamSse, type SseStreaming } from "../http";
import type { RestSurface } from "../router";
import type { ServiceClients } from "../services";
import { parseBody } from "../../services/validate";
import { type StreamState, chatChunkJson, chatCompletionJson, openaiChatCompletionBody, toChatRequest } from "./chat";
import { completionBody, completionChunkJson, completionJson, toCompleteRequest } from "./completions";
import { embeddingBody, embeddingsJson, toEmbedRequest } from "./embeddings";
import { openaiError, openaiMethodNotAllowed, openaiNotFound } from "./errors";
import type { NodeRequest, NodeResponse } from "../../server/one-port";
import { describeEndpointJson } from "./models";

export function openaiSurface(clients: ServiceClients, maxBodyBytes: number, streaming: SseStreaming = {}): RestSurface {
  const sse = <T>(res: NodeResponse, stream: AsyncIterable<T>, headersOut: Record<string, string>, toJson: (chunk: T) => unknown) =>
    streamSse(res, stream, headersOut, toJson, { errorBody: (err) => openaiError(err).body, terminator: "[DONE]", ...streaming });
  const now = () => Math.floor(Date.now() / 1000);
  const readBody = (req: NodeRequest) => readJson(req, maxBodyBytes);

  return {
    renderError: openaiError,
    // The router's hooks: an unknown /v1/ path and a wrong method answer in OpenAI's ErrorResponse shape.
    prefixes: ["/v1/"],
    renderNotFound: openaiNotFound,
    renderMethodNotAllowed: openaiMethodNotAllowed,
    routes: [
      {
        method: "POST",
        path: "/v1/chat/completions",
        async handler(req, res) {
          const body = parseBody(openaiChatCompletionBody, await readBody(req));
          const request = toChatRequest(body);
          // `created` is the upstream's; the gateway's clock only stands in when it sends none.
          const startedAt = now();
          const headersOut: Record<string, string> = {};
          const options = callOptionsFor(req, res, headersOut);
          if (!body.stream) {
            const out = await clients.chat.chat(request, options);
            sendJson(res, 200, chatCompletionJson(out, startedAt), headersOut);
            return;
          }
          const includeUsage = body.stream_options?.include_usage === true;
          const state: StreamState = { startedAt };
          await sse(res, clients.chat.streamChat(request, options), headersOut, (c) => chatChunkJson(c, state, includeUsage));
        },
      },
      {
        method: "POST",
        path: "/v1/completions",
        async handler(req, res) {
          const body = parseBody(completionBody, await readBody(req));
          const request = toCompleteRequest(body);
          const startedAt = now();
          const headersOut: Record<string, string> = {};
          const options = callOptionsFor(req, res, headersOut);
          if (!body.stream) {
            sendJson(res, 200, completionJson(await clients.completions.complete(request, options), startedAt), headersOut);
            return;
          }
          const includeUsage = body.stream_options?.include_usage === true;
          const state: StreamState = { startedAt };
          await sse(res, clients.completions.streamComplete(request, options), headersOut, (c) => completionChunkJson(c, state, includeUsage));
        },
      },
      {
        method: "POST",
        path: "/v1/embeddings",
        async handler(req, res) {
          const body = parseBody(embeddingBody, await readBody(req));
          const headersOut: Record<string, string> = {};
          // FLOAT64: the upstream's numbers exactly (the in-process call is binary protobuf).
          const request = { ...toEmbedRequest(body), precision: EmbeddingPrecision.FLOAT64 };
          const out = await clients.embeddings.embed(request, callOptionsFor(req, res, headersOut));
          sendJson(res, 200, embeddingsJson(out, body.encoding_format ?? "float"), headersOut);
        },
      },
      {
        method: "GET",
        path: "/v1/models",
        async handler(req, res) {
          const headersOut: Record<string, string> = {};
          const out = await clients.endpoints.listEndpoints({}, callOptionsFor(req, res, headersOut));
          sendJson(res, 200, { object: "list", data: out.endpoints.map(describeEndpointJson) }, headersOut);
        },
      },
      {
        method: "GET",
        path: "/v1/models/{model}",
        async handler(req, res, params) {
          const headersOut: Record<string, string> = {};
          const out = await clients.endpoints.getEndpoint({ name: params["model"] ?? "" }, callOptionsFor(req, res, headersOut));
          sendJson(res, 200, describeEndpointJson(out.endpoint!), headersOut);
        },
      },
    ],
  };
}
