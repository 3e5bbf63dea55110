import type { ServiceImpl } from "@connectrpc/connect";
import type { ChatRequest, ChatService, StreamChatRequest } from "../../gen/modelgate/v1/chat_pb";
import type { ChatParams } from "../providers/types";
import { policyStream, policyUnary } from "../policies/pipeline";
import { beginEndpointCall, lazyStream, routedStream, routedUnary, missingMethod, recordedStream, recordedUnary, type ServiceDeps } from "./endpoint-call";
import { chatRequestSchema, plainChatRequest, validate } from "./validate";

export function chatParams(req: ChatRequest | StreamChatRequest): ChatParams {
  if (!plainChatRequest(req)) validate(chatRequestSchema, req);
  return req;
}

export function chatService(deps: ServiceDeps): ServiceImpl<typeof ChatService> {
  return {
    // Not async: it returns policyUnary's promise as it is (an async function resolving to a
    // promise costs three more microtask turns).
    chat(req, ctx) {
      const { endpoint, outcome, options } = beginEndpointCall(deps, ctx, req.endpoint, "llm/v1/chat");
      return policyUnary({ endpoint, outcome, options, embed: deps.embed }, ctx, chatParams(req), (params) =>
        recordedUnary(
          endpoint.router
            ? routedUnary(endpoint.router, ctx, outcome, options, (c, call) => (c.chat ?? missingMethod(endpoint))(params, call))
            : (endpoint.client.chat ?? missingMethod(endpoint))(params, options),
          outcome,
        ),
      );
    },
    // Lazy (opened on the first read, as a generator's body) and without a generator of its own
    // suspended over the stream (see lazyStream).
    streamChat(req, ctx) {
      return lazyStream(() => {
        const { endpoint, outcome, options } = beginEndpointCall(deps, ctx, req.endpoint, "llm/v1/chat");
        return policyStream({ endpoint, outcome, options, embed: deps.embed }, ctx, chatParams(req), (params) => {
          const chunks = endpoint.router
            ? routedStream(endpoint.router, ctx, outcome, options, (c, call) => (c.streamChat ?? missingMethod(endpoint))(params, call))
            : (endpoint.client.streamChat ?? missingMethod(endpoint))(params, options);
          return recordedStream(chunks, outcome);
        });
      });
    },
  };
}
