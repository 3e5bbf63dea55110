// UsageService.ListCalls through a real gateway over a SQLite file with a big ledger: the read
// runs on the store's read worker, so a listing that scans every row of a key (a filter that
// matches nothing) still answers correctly and leaves the gateway serving meanwhile: a Chat call
// and a health check sent once the read has begun answer before it (ordering, not timing;
// in-thread they could only be read off their sockets after the scan). A read past
// store.sqlite.read_timeout_ms reaches the client as DEADLINE_EXCEEDED.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { UsageService } from "../../gen/modelgate/v1/usage_pb";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb";
import { openSqliteStore } from "../../src/store/sqlite/sqlite-store";
import { BIG_LEDGER_T0, fillLedger } from "../support/big-ledger";
import { transportFor } from "./clients";
import { startGateway, type TestGateway } from "./harness";

const keys = { RED_KEY: "sk-red-bigledger-0123456789", BLUE_KEY: "sk-blue-bigledger-0123456789" };
const asKey = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
/** Rows of the key config:red: scanning them all takes hundreds of ms on the read worker. */
const ROWS = 800_000;
const dir = mkdtempSync(join(tmpdir(), "modelgate-big-ledger-"));
const dbPath = join(dir, "gateway.db");
let gw: TestGateway;

const config = (readTimeoutMs: number) => `
auth:
  enabled: true
  keys:
    - { name: red, key: $RED_KEY, team: red }
    - { name: blue, key: $BLUE_KEY, team: blue }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
store: { database_url: "sqlite:${dbPath}", sqlite: { read_timeout_ms: ${readTimeoutMs} } }
`;

beforeAll(async () => {
  const store = openSqliteStore(dbPath);
  await store.migrate();
  await store.close();
  fillLedger(dbPath, ROWS, "config:red");
  gw = await startGateway(config(60_000), keys);
}, 60_000);
afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("ListCalls over a big SQLite ledger", () => {
  const usage = () => createClient(UsageService, transportFor("grpc", gw.url));
  const chat = () => createClient(ChatService, transportFor("grpc", gw.url));

  it("answers a key's newest calls, its own calls first, a page at a time", async () => {
    await chat().chat({ endpoint: "chat", messages: [{ role: "user", content: "hello" }] }, { headers: { ...asKey(keys.RED_KEY).headers, "x-request-id": "red-live" } });
    await gw.gateway.flushLedger();
    const first = await usage().listCalls({ pageSize: 2 }, asKey(keys.RED_KEY));
    expect(first.calls.map((c) => c.requestId)).toEqual(["red-live", `big-${ROWS}`]);
    expect(first.calls[1]).toMatchObject({ keyId: "config:red", endpoint: "chat", status: "ok", promptTokens: 3n, completionTokens: 5n, costUsd: 0.001 });
    expect(timestampDate(first.calls[1]!.time!).getTime()).toBe(BIG_LEDGER_T0 + ROWS);
    const second = await usage().listCalls({ pageSize: 2, pageToken: first.nextPageToken }, asKey(keys.RED_KEY));
    expect(second.calls.map((c) => c.requestId)).toEqual([`big-${ROWS - 1}`, `big-${ROWS - 2}`]);
  });

  it("leaves the gateway serving while a non-admin listing scans every row of its key for a filter that matches nothing", async () => {
    const health = createClient(Health, transportFor("grpc", gw.url));
    const blue = chat();
    // Connections and first-call work out of the way, so what is compared below is the ledger read.
    await health.check({ service: "" });
    await blue.chat({ endpoint: "chat", messages: [{ role: "user", content: "warm" }] }, asKey(keys.BLUE_KEY));
    // The Chat call and the health check are sent once the gateway has begun the listing's read
    // (the gateway runs in this process: its ledger's calls() is watched for that).
    const ledger = gw.gateway.store.ledger;
    const calls = ledger.calls.bind(ledger);
    let readBegun!: () => void;
    const begun = new Promise<void>((resolve) => (readBegun = resolve));
    ledger.calls = (query) => {
      readBegun();
      return calls(query);
    };
    const order: string[] = [];
    const listing = usage()
      .listCalls({ status: "NotFound" }, asKey(keys.RED_KEY))
      .then((page) => {
        order.push("list");
        return page;
      })
      .finally(() => Reflect.deleteProperty(ledger, "calls"));
    await begun;
    const answered = blue.chat({ endpoint: "chat", messages: [{ role: "user", content: "meanwhile" }] }, asKey(keys.BLUE_KEY)).then(() => order.push("chat"));
    const healthy = health.check({ service: "" }).then((res) => {
      order.push("health");
      return res.status;
    });
    const page = await listing;
    await answered;
    expect(await healthy).toBe(HealthCheckResponse_ServingStatus.SERVING);
    // In-thread, the scan would hold the event loop: both would wait behind it.
    expect(order.indexOf("list")).toBe(2);
    expect(page.calls).toEqual([]);
    expect(page.nextPageToken).toBe("");
  });

  it("fails a listing past store.sqlite.read_timeout_ms with DEADLINE_EXCEEDED, then answers again", async () => {
    const strict = await startGateway(config(1), keys);
    try {
      const client = createClient(UsageService, transportFor("grpc", strict.url));
      const err = await client.listCalls({ status: "NotFound" }, asKey(keys.RED_KEY)).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code).toBe(Code.DeadlineExceeded);
      expect(err?.rawMessage).toMatch(/the usage query ran longer than 1 ms \(store\.sqlite\.read_timeout_ms\); narrow the time range or filters/);
    } finally {
      await strict.close();
    }
    // The gateway with a roomy budget was not disturbed.
    expect((await usage().listCalls({ pageSize: 1 }, asKey(keys.BLUE_KEY))).calls).toHaveLength(1);
  });
});
