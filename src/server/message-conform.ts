// What the binary encoding used to enforce on the in-process path, without encoding: a message
// handed to a service (or back from one) holds only values its proto type can carry, exactly
// as a gRPC or Connect caller's message would after a decode.
//
// - uint32/int32/enum: integers in range; 64-bit integers: bigint in range (numbers and numeric
//   strings are converted, as toBinary does); float: rounded to float32; bool, string, bytes:
//   their JS type. A value out of range is refused, naming the field.
// - strings (and map keys, Struct keys): lone surrogates become U+FFFD, as UTF-8 makes them.
// - google.protobuf.Struct fields (JsonObject): JSON values only, as binary carries them
//   (undefined and other non-JSON values become null, non-plain objects their own fields).
// - oneofs: an unknown case is no case.
//
// Requests are COPIED (conformRequest): the service gets its own tree, so nothing the REST
// handler holds can change under it, and nothing the service does reaches the handler's objects.
// Answers are checked in place (conformResponse): the service built them for this call.
import { create, protoInt64, ScalarType, type DescField, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { wellFormed } from "../text";

/**
 * The nesting protobuf-es's decoders (binary and JSON) accept, counted as they count: the message
 * itself is level 1, each nested message one more, a Struct field's Struct one more and each of
 * its values (google.protobuf.Value) one more again, so a JSON level in a Struct is two. What a
 * gRPC or Connect caller cannot send deeper, a REST caller cannot either.
 */
export const MAX_MESSAGE_DEPTH = 100;
const tooDeep = `nests deeper than ${MAX_MESSAGE_DEPTH} messages`;

/** The largest float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;

/**
 * Thrown inside the walk; the caller turns it into the right Connect code. Its place is added
 * on the way out (each level catches, adds its field name or index, and rethrows), so the walk
 * builds no path text for the values that fit.
 */
class Unfit extends Error {
  /** Innermost first: ".name", "[3]", "[\"key\"]". */
  readonly where: string[] = [];
  constructor(readonly reason: string) {
    super(reason);
  }

  /** "messages[0].content", or `root` for the message itself. */
  path(root: string): string {
    let path = "";
    for (let i = this.where.length - 1; i >= 0; i--) path += this.where[i];
    return path === "" ? root : path.startsWith(".") ? path.slice(1) : path;
  }
}

/** Rethrows `err`, adding `segment` to its place when it is an Unfit. */
function within(err: unknown, segment: string): never {
  if (err instanceof Unfit) err.where.push(segment);
  throw err;
}

/**
 * A fresh, conforming message of type `desc` from `value` (an init object or a message). Refuses
 * with INVALID_ARGUMENT, naming the field, a value the proto type cannot carry.
 */
export function conformRequest<Desc extends DescMessage>(desc: Desc, value: unknown): MessageShape<Desc> {
  try {
    return create(desc, copyMessage(desc, value, 1) as never) as MessageShape<Desc>;
  } catch (err) {
    if (err instanceof Unfit) throw new ConnectError(`invalid ${desc.name}: ${err.path(desc.name)}: ${err.reason}`, Code.InvalidArgument);
    throw err;
  }
}

/**
 * Checks (and normalizes in place, as a decode would) the answer a service built. A value its
 * type cannot carry is a gateway bug: INTERNAL, as a failed encode on the wire path would be.
 */
export function conformResponse<Desc extends DescMessage>(desc: Desc, message: MessageShape<Desc>): MessageShape<Desc> {
  try {
    checkMessage(desc, message as unknown as Record<string, unknown>, 1);
  } catch (err) {
    if (err instanceof Unfit) throw new ConnectError(`the answer does not fit ${desc.typeName}: ${err.path(desc.name)}: ${err.reason}`, Code.Internal);
    throw err;
  }
  return message;
}

/** A singular google.protobuf wrapper field, which protobuf-es holds as the bare value. */
function wrapperScalar(field: DescField): ScalarType | undefined {
  if (field.fieldKind !== "message" || field.oneof !== undefined || !isWrapperDesc(field.message)) return undefined;
  return field.message.fields[0]!.scalar;
}

function isStructField(field: DescField): boolean {
  return field.message?.typeName === "google.protobuf.Struct" && field.parent.typeName !== "google.protobuf.Value";
}

/** The value of `field` in `record`, looking under the oneof when the field is a member. */
function fieldValue(record: Record<string, unknown>, field: DescField): unknown {
  if (field.oneof === undefined) return record[field.localName];
  const selected = record[field.oneof.localName] as { case?: unknown; value?: unknown } | undefined;
  return selected?.case === field.localName ? selected.value : undefined;
}

// ---- requests: copy ----

function copyMessage(desc: DescMessage, value: unknown, depth: number): Record<string, unknown> {
  if (depth > MAX_MESSAGE_DEPTH) throw new Unfit(tooDeep);
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Unfit("must be a message object");
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      const selected = record[member.localName] as { case?: unknown; value?: unknown } | undefined;
      const field = typeof selected?.case === "string" ? member.fields.find((f) => f.localName === selected.case) : undefined;
      if (field !== undefined && selected!.value != null) {
        try {
          out[member.localName] = { case: field.localName, value: copySingular(field, selected!.value, depth) };
        } catch (err) {
          within(err, `.${field.name}`);
        }
      }
      continue;
    }
    const field = member;
    const v = record[field.localName];
    if (v == null) continue;
    try {
      out[field.localName] = copyField(field, v, depth);
    } catch (err) {
      within(err, `.${field.name}`);
    }
  }
  return out;
}

