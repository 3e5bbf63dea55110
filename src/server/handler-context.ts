// The HandlerContext of a call served without connect-es's handlers (the unary fast path, the
// in-process transport of the REST surfaces): what createHandlerContext (implementation.js)
// builds, minus its per-call extras. The request's Headers are used as given (not copied
// again), one AbortController is linked to the request's signal and to the shutdown signal
// (through one listener for all calls; no second controller for a deadline the call does not
// have: a timer only when it has one), and nothing listens on its own signal. The signal aborts
// with the same reasons: the request's or the shutdown's, "the operation timed out"
// (DEADLINE_EXCEEDED) at the deadline, or what `abort` gets.
import { getEventListeners } from "node:events";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import { parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import { MAX_TIMER_MS } from "../timers";
import { FastHeaders } from "./fast-headers";
import { bindCallContext, CallValues } from "./interceptor-chain";

export type AbortableContext = HandlerContext & {
  /** Aborts the call's signal with `reason` (the deadline timer and the signal links released). */
  abort(reason: unknown): void;
  /**
   * The call's answer is complete: releases the deadline timer and the signal links, and aborts
   * the signal with `reason` only if something still listens on it. The abort itself creates and
   * dispatches an Event, ~4 µs of a REST call's CPU, for a signal that by then nothing listens on:
   * every wait inside a finished unary call (the upstream request, the router's attempt, a retry's
   * sleep) has removed its listener. Work that outlives the call and watches the signal without a
   * listener (polling \`aborted\`, or through \`AbortSignal.any\`) would not see it end: nothing does.
   */
  finish(reason: unknown): void;
};

export interface CallContextInit {
  method: DescMethod;
  protocolName: string;
  url: string;
  timeoutMs: number | undefined;
  /** The request's signal (the client went away), when there is one. */
  requestSignal: AbortSignal | undefined;
  /** The gateway's shutdown (aborts every running call after the grace period). */
  shutdownSignal: AbortSignal | undefined;
  requestHeader: Headers;
  responseHeader: Headers;
  contextValues: ContextValues | undefined;
}

/**
 * The request as connect-es's own handler should see it: a grpc-timeout or connect-timeout-ms
 * further away than MAX_TIMER_MS is removed (connect-es's deadline timer has the same limit), so
 * every path treats it as callContext does. A malformed value stays, for connect-es to refuse.
 */
export function withoutFarDeadline(u: UniversalServerRequest): UniversalServerRequest {
  for (const name of timeoutHeaders) {
    const value = u.header.get(name);
    if (value !== null && isFarTimeout(name, value)) u.header.delete(name);
  }
  return u;
}

const timeoutHeaders = ["grpc-timeout", "connect-timeout-ms"] as const;

/** Whether a well-formed timeout header's value is longer than MAX_TIMER_MS. */
export function isFarTimeout(name: (typeof timeoutHeaders)[number], value: string): boolean {
  const parse = name === "grpc-timeout" ? parseGrpcTimeout : parseConnectTimeout;
  return (parse(value, Number.MAX_SAFE_INTEGER).timeoutMs ?? 0) > MAX_TIMER_MS;
}

const deadlineExceeded = () => new ConnectError("the operation timed out", Code.DeadlineExceeded);

/**
 * The running calls' abort functions per shutdown signal, which has one listener that aborts
 * them all: a listener per call on that one signal costs an add and a remove that walk all the
 * others (Node's EventTarget keeps a list), ~0.4 µs per call at 32 concurrent calls.
 */
const running = new WeakMap<AbortSignal, Set<(reason: unknown) => void>>();

function runningOn(signal: AbortSignal): Set<(reason: unknown) => void> {
  let calls = running.get(signal);
  if (calls === undefined) {
    const all = (calls = new Set());
    running.set(signal, all);
    signal.addEventListener(
      "abort",
      () => {
        for (const abort of all) abort(signal.reason);
      },
      { once: true },
    );
  }
  return calls;
}

export function callContext(init: CallContextInit): AbortableContext {
  const controller = new AbortController();
  const { requestSignal, shutdownSignal, method } = init;
  // A deadline too far away for a timer (gRPC allows "99999999H"; grpc-go sends 30 days as
  // "2592000S") would fire at once: it is treated as none, as @grpc/grpc-js does (deadline.ts,
  // getRelativeTimeout: too far for a timer means no timer).
  const timeoutMs = init.timeoutMs !== undefined && init.timeoutMs > MAX_TIMER_MS ? undefined : init.timeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let shutdownCalls: Set<(reason: unknown) => void> | undefined;
  const release = () => {
    if (timer !== undefined) clearTimeout(timer);
    requestSignal?.removeEventListener("abort", onLinkAbort);
    shutdownCalls?.delete(abort);
  };
  const abort = (reason: unknown) => {
    release();
    if (!controller.signal.aborted) controller.abort(reason);
  };
  const finish = (reason: unknown) => {
    release();
    if (!controller.signal.aborted && getEventListeners(controller.signal, "abort").length > 0) controller.abort(reason);
  };
  function onLinkAbort(this: AbortSignal) {
    abort(this.reason);
  }
  const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  if (timeoutMs !== undefined) {
    if (timeoutMs <= 0) abort(deadlineExceeded());
    else timer = setTimeout(() => abort(deadlineExceeded()), timeoutMs);
  }
  if (requestSignal !== undefined && !controller.signal.aborted) {
    if (requestSignal.aborted) abort(requestSignal.reason);
    else requestSignal.addEventListener("abort", onLinkAbort);
  }
  if (shutdownSignal !== undefined && !controller.signal.aborted) {
    if (shutdownSignal.aborted) abort(shutdownSignal.reason);
    else (shutdownCalls = runningOn(shutdownSignal)).add(abort);
  }
  return bindCallContext({
    method,
    service: method.parent,
    protocolName: init.protocolName,
    requestMethod: "POST",
    url: init.url,
    signal: controller.signal,
    timeoutMs: () => (deadline === undefined ? undefined : deadline - Date.now()),
    requestHeader: init.requestHeader,
    responseHeader: init.responseHeader,
    responseTrailer: new FastHeaders(),
    values: init.contextValues ?? new CallValues(),
    abort,
    finish,
  });
}
