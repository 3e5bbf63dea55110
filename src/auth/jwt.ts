// JWT bearer tokens, verified with `jose`: signature (allow-listed algorithms only, never
// "none"), issuer, audience, exp/nbf with a clock tolerance; then the claims become a principal
// (subject, team, roles). Every way a token can be wrong is one short UNAUTHENTICATED message
// that never quotes the token.
//
// JWKS fetch failures are UNAVAILABLE ("cannot fetch JWKS"), not UNAUTHENTICATED: the token may
// be perfectly good and the fault is the identity provider's or the network's. UNAUTHENTICATED
// tells a client to throw its token away and sign in again, which does not help and, at scale,
// stampedes the identity provider; UNAVAILABLE is retryable, and alerts point at the right
// system. It still fails closed: no key, no access.
import {
  createRemoteJWKSet,
  customFetch,
  errors,
  jwtVerify,
  type CryptoKey,
  type JWTPayload,
  type JWTVerifyGetKey,
} from "jose";
import type { KeyObject } from "node:crypto";
import { Code, ConnectError, unauthenticated, unavailable } from "../errors";
import { effectiveAlgorithms, staticVerificationKey, type JwtConfig } from "./config";

export interface JwtPrincipal {
  subject: string;
  /** undefined when the token has no team claim (and the config does not require one). */
  team: string | undefined;
  roles: string[];
  expiresAt: Date;
}

export interface JwtVerifier {
  /** Resolves to the caller, or rejects with a ConnectError (UNAUTHENTICATED, UNAVAILABLE, CANCELED). */
  verify(token: string, signal?: AbortSignal): Promise<JwtPrincipal>;
}

/** Longer than any sane ID token; bounds the work an attacker can make us do per call. */
const maxTokenLength = 16 * 1024;

/** Wraps every failure to reach the JWKS, so it is told apart from a bad token. */
class JwksUnreachable extends Error {
  constructor(readonly reason: string, options: { cause: unknown }) {
    super(reason, options);
  }
}

export function createJwtVerifier(config: JwtConfig): JwtVerifier {
  const algorithms = [...effectiveAlgorithms(config)];
  const key = verificationKeyOf(config);
  // exp is always required: a token without it would never expire. With a maximum age, jose
  // requires iat and refuses a token older than that (or issued in the future).
  const maxAge = config.max_token_age_s;
  const options = {
    issuer: config.issuer,
    audience: config.audience,
    algorithms,
    clockTolerance: config.clock_tolerance_s,
    requiredClaims: maxAge === undefined ? ["exp"] : ["exp", "iat"],
    ...(maxAge !== undefined && { maxTokenAge: maxAge }),
  };
  const required = [...new Set([config.subject_claim, ...config.required_claims])];

  async function verifyToken(token: string): Promise<JwtPrincipal> {
    if (token.length > maxTokenLength || token.split(".").length !== 3) throw unauthenticated("token malformed");
    let payload: JWTPayload;
    try {
      payload = (await jwtVerify(token, key, options)).payload;
    } catch (err) {
      throw verificationError(err, maxAge);
    }
    for (const claim of required) {
      if (claimAt(payload, claim) === undefined) throw unauthenticated(`token claim "${claim}" missing`);
    }
    const subject = claimAt(payload, config.subject_claim);
    if (typeof subject !== "string" || subject === "") {
      throw unauthenticated(`token claim "${config.subject_claim}" must be a non-empty string`);
    }
    const team = claimAt(payload, config.team_claim);
    if (team !== undefined && (typeof team !== "string" || team === "")) {
      throw unauthenticated(`token claim "${config.team_claim}" must be a non-empty string`);
    }
    const roles = rolesFrom(claimAt(payload, config.roles_claim));
    if (roles === undefined) {
      throw unauthenticated(`token claim "${config.roles_claim}" must be a list of strings or a space-separated string`);
    }
    // exp is required above, and jose checked it is a number (and iat, with a maximum age).
    const exp = payload.exp ?? 0;
    const ends = maxAge === undefined || payload.iat === undefined ? exp : Math.min(exp, payload.iat + maxAge);
    return { subject, team, roles, expiresAt: new Date(ends * 1000) };
  }

  return {
    verify(token, signal) {
      if (!signal) return verifyToken(token);
      if (signal.aborted) return Promise.reject(canceled());
      // The JWKS fetch is shared by every caller, so it is not aborted: only this wait is.
      return new Promise<JwtPrincipal>((resolve, reject) => {
        const onAbort = () => reject(canceled());
        signal.addEventListener("abort", onAbort, { once: true });
        verifyToken(token).then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
      });
    },
  };
}

function verificationKeyOf(config: JwtConfig): JWTVerifyGetKey<CryptoKey> | KeyObject | Uint8Array {
  if (config.jwks_url !== undefined) return remoteKeys(config, config.jwks_url);
  const key = staticVerificationKey(config);
  if (key === undefined) throw new Error("auth.jwt: give one of jwks_url, public_key or secret");
  return key;
}

function canceled(): ConnectError {
  return new ConnectError("call canceled while verifying the token", Code.Canceled);
}

/**
 * createRemoteJWKSet caches the set, refetches it when it is older than the max age, and on a
 * `kid` it does not know (a rotation) refetches once the cooldown since the last fetch is over.
 */
