// Shared counters (Redis) with a decision for when they are unreachable, since quotas sit on every
// call's path: "closed" refuses calls that need quota with UNAVAILABLE; "open" keeps serving with
// a local limiter (memory), so each replica enforces the limits on its own until Redis is back.
// Either way the switch is logged loudly once per transition and shows in stats() for metrics.
// A call that timed out may still run on a slow Redis later (the command was already sent): a
// timeout can over-count a little, never under-count.
import type { Logger } from "pino";
import { unavailable } from "../errors";
import type { CounterCheck, CounterDecision, Counters } from "./counters";
import { validateAdd, validateChecks, validateKey } from "./counters-validate";

export type FailureMode = "open" | "closed";
export type PrimaryState = "up" | "down";

export interface ResilientCountersOptions {
  mode: FailureMode;
  log: Pick<Logger, "error" | "warn">;
  /** Called on each transition, e.g. to set a gauge. */
  onStateChange?: (state: PrimaryState) => void;
  /** A primary call slower than this counts as a failure. Default 250 ms. */
  timeoutMs?: number;
  /** While the primary is down, how often it is probed (a GET, in the background). Default 1000 ms. */
  probeIntervalMs?: number;
  /** The primary's name in logs. Default "redis". */
  name?: string;
}

export interface ResilientCountersStats {
  primary: PrimaryState;
  /** Times the primary went down. */
  failovers: number;
  /** Primary calls that failed or timed out (probes included). */
  primaryFailures: number;
  /** Calls answered by the local fallback ("open"). */
  fallbackAnswers: number;
  /** Calls refused with UNAVAILABLE ("closed"). */
  refusedCalls: number;
}

export interface ResilientCounters extends Counters {
  readonly state: PrimaryState;
  stats(): ResilientCountersStats;
}

/** Takes ownership of both: close() closes them. */
export function resilientCounters(primary: Counters, fallback: Counters, options: ResilientCountersOptions): ResilientCounters {
  return new Resilient(primary, fallback, options);
}

const probeKey = "probe:health";

class Resilient implements ResilientCounters {
  private current: PrimaryState = "up";
  private downSince = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;
  private readonly counts = { failovers: 0, primaryFailures: 0, fallbackAnswers: 0, refusedCalls: 0 };
  private readonly timeoutMs: number;
  private readonly probeIntervalMs: number;
  private readonly name: string;

  constructor(
    private readonly primary: Counters,
    private readonly fallback: Counters,
    private readonly options: ResilientCountersOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 250;
    this.probeIntervalMs = options.probeIntervalMs ?? 1_000;
    this.name = options.name ?? "redis";
  }

  get state(): PrimaryState {
    return this.current;
  }

  stats(): ResilientCountersStats {
    return { primary: this.current, ...this.counts };
  }

  async hitAll(checks: readonly CounterCheck[]): Promise<CounterDecision> {
    // Validated here (as a rejection, like every backend) so that whatever the primary throws
    // afterwards is the backend failing.
    validateChecks(checks);
    return this.call(
      () => this.primary.hitAll(checks),
      () => this.fallback.hitAll(checks),
    );
  }

  async add(key: string, delta: number, resetAtMs: number): Promise<void> {
    validateAdd(key, delta, resetAtMs);
    return this.call(
      () => this.primary.add(key, delta, resetAtMs),
      () => this.addLocally(key, delta, resetAtMs),
    );
  }

  async get(key: string): Promise<number | undefined> {
    validateKey(key);
    return this.call(
      () => this.primary.get(key),
      () => this.fallback.get(key),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopProbing();
    await Promise.all([this.primary.close(), this.fallback.close()]);
  }

  private async call<T>(onPrimary: () => Promise<T>, onFallback: () => Promise<T>): Promise<T> {
    let cause: unknown;
    if (this.current === "up") {
      try {
        return await withTimeout(onPrimary(), this.timeoutMs);
      } catch (err) {
        cause = err;
        this.counts.primaryFailures++;
        this.markDown(err);
      }
    }
    if (this.options.mode === "closed") {
      this.counts.refusedCalls++;
      throw unavailable("quota backend unreachable", cause);
    }
    this.counts.fallbackAnswers++;
    return onFallback();
  }

  /**
   * A refund settles a reservation that may have been counted on the primary before it went
   * down: it never takes the local counter below zero, which would admit more than the limit.
   */
  private async addLocally(key: string, delta: number, resetAtMs: number): Promise<void> {
    if (delta >= 0) return this.fallback.add(key, delta, resetAtMs);
    const local = (await this.fallback.get(key)) ?? 0;
    const refund = Math.max(delta, -Math.max(0, local));
    if (refund !== 0) await this.fallback.add(key, refund, resetAtMs);
  }

  private markDown(err: unknown): void {
    if (this.current === "down" || this.closed) return;
    this.current = "down";
    this.downSince = Date.now();
    this.counts.failovers++;
    const consequence =
      this.options.mode === "open"
        ? "failing OPEN: limits are now counted per replica in local memory, not shared"
        : "failing CLOSED: calls that need quota are refused with UNAVAILABLE";
    this.options.log.error(
      { counters: this.name, mode: this.options.mode, reason: reasonOf(err) },
      `quota counters: ${this.name} unreachable; ${consequence} until it is back`,
    );
    this.options.onStateChange?.("down");
    this.probeTimer = setInterval(() => void this.probe(), this.probeIntervalMs);
    this.probeTimer.unref();
  }

  private markUp(): void {
    if (this.current === "up" || this.closed) return;
    this.current = "up";
    this.stopProbing();
    this.options.log.warn(
      { counters: this.name, mode: this.options.mode, downForMs: Date.now() - this.downSince },
      `quota counters: ${this.name} is back; limits are shared again`,
    );
    this.options.onStateChange?.("up");
  }

  private async probe(): Promise<void> {
    if (this.probing || this.current === "up") return;
    this.probing = true;
    try {
      await withTimeout(this.primary.get(probeKey), this.timeoutMs);
      this.markUp();
    } catch {
      this.counts.primaryFailures++;
    } finally {
      this.probing = false;
    }
  }

  private stopProbing(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }
}

/** Rejects after `ms`; the late outcome of `p` is ignored. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  p.catch(() => {}); // a late failure after the timeout is not an unhandled rejection
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
