// The HandlerContext of a call served without connect-es's handlers (the unary fast path, the
// in-process transport of the REST surfaces): what createHandlerContext (implementation.js)
// builds, minus its per-call extras. The request's Headers are used as given (not copied
// again), one AbortController is linked to the request's and the shutdown signal (no second
// controller for a deadline the call does not have: a timer only when it has one), and nothing
// listens on its own signal. The signal aborts with the same reasons: the request's or the
// shutdown's, "the operation timed out" (DEADLINE_EXCEEDED) at the deadline, or what `abort` gets.
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import { FastHeaders } from "./fast-headers";

export type AbortableContext = HandlerContext & { abort(reason: unknown): void };

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

const deadlineExceeded = () => new ConnectError("the operation timed out", Code.DeadlineExceeded);

export function callContext(init: CallContextInit): AbortableContext {
  const controller = new AbortController();
  const { requestSignal, shutdownSignal, timeoutMs, method } = init;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const abort = (reason: unknown) => {
    if (timer !== undefined) clearTimeout(timer);
    requestSignal?.removeEventListener("abort", onLinkAbort);
    shutdownSignal?.removeEventListener("abort", onLinkAbort);
    if (!controller.signal.aborted) controller.abort(reason);
  };
  function onLinkAbort(this: AbortSignal) {
    abort(this.reason);
  }
  const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  if (timeoutMs !== undefined) {
    if (timeoutMs <= 0) abort(deadlineExceeded());
    else timer = setTimeout(() => abort(deadlineExceeded()), timeoutMs);
  }
  for (const s of [requestSignal, shutdownSignal]) {
    if (s === undefined || controller.signal.aborted) continue;
    if (s.aborted) abort(s.reason);
    else s.addEventListener("abort", onLinkAbort);
  }
  return {
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
    values: init.contextValues ?? createContextValues(),
    abort,
  };
}
