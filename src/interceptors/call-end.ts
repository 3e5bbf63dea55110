import type { Interceptor, StreamResponse, UnaryResponse } from "@connectrpc/connect";

/**
 * Runs `done` once when the call is over: at once for a unary response, when a stream ends,
 * fails or is abandoned by a client that went away (then with the abort reason as the error).
 */
export function onCallEnd<T extends UnaryResponse | StreamResponse>(res: T, signal: AbortSignal, done: (err: unknown) => void): T {
  if (!res.stream) {
    done(undefined);
    return res;
  }
  const messages = res.message;
  return {
    ...res,
    message: (async function* () {
      let failure: unknown;
      try {
        yield* messages;
      } catch (err) {
        failure = err;
        throw err;
      } finally {
        done(failure ?? (signal.aborted ? signal.reason : undefined));
      }
    })(),
  };
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
  const messages = res.message;
  return {
    ...res,
    message: (async function* () {
      try {
        yield* messages;
      } catch (err) {
        throw map(err);
      }
    })(),
  } satisfies StreamResponse;
}
