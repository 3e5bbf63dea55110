// The Store contract against SQLite files (a new file per test), plus what is SQLite's own: the
// URL forms, WAL mode, and several processes sharing one file (migrating at once, waiting on
// each other's write lock).
import { Code, ConnectError } from "@connectrpc/connect";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open";
import { ledgerRow } from "../support/ledger-row";
import { LedgerWriter } from "../../src/usage/ledger-writer";
import { describeStoreContract } from "./store.contract";
import { sqliteMigrations } from "../../src/store/sqlite/migrations";
import { callsStatement } from "../../src/store/sqlite/ledger-store";
import type { CallQuery } from "../../src/store/types";

const root = mkdtempSync(join(tmpdir(), "modelgate-sqlite-"));
let fileSeq = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A URL for a new file, in a directory that does not exist yet (openStore creates it). */
function newFileUrl(): string {
  fileSeq += 1;
  return `sqlite:${join(root, `case-${fileSeq}`, "nested", "store.db")}`;
}

describeStoreContract("sqlite", async () => {
  const url = newFileUrl();
  return { store: await openStore(url), openAnother: () => openStore(url) };
});

describe("sqlite store: the ListCalls query plans", () => {
  // Each filter of LedgerStore.calls() is served by an index whose order is (…, time, rowid):
  // SQLite walks it backwards from the cursor, with no table scan and no sort of the matches.
  const cursor = { time: new Date(1_750_000_000_000), id: "42" };
  const cases: { query: CallQuery; index: string; sorts?: boolean }[] = [
    { query: { limit: 50 }, index: "usage_ledger_time" },
    { query: { limit: 50, before: cursor }, index: "usage_ledger_time" },
    { query: { limit: 50, start: new Date(0), end: new Date(1_760_000_000_000) }, index: "usage_ledger_time" },
    { query: { limit: 50, endpoint: "chat", before: cursor }, index: "usage_ledger_endpoint_time" },
    { query: { limit: 50, keyId: "key_1", before: cursor }, index: "usage_ledger_key_time" },
    { query: { limit: 50, team: "web", start: new Date(0) }, index: "usage_ledger_team_time" },
    { query: { limit: 50, status: "error", before: cursor }, index: "usage_ledger_errors_time" },
    // One call (or a retried few) per request id: those few rows are sorted.
    { query: { limit: 50, requestId: "req-1" }, index: "usage_ledger_request_id", sorts: true },
  ];

  it("serves every filter from an index, in index order", async () => {
    const url = newFileUrl();
    const store = await openStore(url);
    await store.migrate();
    await store.close();
    const db = new DatabaseSync(url.slice("sqlite:".length));
    try {
      for (const { query, index, sorts } of cases) {
        const { sql, params } = callsStatement(query);
        const plan = db
          .prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .all(...params)
          .map((r) => String(r["detail"]))
          .join(" | ");
        expect(plan, JSON.stringify(query)).toMatch(new RegExp(`USING (COVERING )?INDEX ${index}\\b`));
        expect(plan, JSON.stringify(query)).not.toMatch(/SCAN usage_ledger(?! USING)/);
        if (!sorts) expect(plan, JSON.stringify(query)).not.toMatch(/TEMP B-TREE/);
      }
    } finally {
      db.close();
    }
  });
});

const row = (requestId: string) => ledgerRow(requestId, { completionTokens: 1, costUsd: 0.5 });

/**
 * Runs `code` (an ES module body with `openStore` in scope) in a separate Node process, as
 * another user when `asUser` is given (through setpriv: this process must be root).
 */
function runInProcess(code: string, asUser?: { uid: number; gid: number }): Promise<string> {
  const openUrl = new URL("../../src/store/open.ts", import.meta.url).href;
  const script = `import { openStore } from ${JSON.stringify(openUrl)};\n${code}`;
  const node = [process.execPath, "--import", "tsx", "--input-type=module", "-e", script];
  const argv = asUser ? ["setpriv", `--reuid=${asUser.uid}`, `--regid=${asUser.gid}`, "--clear-groups", ...node] : node;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: new URL("../..", import.meta.url).pathname,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (status) => (status === 0 ? resolve(out) : reject(new Error(`child exited ${status}: ${err}`))));
  });
}

