import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport, type Client, type Interceptor } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GetUsageRequestSchema, UsageService } from "../../gen/modelgate/v1/usage_pb";
import { usageService } from "../../src/services/usage";
import { callerKey } from "../../src/interceptors/call-info";
import type { Principal } from "../../src/runtime";
import { openStore } from "../../src/store/open";
import type { LedgerRow, Store } from "../../src/store/types";
import { csvField, csvText, formatUsd, ledgerCsvColumns, ledgerCsvLine, totalsCsv } from "../../src/usage/csv";

const NOW = new Date("2026-11-25T12:00:00.000Z");

function row(over: Partial<LedgerRow>): LedgerRow {
  return {
    time: new Date("2026-11-20T10:00:00.000Z"),
    requestId: "req",
    keyId: "key_a",
    team: "ml",
    endpoint: "chat",
    provider: "openai",
    model: "gpt-4o",
    modelVersion: "",
    promptTokens: 100,
    completionTokens: 50,
    costUsd: 0.00075,
    status: "ok",
    latencyMs: 120.25,
    streamed: false,
    ...over,
  };
}

const awkwardTeam = 'search, "beta"\nteam';
const fixture: LedgerRow[] = [
  row({ requestId: "r1", time: new Date("2026-11-20T10:00:00.000Z"), target: "primary", cachedPromptTokens: 64, reasoningTokens: 20 }),
  row({
    requestId: "r2",
    time: new Date("2026-11-21T10:00:00.000Z"),
    target: "backup",
    reasoningTokens: 5,
    keyId: "key_b",
    model: "claude-x",
    provider: "anthropic",
    costUsd: null,
    streamed: true,
  }),
  row({
    requestId: "r3",
    time: new Date("2026-11-22T10:00:00.000Z"),
    keyId: "key_c",
    team: awkwardTeam,
    status: "Unavailable",
    costUsd: 0.5,
    promptTokens: 7,
    completionTokens: 0,
  }),
  row({ requestId: "r4-future", time: new Date("2026-11-26T10:00:00.000Z") }),
  row({ requestId: "r0-old", time: new Date("2026-10-01T10:00:00.000Z"), model: "gpt-4o-mini" }),
];

let store: Store;
let client: Client<typeof UsageService>;

beforeEach(async () => {
  store = await openStore("sqlite::memory:");
  await store.migrate();
  await store.ledger.append(fixture);
  client = createClient(
    UsageService,
    createRouterTransport((router) => router.service(UsageService, usageService({ ledger: store.ledger, now: () => NOW }))),
  );
});
afterEach(async () => {
  await store.close();
});

const ts = (iso: string) => timestampFromDate(new Date(iso));

async function code(p: Promise<unknown> | AsyncIterable<unknown>): Promise<[Code, string]> {
  try {
    if (p instanceof Promise) await p;
    else for await (const _ of p) void _;
  } catch (err) {
    const e = ConnectError.from(err);
    return [e.code, e.rawMessage];
  }
  throw new Error("expected an error");
}

