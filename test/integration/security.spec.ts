// Issue 5 security through the real gateway: AdminService keys (create, rotate, revoke, expiry),
// JWTs (valid, tampered, alg none, expired, wrong audience), team grants, the admin role, spend
// budgets, secrets absent from logs and errors, and no way for a caller to pick the upstream.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AdminService } from "../../gen/modelgate/v1/admin_pb";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { MAX_IDENTIFIER_CHARS, MAX_IDENTIFIER_ENTRIES } from "../../src/interceptors/bounds";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startJwksServer, type JwksServer } from "../support/jwks-server";
import { failure, startGateway, type TestGateway } from "./harness";

const adminKey = "sk-admin-security-0123456789";
const upstreamKey = "sk-upstream-secret-never-logged-42";
let gw: TestGateway;
let fake: FakeUpstream;
let jwks: JwksServer;
let admin: Client<typeof AdminService>;
let chat: Client<typeof ChatService>;
const secrets: string[] = [adminKey, upstreamKey];

beforeAll(async () => {
  fake = await startFakeUpstream();
  jwks = await startJwksServer({ alg: "RS256" });
  gw = await startGateway(
    `
store: { database_url: "sqlite::memory:", key_refresh_ms: 100 }
auth:
  enabled: true
  keys: [{ name: ops, key: $ADMIN_KEY, roles: [admin] }]
  jwt: { issuer: "https://idp.test", audience: modelgate, jwks_url: "${jwks.url}" }
access:
  grants:
    - { endpoints: ["*"], teams: [search] }
    - { endpoints: [gpt], teams: [billing] }
prices:
  - { provider: echo, model: echo-1, input_per_mtok: 1000000, output_per_mtok: 1000000 }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: $UPSTREAM_KEY, openai_api_base: "${fake.url}/v1" } } }
`,
    { ADMIN_KEY: adminKey, UPSTREAM_KEY: upstreamKey },
  );
  const transport = createGrpcTransport({ baseUrl: gw.url });
  admin = createClient(AdminService, transport);
  chat = createClient(ChatService, transport);
});
afterAll(async () => {
  await gw.close();
  await fake.close();
  await jwks.close();
  // Nothing secret ever reaches a log line: keys, made secrets, tokens, the upstream key.
  const logs = gw.rawLogs();
  for (const s of secrets) expect(logs).not.toContain(s);
});

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const asAdmin = bearer(adminKey);
const hi = [{ role: "user", content: "hi" }];
const refresh = () => new Promise((r) => setTimeout(r, 300));

