import type { ServiceImpl } from "@connectrpc/connect";
import type { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { beginEndpointCall, routedUnary, missingMethod, type ServiceDeps } from "./endpoint-call";
import { embedRequestSchema, validate } from "./validate";

export function embeddingsService(deps: ServiceDeps): ServiceImpl<typeof EmbeddingsService> {
  return {
    async embed(req, ctx) {
      const { endpoint, info, options } = beginEndpointCall(deps, ctx, req.endpoint, "llm/v1/embeddings");
      validate(embedRequestSchema, req);
      const res = endpoint.router
        ? await routedUnary(endpoint.router, ctx, info, options, (c, call) => (c.embed ?? missingMethod(endpoint))(req, call))
        : await (endpoint.client.embed ?? missingMethod(endpoint))(req, options);
      info.usage = res.usage;
      return res;
    },
  };
}