// Files this process cannot write. SQLite (3.53, in node:sqlite) opens a -shm or -wal it cannot
// write read-only and then fails every write with SQLITE_READONLY; the store refuses to open
// instead, naming the file. Root may write any file on a writable mount, so these run as an
// unprivileged user (setpriv to nobody) when the tests run as root.
const isRoot = process.getuid?.() === 0;
const nobody = { uid: 65534, gid: 65534 };
const canDropPrivileges = isRoot && spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "true"]).status === 0;
const unprivileged = !isRoot || canDropPrivileges;

describe.runIf(unprivileged)("sqlite store: files it cannot write (as an unprivileged user)", () => {
  // Not under `root` (mkdtemp makes it 0700, closed to other users).
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), "modelgate-sqlite-perm-"));
    chmodSync(base, 0o755);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  /** A directory with a migrated database in it, owned by the user the check runs as. */
  async function database(name: string): Promise<string> {
    const dir = join(base, name);
    mkdirSync(dir);
    const path = join(dir, "store.db");
    const store = await openStore(`sqlite:${path}`);
    await store.migrate();
    await store.ledger.append([row("kept")]);
    await store.close();
    if (isRoot) for (const p of [dir, path]) chownSync(p, nobody.uid, nobody.gid);
    return path;
  }

  /** Opens, migrates and appends a row as the unprivileged user; the error's message, or "ok". */
  function openAsUser(path: string): Promise<string> {
    return runInProcess(
      `try {
        const store = await openStore(${JSON.stringify(`sqlite:${path}`)});
        await store.migrate();
        await store.ledger.append([{ time: new Date(), requestId: "w", keyId: "", team: "t", endpoint: "e", provider: "p",
          model: "m", modelVersion: "", promptTokens: 1, completionTokens: 1, costUsd: null, status: "ok", latencyMs: 1, streamed: false }]);
        await store.close();
        console.log("ok");
      } catch (err) {
        console.log(err.message);
      }`,
      isRoot ? nobody : undefined,
    ).then((out) => out.trim());
  }

  /** A file next to the database, as another process (or user) left it. */
  function leave(path: string, mode: number, owner: "user" | "root"): void {
    writeFileSync(path, "");
    if (isRoot && owner === "user") chownSync(path, nobody.uid, nobody.gid);
    chmodSync(path, mode);
  }

  it("opens and writes when everything is its own (the check lets a healthy database through)", async () => {
    const path = await database("healthy");
    expect(await openAsUser(path)).toBe("ok");
  });

  it("refuses a read-only -shm, naming it and the fix", async () => {
    const path = await database("readonly-shm");
    leave(`${path}-shm`, 0o444, "user");
    const message = await openAsUser(path);
    expect(message).toMatch(new RegExp(`^sqlite store: cannot write a file of the database ${path}-shm \\(EACCES\\): `));
    expect(message).toContain(`chmod u+w ${path}-shm`);
  });

  it.runIf(isRoot)("refuses a -wal another user (root) left behind", async () => {
    const path = await database("root-wal");
    leave(`${path}-wal`, 0o644, "root");
    const message = await openAsUser(path);
    expect(message).toContain(`cannot write a file of the database ${path}-wal (EACCES)`);
    expect(message).toContain(`chown nobody ${path}-wal`);
  });

  it("refuses a read-only database file, and a directory it cannot write", async () => {
    const path = await database("readonly-file");
    chmodSync(path, 0o444);
    expect(await openAsUser(path)).toContain(`cannot write the database file ${path} (EACCES)`);
    chmodSync(path, 0o644);
    chmodSync(join(base, "readonly-file"), 0o555);
    expect(await openAsUser(path)).toContain(`cannot write the database's directory ${join(base, "readonly-file")} (EACCES)`);
  });
});

