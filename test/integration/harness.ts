// Starts a real gateway on a random loopback port from a YAML config, with logs captured.
import { Writable } from "node:stream";
import { ConnectError } from "@connectrpc/connect";
import { parseConfig, type Env } from "../../src/config/load";
import { createLogger } from "../../src/observability/logger";
import { modelFactories } from "../../src/providers/catalog";
import { Gateway } from "../../src/server/gateway";

export interface TestGateway {
  gateway: Gateway;
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[];
  /** The raw log text (to assert that secrets never appear). */
  rawLogs(): string;
  close(): Promise<void>;
}

export async function startGateway(yaml: string, env: Env = {}, options: { env?: Env } = {}): Promise<TestGateway> {
  const config = parseConfig(yaml, "test.yaml", modelFactories, env);
  // Test clients often open a connection per call and leave it to idle out: unless a test is
  // about the caps, they must not run into the production per-address default (all come from
  // 127.0.0.1).
  if (!/max_connections/.test(yaml)) {
    config.file.server.max_connections_per_ip = 10_000;
    config.file.server.max_connections = 10_000;
  }
  const raw: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = chunk.toString("utf8");
      raw.push(text);
      for (const line of text.split("\n")) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  // The production logger (its redaction included), writing to the captured sink.
  const logger = createLogger("info", sink);
  // Each test gateway gets its own in-memory store unless the config or the caller names one.
  const gateway = await Gateway.open({
    config,
    factories: modelFactories,
    logger,
    env: { MODELGATE_DATABASE_URL: /^\s*store:/m.test(yaml) ? undefined : "sqlite::memory:", ...options.env },
  });
  const address = await gateway.listen("127.0.0.1", 0);
  return {
    gateway,
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    logs,
    rawLogs: () => raw.join(""),
    close: () => gateway.shutdown(1_000),
  };
}

/** The default echo endpoints, for tests that need no upstream. */
export const echoEndpoints = `
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
  - name: completions
    endpoint_type: llm/v1/completions
    model: { provider: echo, name: echo-1 }
  - name: embeddings
    endpoint_type: llm/v1/embeddings
    model: { provider: echo, name: echo-embed-1 }
`;

/** Waits until `check` passes or the time is up. */
export async function eventually(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The ConnectError a call fails with; fails the test if the call succeeds. */
export async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

/** Drains a stream into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
