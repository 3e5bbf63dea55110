// The OpenAI-compatible surface: /v1/chat/completions, /v1/responses (stored or not), /v1/completions,
// /v1/embeddings, /v1/models. Existing OpenAI SDKs work unchanged with base URL http://HOST:PORT/v1. Every
// answer, SSE chunk and error is checked against OpenAI's OpenAPI document in
// test/conformance/.
import { Code, ConnectError } from "@connectrpc/connect";
import { CallValues } from "../../server/interceptor-chain";
import { EmbeddingPrecision } from "../../../gen/modelgate/v1/embeddings_pb";
import { getCaller } from "../../interceptors/call-info";
import { callOptionsFor, readJson, sendJson, streamSse, streamSseEvents, type SseStreaming } from "../http";
import type { RestSurface } from "../router";
import type { ServiceClients } from "../services";
import { parseBody } from "../../services/validate";
import { type StreamState, chatChunkJson, chatCompletionJson, parseChatBody, toChatRequest } from "./chat";
import { completionBody, completionChunkJson, completionJson, toCompleteRequest } from "./completions";
import { embeddingBody, embeddingsJson, toEmbedRequest } from "./embeddings";
import { openaiError, openaiMethodNotAllowed, openaiNotFound } from "./errors";
import { responsesBody, toChatRequestFromResponses } from "./responses";
import { ResponseEvents, responseFromChat } from "./responses-output";
import { type ResponseObject, type StoredResponses, inputItemResources, newResponseId } from "./stored-responses";
import type { Conversations } from "./conversations";
import { invalidArgument } from "../../errors";
import type { NodeRequest, NodeResponse } from "../../server/one-port";
import { describeEndpointJson } from "./models";

/** What the Responses API keeps: stored responses and conversations. */
export interface ResponsesState {
  stored: StoredResponses;
  conversations: Conversations;
}

export function openaiSurface(clients: ServiceClients, maxBodyBytes: number, { stored, conversations }: ResponsesState, streaming: SseStreaming = {}): RestSurface {
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
          const body = parseChatBody(await readBody(req), true);
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
          // The gateway assigned the request id before routing (the caller's when sane).
          const requestId = String(req.headers["x-request-id"] ?? "");
          const headersOut: Record<string, string> = {};
          // The call's context values: the auth interceptor leaves the caller there, who owns what is stored.
          const options = { ...callOptionsFor(req, res, headersOut), contextValues: new CallValues() };
          const { previous_response_id: previous, conversation } = body;
          if (previous != null && conversation != null) throw invalidArgument("conversation: cannot be used with previous_response_id (a response continues one or the other)");
          const history =
            previous != null
              ? await stored.history(req.headers.authorization, previous, options.signal)
              : conversation != null
                ? await conversations.history(req.headers.authorization, conversation, options.signal)
                : undefined;
          const request = toChatRequestFromResponses(body, history?.items, conversation != null ? "conversation" : undefined);
          const store = body.store !== false && stored.enabled;
          // The answer's input items (with ids), for what keeps them: the stored response, the conversation.
          const input = store || conversation != null ? inputItemResources(body, requestId) : [];
          // A stored response holds previous_response_id's conversation; in a conversation, only its own turn
          // (the conversation keeps the rest: storing it again with every turn would grow as its square).
          const chain = conversation == null ? history : undefined;
          if (store) stored.checkSize(chain, input);
          // OpenAI's Response schema has no `store`: whether it was kept shows in GET /v1/responses/{id}.
          const base = { requestId, responseId: newResponseId(requestId), body, startedAt: now() };
          const keep =
            store || conversation != null
              ? async (response: ResponseObject) => {
                  if (store) {
                    const caller = getCaller(options.contextValues);
                    if (!caller) throw new ConnectError("the call ended without a caller to store the response for", Code.Internal);
                    await stored.save(caller.principal, body.model, response, input, chain);
                  }
                  if (conversation != null) await conversations.extend(conversation, input, response.output);
                }
              : undefined;
          if (!body.stream) {
            const response = responseFromChat(await clients.chat.chat(request, options), base);
            await keep?.(response);
            sendJson(res, 200, response, headersOut);
            return;
          }
          await streamSseEvents(res, clients.chat.streamChat(request, options), headersOut, new ResponseEvents(base, keep), streaming);
        },
      },
      ...stored.routes(),
      ...conversations.routes(),
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
