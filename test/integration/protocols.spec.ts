// Every protocol on the one port, with real clients: connect-node (gRPC, Connect JSON over
// HTTP/1.1, Connect binary over HTTP/2, gRPC-Web), @grpc/grpc-js, and curl (HTTP/1.1 and h2c).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { CompletionsService } from "../../gen/modelgate/v1/completions_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { EndpointService } from "../../gen/modelgate/v1/endpoint_pb";
import { echoEmbedding } from "../../src/providers/echo/index";
import { clientFor, grpcJsClient, loadGrpcJsPackage, protocols } from "./clients";
import { echoEndpoints, startGateway, type TestGateway } from "./harness";

const run = promisify(execFile);
let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway(`endpoints:${echoEndpoints}`);
});
afterAll(() => gw.close());

describe.each(protocols)("over %s", (protocol) => {
  it("answers Chat", async () => {
    const chat = clientFor(ChatService, protocol, gw.url);
    const res = await chat.chat({ endpoint: "chat", messages: [{ role: "user", content: "hello there" }] });
    expect(res.model).toBe("echo-1");
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0]?.message?.content).toBe("echo: hello there");
    expect(res.choices[0]?.finishReason).toBe("stop");
    expect(res.usage).toMatchObject({ promptTokens: 2, completionTokens: 3, totalTokens: 5 });
  });

  it("streams StreamChat token by token, usage on the last message", async () => {
    const chat = clientFor(ChatService, protocol, gw.url);
    const chunks = [];
    for await (const c of chat.streamChat({ endpoint: "chat", messages: [{ role: "user", content: "one two three" }] })) {
      chunks.push(c);
    }
    const text = chunks.flatMap((c) => c.choices.map((d) => d.delta?.content ?? "")).join("");
    expect(text).toBe("echo: one two three");
    expect(chunks.length).toBeGreaterThan(4);
    expect(chunks[0]?.choices[0]?.delta?.role).toBe("assistant");
    const last = chunks.at(-1)!;
    expect(last.usage).toMatchObject({ promptTokens: 3, completionTokens: 4, totalTokens: 7 });
    expect(chunks.slice(0, -1).every((c) => c.usage === undefined)).toBe(true);
    expect(chunks.some((c) => c.choices[0]?.finishReason === "stop")).toBe(true);
  });

  it("answers Complete and StreamComplete", async () => {
    const client = clientFor(CompletionsService, protocol, gw.url);
    const res = await client.complete({ endpoint: "completions", prompt: "once upon", maxTokens: 2 });
    expect(res.choices[0]).toMatchObject({ text: "echo: once", finishReason: "length" });
    let text = "";
    let usage;
    for await (const c of client.streamComplete({ endpoint: "completions", prompt: "a b" })) {
      text += c.choices.map((x) => x.text).join("");
      usage = c.usage ?? usage;
    }
    expect(text).toBe("echo: a b");
    expect(usage?.completionTokens).toBe(3);
  });

  it("answers Embed and ListEndpoints", async () => {
    const emb = clientFor(EmbeddingsService, protocol, gw.url);
    const res = await emb.embed({ endpoint: "embeddings", inputs: ["abc", "de"] });
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    expect(res.data[0]?.values).toEqual(echoEmbedding("abc", 8));
    const eps = await clientFor(EndpointService, protocol, gw.url).listEndpoints({});
    expect(eps.endpoints.map((e) => e.name)).toEqual(["chat", "completions", "embeddings"]);
  });
});

