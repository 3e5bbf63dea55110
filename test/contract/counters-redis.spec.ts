// RedisCounters against a real redis-server: the contract, plus what sharing means: two replicas
// (two ioredis clients) admit the limit between them, never twice it.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisCounters } from "../../src/store/redis/counters";
import { startRedisServer, useTestRedis, type TestRedis } from "../support/redis";
import { describeCountersContract } from "./counters.contract";

let server: TestRedis;
beforeAll(async () => {
  server = await useTestRedis();
});
afterAll(async () => {
  await server?.close();
});

/** Each test's counters under their own prefix, so a reused Redis stays clean between runs. */
const prefix = () => `mgtest:${randomBytes(4).toString("hex")}:`;

describeCountersContract("redis", () => RedisCounters.connect(server.url, { keyPrefix: prefix() }));

describe("RedisCounters", () => {
  it("two replicas (separate ioredis clients) admit exactly the limit between them", async () => {
    const keyPrefix = prefix();
    const [a, b] = await Promise.all([RedisCounters.connect(server.url, { keyPrefix }), RedisCounters.connect(server.url, { keyPrefix })]);
    try {
      const resetAtMs = Date.now() + 60_000;
      const hit = (c: RedisCounters) => c.hitAll([{ key: "tpm:key:k1:1", limit: 50, cost: 1, resetAtMs }]);
      const decisions = await Promise.all(Array.from({ length: 200 }, (_, i) => hit(i % 2 === 0 ? a : b)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(50);
      expect(await a.get("tpm:key:k1:1")).toBe(50);
      expect(await b.get("tpm:key:k1:1")).toBe(50);
      // Each replica sent 100 calls, twice the limit: counting apart, each would have admitted 50.
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("keys carry the prefix and expire at resetAtMs (PEXPIREAT)", async () => {
    const keyPrefix = prefix();
    const c = await RedisCounters.connect(server.url, { keyPrefix });
    const raw = new Redis(server.url);
    try {
      const resetAtMs = Date.now() + 30_000;
      await c.hitAll([{ key: "rpm:key:k:1", limit: 5, cost: 2, resetAtMs }]);
      await c.add("usd:key:k:2025-01", 1_250_000, resetAtMs + 1_000);
      expect(await raw.get(`${keyPrefix}rpm:key:k:1`)).toBe("2");
      expect(await raw.pexpiretime(`${keyPrefix}rpm:key:k:1`)).toBe(resetAtMs);
      expect(await raw.pexpiretime(`${keyPrefix}usd:key:k:2025-01`)).toBe(resetAtMs + 1_000);
    } finally {
      await c.close();
      raw.disconnect();
    }
  });

  it("reloads its script when Redis has forgotten it (SCRIPT FLUSH, restart)", async () => {
    const c = await RedisCounters.connect(server.url, { keyPrefix: prefix() });
    const raw = new Redis(server.url);
    try {
      const check = { key: "k", limit: 10, cost: 1, resetAtMs: Date.now() + 60_000 };
      expect((await c.hitAll([check])).values).toEqual([1]);
      await raw.script("FLUSH");
      expect((await c.hitAll([check])).values).toEqual([2]);
    } finally {
      await c.close();
      raw.disconnect();
    }
  });

  it("works on a client it does not own, and leaves it open on close", async () => {
    const client = new Redis(server.url);
    try {
      // A default client answers integers as numbers (ours asks for strings): both are read.
      const c = new RedisCounters(client, { keyPrefix: prefix() });
      await c.add("k", 3, Date.now() + 60_000);
      expect(await c.get("k")).toBe(3);
      expect(await c.hitAll([{ key: "k", limit: 5, cost: 2, resetAtMs: Date.now() + 60_000 }])).toEqual({ allowed: true, retryAfterMs: 0, values: [5] });
      expect(await c.hitAll([{ key: "k", limit: 5, cost: 1, resetAtMs: Date.now() + 60_000 }])).toMatchObject({ allowed: false, failed: 0, values: [5] });
      await c.close();
      expect(await client.ping()).toBe("PONG");
    } finally {
      client.disconnect();
    }
  });
});

describe("test/support/redis", () => {
  it("fails with what to do when redis-server is not installed", async () => {
    const empty = await mkdtemp(join(tmpdir(), "modelgate-nopath-"));
    const path = process.env.PATH;
    process.env.PATH = empty;
    try {
      await expect(startRedisServer()).rejects.toThrow(/redis-server is not installed.*apt-get install -y redis-server.*MODELGATE_TEST_REDIS_URL/);
    } finally {
      process.env.PATH = path;
      await rm(empty, { recursive: true, force: true });
    }
  });
});
