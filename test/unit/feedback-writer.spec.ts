// The feedback writer: posts that arrive together share one append (one transaction), each post
// waits for its row's commit, a refused row fails alone, a store that is down fails the batch, the
// queue is bounded, and rows not yet committed are counted for the per-call checks.
import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { FeedbackWriter } from "../../src/store/feedback-writer";
import type { FeedbackRow, FeedbackStore } from "../../src/store/types";

function row(overrides: Partial<FeedbackRow> = {}): FeedbackRow {
  return {
    time: new Date(0),
    requestId: "req-1",
    endpoint: "chat",
    target: "a",
    model: "m",
    modelVersion: "",
    keyId: "k",
    team: "t",
    postedBy: "k",
    name: "thumbs",
    score: 1,
    label: null,
    ...overrides,
  };
}

/** A store that records each append's rows; `fail` decides a batch's fate. */
function fakeStore(fail: (rows: readonly FeedbackRow[]) => ConnectError | undefined = () => undefined) {
  const appends: FeedbackRow[][] = [];
  const store: FeedbackStore = {
    findCall: async () => undefined,
    priorFeedback: async () => ({ total: 0, scoredSameName: 0 }),
    summary: async () => [],
    async append(rows) {
      const err = fail(rows);
      if (err) throw err;
      appends.push([...rows]);
    },
  };
  return { store, appends };
}

const outcome = (p: Promise<void>) => p.then(() => "ok", (err: unknown) => ConnectError.from(err).code);

describe("FeedbackWriter", () => {
  it("batches posts that arrive together into one append; each post resolves once committed", async () => {
    const { store, appends } = fakeStore();
    const writer = new FeedbackWriter(store, { delayMs: 5 });
    const posts = [writer.write(row({ requestId: "a" })), writer.write(row({ requestId: "b" })), writer.write(row({ requestId: "c" }))];
    expect(appends).toEqual([]);
    await Promise.all(posts);
    expect(appends.map((batch) => batch.map((r) => r.requestId))).toEqual([["a", "b", "c"]]);
    await writer.write(row({ requestId: "d" }));
    expect(appends).toHaveLength(2);
  });

  it("counts rows not committed yet for a call (in all, and scores of one name)", async () => {
    const { store } = fakeStore();
    const writer = new FeedbackWriter(store, { delayMs: 60_000 });
    const posts = [
      writer.write(row({ score: 0 })),
      writer.write(row({ score: null, label: "x" })),
      writer.write(row({ name: "accuracy", score: 0.5 })),
      writer.write(row({ requestId: "req-2" })),
    ];
    expect(writer.pending("req-1", "thumbs")).toEqual({ total: 3, scoredSameName: 1 });
    expect(writer.pending("req-3", "thumbs")).toEqual({ total: 0, scoredSameName: 0 });
    await writer.flush();
    await Promise.all(posts);
    expect(writer.pending("req-1", "thumbs")).toEqual({ total: 0, scoredSameName: 0 });
  });

  it("a row the store refuses fails alone; a store that is down fails the whole batch", async () => {
    const refused = fakeStore((rows) => (rows.some((r) => r.label === "bad") ? new ConnectError("refused", Code.InvalidArgument) : undefined));
    const writer = new FeedbackWriter(refused.store, { delayMs: 5 });
    const results = await Promise.all([row({ requestId: "a" }), row({ requestId: "b", label: "bad" }), row({ requestId: "c" })].map((r) => outcome(writer.write(r))));
    expect(results).toEqual(["ok", Code.InvalidArgument, "ok"]);
    expect(refused.appends.flat().map((r) => r.requestId).sort()).toEqual(["a", "c"]);

    const down = fakeStore(() => new ConnectError("postgres store unreachable", Code.Unavailable));
    const downWriter = new FeedbackWriter(down.store, { delayMs: 5 });
    expect(await Promise.all([outcome(downWriter.write(row())), outcome(downWriter.write(row()))])).toEqual([Code.Unavailable, Code.Unavailable]);

    // A store's own error (not a ConnectError: SQLite's "database or disk is full") is UNAVAILABLE too.
    const full: FeedbackStore = { append: () => Promise.reject(new Error("database or disk is full")) } as unknown as FeedbackStore;
    const fullWriter = new FeedbackWriter(full, { delayMs: 5 });
    const err = ConnectError.from(await fullWriter.write(row()).catch((e: unknown) => e));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe("feedback: the store could not write (database or disk is full); try again later");
  });

  it("refuses a row past maxQueued with UNAVAILABLE", async () => {
    const { store, appends } = fakeStore();
    const writer = new FeedbackWriter(store, { delayMs: 60_000, maxQueued: 2 });
    const first = [writer.write(row()), writer.write(row())];
    const err = ConnectError.from(await writer.write(row()).catch((e: unknown) => e));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe("feedback: 2 rows are waiting to be written (the store is slow or down); try again later");
    await writer.flush();
    await Promise.all(first);
    expect(appends.flat()).toHaveLength(2);
  });
});