describe("sqlite store: start-up checks", () => {
  it("names the directory it cannot create", async () => {
    const file = join(root, "a-file");
    writeFileSync(file, "");
    const err = await openStore(`sqlite:${join(file, "sub", "store.db")}`).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toBe(
      `sqlite store: cannot create the database's directory ${join(file, "sub")} (ENOTDIR): ` +
        "create it, writable by the user running modelgate, or choose another path in store.database_url",
    );
  });

  it("refuses a path that is a directory", async () => {
    const dir = join(root, "a-directory");
    mkdirSync(dir);
    await expect(openStore(`sqlite:${dir}`)).rejects.toThrow(`sqlite store: ${dir} is a directory, not a database file`);
  });

  it.runIf(isRoot)("refuses an immutable -shm even to root (where the file system supports it)", async (ctx) => {
    const dir = join(root, "immutable");
    mkdirSync(dir);
    const path = join(dir, "store.db");
    writeFileSync(`${path}-shm`, "");
    if (spawnSync("chattr", ["+i", `${path}-shm`]).status !== 0) ctx.skip();
    try {
      await expect(openStore(`sqlite:${path}`)).rejects.toThrow(`sqlite store: cannot write a file of the database ${path}-shm (EPERM)`);
    } finally {
      spawnSync("chattr", ["-i", `${path}-shm`]);
    }
  });
});