function copyField(field: DescField, v: unknown, depth: number): unknown {
  switch (field.fieldKind) {
    case "list": {
      if (!Array.isArray(v)) throw new Unfit("must be a list");
      const list = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        try {
          if (field.listKind === "message") list[i] = copyMessage(field.message, item, depth + 1);
          else if (field.listKind === "enum") list[i] = enumValue(item);
          else list[i] = scalarValue(field.scalar, item, field.longAsString, true);
        } catch (err) {
          within(err, `[${i}]`);
        }
      }
      return list;
    }
    case "map": {
      if (typeof v !== "object" || Array.isArray(v)) throw new Unfit("must be a map object");
      const map: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(v as Record<string, unknown>)) {
        try {
          const k = field.mapKey === ScalarType.STRING ? wellFormed(key) : key;
          const converted =
            field.mapKind === "message" ? copyMessage(field.message, item, depth + 1) : field.mapKind === "enum" ? enumValue(item) : scalarValue(field.scalar, item, false, true);
          setOwn(map, k, converted);
        } catch (err) {
          within(err, `[${JSON.stringify(key)}]`);
        }
      }
      return map;
    }
    default:
      return copySingular(field, v, depth);
  }
}

function copySingular(field: DescField, v: unknown, depth: number): unknown {
  switch (field.fieldKind) {
    case "message": {
      const wrapped = wrapperScalar(field);
      if (wrapped !== undefined) return scalarValue(wrapped, v, false, true);
      if (isStructField(field)) {
        if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Unfit("must be a JSON object");
        return jsonValue(v, depth + 1);
      }
      return copyMessage(field.message, v, depth + 1);
    }
    case "enum":
      return enumValue(v);
    case "scalar":
      return scalarValue(field.scalar, v, field.longAsString, true);
    default:
      throw new Unfit(`unexpected ${field.fieldKind} field`);
  }
}

/**
 * A JSON value as google.protobuf.Value carries it in binary: a fresh copy. An object or a list is
 * a Struct or ListValue at message level `depth`, each of its members a Value one level below.
 */
function jsonValue(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case "string":
      return wellFormed(v);
    case "number":
    case "boolean":
      return v;
    case "object": {
      if (v === null) return null;
      if (depth > MAX_MESSAGE_DEPTH) throw new Unfit(tooDeep);
      if (Array.isArray(v)) {
        const list = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) {
          try {
            if (depth + 1 > MAX_MESSAGE_DEPTH) throw new Unfit(tooDeep);
            list[i] = jsonValue(v[i], depth + 2);
          } catch (err) {
            within(err, `[${i}]`);
          }
        }
        return list;
      }
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(v)) {
        try {
          if (depth + 1 > MAX_MESSAGE_DEPTH) throw new Unfit(tooDeep);
          setOwn(out, wellFormed(key), jsonValue(item, depth + 2));
        } catch (err) {
          within(err, `.${key}`);
        }
      }
      return out;
    }
    default:
      return null; // undefined, bigint, symbol, function: a Value with no kind, read back as null
  }
}

function enumValue(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) throw new Unfit(`${describe(v)} is not an enum number`);
  return v;
}

