// The MLflow gateway REST shapes, byte level, without MLflow at hand (test/mlflow-diff compares
// them with the real MLflow 3.8.1; test/interop runs MLflow's Python client): paths, listings,
// errors in MLflow's (FastAPI's) shapes, streams, the router's 404/405 per surface, OpenAPI.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatRequest } from "../../src/surfaces/mlflow/schemas";
import { echoEndpoints, startGateway, type TestGateway } from "./harness";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`endpoints:${echoEndpoints}
  - name: limited
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
    limit: { renewal_period: day, calls: 1 }
  - name: unlimited
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
    limit: null
`);
});
afterAll(() => gw.close());

const post = (path: string, body: unknown, headers: Record<string, string> = { "content-type": "application/json" }) =>
  fetch(`${gw.url}${path}`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
const invoke = (name: string, body: unknown) => post(`/gateway/${name}/invocations`, body);
const events = async (res: Response) =>
  (await res.text())
    .split("\n\n")
    .filter(Boolean)
    .map((b) => JSON.parse(b.replace(/^data: /, "")) as { choices: { delta?: Record<string, unknown>; text?: string }[]; usage?: { total_tokens: number } });

describe("MLflow surface: paths and listings", () => {
  it("GET /health", async () => {
    expect(await (await fetch(`${gw.url}/health`)).json()).toEqual({ status: "OK" });
  });

  it("lists endpoints in MLflow 3's shape: /gateway/ endpoint_url, limit with key, next_page_token", async () => {
    const list = (await (await fetch(`${gw.url}/api/2.0/endpoints/`)).json()) as { endpoints: unknown[]; next_page_token: unknown };
    expect(list.next_page_token).toBeNull();
    expect(list.endpoints[0]).toEqual({
      name: "chat",
      endpoint_type: "llm/v1/chat",
      model: { name: "echo-1", provider: "echo" },
      endpoint_url: "/gateway/chat/invocations",
      limit: null,
    });
    expect(await (await fetch(`${gw.url}/api/2.0/endpoints/limited`)).json()).toMatchObject({
      name: "limited",
      limit: { calls: 1, key: null, renewal_period: "day" },
    });
    expect(await (await fetch(`${gw.url}/api/2.0/endpoints/unlimited`)).json()).toMatchObject({ limit: null });
  });

  it("the legacy and MLflow 3 listings", async () => {
    const routes = (await (await fetch(`${gw.url}/api/2.0/gateway/routes/`)).json()) as { routes: Record<string, unknown>[] };
    expect(routes.routes[0]).toEqual({ name: "chat", route_type: "llm/v1/chat", model: { name: "echo-1", provider: "echo" }, route_url: "/gateway/chat/invocations", limit: null });
    expect(await (await fetch(`${gw.url}/api/3.0/gateway/endpoint/completions`)).json()).toMatchObject({ name: "completions", endpoint_url: "/gateway/completions/invocations" });
  });

  it("unknown endpoints: MLflow's wording per path", async () => {
    const one = await fetch(`${gw.url}/api/2.0/endpoints/nope`);
    expect(one.status).toBe(404);
    expect(await one.json()).toEqual({ detail: "The endpoint 'nope' is not present or active on the server. Please verify the endpoint name." });
    const route = await fetch(`${gw.url}/api/2.0/gateway/routes/nope`);
    expect(await route.json()).toEqual({ detail: "The route 'nope' is not present or active on the server. Please verify the route name." });
    for (const path of ["/gateway/nope/invocations", "/endpoints/nope/invocations"]) {
      const res = await post(path, { prompt: "x" });
      expect([path, res.status, await res.json()]).toEqual([path, 404, { detail: "Not Found" }]);
    }
  });

  it("both invocation paths serve an endpoint", async () => {
    for (const path of ["/gateway/chat/invocations", "/endpoints/chat/invocations"]) {
      const res = await post(path, { messages: [{ role: "user", content: "hello" }] });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe("echo: hello");
    }
  });

  it("/ redirects to /docs; /docs and /redoc load /openapi.json; /favicon.ico is an icon", async () => {
    const root = await fetch(`${gw.url}/`, { redirect: "manual" });
    expect([root.status, root.headers.get("location")]).toEqual([307, "/docs"]);
    for (const page of ["/docs", "/redoc"]) expect(await (await fetch(`${gw.url}${page}`)).text()).toContain('"/openapi.json"');
    const icon = await fetch(`${gw.url}/favicon.ico`);
    expect(icon.headers.get("content-type")).toBe("image/vnd.microsoft.icon");
    expect(Buffer.from(await icon.arrayBuffer()).subarray(0, 4)).toEqual(Buffer.from([0, 0, 1, 0]));
  });

  it("the OpenAPI document is generated from the schemas the surfaces validate with", async () => {
    const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties: Record<string, Record<string, unknown>>; required?: string[] }> };
    };
    // Every REST route of both surfaces is documented.
    for (const path of ["/gateway/{name}/invocations", "/endpoints/{name}/invocations", "/api/2.0/endpoints/", "/api/2.0/endpoints/{name}", "/v1/chat/completions", "/v1/embeddings", "/v1/models"]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    const chat = doc.components.schemas["MlflowChatRequest"]!;
    expect(chat.required).toEqual(["messages"]);
    expect(chat.properties["temperature"]).toMatchObject({ type: "number", minimum: 0, maximum: 2 });
    expect(chat.properties["messages"]).toMatchObject({ type: "array", minItems: 1 });
    // The same fields, in the same order, as the zod schema (nothing kept by hand).
    expect(Object.keys(chat.properties)).toEqual(Object.keys(chatRequest.shape));
    expect(doc.components.schemas["ChatCompletionRequest"]?.required).toContain("messages");
  });
});

