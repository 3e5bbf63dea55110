// Prompt templates (src/policies/templates.ts): compiling config versions and MLflow prompt
// versions (their registry tags), binding and checking variables, rendering chat and completions.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import { CompleteRequestSchema } from "../../gen/modelgate/v1/completions_pb";
import { bindVariables, compileMlflowVersion, renderChat, renderComplete, TemplateRegistry } from "../../src/policies/templates";
import { templatesSchema } from "../../src/policies/templates-config";
import type { UpstreamClient } from "../../src/upstream/client";

const noUpstream = {} as UpstreamClient;
const registry = (yaml: unknown) => new TemplateRegistry(templatesSchema.parse(yaml), noUpstream);
const call = { signal: new AbortController().signal };

function thrown(run: () => unknown): ConnectError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectError);
    return err as ConnectError;
  }
  throw new Error("expected an error");
}

const tags = (entries: Record<string, string>) => ({ version: "4", tags: new Map(Object.entries(entries)) });

describe("config templates", () => {
  const templates = {
    t: {
      versions: [
        { version: 2, system: "S {{ a }}/{{b}}", user: "U {{a}} {{c}}", variables: { a: {}, b: { type: "number", default: 1.5 }, c: { type: "bool", default: true } } },
        { version: 10, user: "ten {{a}}", variables: { a: {} } },
      ],
    },
  };

  it("picks the highest version, or the pinned one, and renders in one pass (a value holding {{x}} stays as it is)", async () => {
    const latest = await registry(templates).source("t").current(call);
    expect(latest.ref).toBe("t@10");
    const v2 = await registry(templates).source("t@2").current(call);
    const req = create(ChatRequestSchema, { endpoint: "e", messages: [{ role: "user", content: "mid" }], templateVariables: { a: "{{b}}", b: " 2e3 " } });
    const out = renderChat(v2, req);
    expect(out.messages.map((m) => [m.role, m.content])).toEqual([
      ["system", "S {{b}}/2e3"],
      ["user", "mid"],
      ["user", "U {{b}} true"],
    ]);
    expect(out.templateVariables).toEqual({});
    expect(out.$typeName).toBe("modelgate.v1.ChatRequest");
  });

  it("checks types: numbers (signs, decimals, exponents; not hex, not empty), bools exactly true/false", async () => {
    const v2 = await registry(templates).source("t@2").current(call);
    for (const ok of ["0", "-1", "+2.5", ".5", "1e-3", "12."]) expect(bindVariables(v2, { a: "x", b: ok }).get("b")).toBe(ok);
    for (const bad of ["", "0x10", "1,5", "NaN", "Infinity", "1e999"]) {
      expect(thrown(() => bindVariables(v2, { a: "x", b: bad })).rawMessage, bad).toContain("template_variables.b: template t@2 wants a number");
    }
    expect(thrown(() => bindVariables(v2, { a: "x", c: "True" })).code).toBe(Code.InvalidArgument);
    expect(bindVariables(v2, { a: "x", c: "false" }).get("c")).toBe("false");
  });

  it("completions: the parts joined before the prompt, or before each of several prompts", async () => {
    const v2 = await registry(templates).source("t@2").current(call);
    const one = renderComplete(v2, create(CompleteRequestSchema, { endpoint: "e", prompt: "P", templateVariables: { a: "A" } }));
    expect(one.prompt).toBe("S A/1.5\n\nU A true\n\nP");
    const many = renderComplete(v2, create(CompleteRequestSchema, { endpoint: "e", prompts: ["x", "y"], templateVariables: { a: "A" } }));
    expect([many.prompt, many.prompts]).toEqual(["", ["S A/1.5\n\nU A true\n\nx", "S A/1.5\n\nU A true\n\ny"]]);
  });
});

describe("MLflow prompt versions", () => {
  it("a text prompt is one user message; its {{variables}} are required strings unless typed", () => {
    const t = compileMlflowVersion("p", "prompts:/p@prod", tags({ "mlflow.prompt.is_prompt": "true", "mlflow.prompt.text": "Hi {{name}}, {{n}}" }), { n: { type: "number", default: 2 } });
    expect(t.ref).toBe("p@4");
    expect(t.messages).toEqual([{ role: "user", parts: ["Hi ", { variable: "name" }, ", ", { variable: "n" }] }]);
    expect(thrown(() => bindVariables(t, {})).rawMessage).toBe("template_variables: template p@4: missing variable name (it takes: n, name)");
  });

  it("a chat prompt is its list of messages", () => {
    const text = JSON.stringify([
      { role: "system", content: "sys {{x}}" },
      { role: "user", content: "u" },
    ]);
    const t = compileMlflowVersion("p", "prompts:/p/4", tags({ "mlflow.prompt.is_prompt": "true", _mlflow_prompt_type: "chat", "mlflow.prompt.text": text }), {});
    expect(t.messages.map((m) => m.role)).toEqual(["system", "user"]);
  });

  it("refuses what is not a usable prompt, naming the uri and version", () => {
    const bad: [Record<string, string>, string][] = [
      [{ "mlflow.prompt.text": "x" }, "not a prompt"],
      [{ "mlflow.prompt.is_prompt": "true" }, "no mlflow.prompt.text tag"],
      [{ "mlflow.prompt.is_prompt": "true", _mlflow_prompt_type: "chat", "mlflow.prompt.text": "{not json" }, "not JSON"],
      [{ "mlflow.prompt.is_prompt": "true", _mlflow_prompt_type: "chat", "mlflow.prompt.text": '[{"role":"tool","content":"x"}]' }, "message 0: role must be"],
      [{ "mlflow.prompt.is_prompt": "true", _mlflow_prompt_type: "image", "mlflow.prompt.text": "x" }, 'unsupported prompt type "image"'],
    ];
    for (const [t, message] of bad) {
      const err = thrown(() => compileMlflowVersion("p", "prompts:/p@prod", tags(t), {}));
      expect(err.rawMessage, message).toContain("prompts:/p@prod (version 4)");
      expect(err.rawMessage).toContain(message);
    }
  });
});
