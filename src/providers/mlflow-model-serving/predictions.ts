// Reads `{"predictions": ...}` answers the way MLflow AI Gateway validates them
// (mlflow/gateway/providers/mlflow.py: ServingTextResponse, EmbeddingsResponse). A shape it
// refuses with HTTP 502 is a badUpstreamResponse (UNAVAILABLE) here.
import { badUpstreamResponse } from "../../errors";
import { isRecord, upstreamReader } from "../upstream-reader";
import { PROVIDER } from "./config";

const read = upstreamReader(PROVIDER);

function predictionsOf(body: unknown): unknown {
  if (!isRecord(body) || !("predictions" in body)) {
    throw badUpstreamResponse(PROVIDER, 'expected an object with "predictions"');
  }
  return body.predictions;
}

/**
 * Generated texts, one per choice: a list of strings, or an object whose only key holds that
 * list, or an object with a "choices" list (other keys ignored).
 */
export function readTexts(body: unknown): string[] {
  let texts = predictionsOf(body);
  let path = "predictions";
  if (isRecord(texts)) {
    const keys = Object.keys(texts);
    if (keys.length === 1) {
      path = `predictions.${keys[0]!}`;
      texts = texts[keys[0]!];
    } else if ("choices" in texts) {
      path = "predictions.choices";
      texts = texts.choices;
    } else {
      throw badUpstreamResponse(PROVIDER, 'predictions: an object needs a "choices" key or exactly one key');
    }
  }
  const list = read.array(texts, path);
  if (list.length === 0) throw badUpstreamResponse(PROVIDER, `${path}: the list is empty`);
  return list.map((text, i) => read.string(text, `${path}[${i}]`));
}

/** Embedding vectors: a list of non-empty number lists, or one flat number list (one vector). */
export function readVectors(body: unknown): number[][] {
  const list = read.array(predictionsOf(body), "predictions");
  if (list.length === 0) throw badUpstreamResponse(PROVIDER, "predictions: the list is empty");
  if (list.every((x) => typeof x === "number")) return [list.map((x, j) => read.number(x, `predictions[${j}]`))];
  return list.map((vector, i) => {
    const values = read.array(vector, `predictions[${i}]`);
    if (values.length === 0) throw badUpstreamResponse(PROVIDER, `predictions[${i}]: the vector is empty`);
    return values.map((x, j) => read.number(x, `predictions[${i}][${j}]`));
  });
}
