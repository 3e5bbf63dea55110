// The semantic cache (src/policies/semantic-cache.ts) through a real gateway, on gRPC (grpc-js
// transport of connect-node) and the OpenAI REST surface (official `openai` SDK): the prompts are
// embedded through the gateway's own embeddings endpoint, served by a fake OpenAI embeddings
// upstream whose vectors the test controls, so "the same question in other words" lands at a
// known cosine similarity. The chat answers come from the fake OpenAI upstream, which counts them.
// Last, two gateway replicas (real processes) share hits through a real Chroma server.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { closePolicyStores } from "../../src/policies/cache";
import { semanticLookups } from "../../src/policies/metrics";
import type { LedgerRow } from "../../src/store/types";
import { startReplica, type Replica } from "../e2e/replicas";
import { startFakeEmbeddings, type FakeEmbeddings } from "../fakes/fake-embeddings";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startOtlpReceiver, type OtlpReceiver } from "../otel/otlp-receiver";
import { useTestChroma, type TestChroma } from "../support/chroma";
import { startGateway, type TestGateway } from "./harness";

let fake: FakeUpstream;
let emb: FakeEmbeddings;
let gw: TestGateway;
let sdk: OpenAI;
let grpc: ReturnType<typeof createClient<typeof ChatService>>;

// Controlled vectors: the paraphrase is at cosine 0.98 from the question, the near miss at 0.8.
const rules = [
  { contains: "capital of france", vector: [1, 0, 0, 0] },
  { contains: "france's capital", vector: [0.98, Math.sqrt(1 - 0.98 ** 2), 0, 0] },
  { contains: "population of paris", vector: [0.8, 0.6, 0, 0] },
];
const question = "What is the capital of France?";
const paraphrase = "Tell me France's capital city, please";

const model = (name: string, url: string) => `{ provider: openai, name: ${name}, config: { openai_api_key: sk-upstream, openai_api_base: "${url}/v1" } }`;
const semanticEndpoints = () => `
  - name: embed
    endpoint_type: llm/v1/embeddings
    model: ${model("text-embedding-3-small", emb.url)}
  - name: semantic
    endpoint_type: llm/v1/chat
    model: ${model("gpt-4o-mini", fake.url)}
    policies: { cache: { ttl_ms: 600000, semantic: { embeddings_endpoint: embed, threshold: 0.9 } } }
  - name: semantic-4o
    endpoint_type: llm/v1/chat
    model: ${model("gpt-4o", fake.url)}
    policies: { cache: { ttl_ms: 600000, semantic: { embeddings_endpoint: embed, threshold: 0.9 } } }
  - name: semantic-text
    endpoint_type: llm/v1/completions
    model: ${model("gpt-4o-mini", fake.url)}
    policies: { cache: { semantic: { embeddings_endpoint: embed, threshold: 0.9 } } }
`;

beforeAll(async () => {
  [fake, emb] = await Promise.all([startFakeUpstream(), startFakeEmbeddings(rules)]);
  gw = await startGateway(`endpoints:${semanticEndpoints()}`);
  sdk = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
  grpc = createClient(ChatService, createGrpcTransport({ baseUrl: gw.url }));
});
afterAll(async () => {
  await gw?.close();
  await Promise.all([fake?.close(), emb?.close()]);
  await closePolicyStores();
});
beforeEach(() => {
  fake.reset();
  emb.reset();
});

async function ledgerRows(endpoint: string): Promise<LedgerRow[]> {
  await gw.gateway.flushLedger();
  const rows: LedgerRow[] = [];
  for await (const r of gw.gateway.store.ledger.rows({})) if (r.endpoint === endpoint) rows.push(r);
  return rows;
}

const user = (content: string) => ({ role: "user", content });

