// FastAPI's request validation, as MLflow's gateway answers it, on zod schemas: a 422 whose
// `detail` lists every problem as pydantic 2 reports it ({type, loc, msg, input, ctx?}), and
// pydantic's "lax" scalars (a number may come as a numeric string, an integer as 1.0, a boolean
// as "true" or 1). The zod schemas stay plain enough for z.toJSONSchema (the OpenAPI document).
//
// Union errors name their branch in `loc` as pydantic does ("str", "list[str]" ...): a union
// made with `union()` carries its branch labels; a discriminated union made with `tagged()`
// puts the tag into `loc` ("text", "image_url") and reports a missing or unknown tag.
import { z } from "zod";

export interface ValidationErrorItem {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

/** A request FastAPI would refuse before the handler runs: 422 `{"detail": [...]}`. */
export class RequestValidationError extends Error {
  constructor(readonly detail: ValidationErrorItem[]) {
    super(`request validation failed: ${detail.map((d) => `${d.loc.join(".")}: ${d.msg}`).join("; ")}`);
    this.name = "RequestValidationError";
  }
}

type Loc = (string | number)[];
type Coerced = { ok: true; value: unknown } | { ok: false; type: string; msg: string; ctx?: Record<string, unknown> };

/** The plain schema behind each lax scalar, for the JSON Schema of the OpenAPI document. */
export const laxSchemas = new WeakMap<z.ZodType, z.ZodType>();
const unionLabels = new WeakMap<z.ZodType, readonly string[]>();

function lax<T extends z.ZodType>(inner: T, coerce: (v: unknown) => Coerced) {
  const schema = z.preprocess((value, ctx) => {
    const r = coerce(value);
    if (r.ok) return r.value;
    ctx.issues.push({ code: "custom", message: r.msg, input: value, params: { pydantic: r.type, ...(r.ctx ? { ctx: r.ctx } : {}) } });
    return value;
  }, inner);
  laxSchemas.set(schema, inner);
  return schema;
}

// Python's float() and int() literals (underscores between digits), as pydantic parses strings.
const digits = "\\d(?:_?\\d)*";
const floatText = new RegExp(`^[+-]?(?:${digits}(?:\\.(?:${digits})?)?|\\.${digits})(?:[eE][+-]?${digits})?$`);
const intText = new RegExp(`^[+-]?${digits}(?:\\.0+)?$`);
const special: Record<string, number> = { inf: Infinity, infinity: Infinity, nan: NaN };

/** The bounds a number schema checks. */
function boundsOf(inner: z.ZodNumber): { minimum?: number; maximum?: number } {
  return { minimum: inner.minValue ?? undefined, maximum: inner.maxValue ?? undefined };
}

/** pydantic `float` (lax): numbers, booleans and numeric strings (Python's float literals, inf, nan). */
export function float(inner: z.ZodNumber = z.number()) {
  const { minimum, maximum } = boundsOf(inner);
  return lax(inner, (v) => {
    let n: number;
    if (typeof v === "number") n = v;
    else if (typeof v === "boolean") n = Number(v);
    else if (typeof v === "string") {
      const t = v.trim();
      const lower = t.toLowerCase().replace(/^[+-]/, "");
      if (floatText.test(t)) n = Number(t.replaceAll("_", ""));
      else if (lower in special) n = t.startsWith("-") ? -special[lower]! : special[lower]!;
      else return { ok: false, type: "float_parsing", msg: "Input should be a valid number, unable to parse string as a number" };
    } else return { ok: false, type: "float_type", msg: "Input should be a valid number" };
    // inf and nan pass pydantic's type check and fail its bounds (le first): JSON holds neither.
    if (!Number.isFinite(n)) {
      if (maximum !== undefined && !(n <= maximum)) return { ok: false, type: "less_than_equal", msg: `Input should be less than or equal to ${maximum}`, ctx: { le: maximum } };
      if (minimum !== undefined && !(n >= minimum)) return { ok: false, type: "greater_than_equal", msg: `Input should be greater than or equal to ${minimum}`, ctx: { ge: minimum } };
    }
    return { ok: true, value: n };
  });
}

const laxInts = new WeakSet<z.ZodType>();

/**
 * pydantic `int` (lax): integers, whole floats, booleans and integer strings ("2", " 3 ", "2.00",
 * "1_0"). Pass a number schema without .int() (that bounds it to 2^53; Python's ints have no bound):
 * the coercion makes it whole, and the JSON Schema says "integer".
 */
export function int(inner: z.ZodNumber = z.number()) {
  const schema = laxInt(inner);
  laxInts.add(schema);
  return schema;
}

function laxInt(inner: z.ZodNumber) {
  return lax(inner, (v) => {
    if (typeof v === "number") {
      // Python reads a JSON integer of any size (JSON.parse cannot tell 1e20 from 100000000000000000000).
      if (Number.isInteger(v)) return { ok: true, value: v };
      if (Number.isFinite(v)) return { ok: false, type: "int_from_float", msg: "Input should be a valid integer, got a number with a fractional part" };
      return { ok: false, type: "finite_number", msg: "Input should be a finite number" };
    }
    if (typeof v === "boolean") return { ok: true, value: Number(v) };
    if (typeof v === "string") {
      const t = v.trim();
      if (intText.test(t)) return { ok: true, value: Math.trunc(Number(t.replaceAll("_", ""))) || 0 };
      return { ok: false, type: "int_parsing", msg: "Input should be a valid integer, unable to parse string as an integer" };
    }
    return { ok: false, type: "int_type", msg: "Input should be a valid integer" };
  });
}

const truthy = new Set(["1", "on", "t", "true", "y", "yes"]);
const falsy = new Set(["0", "off", "f", "false", "n", "no"]);

/** pydantic `bool` (lax): booleans, 0/1 (0.0/1.0) and the words pydantic reads ("true", "No", "on" ...). */
export function bool() {
  return lax(z.boolean(), (v) => {
    if (typeof v === "boolean") return { ok: true, value: v };
    const parsing = { ok: false as const, type: "bool_parsing", msg: "Input should be a valid boolean, unable to interpret input" };
    if (typeof v === "number") {
      if (v === 0 || v === 1) return { ok: true, value: v === 1 };
      return Number.isInteger(v) ? parsing : { ok: false, type: "bool_type", msg: "Input should be a valid boolean" };
    }
    if (typeof v === "string") {
      const t = v.toLowerCase();
      if (truthy.has(t)) return { ok: true, value: true };
      if (falsy.has(t)) return { ok: true, value: false };
      return parsing;
    }
    return { ok: false, type: "bool_type", msg: "Input should be a valid boolean" };
  });
}

/** A union whose failures name each branch in `loc` with pydantic's label for it. */
export function union<const T extends readonly [z.ZodType, z.ZodType, ...z.ZodType[]]>(labels: readonly string[], options: T) {
  const schema = z.union(options);
  unionLabels.set(schema, labels);
  return schema;
}

/**
 * A discriminated union (pydantic `Field(discriminator=...)`): the tag goes into `loc`, a missing
 * or unknown tag is reported as pydantic does.
 */
export function tagged<const T extends readonly [z.ZodObject, ...z.ZodObject[]]>(discriminator: string, options: T) {
  return z.discriminatedUnion(discriminator, options as unknown as [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]]);
}

