// Identifiers are bounded at the edge. Names, ids, roles and the like end up in ledger rows, log
// lines, metrics and error messages; a 3 MB endpoint name or one with a NUL in it must be refused
// here, before any layer stores or echoes it. Free text (message content, prompts, inputs) is
// bounded by the body size only: it goes to the model, not into our records.
import { ScalarType, type DescMessage } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { invalidArgument } from "../errors";
import { callEndpointKey, endpointNameOf, getCallScope, setOnce } from "./call-info";

/** Longest identifier accepted (config names are at most 128). */
export const MAX_IDENTIFIER_CHARS = 256;
/** Most entries in a repeated identifier field (roles, endpoints, group_by). */
export const MAX_IDENTIFIER_ENTRIES = 1_000;

/** Fields (proto names) that hold identifiers wherever they appear in a request. */
const identifierFields = new Set([
  "endpoint",
  "name",
  "team",
  "id",
  "key_id",
  "roles",
  "endpoints",
  "user",
  "model_version",
  "role",
  "tool_call_id",
  "type",
  "mode",
  "function_name",
  "budget_period",
  "group_by",
  "mime_type",
  "detail",
]);

/** C0 controls (NUL included) and DEL; tabs and newlines have no place in an identifier either. */
// eslint-disable-next-line no-control-regex
const controlChar = /[\u0000-\u001f\u007f]/;

interface FieldCheck {
  localName: string;
  protoName: string;
  repeated: boolean;
  /** The oneof's local name when the field is a oneof member (its value sits under the oneof). */
  oneof?: string;
  /** Set for message fields that contain identifiers somewhere below. */
  nested?: DescMessage;
}

const plans = new Map<DescMessage, FieldCheck[]>();

/** Which fields of a message type to check, computed once per type (no reflection per call). */
function planFor(desc: DescMessage, visiting = new Set<DescMessage>()): FieldCheck[] {
  const cached = plans.get(desc);
  if (cached) return cached;
  if (visiting.has(desc)) return []; // recursive types (Struct, Value) hold no identifiers
  visiting.add(desc);
  const plan: FieldCheck[] = [];
  for (const field of desc.fields) {
    const repeated = field.fieldKind === "list";
    const base = { localName: field.localName, protoName: field.name, repeated, oneof: field.oneof?.localName };
    if ((field.fieldKind === "scalar" || (repeated && field.listKind === "scalar")) && field.scalar === ScalarType.STRING) {
      if (identifierFields.has(field.name)) plan.push(base);
    } else if (field.fieldKind === "message" || (repeated && field.listKind === "message")) {
      if (planFor(field.message!, visiting).length > 0) plan.push({ ...base, nested: field.message! });
    }
  }
  visiting.delete(desc);
  plans.set(desc, plan);
  return plan;
}

/**
 * Refuses an identifier over MAX_IDENTIFIER_CHARS or with a control character (INVALID_ARGUMENT
 * naming `path`). Exported for what reaches the stores without a call (the keys CLI).
 */
export function checkIdentifier(value: string, path: string): void {
  if (value.length > MAX_IDENTIFIER_CHARS) throw invalidArgument(`${path}: longer than ${MAX_IDENTIFIER_CHARS} characters`);
  if (controlChar.test(value)) throw invalidArgument(`${path}: contains a control character`);
}

/** A list of identifiers: at most MAX_IDENTIFIER_ENTRIES, each as checkIdentifier (`path[i]`). */
export function checkIdentifierList(values: readonly string[], path: string): void {
  if (values.length > MAX_IDENTIFIER_ENTRIES) throw invalidArgument(`${path}: more than ${MAX_IDENTIFIER_ENTRIES} entries`);
  for (let i = 0; i < values.length; i++) checkIdentifier(values[i]!, `${path}[${i}]`);
}

export function checkIdentifiers(desc: DescMessage, message: unknown, prefix = ""): void {
  const plan = planFor(desc);
  if (plan.length === 0 || message === null || typeof message !== "object") return;
  const record = message as Record<string, unknown>;
  for (const check of plan) {
    let value: unknown;
    if (check.oneof === undefined) value = record[check.localName];
    else {
      const selected = record[check.oneof] as { case?: string; value?: unknown } | undefined;
      value = selected?.case === check.localName ? selected.value : undefined;
    }
    if (value === undefined) continue;
    const path = prefix + check.protoName;
    if (check.repeated && check.nested) {
      const list = value as unknown[];
      for (let i = 0; i < list.length; i++) checkIdentifiers(check.nested, list[i], `${path}[${i}].`);
    } else if (check.repeated) {
      checkIdentifierList(value as string[], path);
    } else if (check.nested) {
      checkIdentifiers(check.nested, value, `${path}.`);
    } else {
      checkIdentifier(value as string, path);
    }
  }
}

/**
 * Refuses a request whose message could not be read, or whose identifiers are oversized or hold control characters (INVALID_ARGUMENT
 * naming the field), before auth and quota read them into logs and ledger rows. Then resolves the
 * endpoint the request names, once, on the call's state (callEndpointKey): a refused name never
 * becomes the call's endpoint, so it reaches no log line, metric or ledger row.
 */
export function boundsInterceptor(): Interceptor {
  return (next) => (req) => {
    const scope = getCallScope(req.contextValues);
    if (scope?.unreadable !== undefined) throw scope.unreadable;
    const message = scope ? scope.message : req.stream ? undefined : req.message;
    checkIdentifiers(req.method.input, message);
    const name = endpointNameOf(message);
    if (scope && name !== undefined) setOnce(req.contextValues, callEndpointKey, { name, endpoint: scope.state.endpoints.get(name) });
    return next(req);
  };
}
