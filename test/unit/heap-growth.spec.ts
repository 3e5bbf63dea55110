// limitHeapGrowth: sets V8's heap growing factor at start unless node was given its own.
import { describe, expect, it } from "vitest";
import { HEAP_GROWING_PERCENT, limitHeapGrowth } from "../../src/server/heap-growth";

describe("limitHeapGrowth", () => {
  it("sets the default when node's command line names none", () => {
    expect(limitHeapGrowth(["--max-semi-space-size=8"])).toBe(HEAP_GROWING_PERCENT);
    expect(HEAP_GROWING_PERCENT).toBe(100);
  });

  it("leaves a --heap-growing-percent from the command line alone, in either spelling", () => {
    for (const given of [["--heap-growing-percent=150"], ["--heap_growing_percent=150"], ["--heap-growing-percent", "150"]]) {
      expect(limitHeapGrowth(given)).toBeUndefined();
    }
  });

  it("takes another percent", () => {
    expect(limitHeapGrowth([], 150)).toBe(150);
    limitHeapGrowth([]); // back to the default for the rest of this worker
  });
});
