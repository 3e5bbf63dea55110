// Plumbing shared by the REST surfaces: bounded JSON bodies, JSON and SSE responses, and the
// headers a REST call forwards into the one request path (auth, request id, trace context).
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import type { NodeRequest, NodeResponse } from "../server/one-port";
import { eachHeader } from "../server/fast-headers";
import { FLUSHED_MESSAGES, flushWrites } from "../server/node-adapter";
import { clip, Code, ConnectError } from "../errors";
import { exceedsJsonDepth } from "../json";

/** Headers that travel from a REST request into the service call. */
const forwardedHeaders = ["authorization", "x-request-id", "traceparent", "tracestate", "baggage", "idempotency-key", "cache-control"] as const;

/**
 * The forwarded headers as a plain record (lower-case names): the call's context builds its one
 * Headers object from it (no second Headers, validated twice, per call).
 */
export function forwardHeaders(req: NodeRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of forwardedHeaders) {
    const v = req.headers[name];
    if (typeof v === "string") out[name] = v;
  }
  // The OpenAI SDKs and MLflow's client may also send the key as `api-key`/`x-api-key`.
  if (out["authorization"] === undefined) {
    const key = req.headers["api-key"] ?? req.headers["x-api-key"];
    if (typeof key === "string") out["authorization"] = `Bearer ${key}`;
  }
  return out;
}

/**
 * `application/json` or `application/*+json`. Requiring it keeps "simple" cross-origin requests
 * (text/plain, form posts: no CORS preflight) from driving the gateway from any web page.
 */
const jsonMediaType = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;

/** Reads the whole body as JSON, refusing more than `limit` bytes, a non-JSON content type and deep nesting. */
export async function readJson(req: NodeRequest, limit: number): Promise<unknown> {
  const contentType = req.headers["content-type"] ?? "";
  if (!isJsonContentType(contentType)) {
    throw new ConnectError(`content-type must be application/json (got ${JSON.stringify(clip(contentType, 64))})`, Code.InvalidArgument);
  }
  const text = await readText(req, limit);
  if (text.trim() === "") throw new ConnectError("the request body is empty: expected JSON", Code.InvalidArgument);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConnectError(`the request body is not valid JSON: ${clip((err as Error).message, 200)}`, Code.InvalidArgument);
  }
  checkJsonDepth(value, MAX_JSON_DEPTH);
  return value;
}

/** Whether a content-type header names JSON (`application/json` or `application/*+json`). */
export function isJsonContentType(contentType: string): boolean {
  return jsonMediaType.test(contentType);
}

/**
 * Reads the whole body as UTF-8 text, refusing more than `limit` bytes (see isBodyTooLarge).
 * With 'data'/'end' listeners rather than `for await` (the stream's async iterator costs ~3 µs of
 * CPU per request more); like the iterator, it fails on a stream error or a close before the end.
 * A body over the limit is refused (the rest of it read and dropped, so the refusal reaches the
 * client).
 */
export function readText(req: NodeRequest, limit: number): Promise<string> {
  const encoding = req.headers["content-encoding"];
  if (encoding !== undefined && !identity.test(encoding)) return readEncoded(req, encoding, limit);
  return readBytes(req, limit).then((body) => body.toString("utf8"));
}

const identity = /^\s*identity\s*$/i;

