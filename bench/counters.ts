// Latency of one Counters.hitAll with 3 checks (the usual key rpm + key tpm + team budget), one
// call at a time, on memory, on Redis over loopback (a real redis-server started here, or
// MODELGATE_TEST_REDIS_URL), and through resilientCounters over Redis. Also throughput with 64
// calls in flight. Not a test: run by hand with `npx tsx bench/counters.ts [iterations]`.
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { pino } from "pino";
import type { CounterCheck, Counters } from "../src/store/counters";
import { MemoryCounters } from "../src/store/memory/counters";
import { RedisCounters } from "../src/store/redis/counters";
import { resilientCounters } from "../src/store/resilient-counters";
import { useTestRedis } from "../test/support/redis";

const iterations = Number(process.argv[2] ?? 20_000);
const inFlight = 64;

function checks(i: number): CounterCheck[] {
  const resetAtMs = Date.now() + 60_000;
  // Spread over 100 keys, with limits high enough that every call is admitted (the full path).
  const k = `k${i % 100}`;
  return [
    { key: `rpm:key:${k}:1`, limit: 1e12, cost: 1, resetAtMs },
    { key: `tpm:key:${k}:1`, limit: 1e12, cost: 1_200, resetAtMs },
    { key: `usd:team:t${i % 10}:2025-01`, limit: 1e15, cost: 3_450, resetAtMs },
  ];
}

async function measure(name: string, c: Counters): Promise<void> {
  for (let i = 0; i < 2_000; i++) await c.hitAll(checks(i)); // warm-up: JIT, connection, script load
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const input = checks(i);
    const t = performance.now();
    const d = await c.hitAll(input);
    samples[i] = performance.now() - t;
    if (!d.allowed) throw new Error(`${name}: unexpectedly refused`);
  }
  samples.sort();
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? Number.NaN;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < iterations) await c.hitAll(checks(next++));
    }),
  );
  const rate = iterations / ((performance.now() - t0) / 1000);
  const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
  console.log(
    `${name.padEnd(26)} p50 ${us(q(0.5)).padStart(10)}  p90 ${us(q(0.9)).padStart(10)}  p99 ${us(q(0.99)).padStart(10)}  ` +
      `${Math.round(rate).toLocaleString("en-US").padStart(9)} calls/s with ${inFlight} in flight`,
  );
}

const redis = await useTestRedis();
try {
  console.log(`hitAll with 3 checks, ${iterations} sequential calls each (node ${process.version}, Redis at ${redis.url})`);
  const memory = new MemoryCounters();
  await measure("memory", memory);
  await memory.close();
  const prefix = `mgbench:${randomBytes(4).toString("hex")}:`;
  const onRedis = await RedisCounters.connect(redis.url, { keyPrefix: prefix });
  await measure("redis (loopback)", onRedis);
  await onRedis.close();
  const wrapped = resilientCounters(await RedisCounters.connect(redis.url, { keyPrefix: prefix }), new MemoryCounters(), {
    mode: "open",
    log: pino({ level: "silent" }),
  });
  await measure("resilient(redis, memory)", wrapped);
  if (wrapped.state !== "up") throw new Error("the resilient wrapper failed over during the bench");
  await wrapped.close();
} finally {
  await redis.close();
}
