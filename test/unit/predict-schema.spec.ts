// Schema-checked Predict (src/policies/predict-schema.ts): the signature of a real MLmodel file
// (test/mlflow-registry/churn-v1.MLmodel, as an MLflow 3.8 tracking server serves it), the
// endpoint's transformation, and the checks' INVALID_ARGUMENT messages naming the column.
import { readFileSync } from "node:fs";
import { create, fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ListValueSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { DataframeSplitSchema } from "../../gen/modelgate/v1/predict_pb";
import {
  checkPredictInput,
  predictSchemaPolicySchema,
  signatureOfMlmodel,
  transformPredictInput,
  type ModelSignature,
  type PredictSchemaPolicy,
  type SignatureCache,
} from "../../src/policies/predict-schema";
import type { PredictParams } from "../../src/providers/types";

const mlmodel = readFileSync(new URL("../mlflow-registry/churn-v1.MLmodel", import.meta.url), "utf8");
const model = { name: "churn", version: "1", tracking: { uri: "http://mlflow.invalid" } };

function policy(config: unknown, signature: ModelSignature | undefined): PredictSchemaPolicy {
  const signatures = { get: async () => signature } as unknown as SignatureCache;
  return { config: predictSchemaPolicySchema.parse(config), signatures };
}

const split = (columns: string[], rows: JsonValue[][]): PredictParams => ({
  input: { case: "dataframeSplit", value: create(DataframeSplitSchema, { columns, data: rows.map((r) => fromJson(ListValueSchema, r)) }) },
});
const records = (rows: JsonObject[], params?: JsonObject): PredictParams => ({ input: { case: "dataframeRecords", value: fromJson(ListValueSchema, rows) }, params });

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    expect(e.code).toBe(Code.InvalidArgument);
    return e.rawMessage;
  }
  throw new Error("expected INVALID_ARGUMENT");
}

const call = { signal: new AbortController().signal };
const signature = signatureOfMlmodel(mlmodel)!;

describe("MLmodel signatures", () => {
  it("reads the columns (type, required) and params of a real MLmodel file", () => {
    expect(signature).toEqual({
      columns: [
        { name: "age", type: "double", required: true },
        { name: "plan", type: "string", required: true },
        { name: "visits", type: "long", required: false },
      ],
      params: [{ name: "threshold", type: "double", shape: null }],
    });
  });

  it("reads tensor specs, and no signature as undefined", () => {
    const tensor = `signature:\n  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]'\n  outputs: null\n`;
    expect(signatureOfMlmodel(tensor)).toEqual({ tensors: [{ name: undefined, dtype: "float32", shape: [-1, 4] }], params: [] });
    expect(signatureOfMlmodel("flavors: {}\n")).toBeUndefined();
  });
});

