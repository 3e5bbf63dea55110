// The production logger: key names readable, secrets redacted, on the call log line as written
// by a real gateway (the integration harness uses the same createLogger).
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { createLogger } from "../../src/observability/logger";
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