describe("GetUsage", () => {
  it("without group_by: one grand total up to now (unset end_time)", async () => {
    const res = await client.getUsage({});
    expect(res.totals).toHaveLength(1);
    const [t] = res.totals;
    expect(t!.group).toEqual({});
    expect(t!.calls).toBe(4n); // r4 is after now
    expect(t!.promptTokens).toBe(307n);
    expect(t!.completionTokens).toBe(150n);
    expect(t!.costUsd).toBeCloseTo(0.5015, 12);
    expect(t!.unknownCostCalls).toBe(1n);
    expect(t!.errorCalls).toBe(1n);
    expect([t!.cachedPromptTokens, t!.reasoningTokens]).toEqual([64n, 25n]);
  });

  it("counts cache hits (exact and semantic) and sums the cost they saved", async () => {
    await store.ledger.append([
      row({ requestId: "h1", endpoint: "cached", promptTokens: 0, completionTokens: 0, costUsd: 0, cache: "hit", costSavedUsd: 0.25 }),
      row({ requestId: "h2", endpoint: "cached", promptTokens: 0, completionTokens: 0, costUsd: 0, cache: "semantic_hit", costSavedUsd: 0.125 }),
      row({ requestId: "m1", endpoint: "cached", cache: "miss" }),
    ]);
    const res = await client.getUsage({ groupBy: ["endpoint"] });
    expect(res.totals.map((t) => [t.group["endpoint"], t.calls, t.cacheHits, t.costSavedUsd])).toEqual([
      ["cached", 3n, 2n, 0.375],
      ["chat", 4n, 0n, 0],
    ]);
  });

  it("groups by the target that answered, with cached and reasoning tokens ('' = no target)", async () => {
    const range = { startTime: ts("2026-11-01T00:00:00Z"), endTime: ts("2026-12-01T00:00:00Z") };
    const byTarget = await client.getUsage({ ...range, groupBy: ["target"] });
    expect(byTarget.totals.map((t) => [t.group, t.calls, t.promptTokens, t.cachedPromptTokens, t.completionTokens, t.reasoningTokens])).toEqual([
      [{ target: "" }, 2n, 107n, 0n, 50n, 0n], // r3 and r4-future
      [{ target: "backup" }, 1n, 100n, 0n, 50n, 5n],
      [{ target: "primary" }, 1n, 100n, 64n, 50n, 20n],
    ]);
    const byEndpointTarget = await client.getUsage({ ...range, groupBy: ["endpoint", "target"], team: "ml" });
    expect(byEndpointTarget.totals.map((t) => [t.group, t.calls])).toEqual([
      [{ endpoint: "chat", target: "" }, 1n],
      [{ endpoint: "chat", target: "backup" }, 1n],
      [{ endpoint: "chat", target: "primary" }, 1n],
    ]);
  });

  it("groups by team and model over a range, with team and key filters", async () => {
    const range = { startTime: ts("2026-11-01T00:00:00Z"), endTime: ts("2026-12-01T00:00:00Z") };
    const byTeamModel = await client.getUsage({ ...range, groupBy: ["team", "model"] });
    expect(byTeamModel.totals.map((t) => [t.group, t.calls])).toEqual([
      [{ team: "ml", model: "claude-x" }, 1n],
      [{ team: "ml", model: "gpt-4o" }, 2n],
      [{ team: awkwardTeam, model: "gpt-4o" }, 1n],
    ]);
    // Rows come sorted by the groups in the order asked for.
    const byModelTeam = await client.getUsage({ ...range, groupBy: ["model", "team"] });
    expect(byModelTeam.totals.map((t) => `${t.group["model"]}/${t.group["team"]}`)).toEqual([
      "claude-x/ml",
      "gpt-4o/ml",
      `gpt-4o/${awkwardTeam}`,
    ]);
    const byModelKey = await client.getUsage({ ...range, groupBy: ["model", "key"] });
    expect(byModelKey.totals.map((t) => `${t.group["model"]}/${t.group["key"]}`)).toEqual([
      "claude-x/key_b",
      "gpt-4o/key_a",
      "gpt-4o/key_c",
    ]);
    const ml = await client.getUsage({ ...range, groupBy: ["key"], team: "ml" });
    expect(ml.totals.map((t) => [t.group["key"], t.calls, t.unknownCostCalls])).toEqual([
      ["key_a", 2n, 0n],
      ["key_b", 1n, 1n],
    ]);
    const oneKey = await client.getUsage({ ...range, keyId: "key_c", groupBy: ["endpoint"] });
    expect(oneKey.totals.map((t) => [t.group, t.errorCalls, t.costUsd])).toEqual([[{ endpoint: "chat" }, 1n, 0.5]]);
  });

  it("returns no totals for an empty range", async () => {
    const res = await client.getUsage({ startTime: ts("2020-01-01T00:00:00Z"), endTime: ts("2020-02-01T00:00:00Z"), groupBy: ["team"] });
    expect(res.totals).toEqual([]);
  });

  it.each([
    ["an unknown group", { groupBy: ["team", "region"] }, 'group_by: unknown group "region" (expected key, team, endpoint, target, model)'],
    ["a repeated group", { groupBy: ["team", "team"] }, 'group_by: "team" is repeated'],
    [
      "start after end",
      { startTime: ts("2026-11-02T00:00:00Z"), endTime: ts("2026-11-01T00:00:00Z") },
      "start_time (2026-11-02T00:00:00.000Z) must be before end_time (2026-11-01T00:00:00.000Z)",
    ],
    [
      "an empty range",
      { startTime: ts("2026-11-01T00:00:00Z"), endTime: ts("2026-11-01T00:00:00Z") },
      "start_time (2026-11-01T00:00:00.000Z) must be before end_time (2026-11-01T00:00:00.000Z)",
    ],
    [
      "a start after now",
      { startTime: ts("2026-12-01T00:00:00Z") },
      "start_time (2026-12-01T00:00:00.000Z) must be before end_time (2026-11-25T12:00:00.000Z, now)",
    ],
    ["a NUL in key_id", { keyId: "key_a\u0000" }, "key_id: must not contain control characters or unpaired surrogates"],
    ["a control character in team", { team: "ml\u001b[2J" }, "team: must not contain control characters or unpaired surrogates"],
    ["a key_id over 256 characters", { keyId: "k".repeat(257) }, "key_id: longer than 256 characters"],
  ])("refuses %s with INVALID_ARGUMENT", async (_, req, message) => {
    expect(await code(client.getUsage(create(GetUsageRequestSchema, req)))).toEqual([Code.InvalidArgument, message]);
  });
});

