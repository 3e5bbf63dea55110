import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open";
import type { LedgerRow, LedgerStore, Store, UsageTotalRow } from "../../src/store/types";
import { LedgerWriter, type LedgerWriterOptions } from "../../src/usage/ledger-writer";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function row(i: number, over: Partial<LedgerRow> = {}): LedgerRow {
  return {
    time: new Date(Date.UTC(2026, 10, 1, 0, 0, 0, i)),
    requestId: `req-${i}`,
    keyId: "key_1",
    team: "ml",
    endpoint: "chat",
    provider: "openai",
    model: "gpt-4o",
    modelVersion: "",
    promptTokens: 10,
    completionTokens: 5,
    costUsd: 0.0000750,
    status: "ok",
    latencyMs: 12.5,
    streamed: false,
    ...over,
  };
}

/** A ledger that can fail, be slow, and tells what it was asked. */
class FakeLedger implements LedgerStore {
  stored: LedgerRow[] = [];
  batches: number[] = [];
  attempts = 0;
  failures = 0;
  down = false;
  delayMs = 0;
  inFlight = 0;
  maxInFlight = 0;

  async append(rows: readonly LedgerRow[]): Promise<void> {
    this.attempts++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs) await sleep(this.delayMs);
      if (this.down || this.failures > 0) {
        if (this.failures > 0) this.failures--;
        throw new Error("database is locked");
      }
      this.stored.push(...rows);
      this.batches.push(rows.length);
    } finally {
      this.inFlight--;
    }
  }
  async totals(): Promise<UsageTotalRow[]> {
    return [];
  }
  async *rows(): AsyncIterable<LedgerRow> {
    yield* this.stored;
  }
  async spend(): Promise<number> {
    return 0;
  }
}

