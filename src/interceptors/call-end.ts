import type { Interceptor, StreamResponse, UnaryResponse } from "@connectrpc/connect";

/**
 * Runs `done` once when the call is over: at once for a unary response, when a stream ends,
 * fails or is abandoned by a client that went away (then with the abort reason as the error),
 * or is ended early by its reader.
 */
export function onCallEnd<T extends UnaryResponse | StreamResponse>(res: T, signal: AbortSignal, done: (err: unknown) => void): T {
  if (!res.stream) {
    done(undefined);
    return res;
  }
  const { onResult, onError } = endStage((err) => done(err ?? (signal.aborted ? signal.reason : undefined)));
  return withMessage(res as T & StreamResponse, wrapStream(res.message, onResult, onError));
}

/**
 * A stage that calls `end` once: with undefined at the last message, with the error of a failure;
 * `message` (if given) sees each message before that.
 */
function endStage(end: (err: unknown) => void, message?: () => void) {
  let ended = false;
  const once = (err: unknown) => {
    if (ended) return;
    ended = true;
    end(err);
  };
  return {
    onResult: <M>(r: IteratorResult<M>) => {
      if (r.done === true) once(undefined);
      else if (!ended) message?.();
      return r;
    },
    onError: (err: unknown) => {
      once(err);
      return err;
    },
  };
}

/** `res` with `message`: the same object when the stream took one more stage rather than a new wrapper. */
function withMessage<T extends StreamResponse>(res: T, message: AsyncIterable<unknown>): T {
  return message === res.message ? res : { ...res, message };
}

/** What a metered stream reports once it is read: each message, then its end once. */
export interface StreamMeter {
  message(): void;
  close(failure: unknown): void;
}

/**
 * `open` runs at the reader's first next() (nothing for a stream never read); the
 * meter it returns sees each message and the end, once: the last message, a failure (then with
 * the error), or a reader that stopped (return or throw).
 */
export function meterStream<T extends StreamResponse>(res: T, open: () => StreamMeter): T {
  let meter: StreamMeter | undefined;
  const { onResult, onError } = endStage(
    (failure) => meter?.close(failure),
    () => meter?.message(),
  );
  return withMessage(res, wrapStream(res.message, onResult, onError, () => (meter = open())));
}

/**
 * Runs `next` and rewrites whatever it throws, before the response or in the middle of a
 * stream, with `map` (which returns the error to throw instead).
 */
export async function mapCallErrors(
  next: Parameters<Interceptor>[0],
  req: Parameters<Parameters<Interceptor>[0]>[0],
  map: (err: unknown) => unknown,
): Promise<UnaryResponse | StreamResponse> {
  let res;
  try {
    res = await next(req);
  } catch (err) {
    throw map(err);
  }
  if (!res.stream) return res;
  return withMessage(res, wrapStream(res.message, (r) => r, map));
}

/**
 * A stream passed on as it is, with each result seen by `onResult` and each failure (of next,
 * throw or return) replaced by what `onError` returns. Plain objects with their methods on the
 * prototype, not an async generator around a `yield*` nor an object of closures: a wrapper of an
 * open stream holds two small objects and no suspended generator, request queue or promise chain
 * of its own (issue 11: memory per open stream). Ending early (return, as a for-await that stops
 * does) and throw are passed on to the stream.
 *
 * The interceptors that watch a stream (errors, tracing, logging, quota) sit one inside another:
 * a stream already wrapped here and not yet read takes one more stage instead of one more layer,
 * so an open stream holds one wrapper, one iterator and one pending promise chain, not four.
 * Stages run innermost first, as nested wrappers would run them: each result through every
 * `onResult`; a failure through every `onError`; a stage that throws hands its error to the
 * `onError`s of the stages outside it. A stage's `onOpen` runs at the reader's first next().
 */
