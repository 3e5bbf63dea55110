// A real Prometheus (Debian's `prometheus` package, installed by scripts/ensure-test-deps.sh)
// scrapes a running gateway on loopback every second, in OpenMetrics, with the shipped alert
// rules loaded. After unary, streamed, failed-over and refused calls, every query of the shipped
// Grafana dashboard and every alert rule expression runs against its HTTP API: each must parse,
// the key ones must return data, every metric the rules name must exist, and the call's trace id
// must come back as an exemplar. promtool checks and unit-tests the rules and checks the compose
// stack's Prometheus config; the dashboard JSON is schema-checked; the compose file's mounts
// exist and its gateway config passes modelgate's own validation.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { freePort } from "../support/free-port";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { Code, createClient } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { FeedbackService } from "../../gen/modelgate/v1/feedback_pb";
import { parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import { startFakeUpstream, type FaultyUpstream } from "../fakes/fake-upstream";
import { startRedisServer, type OwnedRedis } from "../support/redis";
import { transportFor } from "./clients";
import { collect, failure, startGateway, type TestGateway } from "./harness";

const run = promisify(execFile);
const deploy = resolve(__dirname, "../../deploy");
const alertsFile = join(deploy, "prometheus/alerts.yaml");
const dashboardFile = join(deploy, "grafana/modelgate.json");

const binaries = ["prometheus", "promtool"] as const;
const missing = binaries.filter((b) => !["/usr/bin", "/usr/local/bin", ...(process.env["PATH"] ?? "").split(":")].some((d) => d && existsSync(join(d, b))));
// ensure-test-deps.sh installs Debian's prometheus package; without it (a machine where the script
// could not run apt-get) these tests cannot run at all, which the skip reason says.
const needsPrometheus = missing.length > 0 ? describe.skip : describe;
if (missing.length > 0) console.warn(`prometheus.spec: skipped, ${missing.join(" and ")} not installed (scripts/ensure-test-deps.sh installs Debian's prometheus)`);

// ---- the dashboard's shape: the fields Grafana needs to load and run it -----------------------

const datasourceRef = z.strictObject({ type: z.literal("prometheus"), uid: z.string().min(1) });
const target = z.object({ refId: z.string().min(1), expr: z.string().min(1), datasource: datasourceRef, legendFormat: z.string().optional() });
const gridPos = z.object({ h: z.number().int().positive(), w: z.number().int().min(1).max(24), x: z.number().int().min(0).max(23), y: z.number().int().min(0) });
const rowPanel = z.object({ id: z.number().int().positive(), type: z.literal("row"), title: z.string().min(1), gridPos, collapsed: z.boolean(), panels: z.array(z.unknown()) });
const queryPanel = z.object({
  id: z.number().int().positive(),
  type: z.enum(["timeseries", "stat", "bargauge", "state-timeline", "table", "gauge"]),
  title: z.string().min(1),
  gridPos,
  datasource: datasourceRef,
  fieldConfig: z.object({ defaults: z.object({ unit: z.string().optional() }).passthrough(), overrides: z.array(z.unknown()) }),
  targets: z.array(target).min(1),
});
const dashboardSchema = z.object({
  uid: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  title: z.string().min(1),
  schemaVersion: z.number().int().min(36),
  version: z.number().int(),
  time: z.object({ from: z.string(), to: z.string() }),
  refresh: z.string(),
  tags: z.array(z.string()),
  templating: z.object({
    list: z.array(z.object({ name: z.string().regex(/^\w+$/), type: z.enum(["datasource", "query", "custom", "interval"]) }).passthrough()),
  }),
  annotations: z.object({ list: z.array(z.unknown()) }),
  panels: z.array(z.union([rowPanel, queryPanel])).min(1),
});
type Dashboard = z.infer<typeof dashboardSchema>;

function loadDashboard(): Dashboard {
  return dashboardSchema.parse(JSON.parse(readFileSync(dashboardFile, "utf8")));
}

/** Grafana's variables, as a query runs with "All" endpoints over the last minute. */
function grafanaToPromQL(expr: string): string {
  return expr.replaceAll("$__rate_interval", "1m").replaceAll("$__range", "1m").replaceAll("$endpoint", ".*");
}

/** The alert rules' expressions, by alert name. */
function alertRules(): { alert: string; expr: string }[] {
  const file = parseYaml(readFileSync(alertsFile, "utf8")) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return file.groups.flatMap((g) => g.rules);
}

describe("the Grafana dashboard (deploy/grafana/modelgate.json)", () => {
  it("is valid JSON with the fields Grafana needs: panels with a datasource and targets, unique ids, refIds unique per panel, on a 24-column grid", () => {
    const d = loadDashboard();
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of d.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === "row") continue;
      const refIds = p.targets.map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      // Every $variable a query uses is defined (or one of Grafana's own).
      for (const t of p.targets) {
        for (const [, name] of t.expr.matchAll(/\$(\w+)/g)) {
          expect(name === "__rate_interval" || name === "__range" || d.templating.list.some((v) => v.name === name), `${p.title}: $${name}`).toBe(true);
        }
      }
    }
    expect(d.templating.list.map((v) => v.name)).toEqual(["datasource", "endpoint"]);
  });
});

