// gRPC health checking (grpc.health.v1.Health), served outside auth so load balancers, Kubernetes
// probes and `grpc_health_probe` can ask without credentials. Semantics follow
// https://github.com/grpc/grpc/blob/master/doc/health-checking.md and grpc-go's health server.
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/health/v1/health_pb";
import { notFound } from "../errors";

export { ServingStatus };

/** A status a service can be set to, by its proto name (`"SERVING"`) or enum value. */
export type SettableStatus = ServingStatus.SERVING | ServingStatus.NOT_SERVING | "SERVING" | "NOT_SERVING";

/** The name that stands for the whole server in Check, Watch and List. */
export const WHOLE_SERVER = "";

/**
 * The serving status of each service, by fully-qualified service name ("" is the whole server).
 * Starts with the whole server SERVING. One instance per server, passed to `registerHealth` and
 * to whatever decides readiness (startup, config reload, graceful stop).
 */
export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>([[WHOLE_SERVER, ServingStatus.SERVING]]);
  private readonly listeners = new Set<() => void>();
  private shuttingDown = false;

  /**
   * Sets the status of one service and wakes its watchers. Ignored after `shutdown()` (until
   * `resume()`), so nothing flips the server back to SERVING while it drains.
   */
  set(service: string, status: SettableStatus): void {
    if (this.shuttingDown) {
      return;
    }
    this.statuses.set(service, typeof status === "string" ? ServingStatus[status] : status);
    this.notify();
  }

  /** The status of a service, or undefined when nothing was ever set for it. */
  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** A snapshot of every known service and its status. */
  list(): ReadonlyMap<string, ServingStatus> {
    return new Map(this.statuses);
  }

  /**
   * For graceful stop: every service becomes NOT_SERVING, so load balancers stop sending new
   * calls while in-flight ones finish, and later `set` calls are ignored.
   */
  shutdown(): void {
    this.shuttingDown = true;
    this.setAll(ServingStatus.NOT_SERVING);
  }

  /** Undoes `shutdown()`: every service becomes SERVING and `set` works again. */
  resume(): void {
    this.shuttingDown = false;
    this.setAll(ServingStatus.SERVING);
  }

  /**
   * The status of `service` now, then each time it changes, until `signal` aborts; an unknown
   * service reads as SERVICE_UNKNOWN. A slow reader sees the latest status, not every step
   * (as in grpc-go): health is a level, not a log.
   */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus, void, undefined> {
    let changed = false;
    let wake: (() => void) | undefined;
    const onChange = (): void => {
      changed = true;
      wake?.();
    };
    const onAbort = (): void => wake?.();
    this.listeners.add(onChange);
    signal.addEventListener("abort", onAbort);
    try {
      let sent: ServingStatus | undefined;
      while (!signal.aborted) {
        const current = this.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (current !== sent) {
          sent = current;
          yield current;
        }
        if (!changed && !signal.aborted) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
        wake = undefined;
        changed = false;
      }
    } finally {
      this.listeners.delete(onChange);
      signal.removeEventListener("abort", onAbort);
    }
  }

  private setAll(status: ServingStatus): void {
    for (const service of this.statuses.keys()) {
      this.statuses.set(service, status);
    }
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) {
      listener();
    }
  }
}

/** Per-service router options (interceptors). */
type ServiceOptions = Parameters<ConnectRouter["service"]>[2];

/** How much of an unknown service's name an error message repeats. */
const maxEchoedName = 200;

/** Serves grpc.health.v1.Health (Check, Watch, List) from `status`. */
export function registerHealth(router: ConnectRouter, status: HealthStatus, options?: ServiceOptions): void {
  const impl: ServiceImpl<typeof Health> = {
    check(request) {
      const current = status.get(request.service);
      if (current === undefined) {
        // The name is the caller's, of any length: echoed whole, a long one would not fit in the
        // grpc-message trailer (an HTTP/2 FRAME_SIZE_ERROR instead of NOT_FOUND).
        const name = request.service.length > maxEchoedName ? `${request.service.slice(0, maxEchoedName)}…` : request.service;
        throw notFound(`unknown service: ${name}`);
      }
      return { status: current };
    },
    async *watch(request, context) {
      // Ends without error when the client goes away or the server stops the call.
      for await (const current of status.watch(request.service, context.signal)) {
        yield { status: current };
      }
    },
    list() {
      const statuses: Record<string, { status: ServingStatus }> = {};
      for (const [service, current] of status.list()) {
        statuses[service] = { status: current };
      }
      return { statuses };
    },
  };
  router.service(Health, impl, options);
}
