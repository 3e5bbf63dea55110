import { ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { internal, invalidArgument } from "../errors";
import { isParseError } from "../server/node-adapter";
import { mapCallErrors } from "./call-end";

/**
 * Every failure leaves as a ConnectError with a stable code. Anything else is a gateway bug:
 * it is logged with its stack and the caller gets a generic INTERNAL (no internals leak).
 */
export function errorsInterceptor(log: Logger): Interceptor {
  const toConnectError = (err: unknown): ConnectError => {
    if (err instanceof ConnectError) {
      // An undecodable request message is the caller's fault (connect-es says INTERNAL).
      return isParseError(err) ? invalidArgument(err.rawMessage) : err;
    }
    log.error({ err }, "unexpected error");
    return internal();
  };
  return (next) => (req) => mapCallErrors(next, req, toConnectError);
}
