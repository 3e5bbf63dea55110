// Differential fuzzing of the in-process path's values against the wire's. The REST surfaces call
// the services with message objects, no encoding (src/server/direct-transport.ts), and
// message-conform.ts promises that a service then sees exactly what a gRPC or Connect caller's
// message would hold after a decode, and that what the encoding refuses is refused. Here every
// request and answer type of the API gets random messages, half of them with one field set to a
// raw JavaScript value no typed code would write (out of range, wrong type, NaN, a lone surrogate,
// a bigint past 64 bits, null, …: what a REST handler could hand over). Each goes both ways:
//   the wire:      create (plain objects become messages), toBinary, then fromBinary (what a
//                  remote caller's message becomes);
//   in process:    conformRequest (a request) or conformResponse (an answer).
// Where the raw value has the JavaScript type the field's TypeScript type declares (a number for
// an int32, a bigint for an int64, an array for a list, …), they must agree: both refuse, or both
// give the same message (compared by its encoding). For any other value toBinary is lax (a number
// in a string field is written as its text, `undefined` as "undefined") where the in-process path
// is strict and refuses it; only the kind of refusal is checked there. A refusal in process is
// INVALID_ARGUMENT for a request and INTERNAL for an answer, naming a field.
//
// A longer run: FUZZ_RUNS=2000 FUZZ_SEED=$RANDOM npx vitest run test/fuzz/conform-diff.spec.ts
import { create, fromBinary, ScalarType, toBinary, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { apiFiles } from "../../src/server/gateway";
import { conformRequest, conformResponse } from "../../src/server/message-conform";
import { fuzzRuns, fuzzSeed as seed, hashText, randomMessage, Rng } from "./values";

const runs = fuzzRuns * 10;

/** Raw values a field may be given by code that bypasses the types. */
const rawValues: unknown[] = [
  -1, 0.5, 1.5, 2 ** 31, 2 ** 32, -(2 ** 31) - 1, 2 ** 53, 2 ** 64, -0, Number.NaN, Number.POSITIVE_INFINITY, 3.5e38, 1e-46,
  "12", "x", "1e3", "", " 7", "0x10", "-9223372036854775809", "18446744073709551616", "\ud800", "a\udfffb",
  10n, -1n, 2n ** 63n, 2n ** 64n, -(2n ** 63n) - 1n,
  null, undefined, true, false, {}, [], [1, "a"], new Uint8Array([1, 2]), { a: 1 },
];

type Outcome = { ok: true; bytes: string } | { ok: false; why: string };

/**
 * The message as an init object (every `$typeName` dropped, deep): what `create` turns into
 * messages, as the in-process path takes plain objects where messages go (toBinary needs messages).
 */
function asInit(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asInit);
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (k !== "$typeName" && k !== "$unknown") out[k] = asInit(v);
  return out;
}

function viaWire(desc: DescMessage, message: Message): Outcome {
  try {
    const decoded = fromBinary(desc, toBinary(desc, create(desc, asInit(message) as never)));
    return { ok: true, bytes: Buffer.from(toBinary(desc, decoded)).toString("hex") };
  } catch (err) {
    return { ok: false, why: String(err instanceof Error ? err.message : err) };
  }
}

function inProcess(desc: DescMessage, message: Message, answer: boolean): Outcome {
  try {
    // A request is what a REST handler hands over (plain objects where messages go); an answer
    // is what connect-es's normalize makes of a service's return value before it is checked.
    const conformed = answer ? conformResponse(desc, create(desc, asInit(message) as never)) : conformRequest(desc, message);
    return { ok: true, bytes: Buffer.from(toBinary(desc, conformed)).toString("hex") };
  } catch (err) {
    if (!(err instanceof ConnectError) || err.code !== (answer ? Code.Internal : Code.InvalidArgument)) {
      return { ok: false, why: `WRONG ERROR ${String(err)}` };
    }
    return { ok: false, why: err.rawMessage };
  }
}

