// connect-web to the gateway that served the console (same origin: the CSP allows only 'self'),
// with the session's credential on every call.
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import type { Session } from "./session";

export function gatewayTransport(session: Session): Transport {
  const auth: Interceptor = (next) => (req) => {
    if (session.credential !== "") req.header.set("authorization", `Bearer ${session.credential}`);
    return next(req);
  };
  return createConnectTransport({ baseUrl: window.location.origin, interceptors: [auth] });
}

/** A failure as one line for the user: the Connect code and the gateway's message. */
export function describeError(err: unknown): string {
  const e = ConnectError.from(err);
  return `${Code[e.code] ?? e.code}: ${e.rawMessage}`;
}
