// The canary's feedback guard through a real gateway: answers of the canary get thumbs-down
// (FeedbackService scores posted after the calls, by request id), the stable arm's thumbs-up; the
// canary is rolled back with a reason naming the feedback score, then gets no calls. The evidence
// is checked in the log, the typed GetEndpoint and the metrics. One caller repeating a score on
// one call counts once, and a call takes at most 100 pieces of feedback.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { EndpointService, EndpointTarget_CanaryStanding } from "../../gen/modelgate/v1/endpoint_pb";
import { FeedbackService } from "../../gen/modelgate/v1/feedback_pb";
import { transportFor } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";

let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway(`
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    targets:
      - { name: stable, weight: 50, model: { provider: echo, name: echo-1 } }
      - name: next
        weight: 50
        model: { provider: echo, name: echo-2 }
        canary: { judge_every_calls: 1, min_calls: 5, promote_after_calls: 100000, min_feedback: 5, max_feedback_score_below_stable: 0.3 }
    routing: { strategy: weighted }
  - name: repeated
    endpoint_type: llm/v1/chat
    targets:
      - { name: stable, weight: 50, model: { provider: echo, name: echo-1 } }
      - name: next
        weight: 50
        model: { provider: echo, name: echo-2 }
        canary: { judge_every_calls: 1, min_calls: 1, promote_after_calls: 100000, min_feedback: 3, min_feedback_score: 0.5 }
    routing: { strategy: weighted }
`);
});
afterAll(() => gw?.close());

async function chat(endpoint = "chat"): Promise<{ requestId: string; target: string }> {
  let requestId = "";
  const res = await createClient(ChatService, transportFor("grpc", gw.url)).chat(
    { endpoint, messages: [{ role: "user", content: "hello" }] },
    { onHeader: (h) => (requestId = h.get("x-request-id") ?? "") },
  );
  return { requestId, target: res.routing?.target ?? "" };
}

const canaryTarget = async (name = "chat") => {
  const { endpoint } = await createClient(EndpointService, transportFor("connect-json-h1", gw.url)).getEndpoint({ name });
  return endpoint!.targets.find((t) => t.name === "next")!;
};

describe("canary feedback guard", () => {
  it("a canary whose answers get thumbs-down is rolled back, with a reason naming the feedback score", async () => {
    const feedback = createClient(FeedbackService, transportFor("connect-json-h1", gw.url));
    const rolledBack = () => gw.logs.some((l) => String(l["msg"]).startsWith("canary next of chat rolled back"));
    let posted = 0;
    for (let i = 0; i < 200 && !rolledBack(); i++) {
      const { requestId, target } = await chat();
      // The canary's answers are judged bad, the stable arm's good.
      await feedback.postFeedback({ requestId, name: "thumbs", score: target === "next" ? 0 : 1 });
      posted++;
    }
    expect(rolledBack()).toBe(true);
    const line = gw.logs.find((l) => String(l["msg"]).startsWith("canary next of chat rolled back"))!;
    expect(line["reason"]).toMatch(/^feedback "thumbs" mean score 0 < stable 1 - max_feedback_score_below_stable 0\.3 \(\d+ and \d+ scores\)$/);
    const next = await canaryTarget();
    expect(next.canary).toBe(EndpointTarget_CanaryStanding.ROLLED_BACK);
    expect(next.canaryJudgement?.reason).toBe(line["reason"]);
    expect(posted).toBeGreaterThanOrEqual(10);
    // Rolled back: the stable arm answers every call.
    for (let i = 0; i < 20; i++) expect((await chat()).target).toBe("stable");
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toContain('modelgate_canary_standing{endpoint="chat",target="next"} -1');
    const count = (target: string) => Number(new RegExp(`modelgate_feedback_total\\{endpoint="chat",target="${target}",model_version="",name="thumbs"\\} (\\d+)`).exec(metrics)?.[1]);
    expect(count("next")).toBeGreaterThanOrEqual(5);
    expect(count("stable")).toBeGreaterThanOrEqual(5);
  });

  it("one call's repeated scores count once for the canary; past 100 pieces of feedback a call is RESOURCE_EXHAUSTED", async () => {
    const feedback = createClient(FeedbackService, transportFor("connect-json-h1", gw.url));
    let call = await chat("repeated");
    for (let i = 0; i < 60 && call.target !== "next"; i++) call = await chat("repeated");
    expect(call.target).toBe("next");
    for (let i = 0; i < 10; i++) await feedback.postFeedback({ requestId: call.requestId, name: "thumbs", score: 0 });
    const next = await canaryTarget("repeated");
    expect(next.canary).toBe(EndpointTarget_CanaryStanding.RUNNING);
    expect(next.canaryJudgement?.reason).toContain('feedback "thumbs": 1 of min_feedback 3 scores');
    for (let i = 10; i < 100; i++) await feedback.postFeedback({ requestId: call.requestId, name: "label", label: "seen" });
    const refused = await failure(feedback.postFeedback({ requestId: call.requestId, name: "thumbs", score: 1 }));
    expect(refused.code).toBe(Code.ResourceExhausted);
    expect(refused.rawMessage).toBe(`call "${call.requestId}" already has 100 pieces of feedback (the most kept per call)`);
  });
});
