// Per-call data shared by the interceptors and the services, carried in contextValues.
import { createContextKey, type ContextValues, type StreamRequest, type UnaryRequest } from "@connectrpc/connect";
import type { Usage } from "../../gen/modelgate/v1/common_pb";
import type { Principal, RuntimeState } from "../runtime";
import type { StreamedTokenCounter } from "../usage/tokens";

/**
 * What the call measured, each part written by the layer that measured it and read when the
 * call ends (quota settlement and the ledger row, the log line, metrics, the trace): the
 * services set the answer's usage and model version (recordAnswer in
 * src/services/endpoint-call.ts), routing the target that served and its attempts
 * (servedBy), the upstream client's hook whether the upstream had the request. Kept apart from
 * the call's identity (state, request id, principal, endpoint), fixed before the service runs.
 */
export interface CallOutcome {
  /** The provider and model that answered: the endpoint's first target until routing says which served. */
  provider?: string;
  model?: string;
  /** The endpoint target that answered (its provider and model above), once one did. */
  target?: string;
  /** Upstream requests the answer took (retries and fallbacks included). */
  attempts?: number;
  usage?: Omit<Usage, "$typeName" | "$unknown">;
  /** The registry version that answered (Predict), when known. */
  modelVersion?: string;
  /**
   * What the stream sent the client so far (text and tool calls): settles the tokens of a stream
   * that ends without the provider's usage (cancelled or broken).
   */
  streamedOutput?: StreamedTokenCounter;
  /**
   * The upstream has the request and may bill it (it answered 2xx, or it was sent and no answer
   * came in time): a call that fails from here on without usage still records the prompt
   * estimate (and whatever was streamed). Unset for calls refused before any upstream request
   * (auth, quota, validation, unknown endpoint) or refused by the upstream (an error status).
   */
  upstreamReached?: boolean;
}

export interface CallInfo {
  /** The state this call runs on, fixed at its start (config reloads swap state, not calls). */
  state: RuntimeState;
  startedAt: number;
  requestId: string;
  /** W3C traceparent for upstream requests (our span as the parent). */
  traceparent?: string;
  /** The `endpoint` field of the request, once read. */
  endpoint?: string;
  principal?: Principal;
  /** Registry model versions the principal's grants allow for this endpoint (undefined = any). */
  allowedModelVersions?: ReadonlySet<string>;
  /** What the call measured (see CallOutcome). */
  readonly outcome: CallOutcome;
  /** The request message, once read (token estimates). */
  message?: unknown;
  streamed: boolean;
}

export const callInfoKey = createContextKey<CallInfo | undefined>(undefined, { description: "modelgate call info" });

export function getCallInfo(values: ContextValues): CallInfo | undefined {
  return values.get(callInfoKey);
}

/**
 * The request message. For server streams the request message is an async iterable in
 * interceptors: the first message is read once and put back in front of the rest.
 */
export async function requestMessage(req: UnaryRequest | StreamRequest, info: CallInfo): Promise<unknown> {
  if (info.message !== undefined) return info.message;
  let message: unknown;
  if (req.stream) {
    const it = req.message[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done) return undefined;
    message = first.value;
    // Interceptors may hand a changed request on; the stream's first message was consumed above.
    (req as { message: AsyncIterable<unknown> }).message = (async function* () {
      yield first.value;
      for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
    })();
  } else {
    message = req.message;
  }
  info.message = message;
  const endpoint = (message as { endpoint?: unknown }).endpoint;
  if (typeof endpoint === "string") info.endpoint = endpoint;
  return message;
}

/** The request's `endpoint` field (see requestMessage). */
export async function requestEndpoint(req: UnaryRequest | StreamRequest, info: CallInfo): Promise<string | undefined> {
  await requestMessage(req, info);
  return info.endpoint;
}
