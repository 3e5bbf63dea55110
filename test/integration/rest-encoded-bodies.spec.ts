// REST request bodies sent compressed (Content-Encoding gzip, deflate, br, zstd) are read on both
// REST surfaces; the limit holds for the decoded body (a small "zip bomb" is a 413, not inflated in
// full), a corrupt or unknown encoding is a 400 naming it, and the gateway keeps serving.
import OpenAI from "openai";
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync, zstdCompressSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoEndpoints, startGateway, type TestGateway } from "./harness";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`server: { max_body_bytes: 65536 }\nendpoints:${echoEndpoints}`);
});
afterAll(() => gw.close());

const chatBody = JSON.stringify({ model: "chat", messages: [{ role: "user", content: "hi there" }] });
const encoders: Record<string, (b: Buffer) => Buffer> = {
  gzip: gzipSync,
  "x-gzip": gzipSync,
  deflate: deflateSync,
  br: brotliCompressSync,
  zstd: zstdCompressSync,
};

function post(path: string, body: Buffer, encoding: string): Promise<Response> {
  return fetch(`${gw.url}${path}`, { method: "POST", headers: { "content-type": "application/json", "content-encoding": encoding }, body });
}

describe("compressed REST request bodies", () => {
  it.each(Object.keys(encoders))("OpenAI chat and MLflow invocations read a %s body", async (encoding) => {
    const openai = await post("/v1/chat/completions", encoders[encoding]!(Buffer.from(chatBody)), encoding);
    expect(openai.status).toBe(200);
    expect(((await openai.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe("echo: hi there");
    const mlflowBody = Buffer.from(JSON.stringify({ messages: [{ role: "user", content: "hi there" }] }));
    const mlflow = await post("/gateway/chat/invocations", encoders[encoding]!(mlflowBody), encoding.toUpperCase());
    expect(mlflow.status).toBe(200);
    expect(JSON.stringify(await mlflow.json())).toContain("echo: hi there");
  });

  it("raw deflate (what some clients send as deflate) is read too; identity is the plain body", async () => {
    expect((await post("/v1/chat/completions", deflateRawSync(Buffer.from(chatBody)), "deflate")).status).toBe(200);
    expect((await post("/v1/chat/completions", Buffer.from(chatBody), " Identity ")).status).toBe(200);
  });

  it("the official openai SDK, its body gzipped by a fetch wrapper", async () => {
    const client = new OpenAI({
      apiKey: "unused",
      baseURL: `${gw.url}/v1`,
      maxRetries: 0,
      fetch: async (url, init) => {
        const headers = new Headers(init?.headers);
        headers.set("content-encoding", "gzip");
        return fetch(url, { ...init, headers, body: gzipSync(Buffer.from(String(init?.body))) });
      },
    });
    const answer = await client.chat.completions.create({ model: "chat", messages: [{ role: "user", content: "zipped" }] });
    expect(answer.choices[0]!.message.content).toBe("echo: zipped");
  });

  it("a body that decodes past max_body_bytes is 413 though it was sent small", async () => {
    const bomb = gzipSync(Buffer.from(JSON.stringify({ model: "chat", messages: [{ role: "user", content: "a".repeat(10 * 1024 * 1024) }] })));
    expect(bomb.length).toBeLessThan(65536);
    const openai = await post("/v1/chat/completions", bomb, "gzip");
    expect(openai.status).toBe(413);
    expect(((await openai.json()) as { error: { message: string } }).error.message).toBe("request body larger than 65536 bytes");
    const mlflow = await post("/gateway/chat/invocations", brotliCompressSync(Buffer.alloc(10 * 1024 * 1024, 0x20)), "br");
    expect(mlflow.status).toBe(413);
  });

  it("many at once (decodes wait their turn, four at a time): every bomb a 413, every good body answered", async () => {
    const bomb = zstdCompressSync(Buffer.alloc(8 * 1024 * 1024, 0x20));
    const good = gzipSync(Buffer.from(chatBody));
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? post("/v1/chat/completions", good, "gzip") : post("/v1/responses", bomb, "zstd")).then((r) => r.status)),
    );
    expect(answers.filter((s) => s === 200)).toHaveLength(20);
    expect(answers.filter((s) => s === 413)).toHaveLength(40);
  });

  it("a corrupt body is 400 naming the encoding; an unknown or stacked encoding is 400 listing those accepted", async () => {
    const corrupt = await post("/v1/chat/completions", Buffer.from("this is not gzip"), "gzip");
    expect(corrupt.status).toBe(400);
    expect(((await corrupt.json()) as { error: { message: string } }).error.message).toMatch(/^the request body is not valid gzip: /);
    for (const encoding of ["compress", "gzip, br", "x".repeat(500)]) {
      const res = await post("/v1/chat/completions", gzipSync(Buffer.from(chatBody)), encoding);
      expect(res.status, encoding).toBe(400);
      const message = ((await res.json()) as { error: { message: string } }).error.message;
      expect(message).toMatch(/^content-encoding ".{1,70}" is not supported: send the body as identity, gzip, deflate, br or zstd$/);
    }
    const mlflow = await post("/gateway/chat/invocations", Buffer.from("{}"), "compress");
    expect(mlflow.status).toBe(400);
    expect(((await mlflow.json()) as { detail: string }).detail).toContain("content-encoding \"compress\" is not supported");
  });

  it("still answers a plain call after all of the above", async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: chatBody });
    expect(res.status).toBe(200);
  });
});
