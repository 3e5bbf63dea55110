// The response cache shared by two gateway replicas (real `modelgate` processes) through a real
// redis-server: N identical calls spread over both reach the fake upstream once.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReplica, type Replica } from "../e2e/replicas";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { useTestRedis, type TestRedis } from "../support/redis";
import { createServer } from "node:net";
import { closePolicyStores } from "../../src/policies/cache";
import { startGateway } from "./harness";

let redis: TestRedis;
let fake: FakeUpstream;
let replicas: Replica[] = [];
let dir: string;
let prefix = "";

beforeAll(async () => {
  [redis, fake] = await Promise.all([useTestRedis(), startFakeUpstream()]);
  dir = mkdtempSync(join(tmpdir(), "mg-policies-redis-"));
  const config = join(dir, "modelgate.yaml");
  // A prefix of this run's own, so a reused Redis (MODELGATE_TEST_REDIS_URL) starts empty for it.
  prefix = `mgtest:cache:${process.pid}:${Date.now()}:`;
  writeFileSync(
    config,
    `
store: { database_url: "sqlite:${join(dir, "mg.db")}" }
endpoints:
  - name: cached
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream, openai_api_base: "${fake.url}/v1" } }
    policies: { cache: { ttl_ms: 600000, redis_url: "${redis.url}", key_prefix: "${prefix}" } }
`,
  );
  // One after the other: two processes opening a new SQLite file at the same instant can race
  // on its switch to WAL (SQLite answers that switch "locked" without waiting).
  replicas = [await startReplica(config)];
  replicas.push(await startReplica(config));
}, 60_000);
afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await fake?.close();
  await redis?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

/** Waits (up to 10 s) until the run's prefix holds `n` cache entries in Redis. */
async function untilStored(n: number): Promise<void> {
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    for (const until = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 20))) {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length >= n) return;
      if (Date.now() > until) throw new Error(`the cache held ${keys.length} of ${n} entries after 10 s`);
    }
  } finally {
    client.disconnect();
  }
}

describe("response cache in Redis", () => {
  it("N identical calls over two replicas reach the upstream once; the others are hits on either replica", async () => {
    const clients = replicas.map((r) => new OpenAI({ apiKey: "unused", baseURL: `${r.url}/v1`, maxRetries: 0 }));
    const marks: string[] = [];
    for (let i = 0; i < 6; i++) {
      const { data, response } = await clients[i % 2]!.chat.completions
        .create({ model: "cached", messages: [{ role: "user", content: "shared answer" }], temperature: 0 })
        .withResponse();
      expect(data.choices[0]?.message.content).toBe("echo: shared answer");
      marks.push(`${i % 2}:${response.headers.get("x-modelgate-cache")}`);
      // The answer is stored after it is sent: the next replica asks once the entry is there.
      if (i === 0) await untilStored(1);
    }
    expect(marks).toEqual(["0:miss", "1:hit", "0:hit", "1:hit", "0:hit", "1:hit"]);
    expect(fake.requests.length).toBe(1);

    // A streamed request is its own entry, replayed as a stream by the other replica.
    const stream = async (c: OpenAI) => {
      let text = "";
      const s = await c.chat.completions.create({ model: "cached", messages: [{ role: "user", content: "shared stream" }], temperature: 0, stream: true });
      for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? "";
      return text;
    };
    expect(await stream(clients[0]!)).toBe("echo: shared stream");
    await untilStored(2);
    expect(await stream(clients[1]!)).toBe("echo: shared stream");
    expect(fake.requests.length).toBe(2);
  }, 30_000);
});

describe("response cache with Redis unreachable", () => {
  it("answers every call (a miss, logged) rather than failing it", async () => {
    // A loopback port nothing listens on.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    fake.reset();
    const gw = await startGateway(`
endpoints:
  - name: cached
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream, openai_api_base: "${fake.url}/v1" } }
    policies: { cache: { redis_url: "redis://127.0.0.1:${port}" } }
`);
    try {
      const sdk = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
      for (let i = 0; i < 2; i++) {
        const res = await sdk.chat.completions.create({ model: "cached", messages: [{ role: "user", content: "no redis" }], temperature: 0 });
        expect(res.choices[0]?.message.content).toBe("echo: no redis");
      }
      expect(fake.requests.length).toBe(2);
      expect(gw.logs.some((l) => l.msg === "response cache: redis read failed; answered as a miss")).toBe(true);
    } finally {
      await gw.close();
      await closePolicyStores();
    }
  }, 30_000);
});
