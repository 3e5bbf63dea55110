// Issue: a NUL in a ledger row's text (an endpoint or model name, a JWT subject) made PostgreSQL
// refuse the whole batch ("invalid byte sequence for encoding UTF8: 0x00"); the writer retried it
// forever, the queue filled and every later call got 503 until a restart. Endpoint names with
// control characters are now refused at the edge (bounds interceptor, 400) and never reach the
// ledger; text that does reach it (here a JWT subject, which the identity provider chose) is
// stored with the NUL replaced by U+FFFD, and the ledger keeps flowing.
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LedgerRow } from "../../src/store/types";
import { startTestPostgres, type TestPostgres } from "../support/postgres";
import { echoEndpoints, startGateway, type TestGateway } from "./harness";

const secret = "a-test-hmac-secret-of-enough-length-0123456789";
let postgres: TestPostgres;
let gw: TestGateway;

beforeAll(async () => {
  postgres = await startTestPostgres();
  gw = await startGateway(
    `
store: { database_url: "${await postgres.createDatabase()}" }
auth: { enabled: true, jwt: { issuer: "https://idp.test", audience: modelgate, secret: $JWT_SECRET } }
access: { grants: [{ endpoints: ["*"], teams: [t] }] }
endpoints:${echoEndpoints}`,
    { JWT_SECRET: secret },
  );
});
afterAll(async () => {
  await gw?.close();
  await postgres?.stop();
});

function token(subject: string): Promise<string> {
  return new SignJWT({ team: "t", roles: ["user"] })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(subject)
    .setIssuer("https://idp.test")
    .setAudience("modelgate")
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(secret));
}

async function chat(model: string, requestId: string, bearer: string): Promise<number> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json", "x-request-id": requestId },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  await res.body?.cancel();
  return res.status;
}

/** flushLedger, failing the test rather than hanging if the ledger is stuck. */
async function flushed(): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the ledger did not flush within 10 s: stuck")), 10_000);
  });
  try {
    await Promise.race([gw.gateway.flushLedger(), stuck]);
  } finally {
    clearTimeout(timer);
  }
}

describe("a NUL in a caller's text (PostgreSQL store)", () => {
  it("an endpoint name with a NUL is refused at the edge (400) and leaves the ledger alone", async () => {
    const bearer = await token("alice");
    expect(await chat("x\u0000", "nul-endpoint", bearer)).toBe(400);
    expect(await chat("chat", "after-endpoint", bearer)).toBe(200);
    await flushed();
    const ids: string[] = [];
    for await (const row of gw.gateway.store.ledger.rows({})) ids.push(row.requestId);
    expect(ids).toContain("after-endpoint");
    expect(ids).not.toContain("nul-endpoint");
  });

  it("a JWT subject with a NUL is recorded with U+FFFD; the ledger keeps flowing and later calls are served", async () => {
    const odd = await token("mallory\u0000admin");
    const plain = await token("bob");
    expect(await chat("chat", "nul-subject-1", odd)).toBe(200);
    expect(await chat("chat", "nul-subject-2", odd)).toBe(200);
    await flushed();
    for (let i = 0; i < 3; i++) expect(await chat("chat", `after-subject-${i}`, plain)).toBe(200);
    await flushed();
    const rows = new Map<string, LedgerRow>();
    for await (const row of gw.gateway.store.ledger.rows({})) rows.set(row.requestId, row);
    for (const id of ["nul-subject-1", "nul-subject-2"]) {
      expect(rows.get(id)).toMatchObject({ keyId: "jwt:mallory\ufffdadmin", team: "t", status: "ok" });
    }
    for (let i = 0; i < 3; i++) expect(rows.get(`after-subject-${i}`)).toMatchObject({ keyId: "jwt:bob", status: "ok" });
    // Asking for that subject's spend (budget seeding) works too, where a NUL would fail the query.
    expect(await gw.gateway.store.ledger.spend({ keyId: "jwt:mallory\u0000admin" }, new Date(0))).toBe(0);
  });
});