/** RFC 4180 reader, to check the export round-trips. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += c;
  }
  expect(field).toBe(""); // every line ends with CRLF
  return rows;
}

async function exportText(req: Parameters<typeof client.exportUsage>[0]): Promise<string[]> {
  const chunks: string[] = [];
  for await (const m of client.exportUsage(req)) chunks.push(m.csv);
  return chunks;
}

describe("GetUsageSeries", () => {
  it("buckets the fixture by day, grouped and sorted as asked (groups in the caller's order within a bucket)", async () => {
    const res = await client.getUsageSeries({ startTime: ts("2026-11-19T12:00:00Z"), bucket: "day", groupBy: ["model", "key"] });
    expect(res.points.map((p) => [p.bucketStart?.seconds, p.total?.group, p.total?.calls, p.total?.costUsd])).toEqual([
      [BigInt(Date.parse("2026-11-20T00:00:00Z") / 1000), { model: "gpt-4o", key: "key_a" }, 1n, 0.00075],
      [BigInt(Date.parse("2026-11-21T00:00:00Z") / 1000), { model: "claude-x", key: "key_b" }, 1n, 0],
      [BigInt(Date.parse("2026-11-22T00:00:00Z") / 1000), { model: "gpt-4o", key: "key_c" }, 1n, 0.5],
    ]); // r4-future is after now (unset end_time), r0-old before the start
    const [second] = res.points.slice(1);
    expect([second?.total?.unknownCostCalls, second?.total?.reasoningTokens, second?.total?.group]).toEqual([1n, 5n, { model: "claude-x", key: "key_b" }]);
  });

  it("refuses more than 10,000 points with INVALID_ARGUMENT naming the limit; exactly 10,000 pass", async () => {
    const start = Date.parse("2025-01-01T00:00:00Z");
    const rows: LedgerRow[] = [];
    for (let h = 0; h < 5000; h++) {
      for (const keyId of ["key_x", "key_y"]) rows.push(row({ requestId: `s-${h}-${keyId}`, keyId, time: new Date(start + h * 3_600_000) }));
    }
    await store.ledger.append(rows);
    const req = { startTime: timestampFromDate(new Date(start)), endTime: timestampFromDate(new Date(start + 5000 * 3_600_000)), bucket: "hour", groupBy: ["key"] };
    const ok = await client.getUsageSeries(req);
    expect(ok.points).toHaveLength(10_000);
    expect(ok.points.slice(0, 2).map((p) => p.total?.group["key"])).toEqual(["key_x", "key_y"]);
    await store.ledger.append([row({ requestId: "one-more", keyId: "key_z", time: new Date(start) })]);
    expect(await code(client.getUsageSeries(req))).toEqual([
      Code.InvalidArgument,
      'the series has more than 10000 points (the limit): narrow the range, use bucket "day" or fewer group_by',
    ]);
    // By day the same rows are 209 days × 3 keys at most: well under the limit.
    expect((await client.getUsageSeries({ ...req, bucket: "day" })).points.length).toBeLessThanOrEqual(3 * 209);
  });

  it("refuses a bad range, bucket, group or filter with INVALID_ARGUMENT", async () => {
    const start = ts("2026-11-20T00:00:00Z");
    expect(await code(client.getUsageSeries({ bucket: "day" }))).toEqual([Code.InvalidArgument, "start_time: required (a series needs a start; its range spans at most 366 days)"]);
    expect(await code(client.getUsageSeries({ startTime: ts("2026-11-26T00:00:00Z"), bucket: "day" }))).toEqual([
      Code.InvalidArgument,
      "start_time (2026-11-26T00:00:00.000Z) must be before end_time (2026-11-25T12:00:00.000Z, now)",
    ]);
    expect(await code(client.getUsageSeries({ startTime: ts("2025-11-24T11:59:59Z"), bucket: "day" }))).toEqual([
      Code.InvalidArgument,
      "range: 2025-11-24T11:59:59.000Z to 2026-11-25T12:00:00.000Z is over the limit of 366 days",
    ]);
    expect((await client.getUsageSeries({ startTime: ts("2025-11-24T12:00:00Z"), bucket: "day" })).points.length).toBe(4);
    expect(await code(client.getUsageSeries({ startTime: start, bucket: "minute" }))).toEqual([Code.InvalidArgument, 'bucket: unknown bucket "minute" (expected hour, day)']);
    expect(await code(client.getUsageSeries({ startTime: start, bucket: "day", groupBy: ["team", "team"] }))).toEqual([Code.InvalidArgument, 'group_by: "team" is repeated']);
    expect(await code(client.getUsageSeries({ startTime: start, bucket: "day", team: "a\u0000b" }))).toEqual([
      Code.InvalidArgument,
      "team: must not contain control characters or unpaired surrogates",
    ]);
  });
});

describe("ExportUsage", () => {
  it("streams the header, then RFC 4180 rows in time order: ISO times, quoted fields, unknown cost empty", async () => {
    const chunks = await exportText({ startTime: ts("2026-11-01T00:00:00Z") });
    const text = chunks.join("");
    expect(text.startsWith(`${ledgerCsvColumns.join(",")}\r\n`)).toBe(true);
    const [header, ...rows] = parseCsv(text);
    expect(header).toEqual([...ledgerCsvColumns]);
    expect(rows).toEqual([
      ["2026-11-20T10:00:00.000Z", "r1", "key_a", "ml", "chat", "openai", "gpt-4o", "", "100", "50", "0.00075", "ok", "120.25", "false", "primary", "64", "20", "", "", "", ""],
      ["2026-11-21T10:00:00.000Z", "r2", "key_b", "ml", "chat", "anthropic", "claude-x", "", "100", "50", "", "ok", "120.25", "true", "backup", "0", "5", "", "", "", ""],
      ["2026-11-22T10:00:00.000Z", "r3", "key_c", awkwardTeam, "chat", "openai", "gpt-4o", "", "7", "0", "0.5", "Unavailable", "120.25", "false", "", "0", "0", "", "", "", ""],
    ]);
    expect(text).toContain('"search, ""beta""\nteam"');
  });

  it("filters by team and refuses a bad range or team", async () => {
    const rows = parseCsv((await exportText({ team: "ml" })).join(""));
    expect(rows.slice(1).map((r) => r[1])).toEqual(["r0-old", "r1", "r2"]);
    // The ledger writer stores no control characters, so a team filter holding one is a mistake.
    expect(await code(client.exportUsage({ team: awkwardTeam }))).toEqual([
      Code.InvalidArgument,
      "team: must not contain control characters or unpaired surrogates",
    ]);
    expect(await code(client.exportUsage({ team: "ml\u0000" }))).toEqual([
      Code.InvalidArgument,
      "team: must not contain control characters or unpaired surrogates",
    ]);
    expect(await code(client.exportUsage({ startTime: ts("2026-11-25T12:00:00Z") }))).toEqual([
      Code.InvalidArgument,
      "start_time (2026-11-25T12:00:00.000Z) must be before end_time (2026-11-25T12:00:00.000Z, now)",
    ]);
  });

  it("sends a month of rows in ~64 KiB pieces, header first, nothing lost", async () => {
    const many = Array.from({ length: 3_000 }, (_, i) =>
      row({ requestId: `bulk-${String(i).padStart(5, "0")}`, time: new Date(Date.UTC(2026, 10, 2, 0, 0, i)), team: "bulk" }),
    );
    await store.ledger.append(many);
    const chunks = await exportText({ team: "bulk" });
    expect(chunks.length).toBeGreaterThan(2);
    for (const c of chunks.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(64 * 1024);
      expect(c.length).toBeLessThan(64 * 1024 + 200);
      expect(c.endsWith("\r\n")).toBe(true); // pieces end on a row
    }
    expect(chunks[0]!.startsWith("time,request_id,")).toBe(true);
    const rows = parseCsv(chunks.join(""));
    expect(rows).toHaveLength(3_001);
    expect(rows.slice(1).map((r) => r[1])).toEqual(many.map((r) => r.requestId));
  });

  it("neutralises formulas in text cells (OWASP CSV injection); numbers stay numbers", async () => {
    await store.ledger.append([
      row({
        requestId: "@evil",
        time: new Date("2026-11-23T10:00:00.000Z"),
        keyId: "+1",
        team: "-2+3",
        endpoint: '=HYPERLINK("http://evil.example","click")',
        model: "=cmd|' /C calc'!A0",
        provider: "\topenai",
        modelVersion: "\r7",
        costUsd: 0.25,
        promptTokens: 12,
      }),
    ]);
    const rows = parseCsv((await exportText({ startTime: ts("2026-11-23T00:00:00Z"), endTime: ts("2026-11-24T00:00:00Z") })).join(""));
    expect(rows.slice(1)).toEqual([
      [
        "2026-11-23T10:00:00.000Z",
        "'@evil",
        "'+1",
        "'-2+3",
        `'=HYPERLINK("http://evil.example","click")`,
        "'\topenai",
        "'=cmd|' /C calc'!A0",
        "'\r7",
        "12",
        "50",
        "0.25",
        "ok",
        "120.25",
        "false",
        "",
        "0",
        "0",
        "",
        "",
        "",
        "",
      ],
    ]);
  });

  it("an empty range is just the header", async () => {
    expect(await exportText({ startTime: ts("2020-01-01T00:00:00Z"), endTime: ts("2020-01-02T00:00:00Z") })).toEqual([
      `${ledgerCsvColumns.join(",")}\r\n`,
    ]);
  });
});

describe("csv helpers", () => {
  it("quote only what needs it and write costs as plain decimals", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField('a"b')).toBe('"a""b"');
    expect(csvField("a\rb")).toBe('"a\rb"');
    expect(formatUsd(null)).toBe("");
    expect(formatUsd(0)).toBe("0");
    expect(formatUsd(0.000000175)).toBe("0.000000175"); // String() would say 1.75e-7
    expect(formatUsd(12.5)).toBe("12.5");
    expect(formatUsd(3)).toBe("3");
  });

  it("neutralise text starting with = + - @ tab or CR with a leading quote, and still quote as RFC 4180 says", () => {
    expect(csvText("=1+1")).toBe("'=1+1");
    expect(csvText("+1")).toBe("'+1");
    expect(csvText("-1")).toBe("'-1");
    expect(csvText("@SUM(A1:A9)")).toBe("'@SUM(A1:A9)");
    expect(csvText("\tx")).toBe("'\tx");
    expect(csvText("\rx")).toBe('"\'\rx"');
    expect(csvText('=HYPERLINK("u","t")')).toBe(`"'=HYPERLINK(""u"",""t"")"`);
    expect(csvText("=a,b")).toBe(`"'=a,b"`);
    // Only a leading character counts; ordinary text is untouched.
    expect(csvText("a=b")).toBe("a=b");
    expect(csvText("gpt-4o")).toBe("gpt-4o");
    expect(csvText("")).toBe("");
    expect(csvText("'quoted")).toBe("'quoted");
  });

  it("keep numeric cells numeric in rows and totals, neutralising only the text", () => {
    const line = ledgerCsvLine(row({ requestId: "-r", team: "=t", costUsd: 0.5, promptTokens: 3, completionTokens: 4, latencyMs: 1.5 }));
    expect(line).toBe("2026-11-20T10:00:00.000Z,'-r,key_a,'=t,chat,openai,gpt-4o,,3,4,0.5,ok,1.5,false,,0,0,,,,\r\n");
    // The target (a config name, but text all the same) is neutralised too; the token columns are numbers.
    expect(ledgerCsvLine(row({ target: "-backup", cachedPromptTokens: 2, reasoningTokens: 1 }))).toMatch(/,'-backup,2,1,,,,\r\n$/);
    // The policy columns: text neutralised and quoted (the decisions hold commas), the saving a plain number.
    expect(ledgerCsvLine(row({ template: "support@2", cache: "hit", costSavedUsd: 0.000375, guardrails: "input:pii.email:redact,output:deny:block" }))).toMatch(
      /,support@2,hit,0\.000375,"input:pii\.email:redact,output:deny:block"\r\n$/,
    );
    const totals = totalsCsv(
      ["team", "target", "model"],
      [
        {
          group: { team: "@ops", target: "=t", model: "+m" },
          calls: 2,
          promptTokens: 3,
          completionTokens: 4,
          cachedPromptTokens: 2,
          reasoningTokens: 1,
          costUsd: 0.125,
          unknownCostCalls: 0,
          errorCalls: 1,
          cacheHits: 0,
          costSavedUsd: 0,
        },
      ],
    );
    expect(totals).toBe(
      "team,target,model,calls,prompt_tokens,completion_tokens,cost_usd,unknown_cost_calls,error_calls,cached_prompt_tokens,reasoning_tokens\r\n" +
        "'@ops,'=t,'+m,2,3,4,0.125,0,1,2,1\r\n",
    );
  });
});

describe("ListCalls", () => {
  const principals: Record<string, Principal> = {
    admin: { keyId: "config:ops", keyName: "ops", team: "ops", roles: new Set(["admin"]) },
    keyB: { keyId: "key_b", keyName: "b", team: "ml", roles: new Set(["user"]) },
  };
  // Stands in for the auth interceptor: the caller named by a test header.
  const setCaller: Interceptor = (next) => (req) => {
    const principal = principals[req.header.get("x-test-caller") ?? ""];
    if (principal) req.contextValues.set(callerKey, { principal });
    return next(req);
  };
  const as = (name: "admin" | "keyB") => ({ headers: { "x-test-caller": name } });
  const admin = "admin" as const;
  const keyB = "keyB" as const;
  let calls: Client<typeof UsageService>;
  beforeEach(() => {
    calls = createClient(
      UsageService,
      createRouterTransport((router) => router.service(UsageService, usageService({ ledger: store.ledger, now: () => NOW })), { router: { interceptors: [setCaller] } }),
    );
  });

  it("lists newest first up to now; an admin sees every key's calls", async () => {
    const res = await calls.listCalls({}, as(admin));
    expect(res.calls.map((c) => c.requestId)).toEqual(["r3", "r2", "r1", "r0-old"]);
    expect(res.nextPageToken).toBe("");
    const r2 = res.calls[1]!;
    expect(r2.costUsd).toBeUndefined(); // unknown price: unset, never 0
    expect([r2.provider, r2.model, r2.target, r2.streamed, r2.reasoningTokens]).toEqual(["anthropic", "claude-x", "backup", true, 5n]);
    expect(res.calls[2]!.costUsd).toBe(0.00075);
  });

  it("narrows a caller without the admin role to its own key, whatever it asks", async () => {
    expect((await calls.listCalls({}, as(keyB))).calls.map((c) => c.requestId)).toEqual(["r2"]);
    expect((await calls.listCalls({ keyId: "key_b", status: "ok" }, as(keyB))).calls.map((c) => c.requestId)).toEqual(["r2"]);
    expect(await code(calls.listCalls({ keyId: "key_a" }, as(keyB)))).toEqual([Code.PermissionDenied, 'ListCalls: without role "admin" a key sees only its own calls (key_id "" or its own)']);
  });

  it("refuses a call that reached it with no caller (the auth interceptor always sets one)", async () => {
    expect(await code(calls.listCalls({}))).toEqual([Code.PermissionDenied, "ListCalls: no authenticated caller"]);
  });

  it("refuses a token whose filters or content were changed", async () => {
    const first = await calls.listCalls({ pageSize: 1 }, as(admin));
    expect(first.calls.map((c) => c.requestId)).toEqual(["r3"]);
    const second = await calls.listCalls({ pageSize: 1, pageToken: first.nextPageToken }, as(admin));
    expect(second.calls.map((c) => c.requestId)).toEqual(["r2"]);
    const [time, id, hash] = Buffer.from(first.nextPageToken, "base64url").toString().split(".");
    const forged = Buffer.from(`${time}.${id}.${"A".repeat(hash!.length)}`).toString("base64url");
    expect((await code(calls.listCalls({ pageSize: 1, pageToken: forged }, as(admin))))[0]).toBe(Code.InvalidArgument);
    expect((await code(calls.listCalls({ pageSize: 1, endpoint: "chat", pageToken: first.nextPageToken }, as(admin))))[0]).toBe(Code.InvalidArgument);
    // An explicit end is part of the filters; an open one ("now") is not.
    expect((await code(calls.listCalls({ pageSize: 1, endTime: ts("2026-11-25T00:00:00.000Z"), pageToken: first.nextPageToken }, as(admin))))[0]).toBe(Code.InvalidArgument);
  });
});
