// StatsService.WatchStats through a real gateway, over gRPC and Connect: the snapshots show the
// calls just made (counts, errors, latency, time to first token, tokens, per target) and the
// streams open now; a key sees only the endpoints it may call, an admin all; bad intervals,
// windows and names get INVALID_ARGUMENT; a cancelled watch ends on the server (its place is
// given back: the per-key bound lets a new one in); shutdown ends watches with OK; a watch whose
// key is revoked, expires or leaves the config, or whose token's exp passes, ends UNAUTHENTICATED.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AdminService } from "../../gen/modelgate/v1/admin_pb";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { StatsService, type EndpointStats, type WatchStatsResponse } from "../../gen/modelgate/v1/stats_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { WatchStatsRequestSchema } from "../../gen/modelgate/v1/stats_pb";
import { parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import { transportFor, type ProtocolName } from "./clients";
import { startJwksServer, type JwksServer } from "../support/jwks-server";
import { eventually, failure, startGateway, type TestGateway } from "./harness";

const keys = {
  OPS_KEY: "sk-ops-stats-0123456789",
  AUDIT_KEY: "sk-audit-stats-0123456789",
  DEV_KEY: "sk-dev-stats-0123456789",
  OUT_KEY: "sk-out-stats-0123456789",
};
const protocols: ProtocolName[] = ["grpc", "connect-json-h1"];
const splitEndpoint = (name: string) => `
  - name: ${name}
    endpoint_type: llm/v1/chat
    targets:
      - { name: blue, weight: 50, model: { provider: echo, name: echo-blue } }
      - { name: green, weight: 50, model: { provider: echo, name: echo-green } }
    routing: { strategy: weighted }`;
const config = `
auth:
  enabled: true
  keys:
    - { name: ops, key: $OPS_KEY, roles: [admin], team: ops }
    - { name: auditor, key: $AUDIT_KEY, roles: [admin], team: audit }
    - { name: dev, key: $DEV_KEY, team: web }
    - { name: outsider, key: $OUT_KEY, team: nobody }
access:
  grants:
    - { endpoints: [chat, slow], teams: [web] }
    - { endpoints: ["*"], teams: [ops] }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
  - name: slow
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-slow, config: { stream_delay_ms: 100 } }
${protocols.map((p) => splitEndpoint(`split-${p}`)).join("")}
`;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(config, keys);
});
afterAll(() => gw.close());

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

interface Watch {
  snapshots: WatchStatsResponse[];
  controller: AbortController;
  /** Resolves when the stream ended: undefined for OK, else the error. */
  ended: Promise<ConnectError | undefined>;
  /** The latest snapshot once `check` holds for it. */
  until(check: (s: WatchStatsResponse) => boolean, timeoutMs?: number): Promise<WatchStatsResponse>;
}

function watch(target: TestGateway, protocol: ProtocolName, req: MessageInitShape<typeof WatchStatsRequestSchema>, key = keys.OPS_KEY): Watch {
  const controller = new AbortController();
  const snapshots: WatchStatsResponse[] = [];
  const client = createClient(StatsService, transportFor(protocol, target.url));
  const ended = (async () => {
    try {
      for await (const s of client.watchStats(req, { headers: auth(key), signal: controller.signal, timeoutMs: 60_000 })) snapshots.push(s);
      return undefined;
    } catch (err) {
      return ConnectError.from(err);
    }
  })();
  return {
    snapshots,
    controller,
    ended,
    async until(check, timeoutMs = 10_000) {
      let endedEarly: ConnectError | undefined | "running" = "running";
      void ended.then((e) => (endedEarly = e));
      await eventually(() => {
        if (endedEarly !== "running") throw new Error(`the watch ended: ${endedEarly?.message ?? "OK"}`);
        const last = snapshots.at(-1);
        return last !== undefined && check(last);
      }, timeoutMs);
      return snapshots.at(-1)!;
    },
  };
}

const endpointIn = (s: WatchStatsResponse, name: string): EndpointStats => {
  const found = s.endpoints.find((e) => e.endpoint === name);
  if (!found) throw new Error(`no ${name} in the snapshot (${s.endpoints.map((e) => e.endpoint).join(", ")})`);
  return found;
};