/** Parses `input` or throws RequestValidationError with FastAPI's detail list (loc under `root`). */
export function validate<S extends z.ZodType>(schema: S, input: unknown, root: Loc = ["body"]): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  throw new RequestValidationError(toDetail(result.error.issues, schema, input, root));
}

// ------------------------------------------------------------------------------------------------
// zod issues -> pydantic errors

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  valueType?: z.ZodType;
  values?: unknown[];
  entries?: Record<string, unknown>;
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Through optional/nullable/default/pipe wrappers to the schema that judges the value. */
function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    const d = defOf(s);
    if ((d.type === "optional" || d.type === "nullable" || d.type === "default" || d.type === "prefault" || d.type === "readonly") && d.innerType) s = d.innerType;
    else if (d.type === "pipe" && d.out) s = d.out;
    else return s;
  }
}

function tagValues(option: z.ZodType, discriminator: string): unknown[] {
  const field = defOf(unwrap(option)).shape?.[discriminator];
  if (!field) return [];
  const d = defOf(unwrap(field));
  return d.values ?? (d.entries ? Object.values(d.entries) : []);
}

function optionFor(union: z.ZodType, value: unknown): z.ZodType | undefined {
  const d = defOf(union);
  if (!d.discriminator || value === null || typeof value !== "object") return undefined;
  const tag = (value as Record<string, unknown>)[d.discriminator];
  return d.options?.find((o) => tagValues(o, d.discriminator!).includes(tag));
}

