// The SQLite response store's group commit (src/store/sqlite/response-store.ts): puts that arrive
// while a write is in flight go together in the next write (one transaction), each caller settles
// with its own batch's outcome, a refused row fails alone, deletes and purges keep their order
// behind the puts, and the queue is bounded. The writes are counted on a wrapped SqliteWrites
// whose batches the test lets through one at a time: no clocks.
import { Code, ConnectError } from "@connectrpc/connect";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { unavailable } from "../../src/errors";
import { RESPONSE_QUEUE_LIMITS, SqliteResponseStore, type ResponseQueueLimits } from "../../src/store/sqlite/response-store";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite/sqlite-store";
import type { SqliteWrites, WriteRow, WriteStatement } from "../../src/store/sqlite/writes";
import type { StoredResponse } from "../../src/store/types";

const t0 = Date.parse("2025-03-04T05:06:07.089Z");
const now = new Date(t0);

function response(id: string, overrides: Partial<StoredResponse> = {}): StoredResponse {
  return {
    id,
    keyId: "key_1",
    team: "team-a",
    endpoint: "chat",
    createdAt: new Date(t0),
    expiresAt: new Date(t0 + 60_000),
    response: `{"id":"${id}"}`,
    items: "[]",
    inputCount: 0,
    ...overrides,
  };
}

interface Call {
  statement: WriteStatement;
  rows: readonly WriteRow[];
  release(): void;
}

/**
 * The store's writes, each held until the test releases it (or all let through with `open`);
 * `fail` decides a write's fate once released.
 */
function gatedWrites(inner: SqliteWrites, fail: (statement: WriteStatement, rows: readonly WriteRow[]) => unknown = () => undefined) {
  const calls: Call[] = [];
  let open = false;
  let arrived: (() => void) | undefined;
  const writes: SqliteWrites = {
    mode: inner.mode,
    close: () => inner.close(),
    writeSteps: (steps) => inner.writeSteps(steps),
    async write(statement, rows) {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      calls.push({ statement, rows, release });
      arrived?.();
      if (!open) await gate;
      const err = fail(statement, rows);
      if (err !== undefined) throw err;
      return inner.write(statement, rows);
    },
  };
  return {
    writes,
    calls,
    /** Lets every write through from now on, and the one held. */
    open() {
      open = true;
      for (const call of calls) call.release();
    },
    /** Waits until `n` writes have been started. */
    async started(n: number) {
      while (calls.length < n) await new Promise<void>((resolve) => (arrived = resolve));
    },
  };
}

const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

async function setup(fail?: Parameters<typeof gatedWrites>[1], limits: ResponseQueueLimits = RESPONSE_QUEUE_LIMITS) {
  const store = openSqliteStore(":memory:");
  stores.push(store);
  await store.migrate();
  const gated = gatedWrites(store.writes, fail);
  return { ...gated, store, responses: new SqliteResponseStore(store.reads, gated.writes, limits) };
}

async function settled(promise: Promise<unknown>): Promise<"resolved" | Code | unknown> {
  try {
    await promise;
    return "resolved";
  } catch (err) {
    return err instanceof ConnectError ? err.code : err;
  }
}

