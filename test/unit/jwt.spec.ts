import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, UnsecuredJWT, type JWTPayload } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { effectiveAlgorithms, jwtConfigSchema, type JwtConfigInput } from "../../src/auth/config";
import { createJwtVerifier, looksLikeJwt, type JwtVerifier } from "../../src/auth/jwt";
import { Code, ConnectError } from "../../src/errors";
import { startJwksServer, type JwksServer } from "../support/jwks-server";

const issuer = "https://id.example.test/";
const audience = "modelgate";
const now = () => Math.floor(Date.now() / 1000);

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsaPublicPem = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
const secret = "an-hmac-secret-that-is-long-enough-for-hs256!";

function parseConfig(input: Partial<JwtConfigInput>) {
  return jwtConfigSchema.parse({ issuer, audience, ...input });
}

function verifierFor(input: Partial<JwtConfigInput>): JwtVerifier {
  return createJwtVerifier(parseConfig(input));
}

function claims(extra: JWTPayload = {}): JWTPayload {
  return { iss: issuer, aud: audience, sub: "user-1", team: "search", roles: ["user"], exp: now() + 600, iat: now(), ...extra };
}

async function signRs256(payload: JWTPayload, key: KeyObject = rsa.privateKey, alg = "RS256"): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(key);
}

/** The three parts of a compact token, to check none of them leaks into an error. */
function secretParts(token: string): string[] {
  return [token, ...token.split(".").filter((p) => p.length >= 8)];
}

/** Asserts the rejection's code and message, and that nothing of the token travels with it. */
async function expectRejected(verifier: JwtVerifier, token: string, code: Code, message: string | RegExp) {
  const err = await verifier.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the token was accepted").toBeInstanceOf(ConnectError);
  const ce = err as ConnectError;
  expect(Code[ce.code]).toBe(Code[code]);
  if (typeof message === "string") expect(ce.rawMessage).toBe(message);
  else expect(ce.rawMessage).toMatch(message);
  const visible = [ce.message, ce.rawMessage, JSON.stringify([...ce.metadata]), JSON.stringify(ce.details)];
  if (code === Code.Unauthenticated) expect(ce.cause).toBeUndefined();
  for (const part of secretParts(token)) {
    for (const text of visible) expect(text).not.toContain(part);
  }
}