/** A pino logger whose lines land in an array: the writer's log interface is pino's. */
function capturedLog() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const log = pino({ level: "warn", base: undefined }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

const writers: LedgerWriter[] = [];
function writer(ledger: LedgerStore, options: LedgerWriterOptions = {}): LedgerWriter {
  const w = new LedgerWriter(ledger, { retryInitialMs: 5, retryMaxMs: 20, ...options });
  writers.push(w);
  return w;
}
afterEach(async () => {
  for (const w of writers.splice(0)) await w.close(1_000);
});

describe("LedgerWriter", () => {
  it("record() returns at once and never writes in the caller's turn", () => {
    const ledger = new FakeLedger();
    const w = writer(ledger, { flushIntervalMs: 0 });
    w.record(row(1));
    expect(ledger.attempts).toBe(0);
    expect(w.stats()).toMatchObject({ queued: 1, written: 0 });
  });

  it("writes in batches of maxBatch, in order, one append at a time", async () => {
    const ledger = new FakeLedger();
    ledger.delayMs = 2;
    const w = writer(ledger, { maxBatch: 500 });
    for (let i = 0; i < 1_200; i++) w.record(row(i));
    await w.flush();
    expect(ledger.batches).toEqual([500, 500, 200]);
    expect(ledger.stored.map((r) => r.requestId)).toEqual(Array.from({ length: 1_200 }, (_, i) => `req-${i}`));
    expect(ledger.maxInFlight).toBe(1);
    expect(w.stats()).toMatchObject({ queued: 0, written: 1_200, failedAppends: 0, overloaded: false });
  });

  it("gathers rows for flushIntervalMs after an idle spell, then sends them together", async () => {
    const ledger = new FakeLedger();
    const w = writer(ledger, { flushIntervalMs: 40 });
    w.record(row(1));
    await sleep(5);
    w.record(row(2));
    w.record(row(3));
    expect(ledger.attempts).toBe(0);
    await sleep(80);
    expect(ledger.batches).toEqual([3]);
  });

  it("groups rows that arrive while a batch is being written into the next one (group commit)", async () => {
    const ledger = new FakeLedger();
    ledger.delayMs = 30;
    const w = writer(ledger, { flushIntervalMs: 0 });
    w.record(row(0));
    await sleep(10); // the first append is in flight
    for (let i = 1; i <= 5; i++) w.record(row(i));
    await w.flush();
    expect(ledger.batches).toEqual([1, 5]);
  });

  it("writes through with flushIntervalMs 0 (no flush() needed)", async () => {
    const ledger = new FakeLedger();
    const w = writer(ledger, { flushIntervalMs: 0 });
    w.record(row(1));
    await sleep(20);
    expect(ledger.stored).toHaveLength(1);
  });

  it("keeps rows through failed appends and retries with backoff, order intact, no duplicates", async () => {
    const ledger = new FakeLedger();
    ledger.failures = 3;
    const { log, lines } = capturedLog();
    const w = writer(ledger, { maxBatch: 4, log });
    for (let i = 0; i < 10; i++) w.record(row(i));
    await w.flush();
    expect(ledger.stored.map((r) => r.requestId)).toEqual(Array.from({ length: 10 }, (_, i) => `req-${i}`));
    expect(ledger.batches).toEqual([4, 4, 2]);
    expect(w.stats()).toMatchObject({ written: 10, failedAppends: 3, lastError: "database is locked" });
    const warnings = lines.filter((l) => l.msg === "usage ledger append failed; rows kept, retrying");
    expect(warnings).toHaveLength(3);
    expect(warnings.map((l) => l["retryInMs"])).toEqual([5, 10, 20]);
  });

  it("under backpressure keeps every row but refuses new calls until the queue drains", async () => {
    const ledger = new FakeLedger();
    ledger.down = true;
    const { log, lines } = capturedLog();
    const w = writer(ledger, { maxQueue: 10, maxBatch: 3, log });
    for (let i = 0; i < 9; i++) w.record(row(i));
    expect(w.overloaded).toBe(false);
    expect(() => w.checkAdmission()).not.toThrow();
    w.record(row(9));
    expect(w.overloaded).toBe(true);
    // Calls already admitted still finish and are still recorded: nothing is dropped.
    w.record(row(10));
    w.record(row(11));
    expect(w.stats().queued).toBe(12);
    let refused: ConnectError | undefined;
    try {
      w.checkAdmission();
    } catch (err) {
      refused = ConnectError.from(err);
    }
    expect(refused?.code).toBe(Code.Unavailable);
    expect(refused?.rawMessage).toContain("usage ledger is behind");
    expect(refused?.metadata.get("retry-after")).toBe("1");
    expect(lines.some((l) => l.level === 50 && l.msg.includes("refusing new calls"))).toBe(true);

    ledger.down = false;
    await w.flush();
    expect(ledger.stored.map((r) => r.requestId)).toEqual(Array.from({ length: 12 }, (_, i) => `req-${i}`));
    expect(w.overloaded).toBe(false);
    expect(() => w.checkAdmission()).not.toThrow();
    expect(lines.some((l) => l.msg === "usage ledger caught up: admitting calls again")).toBe(true);
  });

  it("refuses a malformed row loudly instead of letting it block the rows behind it", async () => {
    const ledger = new FakeLedger();
    const { log, lines } = capturedLog();
    const w = writer(ledger, { log });
    w.record(row(1));
    w.record(row(2, { latencyMs: Number.NaN }));
    w.record(row(3, { promptTokens: -1 }));
    w.record(row(4));
    await w.flush();
    expect(ledger.stored.map((r) => r.requestId)).toEqual(["req-1", "req-4"]);
    expect(w.stats().rejected).toBe(2);
    const rejected = lines.filter((l) => l.msg === "malformed ledger row not written");
    expect(rejected.map((l) => (l["rows"] as { requestId: string }[])[0]!.requestId)).toEqual(["req-2", "req-3"]);
    expect(rejected[0]!["err"]).toContain("latencyMs");
  });

  it("close() writes everything; a row recorded after close is logged, not lost silently", async () => {
    const ledger = new FakeLedger();
    const { log, lines } = capturedLog();
    const w = writer(ledger, { flushIntervalMs: 10_000, log });
    for (let i = 0; i < 7; i++) w.record(row(i));
    expect(await w.close()).toBe(true);
    expect(ledger.stored).toHaveLength(7);
    w.record(row(99));
    expect(ledger.stored).toHaveLength(7);
    expect(lines.find((l) => l.msg === "ledger writer closed: row not written")?.["rows"]).toEqual([
      expect.objectContaining({ requestId: "req-99" }),
    ]);
  });

  it("close(timeout) against a dead store gives up and puts the unwritten rows in the error log", async () => {
    const ledger = new FakeLedger();
    ledger.down = true;
    const { log, lines } = capturedLog();
    const w = writer(ledger, { maxBatch: 2, log });
    for (let i = 0; i < 5; i++) w.record(row(i));
    const pending = w.flush();
    expect(await w.close(50)).toBe(false);
    await pending; // waiters are released, not left hanging
    const dumped = lines
      .filter((l) => l.msg === "usage ledger unreachable at shutdown: rows not written")
      .flatMap((l) => (l["rows"] as { requestId: string }[]).map((r) => r.requestId));
    expect(dumped).toEqual(["req-0", "req-1", "req-2", "req-3", "req-4"]);
    const attempts = ledger.attempts;
    await sleep(60);
    expect(ledger.attempts).toBe(attempts); // no more retries after giving up
  });

  it("checks its options", () => {
    const ledger = new FakeLedger();
    expect(() => new LedgerWriter(ledger, { maxBatch: 0 })).toThrow(/maxBatch must be a positive integer/);
    expect(() => new LedgerWriter(ledger, { flushIntervalMs: -1 })).toThrow(/flushIntervalMs must be >= 0/);
    expect(() => new LedgerWriter(ledger, { maxQueue: 1.5 })).toThrow(/maxQueue/);
  });
});

describe("LedgerWriter on the SQLite store", () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it("lands every row in the database, unknown costs as unknown", async () => {
    store = await openStore("sqlite::memory:");
    await store.migrate();
    const w = writer(store.ledger, { maxBatch: 500, flushIntervalMs: 5 });
    for (let i = 0; i < 1_234; i++) w.record(row(i, { costUsd: i % 10 === 0 ? null : 0.001, team: i % 2 ? "a" : "b" }));
    await w.flush();
    const totals = await store.ledger.totals({ groupBy: ["team"] });
    expect(totals).toEqual([
      expect.objectContaining({ group: { team: "a" }, calls: 617, unknownCostCalls: 0 }),
      expect.objectContaining({ group: { team: "b" }, calls: 617, unknownCostCalls: 124 }),
    ]);
    expect(totals[0]!.costUsd).toBeCloseTo(0.617, 9);
    expect(totals[1]!.costUsd).toBeCloseTo(0.493, 9);
  });
});