describe("the local stack (deploy/docker-compose.yaml)", () => {
  const compose = parseYaml(readFileSync(join(deploy, "docker-compose.yaml"), "utf8"), { merge: true }) as {
    services: Record<string, { volumes?: string[]; build?: { context: string; dockerfile: string }; image?: string }>;
  };

  it("has two gateways, Redis, PostgreSQL, Prometheus, Grafana and a Collector; every file it mounts or builds from exists", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["gateway-1", "gateway-2", "grafana", "otel-collector", "postgres", "prometheus", "redis"]);
    const mounted: string[] = [];
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.image ?? service.build, name).toBeDefined();
      for (const volume of service.volumes ?? []) {
        const source = volume.split(":")[0]!;
        if (!source.startsWith(".")) continue; // a named volume
        mounted.push(source);
        expect(existsSync(join(deploy, source)), `${name} mounts ${source}`).toBe(true);
      }
      if (service.build) {
        const context = join(deploy, service.build.context);
        expect(existsSync(join(context, service.build.dockerfile)), `${name}'s Dockerfile`).toBe(true);
        // What the Dockerfile copies from the context exists.
        const dockerfile = readFileSync(join(context, service.build.dockerfile), "utf8");
        for (const [, sources] of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
          for (const source of sources!.split(" ")) expect(existsSync(join(context, source)), `COPY ${source}`).toBe(true);
        }
      }
    }
    expect(mounted).toEqual(
      expect.arrayContaining(["./modelgate/modelgate.yaml", "./prometheus/prometheus.yml", "./prometheus/alerts.yaml", "./grafana/modelgate.json", "./otel/collector.yaml"]),
    );
  });

  it("its gateway config passes modelgate's own validation", () => {
    const path = join(deploy, "modelgate/modelgate.yaml");
    const config = parseConfig(readFileSync(path, "utf8"), path, modelFactories, {});
    expect(config.file.endpoints.map((e) => e.name)).toEqual(["chat", "completions", "embeddings"]);
    expect(Object.keys(config.file.teams)).toEqual(["web", "batch"]);
  });

  it("the Collector and Grafana provisioning files parse as YAML", () => {
    for (const f of ["otel/collector.yaml", "grafana/provisioning/datasources/prometheus.yaml", "grafana/provisioning/dashboards/modelgate.yaml"]) {
      expect(parseYaml(readFileSync(join(deploy, f), "utf8")), f).toBeTypeOf("object");
    }
  });
});

