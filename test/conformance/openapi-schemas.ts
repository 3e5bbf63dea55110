// OpenAI's OpenAPI document (vendored in openai-openapi/, see SOURCE.md) as JSON Schema validators.
//
// The document is OpenAPI 3.1 but still uses OpenAPI 3.0's `nullable: true` in places (beside
// `$ref`, `oneOf` and `type`), which JSON Schema does not know: each becomes `anyOf: [<the
// schema>, {type: "null"}]`. Its own keywords (discriminator, x-oai*, x-stainless*, example) are
// annotations and ignored; its custom formats (unixtime, float, int64 ...) are accepted as is.
//
// Two checks per schema:
//   - `spec`: the document as written (unknown properties allowed, as the spec does not close
//     its objects);
//   - `closed`: the same with every object schema closed (unevaluatedProperties: false), so a
//     property the spec does not define is reported; the caller lists the deliberate ones.
import { readFileSync } from "node:fs";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse } from "yaml";

const specUrl = new URL("./openai-openapi/openapi.yaml", import.meta.url);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObj = { [key: string]: Json };

const isObj = (v: Json | undefined): v is JsonObj => typeof v === "object" && v !== null && !Array.isArray(v);

/** OpenAPI 3.0's nullable as JSON Schema, everywhere in the tree. */
function withoutNullable(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(withoutNullable);
  if (!isObj(schema)) return schema;
  const out: JsonObj = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "nullable") continue;
    // Property names are data, not keywords: recurse into each property's schema.
    out[k] = k === "properties" && isObj(v) ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, withoutNullable(s)])) : withoutNullable(v);
  }
  if (schema["nullable"] !== true) return out;
  // Keep the annotations outside, the constraints inside the first branch.
  const { description, title, deprecated, default: dflt, ...constraints } = out;
  const wrapped: JsonObj = { anyOf: [constraints, { type: "null" }] };
  if (description !== undefined) wrapped["description"] = description;
  if (title !== undefined) wrapped["title"] = title;
  if (deprecated !== undefined) wrapped["deprecated"] = deprecated;
  if (dflt !== undefined) wrapped["default"] = dflt;
  return wrapped;
}

/**
 * Closes every object schema that lists properties (unevaluatedProperties: false), except the
 * branches of an allOf (a branch cannot see its siblings' properties) and schemas that already
 * say what other properties may be. A schema made of an allOf is closed as a whole instead (its
 * branches' properties are evaluated, so only a property no branch defines is reported), with
 * its `$ref` branches pointing at the open document: a component closed on its own would refuse
 * its siblings' properties (the Responses API's Response is ModelResponseProperties +
 * ResponseProperties + its own).
 */
function closed(schema: Json, inAllOf = false): Json {
  if (Array.isArray(schema)) return schema.map((s) => closed(s));
  if (!isObj(schema)) return schema;
  const out: JsonObj = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "properties" && isObj(v)) out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, closed(s)]));
    else if (k === "allOf" && Array.isArray(v)) out[k] = v.map((s) => (isObj(s) && typeof s["$ref"] === "string" ? { ...s, $ref: s["$ref"].replace(/^#/, "openai-open#") } : closed(s, true)));
    else out[k] = closed(v);
  }
  const open = schema["additionalProperties"] === undefined && schema["unevaluatedProperties"] === undefined;
  if (open && !inAllOf && (isObj(schema["properties"]) || Array.isArray(schema["allOf"]))) out["unevaluatedProperties"] = false;
  return out;
}

export interface SchemaCheck {
  /** Errors against the spec as written ([] when valid). */
  spec(value: unknown): ErrorObject[];
  /** Properties the spec does not define, as JSON pointers (e.g. "/data/0/endpoint_type"). */
  undefinedProperties(value: unknown): string[];
}

export interface OpenAISpec {
  /** The raw document (for request-side walks). */
  document: JsonObj;
  /** A component schema by name (after the nullable rewrite). */
  schema(name: string): JsonObj;
  check(name: string): SchemaCheck;
}

let loaded: OpenAISpec | undefined;

/** Parses the document once per process (~1.5 s) and compiles schemas on first use. */
export function openaiSpec(): OpenAISpec {
  if (loaded) return loaded;
  const document = parse(readFileSync(specUrl, "utf8"), { maxAliasCount: -1 }) as JsonObj;
  const components = document["components"] as JsonObj;
  const schemas = withoutNullable(components["schemas"] as Json) as JsonObj;
  const make = (tree: JsonObj, open?: JsonObj) => {
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats.default(ajv);
    for (const format of ["unixtime", "float", "double", "int32", "int64", "binary", "byte"]) ajv.addFormat(format, true);
    ajv.addSchema({ $id: "openai", components: { schemas: tree } });
    // The open document beside the closed one, for the allOf branches closed() points at it.
    if (open) ajv.addSchema({ $id: "openai-open", components: { schemas: open } });
    return ajv;
  };
  const specAjv = make(schemas);
  const closedAjv = make(Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, closed(v)])), schemas);
  const compiled = new Map<string, SchemaCheck>();
  const compile = (ajv: Ajv2020, name: string): ValidateFunction => {
    const fn = ajv.getSchema(`openai#/components/schemas/${name}`);
    if (!fn) throw new Error(`no schema ${name} in OpenAI's OpenAPI document`);
    return fn;
  };
  loaded = {
    document,
    schema(name) {
      const s = schemas[name];
      if (!isObj(s)) throw new Error(`no schema ${name} in OpenAI's OpenAPI document`);
      return s;
    },
    check(name) {
      let c = compiled.get(name);
      if (!c) {
        const spec = compile(specAjv, name);
        const strict = compile(closedAjv, name);
        c = {
          spec: (value) => (spec(value) ? [] : [...(spec.errors ?? [])]),
          undefinedProperties(value) {
            if (strict(value)) return [];
            return (strict.errors ?? [])
              .filter((e) => e.keyword === "unevaluatedProperties")
              .map((e) => `${e.instancePath}/${String((e.params as { unevaluatedProperty: string }).unevaluatedProperty)}`);
          },
        };
        compiled.set(name, c);
      }
      return c;
    },
  };
  return loaded;
}

/** Errors as short lines for test messages. */
export function describeErrors(errors: ErrorObject[]): string {
  return errors.map((e) => `${e.instancePath || "/"} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`).join("\n");
}
