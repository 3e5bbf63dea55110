// A usage read waits on the store's read worker, which cannot be interrupted: the call itself
// still answers when its deadline passes or the shutdown cuts it, with that code (not after the
// read, and not as a reset stream).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { UsageService } from "../../gen/modelgate/v1/usage_pb";
import type { WorkerReads } from "../../src/store/sqlite/reads";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite/sqlite-store";
import { fillLedger } from "../support/big-ledger";
import { transportFor } from "./clients";
import { eventually, startGateway } from "./harness";

const dir = mkdtempSync(join(tmpdir(), "modelgate-usage-abort-"));
const dbPath = join(dir, "ledger.db");
/** A full aggregate over these takes hundreds of ms on the read worker. */
const ROWS = 600_000;

beforeAll(async () => {
  const store = openSqliteStore(dbPath);
  await store.migrate();
  await store.close();
  fillLedger(dbPath, ROWS);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = `
store: { database_url: "sqlite:${dbPath}" }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
`;
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e: unknown) => ConnectError.from(e),
  );

describe("usage reads and the call's own end", () => {
  it("a read queued behind a slow one answers DEADLINE_EXCEEDED at its deadline, before the slow one ends", async () => {
    const gw = await startGateway(config);
    try {
      const usage = createClient(UsageService, transportFor("grpc", gw.url));
      const order: string[] = [];
      const slow = outcome(usage.getUsage({ groupBy: ["model"] })).then((r) => {
        order.push("slow");
        return r;
      });
      const queued = outcome(usage.listCalls({ pageSize: 1 }, { timeoutMs: 50 })).then((r) => {
        order.push("queued");
        return r;
      });
      const err = await queued;
      expect(err instanceof ConnectError && err.code).toBe(Code.DeadlineExceeded);
      expect(await slow).toBe("ok");
      expect(order).toEqual(["queued", "slow"]);
    } finally {
      await gw.close();
    }
  }, 60_000);

  it("a read cut by the shutdown's end of grace answers UNAVAILABLE", async () => {
    const gw = await startGateway(config);
    const usage = createClient(UsageService, transportFor("grpc", gw.url));
    const running = outcome(usage.getUsage({ groupBy: ["model", "key"] }));
    // Once the read is on the worker, stop the gateway with a grace shorter than the read.
    const reads = (gw.gateway.store as SqliteStore).reads as WorkerReads;
    await eventually(() => reads.pending > 0, 10_000);
    await gw.gateway.shutdown(10);
    const err = await running;
    expect(err instanceof ConnectError && [err.code, err.rawMessage]).toEqual([Code.Unavailable, "the gateway is shutting down"]);
  }, 60_000);

  it("an export whose page waits behind a slow read, cut by the shutdown: UNAVAILABLE, not a short CSV ending OK", async () => {
    const gw = await startGateway(config);
    const usage = createClient(UsageService, transportFor("grpc", gw.url));
    const slow = outcome(usage.getUsage({ groupBy: ["model", "key"] }));
    let csv = "";
    const exported = outcome(
      (async () => {
        for await (const piece of usage.exportUsage({})) csv += piece.csv;
      })(),
    );
    const reads = (gw.gateway.store as SqliteStore).reads as WorkerReads;
    await eventually(() => reads.pending >= 2, 10_000);
    await gw.gateway.shutdown(10);
    for (const err of [await slow, await exported]) {
      expect(err instanceof ConnectError && [err.code, err.rawMessage]).toEqual([Code.Unavailable, "the gateway is shutting down"]);
    }
    expect(csv).toBe("");
  }, 60_000);
});
