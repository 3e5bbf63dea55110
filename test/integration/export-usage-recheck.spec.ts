// ExportUsage over a big ledger runs long; its caller is checked again before each chunk, so a
// stored admin key revoked while it reads gets UNAUTHENTICATED and no more of the ledger.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { AdminService } from "../../gen/modelgate/v1/admin_pb";
import { UsageService } from "../../gen/modelgate/v1/usage_pb";
import { openSqliteStore } from "../../src/store/sqlite/sqlite-store";
import { fillLedger } from "../support/big-ledger";
import { transportFor } from "./clients";
import { startGateway, type TestGateway } from "./harness";

const dir = mkdtempSync(join(tmpdir(), "modelgate-export-recheck-"));
const dbPath = join(dir, "ledger.db");
const ROWS = 100_000;
const OPS_KEY = "sk-ops-export-0123456789";
const asKey = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
let gw: TestGateway;

beforeAll(async () => {
  const store = openSqliteStore(dbPath);
  await store.migrate();
  await store.close();
  fillLedger(dbPath, ROWS);
  gw = await startGateway(
    `
auth:
  enabled: true
  keys: [{ name: ops, key: $OPS_KEY, roles: [admin], team: ops }]
store: { database_url: "sqlite:${dbPath}", key_refresh_ms: 50 }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
`,
    { OPS_KEY },
  );
}, 60_000);
afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("ExportUsage re-checks its caller", () => {
  it("a stored admin key revoked mid-export gets UNAUTHENTICATED before the ledger's end", async () => {
    const admin = createClient(AdminService, transportFor("grpc", gw.url));
    const usage = createClient(UsageService, transportFor("grpc", gw.url));
    const made = await admin.createKey({ name: "exporter", team: "ops", roles: ["admin"] }, asKey(OPS_KEY));
    // In this gateway's key cache (it polls every 50 ms) once a call with it gets through.
    await expect.poll(async () => (await usage.getUsage({}, asKey(made.secret)).then(() => "ok", (e: unknown) => ConnectError.from(e).code)), { timeout: 10_000, interval: 50 }).toBe("ok");
    let csv = "";
    let chunks = 0;
    let ended: ConnectError | undefined;
    try {
      for await (const piece of usage.exportUsage({}, asKey(made.secret))) {
        csv += piece.csv;
        chunks += 1;
        if (chunks === 1) {
          // The export waits on this client (flow control) while the key is revoked and the cache sees it.
          await admin.revokeKey({ id: made.key!.id }, asKey(OPS_KEY));
          await expect
            .poll(async () => (await usage.getUsage({}, asKey(made.secret)).then(() => "ok", (e: unknown) => ConnectError.from(e).code)), { timeout: 10_000, interval: 50 })
            .toBe(Code.Unauthenticated);
        }
      }
    } catch (err) {
      ended = ConnectError.from(err);
    }
    expect([ended?.code, ended?.rawMessage]).toEqual([Code.Unauthenticated, "API key revoked"]);
    const lines = csv.split("\n").filter((l) => l !== "").length - 1;
    expect(lines).toBeGreaterThan(0);
    expect(lines).toBeLessThan(ROWS);
  }, 60_000);

  it("a config admin key exports the whole ledger", async () => {
    const usage = createClient(UsageService, transportFor("grpc", gw.url));
    let lines = 0;
    for await (const piece of usage.exportUsage({}, asKey(OPS_KEY))) lines += piece.csv.split("\n").filter((l) => l !== "").length;
    expect(lines - 1).toBe(ROWS);
  }, 60_000);
});
