import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema, type ListValue, type Value } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { PredictRequest, PredictService } from "../../gen/modelgate/v1/predict_pb";
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
      const empty = emptyValueIn(req.input);
      if (empty !== undefined) {
        throw invalidArgument(`${empty}: a google.protobuf.Value with no kind set (one of null_value, number_value, string_value, bool_value, struct_value or list_value is required)`);
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

/**
 * Where the input holds a google.protobuf.Value with no kind (the binary encoding allows one; JSON
 * has no such value, so it cannot be sent on), as `inputs.struct_value["k"].list_value[2]`.
 */
function emptyValueIn(input: PredictRequest["input"]): string | undefined {
  switch (input.case) {
    case "dataframeSplit": {
      for (let i = 0; i < input.value.data.length; i++) {
        const at = emptyInList(input.value.data[i]!, `dataframe_split.data[${i}]`);
        if (at !== undefined) return at;
      }
      for (let i = 0; i < input.value.index.length; i++) {
        const at = emptyInValue(input.value.index[i]!, `dataframe_split.index[${i}]`);
        if (at !== undefined) return at;
      }
      return undefined;
    }
    case "dataframeRecords":
      return emptyInList(input.value, "dataframe_records");
    case "instances":
      return emptyInList(input.value, "instances");
    case "inputs":
      return emptyInValue(input.value, "inputs");
    default:
      return undefined;
  }
}

function emptyInValue(v: Value, path: string): string | undefined {
  switch (v.kind.case) {
    case undefined:
      return path;
    case "listValue":
      return emptyInList(v.kind.value, `${path}.list_value`);
    case "structValue":
      for (const [key, item] of Object.entries(v.kind.value.fields)) {
        const at = emptyInValue(item, `${path}.struct_value[${JSON.stringify(key)}]`);
        if (at !== undefined) return at;
      }
      return undefined;
    default:
      return undefined;
  }
}

function emptyInList(list: ListValue, path: string): string | undefined {
  for (let i = 0; i < list.values.length; i++) {
    const at = emptyInValue(list.values[i]!, `${path}[${i}]`);
    if (at !== undefined) return at;
  }
  return undefined;
}
