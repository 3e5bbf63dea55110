// Routing maths and config: the split's shares over 10,000 picks, sticky assignment, the retry
// budget, failure classes, and the config problems an operator reads.
import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseConfig, ConfigError } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import { classifyFailure } from "../../src/routing/failure";
import { stickyPoint, TargetPicker } from "../../src/routing/picker";
import { RetryBudget } from "../../src/routing/retry-budget";
import { byLatency, type RoutedTarget } from "../../src/routing/router";

describe("TargetPicker", () => {
  it("a weighted split of 10,000 calls lands within ±2 % of its weights", () => {
    const picker = new TargetPicker(["a", "b", "c"], [70, 20, 10], "weighted");
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const first = picker.order(Math.random())[0]!;
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    expect(Math.abs((counts.get("a") ?? 0) / 100 - 70)).toBeLessThanOrEqual(2);
    expect(Math.abs((counts.get("b") ?? 0) / 100 - 20)).toBeLessThanOrEqual(2);
    expect(Math.abs((counts.get("c") ?? 0) / 100 - 10)).toBeLessThanOrEqual(2);
  });

  it("sticky: 10,000 callers split by weight, each always on the same target", () => {
    const picker = new TargetPicker(["a", "b"], [80, 20], "weighted");
    let a = 0;
    for (let i = 0; i < 10_000; i++) {
      const key = `user-${i}`;
      const first = picker.order(stickyPoint(key))[0];
      if (first === "a") a++;
      expect(picker.order(stickyPoint(key))[0]).toBe(first);
    }
    expect(Math.abs(a / 100 - 80)).toBeLessThanOrEqual(2);
  });

  it("the picked target comes first, the others follow in listed order; weight 0 is only a fallback", () => {
    const picker = new TargetPicker(["a", "b", "c"], [0, 1, 1], "weighted");
    expect(picker.order(0)).toEqual(["b", "a", "c"]);
    expect(picker.order(0.99)).toEqual(["c", "a", "b"]);
    expect(new TargetPicker(["a", "b", "c"], [1, 1, 1], "fallback").order(0.99)).toEqual(["a", "b", "c"]);
  });

  it("a pick allocates nothing: the same order object comes back", () => {
    const picker = new TargetPicker(["a", "b"], [1, 1], "weighted");
    expect(picker.order(0.1)).toBe(picker.order(0.2));
  });
});

describe("RetryBudget", () => {
  it("allows ratio × calls retries, plus min_per_second in each second", () => {
    let now = 10_000;
    const budget = new RetryBudget(20, 1, () => now);
    for (let i = 0; i < 10; i++) budget.deposit();
    const granted = Array.from({ length: 5 }, () => budget.tryWithdraw()).filter(Boolean).length;
    expect(granted).toBe(3); // 2 earned by 10 calls, 1 from the floor
    now += 1_000;
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
  });
});

describe("classifyFailure", () => {
  it("errors that are not the upstream's: not the target's fault", () => {
    expect(classifyFailure(new ConnectError("bad", Code.InvalidArgument)).kind).toBeUndefined();
    expect(classifyFailure(new ConnectError("cancelled", Code.Canceled)).kind).toBeUndefined();
    expect(classifyFailure(new ConnectError("unreadable", Code.Unavailable)).kind).toBe("bad_response");
  });
});

