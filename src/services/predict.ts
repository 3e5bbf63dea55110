import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { PredictService } from "../../gen/modelgate/v1/predict_pb";
import { invalidArgument } from "../errors";
import { beginEndpointCall, recordAnswer, routedUnary, missingMethod, routingOf, type ServiceDeps } from "./endpoint-call";

export function predictService(deps: ServiceDeps): ServiceImpl<typeof PredictService> {
  return {
    async predict(req, ctx) {
      const { endpoint, outcome, options } = beginEndpointCall(deps, ctx, req.endpoint, "predict");
      if (req.input.case === undefined) {
        throw invalidArgument("input: one of dataframe_split, dataframe_records, instances or inputs is required");
      }
      const res = endpoint.router
        ? await routedUnary(endpoint.router, ctx, outcome, options, (c, call) => (c.predict ?? missingMethod(endpoint))(req, call))
        : await (endpoint.client.predict ?? missingMethod(endpoint))(req, options);
      recordAnswer(outcome, { model: res.model, modelVersion: res.modelVersion });
      return {
        predictions: fromJson(ValueSchema, res.predictions),
        model: res.model ?? outcome.model ?? endpoint.model,
        modelVersion: res.modelVersion ?? "",
        routing: routingOf(outcome),
      };
    },
  };
}
