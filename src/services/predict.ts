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
 * has no such value, so it cannot be sent on), as `inputs.struct_value["k"].list_value[2]`. The
 * place is spelled out only when there is one: a valid input costs one walk and no strings.
 */
function emptyValueIn(input: PredictRequest["input"]): string | undefined {
  let at: string | undefined;
  switch (input.case) {
    case "dataframeSplit": {
      const { data, index } = input.value;
      for (let i = 0; i < data.length; i++) if ((at = emptyInList(data[i]!)) !== undefined) return `dataframe_split.data[${i}]${at}`;
      for (let i = 0; i < index.length; i++) if ((at = emptyInValue(index[i]!)) !== undefined) return `dataframe_split.index[${i}]${at}`;
      return undefined;
    }
    case "dataframeRecords":
      return (at = emptyInList(input.value)) === undefined ? undefined : `dataframe_records${at}`;
    case "instances":
      return (at = emptyInList(input.value)) === undefined ? undefined : `instances${at}`;
    case "inputs":
      return (at = emptyInValue(input.value)) === undefined ? undefined : `inputs${at}`;
    default:
      return undefined;
  }
}

/** The place of an empty Value in `v`, relative to it ("" for `v` itself). */
function emptyInValue(v: Value): string | undefined {
  switch (v.kind.case) {
    case undefined:
      return "";
    case "listValue": {
      const at = emptyInList(v.kind.value);
      return at === undefined ? undefined : `.list_value${at}`;
    }
    case "structValue": {
      const fields = v.kind.value.fields;
      for (const key in fields) {
        const at = emptyInValue(fields[key]!);
        if (at !== undefined) return `.struct_value[${JSON.stringify(key)}]${at}`;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

function emptyInList(list: ListValue): string | undefined {
  for (let i = 0; i < list.values.length; i++) {
    const at = emptyInValue(list.values[i]!);
    if (at !== undefined) return `[${i}]${at}`;
  }
  return undefined;
}
