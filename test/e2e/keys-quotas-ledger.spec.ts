// Issue 5 end to end, on both backends: a key made by the CLI calls through gRPC and REST, is
// throttled across two replicas, its streamed and cancelled calls land in the ledger with tokens
// and cost, the usage report shows them, and revoking it stops it on both replicas.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { UsageService } from "../../gen/modelgate/v1/usage_pb";
import { startTestPostgres, type TestPostgres } from "../support/postgres";
import { startRedisServer, type OwnedRedis } from "../support/redis";
import { cli, startReplica, type Replica } from "./replicas";

const adminKey = "sk-admin-e2e-0123456789abcdef";

interface Backend {
  name: string;
  setUp(): Promise<{ store: string; redis?: string; tearDown(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: "sqlite + memory counters",
    async setUp() {
      const dir = mkdtempSync(join(tmpdir(), "mg-e2e-"));
      return { store: `sqlite:${join(dir, "gw.db")}`, tearDown: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: "postgres + redis",
    async setUp() {
      const pg: TestPostgres = await startTestPostgres();
      const redis: OwnedRedis = await startRedisServer();
      return {
        store: await pg.createDatabase(),
        redis: redis.url,
        async tearDown() {
          await redis.close();
          await pg.stop();
        },
      };
    },
  },
];

function configFile(store: string, redis: string | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), "mg-e2e-cfg-"));
  const path = join(dir, "modelgate.yaml");
  writeFileSync(
    path,
    `
store:
  database_url: "${store}"
${redis ? `  redis_url: "${redis}"\n  on_redis_error: closed` : ""}
  key_refresh_ms: 200
auth:
  enabled: true
  keys: [{ name: ops, key: "${adminKey}", roles: [admin] }]
access:
  grants: [{ endpoints: ["*"], teams: [search] }]
quota: { default_max_tokens: 10 }
prices:
  - { provider: echo, model: echo-1, input_per_mtok: 1000000, output_per_mtok: 2000000 }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1, config: { stream_delay_ms: 30 } }
  - name: unpriced
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-unpriced }
`,
  );
  return path;
}

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

/** Waits until the current minute has at least `seconds` left, so a per-minute window holds. */
async function awayFromMinuteEdge(seconds: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < seconds * 1000) await new Promise((r) => setTimeout(r, left + 50));
}