/** "a.b.c" with part `i` replaced. */
function withPart(token: string, i: number, part: string): string {
  const parts = token.split(".");
  parts[i] = part;
  return parts.join(".");
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("auth.jwt config", () => {
  it("applies the documented defaults", () => {
    const c = parseConfig({ public_key: rsaPublicPem });
    expect(c).toMatchObject({
      team_claim: "team",
      roles_claim: "roles",
      subject_claim: "sub",
      clock_tolerance_s: 30,
      required_claims: [],
      jwks_cooldown_s: 30,
      jwks_cache_max_age_s: 600,
      jwks_timeout_ms: 5000,
    });
  });

  it("defaults the algorithms to what the key type can verify", () => {
    expect(effectiveAlgorithms(parseConfig({ public_key: rsaPublicPem }))).toEqual([
      "RS256",
      "RS384",
      "RS512",
      "PS256",
      "PS384",
      "PS512",
    ]);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey.export({ type: "spki", format: "pem" }).toString();
    expect(effectiveAlgorithms(parseConfig({ public_key: ec }))).toEqual(["ES384"]);
    const ed = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }).toString();
    expect(effectiveAlgorithms(parseConfig({ public_key: ed }))).toEqual(["EdDSA", "Ed25519"]);
    expect(effectiveAlgorithms(parseConfig({ secret }))).toEqual(["HS256"]);
    const jwks = effectiveAlgorithms(parseConfig({ jwks_url: "https://id.example.test/jwks" }));
    expect(jwks).toContain("RS256");
    expect(jwks).toContain("ES256");
    expect(jwks.some((a) => a.startsWith("HS"))).toBe(false);
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    ["no key at all", {}, /exactly one of `jwks_url`, `public_key` or `secret`/],
    ["two keys", { public_key: rsaPublicPem, secret }, /exactly one of/],
    ['"none" as an algorithm', { public_key: rsaPublicPem, algorithms: ["none"] }, /algorithms/],
    ["HS256 with a public key (algorithm confusion)", { public_key: rsaPublicPem, algorithms: ["HS256"] }, /HS256 cannot be verified with this key/],
    ["RS256 with a secret", { secret, algorithms: ["RS256"] }, /RS256 cannot be verified/],
    ["ES256 with an RSA key", { public_key: rsaPublicPem, algorithms: ["ES256"] }, /ES256 cannot be verified/],
    ["a short HMAC secret", { secret: "too-short" }, /at least 32 bytes/],
    ["a private key", { public_key: rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString() }, /private key/],
    ["a PEM that is not a key", { public_key: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----" }, /not a PEM public key/],
    ["a plain-http JWKS on another host", { jwks_url: "http://id.example.test/jwks" }, /use https/],
    ["a JWKS URL that is not a URL", { jwks_url: "id.example.test/jwks" }, /not a valid URL/],
    ["a negative clock tolerance", { secret, clock_tolerance_s: -1 }, /clock_tolerance_s/],
    ["an unknown key", { secret, audiences: ["x"] }, /audiences/],
  ];
  it.each(refused)("refuses %s", (_, input, message) => {
    const result = jwtConfigSchema.safeParse({ issuer, audience, ...input });
    expect(result.success).toBe(false);
    const text = result.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n");
    expect(text).toMatch(message);
    expect(text).not.toContain("too-short");
  });

  it("accepts plain http for a loopback JWKS only", () => {
    for (const url of ["http://127.0.0.1:9/jwks", "http://localhost/jwks", "http://[::1]:8080/jwks", "https://id.example.test/jwks"]) {
      expect(jwtConfigSchema.safeParse({ issuer, audience, jwks_url: url }).success, url).toBe(true);
    }
  });
});

describe("createJwtVerifier with a static key", () => {
  const verifier = verifierFor({ public_key: rsaPublicPem });

  it("maps the claims to a principal", async () => {
    const exp = now() + 600;
    const token = await signRs256(claims({ exp, roles: ["user", "admin", "user"] }));
    expect(await verifier.verify(token)).toEqual({
      subject: "user-1",
      team: "search",
      roles: ["user", "admin"],
      expiresAt: new Date(exp * 1000),
    });
  });

  it("accepts roles as a space-separated string, no roles, and no team", async () => {
    expect((await verifier.verify(await signRs256(claims({ roles: "user  admin" })))).roles).toEqual(["user", "admin"]);
    const bare = await verifier.verify(await signRs256(claims({ roles: undefined, team: undefined })));
    expect(bare.roles).toEqual([]);
    expect(bare.team).toBeUndefined();
  });

  it("reads namespaced claim names exactly and nested claims by dotted path", async () => {
    const v = verifierFor({
      public_key: rsaPublicPem,
      team_claim: "https://example.com/team",
      roles_claim: "realm_access.roles",
      subject_claim: "preferred_username",
    });
    const token = await signRs256(
      claims({ "https://example.com/team": "ml", realm_access: { roles: ["scientist"] }, preferred_username: "ada" }),
    );
    expect(await v.verify(token)).toMatchObject({ subject: "ada", team: "ml", roles: ["scientist"] });
  });

  it("accepts any of several audiences, and a token naming several audiences", async () => {
    const v = verifierFor({ public_key: rsaPublicPem, audience: ["other", "modelgate"] });
    expect((await v.verify(await signRs256(claims({ aud: "modelgate" })))).subject).toBe("user-1");
    expect((await v.verify(await signRs256(claims({ aud: ["billing", "other"] })))).subject).toBe("user-1");
  });

  it("verifies HS256 tokens against a shared secret", async () => {
    const v = verifierFor({ secret });
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(secret));
    expect((await v.verify(token)).team).toBe("search");
    const forged = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(`${secret}x`));
    await expectRejected(v, forged, Code.Unauthenticated, "token signature invalid");
  });

  it("verifies ES256 and EdDSA keys", async () => {
    for (const type of ["ec", "ed25519"] as const) {
      const pair = type === "ec" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
      const v = verifierFor({ public_key: pair.publicKey.export({ type: "spki", format: "pem" }).toString() });
      const token = await signRs256(claims(), pair.privateKey, type === "ec" ? "ES256" : "EdDSA");
      expect((await v.verify(token)).subject).toBe("user-1");
    }
  });

  it("refuses a tampered payload", async () => {
    const token = await signRs256(claims());
    const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as JWTPayload;
    const tampered = withPart(token, 1, b64({ ...payload, team: "finance", roles: ["admin"] }));
    await expectRejected(verifier, tampered, Code.Unauthenticated, "token signature invalid");
  });

  it("refuses a tampered signature", async () => {
    const token = await signRs256(claims());
    const signature = Buffer.from(token.split(".")[2]!, "base64url");
    signature[10] = signature[10]! ^ 0x01;
    await expectRejected(verifier, withPart(token, 2, signature.toString("base64url")), Code.Unauthenticated, "token signature invalid");
    await expectRejected(verifier, withPart(token, 2, ""), Code.Unauthenticated, "token signature invalid");
  });

  it('refuses unsigned tokens (alg "none") in every spelling', async () => {
    const unsecured = new UnsecuredJWT(claims()).encode();
    expect(looksLikeJwt(unsecured)).toBe(true);
    await expectRejected(verifier, unsecured, Code.Unauthenticated, "token algorithm not allowed");
    const payload = b64(claims());
    for (const alg of ["none", "None", "NONE", "nOnE"]) {
      await expectRejected(verifier, `${b64({ alg, typ: "JWT" })}.${payload}.`, Code.Unauthenticated, "token algorithm not allowed");
    }
    // A real signature under a header claiming "none" is not a way around it either.
    const signed = await signRs256(claims());
    await expectRejected(verifier, withPart(signed, 0, b64({ alg: "none" })), Code.Unauthenticated, "token algorithm not allowed");
  });

  it("refuses an HS256 token signed with the RSA public key as its secret (algorithm confusion)", async () => {
    for (const secretBytes of [new TextEncoder().encode(rsaPublicPem), rsa.publicKey.export({ type: "spki", format: "der" })]) {
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).sign(new Uint8Array(secretBytes));
      await expectRejected(verifier, token, Code.Unauthenticated, "token algorithm not allowed");
    }
  });

  it("refuses an algorithm the key allows but the config does not", async () => {
    const v = verifierFor({ public_key: rsaPublicPem, algorithms: ["RS256"] });
    await expectRejected(v, await signRs256(claims(), rsa.privateKey, "PS256"), Code.Unauthenticated, "token algorithm not allowed");
  });

  it("refuses a token signed by another key", async () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await expectRejected(verifier, await signRs256(claims(), other.privateKey), Code.Unauthenticated, "token signature invalid");
  });

  it("refuses expired tokens, with the clock tolerance", async () => {
    await expectRejected(verifier, await signRs256(claims({ exp: now() - 31 })), Code.Unauthenticated, "token expired");
    expect((await verifier.verify(await signRs256(claims({ exp: now() - 20 })))).subject).toBe("user-1");
    const strict = verifierFor({ public_key: rsaPublicPem, clock_tolerance_s: 0 });
    await expectRejected(strict, await signRs256(claims({ exp: now() - 2 })), Code.Unauthenticated, "token expired");
  });

  it("with max_token_age_s: refuses a token older than that whatever its exp, one without iat, one issued in the future", async () => {
    const aged = verifierFor({ public_key: rsaPublicPem, max_token_age_s: 3600, clock_tolerance_s: 30 });
    // A year-long token issued two hours ago: exp is fine, its age is not.
    const old = await signRs256(claims({ iat: now() - 7200, exp: now() + 365 * 86_400 }));
    await expectRejected(aged, old, Code.Unauthenticated, "token too old (issued more than 3600 s ago)");
    await expect(verifierFor({ public_key: rsaPublicPem }).verify(old)).resolves.toMatchObject({ subject: "user-1" });
    // Within the age (and its tolerance): accepted.
    const iat = now() - 3600;
    const within = await aged.verify(await signRs256(claims({ iat, exp: now() + 86_400 })));
    // It ends at iat + the maximum age, before its exp.
    expect(within).toMatchObject({ subject: "user-1", expiresAt: new Date((iat + 3600) * 1000) });
    await expectRejected(aged, await signRs256(claims({ iat: undefined })), Code.Unauthenticated, 'token claim "iat" missing');
    await expectRejected(aged, await signRs256(claims({ iat: now() + 600 })), Code.Unauthenticated, "token issued in the future");
    expect(() => parseConfig({ public_key: rsaPublicPem, max_token_age_s: 10 })).toThrow(/max_token_age_s/);
  });

  it("refuses tokens that are not valid yet (nbf), with the clock tolerance", async () => {
    await expectRejected(verifier, await signRs256(claims({ nbf: now() + 120 })), Code.Unauthenticated, "token not yet valid");
    expect((await verifier.verify(await signRs256(claims({ nbf: now() + 10 })))).subject).toBe("user-1");
    await expectRejected(verifier, await signRs256(claims({ nbf: "soon" as unknown as number })), Code.Unauthenticated, 'token claim "nbf" invalid');
  });

  it("refuses a wrong or missing audience", async () => {
    await expectRejected(verifier, await signRs256(claims({ aud: "another-service" })), Code.Unauthenticated, "token audience mismatch");
    await expectRejected(verifier, await signRs256(claims({ aud: ["a", "b"] })), Code.Unauthenticated, "token audience mismatch");
    await expectRejected(verifier, await signRs256(claims({ aud: undefined })), Code.Unauthenticated, 'token claim "aud" missing');
  });

  it("refuses a wrong or missing issuer", async () => {
    await expectRejected(verifier, await signRs256(claims({ iss: "https://evil.example.test/" })), Code.Unauthenticated, "token issuer mismatch");
    await expectRejected(verifier, await signRs256(claims({ iss: undefined })), Code.Unauthenticated, 'token claim "iss" missing');
  });

  it("refuses a token without exp (it would never expire) or without a subject", async () => {
    await expectRejected(verifier, await signRs256(claims({ exp: undefined })), Code.Unauthenticated, 'token claim "exp" missing');
    await expectRejected(verifier, await signRs256(claims({ sub: undefined })), Code.Unauthenticated, 'token claim "sub" missing');
    await expectRejected(verifier, await signRs256(claims({ sub: "" })), Code.Unauthenticated, 'token claim "sub" must be a non-empty string');
  });

  it("refuses a token without the team claim when it is required", async () => {
    const v = verifierFor({ public_key: rsaPublicPem, required_claims: ["team"] });
    await expectRejected(v, await signRs256(claims({ team: undefined })), Code.Unauthenticated, 'token claim "team" missing');
    expect((await v.verify(await signRs256(claims()))).team).toBe("search");
    const nested = verifierFor({ public_key: rsaPublicPem, team_claim: "org.team", required_claims: ["org.team"] });
    await expectRejected(nested, await signRs256(claims({ org: {} })), Code.Unauthenticated, 'token claim "org.team" missing');
    expect((await nested.verify(await signRs256(claims({ org: { team: "ml" } })))).team).toBe("ml");
  });

  it("refuses team and roles claims of the wrong type", async () => {
    await expectRejected(verifier, await signRs256(claims({ team: ["a", "b"] })), Code.Unauthenticated, 'token claim "team" must be a non-empty string');
    await expectRejected(
      verifier,
      await signRs256(claims({ roles: [1, 2] })),
      Code.Unauthenticated,
      'token claim "roles" must be a list of strings or a space-separated string',
    );
  });

  it("refuses malformed tokens", async () => {
    const good = await signRs256(claims());
    const cases = [
      "not-a-token-at-all",
      "only.two",
      `${good}.extra.parts`,
      withPart(good, 0, "!!!!"),
      withPart(good, 0, b64(["alg", "RS256"])),
      withPart(good, 1, Buffer.from("not json").toString("base64url")),
      withPart(good, 1, b64(["an", "array"])),
      `${good.split(".")[0]}.${"A".repeat(17 * 1024)}.${good.split(".")[2]}`,
    ];
    for (const token of cases) {
      // A payload that is not JSON cannot be signed by the issuer: the signature fails first
      // or the structure does; either way it is a short UNAUTHENTICATED with no echo.
      await expectRejected(verifier, token, Code.Unauthenticated, /^token (malformed|signature invalid)$/);
    }
    await expectRejected(verifier, "only.two", Code.Unauthenticated, "token malformed");
    await expectRejected(verifier, withPart(good, 0, "!!!!"), Code.Unauthenticated, "token malformed");
  });

  it("stops waiting when the call is canceled", async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await verifier.verify(await signRs256(claims()), controller.signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Canceled);
    const live = new AbortController();
    expect((await verifier.verify(await signRs256(claims()), live.signal)).subject).toBe("user-1");
  });
});