function child(value: unknown, key: PropertyKey): unknown {
  return value !== null && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[key] : undefined;
}

/** Follows `path` from `schema`/`value`: the schema, value and pydantic loc at its end. */
function walk(schema: z.ZodType, value: unknown, path: readonly PropertyKey[], loc: Loc) {
  let s = schema;
  let v = value;
  const out = [...loc];
  for (const key of path) {
    s = unwrap(s);
    let d = defOf(s);
    if (d.type === "union" && d.discriminator) {
      const option = optionFor(s, v);
      if (option) {
        out.push(String((v as Record<string, unknown>)[d.discriminator]));
        s = unwrap(option);
        d = defOf(s);
      }
    }
    if (d.type === "object") s = d.shape?.[key as string] ?? d.catchall ?? z.unknown();
    else if (d.type === "array" && d.element) s = d.element;
    else if (d.type === "record" && d.valueType) s = d.valueType;
    else s = z.unknown();
    v = child(v, key);
    out.push(typeof key === "number" ? key : String(key));
  }
  s = unwrap(s);
  // The tag of a tagged union whose option itself is wrong (not a field inside it).
  const d = defOf(s);
  if (d.type === "union" && d.discriminator) {
    const option = optionFor(s, v);
    if (option) return { schema: unwrap(option), value: v, loc: out, tagged: String((v as Record<string, unknown>)[d.discriminator]) };
  }
  return { schema: s, value: v, loc: out, tagged: undefined };
}

function quoteList(values: readonly unknown[]): string {
  const q = values.map((v) => (typeof v === "string" ? `'${v}'` : String(v)));
  return q.length <= 1 ? (q[0] ?? "") : `${q.slice(0, -1).join(", ")} or ${q.at(-1)}`;
}

function items(n: number): string {
  return `${n} item${n === 1 ? "" : "s"}`;
}

