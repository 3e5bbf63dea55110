// FeedbackBook's memory of recent calls: bounded, the newest kept, the oldest forgotten. (That a
// full book stays cheap to add to, written on every answered call, is measured in
// bench/cpu-drift.ts, not timed here.)
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { FeedbackBook } from "../../src/observability/feedback";

const call = (i: number) => ({ keyId: "k", team: "t", endpoint: "chat", target: "a", model: "m", modelVersion: "", i });

describe("FeedbackBook's recent calls", () => {
  it("keeps the newest `capacity` calls and forgets the oldest", () => {
    const book = new FeedbackBook(new Registry(), 1_000);
    for (let i = 0; i < 5_000; i++) book.remember(`r${i}`, call(i));
    expect(book.recall("r0")).toBeUndefined();
    expect(book.recall("r3999")).toBeUndefined();
    expect(book.recall("r4000")?.endpoint).toBe("chat");
    expect(book.recall("r4999")?.endpoint).toBe("chat");
    expect(book.recall("")).toBeUndefined();
  });
});
