import { describe, expect, it } from "vitest";
import { MemoryRateLimiter } from "../../src/quota/limiter";

describe("MemoryRateLimiter", () => {
  it("admits up to the limit per window, then says when to retry", async () => {
    let now = 60_000 * 10 + 15_000; // 15 s into a minute window
    const limiter = new MemoryRateLimiter(() => now);
    for (let i = 0; i < 3; i++) expect((await limiter.hit("k", 3, 60_000)).allowed).toBe(true);
    expect(await limiter.hit("k", 3, 60_000)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 45_000 });
    expect((await limiter.hit("other", 3, 60_000)).allowed).toBe(true);
    now += 45_000; // the next window
    expect(await limiter.hit("k", 3, 60_000)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
  });

  it("counts costs (token limits) and refuses a hit that would overflow", async () => {
    const limiter = new MemoryRateLimiter(() => 0);
    expect((await limiter.hit("t", 100, 1_000, 60)).remaining).toBe(40);
    expect((await limiter.hit("t", 100, 1_000, 50)).allowed).toBe(false);
    expect((await limiter.hit("t", 100, 1_000, 40)).allowed).toBe(true);
  });
});