describe("MLflow surface: payloads and streams", () => {
  it("a chat answer in MLflow's shape (tool_calls and refusal present, null)", async () => {
    const body = (await (await invoke("chat", { messages: [{ role: "user", content: "a b" }] })).json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      object: "chat.completion",
      model: "echo-1",
      choices: [{ index: 0, message: { role: "assistant", content: "echo: a b", tool_calls: null, refusal: null }, finish_reason: "stop" }],
      usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 },
    });
    expect(Object.keys((body["choices"] as Record<string, unknown>[])[0]!)).toEqual(["index", "message", "finish_reason"]);
  });

  it("streams chat deltas with role, content and tool_calls always present, and no usage-only chunk unless asked", async () => {
    const chunks = await events(await invoke("chat", { messages: [{ role: "user", content: "a b" }], stream: true }));
    expect(chunks.map((c) => c.choices[0]?.delta?.["content"] ?? "").join("")).toBe("echo: a b");
    for (const c of chunks) {
      expect(c.choices).toHaveLength(1);
      expect(Object.keys(c.choices[0]!.delta!).sort()).toEqual(["content", "role", "tool_calls"]);
      expect(c.usage).toBeUndefined();
    }
    const asked = await events(await invoke("chat", { messages: [{ role: "user", content: "a b" }], stream: true, stream_options: { include_usage: true } }));
    expect(asked.at(-1)).toMatchObject({ choices: [], usage: { total_tokens: 5 } });
  });

  it("streams completions as text_completion_chunk events", async () => {
    const chunks = await events(await invoke("completions", { prompt: "once upon", stream: true }));
    expect(chunks.map((c) => c.choices[0]?.text ?? "").join("")).toBe("echo: once upon");
  });

  it("embeddings accept `input` and the older `text`", async () => {
    for (const body of [{ input: ["x y"] }, { text: ["x y"] }, { input: "x y" }]) {
      const res = (await (await invoke("embeddings", body)).json()) as { data: { embedding: number[] }[] };
      expect(res.data[0]?.embedding).toHaveLength(8);
    }
  });

  it("sends MLflow's defaults on (temperature 0, n 1) and reads pydantic's lax values", async () => {
    const res = await invoke("chat", { messages: [{ role: "user", content: "a b c" }], max_tokens: "2", stream: "false" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { finish_reason: string }[] }).choices[0]?.finish_reason).toBe("length");
  });
});

