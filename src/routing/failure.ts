// Sorts a failed attempt into a class the routing policy decides on: move on to the next target,
// retry the same one, count it against the target's breaker, or give it back to the caller.
import { Code, ConnectError } from "@connectrpc/connect";
import { upstreamFailure } from "../upstream/client";
import type { FailureClass } from "./config";

export interface ClassifiedFailure {
  /** undefined: not the target's fault (the caller's request, or the caller went away). */
  kind: FailureClass | undefined;
  retryAfterMs?: number;
}

/** Upstream 400 messages that say the prompt is longer than the model's window. */
const contextLength = /context[ _-]?length|context window|maximum context|too many tokens|prompt is too long|input is too long/i;

export function classifyFailure(err: unknown): ClassifiedFailure {
  const e = ConnectError.from(err);
  if (attemptTimeouts.has(e)) return { kind: "timeout" };
  const f = upstreamFailure(e);
  if (f?.kind === "connection") return { kind: "connection" };
  if (f?.kind === "timeout") return { kind: "timeout" };
  if (f?.kind === "status") {
    const s = f.status;
    if (s === 429) return { kind: "rate_limit", retryAfterMs: f.retryAfterMs };
    if (s >= 500 || s === 408 || s === 424) return { kind: "server_error", retryAfterMs: f.retryAfterMs };
    if (s === 401 || s === 403 || s === 404) return { kind: "upstream_refused" };
    if (contextLength.test(e.rawMessage)) return { kind: "context_length" };
    return { kind: undefined };
  }
  // Untagged: a body or stream the translator could not read (UNAVAILABLE), else not the target's.
  if (e.code === Code.Unavailable) return { kind: "bad_response" };
  return { kind: undefined };
}

/** Worth another try on the same target (a wrong key or a too-long prompt is not). */
export function isRetryable(kind: FailureClass): boolean {
  return kind !== "upstream_refused" && kind !== "context_length";
}

/** Counts against the target's breaker: the target is unwell (a 429 is its quota, not its health). */
export function isBreakerFailure(kind: FailureClass | undefined): boolean {
  return kind !== undefined && kind !== "rate_limit" && kind !== "context_length";
}

const attemptTimeouts = new WeakSet<ConnectError>();

/** The error an attempt is aborted with when it runs past its time (classified as a timeout). */
export function attemptTimeout(target: string, ms: number): ConnectError {
  const err = new ConnectError(`target "${target}" did not answer within ${Math.round(ms)} ms`, Code.DeadlineExceeded);
  attemptTimeouts.add(err);
  return err;
}