/** `v` as a `type` field holds it; bytes are copied when `copy` (requests), else kept. */
function scalarValue(type: ScalarType, v: unknown, longAsString: boolean, copy: boolean): unknown {
  switch (type) {
    case ScalarType.STRING:
      if (typeof v !== "string") throw new Unfit(`${describe(v)} is not a string`);
      return wellFormed(v);
    case ScalarType.BOOL:
      if (typeof v !== "boolean") throw new Unfit(`${describe(v)} is not a boolean`);
      return v;
    case ScalarType.DOUBLE:
      if (typeof v !== "number") throw new Unfit(`${describe(v)} is not a number`);
      return v;
    case ScalarType.FLOAT:
      if (typeof v !== "number") throw new Unfit(`${describe(v)} is not a number`);
      if (Number.isFinite(v) && Math.abs(v) > FLOAT32_MAX) throw new Unfit(`${v} is out of range for float`);
      return Math.fround(v);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      if (typeof v !== "number" || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) throw new Unfit(`${describe(v)} is out of range for int32`);
      return v;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > UINT32_MAX) throw new Unfit(`${describe(v)} is out of range for uint32`);
      return v;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return int64Value(type, v, longAsString);
    case ScalarType.BYTES:
      if (v instanceof Uint8Array) return copy ? new Uint8Array(v) : v;
      if (Array.isArray(v) && v.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return new Uint8Array(v);
      throw new Unfit(`${describe(v)} is not bytes`);
  }
}

function int64Value(type: ScalarType, v: unknown, longAsString: boolean): bigint | string {
  const unsigned = type === ScalarType.UINT64 || type === ScalarType.FIXED64;
  const name = unsigned ? "uint64" : "int64";
  if (typeof v !== "bigint" && typeof v !== "string" && !(typeof v === "number" && Number.isInteger(v))) {
    throw new Unfit(`${describe(v)} is not an ${name}`);
  }
  let parsed: bigint;
  try {
    parsed = BigInt(unsigned ? protoInt64.uParse(v) : protoInt64.parse(v));
  } catch {
    throw new Unfit(`${describe(v)} is out of range for ${name}`);
  }
  return longAsString ? parsed.toString() : parsed;
}

// ---- answers: check in place ----

function checkMessage(desc: DescMessage, record: Record<string, unknown>, depth: number): void {
  if (depth > MAX_MESSAGE_DEPTH) throw new Unfit(tooDeep);
  if (record === null || typeof record !== "object" || Array.isArray(record) || record instanceof Uint8Array) throw new Unfit("must be a message object");
  for (const field of desc.fields) {
    const v = fieldValue(record, field);
    if (v == null) continue;
    let fixed: unknown;
    try {
      fixed = checkField(field, v, depth);
    } catch (err) {
      within(err, `.${field.name}`);
    }
    if (fixed !== v) {
      if (field.oneof === undefined) record[field.localName] = fixed;
      else (record[field.oneof.localName] as { value: unknown }).value = fixed;
    }
  }
}

/** The field's value as it should be (`v` itself, normalized in place where it is a list or map). */
function checkField(field: DescField, v: unknown, depth: number): unknown {
  switch (field.fieldKind) {
    case "list": {
      if (!Array.isArray(v)) throw new Unfit("must be a list");
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        try {
          if (field.listKind === "message") checkMessage(field.message, item as Record<string, unknown>, depth + 1);
          else {
            const n = field.listKind === "enum" ? enumValue(item) : scalarValue(field.scalar, item, field.longAsString, false);
            if (n !== item) v[i] = n;
          }
        } catch (err) {
          within(err, `[${i}]`);
        }
      }
      return v;
    }
    case "map": {
      if (typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) throw new Unfit("must be a map");
      const map = v as Record<string, unknown>;
      for (const key of Object.keys(map)) {
        const item = map[key];
        try {
          if (field.mapKind === "message") checkMessage(field.message, item as Record<string, unknown>, depth + 1);
          else {
            const n = field.mapKind === "enum" ? enumValue(item) : scalarValue(field.scalar, item, false, false);
            if (n !== item) map[key] = n;
          }
        } catch (err) {
          within(err, `[${JSON.stringify(key)}]`);
        }
      }
      return v;
    }
    case "message": {
      const wrapped = wrapperScalar(field);
      if (wrapped !== undefined) return scalarValue(wrapped, v, false, false);
      if (isStructField(field)) return jsonValue(v, depth + 1);
      checkMessage(field.message, v as Record<string, unknown>, depth + 1);
      return v;
    }
    case "enum":
      enumValue(v);
      return v;
    case "scalar":
      return scalarValue(field.scalar, v, field.longAsString, false);
  }
}

// ---- helpers ----

/** `obj[key] = value`, also for "__proto__" (a JSON key like any other). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function describe(v: unknown): string {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 32 ? `${v.slice(0, 32)}…` : v);
  return v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : typeof v;
}