describe("AdminService keys", () => {
  it("creates a key whose secret is shown once and works at once on this replica", async () => {
    const made = await admin.createKey({ name: "app", team: "search" }, asAdmin);
    secrets.push(made.secret);
    expect(made.secret).toMatch(/^mg_[A-Za-z0-9_-]{43}$/);
    expect(made.key?.prefix).toBe(made.secret.slice(0, 10));
    const listed = await admin.listKeys({}, asAdmin);
    const json = JSON.stringify(listed, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
    expect(json).not.toContain(made.secret);
    expect(json).not.toMatch(/[0-9a-f]{64}/); // no hash either
    // No wait for the key cache's poll: the answer comes once this replica's cache has the key.
    const res = await chat.chat({ endpoint: "chat", messages: hi }, bearer(made.secret));
    expect(res.choices[0]?.message?.content).toBe("echo: hi");
  });

  it("rotation kills the old secret; revocation kills the key, at once on this replica", async () => {
    const made = await admin.createKey({ name: "rotating", team: "search" }, asAdmin);
    const rotated = await admin.rotateKey({ id: made.key!.id }, asAdmin);
    secrets.push(made.secret, rotated.secret);
    expect((await failure(chat.chat({ endpoint: "chat", messages: hi }, bearer(made.secret)))).rawMessage).toBe("invalid API key");
    await chat.chat({ endpoint: "chat", messages: hi }, bearer(rotated.secret));
    await admin.revokeKey({ id: made.key!.id }, asAdmin);
    const err = await failure(chat.chat({ endpoint: "chat", messages: hi }, bearer(rotated.secret)));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toBe("API key revoked");
  });

  it("an expired key is refused", async () => {
    const made = await admin.createKey({ name: "short", team: "search", ttlSeconds: 1n }, asAdmin);
    secrets.push(made.secret);
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await failure(chat.chat({ endpoint: "chat", messages: hi }, bearer(made.secret)))).rawMessage).toBe("API key expired");
  });

  it("limits and lifetimes the API cannot carry back are refused, naming the field; ListKeys keeps answering", async () => {
    const refused = async (req: Parameters<typeof admin.createKey>[0]) => {
      const err = await failure(admin.createKey(req, asAdmin));
      expect(err.code).toBe(Code.InvalidArgument);
      return err.rawMessage;
    };
    // uint64 max, which a JS number rounds up to 2^64: stored, it made every ListKeys answer fail (INTERNAL).
    expect(await refused({ name: "huge-tpm", team: "search", limits: { tpm: 18446744073709551615n } })).toBe(
      "limits.tpm: must be a whole number from 1 to 9007199254740991",
    );
    expect(await refused({ name: "big-tpm", team: "search", limits: { tpm: 9007199254740992n } })).toMatch(/^limits\.tpm: /);
    expect(await refused({ name: "zero-rpm", team: "search", limits: { rpm: 0 } })).toBe("limits.rpm: must be a whole number from 1 to 4294967295");
    expect(await refused({ name: "nan-budget", team: "search", limits: { budgetUsd: Number.NaN } })).toBe("limits.budget_usd: must be a positive number");
    expect(await refused({ name: "forever", team: "search", ttlSeconds: 18446744073709551615n })).toBe("ttl: at most 3153600000 seconds (100 years)");
    // The largest of each still round-trips.
    const max = await admin.createKey(
      { name: "max-limits", team: "search", ttlSeconds: 3153600000n, limits: { rpm: 4294967295, tpm: 9007199254740991n } },
      asAdmin,
    );
    secrets.push(max.secret);
    expect(max.key?.limits?.tpm).toBe(9007199254740991n);
    const listed = await admin.listKeys({}, asAdmin);
    const found = listed.keys.find((k) => k.id === max.key?.id);
    expect(found?.limits?.rpm).toBe(4294967295);
    expect(found?.limits?.tpm).toBe(9007199254740991n);
    expect(listed.keys.some((k) => k.name === "huge-tpm" || k.name === "forever")).toBe(false);
  });

  it("names over the identifier bounds are refused, naming the field and the limit; at the bounds a key is made", async () => {
    const cases: [Parameters<typeof admin.createKey>[0], string][] = [
      [{ name: "bad\u0000name" }, "name: contains a control character"],
      [{ name: "x", team: "t".repeat(MAX_IDENTIFIER_CHARS + 1) }, `team: longer than ${MAX_IDENTIFIER_CHARS} characters`],
      [{ name: "x", roles: ["user\n"] }, "roles[0]: contains a control character"],
      [{ name: "x", endpoints: Array.from({ length: MAX_IDENTIFIER_ENTRIES + 1 }, (_, i) => `e${i}`) }, `endpoints: more than ${MAX_IDENTIFIER_ENTRIES} entries`],
    ];
    for (const [req, message] of cases) {
      const err = await failure(admin.createKey(req, asAdmin));
      expect(err.code, message).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toBe(message);
    }
    const err = await failure(admin.revokeKey({ id: "k".repeat(MAX_IDENTIFIER_CHARS + 1) }, asAdmin));
    expect([err.code, err.rawMessage]).toEqual([Code.InvalidArgument, `id: longer than ${MAX_IDENTIFIER_CHARS} characters`]);
    const made = await admin.createKey({ name: "at-the-bounds", team: "t".repeat(MAX_IDENTIFIER_CHARS) }, asAdmin);
    secrets.push(made.secret);
    expect(made.key?.team).toHaveLength(MAX_IDENTIFIER_CHARS);
  });

  it("admin calls without the admin role: PERMISSION_DENIED naming what is missing", async () => {
    const made = await admin.createKey({ name: "plain", team: "search" }, asAdmin);
    secrets.push(made.secret);
    await refresh();
    const err = await failure(admin.listKeys({}, bearer(made.secret)));
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.rawMessage).toBe('AdminService needs role "admin"');
    expect((await failure(admin.listKeys({}))).code).toBe(Code.Unauthenticated);
  });

  it("a team without a grant for the endpoint: PERMISSION_DENIED naming the endpoint, not who may call it", async () => {
    const made = await admin.createKey({ name: "billing-app", team: "billing" }, asAdmin);
    secrets.push(made.secret);
    await refresh();
    const err = await failure(chat.chat({ endpoint: "chat", messages: hi }, bearer(made.secret)));
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.rawMessage).toContain('"chat"');
    expect(err.rawMessage).not.toContain("search");
  });

  it("a spend budget refuses the call that would exceed it", async () => {
    // echo-1 costs $1 a token here: a call reserves its prompt estimate + max_tokens 10 (~$18)
    // and settles to what echo used (~$3), so a $25 budget admits a few calls, then refuses.
    const made = await admin.createKey({ name: "budgeted", team: "search", limits: { budgetUsd: 25, budgetPeriod: "day" } }, asAdmin);
    secrets.push(made.secret);
    await refresh();
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) {
      try {
        await chat.chat({ endpoint: "chat", messages: hi, maxTokens: 10 }, bearer(made.secret));
        outcomes.push("ok");
      } catch (err) {
        outcomes.push((err as Error).message);
      }
    }
    expect(outcomes.slice(0, 2)).toEqual(["ok", "ok"]);
    expect(outcomes.at(-1)).toMatch(/budget of \$25 per day for key "budgeted" reached; retry in \d+s/);
  });
});

