// The one pino logger configuration, used by the gateway (src/main.ts) and by the tests'
// harness, so tests see exactly the production redaction.
import { pino, type DestinationStream, type Logger } from "pino";

/**
 * Secrets, by exact path (no wildcards: a wildcard path makes pino walk every object it logs).
 * Key *names* stay readable: the call line's `key` is the name of the caller's key, never the key
 * itself, so `key` is not here. Nothing logs a secret under a name that is not listed.
 */
export const redactedPaths: readonly string[] = [
  "authorization",
  "headers.authorization",
  'headers["x-api-key"]',
  'headers["api-key"]',
  "err.config.headers.authorization",
  "api_key",
  "apiKey",
  "secret",
  "password",
];

/** A JSON logger at `level`, to stdout or to `destination`, with secrets redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: undefined, redact: { paths: [...redactedPaths], censor: "[redacted]" } };
  return destination ? pino(options, destination) : pino(options);
}
