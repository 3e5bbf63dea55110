// The config of an endpoint's targets and of how calls are routed among them (our extension of
// the MLflow file; MLflow 3's top-level `routes:` are read into the same shape, see
// mlflow-routes.ts).
import { z } from "zod";
import { MAX_TIMER_MS } from "../timers";

const targetName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$/, "use letters, digits, '.', '_', ':', '/', '@' or '-' (at most 128)");

/** One provider + model + provider config: what MLflow calls `model:`. */
export const modelSchema = z.strictObject({
  provider: z.string().min(1),
  name: z.string().min(1),
  /** Validated by the provider's own schema once `$ENV` references are resolved. */
  config: z.record(z.string(), z.unknown()).default({}),
});

/**
 * A canary target: it gets its weight's share while the gateway judges it by its own
 * measurements over a sliding window (its last window_calls calls within window_ms), each guard
 * beside the stable targets' figures over the same window. It is rolled back (no more traffic)
 * when any guard fails:
 *   - its error rate is above max_error_rate (once it has min_calls in the window);
 *   - its error rate is above the stable arm's by more than max_error_rate_over_stable;
 *   - its p95 latency (unary answers) is above max_p95_latency_ratio × the stable arm's;
 *   - its p95 time to first message (streams) is above max_ttft_p95_ratio × the stable arm's;
 * the relative guards only once both arms have min_calls (samples of that kind) in the window, and
 * a latency guard only when the difference is also above latency_tolerance_ms (so loopback
 * jitter of a millisecond is no regression). After promote_after_calls calls with every guard
 * that applies judged and passing, it is promoted (all the traffic; the others become its
 * fallbacks). Errors are the target's failures (5xx, 429, timeouts, connection, bad bodies).
 * Judged every judge_every_calls of the canary's calls (and of its feedback scores), never per call.
 *
 * Feedback guards (off by default): FeedbackService scores named feedback_name posted on the
 * targets' answers within the window; once the canary has min_feedback of them, it is rolled back
 * when their mean is below min_feedback_score, or (once the stable arm has min_feedback too) below
 * the stable arm's mean by more than max_feedback_score_below_stable. With a feedback guard on, a
 * canary is promoted only after the guard was judged on min_feedback scores.
 */
export const canarySchema = z.strictObject({
  min_calls: z.number().int().positive().default(50),
  max_error_rate: z.number().min(0).max(1).default(0.05),
  max_error_rate_over_stable: z.number().min(0).max(1).default(0.02),
  /** null turns the guard off. */
  max_p95_latency_ratio: z.number().min(1).nullable().default(1.5),
  /** null turns the guard off. */
  max_ttft_p95_ratio: z.number().min(1).nullable().default(1.5),
  latency_tolerance_ms: z.number().min(0).default(25),
  promote_after_calls: z.number().int().positive().default(1_000),
  window_ms: z.number().int().positive().default(300_000),
  window_calls: z.number().int().positive().max(100_000).default(1_000),
  judge_every_calls: z.number().int().positive().default(10),
  /** The FeedbackService name whose scores the feedback guards read. */
  feedback_name: z
    .string()
    .regex(/^[a-z0-9_.-]{1,64}$/, "1-64 characters of a-z, 0-9, _, - and .")
    .default("thumbs"),
  min_feedback: z.number().int().positive().default(20),
  /** The lowest mean feedback score the canary may have; null turns the guard off. */
  min_feedback_score: z.number().finite().nullable().default(null),
  /** How far below the stable arm's mean score the canary's may be; null turns the guard off. */
  max_feedback_score_below_stable: z.number().finite().min(0).nullable().default(null),
});

/**
 * Outlier ejection by error rate (Envoy-style), beside the consecutive-failure breaker: every
 * interval_ms, a target with at least min_calls in its window (last window_calls calls within
 * window_ms) whose error rate is above max_error_rate, or above the mean of the other targets'
 * rates by more than max_error_rate_over_mean, gets no calls for base_ejection_ms × its
 * consecutive ejections (at most max_ejection_ms); then it returns and is judged afresh. At most
 * max_ejection_percent of the endpoint's targets are ejected at once (at least one may be), and
 * never the last target that can serve. Each healthy judgement of a returned target takes one
 * off its consecutive ejections.
 */
export const outlierEjectionSchema = z
  .strictObject({
    /** null: only the comparison with the other targets. */
    max_error_rate: z.number().min(0).max(1).nullable().default(0.5),
    /** Unset: no comparison with the other targets. */
    max_error_rate_over_mean: z.number().min(0).max(1).optional(),
    min_calls: z.number().int().positive().default(20),
    window_ms: z.number().int().positive().default(60_000),
    window_calls: z.number().int().positive().max(100_000).default(200),
    interval_ms: z.number().int().positive().default(1_000),
    base_ejection_ms: z.number().int().positive().max(MAX_TIMER_MS).default(30_000),
    max_ejection_ms: z.number().int().positive().max(MAX_TIMER_MS).default(300_000),
    max_ejection_percent: z.number().min(0).max(100).default(50),
  })
  .refine((o) => o.max_error_rate !== null || o.max_error_rate_over_mean !== undefined, {
    message: "give max_error_rate or max_error_rate_over_mean (or both)",
  });

export const targetSchema = z.strictObject({
  /** Names the target in headers, logs, metrics and the ledger; defaults to the model's name. */
  name: targetName.optional(),
  model: modelSchema,
  /** Share of traffic (strategy `weighted`): relative to the other targets' weights; 0 = only a fallback. */
  weight: z.number().min(0).optional(),
  canary: canarySchema.optional(),
});
export type CanaryConfig = z.infer<typeof canarySchema>;
export type OutlierEjectionConfig = z.infer<typeof outlierEjectionSchema>;