describe("MLflow surface: errors as MLflow answers them", () => {
  it("422 with FastAPI's detail list for request validation", async () => {
    const cases: [string, unknown, unknown][] = [
      ["chat", { messages: "nope" }, [{ type: "list_type", loc: ["body", "messages"], msg: "Input should be a valid list", input: "nope" }]],
      ["completions", {}, [{ type: "missing", loc: ["body", "prompt"], msg: "Field required", input: {} }]],
      [
        "completions",
        { prompt: "x", temperature: 5 },
        [{ type: "less_than_equal", loc: ["body", "temperature"], msg: "Input should be less than or equal to 2", input: 5, ctx: { le: 2 } }],
      ],
    ];
    for (const [name, body, detail] of cases) {
      const res = await invoke(name, body);
      expect([res.status, await res.json()]).toEqual([422, { detail }]);
    }
  });

  it("`model` in the body is refused, as MLflow refuses it; model: null is not", async () => {
    const res = await invoke("chat", { messages: [{ role: "user", content: "x" }], model: "gpt-4" });
    expect([res.status, await res.json()]).toEqual([
      422,
      { detail: "The parameter 'model' is not permitted to be passed. The route being queried already defines a model instance." },
    ]);
    expect((await invoke("chat", { messages: [{ role: "user", content: "x" }], model: null })).status).toBe(200);
  });

  it("bodies FastAPI cannot read: JSON errors with Python's message and position, other content types, no body", async () => {
    const broken = await post("/gateway/chat/invocations", '{"messages": [1,}');
    expect(await broken.json()).toEqual({ detail: [{ type: "json_invalid", loc: ["body", 16], msg: "JSON decode error", input: {}, ctx: { error: "Expecting value" } }] });
    const text = await post("/gateway/chat/invocations", "hello", { "content-type": "text/plain" });
    expect([text.status, await text.json()]).toEqual([
      422,
      { detail: [{ type: "model_attributes_type", loc: ["body"], msg: "Input should be a valid dictionary or object to extract fields from", input: "hello" }] },
    ]);
    const empty = await post("/gateway/chat/invocations", "");
    expect(await empty.json()).toEqual({ detail: [{ type: "missing", loc: ["body"], msg: "Field required", input: null }] });
  });

  it("the endpoint's rate limit: MLflow's 429 body, with retry-after and x-ratelimit-* on top", async () => {
    expect((await invoke("limited", { messages: [{ role: "user", content: "1" }] })).status).toBe(200);
    const limited = await invoke("limited", { messages: [{ role: "user", content: "2" }] });
    expect([limited.status, await limited.json()]).toEqual([429, { error: "Rate limit exceeded: 1 per 1 day" }]);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(limited.headers.get("x-ratelimit-limit-requests")).toBe("1");
  });

  it("a wrong method is 405 Method Not Allowed with `allow`, in each surface's shape", async () => {
    const mlflow = await fetch(`${gw.url}/gateway/chat/invocations`);
    expect([mlflow.status, mlflow.headers.get("allow"), await mlflow.json()]).toEqual([405, "POST", { detail: "Method Not Allowed" }]);
    const listing = await post("/api/2.0/endpoints/", {});
    expect([listing.status, listing.headers.get("allow")]).toEqual([405, "GET"]);
    const openai = await fetch(`${gw.url}/v1/chat/completions`);
    expect(openai.status).toBe(405);
    expect(((await openai.json()) as { error: { type: string } }).error.type).toBe("invalid_request_error");
  });

  it("an unknown path under a surface's prefix answers in that surface's shape, never Connect's", async () => {
    for (const path of ["/api/2.0/nope", "/api/3.0/gateway/nope/x", "/endpoints/chat", "/gateway/x/y/z"]) {
      const res = await fetch(`${gw.url}${path}`);
      expect([path, res.status, await res.json()]).toEqual([path, 404, { detail: "Not Found" }]);
    }
    const openai = await fetch(`${gw.url}/v1/nope`, { method: "POST" });
    expect([openai.status, await openai.json()]).toEqual([
      404,
      { error: { message: "Invalid URL (POST /v1/nope)", type: "invalid_request_error", param: null, code: null } },
    ]);
  });

  it("get_limits and set_limits: 501, as MLflow answers", async () => {
    const get = await fetch(`${gw.url}/api/2.0/endpoints/limits/chat`);
    expect([get.status, await get.json()]).toEqual([501, { detail: "The get_limits API is not available yet." }]);
    const set = await post("/api/2.0/gateway/limits/", { route: "chat", limits: [] });
    expect([set.status, await set.json()]).toEqual([501, { detail: "The set_limits API is not available yet." }]);
  });

  it("a body over the size limit is 413", async () => {
    const res = await post("/gateway/chat/invocations", JSON.stringify({ messages: [{ role: "user", content: "x".repeat(5 * 1024 * 1024) }] }));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/larger than/);
  });
});