function wrapStream<M>(messages: AsyncIterable<M>, onResult: OnResult<M>, onError: OnError, onOpen?: () => void): AsyncIterable<M> {
  if (messages instanceof WrappedStream && !messages.read) {
    (messages as WrappedStream<M>).addStage(onResult, onError, onOpen);
    return messages;
  }
  const stream = new WrappedStream(messages, onResult, onError);
  if (onOpen) stream.opens = [onOpen];
  return stream;
}

type OnResult<M> = (r: IteratorResult<M>) => IteratorResult<M>;
type OnError = (err: unknown) => unknown;

class WrappedStream<M> implements AsyncIterable<M> {
  /** onResult, onError of each stage, innermost first, in one array of exactly their length. */
  private stages: (OnResult<M> | OnError)[];
  /** The stages' `onOpen`s, if any has one. */
  opens: (() => void)[] | undefined;
  /** Whether an iterator was taken (stages added after that would apply to a read underway: a new layer then). */
  read = false;

  constructor(
    private readonly messages: AsyncIterable<M>,
    onResult: OnResult<M>,
    onError: OnError,
  ) {
    this.stages = [onResult, onError];
  }

  addStage(onResult: OnResult<M>, onError: OnError, onOpen: (() => void) | undefined): void {
    this.stages = this.stages.concat(onResult, onError);
    if (onOpen) this.opens = this.opens ? this.opens.concat(onOpen) : [onOpen];
  }

  [Symbol.asyncIterator](): AsyncIterator<M> {
    this.read = true;
    return new WrappedIterator(this.messages[Symbol.asyncIterator](), this);
  }

  /** A result through the stages; one that throws fails through the stages outside it. */
  pass(r: IteratorResult<M>): IteratorResult<M> {
    const stages = this.stages;
    let i = 0;
    try {
      for (; i < stages.length; i += 2) r = (stages[i] as OnResult<M>)(r);
      return r;
    } catch (err) {
      throw this.failFrom(i + 2, err);
    }
  }

  /** The error to throw for `err`, through the stages from the one at `i` outwards. */
  failFrom(i: number, err: unknown): unknown {
    const stages = this.stages;
    for (; i < stages.length; i += 2) {
      try {
        err = (stages[i + 1] as OnError)(err);
      } catch (thrown) {
        err = thrown;
      }
    }
    return err;
  }
}

class WrappedIterator<M> implements AsyncIterator<M> {
  /** The two callbacks every step hands to then(), made once per stream rather than once per message. */
  private readonly pass: (r: IteratorResult<M>) => IteratorResult<M>;
  private readonly fail: (err: unknown) => never;
  /** The stages' `onOpen`s until the first next() runs them. */
  private opens: (() => void)[] | undefined;

  constructor(
    private readonly it: AsyncIterator<M>,
    stream: WrappedStream<M>,
  ) {
    this.pass = (r) => stream.pass(r);
    this.fail = (err) => {
      throw stream.failFrom(0, err);
    };
    this.opens = stream.opens;
  }

  next(): Promise<IteratorResult<M>> {
    const opens = this.opens;
    if (opens !== undefined) {
      this.opens = undefined;
      try {
        for (const open of opens) open();
      } catch (err) {
        return Promise.reject(err).catch(this.fail);
      }
    }
    return this.it.next().then(this.pass, this.fail);
  }

  return(value?: unknown): Promise<IteratorResult<M>> {
    const it = this.it;
    return (it.return ? it.return(value) : Promise.resolve({ done: true as const, value: value as M })).then(
      (r) => this.pass({ done: true, value: r.value }),
      this.fail,
    );
  }

  throw(err?: unknown): Promise<IteratorResult<M>> {
    const it = this.it;
    if (it.throw) return it.throw(err).then(this.pass, this.fail);
    // A stream without throw(): close it, then fail with the error given.
    const closed = it.return ? it.return() : Promise.resolve();
    const fail = () => this.fail(err);
    return closed.then(fail, fail);
  }
}
