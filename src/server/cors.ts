// CORS for browsers (Connect-web, gRPC-web). Credentials travel in the Authorization header,
// never cookies. `server.cors_origins` lists who may call: by default pages served from
// loopback only, so a site on the internet cannot drive a local gateway from a visitor's browser.
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

/** The configured origins, compiled once: "*", exact origins and `scheme://host:*` (any port). */
export interface CorsPolicy {
  allowAll: boolean;
  allows(origin: string): boolean;
}

export function corsPolicy(origins: readonly string[]): CorsPolicy {
  const exact = new Set(origins.filter((o) => !o.endsWith(":*")));
  const anyPort = origins.filter((o) => o.endsWith(":*")).map((o) => o.slice(0, -1)); // "http://localhost:"
  return {
    allowAll: exact.has("*"),
    // An origin on the scheme's default port carries no port at all ("http://localhost").
    allows: (origin) =>
      exact.has(origin) ||
      anyPort.some((prefix) => origin === prefix.slice(0, -1) || (origin.startsWith(prefix) && /^\d{1,5}$/.test(origin.slice(prefix.length)))),
  };
}

/**
 * Adds CORS headers for an allowed Origin and answers preflights. Returns true when the request
 * was a preflight and has been answered.
 */
export function applyCors(policy: CorsPolicy, method: string | undefined, headers: IncomingHttpHeaders, res: CorsResponse): boolean {
  const origin = headers.origin;
  if (!origin) return false;
  const allowAll = policy.allowAll;
  if (!allowAll && !policy.allows(origin)) return false;
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
