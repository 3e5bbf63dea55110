import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { PredictService } from "../../gen/modelgate/v1/predict_pb";
import { invalidArgument } from "../errors";
import { checkPredictInput, transformPredictInput } from "../policies/predict-schema";
import type { CallOptions } from "../providers/model";
import type { PredictParams } from "../providers/types";
import { beginEndpointCall, recordAnswer, routedUnary, missingMethod, routingOf, type ServiceDeps } from "./endpoint-call";

export function predictService(deps: ServiceDeps): ServiceImpl<typeof PredictService> {
  return {
    async predict(req, ctx) {
      const { endpoint, outcome, options } = beginEndpointCall(deps, ctx, req.endpoint, "predict");
      if (req.input.case === undefined) {
        throw invalidArgument("input: one of dataframe_split, dataframe_records, instances or inputs is required");
      }
      // predict_schema: the endpoint's transformation now; the signature check once routing
      // knows the version that will answer (before the model server is called).
      const schema = endpoint.policies?.predictSchema;
      const params: PredictParams = schema ? transformPredictInput(schema, req) : req;
      const call: CallOptions = schema
        ? { ...options, checkPredictInput: (model, p, attempt) => checkPredictInput(schema, model, p, attempt, endpoint.name) }
        : options;
      const res = endpoint.router
        ? await routedUnary(endpoint.router, ctx, outcome, call, (c, attempt) => (c.predict ?? missingMethod(endpoint))(params, attempt))
        : await (endpoint.client.predict ?? missingMethod(endpoint))(params, call);
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
