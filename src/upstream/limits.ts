// How much of an upstream's answer the gateway holds at once. A unary answer is read whole
// before it is parsed, and a streamed event is held until its end arrives: without a bound, one
// upstream that sends an endless body or line (broken, or hostile behind a user-set base URL)
// fills the heap and ends the process, every other call with it.

/** Largest unary upstream answer read (`server.max_upstream_body_bytes`). */
export const DEFAULT_MAX_UPSTREAM_BODY_BYTES = 128 * 1024 * 1024;

/** Largest single event of a streamed answer held while it arrives (`server.max_upstream_event_bytes`). */
export const DEFAULT_MAX_UPSTREAM_EVENT_BYTES = 16 * 1024 * 1024;

/** An upstream answer, or one event of a streamed answer, over its bound: UNAVAILABLE for the call. */
export class OversizeAnswerError extends Error {
  override readonly name = "OversizeAnswerError";
}