describe("semantic cache", () => {
  it("serves a paraphrased question from the cache over gRPC: the upstream answers once, marked semantic-hit with its similarity", async () => {
    const ask = async (text: string) => {
      const headers: Record<string, string | null> = {};
      const res = await grpc.chat(
        { endpoint: "semantic", messages: [{ role: "system", content: "Answer briefly." }, user(text)], temperature: 0 },
        { onHeader: (h) => Object.assign(headers, { cache: h.get("x-modelgate-cache"), similarity: h.get("x-modelgate-cache-similarity") }) },
      );
      return { res, headers };
    };
    const first = await ask(question);
    expect(first.headers.cache).toBe("miss");
    expect(first.res.routing?.cacheHit).toBe(false);
    const second = await ask(paraphrase);
    expect(second.headers.cache).toBe("semantic-hit");
    expect(Number(second.headers.similarity)).toBeCloseTo(0.98, 3);
    expect(second.res.routing?.cacheHit).toBe(true);
    expect(second.res.routing?.attempts).toBe(0);
    // The earlier answer, word for word: the upstream saw one request.
    expect(second.res.choices[0]?.message?.content).toBe(`echo: ${question}`);
    expect(fake.requests.length).toBe(1);
    // Both prompts were embedded through the gateway's embeddings endpoint: system prompt and last turn, normalized.
    expect(emb.requests.map((r) => r.inputs)).toEqual([[`system: answer briefly. user: ${question.toLowerCase()}`], [`system: answer briefly. user: ${paraphrase.toLowerCase()}`]]);
    expect(emb.requests[0]?.authorization).toBe("Bearer sk-upstream");

    // The ledger: the miss paid; the semantic hit cost nothing and saved the first answer's price.
    const rows = await ledgerRows("semantic");
    expect(rows.map((r) => r.cache)).toEqual(["miss", "semantic_hit"]);
    expect(rows[1]?.promptTokens).toBe(0);
    expect(rows[1]?.costUsd).toBe(0);
    expect(rows[1]?.costSavedUsd).toBeGreaterThan(0);
    expect(rows[1]?.costSavedUsd).toBeCloseTo(rows[0]!.costUsd!, 12);
    // The embeddings calls are the gateway's own, each with a ledger row (and its price).
    const embedRows = await ledgerRows("embed");
    expect(embedRows.map((r) => [r.keyId, r.status, r.model])).toEqual([
      ["gateway:semantic-cache", "ok", "text-embedding-3-small"],
      ["gateway:semantic-cache", "ok", "text-embedding-3-small"],
    ]);
    expect(embedRows[0]?.promptTokens).toBeGreaterThan(0);
    expect(semanticLookups.get({ endpoint: "semantic", result: "hit" })).toBeGreaterThanOrEqual(1);
  });

  it("misses below the threshold (OpenAI SDK): the upstream answers, and the answer is stored for its own paraphrases", async () => {
    await sdk.chat.completions.create({ model: "semantic", messages: [{ role: "user", content: question }], temperature: 0 });
    // At cosine 0.8 from the question above (threshold 0.9).
    const { data, response } = await sdk.chat.completions
      .create({ model: "semantic", messages: [{ role: "user", content: "What is the population of Paris?" }], temperature: 0 })
      .withResponse();
    expect(response.headers.get("x-modelgate-cache")).toBe("miss");
    expect(response.headers.get("x-modelgate-cache-similarity")).toBeNull();
    expect(data.choices[0]?.message.content).toBe("echo: What is the population of Paris?");
    expect(fake.requests.length).toBe(2);
    // The same question again is an exact hit: no embedding needed.
    const again = await sdk.chat.completions
      .create({ model: "semantic", messages: [{ role: "user", content: "What is the population of Paris?" }], temperature: 0 })
      .withResponse();
    expect(again.response.headers.get("x-modelgate-cache")).toBe("hit");
    expect(emb.requests.length).toBe(2);
    expect(fake.requests.length).toBe(2);
  });

  it("misses when the model or the parameters differ (OpenAI SDK), and hits when only the wording does", async () => {
    const ask = async (endpoint: string, content: string, extra: { max_tokens?: number; history?: string } = {}) => {
      const messages: OpenAI.ChatCompletionMessageParam[] = extra.history ? [{ role: "user", content: extra.history }, { role: "assistant", content: "ok" }] : [];
      messages.push({ role: "user", content });
      const { response } = await sdk.chat.completions
        .create({ model: endpoint, messages, temperature: 0, ...(extra.max_tokens ? { max_tokens: extra.max_tokens } : {}) })
        .withResponse();
      return response.headers.get("x-modelgate-cache");
    };
    expect(await ask("semantic-4o", question)).toBe("miss");
    expect(await ask("semantic-4o", paraphrase, { max_tokens: 30 })).toBe("miss");
    expect(await ask("semantic-4o", paraphrase, { history: "earlier turn" })).toBe("miss");
    expect(fake.requests.length).toBe(3);
    // The other model's endpoint answered the same question before, but not this one's model.
    expect(await ask("semantic-4o", paraphrase)).toBe("semantic-hit");
    expect(fake.requests.length).toBe(3);
  });

  it("cache-control: no-cache bypasses it: nothing embedded, the upstream answers", async () => {
    const opts = { headers: { "cache-control": "no-cache" } };
    const { data, response } = await sdk.chat.completions.create({ model: "semantic", messages: [{ role: "user", content: paraphrase }], temperature: 0 }, opts).withResponse();
    expect(response.headers.get("x-modelgate-cache")).toBeNull();
    expect(data.choices[0]?.message.content).toBe(`echo: ${paraphrase}`);
    expect(emb.requests.length).toBe(0);
    expect(fake.requests.length).toBe(1);
    expect((await ledgerRows("semantic")).at(-1)?.cache).toBe("bypass");
  });

  it("fails open when the embeddings endpoint fails: the call goes upstream, the failure is logged", async () => {
    emb.failing = true;
    const errors = semanticLookups.get({ endpoint: "semantic", result: "error" });
    const { data, response } = await sdk.chat.completions
      .create({ model: "semantic", messages: [{ role: "user", content: "France's capital, once more?" }], temperature: 0 })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe("echo: France's capital, once more?");
    expect(response.headers.get("x-modelgate-cache")).toBe("miss");
    expect(fake.requests.length).toBe(1);
    expect(emb.requests.length).toBe(1);
    expect(semanticLookups.get({ endpoint: "semantic", result: "error" })).toBe(errors + 1);
    const line = gw.logs.find((l) => l.msg === "semantic cache: lookup failed; the call goes upstream");
    expect(line?.policy).toMatchObject({ endpoint: "semantic", semanticCache: "embeddings" });
    // The failed embeddings call is in the ledger too, as the gateway's.
    expect((await ledgerRows("embed")).at(-1)).toMatchObject({ keyId: "gateway:semantic-cache", status: "Unavailable" });
  });

  it("replays a semantic hit on a stream as a stream (OpenAI SDK), and serves completions prompts", async () => {
    const stream = async (content: string) => {
      const { data, response } = await sdk.chat.completions.create({ model: "semantic", messages: [{ role: "user", content }], temperature: 0, stream: true }).withResponse();
      let text = "";
      let chunks = 0;
      for await (const c of data) {
        text += c.choices[0]?.delta?.content ?? "";
        chunks++;
      }
      return { text, chunks, cache: response.headers.get("x-modelgate-cache") };
    };
    const first = await stream("Streamed: what is the capital of France?");
    const second = await stream("Streamed: France's capital?");
    expect(first.cache).toBe("miss");
    expect(second.cache).toBe("semantic-hit");
    expect(second.text).toBe(first.text);
    expect(second.text).toBe("echo: Streamed: what is the capital of France?");
    expect(second.chunks).toBe(first.chunks);
    expect(fake.requests.length).toBe(1);

    const complete = async (prompt: string) => {
      const { data, response } = await sdk.completions.create({ model: "semantic-text", prompt, temperature: 0 }).withResponse();
      return { text: data.choices[0]?.text, cache: response.headers.get("x-modelgate-cache") };
    };
    expect(await complete("Q: the capital of France")).toMatchObject({ cache: "miss" });
    expect(await complete("Q: France's capital")).toEqual({ cache: "semantic-hit", text: (await complete("Q: the capital of France")).text });
    expect(fake.requests.length).toBe(2);
  });

  it("GET /metrics has the semantic lookups and the similarity histogram", async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(/modelgate_cache_lookups_total\{endpoint="semantic",result="semantic_hit"\} [1-9]/);
    expect(text).toMatch(/modelgate_semantic_cache_lookups_total\{endpoint="semantic",result="miss"\} [1-9]/);
    expect(text).toMatch(/modelgate_semantic_cache_lookups_total\{endpoint="semantic",result="error"\} [1-9]/);
    // The near miss (0.8 in float32: just above 0.8) and the hits (0.98).
    expect(text).toMatch(/modelgate_semantic_cache_similarity_bucket\{le="0.85",endpoint="semantic"\} [1-9]/);
    expect(text).toMatch(/modelgate_semantic_cache_similarity_bucket\{le="0.99",endpoint="semantic"\} [2-9]/);
    expect(text).toMatch(/modelgate_semantic_cache_similarity_count\{endpoint="semantic"\} [1-9]/);
  });
});

