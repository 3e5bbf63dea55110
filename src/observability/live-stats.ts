// Live figures per endpoint and per target for StatsService.WatchStats: what the last seconds of
// this process's calls looked like (calls/s, error rate, p50/p95 latency, p50 time to first
// token, tokens/s) and how many streams are open now.
//
// Per call the gateway pays one O(1) update of preallocated typed arrays (no allocation, no
// sorting): a slot of per-second counters (calls, errors, tokens) and a slot of a ring of the
// last samples (latency, time to first message), as src/routing/window.ts keeps them for
// canaries. Rates come from the counters, so they stay exact however many calls a second brings;
// the percentiles come from the samples in the window (at most the ring's capacity, the newest).
// Reading the figures (one pass over 64 counters and the ring, one sort of the samples) happens
// only when a watcher asks, at most once per 100 ms per window size.
import { quantile } from "../routing/window";

/** Seconds of per-second counters kept: the longest window a watcher may ask for, and a spare. */
export const MAX_WINDOW_SECONDS = 60;
const SLOTS = 64;
/** Latency and TTFT samples kept per series (the newest). */
const SAMPLES = 512;
/** Figures computed for a window size are reused by every watcher asking within this time (ms). */
const REUSE_MS = 100;

/** One series' figures over a window. Percentiles and the error rate are NaN without samples. */
export interface LiveFigures {
  calls: number;
  errors: number;
  callsPerSecond: number;
  errorRate: number;
  p50LatencyMs: number;
  p95LatencyMs: number;
  p50TtftMs: number;
  tokensPerSecond: number;
  completionTokensPerSecond: number;
  activeStreams: number;
  totalCalls: number;
}

/** One ended call, as the call path measured it. */
export interface EndedCall {
  /** Ended with an error code (not OK, not CANCELED). */
  failed: boolean;
  /** Start to end (a stream's whole duration); NaN to leave it out (failed calls). */
  latencyMs: number;
  /** A stream's start to its first message; NaN for unary calls and streams that sent none. */
  ttftMs: number;
  promptTokens: number;
  completionTokens: number;
}

/** An endpoint's or a target's recent calls. */
export class LiveSeries {
  // Per-second counters: slot s % SLOTS holds second s (its number in `second`).
  private readonly second = new Float64Array(SLOTS).fill(-1);
  private readonly calls = new Float64Array(SLOTS);
  private readonly errors = new Float64Array(SLOTS);
  private readonly tokens = new Float64Array(SLOTS);
  private readonly completionTokens = new Float64Array(SLOTS);
  // The ring of samples, in time order.
  private readonly at = new Float64Array(SAMPLES);
  private readonly latency = new Float32Array(SAMPLES);
  private readonly ttft = new Float32Array(SAMPLES);
  private next = 0;
  private held = 0;
  private total = 0;
  private open = 0;
  private readonly createdAt: number;
  private reused: { at: number; windowMs: number; figures: LiveFigures } | undefined;

  /** `now`: ms on the clock the calls are recorded with (Date.now by default in LiveStats). */
  constructor(now: number) {
    this.createdAt = now;
  }

  record(now: number, call: EndedCall): void {
    const s = Math.floor(now / 1000);
    const i = s % SLOTS;
    if (this.second[i] !== s) {
      this.second[i] = s;
      this.calls[i] = 0;
      this.errors[i] = 0;
      this.tokens[i] = 0;
      this.completionTokens[i] = 0;
    }
    this.calls[i]!++;
    if (call.failed) this.errors[i]!++;
    this.tokens[i]! += call.promptTokens + call.completionTokens;
    this.completionTokens[i]! += call.completionTokens;
    this.total++;
    if (call.latencyMs === call.latencyMs || call.ttftMs === call.ttftMs) {
      const j = this.next;
      this.at[j] = now;
      this.latency[j] = call.latencyMs;
      this.ttft[j] = call.ttftMs;
      this.next = j + 1 === SAMPLES ? 0 : j + 1;
      if (this.held < SAMPLES) this.held++;
    }
  }

  streamOpened(): void {
    this.open++;
  }

  streamClosed(): void {
    if (this.open > 0) this.open--;
  }

