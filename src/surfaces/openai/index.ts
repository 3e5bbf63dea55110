// The OpenAI-compatible surface: /v1/chat/completions, /v1/completions, /v1/embeddings,
// /v1/models. Existing OpenAI SDKs work unchanged with base URL http://HOST:PORT/v1.
import { callOptionsFor, readJson, sendJson, streamSse } from "../http";
import type { RestSurface } from "../router";
import type { ServiceClients } from "../services";
import { parseBody } from "../../services/validate";
import { chatChunkJson, chatCompletionBody, chatCompletionJson, toChatRequest } from "./chat";
import { completionBody, completionChunkJson, completionJson, toCompleteRequest } from "./completions";
import { embeddingBody, embeddingsJson, toEmbedRequest } from "./embeddings";
import { openaiError } from "./errors";
import type { NodeResponse } from "../../server/one-port";
import { describeEndpointJson } from "./models";

export function openaiSurface(clients: ServiceClients, maxBodyBytes: number): RestSurface {
  const sse = <T>(res: NodeResponse, stream: AsyncIterable<T>, headersOut: Record<string, string>, toJson: (chunk: T) => unknown) =>
    streamSse(res, stream, headersOut, toJson, { errorBody: (err) => openaiError(err).body, terminator: "[DONE]" });

  return {
    renderError: openaiError,
    routes: [
      {
        method: "POST",
        path: "/v1/chat/completions",
        async handler(req, res) {
          const body = parseBody(chatCompletionBody, await readJson(req, maxBodyBytes));
          const request = toChatRequest(body);
          const created = Math.floor(Date.now() / 1000);
          const headersOut: Record<string, string> = {};
          const options = callOptionsFor(req, res, headersOut);
          if (!body.stream) {
            const out = await clients.chat.chat(request, options);
            sendJson(res, 200, chatCompletionJson(out, created), headersOut);
            return;
          }
          const includeUsage = body.stream_options?.include_usage === true;
          await sse(res, clients.chat.streamChat(request, options), headersOut, (c) => chatChunkJson(c, created, includeUsage));
        },
      },
      {
        method: "POST",
        path: "/v1/completions",
        async handler(req, res) {
          const body = parseBody(completionBody, await readJson(req, maxBodyBytes));
          const request = toCompleteRequest(body);
          const created = Math.floor(Date.now() / 1000);
          const headersOut: Record<string, string> = {};
          const options = callOptionsFor(req, res, headersOut);
          if (!body.stream) {
            sendJson(res, 200, completionJson(await clients.completions.complete(request, options), created), headersOut);
            return;
          }
          const includeUsage = body.stream_options?.include_usage === true;
          await sse(res, clients.completions.streamComplete(request, options), headersOut, (c) =>
            completionChunkJson(c, created, includeUsage),
          );
        },
      },
      {
        method: "POST",
        path: "/v1/embeddings",
        async handler(req, res) {
          const body = parseBody(embeddingBody, await readJson(req, maxBodyBytes));
          const headersOut: Record<string, string> = {};
          const out = await clients.embeddings.embed(toEmbedRequest(body), callOptionsFor(req, res, headersOut));
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
