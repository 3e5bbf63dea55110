// Canary guards and outlier ejection through a real gateway over fake OpenAI upstreams on
// loopback: a canary whose answers turn slow (p95 latency) or whose streams' first token turns
// slow (TTFT) is rolled back and the stable arm then serves everything; a healthy one is promoted;
// a target with a high error rate is ejected and comes back; ejection never takes the last
// target. The evidence is checked in the log, the metrics and the typed GetEndpoint. Slowness is
// the fakes' #delay directive (queued for the canary's fake only); no duration is asserted beyond
// the delay itself (a floor), and latency_tolerance_ms: 100 keeps loopback jitter from judging.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { EndpointService, EndpointTarget_CanaryStanding } from "../../gen/modelgate/v1/endpoint_pb";
import { startFakeUpstream, type FaultyUpstream } from "../fakes/fake-upstream";
import { clientFor } from "./clients";
import { parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import { collect, failure, startGateway, type TestGateway } from "./harness";

let fa: FaultyUpstream;
let fb: FaultyUpstream;
let fs: FaultyUpstream;
let gw: TestGateway;
let yaml: string;

const model = (fake: FaultyUpstream, name: string) =>
  `{ provider: openai, name: ${name}, config: { openai_api_key: sk-test-key-0001, openai_api_base: "${fake.url}/v1" } }`;
const noBreaker = "breaker: { consecutive_failures: 1000 }";
/** A stable arm on fb and a canary on fa, judged after every canary call. */
const canaryEndpoint = (name: string, canary: string) => `
  - name: ${name}
    endpoint_type: llm/v1/chat
    targets:
      - { name: stable, weight: 50, model: ${model(fb, "m-b")} }
      - { name: next, weight: 50, model: ${model(fa, "m-a")}, canary: { judge_every_calls: 1, ${canary} } }
    routing: { strategy: weighted, ${noBreaker} }`;
const ejection = "outlier_ejection: { max_error_rate: 0.5, min_calls: 4, window_calls: 10, interval_ms: 1, base_ejection_ms: 300, max_ejection_percent: 100 }";

beforeAll(async () => {
  fa = await startFakeUpstream();
  fb = await startFakeUpstream();
  fs = await startFakeUpstream();
  yaml = `
endpoints:
${canaryEndpoint("slow-canary", "min_calls: 20, window_calls: 40, promote_after_calls: 100000, latency_tolerance_ms: 100")}
${canaryEndpoint("ttft-canary", "min_calls: 20, window_calls: 40, promote_after_calls: 100000, latency_tolerance_ms: 100")}
${canaryEndpoint("good-canary", "min_calls: 20, window_calls: 40, promote_after_calls: 40, latency_tolerance_ms: 5000")}
  - { name: warm-a, endpoint_type: llm/v1/chat, model: ${model(fa, "m-a")} }
  - { name: warm-b, endpoint_type: llm/v1/chat, model: ${model(fb, "m-b")} }
  - name: ejecting
    endpoint_type: llm/v1/chat
    targets: [{ name: a, model: ${model(fa, "m-a")} }, { name: b, model: ${model(fb, "m-b")} }]
    routing: { strategy: fallback, ${noBreaker}, ${ejection} }
  - name: all-failing
    endpoint_type: llm/v1/chat
    targets: [{ name: a, model: ${model(fa, "m-a")} }, { name: s, model: ${model(fs, "m-s")} }]
    routing: { strategy: fallback, ${noBreaker}, ${ejection} }
`;
  gw = await startGateway(yaml);
  // The first calls of a fresh process are slow (compilation, new upstream connections): made
  // here, on other endpoints to the same fakes, they do not land in a canary's window.
  for (let i = 0; i < 10; i++) {
    for (const ep of ["warm-a", "warm-b"]) {
      await chat(ep);
      await stream(ep);
    }
  }
});
afterAll(async () => {
  await gw.close();
  await fa.close();
  await fb.close();
  await fs.close();
});
beforeEach(() => {
  fa.reset();
  fb.reset();
  fs.reset();
});

const user = (content: string) => ({ role: "user", content });
const chatClient = () => clientFor(ChatService, "grpc", gw.url);
let chat_: ReturnType<typeof chatClient> | undefined;
const chats = () => (chat_ ??= chatClient());
const endpoints = () => clientFor(EndpointService, "grpc", gw.url);

async function chat(endpoint: string): Promise<string | null> {
  let target: string | null = null;
  await chats().chat({ endpoint, messages: [user("hi")] }, { onHeader: (h) => (target = h.get("x-modelgate-target")) });
  return target;
}

async function stream(endpoint: string): Promise<void> {
  const chunks = await collect(chats().streamChat({ endpoint, messages: [user("hello there")] }));
  expect(chunks.length).toBeGreaterThan(1);
}

async function target(endpoint: string, name: string) {
  const { endpoint: ep } = await endpoints().getEndpoint({ name: endpoint });
  return ep!.targets.find((t) => t.name === name)!;
}

const logged = (prefix: string) => gw.logs.find((l) => String(l["msg"]).startsWith(prefix));
const metricsText = async () => (await fetch(`${gw.url}/metrics`)).text();

describe("canary guards over a sliding window", () => {
  it("a canary whose answers turn slow is rolled back by the p95 latency guard; the stable arm then serves all", async () => {
    for (let i = 0; i < 400 && fa.requests.length < 25; i++) await chat("slow-canary");
    expect((await target("slow-canary", "next")).canary).toBe(EndpointTarget_CanaryStanding.RUNNING);
    // From now on the canary's upstream answers after 300 ms (the stable arm in about a millisecond).
    fa.queueFaults(...Array.from({ length: 40 }, () => "#delay:300"));
    const rolledBack = () => logged("canary next of slow-canary rolled back") !== undefined;
    for (let i = 0; i < 400 && !rolledBack(); i++) await chat("slow-canary");
    const line = logged("canary next of slow-canary rolled back")!;
    expect(line["reason"]).toMatch(/^p95 latency \d+(\.\d+)? ms > 1\.5 × stable \d+(\.\d+)? ms \(\d+ and \d+ samples\)$/);
    expect(line["p95LatencyMs"]).toBeGreaterThanOrEqual(300);
    expect(line["errorRate"]).toBe(0);

    const next = await target("slow-canary", "next");
    expect(next.canary).toBe(EndpointTarget_CanaryStanding.ROLLED_BACK);
    const j = next.canaryJudgement!;
    expect(j.windowCalls).toBeGreaterThanOrEqual(20);
    expect(j.windowCalls).toBeLessThanOrEqual(40); // window_calls
    expect(j.stableWindowCalls).toBeGreaterThanOrEqual(20);
    expect(j.p95LatencyMs).toBeGreaterThanOrEqual(300);
    expect(j.p95LatencyMs!).toBeGreaterThan(1.5 * j.stableP95LatencyMs!);
    expect(j.errorRate).toBe(0);
    expect(j.p95TtftMs).toBeUndefined(); // no streams
    expect(j.reason).toBe(line["reason"]);

    fa.reset();
    for (let i = 0; i < 20; i++) expect(await chat("slow-canary")).toBe("stable");
    expect(fa.requests.length).toBe(0);
    const metrics = await metricsText();
    expect(metrics).toContain('modelgate_canary_decisions_total{endpoint="slow-canary",target="next",decision="rolled_back"} 1');
    expect(metrics).toContain('modelgate_canary_standing{endpoint="slow-canary",target="next"} -1');
  });

  it("a canary whose streams' first token turns slow is rolled back by the TTFT guard", async () => {
    for (let i = 0; i < 400 && fa.requests.length < 25; i++) await stream("ttft-canary");
    expect((await target("ttft-canary", "next")).canary).toBe(EndpointTarget_CanaryStanding.RUNNING);
    fa.queueFaults(...Array.from({ length: 40 }, () => "#delay:300"));
    const rolledBack = () => logged("canary next of ttft-canary rolled back") !== undefined;
    for (let i = 0; i < 400 && !rolledBack(); i++) await stream("ttft-canary");
    const line = logged("canary next of ttft-canary rolled back")!;
    expect(line["reason"]).toMatch(/^p95 time to first token \d+(\.\d+)? ms > 1\.5 × stable \d+(\.\d+)? ms/);
    const j = (await target("ttft-canary", "next")).canaryJudgement!;
    expect(j.p95TtftMs).toBeGreaterThanOrEqual(300);
    expect(j.p95LatencyMs).toBeUndefined(); // only streams
    fa.reset();
    fb.reset();
    for (let i = 0; i < 10; i++) await stream("ttft-canary");
    expect(fa.requests.length).toBe(0);
    expect(fb.requests.length).toBe(10);
  });

  it("a healthy canary (unary and streams) is promoted with every guard passing; it then takes all the calls", async () => {
    const promoted = () => logged("canary next of good-canary promoted") !== undefined;
    for (let i = 0; i < 400 && !promoted(); i++) await (i % 2 ? stream("good-canary") : chat("good-canary"));
    // Failing, say why: the rollback's log line names its guard and figures.
    expect(logged("canary next of good-canary rolled back"), "rolled back instead of promoted").toBeUndefined();
    const line = logged("canary next of good-canary promoted")!;
    expect(line["reason"]).toMatch(/^every guard passed over \d+ calls in the window; \d+ calls in all$/);
    const next = await target("good-canary", "next");
    expect(next.canary).toBe(EndpointTarget_CanaryStanding.PROMOTED);
    expect(next.canaryJudgement!.errorRate).toBe(0);
    fb.reset();
    for (let i = 0; i < 20; i++) expect(await chat("good-canary")).toBe("next");
    expect(fb.requests.length).toBe(0);
    expect(await metricsText()).toContain('modelgate_canary_decisions_total{endpoint="good-canary",target="next",decision="promoted"} 1');
  });
});

describe("across a config reload", () => {
  it("unchanged targets keep their canary standing and judgement (the tests above ran first)", async () => {
    const before = await target("slow-canary", "next");
    expect(before.canary).toBe(EndpointTarget_CanaryStanding.ROLLED_BACK);
    gw.gateway.reload(parseConfig(yaml, "test.yaml", modelFactories, {}));
    const after = await target("slow-canary", "next");
    expect(after.canary).toBe(EndpointTarget_CanaryStanding.ROLLED_BACK);
    expect(after.canaryJudgement).toEqual(before.canaryJudgement);
    expect((await target("good-canary", "next")).canary).toBe(EndpointTarget_CanaryStanding.PROMOTED);
    fa.reset();
    for (let i = 0; i < 10; i++) expect(await chat("slow-canary")).toBe("stable");
    expect(fa.requests.length).toBe(0);
  });
});

describe("outlier ejection by error rate", () => {
  it("a target with a high error rate is ejected (calls skip it) and comes back after its ejection time", async () => {
    fa.queueFaults(...Array.from({ length: 4 }, () => "#status:500"));
    // Fallback order: a first; its failures fall over to b, so no call fails.
    for (let i = 0; i < 4; i++) expect(await chat("ejecting")).toBe("b");
    const line = logged("target a of ejecting ejected for 300 ms")!;
    expect(line["reason"]).toBe("error rate 1 over 4 calls > max_error_rate 0.5");
    const a = await target("ejecting", "a");
    // Ejected now, unless this machine took the whole ejection time to get here.
    if (a.outlier!.ejected) expect(a.outlier!.ejectedUntilUnixMs).toBeGreaterThan(0n);
    expect(a.outlier).toMatchObject({ consecutiveEjections: 1, totalEjections: 1, windowCalls: 4, errorRate: 1 });
    expect(await metricsText()).toContain('modelgate_outlier_ejections_total{endpoint="ejecting",target="a"} 1');
    // Back after 300 ms: a answers again (its fake fails no more).
    let back = false;
    for (let i = 0; i < 500 && !back; i++) {
      back = (await chat("ejecting")) === "a";
      if (!back) await new Promise((r) => setTimeout(r, 10));
    }
    expect(back).toBe(true);
    expect(logged("target a of ejecting back from ejection")).toBeDefined();
    expect(await metricsText()).toContain('modelgate_target_ejected{endpoint="ejecting",target="a"} 0');
  });

  it("ejection never takes the last target: with every target failing one stays and keeps being called", async () => {
    fa.queueFaults(...Array.from({ length: 100 }, () => "#status:500"));
    fs.queueFaults(...Array.from({ length: 100 }, () => "#status:500"));
    for (let i = 0; i < 20; i++) expect((await failure(chat("all-failing"))).code).toBe(Code.Unavailable);
    const metrics = await metricsText();
    const ejected = ["a", "s"].filter((t) => metrics.includes(`modelgate_target_ejected{endpoint="all-failing",target="${t}"} 1`));
    const ejections = gw.logs.filter((l) => String(l["msg"]).startsWith("target ") && l["endpoint"] === "all-failing" && String(l["msg"]).includes("ejected"));
    expect(ejections.length).toBeGreaterThanOrEqual(1);
    // At most one ejected at any time: while it is out, the other is called by every call.
    expect(ejected.length).toBeLessThanOrEqual(1);
    const before = fa.requests.length + fs.requests.length;
    expect((await failure(chat("all-failing"))).code).toBe(Code.Unavailable);
    expect(fa.requests.length + fs.requests.length).toBeGreaterThan(before);
  });
});
