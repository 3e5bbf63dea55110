// GET /metrics behind a bearer token (server.metrics_token). The token and what the scraper sent
// are compared as SHA-256 digests with timingSafeEqual: the same length whatever was sent, and no
// early exit at the first wrong byte. Nothing of what was sent is echoed or logged.
import { createHash, timingSafeEqual } from "node:crypto";
import type { NodeResponse } from "./one-port";

/** Whether an Authorization header carries the token; undefined when /metrics is open. */
export type MetricsGuard = (authorization: string | undefined) => boolean;

export function metricsGuard(token: string | undefined): MetricsGuard | undefined {
  if (token === undefined) return undefined;
  const expected = digest(token);
  return (authorization) => {
    // RFC 6750: the scheme is case-insensitive, one or more spaces before the token.
    const m = authorization === undefined ? null : /^bearer +(\S+) *$/i.exec(authorization);
    return m !== null && timingSafeEqual(digest(m[1]!), expected);
  };
}

/** 401 with the challenge Prometheus and curl understand; the body says what is needed. */
export function refuseMetrics(res: NodeResponse, sent: boolean): void {
  res.writeHead(401, {
    "content-type": "text/plain; charset=utf-8",
    "www-authenticate": sent ? 'Bearer realm="modelgate metrics", error="invalid_token"' : 'Bearer realm="modelgate metrics"',
  });
  res.end(sent ? "GET /metrics: the bearer token is not server.metrics_token\n" : "GET /metrics needs Authorization: Bearer <server.metrics_token>\n");
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
