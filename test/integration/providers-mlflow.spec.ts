// mlflow-model-serving through the real gateway: an MLflow-served LLM for chat, completions and
// embeddings (MLflow AI Gateway's wire shapes), and Predict on registry models resolved through
// a fake MLflow tracking server: alias -> version, moving the alias, tracking server outages.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { CompletionsService } from "../../gen/modelgate/v1/completions_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { PredictRequestSchema, PredictService } from "../../gen/modelgate/v1/predict_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { startFakeMlflowTracking, type FakeMlflowTracking } from "../fakes/fake-mlflow-tracking";
import { fakeEmbedding, startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { clientFor, type ProtocolName } from "./clients";
import { collect, failure, startGateway, type TestGateway } from "./harness";

const token = "mlflow-tracking-token-secret-0042";
const ttlMs = 200;
const protocols: ProtocolName[] = ["grpc", "connect-json-h1"];

let scoring: FakeUpstream;
let tracking: FakeMlflowTracking;
let gw: TestGateway;

beforeAll(async () => {
  scoring = await startFakeUpstream();
  tracking = await startFakeMlflowTracking({ token });
  tracking.setAlias("churn", "champion", 3);
  tracking.addVersion("churn", 2);
  const llm = `{ model_server_url: "${scoring.url}/llm" }`;
  // Each registry endpoint has its own cache; separate endpoints keep the tests independent.
  const registry = (name: string) =>
    `{ provider: mlflow-model-serving, name: "${name}", config: { model_server_url: "${scoring.url}/{name}/{version}", ` +
    `mlflow_tracking_uri: "${tracking.url}", mlflow_tracking_token: $MLFLOW_TOKEN, registry_cache_ttl_ms: ${ttlMs} } }`;
  gw = await startGateway(
    `
endpoints:
  - { name: llm-chat, endpoint_type: llm/v1/chat, model: { provider: mlflow-model-serving, name: chat-bot-9000, config: ${llm} } }
  - { name: llm-text, endpoint_type: llm/v1/completions, model: { provider: mlflow-model-serving, name: text2text, config: ${llm} } }
  - { name: llm-embed, endpoint_type: llm/v1/embeddings, model: { provider: mlflow-model-serving, name: sentence-piece, config: { model_server_url: "${scoring.url}/embeddings" } } }
  - { name: churn, endpoint_type: predict, model: ${registry("models:/churn@champion")} }
  - { name: churn-move, endpoint_type: predict, model: ${registry("models:/churn@champion")} }
  - { name: churn-burst, endpoint_type: predict, model: ${registry("models:/churn@champion")} }
  - { name: churn-warm, endpoint_type: predict, model: ${registry("models:/churn@champion")} }
  - { name: churn-cold, endpoint_type: predict, model: ${registry("models:/churn@champion")} }
  - { name: churn-nosuch, endpoint_type: predict, model: ${registry("models:/churn@nosuch")} }
  - { name: churn-v2, endpoint_type: predict, model: { provider: mlflow-model-serving, name: "models:/churn/2", config: { model_server_url: "${scoring.url}/{name}/{version}" } } }
`,
    { MLFLOW_TOKEN: token },
  );
});
afterAll(async () => {
  await gw.close();
  await tracking.close();
  await scoring.close();
});
beforeEach(() => {
  scoring.reset();
  tracking.reset();
});

const user = (content: string) => ({ role: "user", content });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** One row x=1, y=2: the fake model predicts 3 times the served version. */
const num = (value: number) => ({ kind: { case: "numberValue" as const, value } });
const row = { case: "dataframeSplit" as const, value: { columns: ["x", "y"], data: [{ values: [num(1), num(2)] }] } };
const predict = (protocol: ProtocolName, endpoint: string) => clientFor(PredictService, protocol, gw.url).predict({ endpoint, input: row });
const predictions = (res: Awaited<ReturnType<typeof predict>>) =>
  res.predictions?.kind.case === "listValue" ? res.predictions.kind.value.values.map((v) => v.kind.value) : undefined;

describe.each(protocols)("an MLflow-served LLM over %s", (protocol) => {
  it("chat: one message in, {inputs, params} upstream, predictions back as choices, no usage", async () => {
    const res = await clientFor(ChatService, protocol, gw.url).chat({ endpoint: "llm-chat", messages: [user("hello there")], temperature: 0.3, n: 2 });
    expect(scoring.requests[0]?.path).toBe("/llm/invocations");
    expect(scoring.requests[0]?.body).toEqual({ inputs: ["hello there"], params: { temperature: 0.3, n: 2 } });
    expect(res.model).toBe("chat-bot-9000");
    expect(res.choices.map((c) => [c.index, c.message?.role, c.message?.content, c.finishReason])).toEqual([
      [0, "assistant", "echo: hello there", ""],
      [1, "assistant", "echo: hello there", ""],
    ]);
    expect(res.usage).toBeUndefined();
  });

  it("completions: the prompt as the one input; max_tokens and stop reach the model", async () => {
    const res = await clientFor(CompletionsService, protocol, gw.url).complete({ endpoint: "llm-text", prompt: "one two three four", maxTokens: 3 });
    expect(scoring.requests[0]?.body).toEqual({ inputs: ["one two three four"], params: { max_tokens: 3, n: 1 } });
    expect(res.model).toBe("text2text");
    expect(res.choices.map((c) => c.text)).toEqual(["echo: one two"]);
    expect(res.usage).toBeUndefined();
  });

  it("embeddings: the inputs as a list, one vector per input", async () => {
    const res = await clientFor(EmbeddingsService, protocol, gw.url).embed({ endpoint: "llm-embed", inputs: ["first text", "second"] });
    expect(scoring.requests[0]?.body).toEqual({ inputs: ["first text", "second"] });
    expect(res.model).toBe("sentence-piece");
    expect(res.data.map((d) => [d.index, d.values])).toEqual([
      [0, fakeEmbedding("first text")],
      [1, fakeEmbedding("second")],
    ]);
  });

  it("streaming is refused, as MLflow AI Gateway refuses it for this provider, before any upstream call", async () => {
    const chat = await failure(collect(clientFor(ChatService, protocol, gw.url).streamChat({ endpoint: "llm-chat", messages: [user("hi")] })));
    expect(chat.code).toBe(Code.InvalidArgument);
    expect(chat.rawMessage).toMatch(/^mlflow-model-serving does not stream .*; call Chat instead of StreamChat \(on the REST surfaces: send "stream": false\)$/);
    const text = await failure(collect(clientFor(CompletionsService, protocol, gw.url).streamComplete({ endpoint: "llm-text", prompt: "hi" })));
    expect(text.code).toBe(Code.InvalidArgument);
    expect(text.rawMessage).toMatch(/call Complete instead of StreamComplete \(on the REST surfaces: send "stream": false\)$/);
    expect(scoring.requests).toEqual([]);
  });

  it("a conversation of several messages is refused: MLflow serves one message per call", async () => {
    const err = await failure(
      clientFor(ChatService, protocol, gw.url).chat({ endpoint: "llm-chat", messages: [{ role: "system", content: "be brief" }, user("hi")] }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("mlflow-model-serving: a model behind an MLflow scoring server takes exactly one message per call; got 2");
  });

  it("scoring server errors map like every provider's, with MLflow's message", async () => {
    const err = await failure(clientFor(ChatService, protocol, gw.url).chat({ endpoint: "llm-chat", messages: [user("#status:503 hi")] }));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe("mlflow-model-serving: upstream failed (HTTP 503): fake upstream: status 503");
  });
});

describe("Predict on a registry model", () => {
  it.each(protocols)("models:/churn@champion over %s answers from version 3 and says so", async (protocol) => {
    const res = await predict(protocol, "churn");
    expect(res.model).toBe("churn");
    expect(res.modelVersion).toBe("3");
    expect(predictions(res)).toEqual([9]);
    expect(scoring.requests.map((r) => r.path)).toEqual(["/churn/3/invocations"]);
  });

  it.each(["grpc", "connect-binary-h2", "grpc-web-h1"] as const)(
    "an input holding a Value with no kind (binary allows it, JSON cannot carry it) is INVALID_ARGUMENT naming its place, over %s",
    async (protocol) => {
      const empty = { kind: { case: undefined } };
      const nested = { kind: { case: "structValue" as const, value: { fields: { a: num(1), "b c": { kind: { case: "listValue" as const, value: { values: [num(2), empty] } } } } } } };
      const cases: [MessageInitShape<typeof PredictRequestSchema>["input"], string][] = [
        [{ case: "inputs", value: nested }, 'inputs.struct_value["b c"].list_value[1]'],
        [{ case: "instances", value: { values: [num(1), empty] } }, "instances[1]"],
        [{ case: "dataframeRecords", value: { values: [nested] } }, 'dataframe_records[0].struct_value["b c"].list_value[1]'],
        [{ case: "dataframeSplit", value: { columns: ["x"], data: [{ values: [num(1)] }], index: [num(0), empty] } }, "dataframe_split.index[1]"],
        [{ case: "dataframeSplit", value: { columns: ["x", "y"], data: [{ values: [num(1), num(2)] }, { values: [num(1), empty] }] } }, "dataframe_split.data[1][1]"],
      ];
      for (const [input, place] of cases) {
        const err = await failure(clientFor(PredictService, protocol, gw.url).predict({ endpoint: "churn", input }));
        expect(err.code).toBe(Code.InvalidArgument);
        expect(err.rawMessage).toBe(`${place}: a google.protobuf.Value with no kind set (one of null_value, number_value, string_value, bool_value, struct_value or list_value is required)`);
      }
      expect(scoring.requests).toEqual([]); // refused before the model server
    },
  );

  it("the REST shape carries model_version too", async () => {
    const res = await fetch(`${gw.url}/modelgate.v1.PredictService/Predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ endpoint: "churn-v2", dataframeSplit: { columns: ["x", "y"], data: [[1, 2]] } }),
    });
    expect(await res.json()).toEqual({ predictions: [6], model: "churn", modelVersion: "2", routing: { target: "models:/churn/2", attempts: 1 } });
    expect(tracking.requests).toEqual([]);
  });

  it("the tracking server is asked with the token, which never reaches the logs", async () => {
    await predict("grpc", "churn-warm");
    expect(tracking.aliasLookups("churn", "champion")).toBe(1);
    expect(tracking.requests[0]?.headers["authorization"]).toBe(`Bearer ${token}`);
    expect(gw.rawLogs()).not.toContain(token);
  });

  it("concurrent calls on a cold cache share one lookup", async () => {
    tracking.setDelay(300);
    try {
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => predict(i % 2 === 0 ? "grpc" : "connect-json-h1", "churn-burst")));
      expect(answers.map((a) => a.modelVersion)).toEqual(Array(6).fill("3"));
      expect(tracking.aliasLookups()).toBe(1);
    } finally {
      tracking.setDelay(0);
    }
  });

  it("moving the alias switches traffic once the TTL has passed, without a restart", async () => {
    // a cold endpoint, so the first call starts the TTL
    expect((await predict("grpc", "churn-move")).modelVersion).toBe("3");
    tracking.setAlias("churn", "champion", 4);
    expect((await predict("grpc", "churn-move")).modelVersion).toBe("3");
    await sleep(ttlMs + 50);
    const res = await predict("connect-json-h1", "churn-move");
    expect(res.modelVersion).toBe("4");
    expect(predictions(res)).toEqual([12]);
    expect(scoring.requests.at(-1)?.path).toBe("/churn/4/invocations");
  });

  it("an alias the registry does not know is UNAVAILABLE with the registry's words", async () => {
    const err = await failure(predict("grpc", "churn-nosuch"));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe(
      "mlflow-registry: cannot resolve models:/churn@nosuch: mlflow-tracking: upstream rejected the request (HTTP 400): " +
        "INVALID_PARAMETER_VALUE: Registered model alias nosuch not found.",
    );
    expect(scoring.requests).toEqual([]);
  });

  // Outages last: they change the shared tracking server.
  describe.each<[string, () => Promise<void>, RegExp]>([
    ["answering 503", async () => tracking.setOutage("503"), /mlflow-tracking: upstream failed \(HTTP 503\): TEMPORARILY_UNAVAILABLE/],
    ["gone (connection refused)", () => tracking.close(), /mlflow-tracking: upstream connection failed \(ECONNREFUSED\)/],
  ])("with the tracking server %s", (_what, goDown, reason) => {
    it.each(protocols)("a warm cache keeps answering with the last known version over %s", async (protocol) => {
      expect((await predict(protocol, "churn-warm")).modelVersion).toBe("4");
      await goDown();
      await sleep(ttlMs + 50);
      const res = await predict(protocol, "churn-warm");
      expect(res.modelVersion).toBe("4");
      expect(predictions(res)).toEqual([12]);
      // The failed lookup is logged, not hidden behind the stale answers (and never with the token).
      const stale = gw.logs.filter((l) => l.endpoint === "churn-warm" && typeof l.msg === "string" && l.msg.startsWith("registry lookup of models:/churn@champion failed"));
      expect(stale.length).toBeGreaterThan(0);
      expect(stale.at(-1)).toMatchObject({ version: "4", model: "models:/churn@champion" });
      expect(String(stale.at(-1)?.err)).toMatch(reason);
      expect(gw.rawLogs()).not.toContain(token);
    });

    it.each(protocols)("a cold cache is UNAVAILABLE naming the model over %s", async (protocol) => {
      const err = await failure(predict(protocol, "churn-cold"));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toMatch(/^mlflow-registry: cannot resolve models:\/churn@champion: /);
      expect(err.rawMessage).toMatch(reason);
      expect(err.rawMessage).not.toContain(token);
    });
  });
});