/** Decodes a whole body into at most `max` bytes (zlib's ERR_BUFFER_TOO_LARGE past it). */
type Decode = (body: Buffer, max: number) => Promise<Buffer>;

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const brotliDecompress = promisify(zlib.brotliDecompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

/** The request encodings accepted, by content-encoding (one; a list of stacked encodings is refused). */
const decoders: Readonly<Record<string, Decode>> = {
  gzip: (body, max) => gunzip(body, { maxOutputLength: max }),
  "x-gzip": (body, max) => gunzip(body, { maxOutputLength: max }),
  deflate: inflateEither,
  br: (body, max) => brotliDecompress(body, { maxOutputLength: max }),
  zstd: (body, max) => zstdDecompress(body, { maxOutputLength: max }),
};

/**
 * A compressed body: at most `limit` bytes as sent and at most `limit` bytes once decoded (a small
 * "zip bomb" is refused as too large when its output passes the limit, not inflated in full).
 * zlib's one-shot functions run on libuv's thread pool, not on the event loop.
 */
async function readEncoded(req: NodeRequest, encoding: string, limit: number): Promise<string> {
  const decode = decoders[encoding.trim().toLowerCase()];
  if (decode === undefined) {
    // Drained, so the refusal reaches the client as on a body over the limit.
    req.on("error", ignore);
    req.resume();
    throw new ConnectError(
      `content-encoding ${JSON.stringify(clip(encoding, 64))} is not supported: send the body as identity, gzip, deflate, br or zstd`,
      Code.InvalidArgument,
    );
  }
  const body = await readBytes(req, limit);
  await decodeSlots.take();
  try {
    return (await decode(body, limit)).toString("utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge(limit);
    throw new ConnectError(`the request body is not valid ${encoding.trim().toLowerCase()}: ${clip((err as Error).message, 200)}`, Code.InvalidArgument);
  } finally {
    decodeSlots.give();
  }
}

/**
 * Decodes running at once. Each may grow its output to max_body_bytes before it is refused, so
 * without a bound a thousand small "bombs" sent at once over HTTP/2 held ~1 GB (a probe: 1,000
 * zstd bodies of 900 KB, each decoding past a 1 MiB limit, took RSS from 211 MB to 1.1 GB). Four
 * is libuv's thread pool, where zlib runs anyway: more at once would only wait there while
 * holding their output. The others wait here in order; each request's own timeouts still bound
 * its wait.
 */
const MAX_DECODES = 4;

class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(count: number) {
    this.free = count;
  }

  take(): Promise<void> | undefined {
    if (this.free > 0) {
      this.free--;
      return undefined;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Hands the slot to the next waiter, or frees it. */
  give(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.free++;
  }
}

const decodeSlots = new Slots(MAX_DECODES);

/** HTTP's "deflate" is zlib-wrapped (RFC 9110), but some clients send raw deflate: either is read. */
async function inflateEither(body: Buffer, max: number): Promise<Buffer> {
  try {
    return await inflate(body, { maxOutputLength: max });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "Z_DATA_ERROR") throw err;
    return await inflateRaw(body, { maxOutputLength: max });
  }
}

/** The whole body as sent, refusing more than `limit` bytes (see readText). */
function readBytes(req: NodeRequest, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "NaN");
  if (declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // The rest is read and dropped, not refused by closing the connection: the client gets
        // its 413 (a reset would lose it); request_timeout_ms bounds a body that never ends.
        stop();
        req.on("error", ignore);
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      parts.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    };
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    const onClose = () => {
      stop();
      reject(Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    req.once("close", onClose);
  });
}

function ignore(): void {}

/** Deeper than any real request; deeper values would overflow the stack when copied into protobuf. */
export const MAX_JSON_DEPTH = 64;

/** Throws INVALID_ARGUMENT when `value` nests objects/arrays deeper than `max` (iterative: no recursion). */
export function checkJsonDepth(value: unknown, max: number): void {
  if (exceedsJsonDepth(value, max)) throw new ConnectError(`the request body nests deeper than ${max} levels`, Code.InvalidArgument);
}


/**
 * Whether `err` is readText/readJson refusing a body over the size limit: a ConnectError
 * (RESOURCE_EXHAUSTED, what the OpenAI surface answered so far) named "BodyTooLargeError", so a
 * surface that answers HTTP 413 tells it apart. It stays a plain ConnectError (its prototype),
 * so `instanceof ConnectError` and ConnectError.from keep it as it is.
 */
export function isBodyTooLarge(err: unknown): boolean {
  return err instanceof Error && err.name === "BodyTooLargeError";
}

function tooLarge(limit: number): ConnectError {
  const err = new ConnectError(`request body larger than ${limit} bytes`, Code.ResourceExhausted);
  err.name = "BodyTooLargeError";
  return err;
}

export function sendJson(res: NodeResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Starts a Server-Sent Events response. */
export function startSse(res: NodeResponse, headers: Record<string, string> = {}): void {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
    ...headers,
  });
}

export function writeSse(res: NodeResponse, data: string): void {
  res.write(`data: ${data}\n\n`);
}

/** An AbortSignal that fires when the client goes away before the response is complete. */
export function clientGone(res: NodeResponse): AbortSignal {
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort(new ConnectError("the client closed the connection", Code.Canceled));
  });
  return controller.signal;
}

/** Response headers worth passing back from the service call (request id, rate limits). */
export function passBackHeaders(from: Headers | undefined, into: Record<string, string>): Record<string, string> {
  if (!from) return into;
  const pass = (value: string, key: string) => {
    if (key === "x-request-id" || key === "retry-after" || key.startsWith("x-ratelimit-") || key.startsWith("ratelimit") || key.startsWith("x-modelgate-")) into[key] = value;
  };
  eachHeader(from, pass);
  return into;
}

/**
 * Streams chunks as SSE. The first message is awaited before the 200 goes out, so errors that
 * come before any output (auth, validation, quota) keep their HTTP status; a failure midway is
 * sent as a last `data:` event with the surface's error body (OpenAI's SDKs raise it).
 */
export function streamSse<T>(
  res: NodeResponse,
  stream: AsyncIterable<T>,
  headersOut: Record<string, string>,
  toJson: (chunk: T) => unknown,
  options: { errorBody: (err: unknown) => unknown; terminator?: string } & SseStreaming,
): Promise<void> {
  return pumpSse(
    res,
    stream,
    headersOut,
    {
      write(chunk) {
        const json = toJson(chunk);
        if (json === undefined) return false;
        writeSse(res, JSON.stringify(json));
        return true;
      },
      end() {
        if (options.terminator !== undefined) writeSse(res, options.terminator);
      },
      fail(err) {
        writeSse(res, JSON.stringify(options.errorBody(err)));
      },
    },
    options,
  );
}

