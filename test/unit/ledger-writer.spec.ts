import { Code, ConnectError } from "@connectrpc/connect";
import { DatabaseError } from "pg";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openStore } from "../../src/store/open";
import { storableText } from "../../src/store/sql-shared";
import type { CallPage, LedgerRow, LedgerStore, Store, UsageSeriesRow, UsageTotalRow } from "../../src/store/types";
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
  async series(): Promise<UsageSeriesRow[]> {
    return [];
  }
  async *rows(): AsyncIterable<LedgerRow> {
    yield* this.stored;
  }
  async spend(): Promise<number> {
    return 0;
  }
  async calls(): Promise<CallPage> {
    return { calls: [...this.stored].reverse() };
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

  it("a flush() right after another one does not wait for the flush interval", async () => {
    const ledger = new FakeLedger();
    const w = writer(ledger, { flushIntervalMs: 60_000 }); // a wait for it would time the test out
    w.record(row(1));
    await w.flush();
    w.record(row(2)); // queued while the pump is finishing its last append
    await w.flush();
    expect(ledger.stored.map((r) => r.requestId)).toEqual(["req-1", "req-2"]);
  });

  describe("under a steady stream of rows (fake clock)", () => {
    afterEach(() => {
      vi.useRealTimers();
    });
    /** One row a millisecond for `ms` ms, against a store that takes 2 ms an append. */
    async function steady(options: LedgerWriterOptions, ms: number): Promise<{ ledger: FakeLedger; w: LedgerWriter; waits: number[] }> {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
      const ledger = new FakeLedger();
      ledger.delayMs = 2;
      const recordedAt = new Map<string, number>();
      const waits: number[] = [];
      const append = ledger.append.bind(ledger);
      ledger.append = async (rows) => {
        for (const r of rows) waits.push(performance.now() - recordedAt.get(r.requestId)!);
        return append(rows);
      };
      const w = writer(ledger, options);
      for (let i = 0; i < ms; i++) {
        recordedAt.set(`req-${i}`, performance.now());
        w.record(row(i));
        await vi.advanceTimersByTimeAsync(1);
      }
      return { ledger, w, waits };
    }

    it("sends one batch an interval, not one each time an append ends", async () => {
      const { ledger, w, waits } = await steady({ flushIntervalMs: 50 }, 500);
      const flushed = w.flush();
      await vi.advanceTimersByTimeAsync(10);
      await flushed;
      expect(ledger.stored.map((r) => r.requestId)).toEqual(Array.from({ length: 500 }, (_, i) => `req-${i}`));
      // One append each 50 ms (the first 50 ms after the first row): 10 of ~50 rows, then what a
      // flush finds. Writing each batch as soon as the last one ended would make ~170 of 3 rows.
      expect(ledger.batches.length).toBeGreaterThanOrEqual(9);
      expect(ledger.batches.length).toBeLessThanOrEqual(11);
      // No row waited longer than the interval and an append.
      expect(Math.max(...waits)).toBeLessThanOrEqual(52);
    });

    it("still sends a full batch, and what a flush() asks for, at once", async () => {
      const { ledger, w } = await steady({ flushIntervalMs: 50, maxBatch: 20 }, 100);
      expect(ledger.batches.slice(0, 3)).toEqual([20, 20, 20]); // never waited for the interval
      w.record(row(100));
      const flushed = w.flush();
      await vi.advanceTimersByTimeAsync(10); // the append's 2 ms, not the interval's 50
      await flushed;
      expect(ledger.stored).toHaveLength(101);
    });

    it("writes through with flushIntervalMs 0", async () => {
      const { ledger } = await steady({ flushIntervalMs: 0 }, 100);
      await vi.advanceTimersByTimeAsync(10);
      expect(ledger.stored).toHaveLength(100);
      expect(ledger.batches.length).toBeGreaterThan(25); // a batch each time an append ended
    });
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

describe("LedgerWriter: rows a caller's text could make unwritable", () => {
  it("queues every row storable: control characters and lone surrogates become U+FFFD, long text is cut with …", async () => {
    const ledger = new FakeLedger();
    const w = writer(ledger);
    const clean = row(1, { endpoint: "chat/聊天", model: "claude 🤖" });
    w.record(clean);
    w.record(
      row(2, {
        endpoint: "x\u0000",
        model: "a\tb\r\nc\u001b[31md\u007fe\u009bf",
        team: "lone \ud800 high and \udc00 low",
        keyId: "k".repeat(10_000),
        requestId: "r".repeat(127) + "😀", // the pair would straddle the limit: never split
        status: "s".repeat(65),
        modelVersion: "v".repeat(256),
      }),
    );
    await w.flush();
    expect(ledger.stored[0]).toBe(clean); // clean rows are queued as they are, not copied
    const stored = ledger.stored[1]!;
    expect(stored.endpoint).toBe("x\ufffd");
    expect(stored.model).toBe("a\ufffdb\ufffd\ufffdc\ufffd[31md\ufffde\ufffdf");
    expect(stored.team).toBe("lone \ufffd high and \ufffd low");
    expect(stored.keyId).toBe(`${"k".repeat(255)}…`);
    expect(stored.requestId).toBe(`${"r".repeat(127)}…`);
    expect(stored.status).toBe(`${"s".repeat(63)}…`);
    expect(stored.modelVersion).toBe("v".repeat(256)); // at the limit: kept whole
    expect(stored.promptTokens).toBe(10);
    expect(w.stats()).toMatchObject({ written: 2, sanitized: 1, rejected: 0, poisoned: 0 });
  });

  it("isolates a row the store refuses for its content (bisection): the others land in order, the writer goes on", async () => {
    const ledger = new PickyLedger(new Set(["req-37"]), () => pgError("22021", 'invalid byte sequence for encoding "UTF8": 0x00'));
    const { log, lines } = capturedLog();
    const w = writer(ledger, { maxBatch: 64, flushIntervalMs: 10_000, log });
    for (let i = 0; i < 64; i++) w.record(row(i));
    await w.flush();
    const expected = Array.from({ length: 64 }, (_, i) => `req-${i}`).filter((id) => id !== "req-37");
    expect(ledger.stored.map((r) => r.requestId)).toEqual(expected);
    // 1 failed batch of 64, then halves down to the row: 2 appends per level, 6 levels.
    expect(ledger.attempts).toBeLessThanOrEqual(1 + 2 * 6);
    expect(w.stats()).toMatchObject({ queued: 0, written: 63, poisoned: 1, overloaded: false });
    const poisoned = lines.filter((l) => l.msg === "usage ledger refused a row for its content: row not written");
    expect(poisoned).toHaveLength(1);
    expect(poisoned[0]!.level).toBe(50);
    expect(poisoned[0]!["rows"]).toEqual([expect.objectContaining({ requestId: "req-37", endpoint: "chat", promptTokens: 10 })]);
    expect(poisoned[0]!["err"]).toContain("invalid byte sequence");
    expect(lines.filter((l) => l.msg === "usage ledger refused a batch for its content; isolating the bad rows")).toHaveLength(1);
    expect(lines.some((l) => l.msg === "usage ledger append failed; rows kept, retrying")).toBe(false);

    // Not stalled: later rows go out in full batches again.
    ledger.batches = [];
    for (let i = 100; i < 110; i++) w.record(row(i));
    await w.flush();
    expect(ledger.batches).toEqual([10]);
    expect(w.stats()).toMatchObject({ written: 73, poisoned: 1 });
  });

  it("isolates several bad rows (first, last, neighbours) and knows SQLite's and its own content errors", async () => {
    const bad = new Set(["req-0", "req-9", "req-10", "req-19"]);
    for (const error of [
      () => pgError("23514", 'new row violates check constraint "usage_ledger_check"'),
      () => Object.assign(new Error("CHECK constraint failed: cost_usd >= 0"), { code: "ERR_SQLITE_ERROR", errcode: 275 }),
      () => Object.assign(new Error("string or blob too big"), { code: "ERR_SQLITE_ERROR", errcode: 18 }),
      () => new ConnectError("ledger row 3: promptTokens must be a non-negative integer", Code.InvalidArgument),
    ]) {
      const ledger = new PickyLedger(bad, error);
      const { log, lines } = capturedLog();
      const w = writer(ledger, { maxBatch: 20, flushIntervalMs: 10_000, log });
      for (let i = 0; i < 20; i++) w.record(row(i));
      await w.flush();
      expect(ledger.stored.map((r) => r.requestId)).toEqual(
        Array.from({ length: 20 }, (_, i) => `req-${i}`).filter((id) => !bad.has(id)),
      );
      expect(w.stats()).toMatchObject({ queued: 0, written: 16, poisoned: 4 });
      const logged = lines
        .filter((l) => l.msg === "usage ledger refused a row for its content: row not written")
        .map((l) => (l["rows"] as { requestId: string }[])[0]!.requestId);
      expect(logged).toEqual(["req-0", "req-9", "req-10", "req-19"]);
    }
  });

  it("keeps retrying (never drops) on errors that are not the rows' fault, also in the middle of a bisection", async () => {
    const ledger = new PickyLedger(new Set(["req-5"]), () => pgError("22P05", "unsupported Unicode escape sequence"));
    const { log, lines } = capturedLog();
    const w = writer(ledger, { maxBatch: 8, flushIntervalMs: 10_000, log });
    for (let i = 0; i < 8; i++) w.record(row(i));
    // The database goes away for the first 3 appends, and again for 2 once the bisection started.
    ledger.transient = [pgError("08006", "connection failure"), pgError("57P01", "terminating connection due to administrator command"), Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" })];
    ledger.transientAfterFirstContentError = [pgError("53300", "too many connections"), new Error("Connection terminated unexpectedly")];
    await w.flush();
    expect(ledger.stored.map((r) => r.requestId)).toEqual(["req-0", "req-1", "req-2", "req-3", "req-4", "req-6", "req-7"]);
    expect(w.stats()).toMatchObject({ written: 7, poisoned: 1 });
    expect(lines.filter((l) => l.msg === "usage ledger append failed; rows kept, retrying")).toHaveLength(5);
  });

  it("a row refused after close(timeout) gave up is not counted twice", async () => {
    const ledger = new PickyLedger(new Set(["req-1"]), () => pgError("22021", "invalid byte sequence"));
    const w = writer(ledger, { maxBatch: 4 });
    for (let i = 0; i < 4; i++) w.record(row(i));
    expect(await w.close(1_000)).toBe(true);
    expect(ledger.stored.map((r) => r.requestId)).toEqual(["req-0", "req-2", "req-3"]);
    expect(w.stats()).toMatchObject({ queued: 0, written: 3, poisoned: 1 });
  });
});

describe("storableText", () => {
  it("keeps clean text as is (the same string) and marks a cut with …", () => {
    const clean = "gpt-4o-mini/ünïcödé 🤖";
    expect(storableText(clean, 256)).toBe(clean);
    expect(storableText("abcdef", 6)).toBe("abcdef");
    expect(storableText("abcdefg", 6)).toBe("abcde…");
    expect(storableText("abcdefg", 1)).toBe("…");
    expect(storableText("", 4)).toBe("");
  });

  it("replaces C0 and C1 controls, DEL and unpaired surrogates with U+FFFD, keeping pairs", () => {
    expect(storableText("a\u0000b\u0009c\u000ad\u001fe\u007ff\u0085g\u009fh", 256)).toBe("a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffdg\ufffdh");
    expect(storableText("\ud83d\ude00 \ud83d \ude00\ud83d", 256)).toBe("\ud83d\ude00 \ufffd \ufffd\ufffd");
    // A cut that would split a pair drops the pair's first half.
    expect(storableText("ab\ud83d\ude00cd", 4)).toBe("ab…");
    expect(storableText("ab\ud83d\ude00cd", 5)).toBe("ab\ud83d\ude00…");
  });
});

/** node-postgres's error for a server error response, with its SQLSTATE. */
function pgError(code: string, message: string): Error {
  const err = new DatabaseError(message, 0, "error");
  err.code = code;
  return err;
}

/**
 * A ledger that refuses, for their content, every batch holding one of `bad` (as PostgreSQL
 * refuses a whole INSERT for one row), and can first fail with transient errors.
 */
class PickyLedger extends FakeLedger {
  transient: Error[] = [];
  transientAfterFirstContentError: Error[] = [];
  private refusedOnce = false;

  constructor(
    private readonly bad: ReadonlySet<string>,
    private readonly error: () => Error,
  ) {
    super();
  }

  override async append(rows: readonly LedgerRow[]): Promise<void> {
    this.attempts++;
    const transient = this.transient.shift() ?? (this.refusedOnce ? this.transientAfterFirstContentError.shift() : undefined);
    if (transient) throw transient;
    if (rows.some((r) => this.bad.has(r.requestId))) {
      this.refusedOnce = true;
      throw this.error();
    }
    this.stored.push(...rows);
    this.batches.push(rows.length);
  }
}
