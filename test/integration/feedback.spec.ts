// FeedbackService through a real gateway: feedback for a call, named by the x-request-id of its
// answer, is counted for the target that answered (A/B arms apart) in /metrics; only the key that
// made the call, or an admin, may post it; bad input gets precise codes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { FeedbackService } from "../../gen/modelgate/v1/feedback_pb";
import { transportFor, type ProtocolName } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";

const keys = { RED_KEY: "sk-red-feedback-0123456789", BLUE_KEY: "sk-blue-feedback-0123456789", OPS_KEY: "sk-ops-feedback-0123456789" };
let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway(
    `
auth:
  enabled: true
  keys:
    - { name: red, key: $RED_KEY, team: red }
    - { name: blue, key: $BLUE_KEY, team: blue }
    - { name: ops, key: $OPS_KEY, roles: [admin] }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    targets:
      - { name: a, weight: 50, model: { provider: echo, name: echo-1 } }
      - { name: b, weight: 50, model: { provider: echo, name: echo-2 } }
    routing: { strategy: weighted, sticky: "header:x-user" }
`,
    keys,
  );
});
afterAll(() => gw.close());

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

/** A chat call as `key`; its request id and the target that answered. */
async function chatAs(key: string, user: string): Promise<{ requestId: string; target: string }> {
  let requestId = "";
  const chat = createClient(ChatService, transportFor("grpc", gw.url));
  const res = await chat.chat(
    { endpoint: "chat", messages: [{ role: "user", content: "hello" }] },
    { headers: { ...auth(key), "x-user": user }, onHeader: (h) => (requestId = h.get("x-request-id") ?? "") },
  );
  expect(requestId).not.toBe("");
  return { requestId, target: res.routing?.target ?? "" };
}

describe.each<ProtocolName>(["grpc", "connect-json-h1"])("FeedbackService over %s", (protocol) => {
  const feedback = () => createClient(FeedbackService, transportFor(protocol, gw.url));

  it("counts a score and a label for the arm that answered; the caller's key or an admin may post", async () => {
    // Sticky users land on both targets (weighted 50/50): find one call per target.
    const calls = new Map<string, string>();
    for (let i = 0; i < 40 && calls.size < 2; i++) {
      const { requestId, target } = await chatAs(keys.RED_KEY, `user-${protocol}-${i}`);
      if (!calls.has(target)) calls.set(target, requestId);
    }
    expect([...calls.keys()].sort()).toEqual(["a", "b"]);
    const answer = await feedback().postFeedback({ requestId: calls.get("a")!, name: "thumbs", score: 1, label: "helpful" }, { headers: auth(keys.RED_KEY) });
    expect(answer).toMatchObject({ endpoint: "chat", target: "a", modelVersion: "" });
    await feedback().postFeedback({ requestId: calls.get("b")!, name: "thumbs", score: 0 }, { headers: auth(keys.OPS_KEY) });
    const denied = await failure(feedback().postFeedback({ requestId: calls.get("b")!, name: "thumbs", score: 1 }, { headers: auth(keys.BLUE_KEY) }));
    expect(denied.code).toBe(Code.PermissionDenied);

    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const count = (target: string, metric: string) =>
      Number(new RegExp(`${metric}\\{endpoint="chat",target="${target}",model_version="",name="thumbs"\\} (\\S+)`).exec(text)?.[1]);
    expect(count("a", "modelgate_feedback_total")).toBeGreaterThanOrEqual(1);
    expect(count("b", "modelgate_feedback_total")).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/modelgate_feedback_labels_total\{endpoint="chat",target="a",model_version="",name="thumbs",label="helpful"\} [1-9]/);
    // Mean score per arm: a got only 1s, b only 0s.
    expect(count("a", "modelgate_feedback_score_sum") / count("a", "modelgate_feedback_scored_total")).toBe(1);
    expect(count("b", "modelgate_feedback_score_sum")).toBe(0);
  });

  it("bad input: precise codes and messages", async () => {
    const { requestId } = await chatAs(keys.RED_KEY, "someone");
    const post = (req: Parameters<ReturnType<typeof feedback>["postFeedback"]>[0]) => failure(feedback().postFeedback(req, { headers: auth(keys.RED_KEY) }));
    const unknown = await post({ requestId: "no-such-request", name: "thumbs", score: 1 });
    expect(unknown.code).toBe(Code.NotFound);
    expect(unknown.rawMessage).toContain('no call with request id "no-such-request"');
    expect((await post({ requestId, name: "thumbs" })).rawMessage).toBe("score: a score, a label or both are required");
    const badName = await post({ requestId, name: "Thumbs Up!", score: 1 });
    expect(badName.code).toBe(Code.InvalidArgument);
    expect(badName.rawMessage).toMatch(/^name: 1-64 characters/);
    expect((await post({ requestId, name: "thumbs", score: Number.NaN })).code).toBe(Code.InvalidArgument);
    expect((await post({ requestId: "", name: "thumbs", score: 1 })).rawMessage).toBe("request_id: the call's request id is required");
    const anonymous = await failure(feedback().postFeedback({ requestId, name: "thumbs", score: 1 }));
    expect(anonymous.code).toBe(Code.Unauthenticated);
  });
});
