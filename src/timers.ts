/**
 * The longest delay setTimeout takes: a signed 32-bit count of ms, ~24.8 days. Node runs a longer
 * one after 1 ms (with a TimeoutOverflowWarning), and socket, HTTP and undici timeouts are timers
 * too, so every duration the gateway arms a timer for is bounded by it: config durations refuse
 * more (config/schema.ts, routing/config.ts), and a client deadline further away is treated as
 * none (server/handler-context.ts).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The promise, or the signal's reason once it aborts, whichever comes first: for waits on work
 * that cannot itself be cancelled (a store read on a worker, a fetch shared by other callers), so
 * a call cancelled, past its deadline or cut by the shutdown answers at once with the signal's
 * code. The work goes on; its outcome is dropped.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err as Error);
      },
    );
  });
}
