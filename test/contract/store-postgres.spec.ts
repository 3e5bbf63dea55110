// The Store contract against a real PostgreSQL (test/support/postgres.ts: a throwaway cluster, or
// MODELGATE_TEST_DATABASE_URL), plus what only PostgreSQL has: an unreachable server.
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { UsageService } from "../../gen/modelgate/v1/usage_pb";
import { usageService } from "../../src/services/usage";
import { openStore } from "../../src/store/open";
import type { Store } from "../../src/store/types";
import { ledgerRow } from "../support/ledger-row";
import { LedgerWriter } from "../../src/usage/ledger-writer";
import { startTestPostgres, type TestPostgres } from "../support/postgres";
import { describeStoreContract } from "./store.contract";
import { postgresMigrations } from "../../src/store/postgres/migrations";
import { callsStatement } from "../../src/store/postgres/ledger-store";
import type { CallQuery } from "../../src/store/types";

let postgres: TestPostgres;

beforeAll(async () => {
  postgres = await startTestPostgres();
});
afterAll(async () => {
  await postgres?.stop();
});

// A schema per test: as empty as a new database, and far quicker to make.
describeStoreContract("postgres", async () => {
  const url = await postgres.createSchema();
  return { store: await openStore(url), openAnother: () => openStore(url) };
});

describe("postgres store: the ListCalls query plans", () => {
  // Each filter of LedgerStore.calls() is served by an index walked backwards from the cursor:
  // (time, id), (endpoint, time, id), the partial errors (time, id), or (key_id|team, time),
  // whose equal times are put in id order by an incremental sort.
  const cursor = { time: new Date(1_750_000_000_000), id: "42" };
  const cases: { query: CallQuery; index: string; sort?: "incremental" | "full" }[] = [
    { query: { limit: 50 }, index: "usage_ledger_time" },
    { query: { limit: 50, before: cursor }, index: "usage_ledger_time" },
    { query: { limit: 50, endpoint: "endpoint-rare", before: cursor }, index: "usage_ledger_endpoint_time" },
    { query: { limit: 50, status: "error", before: cursor }, index: "usage_ledger_errors_time" },
    { query: { limit: 50, keyId: "key_rare", before: cursor }, index: "usage_ledger_key_time", sort: "incremental" },
    { query: { limit: 50, team: "team-rare", start: new Date(0) }, index: "usage_ledger_team_time", sort: "incremental" },
    // One call (or a retried few) per request id: those few rows are sorted.
    { query: { limit: 50, requestId: "req-77" }, index: "usage_ledger_request_id", sort: "full" },
  ];

  it("serves every filter from an index, in index order", async () => {
    const url = await postgres.createSchema();
    const store = await openStore(url);
    await store.migrate();
    await store.close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // A ledger of some size, analysed, as the planner meets it in service: 20,000 calls, a few
      // per millisecond, one in 100 failed, one in 100 by a rare key, team and endpoint each (the
      // filters the Logs view narrows to; a common value is as quick to find along the time index).
      await client.query(`
        INSERT INTO usage_ledger (time, request_id, key_id, team, endpoint, provider, model, model_version,
                                  prompt_tokens, completion_tokens, cost_usd, status, latency_ms, streamed)
        SELECT timestamptz '2025-06-01' + (i / 3) * interval '1 millisecond', 'req-' || i,
               CASE WHEN i % 100 = 1 THEN 'key_rare' ELSE 'key_' || (i % 3) END,
               CASE WHEN i % 100 = 2 THEN 'team-rare' ELSE 'team-' || (i % 2) END,
               CASE WHEN i % 100 = 3 THEN 'endpoint-rare' ELSE 'endpoint-' || (i % 4) END,
               'openai', 'm', '', 10, 5, 0.001, CASE WHEN i % 100 = 4 THEN 'Unavailable' ELSE 'ok' END, 12.5, false
        FROM generate_series(1, 20000) AS i`);
      await client.query("ANALYZE usage_ledger");
      for (const { query, index, sort } of cases) {
        const { sql, params } = callsStatement(query);
        const plan = (await client.query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, params)).rows.map((r) => r["QUERY PLAN"]).join("\n");
        expect(plan, JSON.stringify(query)).toMatch(new RegExp(`Index Scan( Backward)? using ${index}\\b|Bitmap Index Scan on ${index}\\b`));
        expect(plan, JSON.stringify(query)).not.toMatch(/Seq Scan/);
        // A plan node "Sort  (cost=…)" sorts every match; "Incremental Sort" only runs of equal times.
        if (sort === undefined) expect(plan, JSON.stringify(query)).not.toMatch(/Sort {2}\(cost/);
        if (sort === "incremental") expect(plan, JSON.stringify(query)).not.toMatch(/(?<!Incremental )Sort {2}\(cost/);
      }
    } finally {
      await client.end();
    }
  });
});

