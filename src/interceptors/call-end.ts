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
  let ended = false;
  const end = (err: unknown) => {
    if (ended) return;
    ended = true;
    done(err ?? (signal.aborted ? signal.reason : undefined));
  };
  const onResult = <M>(r: IteratorResult<M>) => {
    if (r.done === true) end(undefined);
    return r;
  };
  const onError = (err: unknown) => {
    end(err);
    return err;
  };
  return { ...res, message: wrapStream(res.message, onResult, onError) };
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
  return { ...res, message: wrapStream(res.message, (r) => r, map) } satisfies StreamResponse;
}

/**
 * A stream passed on as it is, with each result seen by `onResult` and each failure (of next,
 * throw or return) replaced by what `onError` returns. Plain objects with their methods on the
 * prototype, not an async generator around a `yield*` nor an object of closures: a wrapper of an
 * open stream holds two small objects and no suspended generator, request queue or promise chain
 * of its own (issue 11: memory per open stream; each open stream has four of these). Ending
 * early (return, as a for-await that stops does) and throw are passed on to the stream.
 */
function wrapStream<M>(
  messages: AsyncIterable<M>,
  onResult: (r: IteratorResult<M>) => IteratorResult<M>,
  onError: (err: unknown) => unknown,
): AsyncIterable<M> {
  return new WrappedStream(messages, onResult, onError);
}

class WrappedStream<M> implements AsyncIterable<M> {
  constructor(
    private readonly messages: AsyncIterable<M>,
    private readonly onResult: (r: IteratorResult<M>) => IteratorResult<M>,
    private readonly onError: (err: unknown) => unknown,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<M> {
    return new WrappedIterator(this.messages[Symbol.asyncIterator](), this.onResult, this.onError);
  }
}

class WrappedIterator<M> implements AsyncIterator<M> {
  constructor(
    private readonly it: AsyncIterator<M>,
    private readonly onResult: (r: IteratorResult<M>) => IteratorResult<M>,
    private readonly onError: (err: unknown) => unknown,
  ) {}

  private fail(err: unknown): never {
    throw this.onError(err);
  }

  next(): Promise<IteratorResult<M>> {
    return this.it.next().then(this.onResult, (err: unknown) => this.fail(err));
  }

  return(value?: unknown): Promise<IteratorResult<M>> {
    const it = this.it;
    return (it.return ? it.return(value) : Promise.resolve({ done: true as const, value: value as M })).then(
      (r) => this.onResult({ done: true, value: r.value }),
      (err: unknown) => this.fail(err),
    );
  }

  throw(err?: unknown): Promise<IteratorResult<M>> {
    const it = this.it;
    if (it.throw) return it.throw(err).then(this.onResult, (e: unknown) => this.fail(e));
    // A stream without throw(): close it, then fail with the error given.
    const closed = it.return ? it.return() : Promise.resolve();
    return closed.then(
      () => this.fail(err),
      () => this.fail(err),
    );
  }
}