const openai = `{ openai_api_key: sk-test-key-0001 }`;
function problems(yaml: string): string[] {
  try {
    parseConfig(yaml, "t.yaml", modelFactories, {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

describe("config", () => {
  it("targets with routing load; target names default to the model", () => {
    const { file, targetConfigs } = parseConfig(
      `
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    targets:
      - { model: { provider: openai, name: gpt-4o, config: ${openai} }, weight: 90 }
      - { name: backup, model: { provider: echo, name: echo-1 }, weight: 10 }
    routing: { strategy: weighted, sticky: team, attempt_timeout_ms: 5000, retries: { max: 1 } }
`,
      "t.yaml",
      modelFactories,
      {},
    );
    const ep = file.endpoints[0]!;
    expect(ep.targets.map((t) => t.name)).toEqual(["gpt-4o", "backup"]);
    expect(ep.model.name).toBe("gpt-4o");
    expect(ep.routing?.retries).toMatchObject({ max: 1, base_delay_ms: 100, budget_percent: 20 });
    expect(targetConfigs.get("chat")?.length).toBe(2);
  });

  it("names every problem: model and targets both, duplicate names, a target's provider config", () => {
    expect(
      problems(`
endpoints:
  - name: both
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: e }
    targets: [{ model: { provider: echo, name: e } }]
  - name: dup
    endpoint_type: llm/v1/chat
    targets: [{ model: { provider: echo, name: e } }, { model: { provider: echo, name: e } }]
  - name: badcfg
    endpoint_type: llm/v1/chat
    targets: [{ name: x, model: { provider: echo, name: e } }, { name: y, model: { provider: openai, name: g, config: { openai_api_bse: u } } }]
`),
    ).toEqual([
      "endpoints[0].model: give exactly one of `model` (one target) or `targets`",
      'endpoints[1].targets[1].name: duplicate target name "e" (give each target its own `name`)',
      "endpoints[2].targets[1].model.config: unknown key(s): openai_api_bse",
    ]);
  });

  it("a canary needs a weighted split and a stable target", () => {
    expect(
      problems(`
endpoints:
  - name: c
    endpoint_type: llm/v1/chat
    targets: [{ name: a, model: { provider: echo, name: e } }, { name: b, model: { provider: echo, name: e }, canary: {} }]
  - name: d
    endpoint_type: llm/v1/chat
    targets: [{ name: a, model: { provider: echo, name: e }, canary: { min_calls: 10 } }]
    routing: { strategy: weighted }
`),
    ).toEqual([
      "endpoints[0].targets[1].canary: a canary needs routing.strategy: weighted (its weight is its share)",
      "endpoints[1].targets: a canary needs a stable target beside it",
    ]);
  });

  it("MLflow routes: destinations must name endpoints of the route's type, percentages summing to 100", () => {
    expect(
      problems(`
endpoints:
  - { name: c1, endpoint_type: llm/v1/chat, model: { provider: echo, name: e } }
  - { name: e1, endpoint_type: llm/v1/embeddings, model: { provider: echo, name: e } }
routes:
  - name: r1
    task_type: llm/v1/chat
    destinations: [{ name: c1, traffic_percentage: 70 }, { name: nope, traffic_percentage: 20 }]
  - name: r2
    task_type: llm/v1/chat
    destinations: [{ name: c1, traffic_percentage: 50 }, { name: e1, traffic_percentage: 50 }]
    routing_strategy: LEAST_LATENCY
`),
    ).toEqual([
      'routes[0].destinations[1].name: unknown endpoint "nope" (a destination names an endpoint)',
      "routes[0].destinations: traffic_percentage must sum to 100 (got 90)",
      'routes[1].routing_strategy: unsupported routing_strategy "LEAST_LATENCY" (MLflow knows TRAFFIC_SPLIT)',
      "routes[1].destinations[1].name: endpoint \"e1\" is of type llm/v1/embeddings, the route's task_type is llm/v1/chat",
    ]);
  });

  it("a route's name may not repeat an endpoint's", () => {
    expect(
      problems(`
endpoints:
  - { name: c1, endpoint_type: llm/v1/chat, model: { provider: echo, name: e } }
routes:
  - { name: c1, task_type: llm/v1/chat, destinations: [{ name: c1, traffic_percentage: 100 }] }
`),
    ).toEqual(['endpoints[1].name: duplicate endpoint name "c1"']);
  });
});

describe("least_latency order", () => {
  const target = (name: string, ms: number) => ({ name, health: { latency: { ms } } }) as unknown as RoutedTarget;
  const names = (ts: readonly RoutedTarget[]) => ts.map((t) => t.name);

  it("fastest first; every 20th call explores the slower targets in turn, never the first calls", () => {
    const ts = [target("slow", 30), target("fast", 1), target("mid", 10)];
    const firsts = Array.from({ length: 60 }, (_, i) => byLatency(ts, i)[0]!.name);
    expect(firsts.slice(0, 19).every((n) => n === "fast")).toBe(true);
    expect([firsts[19], firsts[39], firsts[59]]).toEqual(["mid", "slow", "mid"]);
    expect(firsts.filter((n) => n !== "fast")).toHaveLength(3);
    expect(names(byLatency(ts, 19))).toEqual(["mid", "fast", "slow"]);
    expect(names(byLatency([target("only", 5)], 19))).toEqual(["only"]);
  });
});