describe("createJwtVerifier with a JWKS URL", () => {
  let idp: JwksServer;
  beforeAll(async () => {
    idp = await startJwksServer();
  });
  afterAll(async () => {
    await idp.close();
  });
  afterEach(() => idp.failWith(undefined));

  const jwksVerifier = (extra: Partial<JwtConfigInput> = {}) => verifierFor({ jwks_url: idp.url, jwks_cooldown_s: 0, ...extra });

  it("fetches the keys once and verifies from the cache", async () => {
    const v = jwksVerifier();
    const before = idp.fetches;
    expect((await v.verify(await idp.sign(claims()))).team).toBe("search");
    expect((await v.verify(await idp.sign(claims({ team: "ml" })))).team).toBe("ml");
    expect(idp.fetches - before).toBe(1);
  });

  it("follows a key rotation: the new kid is fetched, the withdrawn kid is refused", async () => {
    const v = jwksVerifier();
    const oldKid = idp.currentKid();
    const oldToken = await idp.sign(claims());
    expect((await v.verify(oldToken)).subject).toBe("user-1");
    const fetchesBefore = idp.fetches;

    const newKid = await idp.rotate();
    expect(idp.publishedKids()).toEqual([newKid]);
    const newToken = await idp.sign(claims({ sub: "user-2" }));
    expect((await v.verify(newToken)).subject).toBe("user-2");
    expect(idp.fetches - fetchesBefore).toBe(1);

    // Still signed correctly by the old private key, but the issuer withdrew that key.
    const stale = await idp.sign(claims(), { kid: oldKid });
    await expectRejected(v, stale, Code.Unauthenticated, "token signing key unknown");
    await expectRejected(v, oldToken, Code.Unauthenticated, "token signing key unknown");
  });

  it("accepts both kids while a rotation keeps the old key published", async () => {
    const v = jwksVerifier();
    const oldKid = idp.currentKid();
    await idp.rotate({ keepOld: true });
    expect((await v.verify(await idp.sign(claims()))).subject).toBe("user-1");
    expect((await v.verify(await idp.sign(claims(), { kid: oldKid }))).subject).toBe("user-1");
    await idp.rotate();
  });

  it("does not refetch for an unknown kid during the cooldown (no fetch storm from forged kids)", async () => {
    const v = jwksVerifier({ jwks_cooldown_s: 30 });
    expect((await v.verify(await idp.sign(claims()))).subject).toBe("user-1");
    const before = idp.fetches;
    // Tokens naming kids the issuer never published (the signature does not matter: the key
    // lookup fails first).
    const forged = await idp.sign(claims());
    const header = JSON.parse(Buffer.from(forged.split(".")[0]!, "base64url").toString()) as Record<string, string>;
    for (let i = 0; i < 5; i++) {
      await expectRejected(v, withPart(forged, 0, b64({ ...header, kid: `forged-${i}` })), Code.Unauthenticated, "token signing key unknown");
    }
    expect(idp.fetches).toBe(before);
  });

  it("refuses HS256 tokens without fetching the JWKS (algorithm confusion)", async () => {
    const v = jwksVerifier();
    const before = idp.fetches;
    const jwk = JSON.stringify({ kid: idp.currentKid() });
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256", kid: idp.currentKid() }).sign(new TextEncoder().encode(jwk.padEnd(64, "x")));
    await expectRejected(v, token, Code.Unauthenticated, "token algorithm not allowed");
    await expectRejected(v, new UnsecuredJWT(claims()).encode(), Code.Unauthenticated, "token algorithm not allowed");
    expect(idp.fetches).toBe(before);
  });

  it("checks the claims of JWKS-signed tokens too", async () => {
    const v = jwksVerifier({ required_claims: ["team"] });
    await expectRejected(v, await idp.sign(claims({ exp: now() - 60 })), Code.Unauthenticated, "token expired");
    await expectRejected(v, await idp.sign(claims({ aud: "x" })), Code.Unauthenticated, "token audience mismatch");
    await expectRejected(v, await idp.sign(claims({ iss: "x" })), Code.Unauthenticated, "token issuer mismatch");
    await expectRejected(v, await idp.sign(claims({ team: undefined })), Code.Unauthenticated, 'token claim "team" missing');
    const token = await idp.sign(claims());
    const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as JWTPayload;
    await expectRejected(v, withPart(token, 1, b64({ ...payload, team: "finance" })), Code.Unauthenticated, "token signature invalid");
  });

  it.each([
    [{ status: 500 }, "cannot fetch JWKS (bad response)"],
    [{ status: 302 }, "cannot fetch JWKS (bad response)"],
    ["garbage" as const, "cannot fetch JWKS (bad response)"],
    ["not-a-jwks" as const, "cannot fetch JWKS (not a JSON Web Key Set)"],
    ["hang" as const, "cannot fetch JWKS (timed out)"],
    ["huge" as const, "cannot fetch JWKS (larger than 1048576 bytes)"],
    ["huge-chunked" as const, "cannot fetch JWKS (larger than 1048576 bytes)"],
  ])("reports a JWKS that fails with %j as UNAVAILABLE, then recovers", async (failure, message) => {
    const v = jwksVerifier({ jwks_timeout_ms: 300 });
    idp.failWith(failure);
    const token = await idp.sign(claims());
    await expectRejected(v, token, Code.Unavailable, message);
    idp.failWith(undefined);
    expect((await v.verify(token)).subject).toBe("user-1");
  });

  it("reports an unreachable JWKS as UNAVAILABLE", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const v = verifierFor({ jwks_url: `http://127.0.0.1:${port}/jwks` });
    await expectRejected(v, await idp.sign(claims()), Code.Unavailable, "cannot fetch JWKS (network error)");
  });

  it("stops waiting for a hanging JWKS when the call is canceled", async () => {
    const v = jwksVerifier({ jwks_timeout_ms: 10_000 });
    idp.failWith("hang");
    const controller = new AbortController();
    const pending = v.verify(await idp.sign(claims()), controller.signal).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 50);
    const err = await pending;
    // Canceled, not the JWKS timeout's error 10 s later: the cancel ended the wait.
    expect((err as ConnectError).code).toBe(Code.Canceled);
  });

  it("works with ES256 and EdDSA issuers", async () => {
    for (const alg of ["ES256", "EdDSA"] as const) {
      const other = await startJwksServer({ alg });
      try {
        const v = verifierFor({ jwks_url: other.url });
        expect((await v.verify(await other.sign(claims()))).subject).toBe("user-1");
        await expectRejected(v, await idp.sign(claims()), Code.Unauthenticated, /^token (signing key unknown|algorithm not allowed)$/);
      } finally {
        await other.close();
      }
    }
  });
});

describe("looksLikeJwt", () => {
  it("recognises signed and unsigned JWTs", async () => {
    expect(looksLikeJwt(await signRs256(claims()))).toBe(true);
    expect(looksLikeJwt(new UnsecuredJWT(claims()).encode())).toBe(true);
  });

  it.each([
    ["an API key", `mg_${Buffer.alloc(32, 7).toString("base64url")}`],
    ["two parts", `${b64({ alg: "RS256" })}.${b64({})}`],
    ["five parts (JWE)", `${b64({ alg: "RSA-OAEP", enc: "A256GCM" })}.a.b.c.d`],
    ["a header that is not JSON", "bm90IGpzb24.e30.sig"],
    ["a header without alg", `${b64({ typ: "JWT" })}.${b64({})}.sig`],
    ["a header whose alg is not a string", `${b64({ alg: 1 })}.${b64({})}.sig`],
    ["an empty payload", `${b64({ alg: "RS256" })}..sig`],
    ["characters outside base64url", `${b64({ alg: "RS256" })}.${b64({})}.si+g/`],
    ["a dotted key", "my.secret.key-with-dots"],
  ])("does not take %s for a JWT", (_, token) => {
    expect(looksLikeJwt(token)).toBe(false);
  });
});
