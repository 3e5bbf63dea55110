// Counters in Redis, shared by every replica: two gateways behind the same key admit at most the
// limit between them. hitAll is one Lua script (EVALSHA; loaded on NOSCRIPT, e.g. after a Redis
// restart), so checking every counter and incrementing them all is atomic across keys.
// Single Redis (or a primary with replicas) only: on Redis Cluster the keys of one call would
// have to share a hash slot.
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { internal } from "../../errors";
import type { CounterCheck, CounterDecision, Counters } from "../counters";
import { validateAdd, validateChecks, validateKey } from "../counters-validate";

// KEYS[i] is counter i; ARGV[3i-2], ARGV[3i-1], ARGV[3i] are its limit, cost and resetAtMs.
// Checks every counter first (a counter named twice counts both costs); only if all pass does it
// INCRBY each and set its expiry to the end of its window. Costs go to INCRBY as the caller's
// decimal strings (Lua would print big numbers as 1e+15). Lua numbers are doubles: exact for the
// safe-integer range the callers are held to.
// Reply: {allowed (1|0), failed check (1-based, 0 when allowed), value of each counter...}.
const hitAllScript = `
local n = #KEYS
local stored = redis.call('MGET', unpack(KEYS))
local current = {}
for i = 1, n do current[i] = tonumber(stored[i] or '0') end
local after = {}
for i = 1, n do
  local value = after[KEYS[i]] or current[i]
  local cost = tonumber(ARGV[3 * i - 1])
  if value + cost > tonumber(ARGV[3 * i - 2]) then
    local out = {0, i}
    for j = 1, n do out[j + 2] = current[j] end
    return out
  end
  after[KEYS[i]] = value + cost
end
for i = 1, n do
  if ARGV[3 * i - 1] ~= '0' then
    redis.call('INCRBY', KEYS[i], ARGV[3 * i - 1])
    redis.call('PEXPIREAT', KEYS[i], ARGV[3 * i])
  end
end
local out = {1, 0}
for i = 1, n do out[i + 2] = after[KEYS[i]] end
return out
`;
const hitAllSha = createHash("sha1").update(hitAllScript).digest("hex");

export interface RedisCountersOptions {
  /** Put before every counter key, so counters can share a Redis with other data. Default "mg:counter:". */
  keyPrefix?: string;
  /** Close the client in close() (true when RedisCounters.connect made it). */
  ownsClient?: boolean;
}

export interface RedisConnectOptions {
  keyPrefix?: string;
  /** A command that takes longer fails ("Command timed out"). Default 250 ms. */
  commandTimeoutMs?: number;
  /** How long connect() waits for the first connection before returning anyway. Default 2000 ms. */
  readyTimeoutMs?: number;
  /** Connection errors (each failed reconnect). Default: ignored; failed calls report them. */
  onError?: (err: Error) => void;
}

/**
 * An ioredis client tuned for counters: fail fast rather than queue. A command issued while the
 * connection is down fails at once (no offline queue), and a command in flight when it dropped is
 * not re-sent on reconnect, because it may already have counted: a replayed hitAll would count twice.
 */
export function createRedisClient(url: string, options: RedisConnectOptions = {}): Redis {
  const commandTimeoutMs = options.commandTimeoutMs ?? 250;
  const redis = new Redis(url, {
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(1_000, commandTimeoutMs * 4),
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    // Integer replies as strings, parsed here: ioredis 6.0.0's RESP decoder computes
    // number * 10 + digit - 48 and so loses the last digit just below 2^53 (9007199254740991
    // arrives as ...992), while Number("9007199254740991") is exact.
    stringNumbers: true,
    // Keep reconnecting for as long as the process runs, quickly at first, then every second.
    retryStrategy: (attempt: number) => Math.min(attempt * 50, 1_000),
  });
  redis.on("error", options.onError ?? (() => {}));
  return redis;
}

export class RedisCounters implements Counters {
  private readonly prefix: string;
  private readonly ownsClient: boolean;

