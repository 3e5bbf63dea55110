// Request fidelity: every field of OpenAI's request schemas (CreateChatCompletionRequest and its
// message types, CreateCompletionRequest, CreateEmbeddingRequest, from the vendored OpenAPI
// document) sent through the OpenAI surface to an OpenAI-format upstream reaches it unchanged,
// in an equivalent form, is handled by the gateway, or is refused with a message naming it, as
// request-decisions.ts says. A spec field without a decision fails the test; the README's table
// is rendered from the same decisions.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type TestGateway } from "../integration/harness";
import { openaiSpec } from "./openapi-schemas";
import { type Decision, type Outcome, chatDecisions, completionDecisions, decisionTables, embeddingDecisions, messageDecisions } from "./request-decisions";
import { type ScriptedUpstream, startScriptedUpstream } from "./scripted-upstream";

const key = "sk-fidelity-app-000001";
let up: ScriptedUpstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startScriptedUpstream();
  const openai = (name: string) => `{ provider: openai, name: ${name}, config: { openai_api_key: sk-upstream-0000, openai_api_base: "${up.url}/v1" } }`;
  gw = await startGateway(
    `
auth: { enabled: true, keys: [{ name: app, key: $APP_KEY }] }
endpoints:
  - { name: oa-chat, endpoint_type: llm/v1/chat, model: ${openai("gpt-4o")} }
  - { name: oa-text, endpoint_type: llm/v1/completions, model: ${openai("gpt-3.5-turbo-instruct")} }
  - { name: oa-embed, endpoint_type: llm/v1/embeddings, model: ${openai("text-embedding-3-small")} }
`,
    { APP_KEY: key },
  );
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await up?.close();
});

type Json = Record<string, unknown>;

/** The property names of a request schema, through allOf and $ref. */
function specFields(name: string): string[] {
  const spec = openaiSpec();
  const out = new Set<string>();
  const seen = new Set<string>();
  const walk = (schema: unknown): void => {
    if (typeof schema !== "object" || schema === null) return;
    const s = schema as Json;
    if (typeof s["$ref"] === "string") {
      const ref = s["$ref"].split("/").pop()!;
      if (!seen.has(ref)) {
        seen.add(ref);
        walk(spec.schema(ref));
      }
      return;
    }
    if (typeof s["properties"] === "object" && s["properties"] !== null) for (const k of Object.keys(s["properties"])) out.add(k);
    if (Array.isArray(s["allOf"])) s["allOf"].forEach(walk);
  };
  walk(spec.schema(name));
  return [...out].sort();
}

/** Sends a body; returns the upstream's copy of it (undefined when refused) and the gateway's answer. */
async function send(path: string, body: Json): Promise<{ status: number; answer: Json | undefined; upstream: Json | undefined }> {
  const before = up.requests.length;
  const res = await fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const answer = body["stream"] === true && res.status === 200 ? undefined : (JSON.parse(text) as Json);
  const upstream = up.requests.length > before ? (up.requests.at(-1)?.body as Json) : undefined;
  return { status: res.status, answer, upstream };
}

function expectOutcome(outcome: Outcome, sent: unknown, got: { status: number; answer: Json | undefined; upstream: Json | undefined }, read: (upstream: Json) => unknown, field: string) {
  if (outcome.kind === "refused") {
    expect(got.status, JSON.stringify(got.answer)).toBe(400);
    expect(got.upstream, "a refused request never reaches the upstream").toBeUndefined();
    const error = (got.answer as { error: { message: string; param: string | null } }).error;
    expect(error.message).toMatch(outcome.message);
    expect(error.param ?? "", `param names ${field}`).toMatch(new RegExp(`^${field.split(" ")[0]!.replace(/[[\]]/g, "\\$&")}`));
    return;
  }
  expect(got.status, JSON.stringify(got.answer)).toBe(200);
  expect(got.upstream).toBeDefined();
  const value = read(got.upstream!);
  if (outcome.kind === "unchanged") expect(value).toEqual(sent);
  else expect(value).toEqual(outcome.upstream);
}

function defineFieldTests(path: string, schemaName: string, base: Json, decisions: Decision[]) {
  it(`every field of ${schemaName} has a decision, and only those`, () => {
    expect([...new Set(decisions.map((d) => d.field))].sort()).toEqual(specFields(schemaName));
  });
  it.each(decisions.map((d, i) => [`${d.field} ${JSON.stringify(d.sample).slice(0, 60)}`, i] as const))("%s", async (_, i) => {
    const d = decisions[i]!;
    const body: Json = { ...base, ...d.with, [d.field]: d.sample };
    const got = await send(path, body);
    expectOutcome(d.outcome, d.sample, got, (upstream) => upstream[d.field], d.field);
  });
}

describe("/v1/chat/completions", () => {
  defineFieldTests("/v1/chat/completions", "CreateChatCompletionRequest", { model: "oa-chat", messages: [{ role: "user", content: "hi" }] }, chatDecisions);
});

describe("chat messages", () => {
  const schemas = [...new Set(messageDecisions.map((d) => d.schema))];
  it("every message type of ChatCompletionRequestMessage has decisions", () => {
    const oneOf = openaiSpec().schema("ChatCompletionRequestMessage")["oneOf"] as { $ref: string }[];
    expect(schemas.sort()).toEqual(oneOf.map((r) => r.$ref.split("/").pop()).sort());
  });
  it.each(schemas)("every field of %s has a decision", (schema) => {
    const fields = new Set(messageDecisions.filter((d) => d.schema === schema).map((d) => d.field.split(" ")[0]));
    expect([...fields].sort()).toEqual(specFields(schema));
  });
  it.each(messageDecisions.map((d, i) => [`${d.schema.replace("ChatCompletionRequest", "")} ${d.field}`, i] as const))("%s", async (_, i) => {
    const d = messageDecisions[i]!;
    const got = await send("/v1/chat/completions", { model: "oa-chat", messages: [{ role: "user", content: "hi" }, d.message] });
    expectOutcome(d.outcome, d.message, got, (upstream) => (upstream["messages"] as unknown[])[1], d.outcome.kind === "refused" ? "messages[1]" : d.field);
  });
});

describe("/v1/completions", () => {
  defineFieldTests("/v1/completions", "CreateCompletionRequest", { model: "oa-text", prompt: "hi" }, completionDecisions);
});

describe("/v1/embeddings", () => {
  defineFieldTests("/v1/embeddings", "CreateEmbeddingRequest", { model: "oa-embed", input: "hi" }, embeddingDecisions);
});

describe("README", () => {
  it("holds the decision tables as rendered from request-decisions.ts", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const begin = "<!-- request-fidelity:begin (rendered by test/conformance/request-decisions.ts) -->";
    const end = "<!-- request-fidelity:end -->";
    const from = readme.indexOf(begin);
    const to = readme.indexOf(end);
    expect(from, "README.md has the request-fidelity markers").toBeGreaterThan(-1);
    expect(readme.slice(from + begin.length, to).trim()).toBe(decisionTables());
  });
});
