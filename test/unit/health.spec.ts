import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Health } from "../../gen/health/v1/health_pb";
import { HealthStatus, ServingStatus, registerHealth } from "../../src/server/health";

const CHAT = "modelgate.v1.ChatService";

function healthClient(status: HealthStatus) {
  return createClient(Health, createRouterTransport((router) => registerHealth(router, status)));
}

/** Reads `count` statuses from a Watch stream. */
async function take(stream: AsyncIterable<{ status: ServingStatus }>, count: number): Promise<ServingStatus[]> {
  const seen: ServingStatus[] = [];
  if (count === 0) {
    return seen;
  }
  for await (const response of stream) {
    seen.push(response.status);
    if (seen.length === count) {
      break;
    }
  }
  return seen;
}

/** Counts Watch streams that have ended on the server side. */
class ObservedHealthStatus extends HealthStatus {
  ended = 0;
  override async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus, void, undefined> {
    try {
      yield* super.watch(service, signal);
    } finally {
      this.ended++;
    }
  }
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  expect(condition()).toBe(true);
}

describe("HealthStatus", () => {
  it("starts with the whole server SERVING and nothing else", () => {
    const status = new HealthStatus();
    expect(status.get("")).toBe(ServingStatus.SERVING);
    expect(status.get(CHAT)).toBeUndefined();
    expect([...status.list()]).toEqual([["", ServingStatus.SERVING]]);
  });

  it("sets per-service status", () => {
    const status = new HealthStatus();
    status.set(CHAT, ServingStatus.NOT_SERVING);
    expect(status.get(CHAT)).toBe(ServingStatus.NOT_SERVING);
    expect(status.get("")).toBe(ServingStatus.SERVING);
  });

  it("shutdown marks everything NOT_SERVING and ignores later sets until resume", () => {
    const status = new HealthStatus();
    status.set(CHAT, ServingStatus.SERVING);
    status.shutdown();
    expect(status.get("")).toBe(ServingStatus.NOT_SERVING);
    expect(status.get(CHAT)).toBe(ServingStatus.NOT_SERVING);
    status.set(CHAT, ServingStatus.SERVING);
    expect(status.get(CHAT)).toBe(ServingStatus.NOT_SERVING);
    status.resume();
    expect(status.get("")).toBe(ServingStatus.SERVING);
    expect(status.get(CHAT)).toBe(ServingStatus.SERVING);
  });

  it("watch ends without error when its signal aborts while waiting", async () => {
    const status = new HealthStatus();
    const abort = new AbortController();
    const seen: ServingStatus[] = [];
    const done = (async () => {
      for await (const current of status.watch("", abort.signal)) {
        seen.push(current);
      }
    })();
    await until(() => seen.length === 1);
    abort.abort();
    await expect(done).resolves.toBeUndefined();
    expect(seen).toEqual([ServingStatus.SERVING]);
  });

  it("watch coalesces changes a slow reader missed and skips repeats", async () => {
    const status = new HealthStatus();
    const abort = new AbortController();
    const watch = status.watch(CHAT, abort.signal);
    expect((await watch.next()).value).toBe(ServingStatus.SERVICE_UNKNOWN);
    status.set(CHAT, ServingStatus.SERVING);
    status.set(CHAT, ServingStatus.NOT_SERVING);
    status.set(CHAT, ServingStatus.SERVING);
    status.set("", ServingStatus.SERVING); // another service: no message for CHAT
    expect((await watch.next()).value).toBe(ServingStatus.SERVING);
    const next = watch.next();
    status.set(CHAT, ServingStatus.SERVING); // unchanged: nothing sent
    status.set(CHAT, ServingStatus.NOT_SERVING);
    expect((await next).value).toBe(ServingStatus.NOT_SERVING);
    abort.abort();
    expect((await watch.next()).done).toBe(true);
  });
});

describe("grpc.health.v1.Health", () => {
  it("Check answers the whole server with an empty name", async () => {
    const client = healthClient(new HealthStatus());
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
  });

  it("Check answers a registered service", async () => {
    const status = new HealthStatus();
    status.set(CHAT, ServingStatus.NOT_SERVING);
    expect((await healthClient(status).check({ service: CHAT })).status).toBe(ServingStatus.NOT_SERVING);
  });

  it("Check of an unknown service is NOT_FOUND", async () => {
    const error = await healthClient(new HealthStatus())
      .check({ service: "no.such.Service" })
      .catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.NotFound);
    expect((error as ConnectError).rawMessage).toBe("unknown service: no.such.Service");
  });

  it("List returns every service and its status", async () => {
    const status = new HealthStatus();
    status.set(CHAT, ServingStatus.NOT_SERVING);
    const response = await healthClient(status).list({});
    expect(Object.fromEntries(Object.entries(response.statuses).map(([name, s]) => [name, s.status]))).toEqual({
      "": ServingStatus.SERVING,
      [CHAT]: ServingStatus.NOT_SERVING,
    });
  });

  it("Watch sends the current status at once, then each change", async () => {
    const status = new HealthStatus();
    status.set(CHAT, ServingStatus.SERVING);
    const abort = new AbortController();
    const stream = healthClient(status).watch({ service: CHAT }, { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.status).toBe(ServingStatus.SERVING);
    status.set(CHAT, ServingStatus.NOT_SERVING);
    expect((await iterator.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
    status.shutdown();
    status.resume();
    expect((await iterator.next()).value?.status).toBe(ServingStatus.SERVING);
    abort.abort();
  });

  it("Watch of an unknown service sends SERVICE_UNKNOWN and keeps watching", async () => {
    const status = new HealthStatus();
    const abort = new AbortController();
    const stream = healthClient(status).watch({ service: CHAT }, { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.status).toBe(ServingStatus.SERVICE_UNKNOWN);
    status.set(CHAT, ServingStatus.SERVING);
    expect((await iterator.next()).value?.status).toBe(ServingStatus.SERVING);
    abort.abort();
  });

  it("Watch tells every watcher about shutdown", async () => {
    const status = new HealthStatus();
    status.set(CHAT, ServingStatus.SERVING);
    const client = healthClient(status);
    const abort = new AbortController();
    const whole = take(client.watch({ service: "" }, { signal: abort.signal }), 2);
    const chat = take(client.watch({ service: CHAT }, { signal: abort.signal }), 2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    status.shutdown();
    expect(await whole).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    expect(await chat).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    abort.abort();
  });

  it("Watch ends on the server when the client cancels", async () => {
    const status = new ObservedHealthStatus();
    const abort = new AbortController();
    const stream = healthClient(status).watch({ service: "" }, { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.status).toBe(ServingStatus.SERVING);
    // The in-memory transport pulls: a pending read leaves the server waiting for a change.
    const pending = iterator.next().catch((e: unknown) => ConnectError.from(e));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(status.ended).toBe(0);
    abort.abort();
    const error = await pending;
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Canceled);
    await until(() => status.ended === 1);
  });
});