describe("@grpc/grpc-js with stubs from the .proto files", () => {
  const pkg = loadGrpcJsPackage();

  it("calls Chat and reads the request id from the metadata", async () => {
    const client = grpcJsClient(pkg, "ChatService", gw.port);
    const metadata = new grpc.Metadata();
    metadata.set("x-request-id", "req-from-grpc-js");
    const { res, header } = await new Promise<{ res: { choices: { message: { content: string } }[] }; header: grpc.Metadata }>(
      (resolve, reject) => {
        let header = new grpc.Metadata();
        const call = (client as unknown as Record<string, Function>)["Chat"]!.call(
          client,
          { endpoint: "chat", messages: [{ role: "user", content: "from grpc-js" }] },
          metadata,
          (err: grpc.ServiceError | null, res: { choices: { message: { content: string } }[] }) =>
            err ? reject(err) : resolve({ res, header }),
        ) as grpc.ClientUnaryCall;
        call.on("metadata", (m) => (header = m));
      },
    );
    expect(res.choices[0]?.message.content).toBe("echo: from grpc-js");
    expect(header.get("x-request-id")).toEqual(["req-from-grpc-js"]);
    client.close();
  });

  it("streams StreamChat", async () => {
    const client = grpcJsClient(pkg, "ChatService", gw.port);
    const call = (client as unknown as Record<string, Function>)["StreamChat"]!.call(client, {
      endpoint: "chat",
      messages: [{ role: "user", content: "x y" }],
    }) as grpc.ClientReadableStream<{ choices: { delta: { content: string } }[]; usage: { totalTokens: number } | null }>;
    let text = "";
    let total = 0;
    for await (const chunk of call) {
      text += chunk.choices.map((c: { delta: { content: string } }) => c.delta.content).join("");
      total = chunk.usage?.totalTokens ?? total;
    }
    expect(text).toBe("echo: x y");
    expect(total).toBe(5);
    client.close();
  });

  it("gets NOT_FOUND for an unknown endpoint", async () => {
    const client = grpcJsClient(pkg, "ChatService", gw.port);
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      (client as unknown as Record<string, Function>)["Chat"]!.call(
        client,
        { endpoint: "nope", messages: [{ role: "user", content: "x" }] },
        (e: grpc.ServiceError) => resolve(e),
      ),
    );
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe('unknown endpoint "nope"');
    client.close();
  });

  it("reads error messages with reserved characters unmangled (grpc-message per the gRPC spec)", async () => {
    const client = grpcJsClient(pkg, "ChatService", gw.port);
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      (client as unknown as Record<string, Function>)["Chat"]!.call(
        client,
        { endpoint: "embeddings", messages: [{ role: "user", content: "x" }] },
        (e: grpc.ServiceError) => resolve(e),
      ),
    );
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe('endpoint "embeddings" is of type llm/v1/embeddings; this method needs a llm/v1/chat endpoint');
    client.close();
  });
});

describe("curl on the same port", () => {
  const body = JSON.stringify({ endpoint: "chat", messages: [{ role: "user", content: "curl me" }] });

  it.each([["--http1.1"], ["--http2-prior-knowledge"]])("Connect JSON with %s", async (flag) => {
    const { stdout } = await run("curl", [
      "-sS", flag, "-w", "\n%{http_version} %{http_code}",
      "-H", "content-type: application/json",
      "-d", body,
      `${gw.url}/modelgate.v1.ChatService/Chat`,
    ]);
    const [json, status] = stdout.split("\n");
    expect(status).toBe(flag === "--http1.1" ? "1.1 200" : "2 200");
    expect(JSON.parse(json!)).toMatchObject({ model: "echo-1", choices: [{ message: { role: "assistant", content: "echo: curl me" } }] });
  });

  const preflight = (origin: string) =>
    run("curl", [
      "-sS", "-i", "--http1.1", "-X", "OPTIONS",
      "-H", `origin: ${origin}`,
      "-H", "access-control-request-method: POST",
      "-H", "access-control-request-headers: content-type,connect-protocol-version",
      `${gw.url}/modelgate.v1.ChatService/Chat`,
    ]);

  it("a browser preflight from a loopback page gets CORS headers (the default cors_origins)", async () => {
    const { stdout } = await preflight("http://localhost:5173");
    expect(stdout).toMatch(/^HTTP\/1.1 204/);
    expect(stdout.toLowerCase()).toContain("access-control-allow-origin: http://localhost:5173");
    expect(stdout.toLowerCase()).toMatch(/access-control-allow-headers: .*connect-protocol-version/);
  });

  it("a preflight from a site on the internet gets no CORS headers by default", async () => {
    const { stdout } = await preflight("https://app.example.com");
    expect(stdout.toLowerCase()).not.toContain("access-control-allow-origin");
  });
});
