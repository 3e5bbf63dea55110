// One full garbage collection once start-up is over, so that the memory start-up used and left
// (modules compiled, config and descriptors parsed, the tokenizer built) goes back to the system
// instead of staying in the heap's pages for the life of the process.
//
// V8 gives memory back after a full (mark-compact) collection followed by a quiet period: its
// memory reducer then shrinks the young generation and frees empty pages. An idle gateway
// allocates too little to ever need a full collection, so without one it keeps start-up's
// high-water mark. Measured on the default config (`npm start`, this machine): RSS 145 MB at
// idle for as long as we watched (60 s); with this collection 5 s after listening (~25-40 ms,
// once, at a quiet moment), 121 MB ~9 s later and from then on.
//
// Node exposes no collection outside --expose-gc; the flag is set for a fresh context only, as
// jest's leak detector does, and never reaches the gateway's own global scope.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type Collect = (options: { type: "major"; execution: "sync" }) => void;

/** A function that runs a full collection (V8's gc extension, from a fresh context). */
function collector(): Collect {
  setFlagsFromString("--expose-gc");
  try {
    return runInNewContext("gc") as Collect;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}

export interface StartupCollectionOptions {
  /**
   * Requests running now, and begun since start. The collection pauses the event loop ~25-40 ms:
   * only when none is running and at most `quietBegun` began since the last look (health probes
   * and metric scrapes, not a steady stream of calls one at a time).
   */
  calls: () => { running: number; begun: number };
  /** Requests begun between two looks that still leave the moment quiet: 5, one a second at the default delay. */
  quietBegun?: number;
  /** After start-up: the tokenizer's background build starts 2 s after listening and takes <0.5 s. */
  delayMs?: number;
  /** Busy at every try: given up (traffic's own collections will do it). */
  tries?: number;
  /** Told the heap's used bytes before and after, and the pause, or why it did not run. */
  onDone?: (result: { ran: true; beforeBytes: number; afterBytes: number; pauseMs: number } | { ran: false; reason: string }) => void;
}

/** Schedules the collection (timers that never keep the process alive); returns a cancel function. */
export function scheduleStartupCollection(options: StartupCollectionOptions): () => void {
  const { calls, delayMs = 5_000, tries = 6, quietBegun = 5, onDone } = options;
  let timer: NodeJS.Timeout | undefined;
  let left = tries;
  let begun = calls().begun;
  const attempt = () => {
    timer = undefined;
    const now = calls();
    const busy = now.running > 0 || now.begun - begun > quietBegun;
    begun = now.begun;
    if (busy) {
      if (--left > 0) schedule();
      else onDone?.({ ran: false, reason: `calls were running or more than ${quietBegun} had begun at each of ${tries} tries` });
      return;
    }
    let collect: Collect;
    try {
      collect = collector();
    } catch (err) {
      onDone?.({ ran: false, reason: `no collector: ${(err as Error).message}` });
      return;
    }
    const beforeBytes = process.memoryUsage().heapUsed;
    const started = performance.now();
    collect({ type: "major", execution: "sync" });
    onDone?.({ ran: true, beforeBytes, afterBytes: process.memoryUsage().heapUsed, pauseMs: performance.now() - started });
  };
  const schedule = () => {
    timer = setTimeout(attempt, delayMs);
    timer.unref();
  };
  schedule();
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
}
