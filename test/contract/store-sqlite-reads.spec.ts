// The SQLite store's read worker (src/store/sqlite/reads.ts): a file database's ledger reads run
// in a worker_threads Worker with a read-only connection of its own, so a read over hundreds of
// thousands of rows leaves the event loop serving; each read has a time budget (past it,
// DEADLINE_EXCEEDED, and a read that ran that long loses its worker); at most MAX_READS wait;
// a worker that dies fails its running read and the next one starts a new worker; close() is
// bounded. ":memory:" stays in-thread. Orderings are asserted, never durations.
import { Code, ConnectError } from "@connectrpc/connect";
import { mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_ENDING, MAX_READS, MAX_URGENT_READS, WorkerReads } from "../../src/store/sqlite/reads";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite/sqlite-store";
import type { LedgerRow } from "../../src/store/types";
import { BIG_LEDGER_T0, fillLedger } from "../support/big-ledger";
import { ledgerRow } from "../support/ledger-row";

const root = mkdtempSync(join(tmpdir(), "modelgate-sqlite-reads-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Rows in the shared big file: a full aggregate over them takes hundreds of ms on the read worker. */
const BIG_ROWS = 600_000;
const T0 = BIG_LEDGER_T0;
let bigPath = "";

beforeAll(async () => {
  bigPath = join(root, "big.db");
  const store = openSqliteStore(bigPath);
  await store.migrate();
  await store.close();
  fillLedger(bigPath, BIG_ROWS);
}, 60_000);

function openBig(readTimeoutMs?: number): { store: SqliteStore; reads: WorkerReads } {
  const store = openSqliteStore(bigPath, { readTimeoutMs });
  if (!(store.reads instanceof WorkerReads)) throw new Error("a file store should read through the worker");
  return { store, reads: store.reads };
}

/** The slow read: every row's usage summed. */
const everything = (store: SqliteStore) => store.ledger.totals({ groupBy: ["model"] });
/** A cheap read: the newest call, from the time index. */
const newest = (store: SqliteStore) => store.ledger.calls({ limit: 1 });

const failure = (p: Promise<unknown>): Promise<ConnectError | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );

async function until(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const row = (requestId: string): LedgerRow => ledgerRow(requestId, { time: new Date(T0 + BIG_ROWS + 1), keyId: "key_small" });

describe("sqlite store: where the reads run", () => {
  it("keeps a :memory: database's reads in-thread", async () => {
    const store = openSqliteStore(":memory:");
    try {
      await store.migrate();
      expect(store.reads.mode).toBe("in-thread");
      await store.ledger.append([row("mem-1")]);
      expect((await store.ledger.calls({ limit: 5 })).calls.map((c) => c.requestId)).toEqual(["mem-1"]);
    } finally {
      await store.close();
    }
  });

  it("leaves the event loop serving while a slow read runs: timers, the main connection and the write worker answer first", async () => {
    const { store, reads } = openBig();
    try {
      const order: string[] = [];
      let turns = 0;
      let reading = true;
      const spin = (): void => {
        turns += 1;
        if (reading) setImmediate(spin);
      };
      setImmediate(spin);
      const slow = everything(store).then((totals) => {
        order.push("slow read");
        return totals;
      });
      const timer = new Promise<void>((resolve) => setTimeout(resolve, 1)).then(() => order.push("timer"));
      const key = store.keys.get("key_none").then(() => order.push("key lookup"));
      const write = store.ledger.append([row("during-read")]).then(() => order.push("ledger write"));
      const totals = await slow;
      reading = false;
      await Promise.all([timer, key, write]);
      // In-thread, the aggregate would hold the loop: nothing else could run before it resolved.
      // (The ledger write, through the write worker, is not ordered: its commit syncs to disk.)
      expect(order.filter((o) => o !== "ledger write").slice(0, 3)).toEqual(["key lookup", "timer", "slow read"]);
      expect(turns).toBeGreaterThan(10);
      expect(totals.find((t) => t.group.model === "echo-1")).toMatchObject({ calls: BIG_ROWS, promptTokens: 3 * BIG_ROWS });
      expect(reads.started).toBe(1);
      // The row written meanwhile is read once committed (WAL), by the read worker's connection.
      expect((await store.ledger.calls({ limit: 1, keyId: "key_small" })).calls.map((c) => c.requestId)).toEqual(["during-read"]);
    } finally {
      const db = new DatabaseSync(bigPath);
      db.exec("DELETE FROM usage_ledger WHERE key_id = 'key_small'");
      db.close();
      await store.close();
    }
  });

  it("pages keyset by (time, id) through the worker: ids and times come back as numbers", async () => {
    const { store } = openBig();
    try {
      const first = await store.ledger.calls({ limit: 3 });
      expect(first.calls.map((c) => c.requestId)).toEqual([`big-${BIG_ROWS}`, `big-${BIG_ROWS - 1}`, `big-${BIG_ROWS - 2}`]);
      expect(first.next).toEqual({ time: new Date(T0 + BIG_ROWS - 2), id: String(BIG_ROWS - 2) });
      const second = await store.ledger.calls({ limit: 2, before: first.next! });
      expect(second.calls.map((c) => c.requestId)).toEqual([`big-${BIG_ROWS - 3}`, `big-${BIG_ROWS - 4}`]);
      expect(second.calls[0]).toMatchObject({ time: new Date(T0 + BIG_ROWS - 3), promptTokens: 3, costUsd: 0.001, streamed: false, latencyMs: 1.5 });
    } finally {
      await store.close();
    }
  });

  it("runs a call's spend (a budget seed) ahead of reports already queued", async () => {
    const { store } = openBig();
    try {
      const order: string[] = [];
      const slow = everything(store).then(() => order.push("slow"));
      const report = newest(store).then(() => order.push("report"));
      const spend = store.ledger.spend({ keyId: "key_none" }, new Date(0)).then((usd) => order.push(`spend ${usd}`));
      await Promise.all([slow, report, spend]);
      expect(order).toEqual(["slow", "spend 0", "report"]);
    } finally {
      await store.close();
    }
  });

  it("answers stored responses and conversations while a report's scan holds the ledger's read worker", async () => {
    const { store } = openBig();
    try {
      const order: string[] = [];
      // Its worker started first (as it is once a gateway has served one such call): left to race is a point read against a 600k-row scan.
      await store.responses.get("resp_warm", new Date(T0));
      const slow = everything(store).then(() => order.push("slow report"));
      // Queued behind the scan on the ledger's worker, these would wait for it: they have their own.
      const state = Promise.all([store.responses.get("resp_none", new Date(T0)), store.conversations.get("conv_none")]).then(() => order.push("stored state"));
      await Promise.all([slow, state]);
      expect(order).toEqual(["stored state", "slow report"]);
    } finally {
      await store.close();
    }
  });
});

describe("sqlite store: a read's time budget", () => {
  it("fails a read that runs past it with DEADLINE_EXCEEDED, lets its worker go, and the next read starts a new one", async () => {
    const { store, reads } = openBig(1);
    try {
      const err = await failure(everything(store));
      expect(err?.code).toBe(Code.DeadlineExceeded);
      expect(err?.rawMessage).toBe(
        "sqlite store: the usage query ran longer than 1 ms (store.sqlite.read_timeout_ms); narrow the time range or filters",
      );
      reads.timeoutMs = 60_000;
      expect((await newest(store)).calls.map((c) => c.requestId)).toEqual([`big-${BIG_ROWS}`]);
      expect(reads.started).toBe(2);
      // The worker let go ends once its statement returns (node:sqlite cannot interrupt one).
      await until("the abandoned worker's end", () => reads.endingCount === 0);
    } finally {
      await store.close();
    }
  });

  it(`lets at most MAX_ENDING (${MAX_ENDING}) overrun workers finish their statements; beyond, reads fail fast with UNAVAILABLE`, async () => {
    // Reads that run long whatever the machine's speed: another connection holds the database in
    // exclusive locking mode, so each read waits in SQLite's busy handler (a 60 s busy_timeout
    // here), which terminate() cannot interrupt, until the lock is let go. A worker starts and
    // opens the file well within the 2 s budget, so each is inside that wait when it is let go.
    const path = join(root, "locked.db");
    const setup = openSqliteStore(path);
    await setup.migrate();
    await setup.ledger.append([row("only")]);
    await setup.close();
    const holder = new DatabaseSync(path);
    holder.exec("PRAGMA locking_mode = EXCLUSIVE");
    holder.exec("BEGIN EXCLUSIVE");
    holder.exec("DELETE FROM usage_ledger WHERE request_id = 'none'");
    let locked = true;
    const reads = new WorkerReads(path, 60_000, 2_000);
    const count = () => reads.all("SELECT COUNT(*) AS n FROM usage_ledger", []);
    try {
      expect((await failure(count()))?.code).toBe(Code.DeadlineExceeded);
      // Let go on its own timer (the caller's, set first, has told us already); it stays in the busy wait.
      await until("the first worker let go", () => reads.endingCount === 1);
      expect((await failure(count()))?.code).toBe(Code.DeadlineExceeded);
      await until("the second worker let go", () => reads.endingCount === 2);
      const third = await failure(count());
      expect(third?.code).toBe(Code.Unavailable);
      expect(third?.rawMessage).toBe(`sqlite store: ${MAX_ENDING} usage queries that ran past 2000 ms are still ending; retry shortly`);
      expect(third?.metadata.get("retry-after")).toBe("1");
      expect(reads.started).toBe(2);
      holder.exec("COMMIT");
      holder.close();
      locked = false;
      // The lock gone, their statements return and the workers end.
      await until("the overrun workers' end", () => reads.endingCount === 0);
      expect(await count()).toEqual([{ n: 1 }]);
      expect(reads.started).toBe(3);
    } finally {
      if (locked) {
        holder.exec("ROLLBACK");
        holder.close();
      }
      await reads.close();
    }
  });

  it("fails a read that waited its whole budget in the queue, and leaves the running read and its worker alone", async () => {
    const { store, reads } = openBig(60_000);
    try {
      const slow = everything(store);
      reads.timeoutMs = 1;
      const queued = await failure(newest(store));
      expect(queued?.code).toBe(Code.DeadlineExceeded);
      expect(queued?.rawMessage).toBe("sqlite store: the usage query waited 1 ms behind other usage queries without starting; retry shortly");
      expect((await slow)[0]?.calls).toBe(BIG_ROWS);
      expect(reads.started).toBe(1);
      expect(reads.endingCount).toBe(0);
    } finally {
      await store.close();
    }
  });
});

describe("sqlite store: at most MAX_READS reads wait", () => {
  it("refuses one more at once with UNAVAILABLE and a retry-after; the others are answered", async () => {
    const { store, reads } = openBig();
    try {
      const waiting = [everything(store), ...Array.from({ length: MAX_READS - 1 }, () => newest(store))];
      expect(reads.pending).toBe(MAX_READS);
      const refused = await failure(newest(store));
      expect(refused?.code).toBe(Code.Unavailable);
      expect(refused?.rawMessage).toBe(`sqlite store: ${MAX_READS} usage queries already waiting for the read worker; retry shortly`);
      expect(refused?.metadata.get("retry-after")).toBe("1");
      const answers = await Promise.all(waiting);
      expect(answers).toHaveLength(MAX_READS);
      expect(reads.pending).toBe(0);
      expect((await newest(store)).calls).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it(`takes a call's urgent reads beside full reports (up to MAX_URGENT_READS, ${MAX_URGENT_READS}), first come first served`, async () => {
    const { store, reads } = openBig();
    try {
      const order: string[] = [];
      const waiting = [everything(store), ...Array.from({ length: MAX_READS - 1 }, () => newest(store))];
      expect(await failure(newest(store))).toMatchObject({ code: Code.Unavailable });
      // The reports' cap is full; 100 budget seeds still queue, ahead of the reports, in order.
      const seeds = Array.from({ length: 100 }, (_, i) => store.ledger.spend({ keyId: `key_${i}` }, new Date(0)).then(() => order.push(`seed ${i}`)));
      expect(reads.pending).toBe(MAX_READS + 100);
      await Promise.all([...waiting, ...seeds]);
      expect(order).toEqual(Array.from({ length: 100 }, (_, i) => `seed ${i}`));
    } finally {
      await store.close();
    }
  });
});

describe("sqlite store: a read worker that dies", () => {
  it("fails its running read with UNAVAILABLE; the queued reads and the next ones go to a new worker", async () => {
    const { store, reads } = openBig();
    try {
      const running = failure(everything(store));
      const queued = newest(store);
      // Ended before it could answer (it is still starting): the read it was given cannot have been answered.
      await reads.crashForTest();
      const err = await running;
      expect(err?.code).toBe(Code.Unavailable);
      expect(err?.rawMessage).toMatch(/^sqlite store: the read worker stopped \(exit code \d+\)$/);
      expect((await queued).calls.map((c) => c.requestId)).toEqual([`big-${BIG_ROWS}`]);
      expect((await newest(store)).calls).toHaveLength(1);
      expect(reads.started).toBe(2);
    } finally {
      await store.close();
    }
  });
});

describe("sqlite store: a read worker that cannot open the file", () => {
  it("fails the read with UNAVAILABLE naming why, and the next read opens the file afresh", async () => {
    const path = join(root, "moved.db");
    const store = openSqliteStore(path);
    try {
      await store.migrate();
      const reads = store.reads as WorkerReads;
      // Read-only, the worker's connection does not create a missing file.
      renameSync(path, `${path}.away`);
      const err = await failure(newest(store));
      renameSync(`${path}.away`, path);
      expect(err?.code).toBe(Code.Unavailable);
      expect(err?.rawMessage).toMatch(/^sqlite store: the read worker cannot open the database: .*unable to open database file/);
      expect((await newest(store)).calls).toEqual([]);
      expect(reads.started).toBe(2);
    } finally {
      await store.close();
    }
  });
});

describe("sqlite store: close() with reads waiting", () => {
  it("fails the running and queued reads with UNAVAILABLE, ends the worker, and refuses later reads", async () => {
    const { store, reads } = openBig();
    const order: string[] = [];
    const running = failure(everything(store)).then((e) => {
      order.push("running failed");
      return e;
    });
    const queued = failure(newest(store));
    // The worker is busy with the slow read when close() begins.
    await until("the worker to start", () => reads.started === 1);
    const closed = store.close().then(() => order.push("closed"));
    expect((await running)?.code).toBe(Code.Unavailable);
    expect((await running)?.rawMessage).toBe("sqlite store: closed");
    expect((await queued)?.code).toBe(Code.Unavailable);
    await closed;
    // Told at once, not after the statement under way returned.
    expect(order).toEqual(["running failed", "closed"]);
    expect(reads.pending).toBe(0);
    expect((await failure(newest(store)))?.code).toBe(Code.Unavailable);
  });
});
