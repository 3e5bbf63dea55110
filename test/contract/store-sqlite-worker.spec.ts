// The SQLite store's write worker (src/store/sqlite/writes.ts): a file database's ledger and
// feedback batches run in a worker_threads Worker with its own connection, ":memory:" stays
// in-thread. A worker that dies fails its batches with UNAVAILABLE, the ledger writer retries
// them and a new worker writes them, in order, once; close() flushes and ends the worker.
import { Code, ConnectError } from "@connectrpc/connect";
import { existsSync, linkSync, mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite/sqlite-store";
import { WorkerWrites } from "../../src/store/sqlite/writes";
import { isUniqueViolation } from "../../src/store/sqlite/errors";
import type { FeedbackRow, LedgerRow } from "../../src/store/types";
import { LedgerWriter } from "../../src/usage/ledger-writer";
import { ledgerRow } from "../support/ledger-row";

const root = mkdtempSync(join(tmpdir(), "modelgate-sqlite-worker-"));
let fileSeq = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

function newPath(): string {
  fileSeq += 1;
  return join(root, `case-${fileSeq}.db`);
}

async function openFile(path = newPath()): Promise<{ store: SqliteStore; workers: WorkerWrites; path: string }> {
  const store = openSqliteStore(path);
  await store.migrate();
  if (!(store.writes instanceof WorkerWrites)) throw new Error("a file store should write through the worker");
  return { store, workers: store.writes, path };
}

const row = (requestId: string, time = 1_750_000_000_000): LedgerRow => ledgerRow(requestId, { time: new Date(time) });

/** Request ids in the file, in insertion order, read by a connection of the test's own. */
function storedIds(path: string): string[] {
  const db = new DatabaseSync(path);
  try {
    return db
      .prepare("SELECT request_id FROM usage_ledger ORDER BY id")
      .all()
      .map((r) => String(r["request_id"]));
  } finally {
    db.close();
  }
}

async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("sqlite store: where the writes run", () => {
  it("keeps a :memory: database's writes in-thread", async () => {
    const store = openSqliteStore(":memory:");
    try {
      await store.migrate();
      expect(store.writes.mode).toBe("in-thread");
      await store.ledger.append([row("mem-1")]);
      expect((await store.ledger.totals({ groupBy: [] }))[0]?.calls).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("writes a file database's batches in one worker, whose commits the main connection reads at once", async () => {
    const { store, workers } = await openFile();
    try {
      expect(workers.mode).toBe("worker");
      for (let i = 0; i < 5; i++) {
        await store.ledger.append([row(`a-${i}`), row(`b-${i}`)]);
        expect((await store.ledger.totals({ groupBy: [] }))[0]?.calls).toBe(2 * (i + 1));
      }
      const feedback: FeedbackRow = {
        time: new Date(1_750_000_000_000),
        requestId: "a-0",
        endpoint: "chat",
        target: "",
        model: "gpt-4o-mini",
        modelVersion: "",
        keyId: "key_1",
        team: "t",
        postedBy: "key_1",
        name: "thumbs",
        score: 1,
        label: null,
      };
      await store.feedback.append([feedback, { ...feedback, score: 0 }]);
      expect(await store.feedback.priorFeedback("a-0", "thumbs")).toEqual({ total: 2, scoredSameName: 2 });
      expect(workers.started).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("leaves the event loop free while a batch is written", async () => {
    const { store } = await openFile();
    try {
      const rows = Array.from({ length: 5_000 }, (_, i) => row(`big-${i}`));
      await store.ledger.append([row("warm-up")]);
      let turns = 0;
      let writing = true;
      const spin = (): void => {
        turns += 1;
        if (writing) setImmediate(spin);
      };
      setImmediate(spin);
      await store.ledger.append(rows);
      writing = false;
      // In-thread, the 5,000 INSERTs and the COMMIT would hold the loop: no turn could run until they end.
      expect(turns).toBeGreaterThan(1);
      expect((await store.ledger.totals({ groupBy: [] }))[0]?.calls).toBe(5_001);
    } finally {
      await store.close();
    }
  });

  it("keeps the errors' shape: a row check is INVALID_ARGUMENT before the worker, a constraint in the worker too", async () => {
    const { store, path } = await openFile();
    try {
      const nul = await store.ledger.append([row("fine"), row("bad\u0000id")]).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(nul?.code).toBe(Code.InvalidArgument);
      expect(nul?.rawMessage).toMatch(/ledger row 1: requestId holds a NUL character/);
      const db = new DatabaseSync(path);
      db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON usage_ledger WHEN NEW.request_id = 'refused'
               BEGIN SELECT RAISE(ABORT, 'refused row'); END`);
      db.close();
      const refused = await store.ledger.append([row("fine"), row("refused")]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(ConnectError.from(refused).code).toBe(Code.InvalidArgument);
      expect((refused as ConnectError).cause).toMatchObject({ code: "ERR_SQLITE_ERROR", errcode: 1811, errstr: "constraint failed" });
      expect(storedIds(path)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

describe("sqlite store: a write of several steps", () => {
  /** Conversation ids and item ids in the file, read by a connection of the test's own. */
  function storedConversations(path: string): string[] {
    const db = new DatabaseSync(path);
    try {
      const conversations = db.prepare("SELECT id FROM conversations ORDER BY id").all().map((r) => String(r["id"]));
      const items = db.prepare("SELECT conversation_id || '/' || item_id AS id FROM conversation_items ORDER BY conversation_id, seq").all();
      return [...conversations, ...items.map((r) => String(r["id"]))];
    } finally {
      db.close();
    }
  }
  const insert = (id: string) => ({ statement: "conversationInsert" as const, rows: [[id, "key_1", "team-a", 0, "{}"]] });
  const append = (id: string, ...itemIds: string[]) => ({
    statement: "conversationItemAppend" as const,
    rows: itemIds.map((itemId) => [id, itemId, 2, "{}", id]),
  });

  for (const where of ["worker", "in-thread"] as const) {
    it(`runs the steps in order in one transaction, reports each step's changes, and rolls back all when a later step fails (${where})`, async () => {
      const path = where === "worker" ? newPath() : ":memory:";
      const store = openSqliteStore(path);
      await store.migrate();
      try {
        expect(store.writes.mode).toBe(where);
        expect(await store.writes.writeSteps([insert("conv_a"), append("conv_a", "i1", "i2"), append("conv_missing", "i3")])).toEqual([1, 2, 0]);
        // The third step fails (a taken id): the two before it, already run, are rolled back with it.
        const failed = await store.writes.writeSteps([insert("conv_b"), append("conv_b", "j1"), insert("conv_a")]).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(isUniqueViolation(failed)).toBe(true);
        expect(await store.writes.writeSteps([])).toEqual([]);
        // The one-step form still answers the total, and the writer keeps working.
        expect(await store.writes.write("conversationMetadata", [['{"x":1}', "conv_a"], ['{"x":1}', "conv_b"]])).toBe(1);
        if (where === "worker") {
          expect(storedConversations(path)).toEqual(["conv_a", "conv_a/i1", "conv_a/i2"]);
        } else {
          expect(await store.conversations.get("conv_b")).toBeUndefined();
          expect((await store.conversations.allItems("conv_a", 100))?.map((i) => i.itemId)).toEqual(["i1", "i2"]);
        }
      } finally {
        await store.close();
      }
    });
  }
});

describe("sqlite store: a file deleted before the write worker opens it", () => {
  it("is not created afresh (empty, without the tables): the batch fails with UNAVAILABLE, and goes through once the file is back", async () => {
    const { store, path } = await openFile();
    const kept = `${path}.kept`;
    try {
      linkSync(path, kept);
      unlinkSync(path);
      const err = await store.ledger.append([row("lost")]).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code).toBe(Code.Unavailable);
      expect(err?.rawMessage).toMatch(/^sqlite store: the write worker cannot open the database: unable to open database file/);
      expect(existsSync(path)).toBe(false);
      linkSync(kept, path);
      await store.ledger.append([row("kept")]);
      expect((await store.ledger.calls({ limit: 5 })).calls.map((c) => c.requestId)).toEqual(["kept"]);
    } finally {
      await store.close();
    }
  });
});

describe("sqlite store: a write worker that dies", () => {
  it("fails its batch with UNAVAILABLE; the ledger writer retries it through a new worker, in order, once", async () => {
    const { store, workers, path } = await openFile();
    const warnings: object[] = [];
    const writer = new LedgerWriter(store.ledger, {
      maxBatch: 50,
      flushIntervalMs: 0,
      retryInitialMs: 10,
      retryMaxMs: 50,
      log: { warn: (obj) => void warnings.push(obj), error: () => undefined },
    });
    try {
      writer.record(row("before-0"));
      await until("the first row", () => writer.stats().written === 1);
      expect(workers.started).toBe(1);

      // A batch in flight when the worker goes: another connection holds the write lock, so the
      // worker waits in BEGIN IMMEDIATE (busy_timeout) and cannot have committed it.
      const lock = new DatabaseSync(path);
      lock.exec("BEGIN IMMEDIATE");
      const ids = Array.from({ length: 120 }, (_, i) => `during-${i}`);
      for (const id of ids) writer.record(row(id));
      await until("a batch in flight", () => workers.inFlightCount > 0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const crashed = workers.crashForTest();
      lock.exec("ROLLBACK");
      lock.close();
      await crashed;
      await until("every row", () => writer.stats().written === 121);

      expect(writer.stats().failedAppends).toBeGreaterThanOrEqual(1);
      expect(writer.stats().lastError).toMatch(/write worker stopped/);
      expect(workers.started).toBe(2);
      expect(storedIds(path)).toEqual(["before-0", ...ids]);
      expect(warnings.length).toBeGreaterThanOrEqual(1);
    } finally {
      await writer.close(5_000);
      await store.close();
    }
  });

  it("close() flushes the ledger writer's rows through the worker and ends it; later writes are refused", async () => {
    const { store, workers, path } = await openFile();
    const writer = new LedgerWriter(store.ledger, { maxBatch: 64, flushIntervalMs: 60_000 });
    const ids = Array.from({ length: 300 }, (_, i) => `close-${i}`);
    for (const id of ids) writer.record(row(id));
    expect(await writer.close(5_000)).toBe(true);
    await store.close();
    expect(storedIds(path)).toEqual(ids);
    expect(workers.inFlightCount).toBe(0);
    const after = await workers.write("ledger", []).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(after?.code).toBe(Code.Unavailable);
    // Reopened, the file holds every row and takes more.
    const again = await openFile(path);
    try {
      await again.store.ledger.append([row("after-reopen")]);
      expect(storedIds(path)).toEqual([...ids, "after-reopen"]);
    } finally {
      await again.store.close();
    }
  });
});
