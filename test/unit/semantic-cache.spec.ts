// The semantic cache's pure parts: what is embedded and what stays in the scope, the in-process
// vector index (cosine, scope, TTL, bounds), the config checks, and a Chroma error surfacing as
// a thrown error (the caller fails open).
import { create } from "@bufbuild/protobuf";
import { createServer } from "node:http";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import { CompleteRequestSchema } from "../../gen/modelgate/v1/completions_pb";
import { parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import { semanticCacheSchema } from "../../src/policies/config";
import { compileSemanticCache, semanticPrompt } from "../../src/policies/semantic-cache";
import { ChromaVectorIndex, MemoryVectorIndex, unitVector } from "../../src/policies/semantic-cache-index";
import { writeForever } from "../support/endless-body";

const policy = (over: Record<string, unknown> = {}) => compileSemanticCache(semanticCacheSchema.parse({ embeddings_endpoint: "embed", ...over }), 1 << 20);
const v = (...xs: number[]) => unitVector(xs)!;

describe("semanticPrompt", () => {
  const chat = create(ChatRequestSchema, {
    endpoint: "chat",
    temperature: 0,
    messages: [
      { role: "system", content: "Be   BRIEF." },
      { role: "user", content: "first question" },
      { role: "assistant", content: "first answer" },
      { role: "user", content: "", parts: [{ part: { case: "text", value: "Second\tQuestion" } }, { part: { case: "imageUrl", value: { url: "https://x/y.png" } } }] },
    ],
  });

  it("embeds the system prompt and the last user turn, normalized; the rest stays in the scope", () => {
    const { text, rest } = semanticPrompt(policy(), chat);
    expect(text).toBe("system: be brief. user: second question");
    if (!("messages" in rest)) throw new Error("chat expected");
    expect(rest.messages.map((m) => m.content)).toEqual(["", "first question", "first answer", ""]);
    // Text parts are blanked; the image stays part of the scope.
    expect(rest.messages[3]?.parts.map((p) => p.part.case)).toEqual(["text", "imageUrl"]);
    expect(rest.messages[3]?.parts[0]?.part.value).toBe("");
    expect(rest.temperature).toBe(0);
  });

  it("takes more user turns, or no system prompt, or the text as sent, as configured", () => {
    expect(semanticPrompt(policy({ user_turns: 2, include_system: false }), chat).text).toBe("user: first question user: second question");
    expect(semanticPrompt(policy({ normalize: false }), chat).text).toBe("system: Be   BRIEF.\nuser: Second\tQuestion");
  });

  it("embeds a completion's prompt and blanks it in the scope", () => {
    const { text, rest } = semanticPrompt(policy(), create(CompleteRequestSchema, { endpoint: "text", prompt: "  Hello   World ", maxTokens: 5 }));
    expect(text).toBe("hello world");
    expect("prompt" in rest && rest.prompt).toBe("");
  });
});

describe("MemoryVectorIndex", () => {
  const entry = (s: string) => Buffer.from(s);

  it("answers the nearest entry of the scope at or above the threshold, and the best similarity below it", async () => {
    const index = new MemoryVectorIndex(100, 1 << 20);
    await index.add("s", v(1, 0, 0), entry("a"), 60_000);
    await index.add("s", v(0, 1, 0), entry("b"), 60_000);
    await index.add("other", v(0.99, 0.1, 0), entry("c"), 60_000);
    const hit = await index.query("s", v(0.95, 0.3, 0), 0.9);
    expect(hit?.entry?.toString()).toBe("a");
    expect(hit?.similarity).toBeCloseTo(0.95 / Math.hypot(0.95, 0.3), 5);
    const miss = await index.query("s", v(1, 1, 0), 0.9);
    expect(miss?.entry).toBeUndefined();
    expect(miss?.similarity).toBeCloseTo(Math.SQRT1_2, 5);
    expect(await index.query("none", v(1, 0, 0), 0.5)).toBeUndefined();
  });

  it("drops expired entries, and the oldest past max entries or max bytes", async () => {
    let now = 1_000;
    const index = new MemoryVectorIndex(3, 1 << 20, () => now);
    await index.add("s", v(1, 0), entry("old"), 100);
    now += 100;
    expect(await index.query("s", v(1, 0), 0.5)).toBeUndefined();
    expect(index.size.entries).toBe(0);
    for (let i = 0; i < 5; i++) await index.add("s", v(1, i), entry(`e${i}`), 60_000);
    expect(index.size.entries).toBe(3);
    expect((await index.query("s", v(1, 0), 0.99))?.entry).toBeUndefined(); // e0 went first
    const bytesOne = index.size.bytes / 3;
    const small = new MemoryVectorIndex(100, Math.floor(bytesOne * 2.5));
    for (let i = 0; i < 4; i++) await small.add("s", v(1, i), entry(`e${i}`), 60_000);
    expect(small.size.entries).toBe(2);
    expect(small.size.bytes).toBeLessThanOrEqual(Math.floor(bytesOne * 2.5));
  });

  it("scans a long scope in slices, the event loop running between them, with adds meanwhile", async () => {
    const index = new MemoryVectorIndex(10_000, 1 << 30);
    for (let i = 0; i < 5_000; i++) await index.add("s", v(1, 1 + (i % 7)), entry(`e${i}`), 60_000);
    await index.add("s", v(1, 0), entry("best"), 60_000);
    let finished = false;
    const query = index.query("s", v(1, 0), 0.99).finally(() => (finished = true));
    // Another callback of the event loop runs before the scan is over.
    const ranDuringScan = new Promise<boolean>((resolve) => setImmediate(() => resolve(!finished)));
    // Added while the scan waits: neither lost nor breaking the scan.
    await index.add("s", v(0, 1), entry("late"), 60_000);
    expect(await ranDuringScan).toBe(true);
    const hit = await query;
    expect(hit?.entry?.toString()).toBe("best");
    expect(index.size.entries).toBe(5_002);
    expect((await index.query("s", v(0, 1), 0.99))?.entry?.toString()).toBe("late");
  });

  it("refuses zero vectors", () => {
    expect(unitVector([0, 0])).toBeUndefined();
    expect(unitVector([Number.NaN, 1])).toBeUndefined();
    expect(Array.from(unitVector([3, 4])!)).toEqual([Math.fround(0.6), Math.fround(0.8)]);
  });
});

describe("ChromaVectorIndex", () => {
  it("throws on an error answer (the semantic cache then fails open), with the status", async () => {
    const server = createServer((_req, res) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end('{"error":"InternalError","message":"boom"}');
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    try {
      const index = new ChromaVectorIndex({ url: `http://127.0.0.1:${port}`, tenant: "t", database: "d", collection: "mg-c", timeoutMs: 1_000 });
      await expect(index.query("s", v(1, 0), 0.9)).rejects.toThrow(/chroma answered 500: .*boom/);
    } finally {
      server.close();
    }
  });
});

describe("ChromaVectorIndex answers", () => {
  it("an answer that never ends fails once over 16 MiB (the cache then fails open), and the rest is not read", async () => {
    let closed = false;
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"id":"');
      res.once("close", () => (closed = true));
      writeForever(res);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    try {
      const index = new ChromaVectorIndex({ url: `http://127.0.0.1:${port}`, tenant: "t", database: "d", collection: "mg-c", timeoutMs: 30_000 });
      await expect(index.query("s", v(1, 0), 0.9)).rejects.toThrow(`chroma answered 200: answer larger than ${16 * 1024 * 1024} bytes`);
      await expect.poll(() => closed, { timeout: 10_000 }).toBe(true);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe("config", () => {
  const yaml = (semantic: string, embedType = "llm/v1/embeddings") => `
endpoints:
  - name: embed
    endpoint_type: ${embedType}
    model: { provider: echo, name: echo-1 }
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
    policies: { cache: { semantic: ${semantic} } }
`;

  it("accepts a semantic cache on an embeddings endpoint of the file, with its defaults", () => {
    const c = parseConfig(yaml("{ embeddings_endpoint: embed }"), "t.yaml", modelFactories, {});
    expect(c.file.endpoints[1]?.policies?.cache?.semantic).toMatchObject({ threshold: 0.95, user_turns: 1, include_system: true, store: { type: "memory" }, max_entries: 10_000 });
  });

  it("refuses an unknown or non-embeddings endpoint, a bad threshold and a bad Chroma URL, with the path", () => {
    expect(() => parseConfig(yaml("{ embeddings_endpoint: nope }"), "t.yaml", modelFactories, {})).toThrow(/endpoints\[1\]\.policies\.cache\.semantic\.embeddings_endpoint: unknown endpoint "nope"/);
    expect(() => parseConfig(yaml("{ embeddings_endpoint: embed }", "llm/v1/chat"), "t.yaml", modelFactories, {})).toThrow(/is of type llm\/v1\/chat; the semantic cache needs an llm\/v1\/embeddings endpoint/);
    expect(() => parseConfig(yaml("{ embeddings_endpoint: embed, threshold: 1.5 }"), "t.yaml", modelFactories, {})).toThrow(/threshold/);
    expect(() => parseConfig(yaml("{ embeddings_endpoint: embed, store: { type: chroma, url: 'ftp://x' } }"), "t.yaml", modelFactories, {})).toThrow(/expected an http:\/\/ or https:\/\/ URL/);
  });
});