describe("sqlite response store: group commit", () => {
  it("writes N puts that arrive while one is in flight as one more batch, not N", async () => {
    const { responses, calls, started, open } = await setup();
    const first = responses.put([response("resp_0")]);
    await started(1);
    const rest = Array.from({ length: 20 }, (_, i) => responses.put([response(`resp_${i + 1}`)]));
    open();
    await Promise.all([first, ...rest]);
    expect(calls.map((c) => c.rows.length)).toEqual([1, 20]);
    expect(calls.every((c) => c.statement === "responsePut")).toBe(true);
    for (let i = 0; i <= 20; i++) expect((await responses.get(`resp_${i}`, now))?.id).toBe(`resp_${i}`);
  });

  it("keeps one put's rows in one batch, and bounds a coalesced batch in rows and characters", async () => {
    const { responses, calls, started, open } = await setup(undefined, { batchRows: 4, batchChars: 100, queuedChars: 1_000_000 });
    const first = responses.put([response("resp_first")]);
    await started(1);
    const puts = [
      responses.put([response("a1"), response("a2"), response("a3")]),
      responses.put([response("b1"), response("b2")]), // 5 rows would pass 4: a new batch
      responses.put([response("c1", { items: "x".repeat(200) })]), // over the characters alone: its own batch
      responses.put(Array.from({ length: 6 }, (_, i) => response(`d${i}`))), // over the rows alone: its own batch, whole
      responses.put([response("e1")]),
    ];
    open();
    await Promise.all([first, ...puts]);
    expect(calls.map((c) => c.rows.map((r) => r[0]))).toEqual([
      ["resp_first"],
      ["a1", "a2", "a3"],
      ["b1", "b2"],
      ["c1"],
      ["d0", "d1", "d2", "d3", "d4", "d5"],
      ["e1"],
    ]);
  });

  it("fails every caller of a batch that fails, and only them; the next batch goes on", async () => {
    let failures = 1;
    const { responses, calls, started, open } = await setup((_, rows) => (rows.length > 1 && failures-- > 0 ? unavailable("sqlite store: the write worker stopped") : undefined));
    const first = responses.put([response("resp_first")]);
    await started(1);
    const doomed = [responses.put([response("resp_a")]), responses.put([response("resp_b")])];
    open();
    expect(await settled(first)).toBe("resolved");
    expect(await Promise.all(doomed.map(settled))).toEqual([Code.Unavailable, Code.Unavailable]);
    expect(await responses.get("resp_a", now)).toBeUndefined();
    await Promise.all([responses.put([response("resp_c")]), responses.put([response("resp_d")])]);
    expect((await responses.get("resp_c", now))?.id).toBe("resp_c");
    // The failed batch is not written again: its callers had the error.
    expect(calls.map((c) => c.rows.map((r) => r[0]))).toEqual([["resp_first"], ["resp_a", "resp_b"], ["resp_c"], ["resp_d"]]);
  });

  it("writes a batch SQLite refuses for one row's content again caller by caller: that caller fails alone", async () => {
    const constraint = Object.assign(new Error("CHECK constraint failed"), { errcode: 275, code: "ERR_SQLITE_ERROR" });
    const { responses, calls, started, open } = await setup((_, rows) => (rows.some((r) => r[0] === "resp_bad") ? constraint : undefined));
    const first = responses.put([response("resp_first")]);
    await started(1);
    const puts = [responses.put([response("resp_a")]), responses.put([response("resp_bad"), response("resp_b")]), responses.put([response("resp_c")])];
    open();
    await first;
    expect(await Promise.all(puts.map(settled))).toEqual(["resolved", Code.InvalidArgument, "resolved"]);
    expect(calls.map((c) => c.rows.length)).toEqual([1, 4, 1, 2, 1]);
    expect((await responses.get("resp_a", now))?.id).toBe("resp_a");
    expect(await responses.get("resp_b", now)).toBeUndefined();
    expect((await responses.get("resp_c", now))?.id).toBe("resp_c");
  });

  it("keeps deletes and purges in order behind the puts before them; a purge is its own batch with its own count", async () => {
    const { responses, calls, started, open } = await setup();
    const first = responses.put([response("resp_first")]);
    await started(1);
    const ops = [
      responses.put([response("resp_x")]),
      responses.delete("resp_x"),
      responses.delete("resp_first"),
      responses.put([response("resp_old", { expiresAt: new Date(t0 - 1) }), response("resp_old2", { expiresAt: new Date(t0) })]),
      responses.purgeExpired(now, 10),
      responses.purgeExpired(now, 10),
    ];
    open();
    await first;
    const results = await Promise.all(ops);
    expect(calls.map((c) => c.statement)).toEqual(["responsePut", "responsePut", "responseDelete", "responsePut", "responsePurge", "responsePurge"]);
    expect(results.slice(4)).toEqual([2, 0]);
    expect(await responses.get("resp_x", now)).toBeUndefined();
    expect(await responses.get("resp_first", now)).toBeUndefined();
  });

  it("refuses a put with UNAVAILABLE while too much text is already waiting; the waiting puts land", async () => {
    const { responses, started, open } = await setup(undefined, { batchRows: 256, batchChars: 1_000, queuedChars: 1_000 });
    const first = responses.put([response("resp_first", { items: "x".repeat(5_000) })]); // alone: not bounded
    await started(1);
    const waiting = responses.put([response("resp_w", { items: "x".repeat(900) })]);
    expect(await settled(responses.put([response("resp_over", { items: "x".repeat(200) })]))).toBe(Code.Unavailable);
    open();
    await Promise.all([first, waiting]);
    expect(await settled(responses.put([response("resp_after", { items: "x".repeat(200) })]))).toBe("resolved");
  });
});

describe("sqlite response store: a file database", () => {
  const root = mkdtempSync(join(tmpdir(), "modelgate-responses-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("writes concurrent puts through the write worker in fewer commits than puts; purge reports the worker's count", async () => {
    const store = openSqliteStore(join(root, "store.db"));
    stores.push(store);
    await store.migrate();
    expect(store.writes.mode).toBe("worker");
    const write = vi.spyOn(store.writes, "write");
    const rows = Array.from({ length: 50 }, (_, i) => response(`resp_${i}`, { expiresAt: new Date(t0 + (i % 2 === 0 ? -1 : 60_000)) }));
    await Promise.all(rows.map((row) => store.responses.put([row])));
    const puts = write.mock.calls.filter(([statement]) => statement === "responsePut").length;
    expect(puts).toBeGreaterThanOrEqual(1);
    expect(puts).toBeLessThan(rows.length);
    expect(await store.responses.purgeExpired(now, 100)).toBe(25);
    expect((await store.responses.get("resp_1", now))?.id).toBe("resp_1");
  });
});
