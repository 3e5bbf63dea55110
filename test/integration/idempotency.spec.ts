// Idempotency in retries and fallbacks (issue 10), through a real gateway over fake upstreams
// that fail on cue, counting the requests each fake saw: a request that was sent and got no
// answer (the connection broken after it was sent, or no answer within the attempt timeout) may
// have been processed upstream, so it is tried again only with the caller's Idempotency-Key or
// `routing.retries.retry_unsafe: true`; an error status or a refused connection is tried again as
// before; the key reaches the upstream unchanged on every attempt.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { startFakeUpstream, type FaultyUpstream } from "../fakes/fake-upstream";
import { clientFor } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";

let fa: FaultyUpstream;
let fb: FaultyUpstream;
let gw: TestGateway;

const model = (fake: FaultyUpstream | string, name: string) =>
  `{ provider: openai, name: ${name}, config: { openai_api_key: sk-test-key-0001, openai_api_base: "${typeof fake === "string" ? fake : fake.url}/v1" } }`;
const noBreaker = "breaker: { consecutive_failures: 1000 }";
const retries = "max: 2, base_delay_ms: 1, budget_percent: 100, min_per_second: 100";

beforeAll(async () => {
  fa = await startFakeUpstream();
  fb = await startFakeUpstream();
  const ab = `targets: [{ name: a, model: ${model(fa, "m-a")} }, { name: b, model: ${model(fb, "m-b")} }]`;
  gw = await startGateway(`
endpoints:
  - { name: plain, endpoint_type: llm/v1/chat, model: ${model(fa, "m-a")} }
  - { name: fo, endpoint_type: llm/v1/chat, ${ab}, routing: { ${noBreaker} } }
  - { name: fo-unsafe, endpoint_type: llm/v1/chat, ${ab}, routing: { retries: { retry_unsafe: true }, ${noBreaker} } }
  - { name: retry, endpoint_type: llm/v1/chat, model: ${model(fa, "m-a")}, routing: { retries: { ${retries} }, ${noBreaker} } }
  # 1.5 s: wide enough that b always answers in time on a loaded machine (a never answers).
  - { name: timed, endpoint_type: llm/v1/chat, ${ab}, routing: { attempt_timeout_ms: 1500, ${noBreaker} } }
  - name: refused
    endpoint_type: llm/v1/chat
    targets: [{ name: dead, model: ${model("http://127.0.0.1:1", "m-dead")} }, { name: b, model: ${model(fb, "m-b")} }]
    routing: { ${noBreaker} }
`);
});
afterAll(async () => {
  await gw.close();
  await fa.close();
  await fb.close();
});
beforeEach(() => {
  fa.reset();
  fb.reset();
});

const client = () => clientFor(ChatService, "grpc", gw.url);
const user = (content: string) => ({ role: "user", content });
const key = "5f2c1e0a-idem-key-0001";

/** A unary chat with the routing headers it got. */
async function chat(endpoint: string, headers: Record<string, string> = {}) {
  let got = new Headers();
  const res = await client().chat({ endpoint, messages: [user("hello")] }, { headers, onHeader: (h) => (got = h) });
  return { res, target: got.get("x-modelgate-target"), attempts: got.get("x-modelgate-attempts") };
}

