// The OpenAI-compatible surface: /v1/chat/completions, /v1/responses (stateless), /v1/completions,
// /v1/embeddings, /v1/models. Existing OpenAI SDKs work unchanged with base URL http://HOST:PORT/v1. Every
// answer, SSE chunk and error is checked against OpenAI's OpenAPI document in
// test/conformance/.
import { EmbeddingPrecision } from "../../../gen/modelgate/v1/embeddings_pb";
import { clip } from "../../errors";
import { callOptionsFor, readJson, sendJson, streamSse, streamSseEvents, type SseStreaming } from "../http";
import type { RestRoute, RestSurface } from "../router";
import type { ServiceClients } from "../services";
import { parseBody } from "../../services/validate";
import { type StreamState, chatChunkJson, chatCompletionJson, openaiChatCompletionBody, toChatRequest } from "./chat";
import { completionBody, completionChunkJson, completionJson, toCompleteRequest } from "./completions";
import { embeddingBody, embeddingsJson, toEmbedRequest } from "./embeddings";
import { openaiError, openaiErrorBody, openaiMethodNotAllowed, openaiNotFound, openaiResponseNotStored } from "./errors";
import { responsesBody, toChatRequestFromResponses } from "./responses";
import { ResponseEvents, responseFromChat } from "./responses-output";
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
        path: "/v1/responses",
        async handler(req, res) {
          const body = parseBody(responsesBody, await readBody(req));
          const request = toChatRequestFromResponses(body);
          // The gateway assigned the request id before routing (the caller's when sane): resp_<id>.
          const base = { requestId: String(req.headers["x-request-id"] ?? ""), body, startedAt: now() };
          const headersOut: Record<string, string> = {};
          const options = callOptionsFor(req, res, headersOut);
          if (!body.stream) {
            sendJson(res, 200, responseFromChat(await clients.chat.chat(request, options), base), headersOut);
            return;
          }
          await streamSseEvents(res, clients.chat.streamChat(request, options), headersOut, new ResponseEvents(base), streaming);
        },
      },
      ...notStoredRoutes,
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

/**
 * The Responses API's routes for stored responses: a 404 that says why (nothing is stored), not
 * the unknown-route one; the token-counting and compaction routes answer that they are not served.
 */
const notStoredRoutes: RestRoute[] = [
  ...(
    [
      ["GET", "/v1/responses/{response_id}"],
      ["DELETE", "/v1/responses/{response_id}"],
      ["GET", "/v1/responses/{response_id}/input_items"],
      ["POST", "/v1/responses/{response_id}/cancel"],
    ] as const
  ).map(([method, path]): RestRoute => ({
    method,
    path,
    async handler(_req, res, params) {
      const id = params["response_id"] ?? "";
      const r = openaiResponseNotStored(method, path.replace("{response_id}", encodeURIComponent(clip(id, 64))), id);
      sendJson(res, r.status, r.body, r.headers);
    },
  })),
  ...["/v1/responses/input_tokens", "/v1/responses/compact"].map(
    (path): RestRoute => ({
      method: "POST",
      path,
      async handler(_req, res) {
        sendJson(res, 404, openaiErrorBody(`POST ${path} is not served by this gateway (only POST /v1/responses, statelessly)`, "invalid_request_error"));
      },
    }),
  ),
];