describe("postgres store", () => {
  it("is chosen for postgres:// and postgresql:// URLs", async () => {
    const url = await postgres.createDatabase();
    for (const candidate of [url, url.replace(/^postgres:/, "postgresql:")]) {
      const store = await openStore(candidate);
      try {
        expect(store.kind).toBe("postgres");
        await store.migrate();
        expect(await store.keys.list({ includeRevoked: true })).toEqual([]);
      } finally {
        await store.close();
      }
    }
  });

  it("reports an unreachable server as UNAVAILABLE, without the password", async () => {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    const store = await openStore("postgres://modelgate:s3cret-pw@127.0.0.1:1/modelgate");
    try {
      const err = await store.migrate().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.Unavailable);
      expect(String(err)).not.toContain("s3cret-pw");
      const listed = await store.keys.list({ includeRevoked: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((listed as ConnectError).code).toBe(Code.Unavailable);
    } finally {
      await store.close();
    }
  });

  it("refuses rows for their content with INVALID_ARGUMENT; through the ledger writer they are isolated and the rest land", async () => {
    const url = await postgres.createSchema();
    const store = await openStore(url);
    const client = new pg.Client({ connectionString: url });
    try {
      await store.migrate();
      await client.connect();
      // A content error the row checks cannot foresee: a trigger raising check_violation (23514).
      await client.query(`
        CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.request_id LIKE 'poison%' THEN
            RAISE EXCEPTION 'poisoned row %', NEW.request_id USING ERRCODE = 'check_violation';
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_poison BEFORE INSERT ON usage_ledger FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
      const refused = await store.ledger.append([row("fine"), row("poison-0")]).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(refused?.code).toBe(Code.InvalidArgument);
      expect(refused?.rawMessage).toMatch(/^postgres store refused the rows \(SQLSTATE 23514\): poisoned row poison-0/);
      // And a data exception (class 22) of PostgreSQL's own: a time before 4713 BC.
      const early = await store.ledger.append([{ ...row("early"), time: new Date(Date.UTC(-10_000, 0, 1)) }]).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(early?.code).toBe(Code.InvalidArgument);
      expect(early?.rawMessage).toMatch(/SQLSTATE 22008/);
      expect(await rowIds(store)).toEqual([]);

      const errors: object[] = [];
      const writer = new LedgerWriter(store.ledger, {
        maxBatch: 16,
        flushIntervalMs: 10_000,
        log: { warn: () => undefined, error: (obj) => void errors.push(obj) },
      });
      const ids = Array.from({ length: 40 }, (_, i) => (i === 3 || i === 17 ? `poison-${i}` : `ok-${i}`));
      for (const id of ids) writer.record(row(id));
      writer.record({ ...row("early"), time: new Date(Date.UTC(-10_000, 0, 1)) });
      writer.record(row("last"));
      expect(await writer.close(10_000)).toBe(true);
      expect(await rowIds(store)).toEqual([...ids.filter((id) => id.startsWith("ok-")), "last"]);
      expect(writer.stats()).toMatchObject({ queued: 0, written: 39, poisoned: 3 });
      expect(errors.map((e) => (e as { rows: { requestId: string }[] }).rows.map((r) => r.requestId))).toEqual([
        ["poison-3"],
        ["poison-17"],
        ["early"],
      ]);
    } finally {
      await client.end();
      await store.close();
    }
  });

  it("keeps the rows of a ledger writer while the server is unreachable: not the rows' fault", async () => {
    const store = await openStore("postgres://modelgate@127.0.0.1:1/modelgate");
    const warnings: object[] = [];
    const writer = new LedgerWriter(store.ledger, {
      flushIntervalMs: 0,
      retryInitialMs: 1,
      retryMaxMs: 5,
      log: { warn: (obj) => void warnings.push(obj), error: () => undefined },
    });
    try {
      writer.record(row("kept"));
      for (let i = 0; i < 200 && writer.stats().failedAppends < 3; i++) await new Promise((r) => setTimeout(r, 5));
      expect(writer.stats()).toMatchObject({ queued: 1, written: 0, poisoned: 0 });
      expect(writer.stats().failedAppends).toBeGreaterThanOrEqual(3);
    } finally {
      expect(await writer.close(50)).toBe(false); // gives up at shutdown: the row goes to the error log
      await store.close();
    }
  });

  it("answers a NUL in GetUsage's key_id or team as INVALID_ARGUMENT, not INTERNAL", async () => {
    const store = await openStore(await postgres.createSchema());
    try {
      await store.migrate();
      const client = createClient(
        UsageService,
        createRouterTransport((router) => router.service(UsageService, usageService({ ledger: store.ledger }))),
      );
      for (const req of [{ keyId: "key_1\u0000" }, { team: "\u0000" }]) {
        const err = await client.getUsage(req).then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        );
        expect(err?.code, JSON.stringify(req)).toBe(Code.InvalidArgument);
      }
      // The store itself refuses it the same way (the CLI's path).
      const direct = await store.ledger.totals({ keyId: "key_1\u0000", groupBy: [] }).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(direct?.code).toBe(Code.InvalidArgument);
      expect(await client.getUsage({ keyId: "key_1" })).toMatchObject({ totals: [] });
    } finally {
      await store.close();
    }
  });

  it("records its schema steps once, however many replicas migrated", async () => {
    const url = await postgres.createDatabase();
    const stores = await Promise.all([openStore(url), openStore(url), openStore(url), openStore(url)]);
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
        expect(rows.map((r) => r.version)).toEqual(postgresMigrations.map((m) => m.version));
      } finally {
        await client.end();
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

});

const row = (requestId: string) => ledgerRow(requestId, { completionTokens: 1, costUsd: 0.5 });

async function rowIds(store: Store): Promise<string[]> {
  const ids: string[] = [];
  for await (const r of store.ledger.rows({})) ids.push(r.requestId);
  return ids;
}
