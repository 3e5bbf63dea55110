// EndpointService through a real gateway with auth on: a key limited to some endpoints sees only
// those, in ListEndpoints and GetEndpoint (gRPC, Connect) and in the REST surfaces built on them
// (OpenAI /v1/models, MLflow /api/2.0/endpoints). Another endpoint, or a name that does not
// exist, is PERMISSION_DENIED with the call path's own message, so neither its details (targets,
// breaker, health) nor whether it exists leak; an admin key sees every endpoint and NOT_FOUND.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { AdminService } from "../../gen/modelgate/v1/admin_pb";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { EndpointService } from "../../gen/modelgate/v1/endpoint_pb";
import { transportFor, type ProtocolName } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";

const keys = { ADMIN_KEY: "sk-admin-visibility-0123456789", LIMITED_KEY: "sk-limited-visibility-0123456789" };
const auth = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
let gw: TestGateway;
/** A store key made through AdminService, limited to "chat". */
let storedSecret = "";

beforeAll(async () => {
  gw = await startGateway(
    `
store: { database_url: "sqlite::memory:", key_refresh_ms: 100 }
auth:
  enabled: true
  keys:
    - { name: ops, key: $ADMIN_KEY, roles: [admin] }
    - { name: limited, key: $LIMITED_KEY, endpoints: [chat] }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
  - name: secret
    endpoint_type: llm/v1/chat
    targets:
      - { name: blue, model: { provider: echo, name: echo-blue } }
      - { name: green, model: { provider: echo, name: echo-green } }
`,
    keys,
  );
  storedSecret = (await createClient(AdminService, transportFor("grpc", gw.url)).createKey({ name: "stored", endpoints: ["chat"] }, auth(keys.ADMIN_KEY))).secret;
  // The key cache polls every 100 ms: wait until the new key is known.
  const endpoints = createClient(EndpointService, transportFor("grpc", gw.url));
  for (let known = false; !known; ) {
    known = (await endpoints.listEndpoints({}, auth(storedSecret)).catch(() => undefined)) !== undefined;
    if (!known) await new Promise((r) => setTimeout(r, 50));
  }
});
afterAll(() => gw.close());

const limitedKeys = () => [
  ["a config key", keys.LIMITED_KEY],
  ["a store key", storedSecret],
];

describe.each<ProtocolName>(["grpc", "connect-json-h1"])("EndpointService over %s", (protocol) => {
  const endpoints = () => createClient(EndpointService, transportFor(protocol, gw.url));
  const chat = () => createClient(ChatService, transportFor(protocol, gw.url));

  it("a limited key lists and gets only the endpoints it may call; others are refused as a call to them is", async () => {
    for (const [who, key] of limitedKeys()) {
      expect((await endpoints().listEndpoints({}, auth(key!))).endpoints.map((e) => e.name), who).toEqual(["chat"]);
      expect((await endpoints().getEndpoint({ name: "chat" }, auth(key!))).endpoint?.name).toBe("chat");
      for (const name of ["secret", "no-such-endpoint"]) {
        let targets: string | null = null;
        const refused = await failure(endpoints().getEndpoint({ name }, { ...auth(key!), onHeader: (h) => (targets = h.get("x-modelgate-targets")) }));
        const called = await failure(chat().chat({ endpoint: name, messages: [{ role: "user", content: "hi" }] }, auth(key!)));
        expect(refused.code, `${who}: ${name}`).toBe(Code.PermissionDenied);
        expect(refused.rawMessage).toBe(called.rawMessage);
        expect(targets).toBeNull();
      }
    }
  });

  it("an admin key lists and gets every endpoint; an unknown name is NOT_FOUND", async () => {
    expect((await endpoints().listEndpoints({}, auth(keys.ADMIN_KEY))).endpoints.map((e) => e.name)).toEqual(["chat", "secret"]);
    expect((await endpoints().getEndpoint({ name: "secret" }, auth(keys.ADMIN_KEY))).endpoint?.targets.map((t) => t.name)).toEqual(["blue", "green"]);
    const unknown = await failure(endpoints().getEndpoint({ name: "no-such-endpoint" }, auth(keys.ADMIN_KEY)));
    expect([unknown.code, unknown.rawMessage]).toEqual([Code.NotFound, 'unknown endpoint "no-such-endpoint"']);
  });
});

describe("the REST surfaces", () => {
  it("OpenAI /v1/models and MLflow /api/2.0/endpoints show a limited key only its endpoints (403 for others)", async () => {
    const get = (path: string, key: string) => fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    for (const [who, key] of limitedKeys()) {
      const models = (await (await get("/v1/models", key!)).json()) as { data: { id: string }[] };
      expect(models.data.map((m) => m.id), who).toEqual(["chat"]);
      const mlflow = (await (await get("/api/2.0/endpoints/", key!)).json()) as { endpoints: { name: string }[] };
      expect(mlflow.endpoints.map((e) => e.name)).toEqual(["chat"]);
      for (const path of ["/v1/models/secret", "/v1/models/no-such-endpoint", "/api/2.0/endpoints/secret", "/api/2.0/endpoints/no-such-endpoint"]) {
        const res = await get(path, key!);
        expect(res.status, `${who}: ${path}`).toBe(403);
        expect(await res.text()).not.toMatch(/blue|green|echo-/);
      }
    }
    expect(((await (await get("/v1/models", keys.ADMIN_KEY)).json()) as { data: { id: string }[] }).data.map((m) => m.id)).toEqual(["chat", "secret"]);
  });
});
