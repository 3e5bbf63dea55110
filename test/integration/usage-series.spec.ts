// UsageService.GetUsageSeries through a real gateway: calls just made show up in the current hour
// and day bucket, grouped and filtered as asked; only an admin may ask (as GetUsage); a range or
// an answer over its bounds gets INVALID_ARGUMENT naming the limit.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { UsageService } from "../../gen/modelgate/v1/usage_pb";
import { transportFor, type ProtocolName } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";

const keys = { RED_KEY: "sk-red-series-0123456789", OPS_KEY: "sk-ops-series-0123456789" };
let gw: TestGateway;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

beforeAll(async () => {
  gw = await startGateway(
    `
auth:
  enabled: true
  keys:
    - { name: red, key: $RED_KEY, team: red }
    - { name: ops, key: $OPS_KEY, roles: [admin], team: ops }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
  - name: chat2
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-2 }
`,
    keys,
  );
  const chat = createClient(ChatService, transportFor("grpc", gw.url));
  const auth = { headers: { authorization: `Bearer ${keys.RED_KEY}` } };
  for (const endpoint of ["chat", "chat", "chat2"]) {
    await chat.chat({ endpoint, messages: [{ role: "user", content: "hello" }] }, auth);
  }
  await gw.gateway.flushLedger();
});
afterAll(() => gw.close());

const asKey = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

describe.each<ProtocolName>(["grpc", "connect-json-h1"])("GetUsageSeries over %s", (protocol) => {
  const usage = () => createClient(UsageService, transportFor(protocol, gw.url));

  it("shows the calls just made in this hour's bucket, by endpoint and as a total per day", async () => {
    const now = Date.now();
    const startTime = timestampFromDate(new Date(now - 2 * HOUR));
    const endTime = timestampFromDate(new Date(now + HOUR));
    const byEndpoint = await usage().getUsageSeries({ startTime, endTime, bucket: "hour", groupBy: ["endpoint"] }, asKey(keys.OPS_KEY));
    const points = byEndpoint.points.map((p) => ({ at: timestampDate(p.bucketStart!).getTime(), endpoint: p.total!.group["endpoint"], calls: p.total!.calls }));
    expect(points.map((p) => [p.endpoint, p.calls])).toEqual([
      ["chat", 2n],
      ["chat2", 1n],
    ]);
    for (const p of points) {
      expect(p.at % HOUR).toBe(0);
      expect(p.at).toBeLessThanOrEqual(now);
      expect(p.at).toBeGreaterThan(now - 2 * HOUR); // the hour the calls were made in (≤ a minute ago)
    }
    const byDay = await usage().getUsageSeries({ startTime: timestampFromDate(new Date(now - 10 * DAY)), bucket: "day", team: "red" }, asKey(keys.OPS_KEY));
    expect(byDay.points).toHaveLength(1);
    const [day] = byDay.points;
    expect(timestampDate(day!.bucketStart!).getTime() % DAY).toBe(0);
    expect(day!.total!.group).toEqual({});
    expect(day!.total!.calls).toBe(3n);
    expect(day!.total!.promptTokens).toBeGreaterThan(0n);
    const otherTeam = await usage().getUsageSeries({ startTime, endTime, bucket: "hour", team: "ops" }, asKey(keys.OPS_KEY));
    expect(otherTeam.points).toEqual([]);
  });

  it("needs the admin role, as GetUsage does", async () => {
    const req = { startTime: timestampFromDate(new Date(Date.now() - HOUR)), bucket: "hour" };
    const err = await failure(usage().getUsageSeries(req, asKey(keys.RED_KEY)));
    expect(err.code).toBe(Code.PermissionDenied);
    expect((await failure(usage().getUsageSeries(req))).code).toBe(Code.Unauthenticated);
  });

  it("refuses a missing start, an unknown bucket and a range over 366 days, naming what is wrong", async () => {
    const now = Date.now();
    const cases: [Parameters<ReturnType<typeof usage>["getUsageSeries"]>[0], string][] = [
      [{ bucket: "hour" }, "start_time: required (a series needs a start; its range spans at most 366 days)"],
      [{ startTime: timestampFromDate(new Date(now - HOUR)), bucket: "week" }, 'bucket: unknown bucket "week" (expected hour, day)'],
      [{ startTime: timestampFromDate(new Date(now - HOUR)) }, "bucket: required (expected hour, day)"],
      [
        { startTime: timestampFromDate(new Date(now - 367 * DAY)), endTime: timestampFromDate(new Date(now)), bucket: "day" },
        `range: ${new Date(now - 367 * DAY).toISOString()} to ${new Date(now).toISOString()} is over the limit of 366 days`,
      ],
      [{ startTime: timestampFromDate(new Date(now - HOUR)), bucket: "hour", groupBy: ["region"] }, 'group_by: unknown group "region" (expected key, team, endpoint, target, model)'],
    ];
    for (const [req, message] of cases) {
      const err = await failure(usage().getUsageSeries(req, asKey(keys.OPS_KEY)));
      expect([err.code, err.rawMessage], message).toEqual([Code.InvalidArgument, message]);
    }
  });
});
