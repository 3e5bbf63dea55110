// The full collection after start-up (src/server/startup-gc.ts): it really runs V8's collector,
// only at a quiet moment (no call running, none begun since the last look), gives up after its
// tries, and leaves no `gc` in the gateway's scope.
import { describe, expect, it } from "vitest";
import { scheduleStartupCollection, type StartupCollectionOptions } from "../../src/server/startup-gc";

type Result = Parameters<NonNullable<StartupCollectionOptions["onDone"]>>[0];
type Calls = { running: number; begun: number };

/** Runs the schedule with `calls` answering, in turn, each look (the last answer repeats). */
function run(looks: Calls[], options: { delayMs: number; tries?: number; quietBegun?: number }): Promise<{ result: Result; looked: number }> {
  return new Promise((resolve) => {
    let looked = 0;
    scheduleStartupCollection({
      ...options,
      calls: () => looks[Math.min(looked++, looks.length - 1)]!,
      onDone: (result) => resolve({ result, looked }),
    });
  });
}

describe("the start-up collection", () => {
  it("runs a full collection at a quiet moment: garbage made before it is gone", async () => {
    let garbage: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i, text: `item ${i}` }));
    const weak = new WeakRef(garbage[0] as object);
    garbage = undefined;
    // One look when scheduled, one when the delay is over.
    const { result, looked } = await run([{ running: 0, begun: 7 }], { delayMs: 10 });
    expect(looked).toBe(2);
    expect(result.ran).toBe(true);
    if (!result.ran) return;
    expect(result.pauseMs).toBeGreaterThanOrEqual(0);
    expect(result.afterBytes).toBeGreaterThan(0);
    expect(weak.deref()).toBeUndefined();
    // The collector came from a fresh context: the process's own global scope has none.
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });

  it("waits while calls run or begin (a steady stream of calls, one at a time, is not quiet), then runs", async () => {
    const later = await run(
      [
        { running: 0, begun: 0 }, // scheduled
        { running: 1, begun: 1 }, // a call running
        { running: 0, begun: 8 }, // none running, but seven began since
        { running: 0, begun: 10 }, // quiet: two began (a health probe, a scrape)
      ],
      { delayMs: 5, tries: 6, quietBegun: 5 },
    );
    expect(later.looked).toBe(4);
    expect(later.result.ran).toBe(true);
  });

  it("gives up after its tries when it never finds a quiet moment", async () => {
    let begun = 0;
    const never = await new Promise<Result>((resolve) =>
      scheduleStartupCollection({ calls: () => ({ running: 0, begun: (begun += 3) }), delayMs: 5, tries: 4, quietBegun: 2, onDone: resolve }),
    );
    expect(never).toEqual({ ran: false, reason: "calls were running or more than 2 had begun at each of 4 tries" });
    expect(begun).toBe(15); // the look when scheduled and one per try
  });

  it("can be cancelled (a gateway stopping before it ran)", async () => {
    let ran = false;
    const cancel = scheduleStartupCollection({ calls: () => ({ running: 0, begun: 0 }), delayMs: 20, onDone: () => (ran = true) });
    cancel();
    await new Promise((r) => setTimeout(r, 60));
    expect(ran).toBe(false);
  });
});
