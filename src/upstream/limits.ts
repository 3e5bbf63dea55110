// How much of an upstream's answer the gateway holds at once. A unary answer is read whole
// before it is parsed, and a streamed event is held until its end arrives: without a bound, one
// upstream that sends an endless body or line (broken, or hostile behind a user-set base URL)
// fills the heap and ends the process, every other call with it.
import { getHeapStatistics } from "node:v8";

/** Largest unary upstream answer read (`server.max_upstream_body_bytes`). */
export const DEFAULT_MAX_UPSTREAM_BODY_BYTES = 128 * 1024 * 1024;

/** Largest single event of a streamed answer held while it arrives (`server.max_upstream_event_bytes`). */
export const DEFAULT_MAX_UPSTREAM_EVENT_BYTES = 16 * 1024 * 1024;

/** An upstream answer, or one event of a streamed answer, over its bound: UNAVAILABLE for the call. */
export class OversizeAnswerError extends Error {
  override readonly name = "OversizeAnswerError";
}

export function oversizeEvent(maxEventBytes: number): OversizeAnswerError {
  return new OversizeAnswerError(`a streamed event is larger than ${maxEventBytes} bytes`);
}

/**
 * What all upstream answers hold at once, across calls: the unary bodies being gathered and the
 * streamed events not ended yet. The bounds above are per answer; this one keeps many answers
 * together (hundreds of streams from a broken upstream, each holding its largest event) from
 * filling the heap. One per upstream client, so per gateway process.
 */
export class HeldAnswers {
  private held = 0;

  constructor(readonly maxBytes: number) {}

  /** Adds `bytes` to what is held; false, and nothing added, when that would pass the bound. */
  take(bytes: number): boolean {
    if (this.held + bytes > this.maxBytes) return false;
    this.held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.held -= bytes;
  }

  /** One answer goes from holding `was` bytes to `now`: more taken (full() thrown past the bound) or less given back. */
  resize(was: number, now: number): void {
    if (now > was && !this.take(now - was)) throw this.full();
    if (now < was) this.give(was - now);
  }

  /** What is held now. */
  get bytes(): number {
    return this.held;
  }

  /** The error for an answer that would pass the bound. */
  full(): OversizeAnswerError {
    return new OversizeAnswerError(`upstream answers held at once would pass ${this.maxBytes} bytes (server.max_upstream_held_bytes)`);
  }
}

/** The default for everything held at once: a quarter of V8's heap limit. */
export function defaultMaxHeldBytes(): number {
  return Math.floor(getHeapStatistics().heap_size_limit / 4);
}

/** What a streamed framing holds at most: of one event, and with all other answers. */
export interface EventLimits {
  maxEventBytes: number;
  held: HeldAnswers;
}

/** The defaults, for framings used on their own (one stream: nothing else is held). */
export function defaultEventLimits(): EventLimits {
  return { maxEventBytes: DEFAULT_MAX_UPSTREAM_EVENT_BYTES, held: new HeldAnswers(Infinity) };
}