  /** The figures over the last `windowMs` (whole seconds, at most MAX_WINDOW_SECONDS) at `now`. */
  figures(now: number, windowMs: number): LiveFigures {
    const reused = this.reused;
    if (reused && reused.windowMs === windowMs && now >= reused.at && now - reused.at < REUSE_MS) {
      return { ...reused.figures, activeStreams: this.open, totalCalls: this.total };
    }
    const windowSeconds = Math.min(MAX_WINDOW_SECONDS, Math.max(1, Math.round(windowMs / 1000)));
    const nowSecond = Math.floor(now / 1000);
    // The window is the current (partial) second and the windowSeconds - 1 before it; its length
    // in seconds is what has elapsed of it (and never more than the series has existed).
    const first = nowSecond - windowSeconds + 1;
    let calls = 0;
    let errors = 0;
    let tokens = 0;
    let completionTokens = 0;
    for (let s = first; s <= nowSecond; s++) {
      const i = s % SLOTS;
      if (this.second[i] !== s) continue;
      calls += this.calls[i]!;
      errors += this.errors[i]!;
      tokens += this.tokens[i]!;
      completionTokens += this.completionTokens[i]!;
    }
    const span = Math.max(1_000, Math.min(now - first * 1000, now - this.createdAt)) / 1000;
    const since = first * 1000;
    const latencies: number[] = [];
    const ttfts: number[] = [];
    for (let n = 0, j = this.next - 1; n < this.held; n++, j--) {
      if (j < 0) j = SAMPLES - 1;
      if (this.at[j]! < since) break;
      const l = this.latency[j]!;
      if (l === l) latencies.push(l);
      const t = this.ttft[j]!;
      if (t === t) ttfts.push(t);
    }
    const figures: LiveFigures = {
      calls,
      errors,
      callsPerSecond: calls / span,
      errorRate: calls === 0 ? NaN : errors / calls,
      p50LatencyMs: quantile(latencies, 0.5),
      p95LatencyMs: quantile(latencies, 0.95),
      p50TtftMs: quantile(ttfts, 0.5),
      tokensPerSecond: tokens / span,
      completionTokensPerSecond: completionTokens / span,
      activeStreams: this.open,
      totalCalls: this.total,
    };
    this.reused = { at: now, windowMs, figures };
    return figures;
  }
}

/** An endpoint's series and its targets'. */
interface EndpointSeries {
  readonly all: LiveSeries;
  readonly targets: Map<string, LiveSeries>;
}

/**
 * The series of every endpoint that had a call, by name, kept for the gateway's lifetime (a
 * reload drops those of endpoints and targets no longer configured: see retain). Names come from
 * the config only: the call path records calls of configured endpoints and targets.
 */
export class LiveStats {
  private readonly byEndpoint = new Map<string, EndpointSeries>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The endpoint's series (made on first use). */
  endpoint(name: string): LiveSeries {
    return this.entry(name).all;
  }

  /** The series of one target of the endpoint (made on first use). */
  target(endpoint: string, target: string): LiveSeries {
    const targets = this.entry(endpoint).targets;
    let series = targets.get(target);
    if (!series) targets.set(target, (series = new LiveSeries(this.now())));
    return series;
  }

  /** The series when it exists (a watcher reading does not make one). */
  peek(endpoint: string, target?: string): LiveSeries | undefined {
    const entry = this.byEndpoint.get(endpoint);
    return target === undefined ? entry?.all : entry?.targets.get(target);
  }

  /** Records one ended call on the endpoint's series and, when a target answered, on the target's. */
  record(endpoint: string, target: string | undefined, call: EndedCall): void {
    const now = this.now();
    this.endpoint(endpoint).record(now, call);
    if (target !== undefined && target !== "") this.target(endpoint, target).record(now, call);
  }

  /** The clock the figures are computed on. */
  clock(): number {
    return this.now();
  }

  /** Keeps only the series of these endpoints and targets (after a config reload). */
  retain(configured: ReadonlyMap<string, { readonly targets: readonly { readonly name: string }[] }>): void {
    for (const [name, entry] of this.byEndpoint) {
      const endpoint = configured.get(name);
      if (!endpoint) {
        this.byEndpoint.delete(name);
        continue;
      }
      const names = new Set(endpoint.targets.map((t) => t.name));
      for (const target of entry.targets.keys()) if (!names.has(target)) entry.targets.delete(target);
    }
  }

  private entry(name: string): EndpointSeries {
    let entry = this.byEndpoint.get(name);
    if (!entry) this.byEndpoint.set(name, (entry = { all: new LiveSeries(this.now()), targets: new Map() }));
    return entry;
  }
}

/** The figures of a series that never had a call. */
export const idleFigures: LiveFigures = Object.freeze({
  calls: 0,
  errors: 0,
  callsPerSecond: 0,
  errorRate: NaN,
  p50LatencyMs: NaN,
  p95LatencyMs: NaN,
  p50TtftMs: NaN,
  tokensPerSecond: 0,
  completionTokensPerSecond: 0,
  activeStreams: 0,
  totalCalls: 0,
});