describe("semantic cache with auth and a failing store", () => {
  let secured: TestGateway;
  let deadPort = 0;
  const key = "sk-semantic-test-key-0123456789";
  const otherKey = "sk-semantic-other-key-0123456789";

  beforeAll(async () => {
    // A loopback port nothing listens on: the Chroma store is down.
    const probe = await import("node:net").then(({ createServer }) => createServer());
    deadPort = await new Promise<number>((resolve) => probe.listen(0, "127.0.0.1", () => resolve((probe.address() as { port: number }).port)));
    await new Promise((r) => probe.close(r));
    secured = await startGateway(
      `
auth:
  enabled: true
  keys:
    - { name: chat-only, key: $CHAT_KEY, endpoints: [semantic, no-store, per-key] }
    - { name: other, key: $OTHER_KEY, endpoints: [per-key] }
endpoints:${semanticEndpoints()}
  - name: per-key
    endpoint_type: llm/v1/chat
    model: ${model("gpt-4o-mini", fake.url)}
    policies: { cache: { semantic: { embeddings_endpoint: embed, threshold: 0.9, partition: key } } }
  - name: no-store
    endpoint_type: llm/v1/chat
    model: ${model("gpt-4o-mini", fake.url)}
    policies: { cache: { semantic: { embeddings_endpoint: embed, threshold: 0.9, store: { type: chroma, url: "http://127.0.0.1:${deadPort}", timeout_ms: 500 } } } }
`,
      { CHAT_KEY: key, OTHER_KEY: otherKey },
    );
  });
  afterAll(async () => {
    await secured?.close();
  });

  it("embeds as the gateway: a key that may call only the chat endpoint still gets semantic hits", async () => {
    const client = new OpenAI({ apiKey: key, baseURL: `${secured.url}/v1`, maxRetries: 0 });
    const ask = async (content: string) =>
      (await client.chat.completions.create({ model: "semantic", messages: [{ role: "user", content }], temperature: 0 }).withResponse()).response.headers.get("x-modelgate-cache");
    expect(await ask(question)).toBe("miss");
    expect(await ask(paraphrase)).toBe("semantic-hit");
    expect(fake.requests.length).toBe(1);
    // The key itself may not call the embeddings endpoint.
    await expect(client.embeddings.create({ model: "embed", input: "x" })).rejects.toMatchObject({ status: 403 });
    await secured.gateway.flushLedger();
    const rows: LedgerRow[] = [];
    for await (const r of secured.gateway.store.ledger.rows({})) rows.push(r);
    expect(rows.filter((r) => r.endpoint === "embed" && r.status === "ok").map((r) => r.keyId)).toEqual(["gateway:semantic-cache", "gateway:semantic-cache"]);
    expect(rows.filter((r) => r.endpoint === "semantic").map((r) => [r.keyId, r.cache])).toEqual([
      ["config:chat-only", "miss"],
      ["config:chat-only", "semantic_hit"],
    ]);
  });

  it("partition: key serves a key only the answers to its own earlier prompts", async () => {
    const ask = async (apiKey: string, content: string) =>
      (
        await new OpenAI({ apiKey, baseURL: `${secured.url}/v1`, maxRetries: 0 }).chat.completions
          .create({ model: "per-key", messages: [{ role: "user", content }], temperature: 0 })
          .withResponse()
      ).response.headers.get("x-modelgate-cache");
    expect(await ask(key, question)).toBe("miss");
    expect(await ask(otherKey, paraphrase)).toBe("miss");
    // (Another wording: the exact cache is the endpoint's, whoever asks.)
    expect(await ask(key, "And France's capital is?")).toBe("semantic-hit");
    expect(await ask(otherKey, "France's capital, again")).toBe("semantic-hit");
    expect(fake.requests.length).toBe(2);
  });

  it("fails open when the vector store is down: every call answered by the upstream, the failures logged", async () => {
    const client = new OpenAI({ apiKey: key, baseURL: `${secured.url}/v1`, maxRetries: 0 });
    for (const content of [question, paraphrase]) {
      const { data, response } = await client.chat.completions.create({ model: "no-store", messages: [{ role: "user", content }], temperature: 0 }).withResponse();
      expect(data.choices[0]?.message.content).toBe(`echo: ${content}`);
      expect(response.headers.get("x-modelgate-cache")).toBe("miss");
    }
    expect(fake.requests.length).toBe(2);
    const failures = secured.logs.filter((l) => (l.policy as { endpoint?: string } | undefined)?.endpoint === "no-store");
    expect(failures.map((l) => [l.msg, (l.policy as { semanticCache?: string }).semanticCache])).toContainEqual(["semantic cache: lookup failed; the call goes upstream", "index"]);
    expect(failures.map((l) => l.msg)).toContain("semantic cache: store failed; answer not cached");
  });
});

