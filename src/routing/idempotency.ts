// When a failed attempt may be tried again (on the same target or the next one) without the
// risk of the upstream doing the work twice.
//
// An upstream that answered with an error status refused the request (providers neither run nor
// bill those), and a connection that never opened never carried it: both are tried again as the
// routing policy says. But a request that was sent in full and then got no answer (the
// connection broke, or no answer came in time) may have been processed upstream, and a second
// attempt would then run (and bill) it twice. Such a failure is tried again only when the caller
// sent an `Idempotency-Key` (forwarded unchanged on every attempt, so an upstream that honours
// it answers the repeat from its first run) or the endpoint opts in with
// `routing.retries.retry_unsafe: true`. (The OpenAI SDKs, openai-node 6 and openai-python 3 as
// installed here, send no Idempotency-Key by default: a caller sets it per request.)
import { ConnectError } from "@connectrpc/connect";
import { invalidArgument } from "../errors";
import { upstreamFailure } from "../upstream/client";
import type { FailureClass } from "./config";

/** The request header (also sent upstream unchanged) that makes repeating a call safe. */
export const idempotencyKeyHeader = "idempotency-key";

/** Longest key accepted (Stripe's limit). */
const maxKeyLength = 255;
const visibleAscii = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/**
 * The caller's Idempotency-Key, or undefined when it sent none. A key that is empty, too long or
 * not visible ASCII is the caller's mistake: INVALID_ARGUMENT, rather than a key the upstream
 * would refuse or, worse, match against another request.
 */
export function idempotencyKeyOf(headers: Headers): string | undefined {
  const value = headers.get(idempotencyKeyHeader);
  if (value === null) return undefined;
  if (value.length > maxKeyLength) {
    throw invalidArgument(`${idempotencyKeyHeader}: at most ${maxKeyLength} characters (got ${value.length})`);
  }
  if (!visibleAscii.test(value)) {
    throw invalidArgument(`${idempotencyKeyHeader}: use printable ASCII characters, not empty and without leading or trailing spaces`);
  }
  return value;
}

/**
 * Error codes of a connection that failed before the request was written: nothing reached the
 * upstream. Any other connection failure (a reset, "other side closed") may have come after the
 * whole request was sent.
 */
const beforeSendCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  // TLS handshakes that failed on the certificate.
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Whether the upstream may have processed the request of an attempt that failed with `err`
 * (classified as `kind`): it was sent and no answer came (a timeout, or a connection broken after
 * it opened). An error status or an unreadable answer is an answer: not this.
 */
export function mayHaveBeenProcessed(err: unknown, kind: FailureClass): boolean {
  if (kind === "timeout") return true;
  if (kind !== "connection") return false;
  const e = ConnectError.from(err);
  if (upstreamFailure(e)?.kind !== "connection") return true;
  const code = (e.cause as { code?: unknown } | undefined)?.code;
  return !(typeof code === "string" && beforeSendCodes.has(code));
}

export interface RepeatPolicy {
  /** `routing.retries.retry_unsafe`: the endpoint's calls may be repeated whatever happened. */
  retryUnsafe: boolean;
}

/**
 * Whether a failed attempt may be followed by another (a retry or a fallback), as far as
 * idempotency goes: the failure left the request unprocessed, or the caller or the endpoint made
 * repeating it safe.
 */
export function mayRepeat(err: unknown, kind: FailureClass, policy: RepeatPolicy, idempotencyKey: string | undefined): boolean {
  return policy.retryUnsafe || idempotencyKey !== undefined || !mayHaveBeenProcessed(err, kind);
}

/** The failure returned instead of a repeat, saying why nothing else was tried. */
export function notRepeated(err: unknown): ConnectError {
  const e = ConnectError.from(err);
  const why =
    "; not tried again: the upstream may have processed the request (send an Idempotency-Key header, or set routing.retries.retry_unsafe, to allow it)";
  // The upstream client's errors carry no details; the metadata (retry-after) is kept.
  return new ConnectError(e.rawMessage + why, e.code, e.metadata, undefined, e.cause);
}