describe("sqlite store", () => {
  it("opens sqlite::memory: as a private in-memory database", async () => {
    const store = await openStore("sqlite::memory:");
    try {
      expect(store.kind).toBe("sqlite");
      await store.migrate();
      await store.ledger.append([row("r1")]);
      expect((await store.ledger.totals({ groupBy: [] }))[0]?.calls).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("accepts sqlite:///absolute/path and keeps data across reopening, in WAL mode", async () => {
    const path = join(root, "triple-slash", "store.db");
    const first = await openStore(`sqlite://${path}`);
    await first.migrate();
    await first.ledger.append([row("kept")]);
    await first.close();
    await first.close(); // closing twice is harmless

    const db = new DatabaseSync(path);
    try {
      expect(db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    } finally {
      db.close();
    }
    const second = await openStore(`sqlite:${path}`);
    try {
      await second.migrate();
      const rows: string[] = [];
      for await (const r of second.ledger.rows({})) rows.push(r.requestId);
      expect(rows).toEqual(["kept"]);
    } finally {
      await second.close();
    }
  });

  it("refuses URLs it cannot open, naming only the scheme", async () => {
    const err = await openStore("mysql://admin:hunter2@db.internal/modelgate").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect(String(err)).toContain("mysql:");
    expect(String(err)).not.toContain("hunter2");
    const empty = await openStore("sqlite:").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((empty as ConnectError).code).toBe(Code.InvalidArgument);
  });

  it("lets several processes migrate and write one new file at the same time", async () => {
    const url = newFileUrl();
    const worker = (n: number) => `
      const store = await openStore(${JSON.stringify(url)});
      await store.migrate();
      await store.keys.insert({
        id: "key_${n}", name: "worker ${n}", team: "t", roles: [], endpoints: [], hash: "${String(n).repeat(64)}",
        prefix: "mg_${n}", limits: { budgetPeriod: "day" }, createdAt: new Date(), updatedAt: new Date(),
      });
      const rows = Array.from({ length: 200 }, (_, i) => ({
        time: new Date(1750000000000 + i), requestId: "w${n}-" + i, keyId: "key_${n}", team: "t", endpoint: "chat",
        provider: "p", model: "m", modelVersion: "", promptTokens: 1, completionTokens: 2, costUsd: null,
        status: "ok", latencyMs: 1, streamed: false,
      }));
      for (let i = 0; i < rows.length; i += 20) await store.ledger.append(rows.slice(i, i + 20));
      await store.close();
      console.log("done");
    `;
    const outputs = await Promise.all([1, 2, 3, 4].map((n) => runInProcess(worker(n))));
    expect(outputs.map((o) => o.trim())).toEqual(["done", "done", "done", "done"]);

    const store = await openStore(url);
    try {
      await store.migrate();
      expect((await store.keys.list({ includeRevoked: true })).map((k) => k.id).sort()).toEqual([
        "key_1",
        "key_2",
        "key_3",
        "key_4",
      ]);
      expect(await store.ledger.totals({ groupBy: ["key"] })).toEqual(
        [1, 2, 3, 4].map((n) => ({
          group: { key: `key_${n}` },
          calls: 200,
          promptTokens: 200,
          completionTokens: 400,
          cachedPromptTokens: 0,
          reasoningTokens: 0,
          costUsd: 0,
          unknownCostCalls: 200,
          errorCalls: 0,
          cacheHits: 0,
          costSavedUsd: 0,
        })),
      );
    } finally {
      await store.close();
    }
    const db = new DatabaseSync(url.slice("sqlite:".length));
    try {
      expect(db.prepare("SELECT version FROM schema_migrations").all()).toEqual(sqliteMigrations.map((m) => ({ version: m.version })));
    } finally {
      db.close();
    }
  });

  it("refuses rows for their content with INVALID_ARGUMENT; through the ledger writer they are isolated and the rest land", async () => {
    const url = newFileUrl();
    const store = await openStore(url);
    try {
      await store.migrate();
      // A content error the row checks cannot foresee: a trigger's RAISE (SQLITE_CONSTRAINT_TRIGGER).
      const db = new DatabaseSync(url.slice("sqlite:".length));
      db.exec(`CREATE TRIGGER refuse_poison BEFORE INSERT ON usage_ledger WHEN NEW.request_id LIKE 'poison%'
               BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`);
      db.close();
      const refused = await store.ledger.append([row("fine"), row("poison-0")]).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(refused?.code).toBe(Code.InvalidArgument);
      expect(refused?.rawMessage).toBe("sqlite store refused the rows: poisoned row");

      const errors: object[] = [];
      const writer = new LedgerWriter(store.ledger, {
        maxBatch: 16,
        flushIntervalMs: 10_000,
        log: { warn: () => undefined, error: (obj) => void errors.push(obj) },
      });
      const ids = Array.from({ length: 40 }, (_, i) => (i === 0 || i === 21 || i === 22 ? `poison-${i}` : `ok-${i}`));
      for (const id of ids) writer.record(row(id));
      expect(await writer.close(10_000)).toBe(true);
      const stored: string[] = [];
      for await (const r of store.ledger.rows({})) stored.push(r.requestId);
      expect(stored).toEqual(ids.filter((id) => id.startsWith("ok-")));
      expect(writer.stats()).toMatchObject({ queued: 0, written: 37, poisoned: 3 });
      expect(errors.map((e) => (e as { rows: { requestId: string }[] }).rows[0]?.requestId)).toEqual([
        "poison-0",
        "poison-21",
        "poison-22",
      ]);
    } finally {
      await store.close();
    }
  });

  it("waits for another process's write lock instead of failing", async () => {
    const url = newFileUrl();
    const store = await openStore(url);
    try {
      await store.migrate();
      const path = url.slice("sqlite:".length);
      // The other process takes the write lock, holds it for a second, then commits a row.
      const holder = runInProcess(`
        const { DatabaseSync } = await import("node:sqlite");
        const db = new DatabaseSync(${JSON.stringify(path)});
        db.exec("BEGIN IMMEDIATE");
        db.exec("INSERT INTO usage_ledger (time, request_id, key_id, team, endpoint, provider, model, model_version, prompt_tokens, completion_tokens, cost_usd, status, latency_ms, streamed) VALUES (1, 'held', '', 't', 'e', 'p', 'm', '', 0, 0, NULL, 'ok', 0, 0)");
        console.log("locked");
        await new Promise((r) => setTimeout(r, 1000));
        db.exec("COMMIT");
        db.close();
      `);
      await waitForLock(path);
      // Called while the lock is held: it can only succeed by waiting for the other commit.
      await store.ledger.append([row("after-wait")]);
      const ids: string[] = [];
      for await (const r of store.ledger.rows({})) ids.push(r.requestId);
      expect(ids).toEqual(["held", "after-wait"]);
      await holder;
    } finally {
      await store.close();
    }
  });
});

/** Polls until another connection holds the write lock on `path`. */
async function waitForLock(path: string): Promise<void> {
  const probe = new DatabaseSync(path);
  try {
    probe.exec("PRAGMA busy_timeout = 0");
    for (let i = 0; i < 600; i++) {
      try {
        probe.exec("BEGIN IMMEDIATE");
        probe.exec("ROLLBACK");
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error("the other process never took the lock");
  } finally {
    probe.close();
  }
}