describe("semantic cache on the trace", () => {
  let receiver: OtlpReceiver;
  let traced: TestGateway;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    traced = await startGateway(`telemetry: { export_delay_ms: 50 }\nendpoints:${semanticEndpoints()}`, {}, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
  });
  afterAll(async () => {
    await traced?.close();
    await receiver?.close();
  });

  it("marks the hit modelgate.cache=semantic_hit on the call's span, with the embeddings call as its child", async () => {
    const client = new OpenAI({ apiKey: "unused", baseURL: `${traced.url}/v1`, maxRetries: 0 });
    const ids = ["c", "d"].map((c) => c.repeat(32));
    for (const [i, content] of [question, paraphrase].entries()) {
      await client.chat.completions.create({ model: "semantic", messages: [{ role: "user", content }], temperature: 0 }, { headers: { traceparent: `00-${ids[i]}-${"e".repeat(16)}-01` } });
    }
    await traced.gateway.flushTraces();
    const servers = (id: string) => receiver.spans.filter((s) => s.traceId === id && s.kind === "server");
    await receiver.waitFor(() => ids.every((id) => servers(id).length >= 2), 10_000);
    const byEndpoint = (id: string) => new Map(servers(id).map((s) => [s.attributes["modelgate.endpoint"], s]));
    const [miss, hit] = ids.map(byEndpoint);
    expect(miss!.get("semantic")?.attributes["modelgate.cache"]).toBe("miss");
    expect(hit!.get("semantic")?.attributes["modelgate.cache"]).toBe("semantic_hit");
    // The embeddings call is a server span of its own in the same trace, under the chat call.
    const embedSpan = hit!.get("embed");
    expect(embedSpan?.attributes["modelgate.key_name"]).toBe("semantic-cache");
    expect(embedSpan?.parentSpanId).not.toBe("e".repeat(16));
    expect(receiver.spans.some((s) => s.spanId === embedSpan?.parentSpanId && s.traceId === ids[1])).toBe(true);
  });
});