describe("JWT bearer tokens", () => {
  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: "https://idp.test",
    aud: "modelgate",
    sub: "user-7",
    team: "search",
    roles: ["user"],
    exp: Math.floor(Date.now() / 1000) + 300,
    ...extra,
  });

  it("a valid token from the JWKS calls an endpoint its team is granted", async () => {
    const token = await jwks.sign(claims());
    secrets.push(token);
    expect((await chat.chat({ endpoint: "chat", messages: hi }, bearer(token))).choices[0]?.message?.content).toBe("echo: hi");
  });

  it.each([
    ["tampered payload", async () => {
      const [h, , s] = (await jwks.sign(claims())).split(".");
      return `${h}.${Buffer.from(JSON.stringify(claims({ roles: ["admin"] }))).toString("base64url")}.${s}`;
    }],
    ["alg none", async () => `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims())).toString("base64url")}.`],
    ["expired", () => jwks.sign(claims({ exp: Math.floor(Date.now() / 1000) - 120 }))],
    ["wrong audience", () => jwks.sign(claims({ aud: "someone-else" }))],
    ["wrong issuer", () => jwks.sign(claims({ iss: "https://evil.test" }))],
  ])("%s -> UNAUTHENTICATED, token not echoed", async (_name, make) => {
    const token = await make();
    secrets.push(token);
    const err = await failure(chat.chat({ endpoint: "chat", messages: hi }, bearer(token)));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toMatch(/^token /);
    expect(err.rawMessage).not.toContain(token.slice(0, 20));
  });

  it("a token's roles grant admin; a token's team limits its endpoints", async () => {
    const adminToken = await jwks.sign(claims({ roles: ["admin"] }));
    const billing = await jwks.sign(claims({ team: "billing" }));
    secrets.push(adminToken, billing);
    await admin.listKeys({}, bearer(adminToken));
    expect((await failure(chat.chat({ endpoint: "chat", messages: hi }, bearer(billing)))).code).toBe(Code.PermissionDenied);
  });
});

describe("the caller cannot choose the upstream", () => {
  it("extras naming URLs go into the provider's body at most, never the request's destination", async () => {
    const made = await admin.createKey({ name: "extras", team: "search" }, asAdmin);
    secrets.push(made.secret);
    await refresh();
    fake.reset();
    await chat.chat(
      { endpoint: "gpt", messages: hi, extras: { openai_api_base: "http://127.0.0.1:1/v1", base_url: "http://evil.test", url: "http://evil.test" } },
      bearer(made.secret),
    );
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.path).toBe("/v1/chat/completions");
    expect(fake.requests[0]?.headers["authorization"]).toBe(`Bearer ${upstreamKey}`);
    const err = await failure(chat.chat({ endpoint: "gpt", messages: hi, extras: { model: "gpt-4o" } }, bearer(made.secret)));
    expect(err.code).toBe(Code.InvalidArgument);
  });
});
