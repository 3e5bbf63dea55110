import type { Interceptor } from "@connectrpc/connect";
import type { RuntimeState } from "../runtime";
import { openScope, readFirstMessage } from "./call-info";

/**
 * Outermost: fixes the runtime state for the call and opens its scope with the request message.
 * A server stream's one message is read here, once, and the next interceptor gets a new request
 * that replays it (the request objects are never rewritten): the interceptors after this one
 * read the message (and bounds the endpoint it names) from the scope before auth and quota decide.
 */
export function callContextInterceptor(getState: () => RuntimeState): Interceptor {
  return (next) => (req) => {
    if (!req.stream) {
      openScope(req.contextValues, getState(), false, req.message);
      return next(req);
    }
    const state = getState();
    return readFirstMessage(req).then(({ message, unreadable, req: replayed }) => {
      // An unreadable message is refused by bounds, inside the error mapping, logging and tracing.
      openScope(replayed.contextValues, state, true, message, unreadable);
      return next(replayed);
    });
  };
}
