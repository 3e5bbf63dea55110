// The one error mapping (DESIGN.md "Errors"). Every surface and layer builds its errors here,
// so a condition gets the same Connect code and HTTP status wherever it happens.
import { Code, ConnectError } from "@connectrpc/connect";

export { Code, ConnectError };

/** A caller's text, shortened before it is quoted in an error message or a log line. */
export function clip(text: string, max = 128): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

export function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

export function notFound(message: string): ConnectError {
  return new ConnectError(message, Code.NotFound);
}

export function unauthenticated(message: string): ConnectError {
  return new ConnectError(message, Code.Unauthenticated);
}

export function permissionDenied(message: string): ConnectError {
  return new ConnectError(message, Code.PermissionDenied);
}

/** Quota or rate limit hit. The retry hint travels as a `retry-after` header (seconds) on every protocol. */
export function resourceExhausted(message: string, retryAfterMs?: number): ConnectError {
  const metadata = new Headers();
  if (retryAfterMs !== undefined) {
    metadata.set("retry-after", String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  }
  return new ConnectError(message, Code.ResourceExhausted, metadata);
}

export function unavailable(message: string, cause?: unknown): ConnectError {
  return new ConnectError(message, Code.Unavailable, undefined, undefined, cause);
}

export function deadlineExceeded(message: string): ConnectError {
  return new ConnectError(message, Code.DeadlineExceeded);
}

/** A bug or an unexpected failure in the gateway itself. The message stays generic. */
export function internal(message = "internal error"): ConnectError {
  return new ConnectError(message, Code.Internal);
}

/** A response from an upstream that the provider's translator could not understand. */
export function badUpstreamResponse(provider: string, detail: string): ConnectError {
  return unavailable(`${provider}: unexpected upstream response: ${detail}`);
}

/**
 * Maps an upstream HTTP error status to our code. `message` is the upstream's own message
 * (already stripped of anything secret) and is kept for 400s, which are the caller's fault.
 */
export function fromUpstreamStatus(
  provider: string,
  status: number,
  message: string | undefined,
  retryAfterMs?: number,
): ConnectError {
  const detail = message ? `: ${message}` : "";
  if (status === 429) {
    return resourceExhausted(`${provider}: upstream rate limit${detail}`, retryAfterMs);
  }
  if (status === 401 || status === 403) {
    // The gateway's own credentials for the provider were refused: an operator problem,
    // not the caller's. Never echo the upstream message: it may quote the key.
    return unavailable(
      `${provider}: the gateway's credentials were refused by the upstream (HTTP ${status}); check the endpoint's api key`,
    );
  }
  if (status === 404) {
    return unavailable(`${provider}: upstream returned HTTP 404 (wrong base URL or model name?)${detail}`);
  }
  if (status === 424) {
    // TGI: "generation failed" (the model server's fault, not the request's).
    return unavailable(`${provider}: upstream generation failed (HTTP 424)${detail}`);
  }
  if (status === 408 || status === 504) {
    return unavailable(`${provider}: upstream timed out (HTTP ${status})`);
  }
  if (status >= 400 && status < 500) {
    return invalidArgument(`${provider}: upstream rejected the request (HTTP ${status})${detail}`);
  }
  return unavailable(`${provider}: upstream failed (HTTP ${status})${detail}`);
}

const httpStatusByCode: Partial<Record<Code, number>> = {
  [Code.Canceled]: 499,
  [Code.InvalidArgument]: 400,
  [Code.OutOfRange]: 400,
  [Code.FailedPrecondition]: 400,
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.Aborted]: 409,
  [Code.ResourceExhausted]: 429,
  [Code.Unimplemented]: 501,
  [Code.Unavailable]: 503,
  [Code.DeadlineExceeded]: 504,
};

/** HTTP status for the REST surfaces (OpenAI, MLflow). */
export function httpStatusFor(code: Code): number {
  return httpStatusByCode[code] ?? 500;
}
