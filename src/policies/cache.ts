// The exact response cache: answers keyed on the normalized request (endpoint, its targets'
// models, the stream flag, and the request's fields as canonical protobuf JSON with sorted keys,
// so field order and defaults do not matter), per-endpoint TTL. In memory by default (LRU bounded
// by bytes), in Redis when the endpoint names one (shared by every replica). A store that fails
// is a miss (logged), never a failed call.
import { LRUCache } from "lru-cache";
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { createRedisClient } from "../store/redis/counters";
import { warnPolicy } from "./metrics";

export interface CacheStore {
  get(key: string): Promise<Buffer | undefined>;
  set(key: string, value: Buffer, ttlMs: number): Promise<void>;
}

/** A least-recently-used map bounded by the bytes of its values, entries expiring after their TTL. */
export class MemoryCacheStore implements CacheStore {
  /**
   * Most recently used last, bounded in bytes (value + key). An LRU cache rather than a Map
   * trimmed from its front: a full Map that loses its first entries on every insert makes V8 skip
   * ever more deleted entries to find the oldest (tens of µs an insert at 100k entries).
   */
  private readonly entries: LRUCache<string, { value: Buffer; expiresAt: number }>;

  constructor(private readonly maxBytes: number) {
    this.entries = new LRUCache({ maxSize: maxBytes, sizeCalculation: (e, key) => e.value.length + key.length });
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.entries.calculatedSize };
  }

  async get(key: string): Promise<Buffer | undefined> {
    const e = this.entries.get(key); // a hit is now the most recently used
    if (!e) return undefined;
    if (e.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    if (value.length + key.length > this.maxBytes) return;
    this.entries.set(key, { value, expiresAt: Date.now() + ttlMs });
  }
}

// One client per Redis URL for the process (replicas are processes; reloads reuse it).
const redisClients = new Map<string, Redis>();

export class RedisCacheStore implements CacheStore {
  constructor(
    private readonly url: string,
    private readonly prefix: string,
  ) {
    // Connect now (config load), not at the first call: with no offline queue, a command sent
    // while the connection is still opening fails, and the first calls would all be misses.
    void this.redis;
  }

  /** The client once it is ready: waits up to 500 ms for a connection still opening. */
  private async ready(): Promise<Redis> {
    const client = this.redis;
    if (client.status === "connecting" || client.status === "connect" || client.status === "wait") {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          client.off("ready", done);
          resolve();
        };
        const timer = setTimeout(done, 500);
        client.once("ready", done);
      });
    }
    return client;
  }

  /** The process's client for this URL, (re)made on first use and after closePolicyStores(). */
  private get redis(): Redis {
    let client = redisClients.get(this.url);
    if (!client) {
      client = createRedisClient(this.url, { commandTimeoutMs: 500 });
      redisClients.set(this.url, client);
    }
    return client;
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return (await (await this.ready()).getBuffer(this.prefix + key)) ?? undefined;
    } catch (err) {
      warnPolicy({ cache: "redis", err: (err as Error).message }, "response cache: redis read failed; answered as a miss");
      return undefined;
    }
  }

  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    try {
      await (await this.ready()).set(this.prefix + key, value, "PX", ttlMs);
    } catch (err) {
      warnPolicy({ cache: "redis", err: (err as Error).message }, "response cache: redis write failed; answer not cached");
    }
  }
}

/** Closes the cache's Redis connections (gateway shutdown, tests). */
export async function closePolicyStores(): Promise<void> {
  const clients = [...redisClients.values()];
  redisClients.clear();
  await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
}

/** JSON with object keys sorted, for a key that does not depend on field order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export function cacheKey(parts: { endpoint: string; models: readonly string[]; stream: boolean; request: unknown }): string {
  return createHash("sha256").update(canonicalJson(parts)).digest("base64url");
}

/** A cached answer: one response message, or a stream's messages, in protobuf binary. */
export function encodeEntry(messages: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4);
  head.writeUInt32BE(messages.length);
  parts.push(head);
  for (const m of messages) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(m.length);
    parts.push(len, Buffer.from(m.buffer, m.byteOffset, m.length));
  }
  return Buffer.concat(parts);
}

/** encodeEntry's messages, or undefined for a value that is not one (a corrupt or foreign entry). */
export function decodeEntry(value: Buffer): Uint8Array[] | undefined {
  if (value.length < 4) return undefined;
  const n = value.readUInt32BE(0);
  const out: Uint8Array[] = [];
  let at = 4;
  for (let i = 0; i < n; i++) {
    if (at + 4 > value.length) return undefined;
    const len = value.readUInt32BE(at);
    at += 4;
    if (at + len > value.length) return undefined;
    out.push(value.subarray(at, at + len));
    at += len;
  }
  return at === value.length ? out : undefined;
}
