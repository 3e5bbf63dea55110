// CORS for browsers (Connect-web, gRPC-web). Credentials travel in the Authorization header,
// never cookies, so any origin may call by default; `server.cors_origins` narrows it.
import { cors } from "@connectrpc/connect";
import type { IncomingHttpHeaders } from "node:http";

const allowMethods = cors.allowedMethods.join(", ");
const allowHeaders = [...cors.allowedHeaders, "Authorization", "X-Request-Id", "Traceparent"].join(", ");
const exposeHeaders = [...cors.exposedHeaders, "X-Request-Id", "Retry-After"].join(", ");

export interface CorsResponse {
  setHeader(name: string, value: string): unknown;
  writeHead(status: number): unknown;
  end(): unknown;
}

/**
 * Adds CORS headers for an allowed Origin and answers preflights. Returns true when the request
 * was a preflight and has been answered.
 */
export function applyCors(
  allowedOrigins: readonly string[],
  method: string | undefined,
  headers: IncomingHttpHeaders,
  res: CorsResponse,
): boolean {
  const origin = headers.origin;
  if (!origin) return false;
  const allowAll = allowedOrigins.includes("*");
  if (!allowAll && !allowedOrigins.includes(origin)) return false;
  res.setHeader("access-control-allow-origin", allowAll ? "*" : origin);
  if (!allowAll) res.setHeader("vary", "Origin");
  if (method === "OPTIONS" && headers["access-control-request-method"]) {
    res.setHeader("access-control-allow-methods", allowMethods);
    res.setHeader("access-control-allow-headers", allowHeaders);
    res.setHeader("access-control-max-age", "7200");
    res.writeHead(204);
    res.end();
    return true;
  }
  res.setHeader("access-control-expose-headers", exposeHeaders);
  return false;
}
