import type { ServiceImpl } from "@connectrpc/connect";
import type { CompleteRequest, CompletionsService, StreamCompleteRequest } from "../../gen/modelgate/v1/completions_pb";
import type { CompleteParams } from "../providers/types";
import { policyStream, policyUnary } from "../policies/pipeline";
import { beginEndpointCall, lazyStream, routedStream, routedUnary, missingMethod, recordedStream, recordedUnary, type ServiceDeps } from "./endpoint-call";
import { completeRequestSchema, validate } from "./validate";

export function completeParams(req: CompleteRequest | StreamCompleteRequest): CompleteParams {
  validate(completeRequestSchema, req);
  return req;
}

export function completionsService(deps: ServiceDeps): ServiceImpl<typeof CompletionsService> {
  return {
    // Not async: it returns policyUnary's promise as it is (an async function resolving to a
    // promise costs three more microtask turns).
    complete(req, ctx) {
      const { endpoint, outcome, options } = beginEndpointCall(deps, ctx, req.endpoint, "llm/v1/completions");
      return policyUnary({ endpoint, outcome, options, embed: deps.embed }, ctx, completeParams(req), (params) =>
        recordedUnary(
          endpoint.router
            ? routedUnary(endpoint.router, ctx, outcome, options, (c, call) => (c.complete ?? missingMethod(endpoint))(params, call))
            : (endpoint.client.complete ?? missingMethod(endpoint))(params, options),
          outcome,
        ),
      );
    },
    // Lazy (opened on the first read, as a generator's body) and without a generator of its own
    // suspended over the stream (see lazyStream).
    streamComplete(req, ctx) {
      return lazyStream(() => {
        const { endpoint, outcome, options } = beginEndpointCall(deps, ctx, req.endpoint, "llm/v1/completions");
        return policyStream({ endpoint, outcome, options, embed: deps.embed }, ctx, completeParams(req), (params) => {
          const chunks = endpoint.router
            ? routedStream(endpoint.router, ctx, outcome, options, (c, call) => (c.streamComplete ?? missingMethod(endpoint))(params, call))
            : (endpoint.client.streamComplete ?? missingMethod(endpoint))(params, options);
          return recordedStream(chunks, outcome);
        });
      });
    },
  };
}
