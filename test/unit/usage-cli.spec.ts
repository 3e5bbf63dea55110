import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseWhen, runUsageCommand, usageHelp } from "../../src/cli/usage";
import { openStore } from "../../src/store/open";
import type { LedgerRow, Store } from "../../src/store/types";

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
    promptTokens: 1_000,
    completionTokens: 500,
    costUsd: 0.0075,
    status: "ok",
    latencyMs: 100,
    streamed: false,
    ...over,
  };
}

class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

let store: Store;
beforeEach(async () => {
  store = await openStore("sqlite::memory:");
  await store.migrate();
  await store.ledger.append([
    row({ requestId: "r1", target: "primary", cachedPromptTokens: 400, reasoningTokens: 120 }),
    row({ requestId: "r2", time: new Date("2026-11-21T10:00:00.000Z"), team: "search", keyId: "key_b", model: "claude-x", costUsd: null, target: "fallback" }),
    row({ requestId: "r3", time: new Date("2026-11-24T10:00:00.000Z"), team: "search", keyId: "", status: "Unavailable", costUsd: 0.5 }),
    row({ requestId: "r-old", time: new Date("2026-10-01T00:00:00.000Z"), team: "old" }),
  ]);
});
afterEach(async () => {
  await store.close();
});

async function run(...argv: string[]) {
  const out = new Capture();
  const err = new Capture();
  const code = await runUsageCommand(argv, { store, out, err, now: () => NOW });
  return { code, out: out.text, err: err.text };
}

