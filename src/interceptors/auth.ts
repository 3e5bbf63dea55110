import { createContextKey, type Interceptor, type StreamRequest, type StreamResponse, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { permissionDenied, unauthenticated } from "../errors";
import type { KeyCache } from "../auth/key-cache";
import { anonymous, sha256Hex, type Principal, type RuntimeState } from "../runtime";
import type { KeyRecord } from "../store/types";
import { checkAccess, sourceOfKeyId } from "../auth/access";
import { type JwtVerifier, looksLikeJwt } from "../auth/jwt";
import { callerKey, getCallEndpoint, getCallScope, setOnce, type CallScope } from "./call-info";

const bearer = /^Bearer\s+(\S+)\s*$/i;

/**
 * The gateway's own calls (the semantic cache's embeddings) carry their principal in the context
 * values, which only in-process callers can set: they run as it, without credentials or grants.
 */
export const internalPrincipalKey = createContextKey<Principal | undefined>(undefined, { description: "modelgate internal principal" });

/** Services only admins may call. */
const adminServices = new Set(["modelgate.v1.AdminService", "modelgate.v1.UsageService"]);
/** Methods of those any signed-in caller may call: each narrows a non-admin to its own key's data itself. */
const openToEveryKey = new Set(["modelgate.v1.UsageService.ListCalls"]);

export interface AuthDeps {
  /** Keys created through AdminService / the CLI (absent when no store is configured). */
  keyCache?: KeyCache;
  now?: () => number;
}

/**
 * Who is calling: `Authorization: Bearer <secret>` (gRPC metadata `authorization` alike) matched
 * by SHA-256 against config keys and the key store. Then what they may call: admin services need
 * the "admin" role; a key limited to some endpoints may call only those.
 */
export function authInterceptor(deps: AuthDeps = {}): Interceptor {
  const now = deps.now ?? Date.now;
  // Not async: the call's own promise is returned (an async function resolving to a promise costs
  // three more microtask turns), and only a token's check is awaited (admit).
  return (next) => (req) => {
    const scope = getCallScope(req.contextValues);
    if (!scope) return next(req);
    const internal = req.contextValues.get(internalPrincipalKey);
    if (internal) {
      setOnce(req.contextValues, callerKey, { principal: internal });
      return next(req);
    }
    if (!scope.state.auth.enabled) {
      setOnce(req.contextValues, callerKey, scope.streamed ? { principal: anonymous, recheck: recheckAnonymous } : { principal: anonymous });
      return next(req);
    }
    const found = identify(req.header.get("authorization"), scope.state, deps.keyCache, req.signal, now());
    // An API key is looked up at once (no promise per call); only a token's check is awaited.
    return found instanceof Promise ? found.then((who) => admit(who, scope, req, next)) : admit(found, scope, req, next);
  };

  /** The call of an identified caller, if it may make it. */
  function admit(who: Identified, scope: CallScope, req: UnaryRequest | StreamRequest, next: Parameters<Interceptor>[0]): Promise<UnaryResponse | StreamResponse> {
    const { grants } = scope.state.auth;
    const { principal } = who;
    let recheck: ((state: RuntimeState) => Principal) | undefined;
    if (scope.streamed) {
      recheck =
        who.hash === undefined
          ? (state) => recheckToken(principal, who.expiresAtMs ?? 0, state, now())
          : (state) => recheckKey(principal, who.hash!, state, deps.keyCache, now());
    }
    if (adminServices.has(req.service.typeName)) {
      // No endpoint check here: an `endpoint` in these requests is a filter, not a call target.
      setOnce(req.contextValues, callerKey, { principal, recheck });
      const open = openToEveryKey.has(`${req.service.typeName}.${req.method.name}`);
      if (!open && !principal.roles.has("admin")) throw permissionDenied(`${req.service.name} needs role "admin"`);
      return next(req);
    }
    // Unknown endpoints are checked too: a key limited to some endpoints learns nothing about the
    // others (not even whether they exist), and its refused calls stay small in the ledger.
    const endpoint = getCallEndpoint(req.contextValues)?.name;
    if (!endpoint) {
      setOnce(req.contextValues, callerKey, { principal, recheck });
      return next(req);
    }
    const decision = checkAccess({ ...principal, source: sourceOfKeyId(principal.keyId) }, endpoint, grants);
    // Set before a refusal too: the refused call's log line and ledger row name the key.
    setOnce(req.contextValues, callerKey, decision.allowed ? { principal, allowedModelVersions: decision.modelVersions, recheck } : { principal, recheck });
    if (!decision.allowed) throw permissionDenied(decision.missing);
    return next(req);
  }
}

/** Who an Authorization header names, and what a stream's re-check needs: the key's hash, or the token's expiry. */
interface Identified {
  principal: Principal;
  hash?: string;
  expiresAtMs?: number;
}

/** The principal of a `Bearer` API key (at once) or JWT (once verified), on `state` with auth on; UNAUTHENTICATED otherwise. */
function identify(header: string | null | undefined, state: RuntimeState, keyCache: KeyCache | undefined, signal: AbortSignal, now: number): Identified | Promise<Identified> {
  if (!header) throw unauthenticated('missing API key: send "Authorization: Bearer <key>"');
  const token = bearer.exec(header)?.[1];
  if (!token) throw unauthenticated('malformed Authorization header: expected "Bearer <key>"');
  const { jwt, keysBySha256 } = state.auth;
  if (jwt && looksLikeJwt(token)) return verifiedToken(jwt, token, signal);
  const hash = sha256Hex(token);
  return { principal: keysBySha256.get(hash) ?? storedPrincipal(keyCache?.lookup(hash), now), hash };
}

async function verifiedToken(jwt: JwtVerifier, token: string, signal: AbortSignal): Promise<Identified> {
  const claims = await jwt.verify(token, signal);
  const principal: Principal = { keyId: `jwt:${claims.subject}`, keyName: claims.subject, team: claims.team ?? "", roles: new Set(claims.roles) };
  return { principal, expiresAtMs: claims.expiresAt.getTime() };
}

/**
 * Who is calling, for the REST routes that are not service calls (the Responses API's stored
 * responses): the same API keys and tokens as the interceptor's, anonymous with auth off. Grants
 * on endpoints are the caller's business (those routes name no endpoint).
 */
export async function authenticate(header: string | null | undefined, state: RuntimeState, keyCache: KeyCache | undefined, signal: AbortSignal): Promise<Principal> {
  if (!state.auth.enabled) return anonymous;
  return (await identify(header, state, keyCache, signal, Date.now())).principal;
}

// Re-checks for server streams (Caller.recheck): the same decisions as a new call would get, on
// the state and key cache of now. A stream opened with auth off runs on; one opened with
// credentials keeps being checked even if auth is turned off later (nothing is lost by it).

function recheckAnonymous(state: RuntimeState): Principal {
  if (state.auth.enabled) throw unauthenticated("API keys are required since this stream started: open it again with one");
  return anonymous;
}

function recheckToken(principal: Principal, expiresAtMs: number, state: RuntimeState, now: number): Principal {
  if (state.auth.enabled && !state.auth.jwt) throw unauthenticated("tokens are no longer accepted: sign in with an API key");
  if (now >= expiresAtMs) throw unauthenticated("token expired");
  return principal;
}

function recheckKey(principal: Principal, hash: string, state: RuntimeState, keyCache: KeyCache | undefined, now: number): Principal {
  const configured = state.auth.keysBySha256.get(hash);
  if (configured) return configured;
  const stored = keyCache?.lookup(hash);
  if (!stored && sourceOfKeyId(principal.keyId) === "config") throw unauthenticated("API key removed from the config");
  return storedPrincipal(stored, now);
}

/** One Principal per stored key version (a rotation or revocation replaces the record). */
const principals = new WeakMap<KeyRecord, Principal>();

function storedPrincipal(key: KeyRecord | undefined, now: number): Principal {
  if (!key) throw unauthenticated("invalid API key");
  if (key.revokedAt) throw unauthenticated("API key revoked");
  if (key.expiresAt && key.expiresAt.getTime() <= now) throw unauthenticated("API key expired");
  let principal = principals.get(key);
  if (principal) return principal;
  principal = {
    keyId: key.id,
    keyName: key.name,
    team: key.team,
    roles: new Set(key.roles),
    endpoints: key.endpoints.length > 0 ? new Set(key.endpoints) : undefined,
    limits: key.limits,
  };
  principals.set(key, principal);
  return principal;
}
