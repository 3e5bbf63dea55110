// StoredResponses (src/surfaces/openai/stored-responses.ts) over an in-memory ResponseStore: what
// a stored row holds, the ownership rule, a store that fails, and the purge's batches. The routes
// and previous_response_id through the SDK: test/integration/openai-responses-stored.spec.ts.
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import type { Principal } from "../../src/runtime";
import type { ResponseStore, StoredResponse } from "../../src/store/types";
import { responsesBody } from "../../src/surfaces/openai/responses";
import { StoredResponses, inputItemResources, newResponseId } from "../../src/surfaces/openai/stored-responses";

class MemoryResponses implements ResponseStore {
  readonly rows = new Map<string, StoredResponse>();
  failPuts = false;
  purgeCalls: number[] = [];
  async put(rows: readonly StoredResponse[]) {
    if (this.failPuts) throw new Error("disk full");
    for (const r of rows) this.rows.set(r.id, r);
  }
  async get(id: string, now: Date) {
    const r = this.rows.get(id);
    return r && r.expiresAt > now ? r : undefined;
  }
  async delete(id: string) {
    this.rows.delete(id);
  }
  async deleteOwned(owner: { keyId: string } | { team: string }) {
    let n = 0;
    for (const [id, r] of this.rows) if ("keyId" in owner ? r.keyId === owner.keyId : r.team === owner.team) n += Number(this.rows.delete(id));
    return n;
  }
  async purgeExpired(now: Date, limit: number) {
    this.purgeCalls.push(limit);
    let n = 0;
    for (const [id, r] of this.rows) {
      if (n >= limit) break;
      if (r.expiresAt <= now) {
        this.rows.delete(id);
        n++;
      }
    }
    return n;
  }
}

const principal = (keyId: string, team: string, roles = ["user"]): Principal => ({ keyId, keyName: keyId, team, roles: new Set(roles) });
const signal = new AbortController().signal;

function setup(who: Principal, maxBytes = 1 << 20) {
  const store = new MemoryResponses();
  let clock = 1_000_000;
  const stored = new StoredResponses({
    store,
    enabled: true,
    ttlMs: 60_000,
    maxBytes,
    authenticate: async () => who,
    now: () => clock,
  });
  return { store, stored, advance: (ms: number) => (clock += ms) };
}

const body = (value: Record<string, unknown>) => responsesBody.parse({ model: "chat", ...value });
const answer = (id: string, text: string) => ({ id, output: [{ type: "message", id: `msg_${id}`, status: "completed", role: "assistant", content: [{ type: "output_text", text, annotations: [] }] }] });

describe("StoredResponses", () => {
  it("stores the answer with its conversation, owner, endpoint and expiry; the next turn reads it back as input items", async () => {
    const who = principal("key_a", "search");
    const { store, stored } = setup(who);
    const input = inputItemResources(body({ input: "hi" }), "r1");
    await stored.save(who, "chat", answer("resp_1", "hello"), input, undefined);
    const row = store.rows.get("resp_1")!;
    expect(row).toMatchObject({ keyId: "key_a", team: "search", endpoint: "chat", inputCount: 1 });
    expect(row.expiresAt.getTime() - row.createdAt.getTime()).toBe(60_000);
    expect(JSON.parse(row.response)).toEqual(answer("resp_1", "hello"));
    const history = await stored.history(undefined, "resp_1", signal);
    expect(history.items).toMatchObject([
      { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "hello" }] },
    ]);
    // The next turn's row holds the whole conversation; input_items' count covers the earlier turn too.
    await stored.save(who, "chat", answer("resp_2", "again"), inputItemResources(body({ input: "more" }), "r2"), history);
    const second = store.rows.get("resp_2")!;
    expect(JSON.parse(second.items)).toHaveLength(4);
    expect(second.inputCount).toBe(3);
  });

  it("ownership: the same team, or the same key when it has no team, or an admin", async () => {
    const owner = principal("key_a", "search");
    for (const [reader, readable] of [
      [principal("key_b", "search"), true],
      [principal("key_c", "ads"), false],
      [principal("key_d", "", ["admin"]), true],
    ] as const) {
      const { stored } = setup(reader);
      await stored.save(owner, "chat", answer("resp_x", "t"), [], undefined);
      const got = await stored.history(undefined, "resp_x", signal).then(
        () => true,
        (err: unknown) => (ConnectError.from(err).code === Code.InvalidArgument ? false : Promise.reject(err)),
      );
      expect(got, reader.keyId).toBe(readable);
    }
    const solo = principal("key_solo", "");
    const { stored } = setup(principal("key_other", ""));
    await stored.save(solo, "chat", answer("resp_s", "t"), [], undefined);
    await expect(stored.history(undefined, "resp_s", signal)).rejects.toMatchObject({ code: Code.InvalidArgument });
  });

  it("a store that fails: UNAVAILABLE saying the response was not stored, the store's reason kept", async () => {
    const who = principal("key_a", "");
    const { store, stored } = setup(who);
    store.failPuts = true;
    const err = await stored.save(who, "chat", answer("resp_1", "t"), [], undefined).catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.Unavailable });
    expect((err as ConnectError).rawMessage).toMatch(/could not be stored \(.*disk full\)/);
  });

  it("over max_bytes: the input alone is refused up front; an answer that takes it over is not stored", async () => {
    const who = principal("key_a", "");
    const { store, stored } = setup(who, 1024);
    expect(() => stored.checkSize(undefined, inputItemResources(body({ input: "x".repeat(2000) }), "r"))).toThrow(/^\[invalid_argument\] input: /);
    stored.checkSize(undefined, inputItemResources(body({ input: "x".repeat(100) }), "r"));
    await expect(stored.save(who, "chat", answer("resp_1", "y".repeat(2000)), [], undefined)).rejects.toMatchObject({ code: Code.FailedPrecondition });
    expect(store.rows.size).toBe(0);
  });

  it("purge: batches until one comes back short, bounded", async () => {
    const who = principal("key_a", "");
    const { store, stored, advance } = setup(who);
    for (let i = 0; i < 25; i++) await stored.save(who, "chat", answer(`resp_${i}`, "t"), [], undefined);
    advance(60_000);
    await stored.save(who, "chat", answer("resp_live", "t"), [], undefined);
    expect(await stored.purge(10)).toBe(25);
    expect(store.purgeCalls).toEqual([10, 10, 10]);
    expect([...store.rows.keys()]).toEqual(["resp_live"]);
    store.purgeCalls = [];
    for (let i = 0; i < 50; i++) await stored.save(who, "chat", answer(`resp_old${i}`, "t"), [], undefined);
    advance(60_000);
    expect(await stored.purge(10, 2)).toBe(20);
    expect(store.purgeCalls).toEqual([10, 10]);
  });

  it("ids: the request id, then 12 random hex digits; input items without an id get one by position", () => {
    expect(newResponseId("req-1")).toMatch(/^resp_req-1_[0-9a-f]{12}$/);
    expect(newResponseId("req-1")).not.toBe(newResponseId("req-1"));
    const items = inputItemResources(
      body({
        input: [
          { role: "user", content: "a" },
          { type: "function_call", call_id: "c", name: "f", arguments: "{}" },
          { type: "function_call_output", call_id: "c", output: "o", id: "fco_mine" },
        ],
      }),
      "req-2",
    );
    expect(items.map((i) => (i as { id: string }).id)).toEqual(["msg_req-2_in0", "fc_req-2_in1", "fco_mine"]);
  });
});
