// resilientCounters over a real redis-server that the tests crash (SIGKILL), freeze (SIGSTOP) and
// bring back on the same port: "closed" refuses with UNAVAILABLE while Redis is gone, "open"
// answers from local memory and says so once, and both go back to Redis when it returns.
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "../../src/errors";
import type { CounterCheck } from "../../src/store/counters";
import { MemoryCounters } from "../../src/store/memory/counters";
import { RedisCounters } from "../../src/store/redis/counters";
import { resilientCounters, type FailureMode, type PrimaryState, type ResilientCounters } from "../../src/store/resilient-counters";
import { startRedisServer, useTestRedis, type OwnedRedis, type TestRedis } from "../support/redis";
import { describeCountersContract } from "./counters.contract";

const silent = pino({ level: "silent" });

describe("resilient counters while Redis is up", () => {
  let shared: TestRedis;
  beforeAll(async () => {
    shared = await useTestRedis();
  });
  afterAll(async () => {
    await shared?.close();
  });
  for (const mode of ["open", "closed"] as const) {
    describeCountersContract(`resilient (${mode}, redis up)`, async () => {
      const primary = await RedisCounters.connect(shared.url, { keyPrefix: `mgtest:${randomBytes(4).toString("hex")}:` });
      return resilientCounters(primary, new MemoryCounters(), { mode, log: silent });
    });
  }
});