describe.each(protocols)("WatchStats over %s", (protocol) => {
  const chat = () => createClient(ChatService, transportFor(protocol, gw.url));

  it("max_snapshots ends the stream with OK after that many snapshots", async () => {
    const w = watch(gw, protocol, { endpoints: [`split-${protocol}`], intervalMs: 250, maxSnapshots: 3 });
    expect(await w.ended).toBeUndefined();
    expect(w.snapshots).toHaveLength(3);
    expect(w.snapshots.every((s) => s.endpoints.length === 1)).toBe(true);
  });

  it("shows the calls just made: counts, errors, latency, TTFT, tokens, and per target", async () => {
    const name = `split-${protocol}`;
    const w = watch(gw, protocol, { endpoints: [name], intervalMs: 250, windowSeconds: 60 });
    try {
      const first = await w.until(() => true);
      expect(first.windowSeconds).toBe(60);
      expect(first.endpoints.map((e) => e.endpoint)).toEqual([name]);
      const idle = endpointIn(first, name);
      expect(idle.stats).toMatchObject({ calls: 0n, errors: 0n, totalCalls: 0n, callsPerSecond: 0, activeStreams: 0 });
      expect(idle.stats?.p50LatencyMs).toBeUndefined();
      expect(idle.stats?.errorRate).toBeUndefined();
      expect(idle.targets.map((t) => t.target)).toEqual(["blue", "green"]);

      // 4 unary answers, 2 streamed ones (3 prompt words + 4 answer words each: "echo: hello live stats"),
      // and one refused by the model (echo takes no tools): 7 calls, 1 error.
      const messages = [{ role: "user", content: "hello live stats" }];
      for (let i = 0; i < 4; i++) await chat().chat({ endpoint: name, messages }, { headers: auth(keys.OPS_KEY) });
      for (let i = 0; i < 2; i++) {
        for await (const _ of chat().streamChat({ endpoint: name, messages }, { headers: auth(keys.OPS_KEY) })) void _;
      }
      const refused = await failure(
        chat().chat({ endpoint: name, messages, tools: [{ type: "function", function: { name: "f", description: "d" } }] }, { headers: auth(keys.OPS_KEY) }),
      );
      expect(refused.code).toBe(Code.InvalidArgument);

      const after = endpointIn(await w.until((s) => endpointIn(s, name).stats?.totalCalls === 7n), name);
      const stats = after.stats!;
      expect(stats.calls).toBe(7n);
      expect(stats.errors).toBe(1n);
      expect(stats.errorRate).toBeCloseTo(1 / 7, 6);
      expect(stats.callsPerSecond).toBeGreaterThan(0);
      expect(stats.p50LatencyMs).toBeGreaterThan(0);
      expect(stats.p95LatencyMs).toBeGreaterThanOrEqual(stats.p50LatencyMs!);
      expect(stats.p50TtftMs).toBeGreaterThan(0);
      expect(stats.activeStreams).toBe(0);
      // Rates share the window's length: tokens/s over calls/s is the tokens per call (6 answers x 7 / 7 calls).
      expect(stats.tokensPerSecond / stats.callsPerSecond).toBeCloseTo((6 * 7) / 7, 6);
      expect(stats.completionTokensPerSecond / stats.callsPerSecond).toBeCloseTo((6 * 4) / 7, 6);
      // The answered calls, split over the two targets.
      const byTarget = after.targets.map((t) => Number(t.stats?.calls ?? 0n));
      expect(byTarget.reduce((a, b) => a + b, 0)).toBe(6);
      for (const t of after.targets) if (t.stats!.calls > 0n) expect(t.stats!.p50LatencyMs).toBeGreaterThan(0);
      // Each snapshot is newer than the one before.
      const times = w.snapshots.map((s) => timestampDate(s.time!).getTime());
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1]!);
    } finally {
      w.controller.abort();
    }
    const ended = await w.ended;
    expect(ended?.code).toBe(Code.Canceled);
  });

  it("counts a stream open now in active_streams, for the endpoint and the target, until it ends", async () => {
    const w = watch(gw, protocol, { endpoints: ["slow"], intervalMs: 250 });
    const streaming = new AbortController();
    try {
      const before = endpointIn(await w.until(() => true), "slow").stats!.activeStreams;
      // 40 words, 100 ms apart: about 4 s of stream unless cancelled.
      const content = Array.from({ length: 40 }, (_, i) => `w${i}`).join(" ");
      const stream = chat().streamChat({ endpoint: "slow", messages: [{ role: "user", content }] }, { headers: auth(keys.OPS_KEY), signal: streaming.signal });
      const it = stream[Symbol.asyncIterator]();
      await it.next(); // the first word is out: the target is known
      const open = endpointIn(await w.until((s) => endpointIn(s, "slow").stats!.activeStreams === before + 1), "slow");
      expect(open.targets).toHaveLength(1);
      expect(open.targets[0]!.stats!.activeStreams).toBeGreaterThanOrEqual(1);
      streaming.abort();
      await it.next().catch(() => undefined);
      await w.until((s) => endpointIn(s, "slow").stats!.activeStreams === before);
    } finally {
      streaming.abort();
      w.controller.abort();
    }
    await w.ended;
  });

  it("refuses a bad interval, window or endpoint list with INVALID_ARGUMENT", async () => {
    const cases: [MessageInitShape<typeof WatchStatsRequestSchema>, RegExp][] = [
      [{ intervalMs: 100 }, /^interval_ms: 250 to 60000 \(0 = 1000\), got 100$/],
      [{ intervalMs: 60_001 }, /^interval_ms: 250 to 60000 \(0 = 1000\), got 60001$/],
      [{ windowSeconds: 61 }, /^window_seconds: 1 to 60 \(0 = 10\), got 61$/],
      [{ endpoints: Array.from({ length: 101 }, (_, i) => `e${i}`) }, /^endpoints: at most 100/],
      [{ endpoints: ["bad\u0000name"] }, /^endpoints\[0\]: contains a control character$/],
    ];
    for (const [req, message] of cases) {
      const w = watch(gw, protocol, req);
      const err = await w.ended;
      expect(err?.code, JSON.stringify(req)).toBe(Code.InvalidArgument);
      expect(err?.rawMessage).toMatch(message);
      expect(w.snapshots).toEqual([]);
    }
  });
});

