// Feedback in the usage store through real gateways: each PostFeedback is stored beside its
// call's ledger row (SQLite file shared by two replicas), a replica that never saw the call finds
// it in the ledger by request id, and GetFeedbackSummary (admin only) returns the A/B arms side by
// side with counts, mean scores and label counts over a time range.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { FeedbackService } from "../../gen/modelgate/v1/feedback_pb";
import { MAX_FEEDBACK_SCORE } from "../../src/store/feedback-shared";
import { feedbackInsertSql } from "../../src/store/sqlite/feedback-store";
import { transportFor } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";

const keys = { RED_KEY: "sk-red-fbstore-0123456789", BLUE_KEY: "sk-blue-fbstore-0123456789", OPS_KEY: "sk-ops-fbstore-0123456789" };
const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const dir = mkdtempSync(join(tmpdir(), "modelgate-feedback-"));
const config = `
store: { database_url: "sqlite:${join(dir, "gateway.db")}" }
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
`;
let first: TestGateway;
let second: TestGateway;

beforeAll(async () => {
  first = await startGateway(config, keys);
  second = await startGateway(config, keys);
});
afterAll(async () => {
  await first?.close();
  await second?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function chatAs(gw: TestGateway, key: string, user: string): Promise<{ requestId: string; target: string }> {
  let requestId = "";
  const res = await createClient(ChatService, transportFor("grpc", gw.url)).chat(
    { endpoint: "chat", messages: [{ role: "user", content: "hello" }] },
    { headers: { ...auth(key), "x-user": user }, onHeader: (h) => (requestId = h.get("x-request-id") ?? "") },
  );
  return { requestId, target: res.routing?.target ?? "" };
}

describe("feedback in the usage store", () => {
  it("stores feedback for both arms; a replica finds an older call in the ledger; the summary puts the arms side by side", async () => {
    const startedAt = new Date(Date.now() - 1_000);
    const byTarget = new Map<string, string[]>();
    for (let i = 0; i < 60 && ((byTarget.get("a")?.length ?? 0) < 2 || (byTarget.get("b")?.length ?? 0) < 2); i++) {
      const { requestId, target } = await chatAs(first, keys.RED_KEY, `user-${i}`);
      byTarget.set(target, [...(byTarget.get(target) ?? []), requestId]);
    }
    const [a1, a2] = byTarget.get("a")!;
    const [b1, b2] = byTarget.get("b")!;
    const post = (gw: TestGateway, requestId: string, score: number | undefined, label?: string, key = keys.RED_KEY) =>
      createClient(FeedbackService, transportFor("connect-json-h1", gw.url)).postFeedback(
        { requestId, name: "thumbs", ...(score !== undefined && { score }), ...(label && { label }) },
        { headers: auth(key) },
      );
    // On the replica that served the calls (they are in its memory).
    await post(first, a1!, 1, "helpful");
    await post(first, b1!, 0, "wrong");
    // On the other replica: it never saw these calls; they are in the shared ledger once written.
    await first.gateway.flushLedger();
    expect(await post(second, a2!, 0.5, "helpful")).toMatchObject({ endpoint: "chat", target: "a" });
    expect(await post(second, b2!, undefined, "wrong", keys.OPS_KEY)).toMatchObject({ endpoint: "chat", target: "b" });
    // The key that did not make the call is refused there too, and an unknown id is NOT_FOUND.
    expect((await failure(post(second, a2!, 1, undefined, keys.BLUE_KEY))).code).toBe(Code.PermissionDenied);
    expect((await failure(post(second, "req-unknown-0", 1))).code).toBe(Code.NotFound);

    const summary = createClient(FeedbackService, transportFor("grpc", second.url));
    const { arms } = await summary.getFeedbackSummary({ startTime: timestampFromDate(startedAt), endpoint: "chat" }, { headers: auth(keys.OPS_KEY) });
    expect(arms.map((arm) => ({ ...arm, $typeName: undefined, labels: arm.labels.map((l) => [l.label, l.count]) }))).toEqual([
      { $typeName: undefined, endpoint: "chat", name: "thumbs", target: "a", modelVersion: "", count: 2n, scored: 2n, meanScore: 0.75, labels: [["helpful", 2n]] },
      { $typeName: undefined, endpoint: "chat", name: "thumbs", target: "b", modelVersion: "", count: 2n, scored: 1n, meanScore: 0, labels: [["wrong", 2n]] },
    ]);
    // A range before the feedback is empty; a name filter with no feedback too.
    const before = await summary.getFeedbackSummary({ endTime: timestampFromDate(startedAt) }, { headers: auth(keys.OPS_KEY) });
    expect(before.arms).toEqual([]);
    expect((await summary.getFeedbackSummary({ name: "accuracy" }, { headers: auth(keys.OPS_KEY) })).arms).toEqual([]);
  });

  it("a score past +-1e6 is INVALID_ARGUMENT; sums stay finite, over rows stored before the bound too", async () => {
    const post = (requestId: string, score: number) =>
      createClient(FeedbackService, transportFor("grpc", first.url)).postFeedback({ requestId, name: "magnitude", score }, { headers: auth(keys.RED_KEY) });
    const calls = [await chatAs(first, keys.RED_KEY, "user-big"), await chatAs(first, keys.RED_KEY, "user-big")];
    for (const score of [1.7e308, -1.7e308, MAX_FEEDBACK_SCORE + 1, -MAX_FEEDBACK_SCORE - 0.5]) {
      const refused = await failure(post(calls[0]!.requestId, score));
      expect(refused.code, String(score)).toBe(Code.InvalidArgument);
      expect(refused.rawMessage).toBe(`score: must be a finite number from -${MAX_FEEDBACK_SCORE} to ${MAX_FEEDBACK_SCORE}`);
    }
    // Both calls went to one target (sticky user): its arm sums the largest scores allowed.
    for (const { requestId } of calls) await post(requestId, MAX_FEEDBACK_SCORE);
    // Rows a gateway stored before scores were bounded: huge, finite scores in one arm.
    const db = new DatabaseSync(join(dir, "gateway.db"));
    try {
      db.exec("PRAGMA busy_timeout = 10000");
      const insert = db.prepare(feedbackInsertSql);
      for (const requestId of ["legacy-1", "legacy-2"]) {
        insert.run(Date.now(), requestId, "chat", "a", "echo-1", "", "config:red", "red", "config:red", "legacy", 1.7e308, "old");
      }
    } finally {
      db.close();
    }
    const { arms } = await createClient(FeedbackService, transportFor("connect-json-h1", first.url)).getFeedbackSummary({}, { headers: auth(keys.OPS_KEY) });
    const magnitude = arms.find((a) => a.name === "magnitude");
    expect(magnitude).toMatchObject({ target: calls[0]!.target, count: 2n, scored: 2n, meanScore: MAX_FEEDBACK_SCORE });
    // The old rows still count, their scores (outside the bound) are left out rather than summed to Infinity.
    const legacy = arms.find((a) => a.name === "legacy");
    expect(legacy).toMatchObject({ count: 2n, scored: 0n, labels: [{ label: "old", count: 2n }] });
    expect(legacy?.meanScore).toBeUndefined();
    for (const arm of arms) if (arm.meanScore !== undefined) expect(Number.isFinite(arm.meanScore), arm.name).toBe(true);
    const metrics = await (await fetch(`${first.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`modelgate_feedback_score_sum\\{endpoint="chat",target="${calls[0]!.target}",model_version="",name="magnitude"\\} 2000000\n`));
  });

  it("GetFeedbackSummary: admin only; bad input gets precise codes", async () => {
    const summary = createClient(FeedbackService, transportFor("connect-json-h1", first.url));
    const denied = await failure(summary.getFeedbackSummary({}, { headers: auth(keys.RED_KEY) }));
    expect(denied.code).toBe(Code.PermissionDenied);
    expect(denied.rawMessage).toBe('FeedbackService.GetFeedbackSummary needs role "admin"');
    const ask = (req: Parameters<typeof summary.getFeedbackSummary>[0]) => failure(summary.getFeedbackSummary(req, { headers: auth(keys.OPS_KEY) }));
    const badName = await ask({ name: "Thumbs!" });
    expect(badName.code).toBe(Code.InvalidArgument);
    expect(badName.rawMessage).toMatch(/^name: 1-64 characters/);
    expect((await ask({ endpoint: "e".repeat(257) })).rawMessage).toBe("endpoint: longer than 256 characters");
    const now = new Date();
    const reversed = await ask({ startTime: timestampFromDate(now), endTime: timestampFromDate(new Date(now.getTime() - 1_000)) });
    expect(reversed.code).toBe(Code.InvalidArgument);
    expect(reversed.rawMessage).toMatch(/^start_time \(.*\) must be before end_time/);
    expect((await ask({ endpoint: "chat\u0000" })).code).toBe(Code.InvalidArgument);
  });
});
