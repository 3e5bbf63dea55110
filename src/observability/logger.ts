// The one pino logger configuration, used by the gateway (src/main.ts) and by the tests'
// harness, so tests see exactly the production redaction.
import { pino, type DestinationStream, type Level, type Logger } from "pino";

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

/** Lines are gathered until this many characters, then written in one write() (sonic-boom wants under 16 KiB a write). */
const STDOUT_BUFFER_CHARS = 8 * 1024;
/** A quiet gateway's lines wait at most this long in the buffer. */
const STDOUT_FLUSH_MS = 250;

/**
 * Log lines gathered in an array and handed to `out` joined, one write per `limit` characters.
 *
 * In front of sonic-boom rather than its own `minLength` buffering: that one appends each line to
 * a string and measures the string's UTF-8 length on every write (`Buffer.byteLength` of the
 * buffer so far, which also flattens it), a cost that grows with the buffer: ~4 µs of a call line's
 * ~10 in the gateway's profile. Here a line costs an array push.
 */
export class LineBuffer implements DestinationStream {
  private lines: string[] = [];
  private chars = 0;

  constructor(
    private readonly out: { write(chunk: string): unknown; flushSync(): void },
    private readonly limit: number,
  ) {}

  write(line: string): void {
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= this.limit) this.drain();
  }

  /** Hands what is gathered to the destination (a synchronous sonic-boom writes it at once). */
  drain(): void {
    if (this.lines.length === 0) return;
    const chunk = this.lines.length === 1 ? this.lines[0]! : this.lines.join("");
    this.lines = [];
    this.chars = 0;
    this.out.write(chunk);
  }

  /** pino's `logger.flush(cb)`. */
  flush(cb?: (err?: Error) => void): void {
    try {
      this.drain();
      this.out.flushSync();
    } catch (err) {
      cb?.(err as Error);
      return;
    }
    cb?.();
  }
}

/**
 * A JSON logger at `level`, with secrets redacted, to `destination` or else to stdout.
 *
 * Stdout is buffered (LineBuffer): a call's log line is appended to a buffer, which goes out in
 * one write() once it holds STDOUT_BUFFER_CHARS (~20 call lines), or after at most STDOUT_FLUSH_MS
 * when the gateway is quiet: one syscall per ~20 lines under load, and never a write per call. The
 * writes are synchronous (sonic-boom, `sync: true`) on purpose: an asynchronous one still in the
 * thread pool when the process exits can be lost (sonic-boom's flushSync writes the queued lines,
 * not the ones in flight), whereas here nothing is ever in flight, so what is buffered is written
 * when the process exits, however it exits (SIGTERM/SIGINT through main's shutdown,
 * `process.exit`, an uncaught error): no line is lost on a clean stop
 * (test/integration/cli.spec.ts). A write of 8 KiB to a file, /dev/null or a pipe with a reader
 * costs microseconds; a pipe whose reader stalls would block the process, as pino's default does.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: undefined, redact: { paths: [...redactedPaths], censor: "[redacted]" } };
  if (destination) return pino(options, destination);
  const stdout = new LineBuffer(pino.destination({ dest: 1, sync: true }), STDOUT_BUFFER_CHARS);
  const flusher = setInterval(() => {
    try {
      stdout.drain();
    } catch {
      // Destroyed, or stdout closed under us: the next log call reports it as any write would.
    }
  }, STDOUT_FLUSH_MS);
  flusher.unref();
  process.once("exit", () => {
    clearInterval(flusher);
    try {
      stdout.flush();
    } catch {
      // stdout already closed (a pipe whose reader went away): nothing left to write to.
    }
  });
  return pino(options, stdout);
}

/** Fields of a line written by `lineWriter`: plain values and lists of strings (which JSON.stringify writes as pino would). */
export type PlainFields = Record<string, string | number | boolean | readonly string[] | undefined>;

const { streamSym, lsCacheSym, timeSym, chindingsSym, endSym, messageKeySym, needsMetadataGsym, mixinSym, formattersSym, hooksSym } = pino.symbols;

/**
 * A writer of the exact line `log[level](fields, msg)` writes (same level, time, child bindings,
 * key order, message key and end), made by V8's JSON.stringify instead of pino's generic
 * serializer, which walks the object key by key (~3.5 µs for the call line in a loop, ~8 µs in the
 * gateway's profile, against ~1 µs here): for the one line every call writes (loggingInterceptor).
 *
 * No redaction is applied, so it is only for fields that never hold a secret: the call line's are
 * ids, names, codes and counts (none of `redactedPaths`). A logger whose lines pino must dress
 * (a mixin, a log formatter, hooks, a destination that wants the line's metadata such as
 * pino.multistream) gets its lines from pino itself.
 */
export function lineWriter(log: Logger): (level: Level, fields: PlainFields, msg: string) => void {
  const l = log as unknown as Record<symbol, unknown>;
  const stream = l[streamSym] as DestinationStream & Record<symbol, unknown>;
  const formatters = l[formattersSym] as { log?: unknown };
  const hooks = l[hooksSym] as { logMethod?: unknown; streamWrite?: unknown };
  if (stream[needsMetadataGsym] || l[mixinSym] || formatters.log || hooks.logMethod || hooks.streamWrite) {
    return (level, fields, msg) => log[level](fields, msg);
  }
  const levels = l[lsCacheSym] as Record<number, string>;
  const time = l[timeSym] as () => string;
  const end = l[endSym] as string;
  const messageKey = `,"${l[messageKeySym] as string}":`;
  return (level, fields, msg) => {
    if (!log.isLevelEnabled(level)) return;
    const json = JSON.stringify(fields);
    const body = json.length > 2 ? "," + json.slice(1, -1) : "";
    stream.write(levels[log.levels.values[level]!] + time() + (l[chindingsSym] as string) + body + messageKey + JSON.stringify(msg) + end);
  };
}
