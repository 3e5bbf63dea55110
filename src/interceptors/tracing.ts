import { randomUUID } from "node:crypto";
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { mapCallErrors } from "./call-end";
import { getCallInfo } from "./call-info";

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's request id if it is safe to log and echo (bounded, no spaces or controls), else null. */
export function saneRequestId(value: string | null): string | null {
  return value !== null && requestIdPattern.test(value) ? value : null;
}

/**
 * Request id (the caller's `x-request-id` when sane, else a new one, echoed back) and W3C trace
 * context: a valid incoming `traceparent` keeps its trace id; the upstream sees our span as parent.
 */
/**
 * Hex ids from randomUUID, which Node serves from a pre-filled entropy buffer (a randomBytes call
 * per id cost ~6 µs under load). A v4 UUID has 122 random bits: plenty for trace and span ids.
 */
function randomHex(length: 16 | 32): string {
  const hex = randomUUID().replace(/-/g, "");
  return length === 32 ? hex : hex.slice(16);
}

function withRequestId(err: unknown, requestId: string): ConnectError {
  const e = ConnectError.from(err);
  e.metadata.set("x-request-id", requestId);
  return e;
}

export function tracingInterceptor(): Interceptor {
  return (next) => async (req) => {
    const info = getCallInfo(req.contextValues);
    const incomingId = req.header.get("x-request-id");
    const requestId = saneRequestId(incomingId) ?? randomUUID();
    const parent = traceparentPattern.exec(req.header.get("traceparent") ?? "");
    const traceId = parent && parent[1] !== "0".repeat(32) ? parent[1]! : randomHex(32);
    const flags = parent?.[3] ?? "01";
    const traceparent = `00-${traceId}-${randomHex(16)}-${flags}`;
    if (info) {
      info.requestId = requestId;
      info.traceparent = traceparent;
    }
    // gRPC clients read an error's metadata from the trailers: the id goes there too.
    const res = await mapCallErrors(next, req, (err) => withRequestId(err, requestId));
    res.header.set("x-request-id", requestId);
    return res;
  };
}
