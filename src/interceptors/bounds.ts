// Identifiers are bounded at the edge. Names, ids, roles and the like end up in ledger rows, log
// lines, metrics and error messages; a 3 MB endpoint name or one with a NUL in it must be refused
// here, before any layer stores or echoes it. Free text (message content, prompts, inputs) is
// bounded by the body size only: it goes to the model, not into our records.
import { ScalarType, type DescMessage } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { invalidArgument } from "../errors";
import { getCallInfo, requestMessage } from "./call-info";

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
  /** Set for message fields that contain identifiers somewhere below. */
  nested?: Plan;
}
type Plan = FieldCheck[];

const plans = new Map<DescMessage, Plan>();

/** Which fields of a message type to check, computed once per type (no reflection per call). */
function planFor(desc: DescMessage, visiting = new Set<DescMessage>()): Plan {
  const cached = plans.get(desc);
  if (cached) return cached;
  if (visiting.has(desc)) return []; // recursive types (Struct) hold no identifiers
  visiting.add(desc);
  const plan: Plan = [];
  for (const field of desc.fields) {
    const repeated = field.fieldKind === "list";
    if ((field.fieldKind === "scalar" || (repeated && field.listKind === "scalar")) && field.scalar === ScalarType.STRING) {
      if (identifierFields.has(field.name)) plan.push({ localName: field.localName, protoName: field.name, repeated });
    } else if (field.fieldKind === "message" || (repeated && field.listKind === "message")) {
      const nested = planFor(field.message!, visiting);
      if (nested.length > 0) plan.push({ localName: field.localName, protoName: field.name, repeated, nested });
    }
  }
  // Oneof members are fields of the message too (desc.fields lists them); their values sit under
  // the oneof's local name, which the walk below handles.
  visiting.delete(desc);
  plans.set(desc, plan);
  return plan;
}

function checkIdentifier(value: string, path: string): void {
  if (value.length > MAX_IDENTIFIER_CHARS) throw invalidArgument(`${path}: longer than ${MAX_IDENTIFIER_CHARS} characters`);
  if (controlChar.test(value)) throw invalidArgument(`${path}: contains a control character`);
}

/** Reads a field of a protobuf-es message, including oneof members (stored as {case, value}). */
function fieldValue(message: Record<string, unknown>, desc: DescMessage, localName: string): unknown {
  if (localName in message) return message[localName];
  const field = desc.fields.find((f) => f.localName === localName);
  const oneof = field?.oneof;
  if (!oneof) return undefined;
  const selected = message[oneof.localName] as { case?: string; value?: unknown } | undefined;
  return selected?.case === localName ? selected.value : undefined;
}

export function checkIdentifiers(desc: DescMessage, message: unknown, prefix = ""): void {
  const plan = planFor(desc);
  if (plan.length === 0 || message === null || typeof message !== "object") return;
  const record = message as Record<string, unknown>;
  for (const check of plan) {
    const path = prefix + check.protoName;
    const value = fieldValue(record, desc, check.localName);
    if (value === undefined) continue;
    const nestedDesc = check.nested ? desc.fields.find((f) => f.localName === check.localName)!.message! : undefined;
    if (check.repeated) {
      const list = value as unknown[];
      if (!check.nested && list.length > MAX_IDENTIFIER_ENTRIES) throw invalidArgument(`${path}: more than ${MAX_IDENTIFIER_ENTRIES} entries`);
      list.forEach((item, i) => {
        if (nestedDesc) checkIdentifiers(nestedDesc, item, `${path}[${i}].`);
        else checkIdentifier(item as string, `${path}[${i}]`);
      });
    } else if (nestedDesc) {
      checkIdentifiers(nestedDesc, value, `${path}.`);
    } else {
      checkIdentifier(value as string, path);
    }
  }
}

/**
 * Refuses a request whose identifiers are oversized or hold control characters (INVALID_ARGUMENT
 * naming the field), before auth and quota read them into logs and ledger rows.
 */
export function boundsInterceptor(): Interceptor {
  return (next) => async (req) => {
    const info = getCallInfo(req.contextValues);
    const message = info ? await requestMessage(req, info) : req.stream ? undefined : req.message;
    try {
      checkIdentifiers(req.method.input, message);
    } catch (err) {
      // The refused value must not reach the call's log line either.
      if (info) info.endpoint = undefined;
      throw err;
    }
    return next(req);
  };
}
