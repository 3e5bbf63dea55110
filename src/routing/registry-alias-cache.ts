// The version one alias points to, for one endpoint: looked up at most once per TTL, so moving
// the alias (champion -> a new version) switches traffic within the TTL without a restart.
//   - Fresh (younger than the TTL): answered from memory.
//   - Expired or never resolved: looked up; callers arriving meanwhile share that one lookup.
//   - Lookup failed but a version is known: that version stays in use for another TTL
//     (stale-while-error), so a tracking server outage does not stop scoring.
//   - Lookup failed and nothing is known: UNAVAILABLE naming the model and the reason.
// A caller that cancels stops waiting at once; the lookup itself is aborted only when no caller
// is left waiting for it.
import { ConnectError } from "@connectrpc/connect";
import { unavailable } from "../errors";
import type { UpstreamCall } from "../upstream/client";

export const REGISTRY = "mlflow-registry";

export interface AliasCacheOptions<T = string> {
  /** `models:/NAME@ALIAS` (or `prompts:/NAME@ALIAS`), for error messages. */
  uri: string;
  ttlMs: number;
  /** Milliseconds clock; injectable so tests control time. */
  now: () => number;
  /** Asks the registry. Its signal aborts only when every caller waiting for it has gone. */
  lookup: (call: UpstreamCall) => Promise<T>;
  /**
   * Told when a lookup failed and the last known version stays in use (stale-while-error), so
   * the failure is logged rather than hidden behind the answers that keep coming.
   */
  onStale?: (err: unknown, version: T) => void;
}

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/** What an alias points to (a version number by default; a prompt registry's whole version for templates). */
export class AliasCache<T = string> {
  private known: { version: T; freshUntil: number } | undefined;
  private flight: Flight<T> | undefined;

  constructor(private readonly options: AliasCacheOptions<T>) {}

  /** The version to call now. */
  version(call: UpstreamCall): Promise<T> {
    const known = this.known;
    if (known !== undefined && this.options.now() < known.freshUntil) return Promise.resolve(known.version);
    // A flight everyone walked away from is being torn down; a new caller starts afresh.
    const flight = this.flight !== undefined && !this.flight.controller.signal.aborted ? this.flight : this.start(call);
    return this.join(flight, call.signal);
  }

  private start(call: UpstreamCall): Flight<T> {
    const controller = new AbortController();
    const lookupCall: UpstreamCall = { signal: controller.signal, traceparent: call.traceparent, trace: call.trace, requestId: call.requestId };
    const flight: Flight<T> = {
      controller,
      waiters: 0,
      promise: this.options
        .lookup(lookupCall)
        .then(
          (version) => {
            this.known = { version, freshUntil: this.options.now() + this.options.ttlMs };
            return version;
          },
          (err: unknown) => this.afterFailure(err, controller.signal),
        )
        .finally(() => {
          if (this.flight === flight) this.flight = undefined;
        }),
    };
    // Every joined caller handles the outcome; this keeps a flight nobody joined from being an
    // unhandled rejection.
    flight.promise.catch(() => undefined);
    this.flight = flight;
    return flight;
  }

  private afterFailure(err: unknown, signal: AbortSignal): T {
    // Aborted because every caller left: nobody needs an answer, and the cache learnt nothing.
    if (signal.aborted) throw ConnectError.from(err);
    const known = this.known;
    if (known !== undefined) {
      known.freshUntil = this.options.now() + this.options.ttlMs;
      this.options.onStale?.(err, known.version);
      return known.version;
    }
    const reason = err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
    throw unavailable(`${REGISTRY}: cannot resolve ${this.options.uri}: ${reason}`, err);
  }

  private join(flight: Flight<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(ConnectError.from(signal.reason));
    flight.waiters++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (--flight.waiters === 0) flight.controller.abort(signal.reason);
        reject(ConnectError.from(signal.reason));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      flight.promise.then(
        (version) => {
          signal.removeEventListener("abort", onAbort);
          resolve(version);
        },
        (err: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      );
    });
  }
}