describe("who may watch what", () => {
  it("a key sees the endpoints it may call; an admin sees all (grants or not); others are refused without learning names", async () => {
    const dev = watch(gw, "grpc", {}, keys.DEV_KEY);
    // The auditor's team has no grant: the admin role alone lets it watch every endpoint.
    const admin = watch(gw, "grpc", {}, keys.AUDIT_KEY);
    try {
      expect((await dev.until(() => true)).endpoints.map((e) => e.endpoint)).toEqual(["chat", "slow"]);
      expect((await admin.until(() => true)).endpoints.map((e) => e.endpoint)).toEqual(["chat", "slow", "split-grpc", "split-connect-json-h1"]);
    } finally {
      dev.controller.abort();
      admin.controller.abort();
    }
    const refusals: [MessageInitShape<typeof WatchStatsRequestSchema>, string, Code, RegExp][] = [
      [{ endpoints: ["split-grpc"] }, keys.DEV_KEY, Code.PermissionDenied, /needs a grant for endpoint "split-grpc" for team "web"/],
      // An unknown name: a key that may not call it learns nothing (PERMISSION_DENIED); an admin gets NOT_FOUND.
      [{ endpoints: ["no-such"] }, keys.DEV_KEY, Code.PermissionDenied, /needs a grant for endpoint "no-such"/],
      [{ endpoints: ["no-such"] }, keys.AUDIT_KEY, Code.NotFound, /^unknown endpoint "no-such"$/],
      [{}, keys.OUT_KEY, Code.PermissionDenied, /may call none of this gateway's endpoints/],
      [{}, "sk-not-a-key-0000000000", Code.Unauthenticated, /invalid API key/],
    ];
    for (const [req, key, code, message] of refusals) {
      const err = await watch(gw, "connect-json-h1", req, key).ended;
      expect(err?.code, `${JSON.stringify(req)} as ${key}`).toBe(code);
      expect(err?.rawMessage).toMatch(message);
    }
  });

  it("bounds the watchers per key; a cancelled watch gives its place back", async () => {
    const open: Watch[] = [];
    try {
      for (let i = 0; i < 8; i++) open.push(watch(gw, i % 2 === 0 ? "grpc" : "connect-json-h1", { endpoints: ["chat"] }, keys.DEV_KEY));
      await Promise.all(open.map((w) => w.until(() => true)));
      const ninth = await watch(gw, "grpc", { endpoints: ["chat"] }, keys.DEV_KEY).ended;
      expect(ninth?.code).toBe(Code.ResourceExhausted);
      expect(ninth?.rawMessage).toMatch(/^at most 8 stats watchers at once per key/);
      // Another key is not affected.
      const other = watch(gw, "grpc", { endpoints: ["chat"] }, keys.OPS_KEY);
      await other.until(() => true);
      other.controller.abort();
      // Cancel one: the server ends its stream and a new watch gets in.
      open[0]!.controller.abort();
      expect((await open[0]!.ended)?.code).toBe(Code.Canceled);
      let admitted: Watch | undefined;
      await expect
        .poll(
          async () => {
            const w = watch(gw, "grpc", { endpoints: ["chat"] }, keys.DEV_KEY);
            const first = await Promise.race([w.until(() => true).then(() => "in"), w.ended.then((e) => e?.code)]);
            if (first === "in") admitted = w;
            return first;
          },
          { timeout: 10_000, interval: 100 },
        )
        .toBe("in");
      if (admitted) open.push(admitted);
    } finally {
      for (const w of open) w.controller.abort();
    }
  });
});

describe("WatchStats places shared fairly", () => {
  it("one team takes at most 16 places; non-admin callers leave the last 16 of 64 to admins", async () => {
    // Six keys in three teams fill 48 places (8 each, 16 per team); a seventh team's key is then
    // refused, an admin is not, and a third key of a full team is refused for its team.
    const members = ["web-1", "web-2", "mob-1", "mob-2", "api-1", "api-2"];
    const env: Record<string, string> = { ADMIN_KEY: "sk-admin-fair-0123456789", LATE_KEY: "sk-late-fair-0123456789", WEB3_KEY: "sk-web3-fair-0123456789" };
    for (const m of members) env[m.replace("-", "_").toUpperCase()] = `sk-${m}-fair-0123456789`;
    const keyOf = (m: string) => env[m.replace("-", "_").toUpperCase()]!;
    const fair = await startGateway(
      `
auth:
  enabled: true
  keys:
    - { name: admin, key: $ADMIN_KEY, roles: [admin], team: ops }
${members.map((m) => `    - { name: ${m}, key: $${m.replace("-", "_").toUpperCase()}, team: ${m.split("-")[0]} }`).join("\n")}
    - { name: web-3, key: $WEB3_KEY, team: web }
    - { name: late, key: $LATE_KEY, team: ml }
access:
  grants:
    - { endpoints: [chat], teams: [web, mob, api, ml] }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
`,
      env,
    );
    const open: Watch[] = [];
    try {
      for (const m of members) for (let i = 0; i < 8; i++) open.push(watch(fair, "grpc", { endpoints: ["chat"] }, keyOf(m)));
      await Promise.all(open.map((w) => w.until(() => true, 30_000)));
      const web3 = await watch(fair, "grpc", { endpoints: ["chat"] }, env.WEB3_KEY).ended;
      // The reserve is checked first: 48 non-admin places are taken.
      expect([web3?.code, web3?.rawMessage]).toEqual([Code.ResourceExhausted, "this gateway keeps its last 16 stats watchers for admins; try again later"]);
      const late = await watch(fair, "grpc", { endpoints: ["chat"] }, env.LATE_KEY).ended;
      expect(late?.rawMessage).toBe("this gateway keeps its last 16 stats watchers for admins; try again later");
      const admin = watch(fair, "connect-json-h1", { endpoints: ["chat"] }, env.ADMIN_KEY);
      open.push(admin);
      await admin.until(() => true);
      // Give back one of another team's places: the reserve has room again, but web is full.
      open[16]!.controller.abort();
      expect((await open[16]!.ended)?.code).toBe(Code.Canceled);
      await expect
        .poll(async () => (await watch(fair, "grpc", { endpoints: ["chat"] }, env.WEB3_KEY).ended)?.rawMessage, { timeout: 10_000, interval: 100 })
        .toBe("at most 16 stats watchers at once per team: close another one first");
      const lateIn = watch(fair, "grpc", { endpoints: ["chat"] }, env.LATE_KEY);
      open.push(lateIn);
      await lateIn.until(() => true);
    } finally {
      for (const w of open) w.controller.abort();
      await Promise.all(open.map((w) => w.ended));
      await fair.close();
    }
  }, 120_000);
});

describe("buf curl, as the README shows it", () => {
  it("streams snapshots with the schema from server reflection", async () => {
    const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
    const args = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-H", `authorization: Bearer ${keys.DEV_KEY}`, "-d", '{"endpoints": ["chat"], "intervalMs": 250}'];
    // The watch never ends by itself: buf curl is stopped once a few snapshots are out.
    const stdout = await new Promise<string>((resolve) => {
      execFile(buf, [...args, `${gw.url}/modelgate.v1.StatsService/WatchStats`], { cwd: "/tmp", timeout: 4_000 }, (_err, out) => resolve(String(out)));
    });
    const snapshots = stdout.split(/\n(?=\{)/).filter((t) => t.trim() !== "").map((t) => JSON.parse(t) as { windowSeconds: number; endpoints: { endpoint: string }[] });
    expect(snapshots.length).toBeGreaterThanOrEqual(2);
    for (const s of snapshots) {
      expect(s.windowSeconds).toBe(10);
      expect(s.endpoints.map((e) => e.endpoint)).toEqual(["chat"]);
    }
  });
});

describe("a running gateway", () => {
  it("follows a config reload: an endpoint removed leaves the snapshots of a running watch", async () => {
    const endpoint = (name: string) => `  - name: ${name}\n    endpoint_type: llm/v1/chat\n    model: { provider: echo, name: echo-1 }\n`;
    const own = await startGateway(`endpoints:\n${endpoint("one")}${endpoint("two")}`);
    try {
      const w = watch(own, "connect-json-h1", { intervalMs: 250 });
      expect((await w.until(() => true)).endpoints.map((e) => e.endpoint)).toEqual(["one", "two"]);
      own.gateway.reload(parseConfig(`endpoints:\n${endpoint("one")}`, "reloaded.yaml", modelFactories, {}));
      await w.until((s) => s.endpoints.length === 1 && s.endpoints[0]!.endpoint === "one");
      w.controller.abort();
      await w.ended;
    } finally {
      await own.close();
    }
  });

  it("ends every watch with OK at shutdown instead of holding it", async () => {
    const own = await startGateway(`endpoints:\n  - name: chat\n    endpoint_type: llm/v1/chat\n    model: { provider: echo, name: echo-1 }\n`);
    const w = watch(own, "grpc", {});
    await w.until(() => true);
    await own.gateway.shutdown(30_000);
    expect(await w.ended).toBeUndefined();
  });
});

describe("a watch whose credentials stop holding", () => {
  const adminKey = "sk-admin-stats-creds-0123456789";
  const devKey = "sk-dev-stats-creds-0123456789";
  const gatewayConfig = (devTeam: string | undefined, jwksUrl: string) => `
store: { database_url: "sqlite::memory:", key_refresh_ms: 100 }
auth:
  enabled: true
  keys:
    - { name: ops, key: $ADMIN_KEY, roles: [admin], team: ops }
${devTeam === undefined ? "" : `    - { name: dev, key: $DEV_KEY, team: ${devTeam} }`}
  jwt: { issuer: "https://idp.test", audience: modelgate, jwks_url: "${jwksUrl}" }
access:
  grants:
    - { endpoints: ["*"], teams: [web, ops] }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
`;
  const env = { ADMIN_KEY: adminKey, DEV_KEY: devKey };
  let own: TestGateway;
  let jwks: JwksServer;
  let admin: Client<typeof AdminService>;
  beforeAll(async () => {
    jwks = await startJwksServer({ alg: "RS256" });
    own = await startGateway(gatewayConfig("web", jwks.url), env);
    admin = createClient(AdminService, transportFor("grpc", own.url));
  });
  afterAll(async () => {
    await own.close();
    await jwks.close();
  });
  const asAdmin = { headers: auth(adminKey) };
  /** A stored key's secret once this gateway's key cache has it (it polls every 100 ms). */
  const storedKey = async (req: Parameters<typeof admin.createKey>[0]) => {
    const made = await admin.createKey(req, asAdmin);
    await expect
      .poll(async () => (await watch(own, "grpc", { endpoints: ["chat"], maxSnapshots: 1 }, made.secret).ended)?.code ?? "ok", { timeout: 10_000, interval: 100 })
      .toBe("ok");
    return made;
  };

  it.each(protocols)("a stored key revoked while watching ends the watch with UNAUTHENTICATED (%s)", async (protocol) => {
    const made = await storedKey({ name: `revoked-${protocol}`, team: "web" });
    const w = watch(own, protocol, { intervalMs: 250 }, made.secret);
    try {
      await w.until(() => true);
      await admin.revokeKey({ id: made.key!.id }, asAdmin);
      const err = await w.ended;
      expect(err?.code).toBe(Code.Unauthenticated);
      expect(err?.rawMessage).toBe("API key revoked");
    } finally {
      w.controller.abort();
    }
  });

  it("a watch sleeping a long interval ends soon after its key is revoked, not an interval later", async () => {
    const made = await storedKey({ name: "revoked-slow", team: "web" });
    const w = watch(own, "grpc", { intervalMs: 60_000 }, made.secret);
    try {
      await w.until(() => true);
      await admin.revokeKey({ id: made.key!.id }, asAdmin);
      // Checked between one-second steps of the sleep: this ends long before the next snapshot is due.
      const err = await w.ended;
      expect([err?.code, err?.rawMessage]).toEqual([Code.Unauthenticated, "API key revoked"]);
      expect(w.snapshots).toHaveLength(1);
    } finally {
      w.controller.abort();
    }
  }, 20_000);

  it("a stored key that expires while watching ends the watch with UNAUTHENTICATED", async () => {
    const made = await storedKey({ name: "short-lived", team: "web", ttlSeconds: 2n });
    const w = watch(own, "grpc", { intervalMs: 250 }, made.secret);
    try {
      await w.until(() => true);
      const err = await w.ended;
      expect(err?.code).toBe(Code.Unauthenticated);
      expect(err?.rawMessage).toBe("API key expired");
    } finally {
      w.controller.abort();
    }
  });

  it("a token whose exp passes while watching ends the watch with UNAUTHENTICATED", async () => {
    const token = await jwks.sign({ iss: "https://idp.test", aud: "modelgate", sub: "user-7", team: "web", roles: ["user"], exp: Math.floor(Date.now() / 1000) + 2 });
    const w = watch(own, "grpc", { intervalMs: 250 }, token);
    try {
      await w.until(() => true);
      const err = await w.ended;
      expect(err?.code).toBe(Code.Unauthenticated);
      expect(err?.rawMessage).toBe("token expired");
    } finally {
      w.controller.abort();
    }
  });

  it("a config key removed by a reload ends the watch (UNAUTHENTICATED); one that loses its grants, with PERMISSION_DENIED", async () => {
    const reload = (devTeam: string | undefined) => own.gateway.reload(parseConfig(gatewayConfig(devTeam, jwks.url), "reloaded.yaml", modelFactories, env));
    try {
      const removed = watch(own, "connect-json-h1", { intervalMs: 250 }, devKey);
      await removed.until((s) => s.endpoints.length === 1);
      reload(undefined);
      const gone = await removed.ended;
      expect(gone?.code).toBe(Code.Unauthenticated);
      expect(gone?.rawMessage).toBe("API key removed from the config");

      reload("web");
      const moved = watch(own, "grpc", { endpoints: ["chat"], intervalMs: 250 }, devKey);
      await moved.until((s) => s.endpoints.length === 1);
      reload("nobody");
      const denied = await moved.ended;
      expect(denied?.code).toBe(Code.PermissionDenied);
      expect(denied?.rawMessage).toMatch(/may no longer call any of the endpoints this watch shows/);
    } finally {
      reload("web");
    }
  });
});