describe.each(backends)("$name", (backend) => {
  let env: Awaited<ReturnType<Backend["setUp"]>>;
  let config: string;
  let replicas: Replica[] = [];
  let secret: string;
  let keyId: string;

  beforeAll(async () => {
    env = await backend.setUp();
    config = configFile(env.store, env.redis);
    const created = await cli(["keys", "create", "--config", config, "--name", "ci", "--team", "search", "--rpm", "8", "--json"]);
    expect(created.code, created.stderr).toBe(0);
    const out = JSON.parse(created.stdout) as { key: { id: string }; secret: string };
    secret = out.secret;
    keyId = out.key.id;
    replicas = await Promise.all([startReplica(config), startReplica(config)]);
  }, 120_000);

  afterAll(async () => {
    for (const r of replicas) expect(await r.stop()).toBe(0);
    await env.tearDown();
    rmSync(dirname(config), { recursive: true, force: true });
  });

  const chat = (r: Replica) => createClient(ChatService, createGrpcTransport({ baseUrl: r.url }));
  const auth = () => ({ authorization: `Bearer ${secret}` });
  const user = (content: string) => [{ role: "user", content }];

  it("the CLI's key calls through gRPC and the OpenAI REST surface on either replica", async () => {
    await awayFromMinuteEdge(25);
    const res = await chat(replicas[0]!).chat({ endpoint: "chat", messages: user("hello grpc") }, { headers: auth() });
    expect(res.choices[0]?.message?.content).toBe("echo: hello grpc");
    const rest = await fetch(`${replicas[1]!.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/json" },
      body: JSON.stringify({ model: "chat", messages: user("hello rest") }),
    });
    expect(rest.status).toBe(200);
    expect(Number(rest.headers.get("x-ratelimit-limit-requests"))).toBe(8);
  });

  it("streamed and cancelled calls are settled and recorded", async () => {
    let text = "";
    for await (const c of chat(replicas[0]!).streamChat({ endpoint: "chat", messages: user("one two three") }, { headers: auth() })) {
      text += c.choices.map((d) => d.delta?.content ?? "").join("");
    }
    expect(text).toBe("echo: one two three");
    const controller = new AbortController();
    let seen = 0;
    const cancelled = await failure(
      (async () => {
        for await (const c of chat(replicas[1]!).streamChat(
          { endpoint: "chat", messages: user("a b c d e f g h i j k l") },
          { headers: auth(), signal: controller.signal },
        )) {
          if (c.choices.some((d) => d.delta?.content) && ++seen === 3) controller.abort();
        }
      })(),
    );
    expect(cancelled.code).toBe(Code.Canceled);
  });

  // Only with Redis: memory counters are per process by design, so two replicas without Redis
  // each enforce the full limit (the single-replica limit is covered in test/integration).
  it.runIf(backend.name.includes("redis"))("the rpm limit holds across both replicas together (Redis)", async () => {
    // 4 calls so far this minute (2 above + 2 streams); the limit is 8 for both replicas together.
    const results: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = replicas[i % 2]!;
      try {
        await chat(r).chat({ endpoint: "chat", messages: user(`n${i}`) }, { headers: auth() });
        results.push("ok");
      } catch (err) {
        const e = ConnectError.from(err);
        expect(e.code).toBe(Code.ResourceExhausted);
        expect(e.rawMessage).toMatch(/^rate limit of 8 requests per minute for key "ci" reached; retry in \d+s$/);
        results.push("limited");
      }
    }
    expect(results.filter((r) => r === "ok")).toHaveLength(4);
    expect(results.slice(4)).toEqual(["limited", "limited", "limited", "limited"]);
  });

  it.runIf(backend.name.includes("redis"))("a token limit holds across both replicas: admitted usage never exceeds it (Redis)", async () => {
    await awayFromMinuteEdge(10);
    const made = await cli(["keys", "create", "--config", config, "--name", "batch", "--team", "search", "--tpm", "120", "--json"]);
    const tokensKey = (JSON.parse(made.stdout) as { secret: string }).secret;
    await new Promise((r) => setTimeout(r, 500)); // both replicas see the new key
    const calls = Array.from({ length: 30 }, (_, i) =>
      chat(replicas[i % 2]!)
        .chat({ endpoint: "chat", messages: user(`w${i} x y`), maxTokens: 30 }, { headers: { authorization: `Bearer ${tokensKey}` } })
        .then((res) => ({ ok: true as const, tokens: res.usage?.totalTokens ?? 0 }))
        .catch((err: unknown) => ({ ok: false as const, err: ConnectError.from(err) })),
    );
    const results = await Promise.all(calls);
    const admitted = results.filter((r) => r.ok);
    const limited = results.filter((r) => !r.ok);
    expect(admitted.length).toBeGreaterThan(0);
    expect(limited.length).toBeGreaterThan(0);
    for (const r of limited) {
      expect(r.err.code).toBe(Code.ResourceExhausted);
      expect(r.err.rawMessage).toMatch(/^token limit of 120 per minute for key "batch" reached; retry in \d+s$/);
    }
    // Shared, not multiplied by the replica count: what both replicas admitted fits in one limit.
    expect(admitted.reduce((n, r) => n + r.tokens, 0)).toBeLessThanOrEqual(120);
  });

  it("the usage report shows the calls with tokens and cost (UsageService and the CLI)", async () => {
    const usage = createClient(UsageService, createGrpcTransport({ baseUrl: replicas[0]!.url }));
    const ok = backend.name.includes("redis") ? 8 : 4;
    // The ledger writer flushes every 100 ms, once each call is settled; the cancelled stream is
    // settled when its server side sees the cancel (on a cold gateway that settlement may first
    // build the tokenizer, ~0.2 s, to count what was streamed). Polled, with a wide deadline.
    const usageNow = async () => (await usage.getUsage({ groupBy: ["key"], keyId }, { headers: { authorization: `Bearer ${adminKey}` } })).totals[0];
    let polled = await usageNow();
    for (const until = Date.now() + 15_000; Number(polled?.calls ?? 0) < ok && Date.now() < until; polled = await usageNow()) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(polled).toBeDefined();
    const total = polled!;
    expect(total.group["key"]).toBe(keyId);
    expect(Number(total.calls)).toBeGreaterThanOrEqual(ok);
    expect(Number(total.promptTokens)).toBeGreaterThan(0);
    expect(Number(total.completionTokens)).toBeGreaterThan(0);
    // echo-1 is priced at $1 per input token and $2 per output token in this config.
    expect(total.costUsd).toBeCloseTo(Number(total.promptTokens) + 2 * Number(total.completionTokens), 6);
    const csv = await cli(["usage", "--config", config, "--since", "1h", "--by", "key,endpoint", "--csv"]);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout.split("\n")[0]).toMatch(/^key,endpoint,calls,/);
    expect(csv.stdout).toContain(`${keyId},chat,`);
    const rows = await cli(["usage", "--config", config, "--since", "1h", "--by", "key"]);
    expect(rows.stdout).toContain(keyId);
  });

  it("the cancelled stream's row has the tokens streamed so far", async () => {
    const usage = createClient(UsageService, createGrpcTransport({ baseUrl: replicas[1]!.url }));
    let csv = "";
    for await (const piece of usage.exportUsage({}, { headers: { authorization: `Bearer ${adminKey}` } })) csv += piece.csv;
    const lines = csv.trim().split(/\r?\n/);
    const header = lines[0]!.split(",");
    const rows = lines.slice(1).map((l) => Object.fromEntries(l.split(",").map((v, i) => [header[i], v])));
    const cancelled = rows.find((r) => r["status"] === "Canceled");
    expect(cancelled, csv).toBeDefined();
    expect(cancelled!["streamed"]).toBe("true");
    expect(Number(cancelled!["completion_tokens"])).toBeGreaterThan(0);
    expect(Number(cancelled!["completion_tokens"])).toBeLessThan(14);
    expect(Number(cancelled!["cost_usd"])).toBeGreaterThan(0);
  });

  it("revoking the key stops it on both replicas within a second", async () => {
    const revoked = await cli(["keys", "revoke", keyId, "--config", config]);
    expect(revoked.code, revoked.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 1_000));
    for (const r of replicas) {
      const err = await failure(chat(r).chat({ endpoint: "chat", messages: user("after revoke") }, { headers: auth() }));
      expect(err.code).toBe(Code.Unauthenticated);
      expect(err.rawMessage).toBe("API key revoked");
    }
  });
});
