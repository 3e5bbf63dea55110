// GET /metrics: Prometheus text with call counts, tokens, cost and the ledger queue.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import { clientFor } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`
prices: [{ provider: echo, model: echo-1, input_per_mtok: 1000000, output_per_mtok: 1000000 }]
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
`);
});
afterAll(() => gw.close());

describe("GET /metrics", () => {
  it("counts calls by endpoint and code, tokens and cost; unknown endpoint names do not add series", async () => {
    const chat = clientFor(ChatService, "grpc", gw.url);
    await chat.chat({ endpoint: "chat", messages: [{ role: "user", content: "a b" }] });
    await failure(chat.chat({ endpoint: "made-up-1", messages: [{ role: "user", content: "x" }] }));
    await failure(chat.chat({ endpoint: "made-up-2", messages: [{ role: "user", content: "x" }] }));
    const res = await fetch(`${gw.url}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain('modelgate_calls_total{endpoint="chat",code="ok"} 1');
    expect(text).toContain('modelgate_calls_total{endpoint="(unknown)",code="NotFound"} 2');
    expect(text).toContain('modelgate_tokens_total{endpoint="chat",kind="prompt"} 2');
    expect(text).toContain('modelgate_tokens_total{endpoint="chat",kind="completion"} 3');
    expect(text).toContain('modelgate_cost_usd_total{endpoint="chat"} 5');
    expect(text).toMatch(/modelgate_ledger_queued_rows \d+/);
    expect(text).toMatch(/modelgate_ledger_poisoned_rows 0/);
    expect(text).toMatch(/modelgate_connections_open [1-9]/);
    // Nothing in flight at scrape time: every answer gave back what it held.
    expect(text).toMatch(/\nmodelgate_upstream_held_bytes 0\n/);
    expect(text).toContain(`modelgate_connections_refused{cap="per_ip"} 0`);
    expect(text).toMatch(/modelgate_ledger_sanitized_rows \d+/);
    expect(text).not.toContain("made-up");
  });
});

describe("GET /metrics with server.metrics_token", () => {
  it("needs the bearer token: none or a wrong one is 401 with a challenge, the right one scrapes; calls need no token", async () => {
    const token = "mt-0123456789abcdef0123456789abcdef";
    const guarded = await startGateway(
      `
server: { metrics_token: $METRICS_TOKEN }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
`,
      { METRICS_TOKEN: token },
    );
    try {
      await clientFor(ChatService, "grpc", guarded.url).chat({ endpoint: "chat", messages: [{ role: "user", content: "hi" }] });
      const none = await fetch(`${guarded.url}/metrics`);
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toBe('Bearer realm="modelgate metrics"');
      expect(await none.text()).toBe("GET /metrics needs Authorization: Bearer <server.metrics_token>\n");
      for (const authorization of [`Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `Basic ${token}`, token, "Bearer", `Bearer ${token} extra`]) {
        const wrong = await fetch(`${guarded.url}/metrics`, { headers: { authorization } });
        expect(wrong.status, authorization).toBe(401);
        expect(wrong.headers.get("www-authenticate")).toContain('error="invalid_token"');
        const body = await wrong.text();
        expect(body).not.toContain(token.slice(3));
      }
      const right = await fetch(`${guarded.url}/metrics`, { headers: { authorization: `bearer  ${token}` } });
      expect(right.status).toBe(200);
      expect(await right.text()).toContain('modelgate_calls_total{endpoint="chat",code="ok"} 1');
      // A scrape config's `params` add a query: the same endpoint, the same check.
      expect((await fetch(`${guarded.url}/metrics?collect=all`)).status).toBe(401);
      expect((await fetch(`${guarded.url}/metrics?collect=all`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      // The token is not in what the process logged.
      expect(guarded.rawLogs()).not.toContain(token);
    } finally {
      await guarded.close();
    }
  });

  it("a short or spaced token is refused at load, naming the setting", () => {
    const yaml = (token: string) => `server: { metrics_token: "${token}" }\nendpoints: []\n`;
    expect(() => parseConfig(yaml("short"), "t.yaml", modelFactories, {})).toThrow(/metrics_token: at least 16 characters/);
    expect(() => parseConfig(yaml("a token with spaces in it"), "t.yaml", modelFactories, {})).toThrow(/metrics_token: printable ASCII/);
  });
});

describe("Redis unreachable, through the gateway", () => {
  it("open: calls are admitted from local counters and the metric says so; closed: UNAVAILABLE", async () => {
    const { startRedisServer } = await import("../support/redis");
    const redis = await startRedisServer();
    const config = (mode: string) => `
store: { redis_url: "${redis.url}", on_redis_error: ${mode} }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
    limit: { renewal_period: minute, calls: 100 }
`;
    const open = await startGateway(config("open"));
    const closed = await startGateway(config("closed"));
    try {
      const hi = { endpoint: "chat", messages: [{ role: "user", content: "hi" }] };
      await clientFor(ChatService, "grpc", open.url).chat(hi);
      expect(await (await fetch(`${open.url}/metrics`)).text()).toContain("modelgate_quota_backend_up 1");
      await redis.kill();
      await clientFor(ChatService, "grpc", open.url).chat(hi);
      const text = await (await fetch(`${open.url}/metrics`)).text();
      expect(text).toContain("modelgate_quota_backend_up 0");
      expect(text).toMatch(/modelgate_quota_fallback_answers [1-9]/);
      expect(open.rawLogs()).toMatch(/redis/i);
      const err = await failure(clientFor(ChatService, "grpc", closed.url).chat(hi));
      expect(err.rawMessage).toBe("quota backend unreachable");
    } finally {
      await open.close();
      await closed.close();
      await redis.close();
    }
  });
});
