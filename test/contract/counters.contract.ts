// The Counters contract (src/store/counters.ts), run against every backend: memory, Redis, and
// the resilient wrapper. Windows are short (150 ms) where expiry matters.
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "../../src/errors";
import type { CounterCheck, Counters } from "../../src/store/counters";

export function describeCountersContract(name: string, make: () => Promise<Counters>): void {
  describe(`Counters contract: ${name}`, () => {
    const opened: Counters[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((c) => c.close()));
    });
    async function counters(): Promise<Counters> {
      const c = await make();
      opened.push(c);
      return c;
    }
    /** A fresh counter name, so tests never see each other's counters on a shared Redis. */
    const fresh = (label: string) => `test:${label}:${randomBytes(6).toString("hex")}`;
    const inAMinute = () => Date.now() + 60_000;
    const check = (key: string, limit: number, cost = 1, resetAtMs = inAMinute()): CounterCheck => ({ key, limit, cost, resetAtMs });

    it("admits up to the limit exactly, then refuses", async () => {
      const c = await counters();
      const k = fresh("exact");
      const resetAtMs = inAMinute();
      for (let i = 1; i <= 5; i++) {
        expect(await c.hitAll([check(k, 5, 1, resetAtMs)])).toEqual({ allowed: true, retryAfterMs: 0, values: [i] });
      }
      const refused = await c.hitAll([check(k, 5, 1, resetAtMs)]);
      expect(refused).toMatchObject({ allowed: false, failed: 0, values: [5] });
      expect(await c.get(k)).toBe(5);
    });

    it("counts costs: fills to the limit with a smaller cost after refusing a bigger one", async () => {
      const c = await counters();
      const k = fresh("costs");
      expect((await c.hitAll([check(k, 10, 4)])).values).toEqual([4]);
      expect((await c.hitAll([check(k, 10, 4)])).values).toEqual([8]);
      expect(await c.hitAll([check(k, 10, 4)])).toMatchObject({ allowed: false, values: [8] });
      expect(await c.hitAll([check(k, 10, 2)])).toMatchObject({ allowed: true, values: [10] });
      expect((await c.hitAll([check(k, 10, 1)])).allowed).toBe(false);
      expect(await c.get(k)).toBe(10);
    });

    it("a refused hitAll changes no counter, not even the ones that would have passed", async () => {
      const c = await counters();
      const [a, b, d, fresh1] = [fresh("a"), fresh("b"), fresh("d"), fresh("never")];
      await c.add(a, 3, inAMinute());
      await c.add(b, 1, inAMinute());
      const decision = await c.hitAll([check(a, 100, 5), check(fresh1, 100, 5), check(b, 1, 1), check(d, 100, 5)]);
      expect(decision).toMatchObject({ allowed: false, failed: 2, values: [3, 0, 1, 0] });
      expect(await c.get(a)).toBe(3);
      expect(await c.get(b)).toBe(1);
      expect(await c.get(fresh1)).toBeUndefined();
      expect(await c.get(d)).toBeUndefined();
    });

    it("the strictest limit wins, and failed names the first check that refused", async () => {
      const c = await counters();
      const [key, team, endpoint] = [fresh("key"), fresh("team"), fresh("ep")];
      const plan = () => [check(endpoint, 1000, 1), check(key, 3, 1), check(team, 2, 1)];
      expect((await c.hitAll(plan())).allowed).toBe(true);
      expect((await c.hitAll(plan())).values).toEqual([2, 2, 2]);
      // Team (limit 2) is full; key (limit 3) is not: the team refuses.
      expect(await c.hitAll(plan())).toMatchObject({ allowed: false, failed: 2, values: [2, 2, 2] });
      // Both full: the first refusing check is reported.
      await c.add(key, 1, inAMinute());
      expect(await c.hitAll(plan())).toMatchObject({ allowed: false, failed: 1, values: [2, 3, 2] });
    });

    it("retryAfterMs is the failing check's resetAtMs minus now, and 0 when allowed", async () => {
      const c = await counters();
      const [minute, day] = [fresh("minute"), fresh("day")];
      const minuteReset = Date.now() + 5_000;
      const dayReset = Date.now() + 86_400_000;
      const allowed = await c.hitAll([check(day, 10, 1, dayReset), check(minute, 1, 1, minuteReset)]);
      expect(allowed.retryAfterMs).toBe(0);
      expect(allowed.failed).toBeUndefined();
      const before = Date.now();
      const refused = await c.hitAll([check(day, 10, 1, dayReset), check(minute, 1, 1, minuteReset)]);
      const after = Date.now();
      expect(refused).toMatchObject({ allowed: false, failed: 1 });
      expect(refused.retryAfterMs).toBeGreaterThanOrEqual(minuteReset - after);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(minuteReset - before);
      const refusedByDay = await c.hitAll([check(day, 1, 1, dayReset)]);
      expect(refusedByDay.retryAfterMs).toBeGreaterThan(86_400_000 - 5_000);
    });

    it("returns each counter's value after the call, matching get", async () => {
      const c = await counters();
      const [x, y] = [fresh("x"), fresh("y")];
      await c.add(y, 40, inAMinute());
      const d = await c.hitAll([check(x, 100, 7), check(y, 100, 9)]);
      expect(d.values).toEqual([7, 49]);
      expect([await c.get(x), await c.get(y)]).toEqual([7, 49]);
    });

    it("a counter named twice in one call counts both costs against each limit", async () => {
      const c = await counters();
      const k = fresh("twice");
      expect(await c.hitAll([check(k, 10, 4), check(k, 10, 4)])).toMatchObject({ allowed: true, values: [8, 8] });
      // 8 + 1 passes the first, 9 + 2 fails the second: nothing is counted.
      expect(await c.hitAll([check(k, 10, 1), check(k, 10, 2)])).toMatchObject({ allowed: false, failed: 1, values: [8, 8] });
      expect(await c.get(k)).toBe(8);
    });

    it("add settles a reservation with a negative delta", async () => {
      const c = await counters();
      const k = fresh("settle");
      const resetAtMs = inAMinute();
      // Reserve an estimate of 1000 tokens, then settle the real 240.
      expect((await c.hitAll([check(k, 1000, 1000, resetAtMs)])).allowed).toBe(true);
      expect((await c.hitAll([check(k, 1000, 1, resetAtMs)])).allowed).toBe(false);
      await c.add(k, 240 - 1000, resetAtMs);
      expect(await c.get(k)).toBe(240);
      expect(await c.hitAll([check(k, 1000, 760, resetAtMs)])).toMatchObject({ allowed: true, values: [1000] });
    });

    it("add creates a counter that hitAll then sees; a zero delta creates nothing", async () => {
      const c = await counters();
      const [k, zero] = [fresh("created"), fresh("zero")];
      await c.add(k, 7, inAMinute());
      expect(await c.get(k)).toBe(7);
      expect(await c.hitAll([check(k, 10, 4)])).toMatchObject({ allowed: false, values: [7] });
      await c.add(zero, 0, inAMinute());
      expect(await c.get(zero)).toBeUndefined();
    });

    it("add to a window that is already over leaves no counter", async () => {
      const c = await counters();
      const k = fresh("late");
      await c.add(k, 5, Date.now() - 1);
      expect(await c.get(k)).toBeUndefined();
    });

    it("a zero-cost check only looks: it refuses a counter already over its limit and creates nothing", async () => {
      const c = await counters();
      const [spent, untouched] = [fresh("spent"), fresh("untouched")];
      // Settlement may carry a budget past its limit; a zero-cost check then refuses new calls.
      await c.add(spent, 120, inAMinute());
      expect(await c.hitAll([check(spent, 100, 0)])).toMatchObject({ allowed: false, failed: 0, values: [120] });
      expect(await c.hitAll([check(untouched, 100, 0)])).toMatchObject({ allowed: true, values: [0] });
      expect(await c.get(untouched)).toBeUndefined();
    });

    it("an empty list of checks is allowed", async () => {
      const c = await counters();
      expect(await c.hitAll([])).toEqual({ allowed: true, retryAfterMs: 0, values: [] });
    });

    it("get of a counter that was never set is undefined", async () => {
      const c = await counters();
      expect(await c.get(fresh("missing"))).toBeUndefined();
    });

    it("counters expire at resetAtMs and start again from zero", async () => {
      const c = await counters();
      const [hit, added] = [fresh("expiring"), fresh("expiring-add")];
      const resetAtMs = Date.now() + 150;
      expect((await c.hitAll([check(hit, 2, 2, resetAtMs)])).allowed).toBe(true);
      await c.add(added, 9, resetAtMs);
      expect((await c.hitAll([check(hit, 2, 1, resetAtMs)])).allowed).toBe(false);
      expect(await c.get(hit)).toBe(2);
      await sleepUntil(resetAtMs + 30);
      expect(await c.get(hit)).toBeUndefined();
      expect(await c.get(added)).toBeUndefined();
      expect(await c.hitAll([check(hit, 2, 1, Date.now() + 150)])).toMatchObject({ allowed: true, values: [1] });
    });

    it("200 concurrent hitAll on a limit of 50 admit exactly 50", async () => {
      const c = await counters();
      const [shared, other] = [fresh("race"), fresh("race-other")];
      const resetAtMs = inAMinute();
      const decisions = await Promise.all(
        Array.from({ length: 200 }, (_, i) => c.hitAll([check(other, 1_000, 1, resetAtMs), check(shared, 50, 1, resetAtMs), check(fresh(`own${i}`), 5)])),
      );
      expect(decisions.filter((d) => d.allowed)).toHaveLength(50);
      expect(decisions.filter((d) => !d.allowed).every((d) => d.failed === 1)).toBe(true);
      expect(await c.get(shared)).toBe(50);
      // The refused 150 consumed nothing on the counter they would have passed.
      expect(await c.get(other)).toBe(50);
    });

    it("concurrent token reservations never overshoot the limit", async () => {
      const c = await counters();
      const k = fresh("tokens-race");
      const resetAtMs = inAMinute();
      const decisions = await Promise.all(Array.from({ length: 100 }, () => c.hitAll([check(k, 100_000, 3_000, resetAtMs)])));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(33);
      expect(await c.get(k)).toBe(99_000);
    });

    it("holds large integer costs exactly: tokens and micro-USD budgets", async () => {
      const c = await counters();
      const [tokens, budget, edge] = [fresh("tokens"), fresh("budget"), fresh("edge")];
      // A month's budget of $1,000,000 in micro-USD, and a call costing $123,456.789012.
      const limit = 1_000_000 * 1_000_000;
      expect(await c.hitAll([check(budget, limit, 123_456_789_012), check(tokens, 10_000_000, 1_500_000)])).toMatchObject({
        allowed: true,
        values: [123_456_789_012, 1_500_000],
      });
      await c.add(budget, 876_543_210_988, inAMinute());
      expect(await c.get(budget)).toBe(limit);
      expect((await c.hitAll([check(budget, limit, 1)])).allowed).toBe(false);
      // Exact up to Number.MAX_SAFE_INTEGER.
      const big = 2 ** 52;
      expect((await c.hitAll([check(edge, Number.MAX_SAFE_INTEGER, big)])).values).toEqual([big]);
      expect((await c.hitAll([check(edge, Number.MAX_SAFE_INTEGER, big - 1)])).values).toEqual([Number.MAX_SAFE_INTEGER]);
      expect((await c.hitAll([check(edge, Number.MAX_SAFE_INTEGER, 1)])).allowed).toBe(false);
      expect(await c.get(edge)).toBe(Number.MAX_SAFE_INTEGER);
    });

    it("refuses fractional, negative or unsafe costs with INTERNAL, changing nothing (costs are integers: micro-USD for budgets)", async () => {
      const c = await counters();
      const [k, other] = [fresh("bad"), fresh("bad-other")];
      const bad: Array<[string, Promise<unknown>]> = [
        ["0.5", c.hitAll([check(other, 10, 1), check(k, 10, 0.5)])],
        ["-1", c.hitAll([check(k, 10, -1)])],
        ["limit 1.5", c.hitAll([check(k, 1.5, 1)])],
        ["2^53", c.hitAll([check(k, Number.MAX_SAFE_INTEGER, 2 ** 53)])],
        ["NaN", c.hitAll([check(k, 10, Number.NaN)])],
        ["add 0.25", c.add(k, 0.25, inAMinute())],
        ["empty key", c.get("")],
      ];
      for (const [label, p] of bad) {
        const err = await p.then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        );
        expect(err?.code, label).toBe(Code.Internal);
        expect(err?.rawMessage, label).toMatch(/^counters: /);
      }
      expect(await c.get(k)).toBeUndefined();
      expect(await c.get(other)).toBeUndefined();
    });
  });
}

async function sleepUntil(epochMs: number): Promise<void> {
  const ms = epochMs - Date.now();
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}
