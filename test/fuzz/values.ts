// Seeded random values for the fuzz tests: protobuf messages built from their descriptors (every
// field of every request type), JSON values for the REST bodies, and the nasty strings that broke
// things before (NUL, malformed percent-escapes, lone surrogates, huge and deeply nested input).
import { fromJson, ScalarType, type DescField, type DescMessage, type JsonValue, type Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { StructSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";

/** The runs' seed and size: FUZZ_SEED and FUZZ_RUNS (runs per method, route or case) for a longer run. */
export const fuzzSeed = Number(process.env["FUZZ_SEED"] ?? 20261206);
export const fuzzRuns = Number(process.env["FUZZ_RUNS"] ?? 40);

/** Codes that mean "the gateway is broken", whatever the input. */
export const brokenCodes: ReadonlySet<Code> = new Set([Code.Internal, Code.Unknown, Code.DataLoss]);

/** FNV-1a of `text`: each method, route or case gets a generator of its own from the one seed. */
export function hashText(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** mulberry32: small, fast, good enough to make a run reproducible from its seed. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** Strings that have broken parsers, databases, logs and routers. */
export const nastyStrings: readonly string[] = [
  "",
  " ",
  "x\u0000",
  "\u0000",
  "%",
  "%E0%A4",
  "%FF",
  "%00",
  "\ud800",
  "a\udfffb",
  "🤖 emoji",
  "=HYPERLINK(\"http://x\")",
  "+1",
  "@SUM(A1)",
  "'; DROP TABLE usage_ledger; --",
  "../../etc/passwd",
  "line\nbreak",
  "tab\there",
  "\u001b[31mred",
  "\u202eRTL",
  "null",
  "{}",
  "<script>alert(1)</script>",
  "x".repeat(300),
  "y".repeat(5_000),
];

export function randomString(rng: Rng): string {
  switch (rng.int(5)) {
    case 0:
      return rng.pick(nastyStrings);
    case 1: {
      let s = "";
      for (let i = rng.int(24); i > 0; i--) s += String.fromCharCode(32 + rng.int(95));
      return s;
    }
    case 2: {
      let s = "";
      for (let i = rng.int(12); i > 0; i--) s += String.fromCharCode(rng.int(0x3000));
      return s;
    }
    case 3:
      return "z".repeat(rng.int(3) === 0 ? 20_000 : 200);
    default:
      return rng.pick(["hello", "user", "assistant", "system", "tool", "auto", "none", "function", "json_object", "text"]);
  }
}

const intEdges = [0, 1, -1, 2, 127, 128, 255, 256, 1024, 65535, 2 ** 31 - 1, -(2 ** 31)];
const uintEdges = [0, 1, 2, 3, 100, 1024, 100_000, 2 ** 32 - 1];
const floatEdges = [0, -0, 0.5, -1, 1, 2, 3, 1e-45, 3.4e38, -3.4e38, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
const bigEdges = [0n, 1n, -1n, 2n ** 31n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)];
const ubigEdges = [0n, 1n, 60n, 2n ** 53n + 1n, 2n ** 64n - 1n];

function scalarValue(rng: Rng, type: ScalarType, field: DescField, hints: Hints): unknown {
  switch (type) {
    case ScalarType.STRING:
      return hints.string?.(field, rng) ?? randomString(rng);
    case ScalarType.BOOL:
      return rng.chance(0.5);
    case ScalarType.BYTES: {
      const bytes = new Uint8Array(rng.int(64));
      for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
      return bytes;
    }
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return rng.chance(0.5) ? rng.pick(floatEdges) : (rng.next() - 0.25) * 4;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return rng.pick(intEdges);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return rng.pick(uintEdges);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return rng.pick(bigEdges);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return rng.pick(ubigEdges);
  }
}

/** A random JSON value; now and then a very deep one (stack-depth bugs) or a wide one. */
export function randomJson(rng: Rng, depth = 0): JsonValue {
  if (depth === 0 && rng.chance(0.05)) return deepJson(50 + rng.int(1_000));
  const kind = depth > 3 ? rng.int(4) : rng.int(7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.pick([0, -1, 1, 1e308, -1e308, 0.1, 100_000, 2 ** 53 + 1]) : rng.next() * 1000;
    case 3:
      return randomString(rng);
    case 4:
    case 5: {
      const out: Record<string, JsonValue> = {};
      for (let i = rng.int(4); i > 0; i--) out[rng.chance(0.3) ? rng.pick(nastyStrings) : `k${rng.int(100)}`] = randomJson(rng, depth + 1);
      return out;
    }
    default: {
      const out: JsonValue[] = [];
      for (let i = rng.int(4); i > 0; i--) out.push(randomJson(rng, depth + 1));
      return out;
    }
  }
}

export function deepJson(depth: number): JsonValue {
  let v: JsonValue = "bottom";
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? { d: v } : [v];
  return v;
}

/** Lets a test steer some string fields (e.g. `endpoint` to real names, so calls get deep). */
export interface Hints {
  string?(field: DescField, rng: Rng): string | undefined;
}

/**
 * A message of type `desc` with random fields. Each field is set with probability `density`;
 * `force` names a field that is always set (so a run over N messages covers every field).
 */
export function randomMessage(rng: Rng, desc: DescMessage, hints: Hints = {}, force?: string, depth = 0): Message {
  return randomReflect(rng, desc, hints, force, depth).message;
}

function randomReflect(rng: Rng, desc: DescMessage, hints: Hints, force: string | undefined, depth: number): ReflectMessage {
  if (desc.typeName === StructSchema.typeName) {
    const json = randomJson(rng);
    const object = json !== null && typeof json === "object" && !Array.isArray(json) ? json : { v: json };
    return reflect(StructSchema, safeFromJson(StructSchema, object) ?? fromJson(StructSchema, {}));
  }
  if (desc.typeName === ValueSchema.typeName) {
    return reflect(ValueSchema, safeFromJson(ValueSchema, randomJson(rng)) ?? fromJson(ValueSchema, null));
  }
  const m = reflect(desc);
  const setOneofs = new Set<string>();
  for (const field of desc.fields) {
    const forced = field.name === force;
    if (!forced && !rng.chance(depth > 2 ? 0.2 : 0.6)) continue;
    if (field.oneof) {
      if (setOneofs.has(field.oneof.name) && !forced) continue;
      setOneofs.add(field.oneof.name);
    }
    trySet(m, field, () => fieldValue(rng, field, hints, depth));
  }
  return m;
}

function fieldValue(rng: Rng, field: DescField, hints: Hints, depth: number): (m: ReflectMessage) => void {
  switch (field.fieldKind) {
    case "scalar": {
      const v = scalarValue(rng, field.scalar, field, hints);
      return (m) => m.set(field, v);
    }
    case "enum": {
      const values = field.enum.values.map((v) => v.number);
      const v = rng.chance(0.9) ? rng.pick(values) : 999;
      return (m) => m.set(field, v);
    }
    case "message": {
      if (depth > 5) return () => undefined;
      const sub = randomReflect(rng, field.message, hints, undefined, depth + 1);
      return (m) => m.set(field, sub);
    }
    case "list": {
      const n = rng.chance(0.05) ? 40 : rng.int(4);
      const items: unknown[] = [];
      for (let i = 0; i < n; i++) {
        if (field.listKind === "scalar") items.push(scalarValue(rng, field.scalar, field, hints));
        else if (field.listKind === "enum") items.push(rng.pick(field.enum.values.map((v) => v.number)));
        else if (depth <= 5) items.push(randomReflect(rng, field.message, hints, undefined, depth + 1));
      }
      return (m) => {
        const list = m.get(field);
        for (const item of items) list.add(item);
      };
    }
    case "map": {
      const n = rng.int(3);
      const entries: [unknown, unknown][] = [];
      for (let i = 0; i < n; i++) {
        const key = field.mapKey === ScalarType.STRING ? randomString(rng) : rng.int(100);
        const value =
          field.mapKind === "scalar"
            ? scalarValue(rng, field.scalar, field, hints)
            : field.mapKind === "enum"
              ? rng.pick(field.enum.values.map((v) => v.number))
              : depth <= 5
                ? randomReflect(rng, field.message, hints, undefined, depth + 1)
                : undefined;
        if (value !== undefined) entries.push([key, value]);
      }
      return (m) => {
        const map = m.get(field);
        for (const [k, v] of entries) map.set(k as never, v as never);
      };
    }
  }
}

/** Values that the field's type cannot hold at all (reflect refuses them) are skipped. */
function trySet(m: ReflectMessage, _field: DescField, make: () => (m: ReflectMessage) => void): void {
  try {
    make()(m);
  } catch {
    // e.g. a 32-bit edge that this field's type cannot represent: the wire-level fuzz covers those.
  }
}

function safeFromJson<D extends DescMessage>(desc: D, json: JsonValue) {
  try {
    return fromJson(desc, json);
  } catch {
    return undefined;
  }
}

/** Random bytes, sometimes a valid message with a byte flipped or cut. */
export function randomBytes(rng: Rng, valid?: Uint8Array): Uint8Array {
  if (valid && valid.length > 0 && rng.chance(0.6)) {
    const out = rng.chance(0.5) ? valid.slice(0, rng.int(valid.length)) : valid.slice();
    if (out.length > 0 && rng.chance(0.7)) out[rng.int(out.length)] = rng.int(256);
    return out;
  }
  const out = new Uint8Array(rng.int(200));
  for (let i = 0; i < out.length; i++) out[i] = rng.int(256);
  return out;
}
