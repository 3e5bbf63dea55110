// THE contract of a Store (src/store/types.ts): every backend runs this same suite against a real
// database (store-sqlite.spec.ts, store-postgres.spec.ts). Each test gets a fresh, empty,
// not-yet-migrated database. Expected usage totals come from a small reference implementation
// over the rows the test wrote, and a few hand-computed cases pin that reference down.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConversationItemRecord, ConversationRecord, FeedbackRow, KeyRecord, LedgerRow, CallQuery, Store, StoredResponse, UsageGroup, UsageQuery, UsageSeriesRow, UsageTotalRow } from "../../src/store/types";
import { LedgerWriter } from "../../src/usage/ledger-writer";
import { MAX_FEEDBACK_SCORE } from "../../src/store/feedback-shared";

export interface StoreUnderTest {
  /** A store on a new, empty database; migrate() not yet called. */
  store: Store;
  /** Another store with its own connections on the same database, as a second replica opens it. */
  openAnother(): Promise<Store>;
}

const t0 = Date.parse("2025-03-04T05:06:07.089Z");
const at = (offsetMs: number) => new Date(t0 + offsetMs);
const MINUTE = 60_000;

function keyRecord(id: string, overrides: Partial<KeyRecord> = {}): KeyRecord {
  return {
    id,
    name: `name of ${id}`,
    team: "team-a",
    roles: ["user"],
    endpoints: ["chat"],
    hash: `hash-${id}`.padEnd(64, "0"),
    prefix: `mg_${id}`.slice(0, 10),
    limits: { budgetPeriod: "day" },
    createdAt: at(0),
    updatedAt: at(0),
    ...overrides,
  };
}

