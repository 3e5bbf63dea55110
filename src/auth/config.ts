// Config for JWT bearer tokens (`auth.jwt`) and endpoint permissions (`access`). The lead plugs
// these schemas into src/config/schema.ts; the checks that need the whole file (endpoint names
// and types) are in accessConfigProblems(), for src/config/load.ts.
import { createPublicKey, type KeyObject } from "node:crypto";
import { z } from "zod";
import type { ConfigProblem } from "../config/load";

/** Signature algorithms a token may use. "none" is not in the list and cannot be configured. */
export const jwtAlgorithms = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
  "HS256",
  "HS384",
  "HS512",
] as const;
export type JwtAlgorithm = (typeof jwtAlgorithms)[number];

const rsaAlgorithms: readonly JwtAlgorithm[] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
const hmacAlgorithms: readonly JwtAlgorithm[] = ["HS256", "HS384", "HS512"];
/** Every asymmetric algorithm: what a JWKS may use unless `algorithms` narrows it. */
export const asymmetricAlgorithms: readonly JwtAlgorithm[] = jwtAlgorithms.filter((a) => !hmacAlgorithms.includes(a));

/** RFC 7518 §3.2: an HMAC key at least as long as the hash. 32 bytes covers HS256. */
const minSecretBytes = 32;

const claimName = z.string().min(1, "a claim name cannot be empty");

export const jwtConfigSchema = z
  .strictObject({
    /** Expected `iss`. Required: a token from another issuer is never accepted. */
    issuer: z.string().min(1),
    /** Expected `aud`: the token must name at least one of these. */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** Where the issuer publishes its public keys (https, or http on a loopback host only). */
    jwks_url: z.string().optional(),
    /** One public key or X.509 certificate, PEM, for RS*, PS*, ES* or EdDSA tokens. */
    public_key: z.string().optional(),
    /** A shared HMAC secret for HS* tokens, normally a `$ENV` reference. */
    secret: z.string().optional(),
    /** Allowed `alg` values. Default: every algorithm the key type can verify. */
    algorithms: z.array(z.enum(jwtAlgorithms)).min(1).optional(),
    /** Claim holding the caller's team (a string). A dotted path reaches nested claims. */
    team_claim: claimName.default("team"),
    /** Claim holding the roles: an array of strings or one space-separated string. */
    roles_claim: claimName.default("roles"),
    /** Claim that identifies the caller in logs and the ledger. Always required. */
    subject_claim: claimName.default("sub"),
    /** Leeway for `exp`, `nbf` and `iat`, for clocks that disagree. */
    clock_tolerance_s: z.number().int().min(0).max(300).default(30),
    /**
     * Longest time since a token's `iat` it is accepted for, whatever its `exp` says: `iat` is
     * then required, and a token issued with a far-off `exp` (or stolen from a log) stops working
     * this long after it was issued. Absent: only `exp` ends a token.
     */
    max_token_age_s: z.number().int().min(60).max(366 * 86_400).optional(),
    /** Claims a token must carry (e.g. the team claim), besides exp, iss, aud and the subject. */
    required_claims: z.array(claimName).default([]),
    /** After a successful JWKS fetch, how long an unknown `kid` waits before it can trigger another. */
    jwks_cooldown_s: z.number().min(0).max(3600).default(30),
    /** How long fetched keys are trusted before the JWKS is fetched again (rotation, revocation). */
    jwks_cache_max_age_s: z.number().min(1).max(86_400).default(600),
    /** Timeout of one JWKS fetch. */
    jwks_timeout_ms: z.number().int().min(100).max(60_000).default(5_000),
  })
  .superRefine((c, ctx) => {
    const sources = [c.jwks_url, c.public_key, c.secret].filter((s) => s !== undefined).length;
    if (sources !== 1) {
      ctx.addIssue({ code: "custom", message: "give exactly one of `jwks_url`, `public_key` or `secret`" });
      return;
    }
    if (c.jwks_url !== undefined) {
      const problem = jwksUrlProblem(c.jwks_url);
      if (problem) ctx.addIssue({ code: "custom", path: ["jwks_url"], message: problem });
    }
    const allowed = keyAlgorithms(c);
    if (allowed instanceof Error) {
      ctx.addIssue({ code: "custom", path: [c.public_key !== undefined ? "public_key" : "secret"], message: allowed.message });
      return;
    }
    // Algorithm confusion (an HS256 token checked with an RSA public key as the HMAC secret)
    // starts with a config that allows an algorithm the key was not made for.
    c.algorithms?.forEach((alg, i) => {
      if (!allowed.includes(alg)) {
        ctx.addIssue({
          code: "custom",
          path: ["algorithms", i],
          message: `${alg} cannot be verified with this key (it allows: ${allowed.join(", ")})`,
        });
      }
    });
  });

export type JwtConfig = z.output<typeof jwtConfigSchema>;
export type JwtConfigInput = z.input<typeof jwtConfigSchema>;

function jwksUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "not a valid URL";
  }
  if (url.protocol === "https:") return undefined;
  if (url.protocol === "http:" && isLoopback(url.hostname)) return undefined;
  // Whoever can change the keys in transit can sign tokens for any team.
  return url.protocol === "http:" ? "use https (plain http is only accepted on a loopback host)" : "use an https URL";
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