describe("resilient counters when Redis goes away", () => {
  let server: OwnedRedis;
  const open: ResilientCounters[] = [];
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.close();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    server.thaw();
    // Every test leaves Redis running for the next one.
    await withRaw((raw) => raw.ping()).catch(() => server.restart());
  });

  interface Harness {
    counters: ResilientCounters;
    states: PrimaryState[];
    /** Log lines at error (50) and warn (40) level, parsed. */
    logs: Array<{ level: number; msg: string; mode?: string; reason?: string }>;
    prefix: string;
  }

  async function make(mode: FailureMode, readyTimeoutMs?: number): Promise<Harness> {
    const logs: Harness["logs"] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString("utf8").split("\n")) if (line) logs.push(JSON.parse(line) as Harness["logs"][number]);
        done();
      },
    });
    const states: PrimaryState[] = [];
    const prefix = `mgtest:${randomBytes(4).toString("hex")}:`;
    const primary = await RedisCounters.connect(server.url, { keyPrefix: prefix, commandTimeoutMs: 250, readyTimeoutMs });
    const counters = resilientCounters(primary, new MemoryCounters(), {
      mode,
      log: pino({ level: "info", base: undefined }, sink),
      onStateChange: (s) => states.push(s),
      timeoutMs: 250,
    });
    open.push(counters);
    return { counters, states, logs, prefix };
  }

  const check = (key: string, limit: number, cost = 1): CounterCheck => ({ key, limit, cost, resetAtMs: Date.now() + 60_000 });

  it('"closed": UNAVAILABLE while Redis is down, logged once, then back to Redis when it returns', async () => {
    const { counters, states, logs, prefix } = await make("closed");
    expect((await counters.hitAll([check("rpm:k", 10)])).values).toEqual([1]);
    expect(await withRaw((raw) => raw.get(`${prefix}rpm:k`))).toBe("1");

    await server.kill();
    for (let i = 0; i < 5; i++) {
      const err = await failure(counters.hitAll([check("rpm:k", 10)]));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toBe("quota backend unreachable");
    }
    expect((await failure(counters.add("rpm:k", -1, Date.now() + 60_000))).code).toBe(Code.Unavailable);
    expect((await failure(counters.get("rpm:k"))).code).toBe(Code.Unavailable);
    expect(counters.state).toBe("down");
    expect(states).toEqual(["down"]);
    expect(counters.stats()).toMatchObject({ primary: "down", failovers: 1, refusedCalls: 7, fallbackAnswers: 0 });
    const errors = logs.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ mode: "closed" });
    expect(errors[0]?.msg).toMatch(/redis unreachable; failing CLOSED/);

    await server.restart();
    await until(async () => (await counters.hitAll([check("rpm:k", 10)]).catch(() => undefined))?.allowed === true);
    expect(counters.state).toBe("up");
    expect(states).toEqual(["down", "up"]);
    // Persistence is off: the restarted Redis counts from zero, and it is Redis that counts.
    expect(await withRaw((raw) => raw.get(`${prefix}rpm:k`))).toBe("1");
    expect(logs.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(["quota counters: redis is back; limits are shared again"]);
    expect(logs.filter((l) => l.level === 50)).toHaveLength(1);
  });

  it('"open": answers from local memory while Redis is down, logged once, then back to Redis', async () => {
    const { counters, states, logs, prefix } = await make("open");
    expect((await counters.hitAll([check("rpm:k", 3)])).values).toEqual([1]);

    await server.kill();
    const decisions = [];
    for (let i = 0; i < 5; i++) decisions.push(await counters.hitAll([check("rpm:k", 3)]));
    // The local limiter still enforces the limit (counting from zero on this replica).
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false, false]);
    expect(decisions[4]).toMatchObject({ failed: 0, values: [3] });
    expect(await counters.get("rpm:k")).toBe(3);
    expect(counters.state).toBe("down");
    expect(states).toEqual(["down"]);
    expect(counters.stats()).toMatchObject({ primary: "down", failovers: 1, fallbackAnswers: 6, refusedCalls: 0 });
    const errors = logs.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toMatch(/redis unreachable; failing OPEN: limits are now counted per replica/);
    expect(errors[0]?.reason).toBeTruthy();

    await server.restart();
    // The background probe (at most every second) notices, with no traffic needed.
    await until(async () => counters.state === "up");
    expect(states).toEqual(["down", "up"]);
    expect((await counters.hitAll([check("rpm:k", 3)])).values).toEqual([1]);
    expect(await withRaw((raw) => raw.get(`${prefix}rpm:k`))).toBe("1");
    expect(logs.filter((l) => l.level === 40)).toHaveLength(1);
    expect(logs.filter((l) => l.level === 50)).toHaveLength(1);
  });

  it('a hung Redis (SIGSTOP) counts as down after the command timeout, in both modes', async () => {
    const openOne = await make("open");
    const closedOne = await make("closed");
    await openOne.counters.hitAll([check("tpm:k", 100, 10)]);
    server.freeze();

    const started = Date.now();
    expect(await openOne.counters.hitAll([check("tpm:k", 100, 10)])).toMatchObject({ allowed: true, values: [10] });
    // It waited for the command timeout (a lower bound: a loaded machine only makes it longer;
    // a call that never gave up would hang here, so no upper bound on the clock is needed).
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect((await failure(closedOne.counters.hitAll([check("tpm:k", 100, 10)]))).code).toBe(Code.Unavailable);
    // Once down, calls no longer wait for Redis: answered from memory before any I/O or timer.
    const answered = openOne.counters.hitAll([check("tpm:k", 100, 10)]).then(() => "answered");
    const waited = new Promise((resolve) => setImmediate(() => resolve("waited for I/O or a timer")));
    expect(await Promise.race([answered, waited])).toBe("answered");

    server.thaw();
    await until(async () => openOne.counters.state === "up" && closedOne.counters.state === "up");
    expect(openOne.states).toEqual(["down", "up"]);
    expect(closedOne.states).toEqual(["down", "up"]);
    expect((await closedOne.counters.hitAll([check("tpm:k", 1_000, 10)])).allowed).toBe(true);
  });

  it("a refund while failed open never takes the local counter below zero", async () => {
    const { counters } = await make("open");
    const resetAtMs = Date.now() + 60_000;
    // Reserve 1000 tokens on Redis; Redis dies before the call settles its real 200.
    expect((await counters.hitAll([{ key: "tpm:k", limit: 1_000, cost: 1_000, resetAtMs }])).allowed).toBe(true);
    await server.kill();
    await counters.add("tpm:k", 200 - 1_000, resetAtMs);
    expect(await counters.get("tpm:k")).toBeUndefined();
    // Locally the limit still holds in full: a -800 would have let 1800 tokens through.
    expect((await counters.hitAll([{ key: "tpm:k", limit: 1_000, cost: 1_000, resetAtMs }])).allowed).toBe(true);
    expect((await counters.hitAll([{ key: "tpm:k", limit: 1_000, cost: 1, resetAtMs }])).allowed).toBe(false);
    // A refund of what was counted locally is applied.
    await counters.add("tpm:k", -400, resetAtMs);
    expect(await counters.get("tpm:k")).toBe(600);
  });

  it("starts with Redis absent: connect returns, calls fail over, and it picks Redis up once it appears", async () => {
    await server.kill();
    // connect returns after readyTimeoutMs (300 ms) instead of waiting for Redis.
    const { counters, states, prefix } = await make("open", 300);
    expect((await counters.hitAll([check("rpm:k", 5)])).allowed).toBe(true);
    expect(states).toEqual(["down"]);
    await server.restart();
    await until(async () => counters.state === "up");
    expect((await counters.hitAll([check("rpm:k", 5)])).values).toEqual([1]);
    expect(await withRaw((raw) => raw.get(`${prefix}rpm:k`))).toBe("1");
  });

  it("RedisCounters.connect waits through connection errors until Redis is ready (up to readyTimeoutMs)", async () => {
    await server.kill();
    const connecting = RedisCounters.connect(server.url, { keyPrefix: "mgtest:connect:", readyTimeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300)); // several refused connection attempts
    await server.restart();
    const counters = await connecting;
    try {
      expect(counters.connected).toBe(true);
      expect(await counters.get("never")).toBeUndefined();
    } finally {
      await counters.close();
    }
  });

  it("validates input before touching either backend: a bad call is INTERNAL and no failover", async () => {
    const { counters, states } = await make("closed");
    const err = await failure(counters.hitAll([check("k", 10, 0.5)]));
    expect(err.code).toBe(Code.Internal);
    expect(counters.state).toBe("up");
    expect(states).toEqual([]);
  });

  async function withRaw<T>(use: (raw: Redis) => Promise<T>): Promise<T> {
    const raw = new Redis(server.url, { maxRetriesPerRequest: 0, enableOfflineQueue: true, retryStrategy: () => null });
    raw.on("error", () => {});
    try {
      return await use(raw);
    } finally {
      raw.disconnect();
    }
  }
});

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

/** Polls `check` until it holds (Redis reconnects and the probe runs within a few seconds). */
async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}
