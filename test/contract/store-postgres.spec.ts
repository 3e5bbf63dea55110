// The Store contract against a real PostgreSQL (test/support/postgres.ts: a throwaway cluster, or
// MODELGATE_TEST_DATABASE_URL), plus what only PostgreSQL has: an unreachable server.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open";
import { startTestPostgres, type TestPostgres } from "../support/postgres";
import { describeStoreContract } from "./store.contract";

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

  it("records its schema steps once, however many replicas migrated", async () => {
    const url = await postgres.createDatabase();
    const stores = await Promise.all([openStore(url), openStore(url), openStore(url), openStore(url)]);
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      const pg = (await import("pg")).default;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
        expect(rows.map((r) => r.version)).toEqual([1]);
      } finally {
        await client.end();
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

});