function toDetail(issues: readonly z.core.$ZodIssue[], schema: z.ZodType, input: unknown, root: Loc): ValidationErrorItem[] {
  const out: ValidationErrorItem[] = [];
  for (const issue of issues) {
    // zod reports a tagged union's missing or unknown tag at the tag's own path: pydantic at the object's.
    const tagIssue = issue.code === "invalid_union" && "discriminator" in issue;
    const path = tagIssue ? issue.path.slice(0, -1) : issue.path;
    const at = walk(schema, input, path, root);
    const value = (issue as { input?: unknown }).input;
    const parent = path.length === 0 ? undefined : walk(schema, input, path.slice(0, -1), root).value;
    const push = (type: string, msg: string, ctx?: Record<string, unknown>, got: unknown = value) =>
      out.push({ type, loc: at.loc, msg, input: got, ...(ctx ? { ctx } : {}) });
    switch (issue.code) {
      case "invalid_type": {
        if (value === undefined && path.length > 0) {
          push("missing", "Field required", undefined, parent);
          break;
        }
        if (value === undefined) {
          push("missing", "Field required", undefined, null);
          break;
        }
        const kind = defOf(at.schema).type;
        if (issue.expected === "string") push("string_type", "Input should be a valid string");
        else if (issue.expected === "array") push("list_type", "Input should be a valid list");
        else if (issue.expected === "number") push("float_type", "Input should be a valid number");
        else if (issue.expected === "int") push("int_type", "Input should be a valid integer");
        else if (issue.expected === "boolean") push("bool_type", "Input should be a valid boolean");
        else if (kind === "record") push("dict_type", "Input should be a valid dictionary");
        else push("model_attributes_type", "Input should be a valid dictionary or object to extract fields from");
        break;
      }
      case "too_small":
        // pydantic reports the value as sent ("-0"), not as coerced (0).
        if (issue.origin === "number" && at.value !== undefined) {
          if (issue.inclusive) push("greater_than_equal", `Input should be greater than or equal to ${issue.minimum}`, { ge: Number(issue.minimum) }, at.value);
          else push("greater_than", `Input should be greater than ${issue.minimum}`, { gt: Number(issue.minimum) }, at.value);
        } else if (issue.origin === "array") {
          const n = Array.isArray(value) ? value.length : 0;
          const min = Number(issue.minimum);
          push("too_short", `List should have at least ${items(min)} after validation, not ${n}`, { field_type: "List", min_length: min, actual_length: n });
        } else if (issue.origin === "string") {
          const min = Number(issue.minimum);
          push("string_too_short", `String should have at least ${min} character${min === 1 ? "" : "s"}`, { min_length: min });
        } else if (issue.inclusive) push("greater_than_equal", `Input should be greater than or equal to ${issue.minimum}`, { ge: Number(issue.minimum) });
        else push("greater_than", `Input should be greater than ${issue.minimum}`, { gt: Number(issue.minimum) });
        break;
      case "too_big":
        if (issue.origin === "number" && at.value !== undefined) {
          if (issue.inclusive) push("less_than_equal", `Input should be less than or equal to ${issue.maximum}`, { le: Number(issue.maximum) }, at.value);
          else push("less_than", `Input should be less than ${issue.maximum}`, { lt: Number(issue.maximum) }, at.value);
        } else if (issue.origin === "array") {
          const n = Array.isArray(value) ? value.length : 0;
          const max = Number(issue.maximum);
          push("too_long", `List should have at most ${items(max)} after validation, not ${n}`, { field_type: "List", max_length: max, actual_length: n });
        } else if (issue.inclusive) push("less_than_equal", `Input should be less than or equal to ${issue.maximum}`, { le: Number(issue.maximum) });
        else push("less_than", `Input should be less than ${issue.maximum}`, { lt: Number(issue.maximum) });
        break;
      case "invalid_value": {
        const expected = quoteList(issue.values as unknown[]);
        push("literal_error", `Input should be ${expected}`, { expected });
        break;
      }
      case "invalid_union": {
        const d = defOf(at.schema);
        if (d.discriminator) {
          const discriminator = `'${d.discriminator}'`;
          if (at.value === null || typeof at.value !== "object" || Array.isArray(at.value)) {
            push("model_attributes_type", "Input should be a valid dictionary or object to extract fields from", undefined, at.value);
          } else if (!(d.discriminator in at.value)) {
            push("union_tag_not_found", `Unable to extract tag using discriminator ${discriminator}`, { discriminator }, at.value);
          } else {
            const tag = (at.value as Record<string, unknown>)[d.discriminator];
            const expected = (d.options ?? []).flatMap((o) => tagValues(o, d.discriminator!)).map((t) => `'${String(t)}'`).join(", ");
            push(
              "union_tag_invalid",
              `Input tag '${String(tag)}' found using ${discriminator} does not match any of the expected tags: ${expected}`,
              { discriminator, tag: typeof tag === "string" ? tag : JSON.stringify(tag), expected_tags: expected },
              at.value,
            );
          }
          break;
        }
        const labels = unionLabels.get(at.schema) ?? [];
        issue.errors.forEach((branch, i) => {
          const option = d.options?.[i] ?? z.unknown();
          out.push(...toDetail(branch, option, at.value, [...at.loc, labels[i] ?? `branch${i}`]));
        });
        break;
      }
      case "custom": {
        const params = (issue.params ?? {}) as { pydantic?: string; ctx?: Record<string, unknown> };
        push(params.pydantic ?? "value_error", issue.message, params.ctx);
        break;
      }
      default:
        push("value_error", issue.message);
    }
  }
  return out;
}

/** JSON Schema (OpenAPI) for a schema built here: lax scalars documented as their plain type. */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "any",
    override(ctx) {
      const zodSchema = ctx.zodSchema as unknown as z.ZodType;
      const json = ctx.jsonSchema as Record<string, unknown>;
      const def = defOf(zodSchema) as Def & { defaultValue?: unknown };
      // A default around a lax scalar: zod resolves the scalar's schema after the default's.
      if (def.type === "default" && def.innerType && laxSchemas.has(def.innerType) && !("default" in json)) json["default"] = def.defaultValue;
      const inner = laxSchemas.get(zodSchema);
      if (!inner) return;
      if (laxInts.has(zodSchema)) json["type"] = "integer";
      const plain = z.toJSONSchema(inner, { io: "input" }) as Record<string, unknown>;
      delete plain["$schema"];
      for (const [k, v] of Object.entries(plain)) if (!(k in json)) json[k] = v;
    },
  }) as Record<string, unknown>;
}
