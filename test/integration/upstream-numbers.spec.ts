// An upstream whose answer holds numbers the API's fields cannot carry (a token count over
// uint32, a `created` far past int64): the caller gets UNAVAILABLE naming the upstream's field on
// every protocol, never INTERNAL from a failed encode (gRPC), a 200 with an out-of-range value
// (Connect JSON) or a 500 (REST). Found by probing after a fuzz run found the same class in
// AdminService (limits stored as JS numbers); test/fuzz/upstream-answers.spec.ts fuzzes every
// provider's translator the same way. And text with a lone surrogate (an upstream that split an
// emoji) reaches every client as U+FFFD, as UTF-8 carries it: a Connect JSON answer that kept it
// as a `\ud83d`-style escape could not be decoded by connect-es clients.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Code } from "@connectrpc/connect";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { EmbeddingPrecision, EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { PredictService } from "../../gen/modelgate/v1/predict_pb";
import { clientFor, protocols } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";

/** What the upstream answers, chosen by the last user message. */
const answers: Record<string, { usage: object; created: number; content?: string; fingerprint?: string }> = {
  "huge-tokens": { usage: { prompt_tokens: 5_000_000_000, completion_tokens: 3, total_tokens: 5_000_000_003 }, created: 1 },
  "huge-cached": { usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8, prompt_tokens_details: { cached_tokens: 2 ** 40 } }, created: 1 },
  "huge-created": { usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 }, created: 1e30 },
  "max-tokens": { usage: { prompt_tokens: 0xffffffff, completion_tokens: 0xffffffff }, created: 1_800_000_000 },
  "lone-surrogate": { usage: { prompt_tokens: 1, completion_tokens: 1 }, created: 1, content: "split \ud83d emoji", fingerprint: "fp_\udc00" },
};

let upstream: Server;
let gw: TestGateway;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (req.url === "/v1/embeddings") {
        // A number float32 cannot hold, or an ordinary one.
        const value = (JSON.parse(body) as { input: string[] }).input[0] === "huge-float" ? 1e39 : 0.5;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", model: "text-embedding-3-small", data: [{ object: "embedding", index: 0, embedding: [0.25, value] }], usage: { prompt_tokens: 1, total_tokens: 1 } }));
        return;
      }
      if (req.url === "/invocations") {
        // MLflow model serving: predictions nested 60 levels deep (more than protobuf clients decode) or 40.
        const depth = JSON.stringify(JSON.parse(body)).includes("deep") ? 60 : 40;
        let predictions: unknown = 1;
        for (let i = 0; i < depth; i++) predictions = [predictions];
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ predictions }));
        return;
      }
      const request = JSON.parse(body) as { messages: { content: string }[]; stream?: boolean };
      const answer = answers[request.messages.at(-1)!.content]!;
      const content = answer.content ?? "hi";
      const choice = { index: 0, message: { role: "assistant", content }, finish_reason: "stop" };
      if (request.stream) {
        const chunk = (o: object) => `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: answer.created, model: "gpt-4o-mini", ...o })}\n\n`;
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(chunk({ choices: [{ index: 0, delta: { role: "assistant", content }, finish_reason: null }] }));
        res.write(chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }));
        res.end(chunk({ choices: [], usage: answer.usage }) + "data: [DONE]\n\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: "c1", object: "chat.completion", created: answer.created, model: "gpt-4o-mini", system_fingerprint: answer.fingerprint, choices: [choice], usage: answer.usage }));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  gw = await startGateway(`
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-numbers-test, openai_api_base: "${base}" } } }
  - { name: embed, endpoint_type: llm/v1/embeddings, model: { provider: openai, name: text-embedding-3-small, config: { openai_api_key: sk-numbers-test, openai_api_base: "${base}" } } }
  - { name: model, endpoint_type: predict, model: { provider: mlflow-model-serving, name: nested, config: { model_server_url: "${base.replace(/\/v1$/, "")}" } } }
