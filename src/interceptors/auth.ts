import type { Interceptor } from "@connectrpc/connect";
import { permissionDenied, unauthenticated } from "../errors";
import { sha256Hex } from "../runtime";
import { getCallInfo, requestEndpoint } from "./call-info";

const bearer = /^Bearer\s+(\S+)\s*$/i;

/**
 * API keys from `Authorization: Bearer <key>` (gRPC metadata `authorization` alike). Keys are
 * compared by SHA-256: the config holds hashes only, and a lookup by hash leaks nothing usable.
 */
export function authInterceptor(): Interceptor {
  return (next) => async (req) => {
    const info = getCallInfo(req.contextValues);
    if (!info || !info.state.auth.enabled) return next(req);
    const header = req.header.get("authorization");
    if (!header) throw unauthenticated('missing API key: send "Authorization: Bearer <key>"');
    const token = bearer.exec(header)?.[1];
    if (!token) throw unauthenticated('malformed Authorization header: expected "Bearer <key>"');
    const principal = info.state.auth.keysBySha256.get(sha256Hex(token));
    if (!principal) throw unauthenticated("invalid API key");
    info.principal = principal;
    if (principal.endpoints) {
      const endpoint = await requestEndpoint(req, info);
      if (endpoint !== undefined && !principal.endpoints.has(endpoint)) {
        throw permissionDenied(`this API key may not call endpoint "${endpoint}"`);
      }
    }
    return next(req);
  };
}
