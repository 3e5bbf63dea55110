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

/**
 * A JSON logger at `level`, with secrets redacted, to `destination` or else to stdout.
 *
 * Stdout is written asynchronously (pino's sonic-boom with `sync: false`): a call's log line never
 * blocks the event loop on a write, and lines logged while a write is in flight go out together
 * in the next one, so under load the per-call cost is building the line, not a syscall. What is
 * still buffered is written synchronously when the process exits, however it exits (a clean
 * stop, `process.exit`, an uncaught error), so no line is lost on the way out.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: undefined, redact: { paths: [...redactedPaths], censor: "[redacted]" } };
  if (destination) return pino(options, destination);
  const stdout = pino.destination({ dest: 1, sync: false });
  process.once("exit", () => {
    try {
      stdout.flushSync();
    } catch {
      // stdout already closed (a pipe whose reader went away): nothing left to write to.
    }
  });
  return pino(options, stdout);
}
