// A target's recent calls, for judgements over a sliding window (canary guards, outlier
// ejection): a fixed-size ring of the last N calls, each with its time, whether it failed by the
// target's fault, its latency (unary answers) and its time to first message (streams).
//
// Per call, record() writes four slots of preallocated typed arrays: no allocation, no sorting.
// The percentiles are computed only when a judgement reads the window (summary(): one pass over
// the ring, a sort of the samples in it), and judgements are rate-limited by their callers (every
// N calls or once per interval), never made per call.

/** What a window held at a judgement. A percentile without samples is NaN. */
export interface WindowSummary {
  calls: number;
  errors: number;
  /** errors / calls; NaN without calls. */
  errorRate: number;
  latencySamples: number;
  p95LatencyMs: number;
  ttftSamples: number;
  p95TtftMs: number;
}

export const emptySummary: WindowSummary = Object.freeze({
  calls: 0,
  errors: 0,
  errorRate: NaN,
  latencySamples: 0,
  p95LatencyMs: NaN,
  ttftSamples: 0,
  p95TtftMs: NaN,
});

/** The feedback scores a window held at a judgement: how many, and their mean (NaN without any). */
export interface FeedbackSummary {
  samples: number;
  mean: number;
}

export const emptyFeedback: FeedbackSummary = Object.freeze({ samples: 0, mean: NaN });

export class CallWindow {
  private readonly at: Float64Array;
  private readonly latency: Float64Array;
  private readonly ttft: Float64Array;
  private readonly failed: Uint8Array;
  private next = 0;
  private size = 0;
  /**
   * Feedback scores on the target's answers (FeedbackService, after the call): a ring of its own,
   * by the time each was posted, allocated on the first one (most targets never get any).
   */
  private feedbackAt: Float64Array | undefined;
  private feedbackScore: Float64Array | undefined;
  private feedbackNext = 0;
  private feedbackSize = 0;

  /** `capacity`: the last N calls (and N feedback scores) kept (a time window can only narrow them). */
  constructor(readonly capacity: number) {
    this.at = new Float64Array(capacity);
    this.latency = new Float64Array(capacity);
    this.ttft = new Float64Array(capacity);
    this.failed = new Uint8Array(capacity);
  }

  /** A feedback score on one of the target's answers, posted at `now` (ms). */
  recordFeedback(now: number, score: number): void {
    if (this.capacity === 0 || !Number.isFinite(score)) return;
    const at = (this.feedbackAt ??= new Float64Array(this.capacity));
    const scores = (this.feedbackScore ??= new Float64Array(this.capacity));
    const i = this.feedbackNext;
    at[i] = now;
    scores[i] = score;
    this.feedbackNext = i + 1 === this.capacity ? 0 : i + 1;
    if (this.feedbackSize < this.capacity) this.feedbackSize++;
  }

  /** The feedback scores posted at or after `since` (ms). */
  feedbackSummary(since: number): FeedbackSummary {
    return summarizeFeedback([this], since);
  }

  /** Adds this window's feedback scores at or after `since` to the running count and sum. */
  collectFeedback(since: number, acc: { samples: number; sum: number }): void {
    const at = this.feedbackAt;
    const scores = this.feedbackScore;
    if (!at || !scores) return;
    for (let n = 0, i = this.feedbackNext - 1; n < this.feedbackSize; n++, i--) {
      if (i < 0) i = this.capacity - 1;
      if (at[i]! < since) break;
      acc.samples++;
      acc.sum += scores[i]!;
    }
  }

  /**
   * One call of the target at `now` (ms): failed by its fault or not, with its unary latency or
   * its stream's time to first message (NaN for the one that does not apply, or a failure).
   */
  record(now: number, failed: boolean, latencyMs: number, ttftMs: number): void {
    if (this.capacity === 0) return;
    const i = this.next;
    this.at[i] = now;
    this.failed[i] = failed ? 1 : 0;
    this.latency[i] = latencyMs;
    this.ttft[i] = ttftMs;
    this.next = i + 1 === this.capacity ? 0 : i + 1;
    if (this.size < this.capacity) this.size++;
  }

  /** The calls made at or after `since` (ms; -Infinity: all the ring holds). */
  summary(since: number): WindowSummary {
    return summarize([this], since);
  }

  /** Calls held now (at most the capacity). */
  get held(): number {
    return this.size;
  }

  /** Adds this window's calls at or after `since` to the accumulator (see summarize). */
  collect(since: number, acc: Accumulator): void {
    const { at, failed, latency, ttft, capacity } = this;
    // Newest first, stopping at the first call older than `since` (the ring is in time order).
    for (let n = 0, i = this.next - 1; n < this.size; n++, i--) {
      if (i < 0) i = capacity - 1;
      if (at[i]! < since) break;
      acc.calls++;
      acc.errors += failed[i]!;
      const l = latency[i]!;
      if (l === l) acc.latencies[acc.nLatencies++] = l;
      const t = ttft[i]!;
      if (t === t) acc.ttfts[acc.nTtfts++] = t;
    }
  }
}

interface Accumulator {
  calls: number;
  errors: number;
  latencies: Float64Array;
  nLatencies: number;
  ttfts: Float64Array;
  nTtfts: number;
}

/** The calls of several windows (e.g. every stable target of an endpoint) together. */
export function summarize(windows: readonly CallWindow[], since: number): WindowSummary {
  let room = 0;
  for (const w of windows) room += w.held;
  const acc: Accumulator = { calls: 0, errors: 0, latencies: new Float64Array(room), nLatencies: 0, ttfts: new Float64Array(room), nTtfts: 0 };
  for (const w of windows) w.collect(since, acc);
  return {
    calls: acc.calls,
    errors: acc.errors,
    errorRate: acc.calls === 0 ? NaN : acc.errors / acc.calls,
    latencySamples: acc.nLatencies,
    p95LatencyMs: quantile(acc.latencies.subarray(0, acc.nLatencies), 0.95),
    ttftSamples: acc.nTtfts,
    p95TtftMs: quantile(acc.ttfts.subarray(0, acc.nTtfts), 0.95),
  };
}

/** The feedback scores of several windows (e.g. every stable target of an endpoint) together. */
export function summarizeFeedback(windows: readonly CallWindow[], since: number): FeedbackSummary {
  const acc = { samples: 0, sum: 0 };
  for (const w of windows) w.collectFeedback(since, acc);
  return acc.samples === 0 ? emptyFeedback : { samples: acc.samples, mean: acc.sum / acc.samples };
}

/** The q-quantile (nearest rank) of the samples, sorting them in place (numeric sort); NaN without samples. */
export function quantile(samples: Float64Array | number[], q: number): number {
  if (samples.length === 0) return NaN;
  if (samples instanceof Float64Array) samples.sort();
  else samples.sort((a, b) => a - b);
  const rank = Math.ceil(q * samples.length);
  return samples[Math.min(samples.length, Math.max(1, rank)) - 1]!;
}
