// The MLflow Deployments Server REST shapes, byte level (the Python client is in test/interop).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoEndpoints, startGateway, type TestGateway } from "./harness";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`endpoints:${echoEndpoints}
  - name: limited
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
    limit: { renewal_period: hour, calls: 1 }
`);
});
afterAll(() => gw.close());

const post = (name: string, body: unknown) =>
  fetch(`${gw.url}/endpoints/${name}/invocations`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("MLflow surface", () => {
  it("GET /health", async () => {
    expect(await (await fetch(`${gw.url}/health`)).json()).toEqual({ status: "OK" });
  });

  it("lists and gets endpoints in MLflow's shape", async () => {
    const list = (await (await fetch(`${gw.url}/api/2.0/endpoints/`)).json()) as { endpoints: unknown[] };
    expect(list.endpoints[0]).toEqual({
      name: "chat",
      endpoint_type: "llm/v1/chat",
      model: { name: "echo-1", provider: "echo" },
      endpoint_url: "/endpoints/chat/invocations",
      limit: null,
    });
    const one = await (await fetch(`${gw.url}/api/2.0/endpoints/limited`)).json();
    expect(one).toMatchObject({ name: "limited", limit: { calls: 1, renewal_period: "hour" } });
    const missing = await fetch(`${gw.url}/api/2.0/endpoints/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ detail: 'unknown endpoint "nope"', error_code: "NotFound" });
  });

  it("streams chat as `data:` chunks with usage on the last", async () => {
    const res = await post("chat", { messages: [{ role: "user", content: "a b" }], stream: true });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const chunks = (await res.text())
      .split("\n\n")
      .filter(Boolean)
      .map((b) => JSON.parse(b.replace(/^data: /, "")) as { choices: { delta: { content?: string } }[]; usage?: { total_tokens: number } });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("echo: a b");
    expect(chunks.at(-1)?.usage?.total_tokens).toBe(5);
  });

  it("embeddings accept `input` and the older `text`", async () => {
    for (const body of [{ input: ["x y"] }, { text: ["x y"] }]) {
      const res = (await (await post("embeddings", body)).json()) as { data: { embedding: number[] }[] };
      expect(res.data[0]?.embedding).toHaveLength(8);
    }
  });

  it("errors: bad payload 400, wrong types 400, rate limit 429 with retry-after", async () => {
    const bad = await post("chat", { messages: "nope" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error_code: string }).error_code).toBe("InvalidArgument");
    const predictOnChat = await post("completions", { dataframe_split: {} });
    expect(predictOnChat.status).toBe(400);
    expect((await post("limited", { messages: [{ role: "user", content: "1" }] })).status).toBe(200);
    const limited = await post("limited", { messages: [{ role: "user", content: "2" }] });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