needsPrometheus("promtool", () => {
  it("check rules, test rules (alerts.test.yaml) and check config (the stack's prometheus.yml) pass", async () => {
    const dir = join(deploy, "prometheus");
    const check = await run("promtool", ["check", "rules", "alerts.yaml"], { cwd: dir, timeout: 30_000 });
    expect(check.stdout).toMatch(/SUCCESS: 14 rules found/);
    const tested = await run("promtool", ["test", "rules", "alerts.test.yaml"], { cwd: dir, timeout: 60_000 });
    expect(tested.stdout).toMatch(/SUCCESS/);
    const config = await run("promtool", ["check", "config", "prometheus.yml"], { cwd: dir, timeout: 30_000 });
    expect(config.stdout).toMatch(/is valid prometheus config file syntax/);
  }, 120_000);
});

// ---- a real Prometheus scraping a real gateway ------------------------------------------------


interface PromResponse<T> {
  status: "success" | "error";
  errorType?: string;
  error?: string;
  data: T;
}
type Vector = { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };

async function waitFor<T>(what: string, read: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await read();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const teamKeys = { RED_KEY: "sk-red-0123456789abcdef", BLUE_KEY: "sk-blue-0123456789abcdef" };

needsPrometheus("a real Prometheus scraping the gateway", () => {
  let dir: string;
  let prometheus: ChildProcess | undefined;
  let promUrl: string;
  let gw: TestGateway;
  let upstream: FaultyUpstream;
  let redis: OwnedRedis;
  let prometheusLog = "";

  const query = async (expr: string): Promise<PromResponse<Vector>> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(10_000) });
    return (await res.json()) as PromResponse<Vector>;
  };
  /** The query's samples that are numbers (histogram_quantile over no observations gives NaN). */
  const values = async (expr: string): Promise<number[]> => {
    const r = await query(expr);
    if (r.status !== "success") throw new Error(`${expr}: ${r.errorType}: ${r.error}`);
    return r.data.result.map((s) => Number(s.value[1])).filter((v) => !Number.isNaN(v));
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    upstream = await startFakeUpstream();
    const model = (name: string) => `{ provider: openai, name: ${name}, config: { openai_api_key: sk-test-key-0001, openai_api_base: "${upstream.url}/v1" } }`;
    gw = await startGateway(
      `
auth:
  enabled: true
  keys:
    - { name: red-app, key: $RED_KEY, team: red }
    - { name: blue-app, key: $BLUE_KEY, team: blue }
teams:
  red: { budget_usd: 1000, budget_period: day }
prices:
  - { provider: openai, model: m-a, input_per_mtok: 1000, output_per_mtok: 2000 }
  - { provider: openai, model: m-b, input_per_mtok: 1000, output_per_mtok: 2000 }
  - { provider: echo, model: echo-1, input_per_mtok: 1000, output_per_mtok: 2000 }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    targets: [{ name: primary, model: ${model("m-a")} }, { name: backup, model: ${model("m-b")} }]
    routing: { fallback_on: [server_error], breaker: { consecutive_failures: 1000 } }
  - { name: echo, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
`,
      teamKeys,
      { env: { MODELGATE_REDIS_URL: redis.url } },
    );
    dir = await mkdtemp(join(tmpdir(), "mg-prometheus-"));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const config = {
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      rule_files: [alertsFile],
      scrape_configs: [{ job_name: "modelgate", scrape_interval: "1s", static_configs: [{ targets: [`127.0.0.1:${gw.port}`] }] }],
    };
    await writeFile(join(dir, "prometheus.yml"), JSON.stringify(config));
    prometheus = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--enable-feature=exemplar-storage",
        "--log.level=warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    prometheus.stderr!.on("data", (d: Buffer) => (prometheusLog = (prometheusLog + d.toString()).slice(-20_000)));
    await waitFor("Prometheus ready", async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined), 30_000);
  }, 60_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus!.once("exit", r));
      prometheus.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (prometheus.exitCode === null) prometheus.kill("SIGKILL");
    }
    await gw?.close();
    await upstream?.close();
    await redis?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 30_000);

  /** Unary (ok, failed over), streams over gRPC and the OpenAI REST surface, a refused call. */
  async function traffic(round: number): Promise<void> {
    const red = createClient(ChatService, transportFor("grpc", gw.url));
    const headers = { authorization: `Bearer ${teamKeys.RED_KEY}` };
    const blueHeaders = { authorization: `Bearer ${teamKeys.BLUE_KEY}` };
    const user = (content: string) => [{ role: "user", content }];
    let requestId = "";
    await red.chat(
      { endpoint: "chat", messages: user(`hello ${round}`) },
      { headers: { ...headers, traceparent: `00-${traceId}-00f067aa0ba902b7-01` }, onHeader: (h) => (requestId = h.get("x-request-id") ?? "") },
    );
    const feedback = createClient(FeedbackService, transportFor("grpc", gw.url));
    await feedback.postFeedback({ requestId, name: "thumbs", score: 1, label: "helpful" }, { headers });
    upstream.queueFaults("#status:500");
    const failedOver = await red.chat({ endpoint: "chat", messages: user("fail over") }, { headers });
    expect(failedOver.routing?.target).toBe("backup");
    const chunks = await collect(red.streamChat({ endpoint: "chat", messages: user("stream me a few words please") }, { headers: blueHeaders }));
    expect(chunks.length).toBeGreaterThan(2);
    const rest = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...blueHeaders, "content-type": "application/json" },
      body: JSON.stringify({ model: "echo", stream: true, messages: user("one two three four five") }),
    });
    expect(rest.status).toBe(200);
    expect(await rest.text()).toContain("[DONE]");
    await failure(red.chat({ endpoint: "no-such-endpoint", messages: user("x") }, { headers }));
    // Both targets fail: the gateway's own failure (Unavailable), counted in the error ratio.
    upstream.queueFaults("#status:500", "#status:500");
    expect((await failure(red.chat({ endpoint: "chat", messages: user("both fail") }, { headers }))).code).toBe(Code.Unavailable);
  }

  it("scrapes OpenMetrics; every dashboard query and alert expression runs; the key ones have data; exemplars carry the trace id; the rules evaluate", async () => {
    const calls = async () => (await values('sum(modelgate_calls_total{job="modelgate"})'))[0];
    // Two rounds with scrapes between them, so rate() sees the counters grow.
    await traffic(1);
    await waitFor("first round scraped", async () => ((await calls()) === 6 ? true : undefined), 20_000);
    await new Promise((r) => setTimeout(r, 1_500));
    await traffic(2);
    await waitFor("second round scraped", async () => ((await calls()) === 12 ? true : undefined), 20_000);
    await new Promise((r) => setTimeout(r, 1_500));

    // The scrape is OpenMetrics and clean.
    const targets = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as PromResponse<{ activeTargets: { health: string; lastError: string; scrapeUrl: string }[] }>;
    expect(targets.data.activeTargets).toHaveLength(1);
    expect(targets.data.activeTargets[0]).toMatchObject({ health: "up", lastError: "" });
    const scraped = await fetch(`${gw.url}/metrics`, { headers: { accept: "application/openmetrics-text;version=1.0.0" } });
    expect(scraped.headers.get("content-type")).toMatch(/^application\/openmetrics-text/);
    expect(await scraped.text()).toMatch(/# EOF\n$/);
    // ... and the plain text format keeps the counters' _total names afterwards.
    expect(await (await fetch(`${gw.url}/metrics`)).text()).toContain('modelgate_calls_total{endpoint="chat",code="ok"} 6');

    // Every dashboard query parses and runs.
    const dashboard = loadDashboard();
    const panelQueries = dashboard.panels.flatMap((p) => (p.type === "row" ? [] : p.targets.map((t) => ({ title: p.title, expr: grafanaToPromQL(t.expr) }))));
    expect(panelQueries.length).toBeGreaterThan(20);
    const withData = new Map<string, number>();
    for (const { title, expr } of panelQueries) {
      const r = await query(expr);
      expect(r.status, `${title}: ${expr}: ${r.error ?? ""}`).toBe("success");
      const numbers = r.data.result.map((s) => Number(s.value[1])).filter((v) => !Number.isNaN(v));
      withData.set(title, (withData.get(title) ?? 0) + numbers.length);
    }
    // The endpoint variable's values (Grafana's label_values) exist.
    expect(await values("group by (endpoint) (modelgate_calls_total)")).toHaveLength(3);
    const mustHaveData = [
      "Requests / s by endpoint",
      "Error ratio (gateway's failures)",
      "Calls / s by result code",
      "Call latency p50 / p95 / p99",
      "Time to first token p50 / p95 by target",
      "Time per output token p50 / p95 by target",
      "Output tokens / s by endpoint",
      "Tokens / s by team",
      "Cost by team (USD / hour)",
      "Cost by team over the time range",
      "Team budget used at the last hour's pace (x budget)",
      "Circuit breaker state (0 closed, 1 half-open, 2 open)",
      "Upstream attempts / s by target and outcome",
      "Retries and fallbacks / s",
      "Active streams",
      "Usage ledger queue (rows waiting)",
      "Quota backend (Redis) up",
      "Open connections",
      "Process memory (RSS)",
      "Mean feedback score by arm (target, model version)",
      "Feedback / s by arm and label",
    ];
    for (const title of mustHaveData) expect(withData.get(title), `dashboard panel "${title}" has data`).toBeGreaterThan(0);

    // Figures behind the panels: two teams, TTFT per target, fallbacks, the gateway's own failures.
    const teams = await values("sum by (team) (modelgate_team_cost_usd_total)");
    expect(teams).toHaveLength(2);
    expect(await values('sum(modelgate_upstream_fallbacks_total{target="backup"})')).toEqual([4]);
    expect(await values('sum(modelgate_calls_total{code="Unavailable"})')).toEqual([2]);
    expect(await values('sum(modelgate_time_to_first_token_seconds_count{endpoint="chat", target="primary"})')).toEqual([2]);
    expect(await values('sum(modelgate_time_to_first_token_seconds_count{endpoint="echo", target="echo-1"})')).toEqual([2]);
    expect(await values("sum(modelgate_active_streams)")).toEqual([0]);

    // Every alert expression parses and runs; every metric it names exists.
    const rules = alertRules();
    expect(rules).toHaveLength(14);
    for (const rule of rules) {
      const r = await query(rule.expr);
      expect(r.status, `${rule.alert}: ${r.error ?? ""}`).toBe("success");
      for (const [name] of rule.expr.matchAll(/\bmodelgate_[a-z_]+\b/g)) {
        expect(await values(`count(${name})`), `${rule.alert} names ${name}`).toHaveLength(1);
      }
    }
    // Prometheus itself loaded and evaluated them without error.
    const loaded = await waitFor(
      "rules evaluated",
      async () => {
        const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as PromResponse<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>;
        const all = r.data.groups.flatMap((g) => g.rules);
        return all.length === 14 && all.every((x) => x.health !== "unknown") ? all : undefined;
      },
      20_000,
    );
    for (const rule of loaded) expect(rule, rule.name).toMatchObject({ health: "ok" });

    // The exemplar of the call sent with a traceparent.
    const now = Date.now() / 1000;
    const ex = (await (
      await fetch(`${promUrl}/api/v1/query_exemplars?query=${encodeURIComponent("modelgate_call_duration_seconds_bucket")}&start=${now - 300}&end=${now + 60}`)
    ).json()) as PromResponse<{ seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string> }[] }[]>;
    expect(ex.status).toBe("success");
    const traceIds = ex.data.flatMap((s) => s.exemplars.map((e) => e.labels["trace_id"]));
    expect(traceIds).toContain(traceId);
  }, 120_000);
});
