import { ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { Logger } from "pino";
import { internal, invalidArgument } from "../errors";
import { isParseError } from "../server/node-adapter";

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
  return (next) => async (req) => {
    let res;
    try {
      res = await next(req);
    } catch (err) {
      throw toConnectError(err);
    }
    if (!res.stream) return res;
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* messages;
        } catch (err) {
          throw toConnectError(err);
        }
      })(),
    } satisfies StreamResponse;
  };
}
