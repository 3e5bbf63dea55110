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
  return withMessage(res as T & StreamResponse, wrapStream(res.message, new CallEnd(done, signal)));
}

/**
 * One stage of a wrapped stream (see wrapStream): `result` sees each result and returns it (or
 * throws), `error` sees each failure and returns the error to throw instead, `open` runs at the
 * reader's first next(). One object with its methods on the prototype per stage and open stream,
 * rather than closures (issue 11: memory per open stream).
 */
interface Stage<M = unknown> {
  result(r: IteratorResult<M>): IteratorResult<M>;
  error(err: unknown): unknown;
  open?(): void;
}

/**
 * A stage that calls `ended` once: at the last message, or with the error of a failure (a reader
 * that stops early ends through `return`, which passes a done result); `each` sees each message
 * before that.
 */
abstract class EndsOnce implements Stage {
  private over = false;

  protected abstract ended(err: unknown): void;

  protected each(): void {}

  result<M>(r: IteratorResult<M>): IteratorResult<M> {
    if (r.done === true) this.end(undefined);
    else if (!this.over) this.each();
    return r;
  }

  error(err: unknown): unknown {
    this.end(err);
    return err;
  }

  private end(err: unknown): void {
    if (this.over) return;
    this.over = true;
    this.ended(err);
  }
}

/** onCallEnd's stage: `done` with the failure's error, else the abort's reason (a client gone), else undefined. */
class CallEnd extends EndsOnce {
  constructor(
    private readonly done: (err: unknown) => void,
    private readonly signal: AbortSignal,
  ) {
    super();
  }

  protected ended(err: unknown): void {
    this.done(err ?? (this.signal.aborted ? this.signal.reason : undefined));
  }
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
  return withMessage(res, wrapStream(res.message, new Metered(open)));
}

/** meterStream's stage: the meter opened at the first read, told each message, and the end once. */
class Metered extends EndsOnce {
  private meter: StreamMeter | undefined;

  constructor(private readonly opener: () => StreamMeter) {
    super();
  }

  open(): void {
    this.meter = this.opener();
  }

  protected override each(): void {
    this.meter?.message();
  }

  protected ended(failure: unknown): void {
    this.meter?.close(failure);
  }
}

/**
 * Runs `next` and rewrites whatever it throws, before the response or in the middle of a
 * stream, with `map` (which returns the error to throw instead).
 */
/**
 * `next(req)` as a promise that rejects with what `next` throws at once: the interceptors that
 * chain on the call's promise (instead of awaiting it in an async function, which keeps a frame
 * suspended per call in flight) see a synchronous failure as they see a rejection.
 */
export function callNext(next: Parameters<Interceptor>[0], req: Parameters<Parameters<Interceptor>[0]>[0]): Promise<UnaryResponse | StreamResponse> {
  try {
    return next(req);
  } catch (err) {
    return Promise.reject(err);
  }
}

export function mapCallErrors(
  next: Parameters<Interceptor>[0],
  req: Parameters<Parameters<Interceptor>[0]>[0],
  map: (err: unknown) => unknown,
): Promise<UnaryResponse | StreamResponse> {
  // A promise chain, not an async function: no frame suspended per call in flight.
  return callNext(next, req).then(
    (res) => (res.stream ? withMessage(res, wrapStream(res.message, new MappedErrors(map))) : res),
    (err: unknown) => {
      throw map(err);
    },
  );
}

/** mapCallErrors' stage: results as they are, each failure through `map`. */
class MappedErrors implements Stage {
  constructor(private readonly map: (err: unknown) => unknown) {}

  result<M>(r: IteratorResult<M>): IteratorResult<M> {
    return r;
  }

  error(err: unknown): unknown {
    return this.map(err);
  }
}

/**
 * A stream passed on as it is, with each result seen by the stage's `result` and each failure (of
 * next, throw or return) replaced by what its `error` returns. Plain objects with their methods on the
 * prototype, not an async generator around a `yield*` nor an object of closures: a wrapper of an
 * open stream holds two small objects and no suspended generator, request queue or promise chain
 * of its own (issue 11: memory per open stream). Ending early (return, as a for-await that stops
 * does) and throw are passed on to the stream.
 *
 * The interceptors that watch a stream (errors, tracing, logging, quota) sit one inside another:
 * a stream already wrapped here and not yet read takes one more stage instead of one more layer,
 * so an open stream holds one wrapper, one iterator and one pending promise chain, not four.
 * Stages run innermost first, as nested wrappers would run them: each result through every
 * stage's `result`; a failure through every `error`; a stage that throws hands its error to the
 * `error`s of the stages outside it. A stage's `open` runs at the reader's first next().
 */
function wrapStream<M>(messages: AsyncIterable<M>, stage: Stage): AsyncIterable<M> {
  if (messages instanceof WrappedStream && !messages.read) {
    (messages as WrappedStream<M>).addStage(stage);
    return messages;
  }
  return new WrappedStream(messages, stage);
}

class WrappedStream<M> implements AsyncIterable<M> {
  /** The stages, innermost first, in an array of exactly their number. */
  private stages: Stage[];
  /** Whether an iterator was taken (stages added after that would apply to a read underway: a new layer then). */
  read = false;

  constructor(
    private readonly messages: AsyncIterable<M>,
    stage: Stage,
  ) {
    this.stages = [stage];
  }

  addStage(stage: Stage): void {
    this.stages = this.stages.concat(stage);
  }

  /** The stages' `open`s, innermost first. */
  open(): void {
    for (const stage of this.stages) stage.open?.();
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
      for (; i < stages.length; i++) r = (stages[i] as Stage<M>).result(r);
      return r;
    } catch (err) {
      throw this.failFrom(i + 1, err);
    }
  }

  /** The error to throw for `err`, through the stages from the one at `i` outwards. */
  failFrom(i: number, err: unknown): unknown {
    const stages = this.stages;
    for (; i < stages.length; i++) {
      try {
        err = stages[i]!.error(err);
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
  /** The stream, until the first next() runs its stages' `open`s. */
  private opening: WrappedStream<M> | undefined;

  constructor(
    private readonly it: AsyncIterator<M>,
    stream: WrappedStream<M>,
  ) {
    this.pass = (r) => stream.pass(r);
    this.fail = (err) => {
      throw stream.failFrom(0, err);
    };
    this.opening = stream;
  }

  next(): Promise<IteratorResult<M>> {
    const opening = this.opening;
    if (opening !== undefined) {
      this.opening = undefined;
      try {
        opening.open();
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