describe("validation against the signature", () => {
  const p = policy({}, signature);
  const check = (params: PredictParams) => checkPredictInput(p, model, params, call, "churn");

  it("passes a matching DataFrame (split and records; the optional column may be absent)", async () => {
    const ok = split(["age", "plan", "visits"], [[30.5, "pro", 3]]);
    expect(await check(ok)).toBe(ok);
    await expect(check(records([{ age: 40, plan: "basic" }], { threshold: 0.7 }))).resolves.toBeDefined();
  });

  it("names the unknown, the missing and the mistyped column, and the row shape", async () => {
    expect(await refusal(check(split(["customer_age", "plan"], [[30, "pro"]])))).toBe('input: unknown column "customer_age" for model churn version 1 (its columns: age, plan, visits)');
    expect(await refusal(check(records([{ age: 30 }])))).toBe('input: column "plan" is required by model churn version 1');
    expect(await refusal(check(records([{ age: 30, plan: null }])))).toBe('input: column "plan" is required by model churn version 1 (row 0 is null)');
    expect(await refusal(check(records([{ age: 30, plan: "a" }, { age: "old", plan: "b" }])))).toBe('input: column "age", row 1: expected a number (double), got "old"');
    expect(await refusal(check(records([{ age: 30, plan: "a", visits: 2.5 }])))).toBe('input: column "visits", row 0: expected an integer (long), got 2.5');
    expect(await refusal(check(split(["age", "plan"], [[30, "a", 1]])))).toBe("input: row 0 has 3 value(s) for 2 column(s)");
    expect(await refusal(check({ input: { case: "instances", value: fromJson(ListValueSchema, [[1, 2]]) } }))).toMatch(/^input: model churn version 1 takes columns/);
  });

  it("reads `inputs` by column ({column: [values]}) and by record as DataFrames too", async () => {
    const byColumn = (v: JsonObject): PredictParams => ({ input: { case: "inputs", value: fromJson(ValueSchema, v) } });
    await expect(check(byColumn({ age: [30, 40], plan: ["a", "b"] }))).resolves.toBeDefined();
    expect(await refusal(check(byColumn({ age: [30, "x"], plan: ["a", "b"] })))).toBe('input: column "age", row 1: expected a number (double), got "x"');
    expect(await refusal(check(byColumn({ age: [30], plan: ["a"], tier: [1] })))).toMatch(/^input: unknown column "tier"/);
    const byRecord: PredictParams = { input: { case: "inputs", value: fromJson(ValueSchema, [{ age: 1 }]) } };
    expect(await refusal(check(byRecord))).toBe('input: column "plan" is required by model churn version 1');
    const renamed = transformPredictInput(policy({ transform: { rename: { years: "age" }, defaults: { plan: "basic" } } }, signature), byColumn({ years: [1, 2] }));
    expect(renamed.input.case === "inputs" && toJson(ValueSchema, renamed.input.value)).toEqual({ age: [1, 2], plan: ["basic", "basic"] });
  });

  it("names an unknown or mistyped param", async () => {
    expect(await refusal(check(records([{ age: 1, plan: "a" }], { limit: 3 })))).toBe('params: unknown parameter "limit" for model churn version 1 (its parameters: threshold)');
    expect(await refusal(check(records([{ age: 1, plan: "a" }], { threshold: "high" })))).toBe('params: "threshold": expected a number (double), got "high"');
  });

  it("extra_columns: drop trims what the model does not know", async () => {
    const dropping = policy({ extra_columns: "drop" }, signature);
    const out = await checkPredictInput(dropping, model, split(["age", "note", "plan"], [[1, "x", "a"]]), call, "churn");
    expect(out.input.case === "dataframeSplit" && out.input.value.columns).toEqual(["age", "plan"]);
    expect(out.input.case === "dataframeSplit" && out.input.value.data[0]?.values.map((v) => v.kind.value)).toEqual([1, "a"]);
  });

  it("checks tensor dtypes and ranks", async () => {
    const tensors = policy({}, { tensors: [{ dtype: "float32", shape: [-1, 2] }], params: [] });
    const instances = (v: JsonValue[]): PredictParams => ({ input: { case: "instances", value: fromJson(ListValueSchema, v) } });
    await expect(checkPredictInput(tensors, model, instances([[1, 2], [3, 4]]), call, "t")).resolves.toBeDefined();
    expect(await refusal(checkPredictInput(tensors, model, instances([1, 2]), call, "t"))).toBe("input: the tensor: expected 2 dimension(s) (shape [-1, 2]), got 1");
    expect(await refusal(checkPredictInput(tensors, model, instances([["a", 2]]), call, "t"))).toBe('input: the tensor: expected float32 values, got "a"');
  });

  it("a version without a signature, or validate: false, is not checked", async () => {
    const bad = split(["anything"], [[1]]);
    expect(await checkPredictInput(policy({}, undefined), model, bad, call, "churn")).toBe(bad);
    expect(await checkPredictInput(policy({ validate: false }, signature), model, bad, call, "churn")).toBe(bad);
  });
});

describe("the endpoint's transformation", () => {
  const p = policy({ transform: { rename: { customer_age: "age" }, cast: { visits: "long", age: "double" }, defaults: { plan: "basic" } } }, signature);

  it("renames, casts and fills defaults in records and split frames", () => {
    const out = transformPredictInput(p, records([{ customer_age: "41.5", visits: "3" }, { customer_age: 20, plan: "pro", visits: null }]));
    expect(out.input.case === "dataframeRecords" && toJson(ListValueSchema, out.input.value)).toEqual([
      { age: 41.5, visits: 3, plan: "basic" },
      { age: 20, plan: "pro", visits: null },
    ]);
    const s = transformPredictInput(p, split(["customer_age", "visits"], [["30", "2"]]));
    expect(s.input.case === "dataframeSplit" && s.input.value.columns).toEqual(["age", "visits", "plan"]);
    expect(s.input.case === "dataframeSplit" && s.input.value.data[0]?.values.map((v) => v.kind.value)).toEqual([30, 2, "basic"]);
  });

  it("refuses a value it cannot cast, naming the column and row", () => {
    expect(() => transformPredictInput(p, records([{ customer_age: 1, visits: "3.5" }]))).toThrow('input: column "visits", row 0: cannot cast "3.5" to long');
  });
});
