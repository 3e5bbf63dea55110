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

/** Lines are gathered until this many bytes, then written in one write() (sonic-boom wants it under its 16 KiB maxWrite). */
const STDOUT_BUFFER_BYTES = 8 * 1024;
/** A quiet gateway's lines wait at most this long in the buffer. */
const STDOUT_FLUSH_MS = 250;

/**
 * A JSON logger at `level`, with secrets redacted, to `destination` or else to stdout.
 *
 * Stdout is buffered (pino's sonic-boom with `minLength`): a call's log line is appended to a
 * buffer, which goes out in one write() once it holds STDOUT_BUFFER_BYTES (~20 call lines), or
 * after at most STDOUT_FLUSH_MS when the gateway is quiet: one syscall per ~20 lines under load,
 * and never a write per call. The writes are synchronous (`sync: true`) on purpose: an
 * asynchronous one still in the thread pool when the process exits can be lost (sonic-boom's
 * flushSync writes the queued lines, not the ones in flight), whereas here nothing is ever in
 * flight, so what is buffered is written when the process exits, however it exits (SIGTERM/SIGINT
 * through main's shutdown, `process.exit`, an uncaught error): no line is lost on a clean stop
 * (test/integration/cli.spec.ts). A write of 8 KiB to a file, /dev/null or a pipe with a reader
 * costs microseconds; a pipe whose reader stalls would block the process, as pino's default does.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: undefined, redact: { paths: [...redactedPaths], censor: "[redacted]" } };
  if (destination) return pino(options, destination);
  const stdout = pino.destination({ dest: 1, sync: true, minLength: STDOUT_BUFFER_BYTES });
  const flusher = setInterval(() => {
    try {
      stdout.flush();
    } catch {
      // Destroyed, or stdout closed under us: the next log call reports it as any write would.
    }
  }, STDOUT_FLUSH_MS);
  flusher.unref();
  process.once("exit", () => {
    clearInterval(flusher);
    try {
      stdout.flushSync();
    } catch {
      // stdout already closed (a pipe whose reader went away): nothing left to write to.
    }
  });
  return pino(options, stdout);
}
