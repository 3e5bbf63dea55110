// Request fidelity for POST /v1/responses: every field of OpenAI's CreateResponse (from the
// vendored OpenAPI document) has a decision here, and each sample sent through the gateway to an
// OpenAI-format upstream does what its decision says: it reaches the upstream chat request in
// its Chat Completions form, is handled by the gateway (and does not reach the upstream), or is
// refused with a 400 whose `param` names it. A spec field without a decision fails the test, so
// a field OpenAI adds is decided on, never silently dropped.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type TestGateway } from "../integration/harness";
import { openaiSpec } from "./openapi-schemas";
import { type ScriptedUpstream, startScriptedUpstream } from "./scripted-upstream";

const key = "sk-responses-fidelity-01";
let up: ScriptedUpstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startScriptedUpstream();
  gw = await startGateway(
    `
auth: { enabled: true, keys: [{ name: app, key: $APP_KEY }] }
endpoints:
  - { name: oa-chat, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o, config: { openai_api_key: sk-upstream-0000, openai_api_base: "${up.url}/v1" } } }
`,
    { APP_KEY: key },
  );
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await up?.close();
});

type Outcome =
  /** The upstream chat request holds `upstream` (toMatchObject): the field in its Chat Completions form. */
  | { kind: "chat"; upstream: Record<string, unknown> }
  /** The gateway acts on it (echoes it, streams, stores nothing); the upstream body has no such field. */
  | { kind: "gateway" }
  /** A 400 whose `param` is `param` (default: the field) and whose message matches. */
  | { kind: "refused"; message: RegExp; param?: string };

interface Decision {
  field: string;
  sample: unknown;
  outcome: Outcome;
  /** Other body fields the sample needs. */
  with?: Record<string, unknown>;
}

const tools = [{ type: "function", name: "get_weather", parameters: { type: "object", properties: {} }, strict: true }];
const chatTools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: {} }, strict: true } }];
const schema = { type: "object", properties: { a: { type: "string" } }, required: ["a"], additionalProperties: false };

