/**
 * The longest delay setTimeout takes: a signed 32-bit count of ms, ~24.8 days. Node runs a longer
 * one after 1 ms (with a TimeoutOverflowWarning), and socket, HTTP and undici timeouts are timers
 * too, so every duration the gateway arms a timer for is bounded by it: config durations refuse
 * more (config/schema.ts, routing/config.ts), and a client deadline further away is treated as
 * none (server/handler-context.ts).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