describe("modelgate usage", () => {
  it("--help explains the options", async () => {
    const r = await run("--help");
    expect(r).toEqual({ code: 0, out: usageHelp, err: "" });
    expect(usageHelp).toContain("--since WHEN");
  });

  it("prints the last 7 days' grand total by default", async () => {
    const r = await run();
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        "Usage from 2026-11-18T12:00:00.000Z to 2026-11-25T12:00:00.000Z",
        "",
        "calls  prompt tokens  cached  completion tokens  reasoning  cost (USD)  unknown cost  errors",
        "-----  -------------  ------  -----------------  ---------  ----------  ------------  ------",
        "    3          3,000     400              1,500        120      0.5075             1       1",
        "",
      ].join("\n"),
    );
  });

  it("groups with --by, names empty groups, and adds a total line", async () => {
    const r = await run("--by", "team,key", "--since", "2026-11-01");
    expect(r.code).toBe(0);
    expect(r.out.split("\n")).toEqual([
      "Usage from 2026-11-01T00:00:00.000Z to 2026-11-25T12:00:00.000Z",
      "",
      "team    key     calls  prompt tokens  cached  completion tokens  reasoning  cost (USD)  unknown cost  errors",
      "------  ------  -----  -------------  ------  -----------------  ---------  ----------  ------------  ------",
      "ml      key_a       1          1,000     400                500        120      0.0075             0       0",
      "search  (none)      1          1,000       0                500          0      0.5000             0       1",
      "search  key_b       1          1,000       0                500          0      0.0000             1       0",
      "------  ------  -----  -------------  ------  -----------------  ---------  ----------  ------------  ------",
      "total               3          3,000     400              1,500        120      0.5075             1       1",
      "",
    ]);
  });

  it("groups by the target that answered (a call no target answered is '(none)')", async () => {
    const r = await run("--by", "target", "--since", "2026-11-01");
    expect(r.code).toBe(0);
    expect(r.out.split("\n").slice(2)).toEqual([
      "target    calls  prompt tokens  cached  completion tokens  reasoning  cost (USD)  unknown cost  errors",
      "--------  -----  -------------  ------  -----------------  ---------  ----------  ------------  ------",
      "(none)        1          1,000       0                500          0      0.5000             0       1",
      "fallback      1          1,000       0                500          0      0.0000             1       0",
      "primary       1          1,000     400                500        120      0.0075             0       0",
      "--------  -----  -------------  ------  -----------------  ---------  ----------  ------------  ------",
      "total         3          3,000     400              1,500        120      0.5075             1       1",
      "",
    ]);
    const csv = await run("--by", "target,model", "--csv", "--since", "2026-11-01");
    expect(csv.out).toBe(
      "target,model,calls,prompt_tokens,completion_tokens,cost_usd,unknown_cost_calls,error_calls,cached_prompt_tokens,reasoning_tokens\r\n" +
        ",gpt-4o,1,1000,500,0.5,0,1,0,0\r\n" +
        "fallback,claude-x,1,1000,500,0,1,0,0,0\r\n" +
        "primary,gpt-4o,1,1000,500,0.0075,0,0,400,120\r\n",
    );
  });

  it("--csv prints the totals as CSV; --team and --key filter", async () => {
    const r = await run("--by", "model", "--team", "search", "--csv", "--since", "30d");
    expect(r.out).toBe(
      "model,calls,prompt_tokens,completion_tokens,cost_usd,unknown_cost_calls,error_calls,cached_prompt_tokens,reasoning_tokens\r\n" +
        "claude-x,1,1000,500,0,1,0,0,0\r\n" +
        "gpt-4o,1,1000,500,0.5,0,1,0,0\r\n",
    );
    const byKey = await run("--key", "key_a", "--csv");
    expect(byKey.out.split("\r\n")[1]).toBe("1,1000,500,0.0075,0,0,400,120");
  });

  it("--rows exports the ledger rows of the range as CSV", async () => {
    const r = await run("--rows", "--since", "2026-11-20", "--until", "2026-11-22T00:00:00Z");
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      "time,request_id,key_id,team,endpoint,provider,model,model_version,prompt_tokens,completion_tokens,cost_usd,status,latency_ms,streamed,target,cached_prompt_tokens,reasoning_tokens,template,cache,cost_saved_usd,guardrails\r\n" +
        "2026-11-20T10:00:00.000Z,r1,key_a,ml,chat,openai,gpt-4o,,1000,500,0.0075,ok,100,false,primary,400,120,,,,\r\n" +
        "2026-11-21T10:00:00.000Z,r2,key_b,search,chat,openai,claude-x,,1000,500,,ok,100,false,fallback,0,0,,,,\r\n",
    );
  });

  it("--rows and --csv neutralise cells a spreadsheet would run as formulas; numbers stay numbers", async () => {
    await store.ledger.append([
      row({ requestId: "=1+1", time: new Date("2026-11-22T10:00:00.000Z"), team: "@team", model: "-x", keyId: "+k", costUsd: 0.25 }),
    ]);
    const r = await run("--rows", "--since", "2026-11-22", "--until", "2026-11-23");
    expect(r.out.split("\r\n")[1]).toBe("2026-11-22T10:00:00.000Z,'=1+1,'+k,'@team,chat,openai,'-x,,1000,500,0.25,ok,100,false,,0,0,,,,");
    const totals = await run("--by", "team,model", "--csv", "--since", "2026-11-22", "--until", "2026-11-23");
    expect(totals.out.split("\r\n")[1]).toBe("'@team,'-x,1,1000,500,0.25,0,0,0,0");
  });

  it("shows control characters of old rows in the table as U+FFFD, not as terminal escapes", async () => {
    await store.ledger.append([row({ requestId: "esc", time: new Date("2026-11-22T10:00:00.000Z"), team: "\u001b]0;pwned\u0007x" })]);
    const r = await run("--by", "team", "--since", "2026-11-22", "--until", "2026-11-23");
    expect(r.out).toContain("\ufffd]0;pwned\ufffdx");
    expect(r.out).not.toContain("\u001b");
  });

  it("says so when the range has no calls", async () => {
    const r = await run("--since", "2020-01-01", "--until", "2020-02-01");
    expect(r.out).toContain("No calls in this range.");
  });

  it.each([
    [["--since", "yesterday"], '--since: "yesterday" is not a duration (7d, 12h, 30m, 2w), a date (2026-11-01) or an ISO time'],
    [["--since", "2026-02-30"], '--since: "2026-02-30" is not a duration'],
    [["--by", "team,region"], '--by: unknown group "region" (expected any of key,team,endpoint,target,model)'],
    [["--since", "2026-11-25", "--until", "2026-11-24"], "--since (2026-11-25T00:00:00.000Z) must be before --until (2026-11-24T00:00:00.000Z)"],
    [["--csv", "--rows"], "--csv and --rows cannot be used together"],
    [["--rows", "--by", "team"], "--rows prints every row: --by and --key apply to totals only"],
    [["--verbose"], "Unknown option '--verbose'"],
    [["--key", "key_a\u0000"], "--key: must not contain control characters or unpaired surrogates"],
    [["--team", "t".repeat(257)], "--team: longer than 256 characters"],
  ])("refuses %j with exit code 2", async (argv, message) => {
    const r = await run(...argv);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toContain(`modelgate usage: ${message}`);
    expect(r.err).toContain('Run "modelgate usage --help"');
  });

  it("exits 1 with the store's message when the database fails", async () => {
    await store.close();
    const r = await run();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^modelgate usage: .+\n$/);
    store = await openStore("sqlite::memory:"); // for afterEach
  });
});

describe("parseWhen", () => {
  it("reads durations back from now, UTC dates and ISO times", () => {
    expect(parseWhen("30m", NOW, "--since").toISOString()).toBe("2026-11-25T11:30:00.000Z");
    expect(parseWhen("12h", NOW, "--since").toISOString()).toBe("2026-11-25T00:00:00.000Z");
    expect(parseWhen("2w", NOW, "--since").toISOString()).toBe("2026-11-11T12:00:00.000Z");
    expect(parseWhen("2026-11-01", NOW, "--since").toISOString()).toBe("2026-11-01T00:00:00.000Z");
    expect(parseWhen("2026-11-01T09:30:00+02:00", NOW, "--since").toISOString()).toBe("2026-11-01T07:30:00.000Z");
  });
});
