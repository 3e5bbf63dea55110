// The production logger: key names readable, secrets redacted, on the call log line as written
// by a real gateway (the integration harness uses the same createLogger).
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { pino } from "pino";
import { createLogger, LineBuffer, lineWriter } from "../../src/observability/logger";
import { clientFor } from "../integration/clients";
import { echoEndpoints, eventually, startGateway, type TestGateway } from "../integration/harness";

function captured(): { sink: Writable; lines: () => Record<string, unknown>[]; raw: () => string } {
  let raw = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw += chunk.toString("utf8");
      done();
    },
  });
  const lines = () => raw.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { sink, lines, raw: () => raw };
}

describe("createLogger", () => {
  it("keeps a key's name and redacts credentials by their exact paths", () => {
    const out = captured();
    const log = createLogger("info", out.sink);
    log.info(
      {
        key: "alice",
        authorization: "Bearer sk-secret-authorization-000",
        headers: { authorization: "Bearer sk-secret-header-000", "x-api-key": "sk-secret-x-api-key-000", accept: "*/*" },
        api_key: "sk-secret-api-key-000",
        apiKey: "sk-secret-apikey-000",
      },
      "call",
    );
    const [line] = out.lines();
    expect(line).toMatchObject({
      key: "alice",
      authorization: "[redacted]",
      headers: { authorization: "[redacted]", "x-api-key": "[redacted]", accept: "*/*" },
      api_key: "[redacted]",
      apiKey: "[redacted]",
    });
    expect(out.raw()).not.toContain("sk-secret");
  });

  it("honours the level", () => {
    const out = captured();
    const log = createLogger("warn", out.sink);
    log.info("not written");
    log.warn("written");
    expect(out.lines().map((l) => l["msg"])).toEqual(["written"]);
  });
});

describe("lineWriter (the call line without pino's serializer)", () => {
  const fields = {
    requestId: 'id "quoted" \\ and\nnewline \u0000 é 漢',
    procedure: "modelgate.v1.ChatService/Chat",
    endpoint: undefined,
    code: "ok",
    streamed: false,
    ms: 1.25,
    notFinite: Number.NaN,
    guardrails: ["pii", "length"],
  };
  /** The time field is the only one that may differ between two writes. */
  const sameTime = (raw: string) => raw.replace(/"time":\d+/g, '"time":0');

  it("writes byte for byte the line pino writes, on the root logger and on a child with bindings", () => {
    for (const make of [(log: ReturnType<typeof createLogger>) => log, (log: ReturnType<typeof createLogger>) => log.child({ component: "x" })]) {
      const ours = captured();
      const theirs = captured();
      lineWriter(make(createLogger("info", ours.sink)))("info", fields, "call");
      lineWriter(make(createLogger("info", ours.sink)))("warn", { code: "unavailable" }, "call");
      lineWriter(make(createLogger("info", ours.sink)))("info", {}, "empty");
      make(createLogger("info", theirs.sink)).info(fields, "call");
      make(createLogger("info", theirs.sink)).warn({ code: "unavailable" }, "call");
      make(createLogger("info", theirs.sink)).info({}, "empty");
      expect(sameTime(ours.raw())).toBe(sameTime(theirs.raw()));
      expect(ours.lines()).toHaveLength(3);
    }
  });

  it("honours the level, also when it changes after the writer was made", () => {
    const out = captured();
    const log = createLogger("warn", out.sink);
    const write = lineWriter(log);
    write("info", { n: 1 }, "call");
    write("warn", { n: 2 }, "call");
    log.level = "info";
    write("info", { n: 3 }, "call");
    log.level = "silent";
    write("warn", { n: 4 }, "call");
    expect(out.lines().map((l) => l["n"])).toEqual([2, 3]);
  });

  it("leaves the line to pino when pino must dress it (a mixin, a multistream destination)", () => {
    const mixed = captured();
    lineWriter(pino({ base: undefined, mixin: () => ({ mixed: true }) }, mixed.sink))("info", { n: 1 }, "call");
    expect(mixed.lines()[0]).toMatchObject({ n: 1, mixed: true, msg: "call" });
    const multi = captured();
    lineWriter(pino({ base: undefined }, pino.multistream([{ stream: multi.sink, level: "info" }])))("info", { n: 2 }, "call");
    expect(multi.lines()[0]).toMatchObject({ level: 30, n: 2, msg: "call" });
  });
});

describe("LineBuffer", () => {
  it("gathers lines and writes them joined once past its limit; drain and flush write the rest", () => {
    const writes: string[] = [];
    let synced = 0;
    const buffer = new LineBuffer({ write: (chunk: string) => writes.push(chunk), flushSync: () => synced++ }, 10);
    buffer.write("abcd\n");
    buffer.write("efgh\n");
    expect(writes).toEqual(["abcd\nefgh\n"]);
    buffer.write("ij\n");
    buffer.drain();
    buffer.drain();
    expect(writes).toEqual(["abcd\nefgh\n", "ij\n"]);
    buffer.write("k\n");
    let done: unknown = "not called";
    buffer.flush((err) => (done = err));
    expect(writes.at(-1)).toBe("k\n");
    expect(synced).toBe(1);
    expect(done).toBeUndefined();
  });

  it("passes a failing write to flush's callback instead of throwing", () => {
    const buffer = new LineBuffer({ write: () => { throw new Error("EPIPE"); }, flushSync: () => undefined }, 1_000);
    buffer.write("x\n");
    let got: Error | undefined;
    buffer.flush((err) => (got = err));
    expect(got?.message).toBe("EPIPE");
  });
});

describe("the call log line of a gateway with auth", () => {
  const secret = "sk-logging-spec-0123456789abcdef";
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway(
      `auth: { enabled: true, keys: [{ name: alice, key: $ALICE_KEY }] }\nendpoints:${echoEndpoints}`,
      { ALICE_KEY: secret },
    );
  });
  afterAll(() => gw.close());

  it("names the key (key: alice), and the secret appears nowhere in the raw logs", async () => {
    const chat = clientFor(ChatService, "connect-json-h1", gw.url);
    const res = await chat.chat(
      { endpoint: "chat", messages: [{ role: "user", content: "hello" }] },
      { headers: { authorization: `Bearer ${secret}`, "x-request-id": "logging-spec-1" } },
    );
    expect(res.choices[0]?.message?.content).toBe("echo: hello");
    const line = () => gw.logs.find((l) => l["requestId"] === "logging-spec-1");
    await eventually(() => line() !== undefined);
    expect(line()).toMatchObject({ msg: "call", key: "alice", endpoint: "chat", code: "ok" });
    expect(gw.rawLogs()).not.toContain(secret);
    expect(gw.rawLogs()).not.toContain("[redacted]");
  });
});