`);
});

afterAll(async () => {
  await gw.close();
  await new Promise((r) => upstream.close(r));
});

const refusals: [string, string][] = [
  ["huge-tokens", "openai: unexpected upstream response: usage.prompt_tokens: expected a non-negative integer, got 5000000000 (at most 4294967295)"],
  ["huge-cached", "openai: unexpected upstream response: usage.prompt_tokens_details.cached_tokens: expected a non-negative integer, got 1099511627776 (at most 4294967295)"],
  ["huge-created", "openai: unexpected upstream response: created: expected a time in whole seconds, got 1e+30 (at most 9007199254740991)"],
];

describe("numbers an answer's fields cannot carry", () => {
  it.each(protocols)("%s: UNAVAILABLE naming the upstream's field, for unary calls", async (protocol) => {
    const chat = clientFor(ChatService, protocol, gw.url);
    for (const [content, message] of refusals) {
      const err = await failure(chat.chat({ endpoint: "chat", messages: [{ role: "user", content }] }));
      expect(err.code, content).toBe(Code.Unavailable);
      expect(err.rawMessage).toBe(message);
    }
  });

  it("gRPC streams: the usage chunk that cannot be carried fails the stream with UNAVAILABLE", async () => {
    const chat = clientFor(ChatService, "grpc", gw.url);
    const err = await failure(
      (async () => {
        for await (const _ of chat.streamChat({ endpoint: "chat", messages: [{ role: "user", content: "huge-tokens" }] }));
      })(),
    );
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/usage\.prompt_tokens: expected a non-negative integer, got 5000000000 \(at most 4294967295\)$/);
  });

  it("OpenAI REST (the official SDK): 503 naming the field, not a 500", async () => {
    const client = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
    for (const [content, message] of refusals) {
      const err = await client.chat.completions.create({ model: "chat", messages: [{ role: "user", content }] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, content).toBeInstanceOf(OpenAI.APIError);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
      expect((err as InstanceType<typeof OpenAI.APIError>).message).toContain(message);
    }
  });

  it.each(protocols)("%s: text with a lone surrogate arrives with U+FFFD in its place, unary and streamed", async (protocol) => {
    const chat = clientFor(ChatService, protocol, gw.url);
    const messages = [{ role: "user", content: "lone-surrogate" }];
    const out = await chat.chat({ endpoint: "chat", messages });
    expect(out.choices[0]?.message?.content).toBe("split \ufffd emoji");
    expect(out.systemFingerprint).toBe("fp_\ufffd");
    let text = "";
    for await (const c of chat.streamChat({ endpoint: "chat", messages })) text += c.choices[0]?.delta?.content ?? "";
    expect(text).toBe("split \ufffd emoji");
  });

  it.each(protocols)("%s: an embedding value past float32 is UNAVAILABLE unless FLOAT64 was asked for", async (protocol) => {
    const embeddings = clientFor(EmbeddingsService, protocol, gw.url);
    const err = await failure(embeddings.embed({ endpoint: "embed", inputs: ["huge-float"] }));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe("openai: unexpected upstream response: data[0].values[1]: 1e+39 is outside float32's range (precision FLOAT64 returns it as it is)");
    const wide = await embeddings.embed({ endpoint: "embed", inputs: ["huge-float"], precision: EmbeddingPrecision.FLOAT64 });
    expect(wide.data[0]?.doubleValues).toEqual([0.25, 1e39]);
    expect((await embeddings.embed({ endpoint: "embed", inputs: ["ok"] })).data[0]?.values).toEqual([0.25, 0.5]);
  });

  it.each(protocols)("%s: predictions nested deeper than protobuf clients decode are UNAVAILABLE; 40 levels arrive", async (protocol) => {
    const predict = clientFor(PredictService, protocol, gw.url);
    const err = await failure(predict.predict({ endpoint: "model", input: { case: "instances", value: { values: [{ kind: { case: "stringValue", value: "deep" } }] } } }));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe("mlflow-model-serving: unexpected upstream response: predictions: nest deeper than 49 levels, more than protobuf clients decode");
    const out = await predict.predict({ endpoint: "model", input: { case: "instances", value: { values: [{ kind: { case: "stringValue", value: "fine" } }] } } });
    let depth = 0;
    for (let v = out.predictions; v?.kind.case === "listValue"; v = v.kind.value.values[0]) depth++;
    expect(depth).toBe(40);
  });

  it("the largest counts the fields carry go through, and a total past them is held at the field's bound", async () => {
    const chat = clientFor(ChatService, "grpc", gw.url);
    const out = await chat.chat({ endpoint: "chat", messages: [{ role: "user", content: "max-tokens" }] });
    expect(out.usage).toMatchObject({ promptTokens: 0xffffffff, completionTokens: 0xffffffff, totalTokens: 0xffffffff });
    expect(out.created).toBe(1_800_000_000n);
  });
});