const decisions: Decision[] = [
  { field: "model", sample: "oa-chat", outcome: { kind: "chat", upstream: { model: "gpt-4o" } } },
  { field: "input", sample: "hi", outcome: { kind: "chat", upstream: { messages: [{ role: "user", content: "hi" }] } } },
  {
    field: "input",
    sample: [
      { role: "user", content: [{ type: "input_text", text: "weather?" }] },
      { type: "function_call", call_id: "call_1", name: "get_weather", arguments: "{}" },
      { type: "function_call_output", call_id: "call_1", output: "sunny" },
    ],
    with: { tools },
    outcome: {
      kind: "chat",
      upstream: {
        messages: [
          { role: "user", content: "weather?" },
          { role: "assistant", tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{}" } }] },
          { role: "tool", tool_call_id: "call_1", content: "sunny" },
        ],
      },
    },
  },
  { field: "input", sample: [{ role: "user", content: [{ type: "input_file", file_id: "file-1" }] }], outcome: { kind: "refused", message: /input_file/, param: "input[0].content[0].type" } },
  { field: "instructions", sample: "be brief", outcome: { kind: "chat", upstream: { messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi" }] } } },
  { field: "max_output_tokens", sample: 50, outcome: { kind: "chat", upstream: { max_completion_tokens: 50 } } },
  { field: "temperature", sample: 0.2, outcome: { kind: "chat", upstream: { temperature: 0.2 } } },
  { field: "top_p", sample: 0, outcome: { kind: "chat", upstream: { top_p: 0 } } },
  { field: "user", sample: "user-1234", outcome: { kind: "chat", upstream: { user: "user-1234" } } },
  { field: "tools", sample: tools, outcome: { kind: "chat", upstream: { tools: chatTools } } },
  { field: "tools", sample: [{ type: "web_search" }], outcome: { kind: "refused", message: /web_search tools are not supported/, param: "tools[0]" } },
  { field: "tool_choice", sample: "required", with: { tools }, outcome: { kind: "chat", upstream: { tool_choice: "required" } } },
  { field: "tool_choice", sample: { type: "function", name: "get_weather" }, with: { tools }, outcome: { kind: "chat", upstream: { tool_choice: { type: "function", function: { name: "get_weather" } } } } },
  { field: "tool_choice", sample: { type: "allowed_tools", mode: "auto", tools: [{ type: "function", name: "get_weather" }] }, with: { tools }, outcome: { kind: "refused", message: /allowed_tools/ } },
  { field: "parallel_tool_calls", sample: false, with: { tools }, outcome: { kind: "chat", upstream: { parallel_tool_calls: false } } },
  { field: "text", sample: { format: { type: "json_object" } }, outcome: { kind: "chat", upstream: { response_format: { type: "json_object" } } } },
  {
    field: "text",
    sample: { format: { type: "json_schema", name: "answer", schema, strict: true } },
    outcome: { kind: "chat", upstream: { response_format: { type: "json_schema", json_schema: { name: "answer", schema, strict: true } } } },
  },
  { field: "text", sample: { verbosity: "low" }, outcome: { kind: "chat", upstream: { verbosity: "low" } } },
  { field: "reasoning", sample: { effort: "low" }, outcome: { kind: "chat", upstream: { reasoning_effort: "low" } } },
  { field: "reasoning", sample: { summary: "auto" }, outcome: { kind: "refused", message: /reasoning summaries/, param: "reasoning.summary" } },
  { field: "service_tier", sample: "flex", outcome: { kind: "chat", upstream: { service_tier: "flex" } } },
  { field: "safety_identifier", sample: "hashed-user-1", outcome: { kind: "chat", upstream: { safety_identifier: "hashed-user-1" } } },
  { field: "prompt_cache_key", sample: "tenant-1", outcome: { kind: "chat", upstream: { prompt_cache_key: "tenant-1" } } },
  { field: "prompt_cache_retention", sample: "24h", outcome: { kind: "chat", upstream: { prompt_cache_retention: "24h" } } },
  { field: "prompt_cache_options", sample: { ttl: "24h", mode: "auto" }, outcome: { kind: "chat", upstream: { prompt_cache_options: { ttl: "24h", mode: "auto" } } } },
  { field: "moderation", sample: { model: "omni-moderation-latest" }, outcome: { kind: "chat", upstream: { moderation: { model: "omni-moderation-latest" } } } },
  { field: "metadata", sample: { team: "search" }, outcome: { kind: "gateway" } },
  { field: "store", sample: true, outcome: { kind: "gateway" } },
  { field: "store", sample: false, outcome: { kind: "gateway" } },
  { field: "stream", sample: true, outcome: { kind: "chat", upstream: { stream: true } } },
  // No obfuscation padding is sent; the upstream is always asked for usage (billing), whatever the client said.
  { field: "stream_options", sample: { include_obfuscation: false }, with: { stream: true }, outcome: { kind: "chat", upstream: { stream_options: { include_usage: true } } } },
  { field: "truncation", sample: "disabled", outcome: { kind: "gateway" } },
  { field: "truncation", sample: "auto", outcome: { kind: "refused", message: /only "disabled"/ } },
  { field: "background", sample: false, outcome: { kind: "gateway" } },
  { field: "background", sample: true, outcome: { kind: "refused", message: /background responses are not supported/ } },
  { field: "include", sample: ["message.output_text.logprobs"], outcome: { kind: "refused", message: /no include values/, param: "include[0]" } },
  { field: "top_logprobs", sample: 3, outcome: { kind: "refused", message: /top_logprobs is not supported/ } },
  // A stored one continues its conversation (openai-responses-stored.spec.ts); an unknown one is refused.
  { field: "previous_response_id", sample: "resp_123", outcome: { kind: "refused", message: /No response with id "resp_123"/ } },
  // A conversation continues (openai-conversations.spec.ts); an unknown one is refused.
  { field: "conversation", sample: "conv_123", outcome: { kind: "refused", message: /No conversation with id "conv_123"/ } },
  { field: "prompt", sample: { id: "pmpt_123" }, outcome: { kind: "refused", message: /stored prompts/ } },
  { field: "max_tool_calls", sample: 3, outcome: { kind: "refused", message: /max_tool_calls is not supported/ } },
  { field: "context_management", sample: [{ type: "compaction", compact_threshold: 2000 }], outcome: { kind: "refused", message: /context_management is not supported/ } },
];

/** CreateResponse's top-level property names, through allOf and $ref. */
function specFields(name: string): string[] {
  const spec = openaiSpec();
  const out = new Set<string>();
  const walk = (schema: unknown): void => {
    if (typeof schema !== "object" || schema === null) return;
    const s = schema as Record<string, unknown>;
    if (typeof s["$ref"] === "string") return walk(spec.schema(s["$ref"].split("/").pop()!));
    if (typeof s["properties"] === "object" && s["properties"] !== null) for (const k of Object.keys(s["properties"])) out.add(k);
    if (Array.isArray(s["allOf"])) s["allOf"].forEach(walk);
  };
  walk(spec.schema(name));
  return [...out].sort();
}

it("every field of CreateResponse has a decision", () => {
  expect(specFields("CreateResponse").filter((f) => !decisions.some((d) => d.field === f))).toEqual([]);
});

describe("each field as decided", () => {
  it.each(decisions.map((d) => [`${d.field} ${JSON.stringify(d.sample).slice(0, 60)} -> ${d.outcome.kind}`, d] as const))("%s", async (_label, d) => {
    const body = { model: "oa-chat", input: "hi", ...d.with, [d.field]: d.sample };
    const before = up.requests.length;
    const res = await fetch(`${gw.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (d.outcome.kind === "refused") {
      expect(res.status, text).toBe(400);
      const error = (JSON.parse(text) as { error: { message: string; param: string | null } }).error;
      expect(error.param).toBe(d.outcome.param ?? d.field);
      expect(error.message).toMatch(d.outcome.message);
      expect(up.requests.length, "a refused request never reaches the upstream").toBe(before);
      return;
    }
    expect(res.status, text).toBe(200);
    const sent = up.requests.at(-1)!.body as Record<string, unknown>;
    expect(up.requests.length).toBe(before + 1);
    if (d.outcome.kind === "chat") expect(sent).toMatchObject(d.outcome.upstream);
    else expect(sent, `${d.field} is the gateway's`).not.toHaveProperty(d.field);
    if (d.field === "metadata") expect((JSON.parse(text) as { metadata: unknown }).metadata).toEqual(d.sample);
  });
});
