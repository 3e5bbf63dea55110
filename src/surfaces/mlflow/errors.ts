// Errors on the MLflow surface, as MLflow's gateway (FastAPI) answers them:
//   - request validation: 422 {"detail": [{type, loc, msg, input, ctx?}, ...]}
//   - everything else:    {"detail": "message"} with MLflow's status
//   - the gateway's own rate limit: 429 {"error": "Rate limit exceeded: 2 per 1 minute"} (slowapi's
//     body), plus what modelgate adds on top: retry-after and x-ratelimit-* / RateLimit headers.
// An upstream's HTTP error keeps the upstream's status and message (MLflow passes both on), except
// that a refused credential is never quoted back (the upstream's message may contain the key).
import { Code, ConnectError } from "@connectrpc/connect";
import { httpStatusFor } from "../../errors";
import { isBodyTooLarge } from "../http";
import type { RenderedError } from "../router";
import { RequestValidationError } from "./pydantic";

/** An answer the handler chose itself (MLflow's 404 wording, 501s, the `model` refusal). */
export class MlflowHttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
  ) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.name = "MlflowHttpError";
  }
}

/** Response headers worth keeping from an error: the retry hint and the rate-limit state. */
function passedHeaders(metadata: Headers): Record<string, string> {
  const headers: Record<string, string> = {};
  metadata.forEach((value, key) => {
    if (key === "retry-after" || key.startsWith("x-ratelimit-") || key.startsWith("ratelimit")) headers[key] = value;
  });
  return headers;
}

/** What src/errors.ts fromUpstreamStatus says about an upstream's HTTP error: its status and message. */
const upstreamPatterns: { re: RegExp; status?: number; quote: boolean }[] = [
  { re: /^[^:]+: upstream rate limit(?:: ([\s\S]*))?$/, status: 429, quote: true },
  { re: /^[^:]+: the gateway's credentials were refused by the upstream \(HTTP (\d{3})\)/, quote: false },
  { re: /^[^:]+: upstream returned HTTP 404 \(wrong base URL or model name\?\)(?:: ([\s\S]*))?$/, status: 404, quote: true },
  { re: /^[^:]+: upstream generation failed \(HTTP 424\)(?:: ([\s\S]*))?$/, status: 424, quote: true },
  { re: /^[^:]+: upstream timed out \(HTTP (\d{3})\)$/, quote: false },
  { re: /^[^:]+: upstream (?:rejected the request|failed) \(HTTP (\d{3})\)(?:: ([\s\S]*))?$/, quote: true },
];

/** The upstream's status and message when `message` reports an upstream HTTP error. */
export function upstreamError(message: string): { status: number; detail: string } | undefined {
  for (const { re, status, quote } of upstreamPatterns) {
    const m = re.exec(message);
    if (!m) continue;
    if (status !== undefined) return { status, detail: (quote ? m[1] : undefined) || message };
    const code = Number(m[1]);
    return { status: code, detail: (quote ? m[2] : undefined) || message };
  }
  return undefined;
}

/** The quota layer's refusal: "rate limit of N calls per P for endpoint "E" reached; retry in Ss". */
const endpointCallLimit = /^rate limit of (\d+) calls per (\w+) for endpoint "[^"]*" reached; retry in \d+s$/;
const ownLimit = /^(.*) reached; retry in \d+s$/;

export function mlflowError(err: unknown): RenderedError {
  if (err instanceof RequestValidationError) return { status: 422, body: { detail: err.detail }, headers: {} };
  if (err instanceof MlflowHttpError) return { status: err.status, body: { detail: err.detail }, headers: {} };
  const e = ConnectError.from(err);
  if (isBodyTooLarge(err)) return { status: 413, body: { detail: e.rawMessage }, headers: {} };
  const headers = passedHeaders(e.metadata);
  const message = e.rawMessage;
  if (e.code === Code.ResourceExhausted) {
    const call = endpointCallLimit.exec(message);
    if (call) return { status: 429, body: { error: `Rate limit exceeded: ${call[1]} per 1 ${call[2]}` }, headers };
    const own = ownLimit.exec(message);
    if (own) return { status: 429, body: { error: `Rate limit exceeded: ${own[1]}` }, headers };
  }
  const upstream = e.code === Code.Unavailable || e.code === Code.InvalidArgument || e.code === Code.ResourceExhausted ? upstreamError(message) : undefined;
  if (upstream) return { status: upstream.status, body: { detail: upstream.detail }, headers };
  return { status: httpStatusFor(e.code), body: { detail: message }, headers };
}