describe("semantic cache shared through Chroma", () => {
  let chroma: TestChroma;
  let replicas: Replica[] = [];
  let dir = "";
  const collection = `mgtest-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    chroma = await useTestChroma();
    dir = mkdtempSync(join(tmpdir(), "mg-semantic-"));
    const config = join(dir, "modelgate.yaml");
    writeFileSync(
      config,
      `
store: { database_url: "sqlite:${join(dir, "mg.db")}" }
endpoints:
  - name: embed
    endpoint_type: llm/v1/embeddings
    model: ${model("text-embedding-3-small", emb.url)}
  - name: shared
    endpoint_type: llm/v1/chat
    model: ${model("gpt-4o-mini", fake.url)}
    policies:
      cache:
        ttl_ms: 600000
        semantic: { embeddings_endpoint: embed, threshold: 0.9, store: { type: chroma, url: "${chroma.url}", collection: ${collection} } }
`,
    );
    // One after the other: two processes opening a new SQLite file at once can race on WAL.
    replicas = [await startReplica(config)];
    replicas.push(await startReplica(config));
  }, 600_000);
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await chroma?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  /** Entries in the run's collection (4-dimensional vectors), per Chroma's count. */
  async function stored(): Promise<number> {
    const base = `${chroma.url}/api/v2/tenants/default_tenant/databases/default_database/collections`;
    const res = await fetch(`${base}/${collection}-d4`);
    if (res.status === 404) return 0;
    const { id } = (await res.json()) as { id: string };
    return Number(await (await fetch(`${base}/${id}/count`)).text());
  }

  it("a paraphrase on the other replica is a semantic hit: the upstream answers once", async () => {
    const clients = replicas.map((r) => new OpenAI({ apiKey: "unused", baseURL: `${r.url}/v1`, maxRetries: 0 }));
    const ask = async (i: number, content: string) => {
      const { data, response } = await clients[i]!.chat.completions.create({ model: "shared", messages: [{ role: "user", content }], temperature: 0 }).withResponse();
      return { text: data.choices[0]?.message.content, cache: response.headers.get("x-modelgate-cache"), similarity: response.headers.get("x-modelgate-cache-similarity") };
    };
    expect(await ask(0, question)).toMatchObject({ cache: "miss", text: `echo: ${question}` });
    // The answer is stored after it is sent: the other replica asks once the entry is there.
    for (const until = Date.now() + 10_000; (await stored()) < 1; await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > until) throw new Error("the entry did not reach Chroma within 10 s");
    }
    const hit = await ask(1, paraphrase);
    expect(hit).toMatchObject({ cache: "semantic-hit", text: `echo: ${question}` });
    expect(Number(hit.similarity)).toBeCloseTo(0.98, 3);
    expect(await ask(0, "And France's capital on this replica?")).toMatchObject({ cache: "semantic-hit", text: `echo: ${question}` });
    // Below the threshold on either replica: a miss.
    expect(await ask(1, "What is the population of Paris?")).toMatchObject({ cache: "miss" });
    expect(fake.requests.length).toBe(2);
    expect(emb.requests.length).toBe(4);
  }, 60_000);
});