let requestSeq = 0;
function ledgerRow(overrides: Partial<LedgerRow> = {}): LedgerRow {
  requestSeq += 1;
  return {
    time: at(0),
    requestId: `req-${requestSeq}`,
    keyId: "key_1",
    team: "team-a",
    endpoint: "chat",
    provider: "openai",
    model: "gpt-4o-mini",
    modelVersion: "",
    target: "primary",
    promptTokens: 10,
    completionTokens: 5,
    cachedPromptTokens: 0,
    reasoningTokens: 0,
    costUsd: 0.25,
    status: "ok",
    latencyMs: 120,
    streamed: false,
    template: "",
    cache: "",
    costSavedUsd: null,
    guardrails: "",
    traceId: "",
    ...overrides,
  };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function connectCode(err: unknown): Code | undefined {
  return err instanceof ConnectError ? err.code : undefined;
}

async function codeOf(promise: Promise<unknown>): Promise<Code | "resolved" | undefined> {
  try {
    await promise;
    return "resolved";
  } catch (err) {
    return connectCode(err);
  }
}

const allGroups: UsageGroup[] = ["key", "team", "endpoint", "target", "model"];
const groupField = { key: "keyId", team: "team", endpoint: "endpoint", target: "target", model: "model" } as const;

function subsets<T>(items: readonly T[]): T[][] {
  return items.reduce<T[][]>((acc, item) => acc.concat(acc.map((s) => [...s, item])), [[]]);
}

/** What totals() must return, computed over the rows in JS (test-side only). */
function expectedTotals(rows: readonly LedgerRow[], query: UsageQuery): UsageTotalRow[] {
  const groups = allGroups.filter((g) => query.groupBy.includes(g));
  const byGroup = new Map<string, UsageTotalRow>();
  for (const row of rows) {
    if (query.start && row.time < query.start) continue;
    if (query.end && row.time >= query.end) continue;
    if (query.team !== undefined && row.team !== query.team) continue;
    if (query.keyId !== undefined && row.keyId !== query.keyId) continue;
    const group = Object.fromEntries(groups.map((g) => [g, row[groupField[g]] ?? ""]));
    const id = JSON.stringify(groups.map((g) => row[groupField[g]] ?? ""));
    const total = byGroup.get(id) ?? {
      group,
      calls: 0,
      promptTokens: 0,
      completionTokens: 0,
      cachedPromptTokens: 0,
      reasoningTokens: 0,
      costUsd: 0,
      unknownCostCalls: 0,
      errorCalls: 0,
      cacheHits: 0,
      costSavedUsd: 0,
    };
    total.calls += 1;
    total.promptTokens += row.promptTokens;
    total.completionTokens += row.completionTokens;
    total.cachedPromptTokens += row.cachedPromptTokens ?? 0;
    total.reasoningTokens += row.reasoningTokens ?? 0;
    if (row.costUsd === null) total.unknownCostCalls += 1;
    else total.costUsd += row.costUsd;
    if (row.status !== "ok") total.errorCalls += 1;
    if (row.cache === "hit" || row.cache === "semantic_hit") total.cacheHits += 1;
    total.costSavedUsd += row.costSavedUsd ?? 0;
    byGroup.set(id, total);
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...byGroup.values()].sort((a, b) => {
    for (const g of groups) {
      const c = cmp(a.group[g] ?? "", b.group[g] ?? "");
      if (c !== 0) return c;
    }
    return 0;
  });
}

/**
 * A varied ledger: 3 keys, 2 teams, 3 endpoints, 3 targets (one "", a call no target answered),
 * 3 models, cached and reasoning tokens, unknown costs, errors, unicode.
 */
function variedRows(): LedgerRow[] {
  const keys = [
    { keyId: "key_1", team: "team-a" },
    { keyId: "key_2", team: "team-a" },
    { keyId: "key_3", team: "équipe-β" },
  ];
  const endpoints = ["chat", "embed", "predict"];
  const models = ["gpt-4o-mini", "claude-3-haiku", "モデル"];
  const targets = ["primary", "backup-β", ""];
  const rows: LedgerRow[] = [];
  for (let i = 0; i < 60; i++) {
    const owner = keys[i % 3];
    if (owner === undefined) throw new Error("unreachable");
    rows.push(
      ledgerRow({
        ...owner,
        time: at(i * MINUTE),
        endpoint: endpoints[(i >> 1) % 3] ?? "chat",
        target: targets[(i >> 3) % 3] ?? "",
        model: models[(i >> 2) % 3] ?? "m",
        promptTokens: i * 3,
        completionTokens: i % 7,
        cachedPromptTokens: i % 3 === 0 ? i * 2 : 0,
        reasoningTokens: i % 7 > 2 ? i % 7 - 2 : 0,
        // Exact binary fractions, so every backend's sum is exact and comparable with toEqual.
        costUsd: i % 5 === 0 ? null : (i % 4) * 0.125,
        status: i % 6 === 0 ? "ResourceExhausted" : i % 11 === 0 ? "Unavailable" : "ok",
        streamed: i % 2 === 0,
      }),
    );
  }
  return rows;
}

export function describeStoreContract(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`Store contract: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: Store;
    const others: Store[] = [];

    beforeEach(async () => {
      subject = await makeStore();
      store = subject.store;
    });
    afterEach(async () => {
      for (const other of others.splice(0)) await other.close();
      await store.close();
    });

    async function another(): Promise<Store> {
      const other = await subject.openAnother();
      others.push(other);
      return other;
    }

    describe("migrate", () => {
      it("creates an empty schema", async () => {
        await store.migrate();
        expect(await store.keys.list({ includeRevoked: true })).toEqual([]);
        expect(await store.ledger.totals({ groupBy: [] })).toEqual([]);
      });

      it("is idempotent: a second run changes nothing and keeps the data", async () => {
        await store.migrate();
        await store.keys.insert(keyRecord("key_1"));
        await store.ledger.append([ledgerRow()]);
        await store.migrate();
        expect(await store.keys.get("key_1")).toEqual(keyRecord("key_1"));
        expect((await store.ledger.totals({ groupBy: [] }))[0]?.calls).toBe(1);
      });

      it("is safe when several replicas migrate the same database at once", async () => {
        const replicas = [store, await another(), await another()];
        await Promise.all(replicas.map((s) => s.migrate()));
        await Promise.all(replicas.map((s) => s.migrate()));
        await replicas[1]?.keys.insert(keyRecord("key_1"));
        for (const replica of replicas) expect((await replica.keys.get("key_1"))?.id).toBe("key_1");
      });
    });

    describe("keys", () => {
      beforeEach(() => store.migrate());

      it("round-trips every field, with millisecond times and unicode", async () => {
        const key = keyRecord("key_round", {
          name: "Ключ für l'équipe 数据 🚀",
          team: "équipe-β",
          roles: ["user", "admin", ""],
          // Characters an array literal must escape: comma, quotes, braces, backslash, NULL-looking.
          endpoints: ["chat", "ml/预测", "a,b", 'say "hi"', "{x}", "back\\slash", "NULL"],
          limits: { rpm: 60, tpm: 100_000, budgetUsd: 49.99, budgetPeriod: "month" },
          createdAt: new Date("2025-01-02T03:04:05.678Z"),
          updatedAt: new Date("2025-01-02T03:04:05.679Z"),
          expiresAt: new Date("2025-02-01T00:00:00.001Z"),
        });
        await store.keys.insert(key);
        const got = await store.keys.get("key_round");
        expect(got).toEqual(key);
        expect(got?.createdAt.getTime()).toBe(key.createdAt.getTime());
        expect(got?.expiresAt?.getTime()).toBe(key.expiresAt?.getTime());
        expect(got).not.toHaveProperty("revokedAt");
      });

      it("round-trips a key with no limits but the period, no roles, no endpoints, already revoked", async () => {
        const key = keyRecord("key_bare", { roles: [], endpoints: [], revokedAt: at(5) });
        await store.keys.insert(key);
        expect(await store.keys.get("key_bare")).toEqual(key);
        expect(await store.keys.findByHash(key.hash)).toEqual(key);
      });

      it("returns undefined for an unknown id or hash", async () => {
        await store.keys.insert(keyRecord("key_1"));
        expect(await store.keys.get("key_nope")).toBeUndefined();
        expect(await store.keys.findByHash("0".repeat(64))).toBeUndefined();
      });

      it("finds a key by its hash", async () => {
        await store.keys.insert(keyRecord("key_1"));
        await store.keys.insert(keyRecord("key_2"));
        expect((await store.keys.findByHash(keyRecord("key_2").hash))?.id).toBe("key_2");
      });

      it("rejects a duplicate id or a duplicate hash with ALREADY_EXISTS, leaving the first key as it was", async () => {
        const first = keyRecord("key_1");
        await store.keys.insert(first);
        expect(await codeOf(store.keys.insert(keyRecord("key_1", { hash: "f".repeat(64) })))).toBe(Code.AlreadyExists);
        expect(await codeOf(store.keys.insert(keyRecord("key_2", { hash: first.hash })))).toBe(Code.AlreadyExists);
        expect(await store.keys.list({ includeRevoked: true })).toEqual([first]);
        expect(await store.keys.findByHash("f".repeat(64))).toBeUndefined();
      });

      it("never stores an invalid time (an invalid expiry must not become 'no expiry')", async () => {
        const bad = keyRecord("key_bad", { expiresAt: new Date(Number.NaN) });
        expect(await codeOf(store.keys.insert(bad))).toBe(Code.InvalidArgument);
        expect(await store.keys.get("key_bad")).toBeUndefined();
      });

      it("lists newest first, filtered by team, with or without revoked keys", async () => {
        await store.keys.insert(keyRecord("key_old", { createdAt: at(1), updatedAt: at(1) }));
        await store.keys.insert(keyRecord("key_new", { createdAt: at(3), updatedAt: at(3) }));
        await store.keys.insert(keyRecord("key_mid", { createdAt: at(2), updatedAt: at(2), team: "team-b" }));
        await store.keys.insert(keyRecord("key_gone", { createdAt: at(4), updatedAt: at(4) }));
        await store.keys.revoke("key_gone", at(10));

        const ids = (keys: KeyRecord[]) => keys.map((k) => k.id);
        expect(ids(await store.keys.list({ includeRevoked: false }))).toEqual(["key_new", "key_mid", "key_old"]);
        expect(ids(await store.keys.list({ includeRevoked: true }))).toEqual(["key_gone", "key_new", "key_mid", "key_old"]);
        expect(ids(await store.keys.list({ team: "team-a", includeRevoked: false }))).toEqual(["key_new", "key_old"]);
        expect(ids(await store.keys.list({ team: "team-a", includeRevoked: true }))).toEqual([
          "key_gone",
          "key_new",
          "key_old",
        ]);
        expect(ids(await store.keys.list({ team: "team-b", includeRevoked: false }))).toEqual(["key_mid"]);
        expect(await store.keys.list({ team: "nobody", includeRevoked: true })).toEqual([]);
      });

      it("orders keys created in the same millisecond by id, newest (largest) first", async () => {
        for (const id of ["key_b", "key_c", "key_a"]) await store.keys.insert(keyRecord(id));
        expect((await store.keys.list({ includeRevoked: true })).map((k) => k.id)).toEqual(["key_c", "key_b", "key_a"]);
      });

      it("rotates: new hash and prefix, new updatedAt, same id; the old hash no longer finds it", async () => {
        const key = keyRecord("key_1", { expiresAt: at(1_000_000) });
        await store.keys.insert(key);
        const rotated = await store.keys.rotate("key_1", "a".repeat(64), "mg_rotated", at(500));
        const expected = { ...key, hash: "a".repeat(64), prefix: "mg_rotated", updatedAt: at(500) };
        expect(rotated).toEqual(expected);
        expect(await store.keys.get("key_1")).toEqual(expected);
        expect(await store.keys.findByHash(key.hash)).toBeUndefined();
        expect((await store.keys.findByHash("a".repeat(64)))?.id).toBe("key_1");
      });

      it("does not rotate an unknown or a revoked key", async () => {
        await store.keys.insert(keyRecord("key_1"));
        await store.keys.revoke("key_1", at(10));
        expect(await store.keys.rotate("key_nope", "a".repeat(64), "mg_x", at(20))).toBeUndefined();
        expect(await store.keys.rotate("key_1", "b".repeat(64), "mg_y", at(20))).toBeUndefined();
        const after = await store.keys.get("key_1");
        expect(after?.hash).toBe(keyRecord("key_1").hash);
        expect(after?.updatedAt).toEqual(at(10));
        expect(await store.keys.findByHash("b".repeat(64))).toBeUndefined();
      });

      it("refuses to rotate onto another key's hash", async () => {
        await store.keys.insert(keyRecord("key_1"));
        await store.keys.insert(keyRecord("key_2"));
        expect(await codeOf(store.keys.rotate("key_1", keyRecord("key_2").hash, "mg_x", at(5)))).toBe(Code.AlreadyExists);
        expect((await store.keys.get("key_1"))?.hash).toBe(keyRecord("key_1").hash);
      });

      it("revokes, idempotently: a second revoke keeps the first time and updatedAt", async () => {
        await store.keys.insert(keyRecord("key_1"));
        const first = await store.keys.revoke("key_1", at(100));
        expect(first).toEqual({ ...keyRecord("key_1"), revokedAt: at(100), updatedAt: at(100) });
        const second = await store.keys.revoke("key_1", at(200));
        expect(second).toEqual(first);
        expect(await store.keys.get("key_1")).toEqual(first);
        // Still found by hash, so authentication can say "revoked" rather than "unknown".
        expect((await store.keys.findByHash(keyRecord("key_1").hash))?.revokedAt).toEqual(at(100));
      });

      it("returns undefined when revoking an unknown key", async () => {
        expect(await store.keys.revoke("key_nope", at(1))).toBeUndefined();
        expect(await store.keys.list({ includeRevoked: true })).toEqual([]);
      });

      it("changedSince: changes at or after the time, oldest change first, including rotations and revocations", async () => {
        await store.keys.insert(keyRecord("key_1", { createdAt: at(10), updatedAt: at(10) }));
        await store.keys.insert(keyRecord("key_2", { createdAt: at(20), updatedAt: at(20) }));
        await store.keys.insert(keyRecord("key_3", { createdAt: at(20), updatedAt: at(20) }));
        await store.keys.insert(keyRecord("key_4", { createdAt: at(30), updatedAt: at(30) }));
        const ids = (keys: KeyRecord[]) => keys.map((k) => k.id);

        expect(ids(await store.keys.changedSince(at(0)))).toEqual(["key_1", "key_2", "key_3", "key_4"]);
        // Inclusive: keys changed in the very millisecond of the watermark come again.
        expect(ids(await store.keys.changedSince(at(20)))).toEqual(["key_2", "key_3", "key_4"]);
        expect(ids(await store.keys.changedSince(at(21)))).toEqual(["key_4"]);
        expect(await store.keys.changedSince(at(31))).toEqual([]);

        await store.keys.revoke("key_1", at(40));
        await store.keys.rotate("key_2", "c".repeat(64), "mg_c", at(50));
        const changed = await store.keys.changedSince(at(31));
        expect(ids(changed)).toEqual(["key_1", "key_2"]);
        expect(changed[0]?.revokedAt).toEqual(at(40));
        expect(changed[1]?.hash).toBe("c".repeat(64));
      });

      it("shows one replica's revocation to another replica's changedSince", async () => {
        const replica = await another();
        await store.keys.insert(keyRecord("key_1"));
        const watermark = at(1);
        await store.keys.revoke("key_1", at(5));
        const seen = await replica.keys.changedSince(watermark);
        expect(seen.map((k) => [k.id, k.revokedAt])).toEqual([["key_1", at(5)]]);
      });
    });

    describe("ledger", () => {
      beforeEach(() => store.migrate());

      it("appending nothing is a no-op", async () => {
        await store.ledger.append([]);
        expect(await collect(store.ledger.rows({}))).toEqual([]);
      });

      it("round-trips every field: null cost, fractional latency, unicode, millisecond time", async () => {
        const rows = [
          ledgerRow({
            time: new Date("2025-06-07T08:09:10.011Z"),
            requestId: "req-ü-1",
            keyId: "jwt:usuário@example.com",
            team: "équipe-β",
            endpoint: "chat/聊天",
            provider: "anthropic",
            model: "claude-3-haiku",
            modelVersion: "",
            promptTokens: 1234,
            completionTokens: 0,
            costUsd: null,
            status: "DeadlineExceeded",
            latencyMs: 12.75,
            streamed: true,
          }),
          ledgerRow({
            time: new Date("2025-06-07T08:09:10.012Z"),
            keyId: "",
            modelVersion: "7",
            endpoint: "predict",
            costUsd: 0.000123,
            promptTokens: 0,
            completionTokens: 9_007_199,
          }),
        ];
        await store.ledger.append(rows);
        const back = await collect(store.ledger.rows({}));
        expect(back).toEqual(rows);
        expect(back[0]?.time.getTime()).toBe(rows[0]?.time.getTime());
        expect(back[0]?.costUsd).toBeNull();
      });

      it("appends a batch all or nothing: one bad row among thousands leaves nothing", async () => {
        await store.ledger.append([ledgerRow({ requestId: "before" })]);
        const batch = Array.from({ length: 2500 }, (_, i) => ledgerRow({ time: at(i) }));
        batch[2400] = ledgerRow({ promptTokens: -1 });
        expect(await codeOf(store.ledger.append(batch))).toBe(Code.InvalidArgument);
        const small = [ledgerRow(), ledgerRow({ costUsd: Number.NaN }), ledgerRow()];
        expect(await codeOf(store.ledger.append(small))).toBe(Code.InvalidArgument);
        const left = await collect(store.ledger.rows({}));
        expect(left.map((r) => r.requestId)).toEqual(["before"]);
        // And the store still takes good batches afterwards.
        await store.ledger.append([ledgerRow({ requestId: "after", time: at(1) })]);
        expect((await collect(store.ledger.rows({}))).map((r) => r.requestId)).toEqual(["before", "after"]);
      });

      it("refuses rows it cannot record faithfully, naming the row and field", async () => {
        const bad: Partial<LedgerRow>[] = [
          { time: new Date(Number.NaN) },
          { promptTokens: 1.5 },
          { completionTokens: -2 },
          { costUsd: -0.01 },
          { costUsd: Number.POSITIVE_INFINITY },
          { latencyMs: Number.NaN },
          { status: "" },
          { endpoint: "x\u0000" }, // PostgreSQL cannot store a NUL in text
          { team: "lone \ud800 surrogate" }, // not encodable as UTF-8: would not come back as written
        ];
        for (const overrides of bad) {
          const err = await store.ledger.append([ledgerRow(), ledgerRow(overrides)]).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(connectCode(err), JSON.stringify(overrides)).toBe(Code.InvalidArgument);
          expect(String(err)).toContain("ledger row 1");
        }
        expect(await collect(store.ledger.rows({}))).toEqual([]);
      });

      it("rows keep cached prompt and reasoning tokens; a row without them reads back with 0", async () => {
        const { cachedPromptTokens: _c, reasoningTokens: _r, ...without } = ledgerRow({ requestId: "u0" });
        await store.ledger.append([ledgerRow({ requestId: "u1", promptTokens: 2048, cachedPromptTokens: 1920, completionTokens: 300, reasoningTokens: 256 }), without]);
        const rows = await collect(store.ledger.rows({}));
        expect(rows.map((r) => [r.requestId, r.cachedPromptTokens, r.reasoningTokens])).toEqual([
          ["u1", 1920, 256],
          ["u0", 0, 0],
        ]);
        await expect(store.ledger.append([ledgerRow({ cachedPromptTokens: -1 })])).rejects.toThrow(/cachedPromptTokens must be a non-negative integer/);
      });

      it("rows keep the target that answered; a row without one reads back with ''", async () => {
        const { target: _none, ...untargeted } = ledgerRow({ requestId: "t0" });
        await store.ledger.append([ledgerRow({ requestId: "t1", target: "backup" }), untargeted]);
        const rows = await collect(store.ledger.rows({}));
        expect(rows.map((r) => [r.requestId, r.target])).toEqual([
          ["t1", "backup"],
          ["t0", ""],
        ]);
      });

      it("rows keep the policy columns (template, cache, cost saved, guardrails); a row without them reads back with '' and null", async () => {
        const { template: _t, cache: _c, costSavedUsd: _s, guardrails: _g, ...plain } = ledgerRow({ requestId: "p0" });
        await store.ledger.append([
          ledgerRow({ requestId: "p1", template: "support-answer@3", cache: "hit", costSavedUsd: 0.000375, guardrails: "input:pii_email:redact,output:deny:block", promptTokens: 0, completionTokens: 0, costUsd: 0 }),
          ledgerRow({ requestId: "p2", template: "", cache: "semantic_hit", costSavedUsd: null }),
          ledgerRow({ requestId: "p3", cache: "miss" }),
          plain,
        ]);
        const rows = await collect(store.ledger.rows({}));
        expect(rows.map((r) => [r.requestId, r.template, r.cache, r.costSavedUsd, r.guardrails])).toEqual([
          ["p1", "support-answer@3", "hit", 0.000375, "input:pii_email:redact,output:deny:block"],
          ["p2", "", "semantic_hit", null, ""],
          ["p3", "", "miss", null, ""],
          ["p0", "", "", null, ""],
        ]);
        for (const bad of [{ cache: "maybe" }, { costSavedUsd: -1 }, { costSavedUsd: Number.NaN }, { template: "t\u0000" }, { guardrails: "\ud800" }] as Partial<LedgerRow>[]) {
          const err = await store.ledger.append([ledgerRow(bad)]).then(() => undefined, (e: unknown) => e);
          expect(connectCode(err), JSON.stringify(bad)).toBe(Code.InvalidArgument);
        }
        expect(await collect(store.ledger.rows({}))).toHaveLength(4);
      });

      it("totals and series count cache hits (exact and semantic) and sum the cost saved", async () => {
        await store.ledger.append([
          ledgerRow({ endpoint: "chat", cache: "hit", costSavedUsd: 0.5, costUsd: 0, promptTokens: 0, completionTokens: 0 }),
          ledgerRow({ endpoint: "chat", cache: "semantic_hit", costSavedUsd: 0.25, costUsd: 0, promptTokens: 0, completionTokens: 0 }),
          ledgerRow({ endpoint: "chat", cache: "hit", costSavedUsd: null, costUsd: 0, promptTokens: 0, completionTokens: 0 }),
          ledgerRow({ endpoint: "chat", cache: "miss", costUsd: 0.125 }),
          ledgerRow({ endpoint: "chat", cache: "bypass", costUsd: 0.125 }),
          ledgerRow({ endpoint: "embed", costUsd: 0.125 }),
        ]);
        const totals = await store.ledger.totals({ groupBy: ["endpoint"] });
        expect(totals.map((t) => [t.group.endpoint, t.calls, t.cacheHits, t.costSavedUsd, t.costUsd])).toEqual([
          ["chat", 5, 3, 0.75, 0.25],
          ["embed", 1, 0, 0, 0.125],
        ]);
        expect(totals).toEqual(expectedTotals(await collect(store.ledger.rows({})), { groupBy: ["endpoint"] }));
        const series = await store.ledger.series({ start: at(-MINUTE), end: at(MINUTE), bucket: "hour", groupBy: [], limit: 10 });
        expect(series.map((p) => [p.calls, p.cacheHits, p.costSavedUsd])).toEqual([[6, 3, 0.75]]);
      });

      it("rows: time order, equal times in insertion order, filtered by range, team and key", async () => {
        await store.ledger.append([
          ledgerRow({ requestId: "c", time: at(30) }),
          ledgerRow({ requestId: "a", time: at(10) }),
          ledgerRow({ requestId: "b1", time: at(20), team: "team-b", keyId: "key_2" }),
        ]);
        await store.ledger.append([
          ledgerRow({ requestId: "b2", time: at(20) }),
          ledgerRow({ requestId: "d", time: at(40), keyId: "key_2" }),
        ]);
        const ids = async (query: Omit<UsageQuery, "groupBy">) =>
          (await collect(store.ledger.rows(query))).map((r) => r.requestId);
        expect(await ids({})).toEqual(["a", "b1", "b2", "c", "d"]);
        expect(await ids({ start: at(20) })).toEqual(["b1", "b2", "c", "d"]);
        expect(await ids({ end: at(30) })).toEqual(["a", "b1", "b2"]);
        expect(await ids({ start: at(20), end: at(40) })).toEqual(["b1", "b2", "c"]);
        expect(await ids({ start: at(20), end: at(20) })).toEqual([]);
        expect(await ids({ team: "team-b" })).toEqual(["b1"]);
        expect(await ids({ keyId: "key_2" })).toEqual(["b1", "d"]);
        expect(await ids({ keyId: "key_2", team: "team-a" })).toEqual(["d"]);
        expect(await ids({ keyId: "nobody" })).toEqual([]);
      });

      it("rows: streams a few thousand rows in order, across pages and equal timestamps", async () => {
        const total = 3_217;
        // Batches written out of time order; many rows share a millisecond (pages break inside them).
        const batches = [2, 0, 1].map((b) =>
          Array.from({ length: Math.ceil(total / 3) }, (_, i) => i * 3 + b)
            .filter((n) => n < total)
            .map((n) => ledgerRow({ requestId: `r${n}`, time: at(Math.floor(n / 7)) })),
        );
        for (const batch of batches) await store.ledger.append(batch);

        let count = 0;
        let previous = Number.NEGATIVE_INFINITY;
        const seen = new Set<string>();
        for await (const row of store.ledger.rows({})) {
          expect(row.time.getTime()).toBeGreaterThanOrEqual(previous);
          previous = row.time.getTime();
          seen.add(row.requestId);
          count += 1;
        }
        expect(count).toBe(total);
        expect(seen.size).toBe(total);
        // Within a millisecond, insertion order: batch "2" was written first.
        const firstMs = (await collect(store.ledger.rows({ end: at(1) }))).map((r) => r.requestId);
        expect(firstMs).toEqual(["r2", "r5", "r0", "r3", "r6", "r1", "r4"]);
        const filtered = await collect(store.ledger.rows({ start: at(100), end: at(300) }));
        expect(filtered.length).toBe(200 * 7);
      });

      it("rows: a consumer that stops early leaves the store usable, however often", async () => {
        await store.ledger.append(Array.from({ length: 1200 }, (_, i) => ledgerRow({ time: at(i) })));
        for (let i = 0; i < 25; i++) {
          for await (const row of store.ledger.rows({})) {
            expect(row.time).toEqual(at(0));
            break;
          }
        }
        await store.ledger.append([ledgerRow({ time: at(5000) })]);
        expect((await store.ledger.totals({ groupBy: [] }))[0]?.calls).toBe(1201);
      });

      it("rows: appends while a stream is being read neither break it nor duplicate rows", async () => {
        await store.ledger.append(Array.from({ length: 1500 }, (_, i) => ledgerRow({ time: at(i) })));
        const seen = new Set<string>();
        let n = 0;
        for await (const row of store.ledger.rows({ end: at(10_000) })) {
          expect(seen.has(row.requestId)).toBe(false);
          seen.add(row.requestId);
          if (++n % 400 === 0) await store.ledger.append([ledgerRow({ time: at(20_000 + n) })]);
        }
        expect(n).toBe(1500);
      });

      it("totals: a hand-computed case with unknown costs and errors", async () => {
        await store.ledger.append([
          ledgerRow({ keyId: "key_1", promptTokens: 10, completionTokens: 1, costUsd: 0.5 }),
          ledgerRow({ keyId: "key_1", promptTokens: 20, completionTokens: 2, costUsd: null }),
          ledgerRow({ keyId: "key_1", promptTokens: 30, completionTokens: 3, costUsd: 0.25, status: "Unavailable" }),
          ledgerRow({ keyId: "key_2", promptTokens: 5, completionTokens: 0, costUsd: null, status: "Canceled" }),
        ]);
        expect(await store.ledger.totals({ groupBy: ["key"] })).toEqual([
          {
            group: { key: "key_1" },
            calls: 3,
            promptTokens: 60,
            completionTokens: 6,
            cachedPromptTokens: 0,
            reasoningTokens: 0,
            costUsd: 0.75,
            unknownCostCalls: 1,
            errorCalls: 1,
            cacheHits: 0,
            costSavedUsd: 0,
          },
          {
            group: { key: "key_2" },
            calls: 1,
            promptTokens: 5,
            completionTokens: 0,
            cachedPromptTokens: 0,
            reasoningTokens: 0,
            costUsd: 0,
            unknownCostCalls: 1,
            errorCalls: 1,
            cacheHits: 0,
            costSavedUsd: 0,
          },
        ]);
        expect(await store.ledger.totals({ groupBy: [] })).toEqual([
          { group: {}, calls: 4, promptTokens: 65, completionTokens: 6, cachedPromptTokens: 0, reasoningTokens: 0, costUsd: 0.75, unknownCostCalls: 2, errorCalls: 2, cacheHits: 0, costSavedUsd: 0 },
        ]);
      });

      it("totals: by target, with cached and reasoning tokens (a row written before them counts as '' and 0)", async () => {
        const { target: _t, cachedPromptTokens: _c, reasoningTokens: _r, ...legacy } = ledgerRow({ promptTokens: 7, completionTokens: 1, costUsd: null });
        await store.ledger.append([
          ledgerRow({ target: "primary", promptTokens: 2048, cachedPromptTokens: 1920, completionTokens: 300, reasoningTokens: 256, costUsd: 0.5 }),
          ledgerRow({ target: "primary", promptTokens: 100, cachedPromptTokens: 0, completionTokens: 50, reasoningTokens: 10, costUsd: 0.25 }),
          ledgerRow({ target: "backup", promptTokens: 1000, cachedPromptTokens: 512, completionTokens: 20, reasoningTokens: 0, costUsd: 0.125 }),
          ledgerRow({ target: "", promptTokens: 0, completionTokens: 0, costUsd: 0, status: "Unavailable" }),
          legacy,
        ]);
        expect(await store.ledger.totals({ groupBy: ["target"] })).toEqual([
          { group: { target: "" }, calls: 2, promptTokens: 7, completionTokens: 1, cachedPromptTokens: 0, reasoningTokens: 0, costUsd: 0, unknownCostCalls: 1, errorCalls: 1, cacheHits: 0, costSavedUsd: 0 },
          { group: { target: "backup" }, calls: 1, promptTokens: 1000, completionTokens: 20, cachedPromptTokens: 512, reasoningTokens: 0, costUsd: 0.125, unknownCostCalls: 0, errorCalls: 0, cacheHits: 0, costSavedUsd: 0 },
          { group: { target: "primary" }, calls: 2, promptTokens: 2148, completionTokens: 350, cachedPromptTokens: 1920, reasoningTokens: 266, costUsd: 0.75, unknownCostCalls: 0, errorCalls: 0, cacheHits: 0, costSavedUsd: 0 },
        ]);
        expect(await store.ledger.totals({ groupBy: ["endpoint", "target"] })).toEqual(
          expectedTotals(await collect(store.ledger.rows({})), { groupBy: ["endpoint", "target"] }),
        );
        const [all] = await store.ledger.totals({ groupBy: [] });
        expect([all?.cachedPromptTokens, all?.reasoningTokens]).toEqual([2432, 266]);
      });

      it("totals: every combination of groups, in group order", async () => {
        const rows = variedRows();
        await store.ledger.append(rows);
        for (const groupBy of subsets(allGroups)) {
          const query = { groupBy };
          expect(await store.ledger.totals(query), `groupBy ${groupBy.join(",")}`).toEqual(expectedTotals(rows, query));
        }
        // The order the caller names the groups in does not matter, nor does naming one twice.
        expect(await store.ledger.totals({ groupBy: ["model", "key", "model"] })).toEqual(
          expectedTotals(rows, { groupBy: ["key", "model"] }),
        );
      });

      it("totals: filtered by team and key, combined with groups", async () => {
        const rows = variedRows();
        await store.ledger.append(rows);
        const queries: UsageQuery[] = [
          { team: "équipe-β", groupBy: ["model"] },
          { keyId: "key_2", groupBy: ["endpoint"] },
          { team: "team-a", keyId: "key_1", groupBy: ["endpoint", "model"] },
          { team: "team-a", keyId: "key_3", groupBy: [] },
          { team: "nobody", groupBy: ["key"] },
        ];
        for (const query of queries) {
          expect(await store.ledger.totals(query), JSON.stringify(query)).toEqual(expectedTotals(rows, query));
        }
      });

      it("totals: the range includes its start and excludes its end", async () => {
        const rows = variedRows();
        await store.ledger.append(rows);
        const queries: UsageQuery[] = [
          { start: at(10 * MINUTE), groupBy: ["team"] },
          { end: at(10 * MINUTE), groupBy: ["team"] },
          { start: at(10 * MINUTE), end: at(20 * MINUTE), groupBy: ["key", "team"] },
          { start: at(10 * MINUTE + 1), end: at(20 * MINUTE + 1), groupBy: [] },
          { start: at(10 * MINUTE), end: at(10 * MINUTE), groupBy: [] },
        ];
        for (const query of queries) {
          expect(await store.ledger.totals(query), JSON.stringify(query)).toEqual(expectedTotals(rows, query));
        }
        const [exact] = await store.ledger.totals({ start: at(10 * MINUTE), end: at(11 * MINUTE), groupBy: [] });
        expect(exact?.calls).toBe(1);
      });

      it("totals: nothing in range gives no rows; an unknown group is INVALID_ARGUMENT", async () => {
        expect(await store.ledger.totals({ groupBy: [] })).toEqual([]);
        await store.ledger.append([ledgerRow()]);
        expect(await store.ledger.totals({ start: at(1), groupBy: ["key"] })).toEqual([]);
        const bogus = ["key", "region"] as unknown as UsageGroup[];
        expect(await codeOf(store.ledger.totals({ groupBy: bogus }))).toBe(Code.InvalidArgument);
        expect(await codeOf(store.ledger.totals({ start: new Date(Number.NaN), groupBy: [] }))).toBe(Code.InvalidArgument);
      });

      describe("series", () => {
        const d = (iso: string) => new Date(iso);
        const point = (bucketStart: string, group: UsageSeriesRow["group"], over: Partial<UsageSeriesRow>): UsageSeriesRow => ({
          bucketStart: d(bucketStart),
          group,
          calls: 1,
          promptTokens: 0,
          completionTokens: 0,
          cachedPromptTokens: 0,
          reasoningTokens: 0,
          costUsd: 0,
          unknownCostCalls: 0,
          errorCalls: 0,
          cacheHits: 0,
          costSavedUsd: 0,
          ...over,
        });
        const seriesRows = () => [
          ledgerRow({ time: d("2026-03-01T23:59:59.999Z"), promptTokens: 10, completionTokens: 5, costUsd: 0.25 }),
          ledgerRow({ time: d("2026-03-02T00:00:00.000Z"), promptTokens: 20, completionTokens: 2, costUsd: null, cachedPromptTokens: 8 }),
          ledgerRow({ time: d("2026-03-02T00:30:00.000Z"), keyId: "key_2", team: "team-b", promptTokens: 1, completionTokens: 1, costUsd: 0.5, status: "Unavailable" }),
          ledgerRow({ time: d("2026-03-02T01:00:00.000Z"), promptTokens: 3, completionTokens: 0, costUsd: 0.125, reasoningTokens: 0 }),
          ledgerRow({ time: d("2026-03-03T12:00:00.000Z"), keyId: "key_2", team: "team-b", promptTokens: 7, completionTokens: 7, costUsd: 1, reasoningTokens: 4 }),
          ledgerRow({ time: d("2026-03-04T00:00:00.000Z"), promptTokens: 99, completionTokens: 99, costUsd: 9 }),
        ];

        it("by hour, hand-computed: buckets start on the UTC hour before start, the end is exclusive, empty hours left out", async () => {
          await store.ledger.append(seriesRows());
          const got = await store.ledger.series({ start: d("2026-03-01T23:30:00.000Z"), end: d("2026-03-02T02:00:00.000Z"), bucket: "hour", groupBy: [], limit: 100 });
          expect(got).toEqual([
            point("2026-03-01T23:00:00.000Z", {}, { promptTokens: 10, completionTokens: 5, costUsd: 0.25 }),
            point("2026-03-02T00:00:00.000Z", {}, { calls: 2, promptTokens: 21, completionTokens: 3, cachedPromptTokens: 8, costUsd: 0.5, unknownCostCalls: 1, errorCalls: 1, cacheHits: 0, costSavedUsd: 0 }),
            point("2026-03-02T01:00:00.000Z", {}, { promptTokens: 3, costUsd: 0.125 }),
          ]);
          // Starting on the bucket edge: the 23:59:59.999 row is before the range.
          const edge = await store.ledger.series({ start: d("2026-03-02T00:00:00.000Z"), end: d("2026-03-02T01:00:00.000Z"), bucket: "hour", groupBy: [], limit: 100 });
          expect(edge.map((p) => [p.bucketStart.toISOString(), p.calls])).toEqual([["2026-03-02T00:00:00.000Z", 2]]);
        });

        it("by day and key, with a team filter and a limit, hand-computed", async () => {
          await store.ledger.append(seriesRows());
          const query = { start: d("2026-03-01T00:00:00.000Z"), end: d("2026-03-04T00:00:00.000Z"), bucket: "day" as const, groupBy: ["key" as const], limit: 100 };
          const byKey = [
            point("2026-03-01T00:00:00.000Z", { key: "key_1" }, { promptTokens: 10, completionTokens: 5, costUsd: 0.25 }),
            point("2026-03-02T00:00:00.000Z", { key: "key_1" }, { calls: 2, promptTokens: 23, completionTokens: 2, cachedPromptTokens: 8, costUsd: 0.125, unknownCostCalls: 1 }),
            point("2026-03-02T00:00:00.000Z", { key: "key_2" }, { promptTokens: 1, completionTokens: 1, costUsd: 0.5, errorCalls: 1, cacheHits: 0, costSavedUsd: 0 }),
            point("2026-03-03T00:00:00.000Z", { key: "key_2" }, { promptTokens: 7, completionTokens: 7, costUsd: 1, reasoningTokens: 4 }),
          ];
          expect(await store.ledger.series(query)).toEqual(byKey);
          expect(await store.ledger.series({ ...query, limit: 2 })).toEqual(byKey.slice(0, 2));
          expect(await store.ledger.series({ ...query, team: "team-b" })).toEqual(byKey.slice(2));
          expect(await store.ledger.series({ ...query, keyId: "key_1", groupBy: ["team", "model"] })).toEqual([
            point("2026-03-01T00:00:00.000Z", { team: "team-a", model: "gpt-4o-mini" }, { promptTokens: 10, completionTokens: 5, costUsd: 0.25 }),
            point("2026-03-02T00:00:00.000Z", { team: "team-a", model: "gpt-4o-mini" }, { calls: 2, promptTokens: 23, completionTokens: 2, cachedPromptTokens: 8, costUsd: 0.125, unknownCostCalls: 1 }),
          ]);
        });

        it("each bucket's totals equal totals() over that bucket's range; bad input is INVALID_ARGUMENT", async () => {
          const rows = variedRows();
          await store.ledger.append(rows);
          const start = at(-MINUTE);
          const end = at(24 * 60 * MINUTE);
          const got = await store.ledger.series({ start, end, bucket: "hour", groupBy: ["team"], limit: 10_000 });
          expect(got.length).toBeGreaterThan(0);
          for (const p of got) {
            const from = new Date(Math.max(p.bucketStart.getTime(), start.getTime()));
            const [total] = await store.ledger.totals({ start: from, end: new Date(p.bucketStart.getTime() + 3_600_000), team: p.group.team!, groupBy: ["team"] });
            const { bucketStart: _b, ...rest } = p;
            expect(rest, p.bucketStart.toISOString()).toEqual(total);
          }
          expect(got.reduce((n, p) => n + p.calls, 0)).toBe(rows.filter((r) => r.time >= start && r.time < end).length);
          const base = { start, end, bucket: "hour" as const, groupBy: [] as UsageGroup[], limit: 10 };
          expect(await codeOf(store.ledger.series({ ...base, bucket: "week" as unknown as "hour" }))).toBe(Code.InvalidArgument);
          expect(await codeOf(store.ledger.series({ ...base, start: new Date(Number.NaN) }))).toBe(Code.InvalidArgument);
          expect(await codeOf(store.ledger.series({ ...base, limit: 0 }))).toBe(Code.InvalidArgument);
          expect(await codeOf(store.ledger.series({ ...base, groupBy: ["region" as UsageGroup] }))).toBe(Code.InvalidArgument);
        });
      });

      it("totals: costs that are not binary fractions still sum to the cent and beyond", async () => {
        await store.ledger.append(Array.from({ length: 1000 }, () => ledgerRow({ costUsd: 0.001 })));
        await store.ledger.append(Array.from({ length: 10 }, () => ledgerRow({ costUsd: 0.1 })));
        const [total] = await store.ledger.totals({ groupBy: [] });
        expect(total?.costUsd).toBeCloseTo(2, 12);
      });

      it("spend: known cost of a key or a team at or after a time", async () => {
        await store.ledger.append([
          ledgerRow({ keyId: "key_1", team: "team-a", time: at(0), costUsd: 1 }),
          ledgerRow({ keyId: "key_1", team: "team-a", time: at(10), costUsd: 0.5 }),
          ledgerRow({ keyId: "key_1", team: "team-a", time: at(20), costUsd: null }),
          ledgerRow({ keyId: "key_2", team: "team-a", time: at(20), costUsd: 0.25 }),
          ledgerRow({ keyId: "key_3", team: "team-b", time: at(20), costUsd: 8 }),
        ]);
        expect(await store.ledger.spend({ keyId: "key_1" }, at(0))).toBe(1.5);
        expect(await store.ledger.spend({ keyId: "key_1" }, at(10))).toBe(0.5);
        expect(await store.ledger.spend({ keyId: "key_1" }, at(11))).toBe(0);
        expect(await store.ledger.spend({ team: "team-a" }, at(0))).toBe(1.75);
        expect(await store.ledger.spend({ team: "team-a" }, at(20))).toBe(0.25);
        expect(await store.ledger.spend({ team: "team-b" }, at(0))).toBe(8);
        expect(await store.ledger.spend({ keyId: "nobody" }, at(0))).toBe(0);
        expect(await store.ledger.spend({ team: "nobody" }, at(0))).toBe(0);
      });

      it("through the ledger writer, a caller's NUL never blocks the ledger: the rows around it land, the NUL replaced", async () => {
        const log = { warn: () => undefined, errors: [] as object[], error(obj: object) { this.errors.push(obj); } };
        const writer = new LedgerWriter(store.ledger, { flushIntervalMs: 10_000, retryInitialMs: 1, log });
        writer.record(ledgerRow({ requestId: "before", time: at(0) }));
        writer.record(ledgerRow({ requestId: "nul", time: at(1), endpoint: "x\u0000", model: "x\u0000", keyId: "jwt:a\u0000b" }));
        writer.record(ledgerRow({ requestId: "after", time: at(2), endpoint: "e".repeat(5_000) }));
        await writer.close(5_000);
        const back = await collect(store.ledger.rows({}));
        expect(back.map((r) => [r.requestId, r.endpoint.length])).toEqual([
          ["before", 4],
          ["nul", 2],
          ["after", 256],
        ]);
        expect(back[1]).toMatchObject({ endpoint: "x\ufffd", model: "x\ufffd", keyId: "jwt:a\ufffdb" });
        expect(back[2]?.endpoint.endsWith("e…")).toBe(true);
        expect(writer.stats()).toMatchObject({ written: 3, sanitized: 2, poisoned: 0, failedAppends: 0 });
        expect(log.errors).toEqual([]);
        // The key's spend is found under the text it was stored as, NUL or not.
        expect(await store.ledger.spend({ keyId: "jwt:a\u0000b" }, at(0))).toBe(0.25);
      });

      it("a usage filter with a NUL, a control character or over 256 characters is INVALID_ARGUMENT", async () => {
        await store.ledger.append([ledgerRow()]);
        for (const filter of [{ keyId: "key\u0000" }, { team: "a\u001b[2J" }, { keyId: "k".repeat(257) }, { team: "\udc00" }]) {
          expect(await codeOf(store.ledger.totals({ ...filter, groupBy: [] })), JSON.stringify(filter)).toBe(Code.InvalidArgument);
          expect(await codeOf(collect(store.ledger.rows(filter))), JSON.stringify(filter)).toBe(Code.InvalidArgument);
        }
        expect((await store.ledger.totals({ keyId: "k".repeat(256), groupBy: [] })).length).toBe(0);
      });

      describe("calls", () => {
        /** What calls() must list (test-side): matching rows, newest first, the later append first among equal times. */
        function expectedCalls(rows: readonly LedgerRow[], query: Omit<CallQuery, "limit" | "before">): LedgerRow[] {
          return rows
            .map((row, index) => ({ row, index }))
            .filter(({ row }) => {
              if (query.start && row.time < query.start) return false;
              if (query.end && row.time >= query.end) return false;
              if (query.endpoint !== undefined && row.endpoint !== query.endpoint) return false;
              if (query.keyId !== undefined && row.keyId !== query.keyId) return false;
              if (query.team !== undefined && row.team !== query.team) return false;
              if (query.requestId !== undefined && row.requestId !== query.requestId) return false;
              if (query.status === "error" && row.status === "ok") return false;
              if (query.status !== undefined && query.status !== "error" && row.status !== query.status) return false;
              return true;
            })
            .sort((a, b) => b.row.time.getTime() - a.row.time.getTime() || b.index - a.index)
            .map(({ row }) => row);
        }

        /** Every page of a listing, following the cursor to the end. */
        async function pages(query: Omit<CallQuery, "before">): Promise<LedgerRow[][]> {
          const out: LedgerRow[][] = [];
          let before: CallQuery["before"];
          for (let i = 0; i < 1_000; i++) {
            const page = await store.ledger.calls({ ...query, ...(before && { before }) });
            expect(page.calls.length).toBeLessThanOrEqual(query.limit);
            out.push(page.calls);
            if (!page.next) return out;
            expect(page.calls.length).toBe(query.limit);
            before = page.next;
          }
          throw new Error("calls(): the cursor never reached the end");
        }

        /** variedRows plus bursts of calls in the same millisecond (ties broken by insertion order). */
        function listedRows(): LedgerRow[] {
          const rows: LedgerRow[] = variedRows().map((row, i) => ({ ...row, traceId: i % 4 === 0 ? "" : (i * 7919).toString(16).padStart(32, "0") }));
          for (let i = 0; i < 12; i++) rows.push(ledgerRow({ time: at(30 * MINUTE), requestId: `tie-${i}`, endpoint: i % 2 === 0 ? "chat" : "embed" }));
          return rows;
        }

        it("lists newest first (equal times: the later append first) across pages of every size; the last page has no cursor", async () => {
          const rows = listedRows();
          // Two appends, so that equal times span batches too.
          await store.ledger.append(rows.slice(0, 40));
          await store.ledger.append(rows.slice(40));
          const expected = expectedCalls(rows, {});
          for (const limit of [1, 7, 12, 71, 72, 500]) {
            const got = await pages({ limit });
            expect(got.flat(), `limit ${limit}`).toEqual(expected);
            expect(got.length, `limit ${limit}`).toBe(Math.max(1, Math.ceil(expected.length / limit)));
          }
          expect(await store.ledger.calls({ limit: 5, end: at(-1) })).toEqual({ calls: [] });
        });

        it("filters by range, endpoint, key, team, status (ok, error, a code name) and request id, alone and combined", async () => {
          const rows = listedRows();
          await store.ledger.append(rows);
          const queries: Omit<CallQuery, "limit" | "before">[] = [
            { endpoint: "chat" },
            { endpoint: "embed", start: at(10 * MINUTE), end: at(40 * MINUTE) },
            { keyId: "key_2" },
            { team: "équipe-β" },
            { status: "ok" },
            { status: "error" },
            { status: "ResourceExhausted", team: "team-a" },
            { requestId: "tie-3" },
            { requestId: "no-such-request" },
            { endpoint: "chat", keyId: "key_1", status: "error" },
            { endpoint: "predict", team: "team-a", start: at(5 * MINUTE), status: "ok" },
          ];
          for (const query of queries) {
            const expected = expectedCalls(rows, query);
            expect((await pages({ ...query, limit: 4 })).flat(), JSON.stringify(query)).toEqual(expected);
          }
          // Every filter narrows something: the cases above are not all-or-nothing by accident.
          expect(expectedCalls(rows, { status: "error" }).length).toBeGreaterThan(5);
          expect(expectedCalls(rows, { endpoint: "chat", keyId: "key_1", status: "error" }).length).toBeGreaterThan(0);
        });

        it("keeps each call's trace id; a row written without one reads back with ''", async () => {
          const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
          const { traceId: _omitted, ...withoutTrace } = ledgerRow({ requestId: "no-trace", time: at(1) });
          await store.ledger.append([ledgerRow({ requestId: "traced", traceId, time: at(2) }), withoutTrace]);
          const got = await store.ledger.calls({ limit: 10 });
          expect(got.calls.map((c) => [c.requestId, c.traceId])).toEqual([
            ["traced", traceId],
            ["no-trace", ""],
          ]);
          expect((await collect(store.ledger.rows({}))).map((r) => r.traceId)).toEqual(["", traceId]);
          // Only lowercase hex of the W3C length, or "": anything else is refused, not stored.
          for (const bad of ["4BF92F3577B34DA6A3CE929D0E0E4736", "abc", `${traceId}0`, "\u0000".repeat(32)]) {
            expect(await codeOf(store.ledger.append([ledgerRow({ traceId: bad })])), bad).toBe(Code.InvalidArgument);
          }
        });

        it("a page already read does not move when newer calls arrive: the cursor continues where it was", async () => {
          const rows = Array.from({ length: 10 }, (_, i) => ledgerRow({ time: at(i * MINUTE), requestId: `old-${i}` }));
          await store.ledger.append(rows);
          const first = await store.ledger.calls({ limit: 4 });
          await store.ledger.append([ledgerRow({ time: at(100 * MINUTE), requestId: "newer" }), ledgerRow({ time: at(5 * MINUTE), requestId: "same-time-later" })]);
          const second = await store.ledger.calls({ limit: 4, ...(first.next && { before: first.next }) });
          expect(first.calls.map((c) => c.requestId)).toEqual(["old-9", "old-8", "old-7", "old-6"]);
          // "same-time-later" was appended after old-5 at the same time: newer by insertion, so it
          // belongs before old-5 in the listing; it lands in the page after the cursor.
          expect(second.calls.map((c) => c.requestId)).toEqual(["same-time-later", "old-5", "old-4", "old-3"]);
        });

        it("refuses a limit outside 1 to 500, a bad cursor and bad filter text with INVALID_ARGUMENT", async () => {
          await store.ledger.append([ledgerRow()]);
          for (const limit of [0, -1, 501, 1.5, Number.NaN]) {
            expect(await codeOf(store.ledger.calls({ limit })), String(limit)).toBe(Code.InvalidArgument);
          }
          expect((await store.ledger.calls({ limit: 500 })).calls.length).toBe(1);
          for (const before of [
            { time: new Date(Number.NaN), id: "1" },
            { time: at(0), id: "-1" },
            { time: at(0), id: "1; DROP TABLE usage_ledger" },
            { time: at(0), id: "9".repeat(20) },
          ]) {
            expect(await codeOf(store.ledger.calls({ limit: 5, before })), JSON.stringify(before.id)).toBe(Code.InvalidArgument);
          }
          for (const filter of [{ endpoint: "e\u0000" }, { requestId: "r".repeat(257) }, { status: "\u001b[2J" }, { keyId: "\udc00" }]) {
            expect(await codeOf(store.ledger.calls({ ...filter, limit: 5 })), JSON.stringify(filter)).toBe(Code.InvalidArgument);
          }
          expect((await store.ledger.calls({ limit: 5 })).calls.length).toBe(1);
        });
      });

      it("two replicas appending at once lose no row", async () => {
        const replica = await another();
        const writes: Promise<void>[] = [];
        for (let i = 0; i < 20; i++) {
          const target = i % 2 === 0 ? store : replica;
          writes.push(target.ledger.append(Array.from({ length: 50 }, (_, j) => ledgerRow({ time: at(i * 50 + j) }))));
        }
        await Promise.all(writes);
        expect((await replica.ledger.totals({ groupBy: [] }))[0]?.calls).toBe(1000);
        expect((await collect(store.ledger.rows({}))).length).toBe(1000);
      });
    });

    describe("feedback", () => {
      function feedbackRow(overrides: Partial<FeedbackRow> = {}): FeedbackRow {
        return {
          time: at(0),
          requestId: "req-f",
          endpoint: "chat",
          target: "stable",
          model: "gpt-4o-mini",
          modelVersion: "",
          keyId: "key_1",
          team: "team-a",
          postedBy: "key_1",
          name: "thumbs",
          score: 1,
          label: null,
          ...overrides,
        };
      }

      beforeEach(() => store.migrate());

      it("finds an answered call by its request id in the ledger (the latest ok row), not a failed or unknown one", async () => {
        await store.ledger.append([
          ledgerRow({ requestId: "req-a", time: at(0), target: "old", keyId: "key_1", team: "team-a" }),
          ledgerRow({ requestId: "req-a", time: at(MINUTE), target: "canary", model: "m2", modelVersion: "3", keyId: "key_2", team: "team-b" }),
          ledgerRow({ requestId: "req-failed", status: "Unavailable" }),
        ]);
        expect(await store.feedback.findCall("req-a")).toEqual({
          endpoint: "chat",
          target: "canary",
          model: "m2",
          modelVersion: "3",
          keyId: "key_2",
          team: "team-b",
        });
        expect(await store.feedback.findCall("req-failed")).toBeUndefined();
        expect(await store.feedback.findCall("no-such-request")).toBeUndefined();
        expect(await store.feedback.findCall("\u0000" + "x".repeat(500))).toBeUndefined();
      });

      it("sums feedback per endpoint, name, target and model version: counts, scores, labels (most frequent first)", async () => {
        const rows: FeedbackRow[] = [
          feedbackRow({ target: "stable", score: 1, label: "helpful" }),
          feedbackRow({ target: "stable", score: 0.5, label: "helpful" }),
          feedbackRow({ target: "stable", score: null, label: "wrong" }),
          feedbackRow({ target: "canary", score: 0 }),
          feedbackRow({ target: "canary", score: 0.25, label: "wrong" }),
          feedbackRow({ target: "canary", modelVersion: "2", score: 1 }),
          feedbackRow({ target: "canary", name: "accuracy", score: 0.75 }),
          feedbackRow({ endpoint: "embed", target: "e1", score: null, label: "b" }),
          feedbackRow({ endpoint: "embed", target: "e1", score: null, label: "a" }),
        ];
        for (const row of rows) await store.feedback.append([row]);
        const arms = await store.feedback.summary({ limit: 100 });
        expect(arms).toEqual([
          { endpoint: "chat", name: "accuracy", target: "canary", modelVersion: "", count: 1, scored: 1, scoreSum: 0.75, labels: [] },
          { endpoint: "chat", name: "thumbs", target: "canary", modelVersion: "", count: 2, scored: 2, scoreSum: 0.25, labels: [{ label: "wrong", count: 1 }] },
          { endpoint: "chat", name: "thumbs", target: "canary", modelVersion: "2", count: 1, scored: 1, scoreSum: 1, labels: [] },
          {
            endpoint: "chat",
            name: "thumbs",
            target: "stable",
            modelVersion: "",
            count: 3,
            scored: 2,
            scoreSum: 1.5,
            labels: [
              { label: "helpful", count: 2 },
              { label: "wrong", count: 1 },
            ],
          },
          {
            endpoint: "embed",
            name: "thumbs",
            target: "e1",
            modelVersion: "",
            count: 2,
            scored: 0,
            scoreSum: 0,
            labels: [
              { label: "a", count: 1 },
              { label: "b", count: 1 },
            ],
          },
        ]);
        expect((await store.feedback.summary({ endpoint: "embed", limit: 100 })).map((a) => a.target)).toEqual(["e1"]);
        expect((await store.feedback.summary({ name: "accuracy", limit: 100 })).map((a) => a.scoreSum)).toEqual([0.75]);
        expect((await store.feedback.summary({ limit: 2 })).length).toBe(2);
      });

      it("counts a call's earlier feedback: in all, and scores of one name", async () => {
        expect(await store.feedback.priorFeedback("req-f", "thumbs")).toEqual({ total: 0, scoredSameName: 0 });
        await store.feedback.append([feedbackRow({ score: null, label: "wrong" })]);
        expect(await store.feedback.priorFeedback("req-f", "thumbs")).toEqual({ total: 1, scoredSameName: 0 });
        await store.feedback.append([feedbackRow({ score: 0 })]);
        await store.feedback.append([feedbackRow({ name: "accuracy", score: 0.5 })]);
        await store.feedback.append([feedbackRow({ requestId: "req-other", score: 1 })]);
        expect(await store.feedback.priorFeedback("req-f", "thumbs")).toEqual({ total: 3, scoredSameName: 1 });
        expect(await store.feedback.priorFeedback("req-f", "relevance")).toEqual({ total: 3, scoredSameName: 0 });
        expect(await store.feedback.priorFeedback("req-none", "thumbs")).toEqual({ total: 0, scoredSameName: 0 });
      });

      it("a summary covers [start, end)", async () => {
        for (const [i, offset] of [0, MINUTE, 2 * MINUTE].entries()) await store.feedback.append([feedbackRow({ time: at(offset), score: i })]);
        const sum = async (q: { start?: Date; end?: Date }) => (await store.feedback.summary({ ...q, limit: 10 }))[0]?.scoreSum;
        expect(await sum({ start: at(MINUTE) })).toBe(3);
        expect(await sum({ end: at(MINUTE) })).toBe(0);
        expect(await sum({ start: at(MINUTE), end: at(2 * MINUTE) })).toBe(1);
        expect(await store.feedback.summary({ start: at(3 * MINUTE), limit: 10 })).toEqual([]);
      });

      it("keeps text as the ledger does (cleaned, bounded); refuses a non-finite score and a bad filter", async () => {
        await store.feedback.append([feedbackRow({ endpoint: "chat\u0000x", target: "t".repeat(300) })]);
        const [arm] = await store.feedback.summary({ limit: 10 });
        expect(arm?.endpoint).toBe("chat\ufffdx");
        expect(arm?.target.length).toBe(256);
        expect(await codeOf(store.feedback.append([feedbackRow({ score: Number.NaN })]))).toBe(Code.InvalidArgument);
        expect(await codeOf(store.feedback.append([feedbackRow({ score: Number.POSITIVE_INFINITY })]))).toBe(Code.InvalidArgument);
        // Finite but past the bound: a few of them would sum to Infinity.
        expect(await codeOf(store.feedback.append([feedbackRow({ score: 1.7e308 })]))).toBe(Code.InvalidArgument);
        expect(await codeOf(store.feedback.append([feedbackRow({ score: -MAX_FEEDBACK_SCORE - 1 })]))).toBe(Code.InvalidArgument);
        expect(await codeOf(store.feedback.summary({ endpoint: "a\u0000", limit: 10 }))).toBe(Code.InvalidArgument);
        expect(await codeOf(store.feedback.summary({ limit: 0 }))).toBe(Code.InvalidArgument);
      });

      it("appends a batch in one transaction: all rows, or none when one is refused", async () => {
        await store.feedback.append(Array.from({ length: 500 }, (_, i) => feedbackRow({ requestId: `req-${i}`, score: i % 2 })));
        expect((await store.feedback.summary({ limit: 10 }))[0]).toMatchObject({ count: 500, scored: 500, scoreSum: 250 });
        await store.feedback.append([]);
        expect(await codeOf(store.feedback.append([feedbackRow({ requestId: "req-x" }), feedbackRow({ score: Number.NaN })]))).toBe(Code.InvalidArgument);
        expect(await store.feedback.priorFeedback("req-x", "thumbs")).toEqual({ total: 0, scoredSameName: 0 });
        expect((await store.feedback.summary({ limit: 10 }))[0]?.count).toBe(500);
      });

      it("sums scores at the bound exactly, either sign", async () => {
        await store.feedback.append([feedbackRow({ requestId: "max-1", score: MAX_FEEDBACK_SCORE }), feedbackRow({ requestId: "max-2", score: MAX_FEEDBACK_SCORE }), feedbackRow({ requestId: "min-1", score: -MAX_FEEDBACK_SCORE })]);
        expect((await store.feedback.summary({ limit: 10 }))[0]).toMatchObject({ count: 3, scored: 3, scoreSum: MAX_FEEDBACK_SCORE });
      });

      it("another replica sees the feedback at once", async () => {
        const replica = await another();
        await replica.feedback.append([feedbackRow({ score: 0.5 })]);
        expect((await store.feedback.summary({ limit: 10 }))[0]).toMatchObject({ count: 1, scoreSum: 0.5 });
      });
    });

    describe("responses", () => {
      let responseSeq = 0;
      function storedResponse(overrides: Partial<StoredResponse> = {}): StoredResponse {
        responseSeq += 1;
        return {
          id: `resp_req-${responseSeq}`,
          keyId: "key_1",
          team: "team-a",
          endpoint: "chat",
          createdAt: at(0),
          expiresAt: at(30 * MINUTE),
          response: JSON.stringify({ id: `resp_req-${responseSeq}`, object: "response", output: [{ type: "message", content: "hi" }] }),
          items: JSON.stringify([{ id: "msg_1", type: "message", role: "user", content: "hello" }]),
          inputCount: 1,
          ...overrides,
        };
      }

      beforeEach(() => store.migrate());

      it("gives back every field as it was put: times to the ms, multi-MB items, unicode, emoji and NUL", async () => {
        // ~6 MB of items: one conversation's worth, with every kind of character in it.
        const chunk = `{"type":"message","text":"héllo wörld \u4e16\u754c 😀🎉 \u0000 nul \\u0000 escaped, \u2028 sep \uFFFD"},`;
        const items = `[${chunk.repeat(Math.ceil((6 * 1024 * 1024) / chunk.length))}{}]`;
        const row = storedResponse({
          id: "resp_req-ünïcode-😀",
          keyId: "key_ü",
          team: "team-😀",
          endpoint: "chat-ß",
          createdAt: new Date(t0 + 1),
          expiresAt: new Date(t0 + 7 * 24 * 60 * MINUTE + 999),
          response: '{"id":"resp_1","output_text":"NUL:\u0000 then emoji 😀 and \u00e9"}\u0000',
          items,
          inputCount: 12_345,
        });
        expect(items.length).toBeGreaterThan(6 * 1024 * 1024);
        await store.responses.put([row]);
        const got = await store.responses.get(row.id, at(0));
        expect(got).toBeDefined();
        // Compared field by field: a 6 MB diff would bury the report.
        expect(got?.items.length).toBe(items.length);
        expect(got?.items === items).toBe(true);
        expect({ ...got, items: undefined }).toEqual({ ...row, items: undefined });
        expect(got?.createdAt.getTime()).toBe(t0 + 1);
        expect(got?.expiresAt.getTime()).toBe(row.expiresAt.getTime());
        expect(got?.response).toContain("\u0000");
      });

      it("answers undefined for a missing id, and for any id it could not have stored", async () => {
        await store.responses.put([storedResponse({ id: "resp_present" })]);
        expect(await store.responses.get("resp_missing", at(0))).toBeUndefined();
        expect(await store.responses.get("", at(0))).toBeUndefined();
        expect(await store.responses.get("resp_\u0000", at(0))).toBeUndefined();
        expect(await store.responses.get("resp_\ud800", at(0))).toBeUndefined();
        expect(await store.responses.get("r".repeat(1_000_000), at(0))).toBeUndefined();
        expect((await store.responses.get("resp_present", at(0)))?.id).toBe("resp_present");
      });

      it("hides a response at and after its expiry, and shows one not yet expired", async () => {
        await store.responses.put([
          storedResponse({ id: "resp_old", expiresAt: at(MINUTE) }),
          storedResponse({ id: "resp_new", expiresAt: at(MINUTE + 1) }),
        ]);
        expect((await store.responses.get("resp_old", at(MINUTE - 1)))?.id).toBe("resp_old");
        expect(await store.responses.get("resp_old", at(MINUTE))).toBeUndefined();
        expect(await store.responses.get("resp_old", at(2 * MINUTE))).toBeUndefined();
        expect((await store.responses.get("resp_new", at(MINUTE)))?.id).toBe("resp_new");
        expect(await store.responses.get("resp_new", at(MINUTE + 1))).toBeUndefined();
      });

      it("replaces a response put again under its id", async () => {
        await store.responses.put([storedResponse({ id: "resp_x", response: '"first"', inputCount: 1 })]);
        const second = storedResponse({ id: "resp_x", keyId: "key_2", team: "team-b", endpoint: "embed", createdAt: at(5), expiresAt: at(MINUTE), response: '"second"', items: "[]", inputCount: 0 });
        await store.responses.put([second]);
        expect(await store.responses.get("resp_x", at(0))).toEqual(second);
        // The same id twice in one put: the last row is kept.
        await store.responses.put([storedResponse({ id: "resp_y", response: '"a"' }), storedResponse({ id: "resp_y", response: '"b"' })]);
        expect((await store.responses.get("resp_y", at(0)))?.response).toBe('"b"');
      });

      it("deletes a response; deleting a missing one is fine", async () => {
        await store.responses.put([storedResponse({ id: "resp_a" }), storedResponse({ id: "resp_b" })]);
        await store.responses.delete("resp_a");
        expect(await store.responses.get("resp_a", at(0))).toBeUndefined();
        expect((await store.responses.get("resp_b", at(0)))?.id).toBe("resp_b");
        await store.responses.delete("resp_a");
        await store.responses.delete("resp_never");
        await store.responses.delete("resp_\u0000");
        await store.responses.delete("r".repeat(1_000_000));
        expect((await store.responses.get("resp_b", at(0)))?.id).toBe("resp_b");
      });

      it("purges only expired responses, at most `limit` at a time, and counts them", async () => {
        const expired = Array.from({ length: 5 }, (_, i) => storedResponse({ id: `resp_expired-${i}`, expiresAt: at(i * MINUTE) }));
        const live = Array.from({ length: 3 }, (_, i) => storedResponse({ id: `resp_live-${i}`, expiresAt: at(10 * MINUTE + i) }));
        await store.responses.put([...expired, ...live]);
        const now = at(4 * MINUTE); // the 5th expires exactly now: expired too
        expect(await store.responses.purgeExpired(now, 2)).toBe(2);
        expect(await store.responses.purgeExpired(now, 2)).toBe(2);
        expect(await store.responses.purgeExpired(now, 2)).toBe(1);
        expect(await store.responses.purgeExpired(now, 2)).toBe(0);
        for (const row of live) expect((await store.responses.get(row.id, now))?.id).toBe(row.id);
        // Gone from the table, not only hidden: an earlier `now` does not bring them back.
        for (const row of expired) expect(await store.responses.get(row.id, at(-MINUTE))).toBeUndefined();
        expect(await store.responses.purgeExpired(at(60 * MINUTE), 100)).toBe(3);
        expect(await codeOf(store.responses.purgeExpired(now, 0))).toBe(Code.InvalidArgument);
        expect(await codeOf(store.responses.purgeExpired(now, 1.5))).toBe(Code.InvalidArgument);
        expect(await codeOf(store.responses.purgeExpired(new Date(Number.NaN), 1))).toBe(Code.InvalidArgument);
      });

      it("deletes every response of one key, or of one team, expired or not, and counts them", async () => {
        await store.responses.put([
          storedResponse({ id: "resp_k1-a", keyId: "key_1", team: "team-a" }),
          storedResponse({ id: "resp_k1-b", keyId: "key_1", team: "team-a", expiresAt: at(-MINUTE) }),
          storedResponse({ id: "resp_k2", keyId: "key_2", team: "team-a" }),
          storedResponse({ id: "resp_k3", keyId: "key_3", team: "team-b" }),
          storedResponse({ id: "resp_solo", keyId: "key_4", team: "" }),
        ]);
        expect(await store.responses.deleteOwned({ keyId: "key_1" })).toBe(2);
        expect((await store.responses.get("resp_k2", at(0)))?.id).toBe("resp_k2");
        expect(await store.responses.deleteOwned({ team: "team-a" })).toBe(1);
        expect(await store.responses.get("resp_k2", at(0))).toBeUndefined();
        expect((await store.responses.get("resp_k3", at(0)))?.id).toBe("resp_k3");
        // Nothing owned: 0, also for owners no row could have (a NUL, a huge id).
        expect(await store.responses.deleteOwned({ keyId: "key_nobody" })).toBe(0);
        expect(await store.responses.deleteOwned({ team: "x\u0000" })).toBe(0);
        expect(await store.responses.deleteOwned({ keyId: "k".repeat(1_000_000) })).toBe(0);
        expect((await store.responses.get("resp_solo", at(0)))?.id).toBe("resp_solo");
        expect((await store.responses.get("resp_k3", at(0)))?.id).toBe("resp_k3");
      });

      it("puts a batch of rows in one transaction: all, or none when one is refused", async () => {
        // 250 rows: more than one INSERT's worth for PostgreSQL.
        const rows = Array.from({ length: 250 }, (_, i) => storedResponse({ id: `resp_batch-${i}`, inputCount: i }));
        await store.responses.put(rows);
        for (const row of rows) expect(await store.responses.get(row.id, at(0))).toEqual(row);
        await store.responses.put([]);
        const refused = [storedResponse({ id: "resp_ok" }), storedResponse({ id: "resp_bad", createdAt: new Date(Number.NaN) })];
        expect(await codeOf(store.responses.put(refused))).toBe(Code.InvalidArgument);
        expect(await store.responses.get("resp_ok", at(0))).toBeUndefined();
      });

      it("refuses a row it could not give back as it was (INVALID_ARGUMENT), and keeps working", async () => {
        const bad: Partial<StoredResponse>[] = [
          { id: "resp_\u0000nul" },
          { id: "r".repeat(1_000_000) },
          { keyId: "k".repeat(100_000) },
          { team: "t\u0000" },
          { endpoint: "e\udc00" },
          { response: "lone \ud83d surrogate" },
          { items: "\udfff" },
          { inputCount: -1 },
          { inputCount: 1.5 },
          { inputCount: 2 ** 31 },
          { expiresAt: new Date(Number.NaN) },
          { createdAt: new Date("-100000-01-01T00:00:00Z") },
          { expiresAt: new Date("+100000-01-01T00:00:00Z") },
        ];
        for (const overrides of bad) {
          expect(await codeOf(store.responses.put([storedResponse(overrides)])), JSON.stringify(overrides).slice(0, 80)).toBe(Code.InvalidArgument);
        }
        const fine = storedResponse({ id: "resp_fine" });
        await store.responses.put([fine]);
        expect(await store.responses.get("resp_fine", at(0))).toEqual(fine);
      });

      it("many puts at once each land (the SQLite store writes them together)", async () => {
        const rows = Array.from({ length: 40 }, (_, i) => storedResponse({ id: `resp_many-${i}`, items: `["${"x".repeat(i * 1000)}"]` }));
        await Promise.all(rows.map((row) => store.responses.put([row])));
        for (const row of rows) expect(await store.responses.get(row.id, at(0))).toEqual(row);
      });

      it("another replica sees a put once it resolved, and the delete and purge of another", async () => {
        const replica = await another();
        const row = storedResponse({ id: "resp_shared" });
        await store.responses.put([row]);
        expect(await replica.responses.get("resp_shared", at(0))).toEqual(row);
        await replica.responses.put([storedResponse({ id: "resp_from-replica", expiresAt: at(MINUTE) })]);
        expect((await store.responses.get("resp_from-replica", at(0)))?.id).toBe("resp_from-replica");
        await replica.responses.delete("resp_shared");
        expect(await store.responses.get("resp_shared", at(0))).toBeUndefined();
        expect(await replica.responses.purgeExpired(at(MINUTE), 10)).toBe(1);
        expect(await store.responses.get("resp_from-replica", at(0))).toBeUndefined();
      });
    });

    describe("conversations", () => {
      let conversationSeq = 0;
      function conversation(overrides: Partial<ConversationRecord> = {}): ConversationRecord {
        conversationSeq += 1;
        return { id: `conv_${conversationSeq}`, keyId: "key_1", team: "team-a", createdAt: at(0), metadata: "{}", ...overrides };
      }
      const item = (itemId: string, text = `text of ${itemId}`): ConversationItemRecord => ({
        itemId,
        item: JSON.stringify({ id: itemId, type: "message", role: "user", content: [{ type: "input_text", text }] }),
      });
      const items = (prefix: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => item(`${prefix}_${from + i}`));
      const ids = (list: readonly ConversationItemRecord[] | undefined) => list?.map((i) => i.itemId);
      const page = async (id: string, order: "asc" | "desc", limit: number, after?: string) => {
        const got = await store.conversations.items(id, { order, limit, ...(after !== undefined && { after }) });
        return got && { ids: ids(got.items), hasMore: got.hasMore };
      };

      beforeEach(() => store.migrate());

      it("gives back a conversation and its items as they were made: order, multi-MB item, unicode, emoji and NUL", async () => {
        const chunk = `{"type":"message","text":"héllo wörld \u4e16\u754c 😀🎉 \u0000 nul \\u0000 escaped, \u2028 sep \uFFFD"},`;
        const big = `[${chunk.repeat(Math.ceil((3 * 1024 * 1024) / chunk.length))}{}]`;
        const conv = conversation({ id: "conv_ünïcode-😀", keyId: "key_ü", team: "team-😀", createdAt: new Date(t0 + 1), metadata: '{"topic":"NUL:\u0000 😀 é"}' });
        const first = [item("msg_b"), { itemId: "msg_big-ü", item: big }, item("fc_a", "emoji 😀 and NUL \u0000"), item("msg_a")];
        await store.conversations.create(conv, first);
        expect(await store.conversations.get(conv.id)).toEqual(conv);
        const all = await store.conversations.allItems(conv.id, 100 * 1024 * 1024);
        expect(ids(all)).toEqual(["msg_b", "msg_big-ü", "fc_a", "msg_a"]);
        // Compared item by item: a multi-MB diff would bury the report.
        all?.forEach((got, i) => expect(got.item === first[i]?.item, got.itemId).toBe(true));
        const listed = await store.conversations.items(conv.id, { order: "asc", limit: 100 });
        expect(listed?.hasMore).toBe(false);
        listed?.items.forEach((got, i) => expect(got.item === first[i]?.item, got.itemId).toBe(true));
        expect((await store.conversations.getItem(conv.id, "msg_big-ü"))?.item === big).toBe(true);
        expect(await store.conversations.getItem(conv.id, "fc_a")).toEqual(first[2]);
        // A conversation made without items has none.
        const empty = conversation();
        await store.conversations.create(empty, []);
        expect(await store.conversations.get(empty.id)).toEqual(empty);
        expect(await store.conversations.allItems(empty.id, 0)).toEqual([]);
        expect(await store.conversations.items(empty.id, { order: "desc", limit: 1 })).toEqual({ items: [], hasMore: false });
      });

      it("refuses a second conversation with a taken id (ALREADY_EXISTS), and one whose items share an id (INVALID_ARGUMENT)", async () => {
        const conv = conversation({ id: "conv_taken" });
        await store.conversations.create(conv, [item("msg_1")]);
        expect(await codeOf(store.conversations.create(conversation({ id: "conv_taken", keyId: "key_2" }), [item("msg_2")]))).toBe(Code.AlreadyExists);
        expect(await store.conversations.get("conv_taken")).toEqual(conv);
        expect(ids(await store.conversations.allItems("conv_taken", 1e9))).toEqual(["msg_1"]);
        expect(await codeOf(store.conversations.create(conversation({ id: "conv_twice" }), [item("msg_1"), item("msg_2"), item("msg_1")]))).toBe(Code.InvalidArgument);
        expect(await store.conversations.get("conv_twice")).toBeUndefined();
        expect(await store.conversations.getItem("conv_twice", "msg_2")).toBeUndefined();
      });

      it("refuses what it could not give back as it was (INVALID_ARGUMENT), and keeps working", async () => {
        const bad: [Partial<ConversationRecord>, ConversationItemRecord[]][] = [
          [{ id: "conv_\u0000" }, []],
          [{ id: "c".repeat(513) }, []],
          [{ keyId: "k\ud800" }, []],
          [{ team: "t".repeat(100_000) }, []],
          [{ metadata: "lone \udc00" }, []],
          [{ createdAt: new Date(Number.NaN) }, []],
          [{}, [{ itemId: "msg_\u0000", item: "{}" }]],
          [{}, [{ itemId: "m".repeat(513), item: "{}" }]],
          [{}, [{ itemId: "msg_ok", item: "\ud83d" }]],
        ];
        for (const [overrides, first] of bad) {
          const conv = conversation(overrides);
          expect(await codeOf(store.conversations.create(conv, first)), JSON.stringify(overrides).slice(0, 80)).toBe(Code.InvalidArgument);
        }
        const conv = conversation({ id: "conv_fine" });
        await store.conversations.create(conv, [item("msg_1")]);
        expect(await codeOf(store.conversations.append("conv_fine", [item("msg_2"), { itemId: "msg_\u0000", item: "{}" }]))).toBe(Code.InvalidArgument);
        expect(await codeOf(store.conversations.append("conv_fine", [{ itemId: "msg_3", item: "\udfff" }]))).toBe(Code.InvalidArgument);
        expect(await codeOf(store.conversations.setMetadata("conv_fine", "\ud800"))).toBe(Code.InvalidArgument);
        expect(ids(await store.conversations.allItems("conv_fine", 1e9))).toEqual(["msg_1"]);
        for (const limit of [0, 1001, 1.5, Number.NaN]) {
          expect(await codeOf(store.conversations.items("conv_fine", { order: "asc", limit }))).toBe(Code.InvalidArgument);
        }
        expect(await codeOf(store.conversations.allItems("conv_fine", -1))).toBe(Code.InvalidArgument);
        expect(await store.conversations.items("conv_fine", { order: "asc", limit: 1000 })).toEqual({ items: [item("msg_1")], hasMore: false });
      });

      it("answers undefined or false for a missing conversation, and for any id it could not have stored", async () => {
        await store.conversations.create(conversation({ id: "conv_present" }), [item("msg_1")]);
        for (const id of ["conv_missing", "", "conv_\u0000", "conv_\ud800", "c".repeat(1_000_000)]) {
          expect(await store.conversations.get(id)).toBeUndefined();
          expect(await store.conversations.setMetadata(id, '{"a":1}')).toBe(false);
          expect(await store.conversations.append(id, [item("msg_2")])).toBe(false);
          expect(await store.conversations.append(id, [])).toBe(false);
          expect(await store.conversations.items(id, { order: "asc", limit: 10 })).toBeUndefined();
          expect(await store.conversations.items(id, { order: "desc", limit: 10, after: "msg_1" })).toBeUndefined();
          expect(await store.conversations.allItems(id, 1e9)).toBeUndefined();
          expect(await store.conversations.getItem(id, "msg_1")).toBeUndefined();
          expect(await store.conversations.deleteItem(id, "msg_1")).toBe(false);
          expect(await store.conversations.delete(id)).toBe(false);
        }
        for (const itemId of ["msg_missing", "msg_\u0000", "m".repeat(100_000)]) {
          expect(await store.conversations.getItem("conv_present", itemId)).toBeUndefined();
          expect(await store.conversations.deleteItem("conv_present", itemId)).toBe(false);
        }
        expect(await store.conversations.deleteOwned({ keyId: "key_\u0000" })).toBe(0);
        expect(await store.conversations.deleteOwned({ team: "t".repeat(1000) })).toBe(0);
        // Nothing of the missing ones' appends landed anywhere.
        expect(ids(await store.conversations.allItems("conv_present", 1e9))).toEqual(["msg_1"]);
      });

      it("replaces the metadata", async () => {
        const conv = conversation({ metadata: '{"a":"1"}' });
        await store.conversations.create(conv, []);
        expect(await store.conversations.setMetadata(conv.id, '{"b":"2 😀 \u0000"}')).toBe(true);
        expect(await store.conversations.get(conv.id)).toEqual({ ...conv, metadata: '{"b":"2 😀 \u0000"}' });
      });

      it("appends in order, across appends and after deleted items; an item id already there adds nothing (ALREADY_EXISTS)", async () => {
        const conv = conversation();
        await store.conversations.create(conv, items("a", 3));
        expect(await store.conversations.append(conv.id, items("b", 2))).toBe(true);
        expect(await store.conversations.append(conv.id, [])).toBe(true);
        expect(await store.conversations.append(conv.id, items("c", 1))).toBe(true);
        expect(ids(await store.conversations.allItems(conv.id, 1e9))).toEqual(["a_0", "a_1", "a_2", "b_0", "b_1", "c_0"]);
        // The last item deleted, then more appended: still after the rest, in order.
        expect(await store.conversations.deleteItem(conv.id, "c_0")).toBe(true);
        expect(await store.conversations.deleteItem(conv.id, "a_1")).toBe(true);
        expect(await store.conversations.append(conv.id, items("d", 2))).toBe(true);
        const expected = ["a_0", "a_2", "b_0", "b_1", "d_0", "d_1"];
        expect(ids(await store.conversations.allItems(conv.id, 1e9))).toEqual(expected);
        expect((await page(conv.id, "desc", 100))?.ids).toEqual([...expected].reverse());
        // A deleted item's id may be used again; one present may not, not even twice in one append.
        expect(await store.conversations.append(conv.id, [item("a_1")])).toBe(true);
        expect(await codeOf(store.conversations.append(conv.id, [item("e_0"), item("b_0")]))).toBe(Code.AlreadyExists);
        expect(await codeOf(store.conversations.append(conv.id, [item("e_1"), item("e_2"), item("e_1")]))).toBe(Code.AlreadyExists);
        expect(ids(await store.conversations.allItems(conv.id, 1e9))).toEqual([...expected, "a_1"]);
        expect(await store.conversations.getItem(conv.id, "e_0")).toBeUndefined();
        // Item ids are per conversation: another conversation may hold the same.
        const other = conversation();
        await store.conversations.create(other, [item("a_0", "other")]);
        expect(await store.conversations.append(other.id, [item("b_0", "other")])).toBe(true);
        expect(await store.conversations.getItem(other.id, "a_0")).toEqual(item("a_0", "other"));
        expect(await store.conversations.getItem(conv.id, "a_0")).toEqual(item("a_0"));
      });

      it("pages items both ways, after an item (exclusive), with hasMore exact at the boundaries", async () => {
        const conv = conversation();
        await store.conversations.create(conv, items("m", 5));
        const asc = ["m_0", "m_1", "m_2", "m_3", "m_4"];
        expect(await page(conv.id, "asc", 5)).toEqual({ ids: asc, hasMore: false });
        expect(await page(conv.id, "asc", 4)).toEqual({ ids: asc.slice(0, 4), hasMore: true });
        expect(await page(conv.id, "asc", 6)).toEqual({ ids: asc, hasMore: false });
        expect(await page(conv.id, "asc", 2, "m_1")).toEqual({ ids: ["m_2", "m_3"], hasMore: true });
        expect(await page(conv.id, "asc", 3, "m_1")).toEqual({ ids: ["m_2", "m_3", "m_4"], hasMore: false });
        expect(await page(conv.id, "asc", 1, "m_4")).toEqual({ ids: [], hasMore: false });
        expect(await page(conv.id, "desc", 2)).toEqual({ ids: ["m_4", "m_3"], hasMore: true });
        expect(await page(conv.id, "desc", 2, "m_3")).toEqual({ ids: ["m_2", "m_1"], hasMore: true });
        expect(await page(conv.id, "desc", 1, "m_1")).toEqual({ ids: ["m_0"], hasMore: false });
        expect(await page(conv.id, "desc", 3, "m_0")).toEqual({ ids: [], hasMore: false });
        expect(await page(conv.id, "asc", 1000)).toEqual({ ids: asc, hasMore: false });
        // An unknown `after` (never there, deleted, another conversation's, unstorable): an empty page.
        await store.conversations.deleteItem(conv.id, "m_2");
        const other = conversation();
        await store.conversations.create(other, [item("x_0")]);
        for (const after of ["m_9", "m_2", "x_0", "m_\u0000", "m".repeat(10_000)]) {
          expect(await page(conv.id, "asc", 10, after), after.slice(0, 20)).toEqual({ ids: [], hasMore: false });
          expect(await page(conv.id, "desc", 10, after), after.slice(0, 20)).toEqual({ ids: [], hasMore: false });
        }
        expect(await page(conv.id, "asc", 10, "m_1")).toEqual({ ids: ["m_3", "m_4"], hasMore: false });
      });

      it("gives every item oldest first within maxChars, and refuses more (FAILED_PRECONDITION)", async () => {
        const conv = conversation();
        // Emoji: two UTF-16 code units each, as JS counts a string's length.
        const list = [item("i_0", "😀😀"), { itemId: "i_1", item: "\u0000😀é" }, item("i_2", "plain")];
        await store.conversations.create(conv, list);
        const total = list.reduce((sum, i) => sum + i.item.length, 0);
        expect(await store.conversations.allItems(conv.id, total)).toEqual(list);
        expect(await store.conversations.allItems(conv.id, total + 1)).toEqual(list);
        expect(await codeOf(store.conversations.allItems(conv.id, total - 1))).toBe(Code.FailedPrecondition);
        expect(await codeOf(store.conversations.allItems(conv.id, 0))).toBe(Code.FailedPrecondition);
        await store.conversations.deleteItem(conv.id, "i_2");
        expect(await store.conversations.allItems(conv.id, total - 1)).toEqual(list.slice(0, 2));
      });

      it("deletes an item, keeping the others in order", async () => {
        const conv = conversation();
        await store.conversations.create(conv, items("d", 4));
        expect(await store.conversations.deleteItem(conv.id, "d_1")).toBe(true);
        expect(await store.conversations.deleteItem(conv.id, "d_1")).toBe(false);
        expect(await store.conversations.getItem(conv.id, "d_1")).toBeUndefined();
        expect(ids(await store.conversations.allItems(conv.id, 1e9))).toEqual(["d_0", "d_2", "d_3"]);
        expect(await page(conv.id, "desc", 10)).toEqual({ ids: ["d_3", "d_2", "d_0"], hasMore: false });
      });

      it("deletes a conversation with its items: a new one under the same id starts empty", async () => {
        const conv = conversation({ id: "conv_again" });
        await store.conversations.create(conv, items("x", 3));
        const kept = conversation();
        await store.conversations.create(kept, items("x", 2));
        expect(await store.conversations.delete("conv_again")).toBe(true);
        expect(await store.conversations.delete("conv_again")).toBe(false);
        expect(await store.conversations.get("conv_again")).toBeUndefined();
        expect(await store.conversations.getItem("conv_again", "x_0")).toBeUndefined();
        await store.conversations.create(conversation({ id: "conv_again" }), [item("x_2", "new")]);
        expect(await store.conversations.allItems("conv_again", 1e9)).toEqual([item("x_2", "new")]);
        expect(await store.conversations.append("conv_again", [item("x_0")])).toBe(true);
        expect(ids(await store.conversations.allItems("conv_again", 1e9))).toEqual(["x_2", "x_0"]);
        expect(ids(await store.conversations.allItems(kept.id, 1e9))).toEqual(["x_0", "x_1"]);
      });

      it("deletes what one key or one team made, counts the conversations, and leaves the rest", async () => {
        const owners = [
          { keyId: "key_1", team: "team-a" },
          { keyId: "key_2", team: "team-a" },
          { keyId: "key_3", team: "team-b" },
        ];
        const made = owners.flatMap((owner, o) => Array.from({ length: o + 1 }, (_, i) => conversation({ id: `conv_${owner.keyId}-${i}`, ...owner })));
        for (const conv of made) await store.conversations.create(conv, items("it", 2));
        expect(await store.conversations.deleteOwned({ keyId: "key_2" })).toBe(2);
        expect(await store.conversations.deleteOwned({ keyId: "key_2" })).toBe(0);
        expect(await store.conversations.get("conv_key_2-0")).toBeUndefined();
        expect(await store.conversations.getItem("conv_key_2-1", "it_0")).toBeUndefined();
        expect(await store.conversations.get("conv_key_1-0")).toEqual(made[0]);
        expect(await store.conversations.deleteOwned({ team: "team-b" })).toBe(3);
        expect(await store.conversations.deleteOwned({ team: "team-c" })).toBe(0);
        expect(await store.conversations.get("conv_key_3-2")).toBeUndefined();
        expect(ids(await store.conversations.allItems("conv_key_1-0", 1e9))).toEqual(["it_0", "it_1"]);
        expect(await store.conversations.deleteOwned({ team: "team-a" })).toBe(1);
        expect(await store.conversations.get("conv_key_1-0")).toBeUndefined();
        // Gone with their items: the same ids start empty.
        await store.conversations.create(conversation({ id: "conv_key_2-0" }), []);
        expect(await store.conversations.allItems("conv_key_2-0", 1e9)).toEqual([]);
      });

      it("another replica sees a write once it resolved", async () => {
        const replica = await another();
        const conv = conversation({ id: "conv_shared" });
        await store.conversations.create(conv, [item("msg_0")]);
        expect(await replica.conversations.get("conv_shared")).toEqual(conv);
        expect(await replica.conversations.append("conv_shared", [item("msg_1")])).toBe(true);
        expect(ids(await store.conversations.allItems("conv_shared", 1e9))).toEqual(["msg_0", "msg_1"]);
        expect(await replica.conversations.setMetadata("conv_shared", '{"x":"y"}')).toBe(true);
        expect((await store.conversations.get("conv_shared"))?.metadata).toBe('{"x":"y"}');
        expect(await replica.conversations.deleteItem("conv_shared", "msg_0")).toBe(true);
        expect(await page("conv_shared", "asc", 10)).toEqual({ ids: ["msg_1"], hasMore: false });
        expect(await replica.conversations.delete("conv_shared")).toBe(true);
        expect(await store.conversations.get("conv_shared")).toBeUndefined();
      });

      it("appends at once, from two replicas, all land in distinct places, each append's items together", async () => {
        const replica = await another();
        const conv = conversation({ id: "conv_busy" });
        await store.conversations.create(conv, [item("start")]);
        const appends = Array.from({ length: 20 }, (_, n) => items(`p${n}`, 3));
        const results = await Promise.all(appends.map((list, n) => (n % 2 === 0 ? store : replica).conversations.append("conv_busy", list)));
        expect(results.every((ok) => ok)).toBe(true);
        const all = ids(await store.conversations.allItems("conv_busy", 1e9)) ?? [];
        expect(all).toHaveLength(61);
        expect(all[0]).toBe("start");
        expect(new Set(all).size).toBe(61);
        // Each append's items in a row, in its order.
        for (const list of appends) {
          const start = all.indexOf(list[0]?.itemId ?? "");
          expect(all.slice(start, start + 3)).toEqual(ids(list));
        }
        const desc = await store.conversations.items("conv_busy", { order: "desc", limit: 1000 });
        expect(ids(desc?.items)).toEqual([...all].reverse());
      });
    });
  });
}