  constructor(
    private readonly redis: Redis,
    options: RedisCountersOptions = {},
  ) {
    this.prefix = options.keyPrefix ?? "mg:counter:";
    this.ownsClient = options.ownsClient ?? false;
  }

  /**
   * Connects to `url` (redis:// or rediss://) and waits up to readyTimeoutMs for the connection.
   * If Redis is not there yet it returns anyway: the client keeps reconnecting, calls fail until
   * it is up, and resilientCounters decides what that means (fail open or closed).
   */
  static async connect(url: string, options: RedisConnectOptions = {}): Promise<RedisCounters> {
    const redis = createRedisClient(url, options);
    const counters = new RedisCounters(redis, { keyPrefix: options.keyPrefix, ownsClient: true });
    if (redis.status !== "ready") await readyOrTimeout(redis, options.readyTimeoutMs ?? 2_000);
    return counters;
  }

  /** Whether the connection is up right now. */
  get connected(): boolean {
    return this.redis.status === "ready";
  }

  async hitAll(checks: readonly CounterCheck[]): Promise<CounterDecision> {
    validateChecks(checks);
    if (checks.length === 0) return { allowed: true, retryAfterMs: 0, values: [] };
    const keys = checks.map((c) => this.prefix + c.key);
    const args = checks.flatMap((c) => [String(c.limit), String(c.cost), String(c.resetAtMs)]);
    const reply = parseReply(await this.evalHitAll(keys, args), checks.length);
    const [allowed, failed, ...values] = reply;
    if (allowed === 1) return { allowed: true, retryAfterMs: 0, values };
    const index = (failed ?? 1) - 1;
    const check = checks[index];
    if (!check) throw internal(`counters: Redis reported check ${failed} refused out of ${checks.length}`);
    return { allowed: false, failed: index, retryAfterMs: Math.max(0, check.resetAtMs - Date.now()), values };
  }

  async add(key: string, delta: number, resetAtMs: number): Promise<void> {
    validateAdd(key, delta, resetAtMs);
    if (delta === 0) return;
    const k = this.prefix + key;
    // MULTI so the counter never exists without its expiry. An expiry already past deletes the
    // key at once: a window that is over has nothing left to settle.
    const results = await this.redis.multi().incrby(k, delta).pexpireat(k, resetAtMs).exec();
    if (!results) throw internal(`counters: Redis discarded the add to "${key}"`);
    for (const [err] of results) if (err) throw err;
  }

  async get(key: string): Promise<number | undefined> {
    validateKey(key);
    const value = await this.redis.get(this.prefix + key);
    return value === null ? undefined : Number(value);
  }

  async close(): Promise<void> {
    if (!this.ownsClient) return;
    if (this.redis.status === "ready") {
      await this.redis.quit().catch(() => this.redis.disconnect());
    } else {
      this.redis.disconnect();
    }
  }

  private async evalHitAll(keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(hitAllSha, keys.length, ...keys, ...args);
    } catch (err) {
      // Scripts live in Redis's memory: a restarted (or SCRIPT FLUSHed) Redis has forgotten it.
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      await this.redis.script("LOAD", hitAllScript);
      return await this.redis.evalsha(hitAllSha, keys.length, ...keys, ...args);
    }
  }
}

/** Resolves on the first "ready" or after `ms`, whichever comes first; connection errors do not end the wait. */
function readyOrTimeout(redis: Redis, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off("ready", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once("ready", done);
  });
}

/** Integers come as strings from our own client (stringNumbers) and as numbers from a caller's. */
function parseReply(reply: unknown, checks: number): number[] {
  const values = Array.isArray(reply) ? reply.map((v: unknown) => (typeof v === "string" || typeof v === "number" ? Number(v) : Number.NaN)) : [];
  if (values.length !== checks + 2 || !values.every(Number.isFinite)) {
    throw internal("counters: unexpected reply from the Redis hitAll script");
  }
  return values;
}