describe("a request that may have been processed upstream", () => {
  it("connection broken after the request was sent: not fallen over without a key", async () => {
    fa.queueFaults("#break");
    const err = await failure(chat("fo"));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/not tried again: the upstream may have processed the request/);
    expect([fa.requests.length, fb.requests.length]).toEqual([1, 0]);
  });

  it("... nor retried on the same target", async () => {
    fa.queueFaults("#break");
    await failure(chat("retry"));
    expect(fa.requests.length).toBe(1);
  });

  it("with an Idempotency-Key it falls over, and both upstreams get the key unchanged", async () => {
    fa.queueFaults("#break");
    const { res, target, attempts } = await chat("fo", { "idempotency-key": key });
    expect(res.choices[0]?.message?.content).toBe("echo: hello");
    expect([target, attempts]).toEqual(["b", "2"]);
    expect([fa.requests.length, fb.requests.length]).toEqual([1, 1]);
    expect([fa.requests[0]?.headers["idempotency-key"], fb.requests[0]?.headers["idempotency-key"]]).toEqual([key, key]);
  });

  it("with an Idempotency-Key it is retried on the same target, the same key on every attempt", async () => {
    fa.queueFaults("#break", "#break");
    const { attempts } = await chat("retry", { "idempotency-key": key });
    expect(attempts).toBe("3");
    expect(fa.requests.map((r) => r.headers["idempotency-key"])).toEqual([key, key, key]);
  });

  it("an endpoint with retries.retry_unsafe falls over without a key", async () => {
    fa.queueFaults("#break");
    const { target, attempts } = await chat("fo-unsafe");
    expect([target, attempts]).toEqual(["b", "2"]);
    expect(fb.requests[0]?.headers["idempotency-key"]).toBeUndefined();
  });

  it("no answer within attempt_timeout_ms: not fallen over without a key (DEADLINE_EXCEEDED)", async () => {
    fa.queueFaults("#delay:20000");
    const err = await failure(chat("timed"));
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(err.rawMessage).toMatch(/not tried again/);
    expect(fb.requests.length).toBe(0);
    await fa.waitForClosedEarly(1, 3_000);
  });

  it("no answer within attempt_timeout_ms, with a key: b answers", async () => {
    fa.queueFaults("#delay:20000");
    const { target, attempts } = await chat("timed", { "idempotency-key": key });
    expect([target, attempts]).toEqual(["b", "2"]);
    expect(fb.requests[0]?.headers["idempotency-key"]).toBe(key);
  });

  it("a stream with no first message within the attempt timeout is not moved to b without a key", async () => {
    fa.queueFaults("#hang");
    const streamed = async (headers: Record<string, string>) => {
      const got: string[] = [];
      for await (const c of client().streamChat({ endpoint: "timed", messages: [user("one two")] }, { headers })) {
        got.push(...c.choices.map((d) => d.delta?.content ?? ""));
      }
      return got.join("");
    };
    const err = await failure(streamed({}));
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(fb.requests.length).toBe(0);
    fa.queueFaults("#hang");
    expect(await streamed({ "idempotency-key": key })).toBe("echo: one two");
    expect(fb.requests.length).toBe(1);
  });
});

describe("failures the upstream did not process are tried again as before, with no key", () => {
  it.each(["#status:500", "#status:502", "#status:503 #retry-after:0", "#status:429 #retry-after:0", "#garbage"])("%s: b answers", async (fault) => {
    fa.queueFaults(fault);
    const { target, attempts } = await chat("fo");
    expect([target, attempts]).toEqual(["b", "2"]);
    expect([fa.requests.length, fb.requests.length]).toEqual([1, 1]);
  });

  it("a refused connection: b answers", async () => {
    const { target, attempts } = await chat("refused");
    expect([target, attempts]).toEqual(["b", "2"]);
  });

  it("a 500 is retried on the same target", async () => {
    fa.queueFaults("#status:500");
    expect((await chat("retry")).attempts).toBe("2");
    expect(fa.requests.length).toBe(2);
  });
});

describe("the Idempotency-Key header", () => {
  it("reaches the upstream of a one-target endpoint unchanged", async () => {
    await chat("plain", { "idempotency-key": key });
    expect(fa.requests[0]?.headers["idempotency-key"]).toBe(key);
  });

  it("is forwarded from the OpenAI REST surface", async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "stainless-python-retry-0a1b2c" },
      body: JSON.stringify({ model: "plain", messages: [user("hi")] }),
    });
    expect(res.status).toBe(200);
    expect(fa.requests[0]?.headers["idempotency-key"]).toBe("stainless-python-retry-0a1b2c");
  });

  it("is not sent upstream when the caller sent none", async () => {
    await chat("plain");
    expect(fa.requests[0]?.headers["idempotency-key"]).toBeUndefined();
  });

  it.each([
    ["x".repeat(256), /at most 255 characters/],
    ["clé-0001", /printable ASCII/],
  ])("a bad key (%s) is INVALID_ARGUMENT, with no upstream request", async (bad, message) => {
    const err = await failure(client().chat({ endpoint: "fo", messages: [user("hi")] }, { headers: { "idempotency-key": bad } }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(message);
    expect(fa.requests.length + fb.requests.length).toBe(0);
  });
});
