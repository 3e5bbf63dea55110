import type { ServiceImpl } from "@connectrpc/connect";
import type { ChatRequest, ChatService, StreamChatRequest } from "../../gen/modelgate/v1/chat_pb";
import type { ChatParams } from "../providers/types";
import { policyStream, policyUnary } from "../policies/pipeline";
import { beginEndpointCall, recordAnswer, routedStream, routedUnary, missingMethod, routingOf, streamedOutput, type ServiceDeps } from "./endpoint-call";
import { chatRequestSchema, validate } from "./validate";

export function chatParams(req: ChatRequest | StreamChatRequest): ChatParams {
  validate(chatRequestSchema, req);
  return req;
}

export function chatService(deps: ServiceDeps): ServiceImpl<typeof ChatService> {
  return {
    async chat(req, ctx) {
      const { endpoint, outcome, options } = beginEndpointCall(deps, ctx, req.endpoint, "llm/v1/chat");
      return policyUnary({ endpoint, outcome, options }, ctx, chatParams(req), async (params) => {
        const res = endpoint.router
          ? await routedUnary(endpoint.router, ctx, outcome, options, (c, call) => (c.chat ?? missingMethod(endpoint))(params, call))
          : await (endpoint.client.chat ?? missingMethod(endpoint))(params, options);
        recordAnswer(outcome, res);
        return Object.assign(res, { routing: routingOf(outcome) });
      });
    },
    async *streamChat(req, ctx) {
      const { endpoint, outcome, options } = beginEndpointCall(deps, ctx, req.endpoint, "llm/v1/chat");
      yield* policyStream({ endpoint, outcome, options }, ctx, chatParams(req), async function* (params) {
        const chunks = endpoint.router
          ? routedStream(endpoint.router, ctx, outcome, options, (c, call) => (c.streamChat ?? missingMethod(endpoint))(params, call))
          : (endpoint.client.streamChat ?? missingMethod(endpoint))(params, options);
        const streamed = streamedOutput(outcome);
        for await (const chunk of chunks) {
          // The last message carries the usage, and so the routing (the target is known by then).
          if (chunk.usage) {
            recordAnswer(outcome, { usage: chunk.usage });
            Object.assign(chunk, { routing: routingOf(outcome) });
          }
          streamed.addChunk(chunk);
          yield chunk;
        }
      });
    },
  };
}