/** A message field (or the message itself) one level down at most, where a raw value goes. */
function targetOf(rng: Rng, message: Message, desc: DescMessage): { owner: Record<string, unknown>; field: DescField } | undefined {
  if (desc.fields.length === 0) return undefined;
  const field = rng.pick(desc.fields);
  const owner = message as unknown as Record<string, unknown>;
  if (field.fieldKind === "message" && rng.chance(0.5)) {
    const sub = owner[field.localName];
    if (sub !== undefined && sub !== null && typeof sub === "object" && field.message.fields.length > 0 && !field.message.typeName.startsWith("google.protobuf.")) {
      return { owner: sub as Record<string, unknown>, field: rng.pick(field.message.fields) };
    }
  }
  return { owner, field };
}

/** The JavaScript type protobuf-es's TypeScript type gives a scalar of this kind. */
function scalarTyped(scalar: ScalarType, value: unknown): boolean {
  switch (scalar) {
    case ScalarType.STRING:
      return typeof value === "string";
    case ScalarType.BOOL:
      return typeof value === "boolean";
    case ScalarType.BYTES:
      return value instanceof Uint8Array;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return typeof value === "bigint";
    default:
      return typeof value === "number";
  }
}

/** Whether `value` has the JavaScript type the field's TypeScript type declares (its value may still not fit). */
function typed(field: DescField, value: unknown): boolean {
  const plainObject = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array);
  switch (field.fieldKind) {
    case "scalar":
      return scalarTyped(field.scalar, value) || (value === undefined && field.presence !== 2 /* IMPLICIT */);
    case "enum":
      return typeof value === "number";
    case "message":
      return value === undefined || plainObject(value);
    case "list":
      return Array.isArray(value) && value.every((v) => (field.listKind === "scalar" ? scalarTyped(field.scalar, v) : field.listKind === "enum" ? typeof v === "number" : plainObject(v)));
    case "map":
      return plainObject(value) && Object.values(value as object).every((v) => (field.mapKind === "scalar" ? scalarTyped(field.scalar, v) : field.mapKind === "enum" ? typeof v === "number" : plainObject(v)));
  }
}

function describeValue(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

const types = new Map<string, { desc: DescMessage; answer: boolean }>();
for (const file of apiFiles) {
  for (const service of file.services) {
    for (const method of service.methods) {
      types.set(method.input.typeName, { desc: method.input, answer: false });
      types.set(method.output.typeName + " (answer)", { desc: method.output, answer: true });
    }
  }
}

describe(`in-process values agree with the wire's (seed ${seed})`, () => {
  it.each([...types.keys()])("%s", (name) => {
    const { desc, answer } = types.get(name)!;
    const rng = new Rng(seed ^ hashText(name));
    const differences: string[] = [];
    let agreedOk = 0;
    for (let i = 0; i < runs && differences.length < 5; i++) {
      const message = randomMessage(rng, desc, {}, desc.fields.length > 0 ? desc.fields[i % desc.fields.length]!.name : undefined);
      let what = "random message";
      let strict = true;
      if (rng.chance(0.5)) {
        const target = targetOf(rng, message, desc);
        if (target) {
          const value = rng.pick(rawValues);
          const { owner, field } = target;
          // A list or map field gets the raw value as an element now and then.
          if (field.fieldKind === "list" && rng.chance(0.5)) owner[field.localName] = [value];
          else if (field.fieldKind === "map" && rng.chance(0.5)) owner[field.localName] = { k: value };
          else owner[field.localName] = value;
          what = `${field.parent.typeName}.${field.name} (${field.fieldKind}) = ${describeValue(owner[field.localName])}`;
          strict = typed(field, owner[field.localName]);
        }
      }
      const wire = viaWire(desc, message);
      const local = inProcess(desc, message, answer);
      if (!local.ok && local.why.startsWith("WRONG ERROR")) differences.push(`${what}: ${local.why}`);
      else if (!strict) continue;
      else if (wire.ok !== local.ok) {
        differences.push(`${what}\n  wire:       ${wire.ok ? "carries it" : `refuses: ${wire.why}`}\n  in process: ${local.ok ? "carries it" : `refuses: ${local.why}`}`);
      } else if (wire.ok && local.ok) {
        if (wire.bytes !== local.bytes) differences.push(`${what}\n  wire:       ${wire.bytes.slice(0, 400)}\n  in process: ${local.bytes.slice(0, 400)}`);
        else agreedOk++;
      }
    }
    expect(differences).toEqual([]);
    expect(agreedOk).toBeGreaterThan(0);
  });
});