/** Which failures move a call on to the next target (and may be retried on the same target). */
export const failureClasses = ["rate_limit", "server_error", "connection", "timeout", "bad_response", "upstream_refused", "context_length"] as const;
export type FailureClass = (typeof failureClasses)[number];

export const routingSchema = z.strictObject({
  /**
   * `weighted`: each call picks a target by weight (sticky: by the caller), the others are its
   * fallbacks in listed order. `fallback`: always the listed order. `least_latency`: the target
   * with the lowest recent latency (EWMA of answers, or of streams' first messages) first, the
   * others by latency after it; every 20th call puts a slower target first (each in turn), to keep measuring.
   */
  strategy: z.enum(["weighted", "fallback", "least_latency"]).default("fallback"),
  /** Keeps a caller on the same target: by API key, by team, or by a request header (`header:x-user-id`). */
  sticky: z
    .union([z.enum(["key", "team"]), z.string().regex(/^header:[a-z0-9-]+$/, "use key, team or header:<lower-case header name>")])
    .optional(),
  /** Failure classes that move on to the next target (default: all of them). */
  fallback_on: z.array(z.enum(failureClasses)).default([...failureClasses]),
  /** Time allowed for one upstream attempt: a unary answer, or a stream's first message. */
  attempt_timeout_ms: z.number().int().positive().max(MAX_TIMER_MS).optional(),
  /** Time allowed for all attempts and waits together (streams: until the first message). */
  timeout_ms: z.number().int().positive().max(MAX_TIMER_MS).optional(),
  retries: z
    .strictObject({
      /** Retries on the same target after a retryable failure (429, 5xx, connection, timeout, bad body). */
      max: z.number().int().min(0).max(10).default(0),
      /** Backoff before retry n: a random delay up to base_delay_ms * 2^n (full jitter), at most max_delay_ms. */
      base_delay_ms: z.number().int().min(0).max(MAX_TIMER_MS).default(100),
      max_delay_ms: z.number().int().min(0).max(MAX_TIMER_MS).default(2_000),
      /**
       * Retries may add at most this share of the endpoint's calls (plus min_per_second), so a
       * failing upstream is not hammered: 20 = one retry per five calls.
       */
      budget_percent: z.number().min(0).max(100).default(20),
      min_per_second: z.number().min(0).default(1),
      /**
       * Also repeat (retry, or fall back to the next target) a call whose request was sent and got
       * no answer (a connection broken after it opened, a timeout): the upstream may have processed
       * it and would then run and bill it twice. Off, only a caller's Idempotency-Key allows that
       * (src/routing/idempotency.ts); error statuses and refused connections are repeated either way.
       */
      retry_unsafe: z.boolean().default(false),
    })
    .prefault({}),
  /** Per-target circuit breaker: open after consecutive failures, one probe after half_open_after_ms. */
  breaker: z
    .strictObject({
      consecutive_failures: z.number().int().positive().default(5),
      half_open_after_ms: z.number().int().positive().max(MAX_TIMER_MS).default(30_000),
    })
    .prefault({}),
  /** Outlier ejection by error rate; off unless given (see outlierEjectionSchema). */
  outlier_ejection: outlierEjectionSchema.optional(),
});

export type ModelConfig = z.infer<typeof modelSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type RoutingConfig = z.infer<typeof routingSchema>;

export type NamedTarget = TargetConfig & { name: string };

interface EndpointTargetsInput {
  model?: ModelConfig;
  targets?: TargetConfig[];
  routing?: RoutingConfig;
}

/** Exactly one of `model` / `targets`; target names distinct; a weighted split has some weight. */
export function checkTargets(ep: EndpointTargetsInput, ctx: z.RefinementCtx): void {
  if ((ep.model === undefined) === (ep.targets === undefined)) {
    ctx.addIssue({ code: "custom", path: ["model"], message: "give exactly one of `model` (one target) or `targets`" });
    return;
  }
  const targets = ep.targets ?? [];
  const seen = new Set<string>();
  targets.forEach((t, i) => {
    const name = t.name ?? t.model.name;
    if (seen.has(name)) {
      ctx.addIssue({ code: "custom", path: ["targets", i, "name"], message: `duplicate target name "${name}" (give each target its own \`name\`)` });
    }
    seen.add(name);
  });
  targets.forEach((t, i) => {
    if (t.canary && ep.routing?.strategy !== "weighted") {
      ctx.addIssue({ code: "custom", path: ["targets", i, "canary"], message: "a canary needs routing.strategy: weighted (its weight is its share)" });
    }
  });
  if (targets.filter((t) => t.canary).length === targets.length && targets.length > 0 && targets.some((t) => t.canary)) {
    ctx.addIssue({ code: "custom", path: ["targets"], message: "a canary needs a stable target beside it" });
  }
  if (ep.routing?.strategy === "weighted" && targets.length > 0 && targets.every((t) => t.weight === 0)) {
    ctx.addIssue({ code: "custom", path: ["targets"], message: "a weighted split needs a target with a weight above 0" });
  }
}

export function withTargets<T extends EndpointTargetsInput>(ep: T): Omit<T, "model" | "targets"> & { model: ModelConfig; targets: NamedTarget[] } {
  const targets: NamedTarget[] = ep.targets
    ? ep.targets.map((t) => ({ ...t, name: t.name ?? t.model.name }))
    : ep.model
      ? [{ name: ep.model.name, model: ep.model }]
      : [];
  return { ...ep, model: ep.model ?? targets[0]!.model, targets };
}
