// Predict: POST {model_server_url}/invocations in one of MLflow's four JSON scoring formats.
import type { MlflowConfig } from "./config";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { toJson } from "@bufbuild/protobuf";
import { ListValueSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { badUpstreamResponse, invalidArgument } from "../../errors";
import type { PredictParams, PredictResult, PredictTranslator } from "../types";
import { isRecord } from "../upstream-reader";
import { PROVIDER } from "./config";
import { invocationsRequest } from "./invocations";
import { exceedsJsonDepth } from "../../json";
import { MAX_MESSAGE_DEPTH } from "../../server/message-conform";

/** The PredictRequest oneof as MLflow's body: exactly one of its four input keys. */
function scoringInput(input: PredictParams["input"]): JsonObject {
  switch (input.case) {
    case "dataframeSplit": {
      const { columns, data, index } = input.value;
      const split: JsonObject = { columns, data: data.map((row) => toJson(ListValueSchema, row)) };
      // pandas makes a RangeIndex when there is none, so an empty index is left out
      if (index.length > 0) split.index = index.map((label) => toJson(ValueSchema, label));
      return { dataframe_split: split };
    }
    case "dataframeRecords":
      return { dataframe_records: toJson(ListValueSchema, input.value) };
    case "instances":
      return { instances: toJson(ListValueSchema, input.value) };
    case "inputs":
      return { inputs: toJson(ValueSchema, input.value) };
    case undefined:
      throw invalidArgument("predict needs one of dataframe_split, dataframe_records, instances or inputs");
  }
}

export const mlflowPredict: PredictTranslator<MlflowConfig> = {
  request(params, target) {
    const body = scoringInput(params.input);
    if (params.params !== undefined) body.params = params.params;
    return invocationsRequest(target, body);
  },

  response(body): PredictResult {
    // MLflow 1.x answered with the bare predictions list; 2.x wraps it in {"predictions": ...}.
    if (Array.isArray(body)) return { predictions: asJson(body) };
    if (isRecord(body) && "predictions" in body) return { predictions: asJson(body.predictions) };
    throw badUpstreamResponse(PROVIDER, 'expected an object with "predictions" or a list');
  },
};

/**
 * How deep predictions may nest: 49. An answer carries them as google.protobuf.Value, two messages
 * per JSON level under PredictResponse (level 1) and its `predictions` Value (level 2), and
 * protobuf decoders stop at MAX_MESSAGE_DEPTH nested messages (protobuf-es, so connect-es clients;
 * C++ and Go by default): deeper predictions would encode here and fail in the caller's client.
 */
const MAX_PREDICTIONS_DEPTH = (MAX_MESSAGE_DEPTH - 2) / 2;

/** The body came out of JSON.parse, so it is JSON; only `undefined` (no body) is not. */
function asJson(value: unknown): JsonValue {
  if (value === undefined) throw badUpstreamResponse(PROVIDER, "predictions: missing");
  if (exceedsJsonDepth(value, MAX_PREDICTIONS_DEPTH)) {
    throw badUpstreamResponse(PROVIDER, `predictions: nest deeper than ${MAX_PREDICTIONS_DEPTH} levels, more than protobuf clients decode`);
  }
  return value as JsonValue;
}