/** The static key of a `public_key` or `secret` config (undefined for `jwks_url`). */
export function staticVerificationKey(c: Pick<JwtConfig, "public_key" | "secret">): KeyObject | Uint8Array | undefined {
  if (c.secret !== undefined) return new TextEncoder().encode(c.secret);
  if (c.public_key !== undefined) return parsePublicKey(c.public_key);
  return undefined;
}

function parsePublicKey(pem: string): KeyObject {
  // createPublicKey would happily derive the public half of a private key; a private key in a
  // gateway's config is a leak waiting to happen, so it is refused instead.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new Error("this is a private key: give the public key (or certificate) only");
  }
  try {
    return createPublicKey(pem);
  } catch {
    throw new Error("not a PEM public key or certificate");
  }
}

/** The algorithms the configured key can verify, or an Error saying why the key is unusable. */
export function keyAlgorithms(c: Pick<JwtConfig, "jwks_url" | "public_key" | "secret">): readonly JwtAlgorithm[] | Error {
  if (c.jwks_url !== undefined) return asymmetricAlgorithms;
  if (c.secret !== undefined) {
    if (new TextEncoder().encode(c.secret).length < minSecretBytes) {
      return new Error(`an HMAC secret needs at least ${minSecretBytes} bytes`);
    }
    return hmacAlgorithms;
  }
  if (c.public_key === undefined) return new Error("no key configured");
  let key: KeyObject;
  try {
    key = parsePublicKey(c.public_key);
  } catch (err) {
    return err as Error;
  }
  switch (key.asymmetricKeyType) {
    case "rsa":
      return rsaAlgorithms;
    case "rsa-pss":
      return ["PS256", "PS384", "PS512"];
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const alg = curve === "prime256v1" ? "ES256" : curve === "secp384r1" ? "ES384" : curve === "secp521r1" ? "ES512" : undefined;
      return alg ? [alg] : new Error(`unsupported EC curve ${curve ?? "(unknown)"} (use P-256, P-384 or P-521)`);
    }
    case "ed25519":
      return ["EdDSA", "Ed25519"];
    default:
      return new Error(`unsupported key type ${key.asymmetricKeyType ?? "(unknown)"} (use RSA, EC or Ed25519)`);
  }
}

/** The allow-list in force: the configured one, or every algorithm of the key type. */
export function effectiveAlgorithms(c: JwtConfig): readonly JwtAlgorithm[] {
  if (c.algorithms) return c.algorithms;
  const allowed = keyAlgorithms(c);
  if (allowed instanceof Error) throw allowed;
  // A secret defaults to HS256 only: HS384/HS512 are opt-in, like any wider allow-list.
  return c.secret !== undefined ? ["HS256"] : allowed;
}

const groupName = (what: string) =>
  z
    .string()
    .min(1)
    .refine((s) => s !== "*", { message: `"*" is not a ${what}: leave the list out to allow every ${what}` });

/** Registry versions are numbers; YAML may give them as numbers or strings. "007" is version 7. */
const modelVersion = z
  .union([z.number().int().min(1), z.string().regex(/^[0-9]+$/, "a model version is a number")])
  .transform((v) => String(v).replace(/^0+(?=[0-9])/, ""));

export const grantSchema = z.strictObject({
  /** Endpoint names, or "*" for every endpoint. */
  endpoints: z.array(z.string().min(1)).min(1),
  /** Teams this grant is for; absent = every caller, with or without a team. */
  teams: z.array(groupName("team")).min(1, "an empty list allows nobody: leave `teams` out to allow every team").optional(),
  /** The caller needs one of these roles; absent = no role needed. */
  roles: z.array(groupName("role")).min(1, "an empty list allows nobody: leave `roles` out to need no role").optional(),
  /** For predict endpoints of a model registry: the versions these callers may reach; absent = all. */
  model_versions: z.array(modelVersion).min(1).optional(),
});

export const accessSchema = z.strictObject({
  /** Who may call what. A call is allowed when at least one grant matches it. */
  grants: z.array(grantSchema),
});

export type GrantConfig = z.output<typeof grantSchema>;
export type AccessConfig = z.output<typeof accessSchema>;

/**
 * Checks that need the rest of the file: grant endpoints must exist; `model_versions` only means
 * something on predict endpoints named one by one; JWT callers need `access` (they carry no
 * endpoint list of their own, so without grants they could call nothing).
 */
export function accessConfigProblems(
  file: { jwt?: JwtConfig | undefined; access?: AccessConfig | undefined },
  endpointTypes: ReadonlyMap<string, string>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (file.jwt !== undefined && file.access === undefined) {
    problems.push({
      path: "auth.jwt",
      message: "JWT callers need `access.grants` saying which teams and roles may call which endpoints",
    });
  }
  file.access?.grants.forEach((grant, i) => {
    grant.endpoints.forEach((name, j) => {
      const path = `access.grants[${i}].endpoints[${j}]`;
      if (name === "*") {
        if (grant.model_versions) {
          problems.push({ path, message: 'with `model_versions`, name the predict endpoints instead of "*"' });
        }
        return;
      }
      const type = endpointTypes.get(name);
      if (type === undefined) problems.push({ path, message: `unknown endpoint "${name}"` });
      else if (grant.model_versions && type !== "predict") {
        problems.push({ path, message: `\`model_versions\` applies to predict endpoints; "${name}" is ${type}` });
      }
    });
  });
  return problems;
}