/** One SSE event: its `event:` name, when it has one, and its JSON data. */
export interface SseEvent {
  event?: string;
  data: unknown;
}

/**
 * How a stream of messages becomes named SSE events, for APIs whose streams are a sequence of
 * typed events rather than one chunk per message (OpenAI's Responses API). Stateful: one per call.
 */
export interface SseFraming<T> {
  /** The events one message of the call's stream becomes (none, one or several). */
  eventsOf(message: T): readonly SseEvent[];
  /** The events after the last message (a failure to make them is the stream's failure). */
  end(): readonly SseEvent[] | Promise<readonly SseEvent[]>;
  /** The events for a failure once the stream has begun (the 200 is out). */
  failure(err: unknown): readonly SseEvent[];
}

/** Streams messages as named SSE events: streamSse's first-message wait, flushing, backpressure and cancellation. */
export function streamSseEvents<T>(
  res: NodeResponse,
  stream: AsyncIterable<T>,
  headersOut: Record<string, string>,
  framing: SseFraming<T>,
  streaming: SseStreaming = {},
): Promise<void> {
  return pumpSse(
    res,
    stream,
    headersOut,
    {
      write: (message) => writeSseEvents(res, framing.eventsOf(message)),
      end: async () => void writeSseEvents(res, await framing.end()),
      fail: (err) => void writeSseEvents(res, framing.failure(err)),
    },
    streaming,
  );
}

/** Writes events in one write; whether there were any. */
function writeSseEvents(res: NodeResponse, events: readonly SseEvent[]): boolean {
  if (events.length === 0) return false;
  let text = "";
  for (const e of events) text += `${e.event === undefined ? "" : `event: ${e.event}\n`}data: ${JSON.stringify(e.data)}\n\n`;
  res.write(text);
  return true;
}

/** What pumpSse does with the call's stream: each message (true if it wrote), its end, a failure midway. */
interface SseSink<T> {
  write(message: T): boolean;
  end(): void | Promise<void>;
  fail(err: unknown): void;
}

async function pumpSse<T>(res: NodeResponse, stream: AsyncIterable<T>, headersOut: Record<string, string>, sink: SseSink<T>, streaming: SseStreaming): Promise<void> {
  const it = stream[Symbol.asyncIterator]();
  let next = await it.next();
  startSse(res, headersOut);
  // The first events go out as they are made (time to first token), not with the burst they are in.
  let flushes = FLUSHED_MESSAGES;
  try {
    for (; !next.done; next = await it.next()) {
      if (sink.write(next.value)) {
        if (flushes > 0 && !res.writableNeedDrain) {
          flushes--;
          await flushWrites(res);
        }
      }
      // Backpressure: a client that reads slower than the model writes holds the stream (and so
      // the upstream) back instead of piling the answer up in memory; one that stops reading is
      // dropped, which cancels the call and the upstream request.
      if (res.writableNeedDrain) {
        streaming.onBackpressure?.("waited");
        if (!(await drained(res, streaming.stallMs ?? SSE_STALL_MS))) {
          streaming.onBackpressure?.("dropped");
          res.destroy(); // aborts the call (clientGone): the upstream request is cancelled
          // The call's stream is read to its end (now quick: the call is cancelled): connect's client
          // iterables have no return(), and reading on lets the interceptors see the call end.
          await discard(it);
          return;
        }
      }
    }
    await sink.end();
  } catch (err) {
    if (!res.destroyed) sink.fail(err);
  }
  res.end();
}

async function discard(it: AsyncIterator<unknown>): Promise<void> {
  try {
    for (let next = await it.next(); !next.done; next = await it.next());
  } catch {
    // Expected: the cancelled call ends with CANCELED.
  }
}

/** How a REST surface streams SSE: the stall time, and a hook told when a slow client holds it back. */
export interface SseStreaming {
  stallMs?: number;
  /** "waited": the client read slower than the answer came (the stream waited); "dropped": it stopped reading for stallMs. */
  onBackpressure?: (event: "waited" | "dropped") => void;
}

/** How long a streamed answer waits for a client that stopped reading before dropping it. */
export const SSE_STALL_MS = 60_000;

/** Resolves true once `res` drains, false if it closes or `ms` pass first. */
function drained(res: NodeResponse, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    res.once("drain", onDrain);
    res.once("close", onClose);
  });
}

/** Call options for the in-process service call: forwarded headers, cancellation, headers back. */
export function callOptionsFor(req: NodeRequest, res: NodeResponse, headersOut: Record<string, string>) {
  return {
    headers: forwardHeaders(req),
    signal: clientGone(res),
    onHeader: (h: Headers) => passBackHeaders(h, headersOut),
  };
}
