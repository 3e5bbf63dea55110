// An endpoint's retry budget (after Finagle's and Envoy's): retries may add at most a share of
// the endpoint's calls, plus a small floor per second so a quiet endpoint can still retry. When
// an upstream fails for everyone, the gateway adds that share of load to it, not a multiple.

export class RetryBudget {
  /** Saved-up retries in hundredths (whole percents add up exactly: 10 calls at 20 % are 2 retries). */
  private tokens = 0;
  private floorSecond = 0;
  private floorUsed = 0;
  /** The most retries saved up by earlier calls (so a burst after a quiet time is bounded too). */
  private readonly cap: number;

  constructor(
    private readonly percent: number,
    private readonly minPerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.cap = Math.max(1_000, percent * 100);
  }

  /** A call arrived: it earns `percent` hundredths of a retry for the endpoint. */
  deposit(): void {
    this.tokens = Math.min(this.cap, this.tokens + this.percent);
  }

  /** Takes one retry; false when the budget is spent (the caller fails over or gives up). */
  tryWithdraw(): boolean {
    if (this.tokens >= 100) {
      this.tokens -= 100;
      return true;
    }
    const second = Math.floor(this.now() / 1000);
    if (second !== this.floorSecond) {
      this.floorSecond = second;
      this.floorUsed = 0;
    }
    if (this.floorUsed < this.minPerSecond) {
      this.floorUsed++;
      return true;
    }
    return false;
  }
}
