// The full collection after start-up (src/server/startup-gc.ts): it really runs V8's collector,
// only when no call is running, gives up after its tries, and leaves no `gc` in the gateway's scope.
import { describe, expect, it } from "vitest";
import { scheduleStartupCollection, type StartupCollectionOptions } from "../../src/server/startup-gc";

type Result = Parameters<NonNullable<StartupCollectionOptions["onDone"]>>[0];

function run(options: Omit<StartupCollectionOptions, "onDone">): Promise<{ result: Result; checks: number }> {
  return new Promise((resolve) => {
    let checks = 0;
    scheduleStartupCollection({
      ...options,
      running: () => {
        checks++;
        return options.running();
      },
      onDone: (result) => resolve({ result, checks }),
    });
  });
}

describe("the start-up collection", () => {
  it("runs a full collection when no call is running: garbage made before it is gone", async () => {
    let garbage: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i, text: `item ${i}` }));
    const weak = new WeakRef(garbage[0] as object);
    garbage = undefined;
    const { result, checks } = await run({ running: () => 0, delayMs: 10 });
    expect(checks).toBe(1);
    expect(result.ran).toBe(true);
    if (!result.ran) return;
    expect(result.pauseMs).toBeGreaterThanOrEqual(0);
    expect(result.afterBytes).toBeGreaterThan(0);
    expect(weak.deref()).toBeUndefined();
    // The collector came from a fresh context: the process's own global scope has none.
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });

  it("waits while calls are running, and gives up after its tries", async () => {
    let busy = 2;
    const later = await run({ running: () => (busy-- > 0 ? 1 : 0), delayMs: 5, tries: 6 });
    expect(later.checks).toBe(3);
    expect(later.result.ran).toBe(true);

    const never = await run({ running: () => 3, delayMs: 5, tries: 4 });
    expect(never.checks).toBe(4);
    expect(never.result).toEqual({ ran: false, reason: "calls were running at each of 4 tries" });
  });

  it("can be cancelled (a gateway stopping before it ran)", async () => {
    let ran = false;
    const cancel = scheduleStartupCollection({ running: () => 0, delayMs: 20, onDone: () => (ran = true) });
    cancel();
    await new Promise((r) => setTimeout(r, 60));
    expect(ran).toBe(false);
  });
});
