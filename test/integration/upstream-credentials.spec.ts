// An upstream that quotes the credentials it was sent (the Authorization header, Anthropic's
// x-api-key) in its error answers: an error status's body, a 200 that carries {"error": …}, an
// error event in a stream. The gateway passes the upstream's message on (it tells the caller
// what went wrong) but never the credential: not to gRPC callers, not through the OpenAI REST
// surface (official SDK), not through the MLflow surface, not in the call log.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Code } from "@connectrpc/connect";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { clientFor } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";

const OPENAI_KEY = "sk-upstream-SECRET-openai-0123456789";
const ANTHROPIC_KEY = "sk-ant-upstream-SECRET-0123456789";

/** What the upstream says, by the prompt's directive; each answer quotes the credential it got. */
let quoting: Server;
let quotingUrl: string;

beforeAll(async () => {
  quoting = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c.toString()));
    req.on("end", () => {
      const body = JSON.parse(raw) as { stream?: boolean; messages: { content: string }[] };
      const said = `Incorrect API key provided: ${req.headers.authorization ?? req.headers["x-api-key"] ?? "none"}`;
      const anthropic = req.url?.endsWith("/messages") === true;
      const directive = /#(\w+)/.exec(body.messages.at(-1)?.content ?? "")?.[1] ?? "";
      const error = anthropic ? { type: "error", error: { type: "invalid_request_error", message: said } } : { error: { message: said, type: "invalid_request_error" } };
      if (/^\d{3}$/.test(directive)) {
        res.writeHead(Number(directive), { "content-type": "application/json" });
        res.end(JSON.stringify(error));
      } else if (directive === "ok200" && !body.stream) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(error));
      } else {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.end(anthropic ? `event: error\ndata: ${JSON.stringify({ ...error, error: { type: "overloaded_error", message: said } })}\n\n` : `data: ${JSON.stringify(error)}\n\n`);
      }
    });
  });
  await new Promise<void>((resolve) => quoting.listen(0, "127.0.0.1", resolve));
  quotingUrl = `http://127.0.0.1:${(quoting.address() as AddressInfo).port}/v1`;
});

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(
    `
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: $OPENAI_KEY, openai_api_base: "${quotingUrl}" } } }
  - { name: claude, endpoint_type: llm/v1/chat, model: { provider: anthropic, name: claude-sonnet-4-5, config: { anthropic_api_key: $ANTHROPIC_KEY, anthropic_api_base: "${quotingUrl}" } } }
`,
    { OPENAI_KEY, ANTHROPIC_KEY },
  );
});

afterAll(async () => {
  await gw?.close();
  await new Promise((resolve) => quoting?.close(resolve));
});

function expectNoKey(text: string): void {
  expect(text).not.toContain("SECRET");
}

describe.each([
  ["gpt", "Bearer "],
  ["claude", ""],
])("an upstream (%s) that quotes its credential", (endpoint) => {
  const grpc = () => clientFor(ChatService, "grpc", gw.url);
  const ask = (content: string) => ({ endpoint, messages: [{ role: "user", content }] });

  it.each([
    ["500", Code.Unavailable],
    ["400", Code.InvalidArgument],
    ["422", Code.InvalidArgument],
    ["429", Code.ResourceExhausted],
    ["404", Code.Unavailable],
  ])("HTTP %s over gRPC: the message without the key", async (status, code) => {
    const err = await failure(grpc().chat(ask(`#${status}`)));
    expect(err.code).toBe(code);
    expectNoKey(err.rawMessage);
    if (status !== "404") expect(err.rawMessage).toContain("Incorrect API key provided: [redacted]");
  });

  it("an error event in the stream, over gRPC: the message without the key", async () => {
    const err = await failure(
      (async () => {
        for await (const _ of grpc().streamChat(ask("#event"))) void _;
      })(),
    );
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toContain("[redacted]");
    expectNoKey(err.rawMessage);
  });

  it("through the openai SDK, unary and streamed, and the MLflow surface: no key; none in the log", async () => {
    const sdk = new OpenAI({ apiKey: "unused-auth-is-off", baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const unary = await sdk.chat.completions.create({ model: endpoint, messages: [{ role: "user", content: "#500" }] }).catch((e: unknown) => e);
    expect(unary).toBeInstanceOf(OpenAI.APIError);
    expect((unary as Error).message).toContain("[redacted]");
    expectNoKey(JSON.stringify((unary as InstanceType<typeof OpenAI.APIError>).error));

    // The error comes before any chunk: the SDK's create() itself fails (an HTTP error status).
    const streamed = await (async () => {
      const stream = await sdk.chat.completions.create({ model: endpoint, messages: [{ role: "user", content: "#event" }], stream: true });
      for await (const _ of stream) void _;
    })().catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(OpenAI.APIError);
    expect((streamed as Error).message).toContain("[redacted]");
    expectNoKey((streamed as Error).message);

    const mlflow = await fetch(`${gw.url}/endpoints/${endpoint}/invocations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "#500" }] }),
    });
    expect(mlflow.ok).toBe(false);
    const text = await mlflow.text();
    expect(text).toContain("[redacted]");
    expectNoKey(text);

    expectNoKey(gw.rawLogs());
  });
});

it("a 200 that carries an error (OpenAI-compatible servers do): the message without the key", async () => {
  const err = await failure(clientFor(ChatService, "connect-json-h1", gw.url).chat({ endpoint: "gpt", messages: [{ role: "user", content: "#ok200" }] }));
  expect(err.code).toBe(Code.Unavailable);
  expect(err.rawMessage).toBe("openai: upstream error: Incorrect API key provided: [redacted]");
  expectNoKey(gw.rawLogs());
});
