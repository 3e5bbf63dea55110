import type { ServiceImpl } from "@connectrpc/connect";
import { EmbeddingPrecision, type EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { badUpstreamResponse } from "../errors";
import { policyEmbedInput } from "../policies/pipeline";
import { FLOAT32_MAX } from "../server/message-conform";
import { beginEndpointCall, recordAnswer, routedUnary, missingMethod, routingOf, type ServiceDeps } from "./endpoint-call";
import { embedRequestSchema, validate } from "./validate";

export function embeddingsService(deps: ServiceDeps): ServiceImpl<typeof EmbeddingsService> {
  return {
    async embed(req, ctx) {
      const { endpoint, outcome, options } = beginEndpointCall(deps, ctx, req.endpoint, "llm/v1/embeddings");
      validate(embedRequestSchema, req);
      // Input guardrails (when the endpoint has them) may refuse or redact the texts.
      const params = endpoint.policies ? await policyEmbedInput({ endpoint, outcome, options }, ctx, req) : req;
      const res = endpoint.router
        ? await routedUnary(endpoint.router, ctx, outcome, options, (c, call) => (c.embed ?? missingMethod(endpoint))(params, call))
        : await (endpoint.client.embed ?? missingMethod(endpoint))(params, options);
      recordAnswer(outcome, { usage: res.usage });
      // FLOAT64: the upstream's numbers in double_values (float32 would turn 0.1 into 0.10000000149011612).
      const routing = routingOf(outcome);
      if (req.precision === EmbeddingPrecision.FLOAT64) {
        return { ...res, data: res.data.map((d) => ({ index: d.index, values: [], doubleValues: d.values })), routing };
      }
      checkFloat32(res.data, outcome.provider ?? endpoint.provider);
      return Object.assign(res, { routing });
    },
  };
}

/**
 * Refuses (as an unexpected upstream answer) a value float32 cannot hold: `values` are float32,
 * and a larger number could not be encoded. FLOAT64 returns it as it is.
 */
export function checkFloat32(data: readonly { values: readonly number[] }[], provider: string): void {
  for (let i = 0; i < data.length; i++) {
    const values = data[i]!.values;
    for (let j = 0; j < values.length; j++) {
      const v = values[j]!;
      if (v > FLOAT32_MAX || v < -FLOAT32_MAX) {
        throw badUpstreamResponse(provider, `data[${i}].values[${j}]: ${v} is outside float32's range (precision FLOAT64 returns it as it is)`);
      }
    }
  }
}
