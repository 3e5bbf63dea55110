// A client deadline further away than a timer can hold (setTimeout takes at most 2^31-1 ms, ~24.8
// days, and runs a longer delay after 1 ms) is treated as none, as @grpc/grpc-js does: the call
// runs to its end instead of failing at once with DEADLINE_EXCEEDED. Before the fix, a server
// stream with grpc-timeout "2592000S" (30 days, what grpc-go sends for a 30-day context) ended
// after 1 ms, and so did any routed call's attempt. Checked on every path that arms a deadline:
// the unary and server-stream fast paths, connect-es's own handler (Connect and gRPC-Web
// streams), the router's attempt timer, through @grpc/grpc-js and raw requests.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { ChatRequestSchema, StreamChatRequestSchema, StreamChatResponseSchema } from "../../gen/modelgate/v1/chat_pb";
import { loadGrpcJsPackage } from "./clients";
import { startGateway, type TestGateway } from "./harness";
import { envelope, envelopes } from "../support/envelopes";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { h2Once } from "../support/h2-request";

let gw: TestGateway;
let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
  gw = await startGateway(`endpoints:
  - name: upstream
    endpoint_type: llm/v1/chat
    targets:
      - { name: a, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-test-000000000000, openai_api_base: "${fake.url}/v1" } } }
    routing: { strategy: fallback }
  - name: slow
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1, config: { stream_delay_ms: 20 } }
  - name: routed
    endpoint_type: llm/v1/chat
    targets:
      - { name: a, model: { provider: echo, name: echo-1, config: { stream_delay_ms: 20 } } }
    routing: { strategy: fallback, attempt_timeout_ms: 60000 }
`);
});
afterAll(async () => {
  await gw.close();
  await fake.close();
});

const THIRTY_DAYS_MS = 30 * 86_400_000;
const request = (endpoint: string) => ({ endpoint, messages: [{ role: "user", content: "a b c" }] });
/** For the fake OpenAI upstream: answer after 50 ms, long after a timer that fired at once. */
const slowUpstream = { endpoint: "upstream", messages: [{ role: "user", content: "#delay:50 hi" }] };
/** What the echo provider streams for "a b c", one word per chunk. */
const streamed = "echo: a b c";

describe("@grpc/grpc-js with a 30-day deadline", () => {
  const pkg = loadGrpcJsPackage() as unknown as { modelgate: { v1: { ChatService: grpc.ServiceClientConstructor } } };
  let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  beforeAll(() => {
    client = new pkg.modelgate.v1.ChatService(new URL(gw.url).host, grpc.credentials.createInsecure()) as typeof client;
  });
  afterAll(() => client.close());
  const deadline = () => new Date(Date.now() + THIRTY_DAYS_MS);

  it.each(["slow", "routed"])("StreamChat on %s streams every chunk", async (endpoint) => {
    const text = await new Promise<string>((resolve, reject) => {
      const parts: string[] = [];
      const call = client["streamChat"]!(request(endpoint), { deadline: deadline() }) as grpc.ClientReadableStream<{ choices: { delta?: { content?: string } }[] }>;
      call.on("data", (c) => parts.push(c.choices[0]?.delta?.content ?? ""));
      call.on("error", reject);
      call.on("end", () => resolve(parts.join("")));
    });
    expect(text).toBe(streamed);
  });

  it("Chat through the router to an upstream that takes 50 ms (the router arms an attempt timer within the caller's deadline)", async () => {
    const answer = await new Promise<{ choices: { message: { content: string } }[] }>((resolve, reject) => {
      client["chat"]!(slowUpstream, new grpc.Metadata(), { deadline: deadline() }, (err: grpc.ServiceError | null, res: { choices: { message: { content: string } }[] }) =>
        err ? reject(err) : resolve(res),
      );
    });
    expect(answer.choices[0]?.message.content).not.toBe("");
  });
});

describe("raw requests with the longest deadlines the protocols allow", () => {
  it.each(["2147484S", "2592000S", "99999999H"])("gRPC StreamChat and Chat with grpc-timeout %s (the fast paths)", async (timeout) => {
    const head = (method: string) => ({ ":method": "POST", ":path": `/modelgate.v1.ChatService/${method}`, "content-type": "application/grpc", te: "trailers", "grpc-timeout": timeout });
    const stream = await h2Once(gw.url, head("StreamChat"), envelope(0, toBinary(StreamChatRequestSchema, create(StreamChatRequestSchema, request("slow")))));
    expect(stream.trailers["grpc-status"], String(stream.trailers["grpc-message"])).toBe("0");
    const text = envelopes(stream.body).map((e) => fromBinary(StreamChatResponseSchema, e.data).choices[0]?.delta?.content ?? "").join("");
    expect(text).toBe(streamed);
    const unary = await h2Once(gw.url, head("Chat"), envelope(0, toBinary(ChatRequestSchema, create(ChatRequestSchema, slowUpstream))));
    expect(unary.trailers["grpc-status"], String(unary.trailers["grpc-message"])).toBe("0");
  });

  it("Connect unary with connect-timeout-ms 9999999999 (the largest it allows)", async () => {
    const res = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "9999999999" },
      body: JSON.stringify(slowUpstream),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).not.toBe("");
  });

  it("a Connect stream and a gRPC-Web stream over HTTP/1.1 (connect-es's own handler)", async () => {
    const connect = await fetch(`${gw.url}/modelgate.v1.ChatService/StreamChat`, {
      method: "POST",
      headers: { "content-type": "application/connect+json", "connect-protocol-version": "1", "connect-timeout-ms": "9999999999" },
      body: envelope(0, Buffer.from(JSON.stringify(request("slow")))),
    });
    const frames = envelopes(Buffer.from(await connect.arrayBuffer()));
    const end = frames.at(-1)!;
    expect({ flags: end.flags, end: JSON.parse(end.data.toString()) as unknown }).toEqual({ flags: 2, end: {} });
    const text = frames.slice(0, -1).map((f) => (JSON.parse(f.data.toString()) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content ?? "").join("");
    expect(text).toBe(streamed);

    const web = await fetch(`${gw.url}/modelgate.v1.ChatService/StreamChat`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "grpc-timeout": "99999999H" },
      body: envelope(0, toBinary(StreamChatRequestSchema, create(StreamChatRequestSchema, request("slow")))),
    });
    const webFrames = envelopes(Buffer.from(await web.arrayBuffer()));
    expect(webFrames.at(-1)!.data.toString()).toMatch(/^grpc-status: ?0\r\n/m);
    expect(webFrames.slice(0, -1).map((f) => fromBinary(StreamChatResponseSchema, f.data).choices[0]?.delta?.content ?? "").join("")).toBe(streamed);
  });

  it("a deadline a timer can hold still ends the call", async () => {
    const stream = await h2Once(
      gw.url,
      { ":method": "POST", ":path": "/modelgate.v1.ChatService/StreamChat", "content-type": "application/grpc", te: "trailers", "grpc-timeout": "30m" },
      envelope(0, toBinary(StreamChatRequestSchema, create(StreamChatRequestSchema, request("slow")))),
    );
    expect(stream.trailers["grpc-status"] ?? stream.headers["grpc-status"]).toBe("4");
  });
});