function remoteKeys(config: JwtConfig, url: string): JWTVerifyGetKey<CryptoKey> {
  const jwks = createRemoteJWKSet(new URL(url), {
    cooldownDuration: config.jwks_cooldown_s * 1000,
    cacheMaxAge: config.jwks_cache_max_age_s * 1000,
    timeoutDuration: config.jwks_timeout_ms,
    [customFetch]: cappedFetch,
  });
  return async (header, token) => {
    try {
      return await jwks(header, token);
    } catch (err) {
      // No matching key (or several) is the token's problem; anything else is the fetch's.
      if (
        err instanceof errors.JWKSNoMatchingKey ||
        err instanceof errors.JWKSMultipleMatchingKeys ||
        err instanceof errors.JOSENotSupported
      ) {
        throw err;
      }
      throw new JwksUnreachable(jwksFailure(err), { cause: err });
    }
  };
}

/** Far above any identity provider's key set (a few KB), and bounded: the body is held whole. */
const MAX_JWKS_BYTES = 1024 * 1024;

class JwksTooLarge extends Error {}

/**
 * jose's fetch with the body read here, at most MAX_JWKS_BYTES: a key set URL that answers with
 * an endless or huge body fails the fetch instead of growing the heap (jose's timeout still
 * bounds it in time: its signal is passed on and aborts the body's reading too).
 */
async function cappedFetch(url: string, options: RequestInit): Promise<Response> {
  const res = await fetch(url, options);
  if (res.body === null) return res;
  if (Number(res.headers.get("content-length") ?? "NaN") > MAX_JWKS_BYTES) {
    await res.body.cancel();
    throw new JwksTooLarge();
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > MAX_JWKS_BYTES) throw new JwksTooLarge(); // leaving the loop cancels the body
    parts.push(chunk);
  }
  return new Response(Buffer.concat(parts), { status: res.status, statusText: res.statusText, headers: res.headers });
}

function jwksFailure(err: unknown): string {
  if (err instanceof JwksTooLarge) return `larger than ${MAX_JWKS_BYTES} bytes`;
  if (err instanceof errors.JWKSTimeout) return "timed out";
  if (err instanceof errors.JWKSInvalid) return "not a JSON Web Key Set";
  if (err instanceof errors.JOSEError) return "bad response";
  return "network error";
}

function verificationError(err: unknown, maxAge: number | undefined): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof JwksUnreachable) return unavailable(`cannot fetch JWKS (${err.reason})`, err.cause);
  // jose's JWTExpired names "iat" when the token is older than maxTokenAge.
  if (err instanceof errors.JWTExpired) return unauthenticated(err.claim === "iat" ? `token too old (issued more than ${maxAge} s ago)` : "token expired");
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === "missing") return unauthenticated(`token claim "${err.claim}" missing`);
    if (err.reason !== "check_failed") return unauthenticated(`token claim "${err.claim}" invalid`);
    switch (err.claim) {
      case "iss":
        return unauthenticated("token issuer mismatch");
      case "aud":
        return unauthenticated("token audience mismatch");
      case "nbf":
        return unauthenticated("token not yet valid");
      case "iat":
        return unauthenticated("token issued in the future");
      default:
        return unauthenticated(`token claim "${err.claim}" invalid`);
    }
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthenticated("token signature invalid");
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return unauthenticated("token algorithm not allowed");
  }
  if (err instanceof errors.JWKSNoMatchingKey) return unauthenticated("token signing key unknown");
  if (err instanceof errors.JWKSMultipleMatchingKeys) return unauthenticated("token signing key ambiguous (no kid)");
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return unauthenticated("token malformed");
  // jose throws TypeError when the key cannot serve the token's algorithm (e.g. a 1024-bit RSA key).
  return unauthenticated("token invalid");
}

/** A claim by its exact name, else by a dotted path ("realm_access.roles" in Keycloak tokens). */
function claimAt(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name];
  if (!name.includes(".")) return undefined;
  let value: unknown = payload;
  for (const part of name.split(".")) {
    if (value === null || typeof value !== "object" || Array.isArray(value) || !Object.hasOwn(value, part)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Roles as a list ("roles": ["a","b"]) or an OAuth scope-style string ("a b"); absent = none. */
function rolesFrom(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (typeof value === "string") return [...new Set(value.split(" ").filter((r) => r !== ""))];
  if (Array.isArray(value) && value.every((r): r is string => typeof r === "string")) {
    return [...new Set(value.filter((r) => r !== ""))];
  }
  return undefined;
}

const base64url = /^[A-Za-z0-9_-]*$/;

/**
 * Whether a bearer token is shaped like a JWS compact JWT (three base64url parts, a JSON header
 * with an `alg`), so the auth interceptor sends it to the JWT verifier rather than the key
 * lookup. An unsigned token (`alg: none`, empty signature) counts, so that it is refused as such.
 */
export function looksLikeJwt(token: string): boolean {
  if (token.length > maxTokenLength) return false;
  const parts = token.split(".");
  if (parts.length !== 3) return false;
  const [header = "", payload = ""] = parts;
  if (header === "" || payload === "" || !parts.every((p) => base64url.test(p))) return false;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
    return (
      decoded !== null &&
      typeof decoded === "object" &&
      !Array.isArray(decoded) &&
      typeof (decoded as { alg?: unknown }).alg === "string"
    );
  } catch {
    return false;
  }
}
