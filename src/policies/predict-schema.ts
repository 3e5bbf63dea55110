// Schema-checked Predict: a predict endpoint's `policies.predict_schema`.
//   - transform (the endpoint's own, before routing): rename, cast and default columns, so that
//     clients keep their format when the model's schema changes;
//   - validate (once routing knows the registered version that will answer): the version's
//     signature, read from its MLmodel file through the MLflow tracking server
//     (GET {tracking}/model-versions/get-artifact?path=MLmodel&name=NAME&version=N, the file the
//     MLflow UI shows; a version's artifacts never change, so it is fetched once per version) is
//     checked against the input (columns, types, required, row shapes; tensor dtypes and ranks)
//     and the params; a mismatch is INVALID_ARGUMENT naming the column, before the model server
//     is called. A version without a signature is not checked.
import { fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ListValueSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { invalidArgument, unavailable } from "../errors";
import { joinUrl } from "../providers/request-builder";
import type { PredictParams } from "../providers/types";
import type { UpstreamCall, UpstreamClient } from "../upstream/client";
import type { UpstreamPeer } from "../upstream/wire";
import { untilAborted } from "../timers";
import { warnPolicy } from "./metrics";

/** MLflow column types (mlflow.types.DataType) a cast may produce. */
export const castTypes = ["double", "float", "long", "integer", "string", "boolean"] as const;
type CastType = (typeof castTypes)[number];

const columnName = z.string().min(1).max(256);

export const predictSchemaPolicySchema = z.strictObject({
  /** Check inputs and params against the registered version's signature (needs mlflow_tracking_uri on the target). */
  validate: z.boolean().default(true),
  /** Columns the model does not know: refused (the default), or dropped before the call. */
  extra_columns: z.enum(["refuse", "drop"]).default("refuse"),
  /** When the signature cannot be read (tracking server down): call unchecked (allow) or refuse (UNAVAILABLE). */
  on_unavailable: z.enum(["allow", "block"]).default("allow"),
  /** Applied to DataFrame inputs (split or records, and column-format `inputs`) before validation. */
  transform: z
    .strictObject({
      /** client column -> model column */
      rename: z.record(columnName, columnName).default({}),
      /** column -> MLflow type the value is converted to ("42" -> 42 for long, 1 -> "1" for string, ...) */
      cast: z.record(columnName, z.enum(castTypes)).default({}),
      /** column -> value used when the client sends none (a missing key, or null) */
      defaults: z.record(columnName, z.union([z.string(), z.number(), z.boolean()])).default({}),
    })
    .optional(),
});
export type PredictSchemaPolicyConfig = z.infer<typeof predictSchemaPolicySchema>;

// ---- signatures

/** One column of a column-based signature. */
export interface ColumnSpec {
  name?: string;
  type: string;
  required: boolean;
}
/** One tensor of a tensor-based signature. */
export interface TensorSpec {
  name?: string;
  dtype: string;
  shape: number[];
}
export interface ParamSpec {
  name: string;
  type: string;
  /** null: a scalar; [-1]: a list. */
  shape: number[] | null;
}
export interface ModelSignature {
  columns?: ColumnSpec[];
  tensors?: TensorSpec[];
  params: ParamSpec[];
}

const columnSpecSchema = z.object({ type: z.string(), name: z.string().optional(), required: z.boolean().default(true) });
const tensorSpecSchema = z.object({ type: z.literal("tensor"), name: z.string().optional(), "tensor-spec": z.object({ dtype: z.string(), shape: z.array(z.number().int()) }) });
const paramSpecSchema = z.object({ name: z.string(), type: z.string(), shape: z.array(z.number().int()).nullable().optional() });
const mlmodelSchema = z.object({
  signature: z
    .object({ inputs: z.string().nullable().optional(), params: z.string().nullable().optional() })
    .nullable()
    .optional(),
});

/** The signature of an MLmodel file's text; undefined when it has none. Throws on a file it cannot read. */
export function signatureOfMlmodel(text: string): ModelSignature | undefined {
  const doc = mlmodelSchema.parse(parseYaml(text));
  const sig = doc.signature;
  if (!sig || (!sig.inputs && !sig.params)) return undefined;
  const inputs = sig.inputs ? (JSON.parse(sig.inputs) as unknown[]) : [];
  const params = sig.params ? z.array(paramSpecSchema).parse(JSON.parse(sig.params)) : [];
  const out: ModelSignature = { params: params.map((p) => ({ name: p.name, type: p.type, shape: p.shape ?? null })) };
  if (inputs.length > 0 && (inputs[0] as { type?: unknown }).type === "tensor") {
    out.tensors = z.array(tensorSpecSchema).parse(inputs).map((t) => ({ name: t.name, dtype: t["tensor-spec"].dtype, shape: t["tensor-spec"].shape }));
  } else if (inputs.length > 0) {
    out.columns = z.array(columnSpecSchema).parse(inputs).map((c) => ({ name: c.name, type: c.type, required: c.required }));
  }
  return out;
}

/** The tracking server a registry target names (its config's mlflow_tracking_uri and token). */
export interface TrackingServerRef {
  uri: string;
  token?: string;
}

/** The registered version routing resolved for this call. */
export interface ResolvedModelVersion {
  name: string;
  version: string;
  tracking?: TrackingServerRef;
}

const trackingPeer: UpstreamPeer = {
  name: "mlflow-tracking",
  errorMessage(body) {
    if (typeof body !== "object" || body === null) return undefined;
    const b = body as { error_code?: unknown; message?: unknown };
    return typeof b.message === "string" ? (typeof b.error_code === "string" ? `${b.error_code}: ${b.message}` : b.message) : undefined;
  },
};

/** An MLmodel file is a few KiB; a larger answer is not one. */
const maxMlmodelBytes = 1024 * 1024;
/** Versions whose signatures are kept (each a few KiB at most). */
const maxCachedVersions = 512;

/**
 * Signatures per registered version (immutable once registered, so never refetched), fetched
 * once however many calls wait (single flight); a failure is not cached.
 */
export class SignatureCache {
  private readonly known = new Map<string, Promise<ModelSignature | undefined>>();

  constructor(private readonly upstream: UpstreamClient) {}

  get(model: ResolvedModelVersion & { tracking: TrackingServerRef }, call: UpstreamCall): Promise<ModelSignature | undefined> {
    const key = `${model.tracking.uri}\n${model.name}\n${model.version}`;
    let entry = this.known.get(key);
    if (entry === undefined) {
      entry = this.fetch(model, call);
      this.known.set(key, entry);
      entry.catch(() => this.known.delete(key));
      if (this.known.size > maxCachedVersions) this.known.delete(this.known.keys().next().value as string);
    }
    return entry;
  }

  private async fetch(model: ResolvedModelVersion & { tracking: TrackingServerRef }, call: UpstreamCall): Promise<ModelSignature | undefined> {
    const query = new URLSearchParams({ path: "MLmodel", name: model.name, version: model.version });
    const headers: Record<string, string> = {};
    if (model.tracking.token !== undefined) headers.authorization = `Bearer ${model.tracking.token}`;
    const url = joinUrl(model.tracking.uri, `/model-versions/get-artifact?${query}`);
    // Its own signal: a caller that leaves must not fail the fetch other callers wait on.
    const text = await this.upstream.text({ method: "GET", url, headers }, trackingPeer, { signal: AbortSignal.timeout(10_000), requestId: call.requestId, traceparent: call.traceparent }, maxMlmodelBytes);
    try {
      return signatureOfMlmodel(text);
    } catch (err) {
      throw unavailable(`mlflow-tracking: the MLmodel of ${model.name} version ${model.version} cannot be read (${err instanceof Error ? err.message.slice(0, 200) : "not YAML"})`);
    }
  }
}

// ---- the input as JSON

type Rows = { kind: "split"; columns: string[]; data: JsonValue[][] } | { kind: "records"; records: JsonObject[]; key: "dataframeRecords" | "instances" | "inputs" } | { kind: "columns"; columns: JsonObject };

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The input as a DataFrame, when it is one (split, records, or `inputs` by column); else undefined. */
function rowsOf(input: PredictParams["input"]): Rows | undefined {
  switch (input.case) {
    case "dataframeSplit":
      return { kind: "split", columns: [...input.value.columns], data: input.value.data.map((r) => toJson(ListValueSchema, r) as JsonValue[]) };
    case "dataframeRecords":
    case "instances": {
      const list = toJson(ListValueSchema, input.value) as JsonValue[];
      return list.length > 0 && list.every(isObject) ? { kind: "records", records: list, key: input.case } : undefined;
    }
    case "inputs": {
      const v = toJson(ValueSchema, input.value);
      if (Array.isArray(v)) return v.length > 0 && v.every(isObject) ? { kind: "records", records: v, key: "inputs" } : undefined;
      return isObject(v) ? { kind: "columns", columns: v } : undefined;
    }
    case undefined:
      return undefined;
  }
}

function inputOf(rows: Rows, original: PredictParams["input"]): PredictParams["input"] {
  switch (rows.kind) {
    case "split": {
      const index = original.case === "dataframeSplit" ? original.value.index : [];
      return {
        case: "dataframeSplit",
        value: { $typeName: "modelgate.v1.DataframeSplit", columns: rows.columns, data: rows.data.map((r) => fromJson(ListValueSchema, r)), index },
      } as PredictParams["input"];
    }
    case "records":
      return rows.key === "inputs"
        ? { case: "inputs", value: fromJson(ValueSchema, rows.records) }
        : { case: rows.key, value: fromJson(ListValueSchema, rows.records) };
    case "columns":
      return { case: "inputs", value: fromJson(ValueSchema, rows.columns) };
  }
}

/** Column names and, for each, a way to read and write the value of row i. */
interface Table {
  names(): string[];
  rowCount(): number;
  get(column: string, row: number): JsonValue | undefined;
  set(column: string, row: number, value: JsonValue): void;
  has(column: string, row: number): boolean;
  rename(from: string, to: string): void;
  drop(column: string): void;
  /** The row's shape problem, if any (a split row with the wrong number of values). */
  shapeProblem(row: number): string | undefined;
}

function tableOf(rows: Rows): Table {
  if (rows.kind === "split") {
    const col = (c: string) => rows.columns.indexOf(c);
    return {
      names: () => rows.columns,
      rowCount: () => rows.data.length,
      get: (c, r) => (col(c) < 0 ? undefined : rows.data[r]?.[col(c)]),
      has: (c, r) => col(c) >= 0 && (rows.data[r]?.length ?? 0) > col(c),
      set(c, r, v) {
        if (col(c) < 0) {
          rows.columns.push(c);
          for (const row of rows.data) while (row.length < rows.columns.length) row.push(null);
        }
        const row = rows.data[r];
        if (row) row[col(c)] = v;
      },
      rename(from, to) {
        const i = col(from);
        if (i >= 0) rows.columns[i] = to;
      },
      drop(c) {
        const i = col(c);
        if (i < 0) return;
        rows.columns.splice(i, 1);
        for (const row of rows.data) row.splice(i, 1);
      },
      shapeProblem: (r) => {
        const n = rows.data[r]?.length ?? 0;
        return n === rows.columns.length ? undefined : `row ${r} has ${n} value(s) for ${rows.columns.length} column(s)`;
      },
    };
  }
  if (rows.kind === "records") {
    const recs = rows.records;
    return {
      names: () => [...new Set(recs.flatMap((r) => Object.keys(r)))],
      rowCount: () => recs.length,
      get: (c, r) => recs[r]?.[c],
      has: (c, r) => recs[r] !== undefined && c in recs[r],
      set(c, r, v) {
        const rec = recs[r];
        if (rec) rec[c] = v;
      },
      rename(from, to) {
        for (const rec of recs) {
          if (!(from in rec)) continue;
          rec[to] = rec[from] ?? null;
          delete rec[from];
        }
      },
      drop(c) {
        for (const rec of recs) delete rec[c];
      },
      shapeProblem: () => undefined,
    };
  }
  const cols = rows.columns;
  const list = (c: string): JsonValue[] | undefined => {
    const v = cols[c];
    return Array.isArray(v) ? v : undefined;
  };
  const count = () => Math.max(0, ...Object.values(cols).map((v) => (Array.isArray(v) ? v.length : 1)));
  return {
    names: () => Object.keys(cols),
    rowCount: count,
    get: (c, r) => {
      const v = cols[c];
      return Array.isArray(v) ? v[r] : v;
    },
    has: (c, r) => c in cols && (!Array.isArray(cols[c]) || (list(c)?.length ?? 0) > r),
    set(c, r, v) {
      const l = list(c);
      if (l) l[r] = v;
      else if (!(c in cols) && count() > 1) cols[c] = Array.from({ length: count() }, (_, i) => (i === r ? v : null));
      else cols[c] = v;
    },
    rename(from, to) {
      if (!(from in cols)) return;
      cols[to] = cols[from] ?? null;
      delete cols[from];
    },
    drop(c) {
      delete cols[c];
    },
    shapeProblem: () => undefined,
  };
}

// ---- transform

function castValue(value: JsonValue, to: CastType): JsonValue | undefined {
  if (value === null) return null;
  switch (to) {
    case "string":
      return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : undefined;
    case "double":
    case "float": {
      const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : typeof value === "boolean" ? Number(value) : NaN;
      return Number.isFinite(n) ? n : undefined;
    }
    case "long":
    case "integer": {
      const n = typeof value === "number" ? value : typeof value === "string" && /^\s*[+-]?\d+\s*$/.test(value) ? Number(value) : typeof value === "boolean" ? Number(value) : NaN;
      return Number.isSafeInteger(n) ? n : undefined;
    }
    case "boolean":
      if (typeof value === "boolean") return value;
      if (value === "true" || value === 1 || value === "1") return true;
      if (value === "false" || value === 0 || value === "0") return false;
      return undefined;
  }
}

export interface PredictSchemaPolicy {
  config: PredictSchemaPolicyConfig;
  signatures: SignatureCache;
}

export function compilePredictSchema(config: PredictSchemaPolicyConfig, upstream: UpstreamClient): PredictSchemaPolicy {
  return { config, signatures: new SignatureCache(upstream) };
}

/** The endpoint's transformation; the input as it came when there is none (or it is not a DataFrame). */
export function transformPredictInput(policy: PredictSchemaPolicy, params: PredictParams): PredictParams {
  const t = policy.config.transform;
  if (!t) return params;
  const rows = rowsOf(params.input);
  if (!rows) return params;
  const table = tableOf(rows);
  for (const [from, to] of Object.entries(t.rename)) table.rename(from, to);
  for (const [column, value] of Object.entries(t.defaults)) {
    for (let r = 0; r < table.rowCount(); r++) {
      const v = table.get(column, r);
      if (!table.has(column, r) || v === null || v === undefined) table.set(column, r, value);
    }
  }
  for (const [column, to] of Object.entries(t.cast)) {
    for (let r = 0; r < table.rowCount(); r++) {
      if (!table.has(column, r)) continue;
      const v = table.get(column, r) ?? null;
      const cast = castValue(v, to);
      if (cast === undefined) throw invalidArgument(`input: column "${column}", row ${r}: cannot cast ${JSON.stringify(v).slice(0, 40)} to ${to}`);
      table.set(column, r, cast);
    }
  }
  return { ...params, input: inputOf(rows, params.input) };
}

// ---- validation

function typeProblem(value: JsonValue, type: string): string | undefined {
  switch (type) {
    case "double":
    case "float":
      return typeof value === "number" ? undefined : `expected a number (${type})`;
    case "long":
    case "integer":
      return typeof value === "number" && Number.isInteger(value) ? undefined : `expected an integer (${type})`;
    case "string":
      return typeof value === "string" ? undefined : "expected a string";
    case "boolean":
      return typeof value === "boolean" ? undefined : "expected a boolean";
    case "binary":
      return typeof value === "string" ? undefined : "expected base64 text (binary)";
    case "datetime":
      return typeof value === "string" && !Number.isNaN(Date.parse(value)) ? undefined : "expected a date-time string";
    default:
      // array, object, map, any: MLflow checks their inner types itself.
      return undefined;
  }
}

function describe(value: JsonValue | undefined): string {
  return JSON.stringify(value ?? null).slice(0, 40);
}

function checkColumns(columns: ColumnSpec[], rows: Rows, model: ResolvedModelVersion, extra: "refuse" | "drop"): void {
  const table = tableOf(rows);
  const of = `model ${model.name} version ${model.version}`;
  const named = columns.filter((c): c is ColumnSpec & { name: string } => c.name !== undefined);
  if (named.length === 0) return;
  const known = new Set(named.map((c) => c.name));
  for (const name of table.names()) {
    if (known.has(name)) continue;
    if (extra === "drop") table.drop(name);
    else throw invalidArgument(`input: unknown column "${name}" for ${of} (its columns: ${named.map((c) => c.name).join(", ")})`.slice(0, 1000));
  }
  for (let r = 0; r < table.rowCount(); r++) {
    const shape = table.shapeProblem(r);
    if (shape) throw invalidArgument(`input: ${shape}`);
  }
  for (const col of named) {
    for (let r = 0; r < table.rowCount(); r++) {
      const present = table.has(col.name, r);
      const value = table.get(col.name, r);
      if (!present || value === null || value === undefined) {
        if (col.required) throw invalidArgument(`input: column "${col.name}" is required by ${of}${present ? ` (row ${r} is null)` : ""}`);
        continue;
      }
      const problem = typeProblem(value, col.type);
      if (problem) throw invalidArgument(`input: column "${col.name}", row ${r}: ${problem}, got ${describe(value)}`);
    }
  }
}

function rankOf(value: JsonValue): number {
  let rank = 0;
  let v: JsonValue | undefined = value;
  while (Array.isArray(v)) {
    rank++;
    v = v[0];
  }
  return rank;
}

function leafProblem(value: JsonValue, dtype: string): string | undefined {
  if (Array.isArray(value)) {
    for (const v of value) {
      const p = leafProblem(v, dtype);
      if (p) return p;
    }
    return undefined;
  }
  if (/^(float|int|uint)/.test(dtype)) return typeof value === "number" && (dtype.startsWith("float") || Number.isInteger(value)) ? undefined : `expected ${dtype} values, got ${describe(value)}`;
  if (dtype === "bool") return typeof value === "boolean" ? undefined : `expected bool values, got ${describe(value)}`;
  if (dtype === "str" || dtype === "object") return undefined;
  return undefined;
}

function checkTensors(tensors: TensorSpec[], input: PredictParams["input"]): void {
  // One unnamed tensor: `instances` or `inputs` as a list, each item one row of shape[1:].
  const value = input.case === "instances" ? toJson(ListValueSchema, input.value) : input.case === "inputs" ? toJson(ValueSchema, input.value) : undefined;
  if (value === undefined) throw invalidArgument(`input: this model takes tensors: send instances or inputs, not ${input.case ?? "nothing"}`);
  const byName = isObject(value) ? value : undefined;
  for (const t of tensors) {
    const label = t.name ? `tensor "${t.name}"` : "the tensor";
    const v = t.name && byName ? byName[t.name] : byName ? undefined : value;
    if (v === undefined) throw invalidArgument(`input: ${label} is required (dtype ${t.dtype}, shape [${t.shape.join(", ")}])`);
    if (t.shape.length > 0 && rankOf(v) !== t.shape.length) throw invalidArgument(`input: ${label}: expected ${t.shape.length} dimension(s) (shape [${t.shape.join(", ")}]), got ${rankOf(v)}`);
    const problem = leafProblem(v, t.dtype);
    if (problem) throw invalidArgument(`input: ${label}: ${problem}`);
  }
}

function checkParams(specs: ParamSpec[], params: PredictParams["params"], model: ResolvedModelVersion): void {
  if (!params) return;
  for (const [name, value] of Object.entries(params)) {
    const spec = specs.find((s) => s.name === name);
    if (!spec) throw invalidArgument(`params: unknown parameter "${name}" for model ${model.name} version ${model.version}${specs.length ? ` (its parameters: ${specs.map((s) => s.name).join(", ")})` : ""}`);
    const values = spec.shape === null ? [value] : Array.isArray(value) ? value : undefined;
    if (!values) throw invalidArgument(`params: "${name}": expected a list of ${spec.type}`);
    for (const v of values) {
      const problem = v === null ? undefined : typeProblem(v, spec.type);
      if (problem) throw invalidArgument(`params: "${name}": ${problem}, got ${describe(v)}`);
    }
  }
}


/**
 * Checks (and, with `extra_columns: drop`, trims) a predict request against the version's
 * signature; returns the request to send.
 */
export async function checkPredictInput(policy: PredictSchemaPolicy, model: ResolvedModelVersion, params: PredictParams, call: UpstreamCall, endpoint: string): Promise<PredictParams> {
  if (!policy.config.validate) return params;
  if (!model.tracking) return params;
  let signature: ModelSignature | undefined;
  try {
    signature = await untilAborted(policy.signatures.get({ ...model, tracking: model.tracking }, call), call.signal);
  } catch (err) {
    if (call.signal.aborted) throw ConnectError.from(call.signal.reason);
    const reason = ConnectError.from(err).rawMessage.slice(0, 300);
    if (policy.config.on_unavailable === "block") throw unavailable(`predict: the signature of ${model.name} version ${model.version} cannot be read: ${reason}`);
    warnPolicy({ endpoint, model: model.name, version: model.version, reason }, "predict signature unavailable: calling unchecked");
    return params;
  }
  if (!signature) return params;
  if (signature.columns) {
    const rows = rowsOf(params.input);
    if (!rows) throw invalidArgument(`input: model ${model.name} version ${model.version} takes columns: send dataframe_split, dataframe_records, or records / columns as inputs`);
    checkColumns(signature.columns, rows, model, policy.config.extra_columns);
    if (policy.config.extra_columns === "drop") params = { ...params, input: inputOf(rows, params.input) };
  } else if (signature.tensors) {
    checkTensors(signature.tensors, params.input);
  }
  checkParams(signature.params, params.params, model);
  return params;
}

/**
 * Policies an endpoint type has no use for are refused rather than ignored: embeddings take
 * input guardrails only; predict takes predict_schema only.
 */
function checkPoliciesFit(ep: EndpointShape, ctx: z.core.$RefinementCtx): void {
  const p = ep.policies;
  if (!p) return;
  const refuse = (key: string, why: string) => ctx.addIssue({ code: "custom", path: ["policies", key], message: `${why} (this endpoint is ${ep.endpoint_type})` });
  if (ep.endpoint_type === "llm/v1/embeddings") {
    if (p.guardrails?.output.length) refuse("guardrails", "embeddings take input guardrails only: their output is vectors");
    if (p.context) refuse("context", "context-window policies are for chat and completions");
    if (p.cache) refuse("cache", "the response cache is for chat and completions");
  }
  if (ep.endpoint_type === "predict") {
    if (p.guardrails) refuse("guardrails", "guardrails check text: a predict endpoint takes predict_schema instead");
    if (p.context) refuse("context", "context-window policies are for chat and completions");
    if (p.cache) refuse("cache", "the response cache is for chat and completions");
  }
}

interface EndpointShape {
  endpoint_type: string;
  model?: { provider: string; name: string; config?: Record<string, unknown> | null };
  targets?: { model: { provider: string; name: string; config?: Record<string, unknown> | null } }[];
  policies?: { predict_schema?: PredictSchemaPolicyConfig; guardrails?: { output: unknown[] }; context?: unknown; cache?: unknown };
}

/**
 * Config check (beside the endpoint schema's own): predict_schema belongs on a predict endpoint,
 * and validation reads signatures from the registry, so every target must be a registry model
 * (models:/NAME/VERSION or models:/NAME@ALIAS) of mlflow-model-serving with mlflow_tracking_uri.
 */
export function checkPredictSchemaConfig(ep: EndpointShape, ctx: z.core.$RefinementCtx): void {
  checkPoliciesFit(ep, ctx);
  const policy = ep.policies?.predict_schema;
  if (!policy) return;
  if (ep.endpoint_type !== "predict") {
    ctx.addIssue({ code: "custom", path: ["policies", "predict_schema"], message: `only a predict endpoint takes predict_schema (this one is ${ep.endpoint_type})` });
    return;
  }
  if (!policy.validate) return;
  const models = ep.targets ? ep.targets.map((t, i) => ({ model: t.model, path: ["targets", i, "model"] })) : ep.model ? [{ model: ep.model, path: ["model"] }] : [];
  for (const { model, path } of models) {
    const registry = model.provider === "mlflow-model-serving" && model.name.startsWith("models:/");
    if (!registry || typeof model.config?.["mlflow_tracking_uri"] !== "string") {
      ctx.addIssue({
        code: "custom",
        path,
        message: "predict_schema.validate reads the signature from the MLflow registry: use a models:/NAME/VERSION or models:/NAME@ALIAS model of mlflow-model-serving with mlflow_tracking_uri (or set validate: false)",
      });
    }
  }
}
