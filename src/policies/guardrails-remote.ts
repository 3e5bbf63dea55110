// Remote guardrails: checks that ask another service about the text, through the shared upstream
// client (one undici pool per origin, the caller's cancellation, x-request-id and traceparent).
//   - moderation: an OpenAI-compatible moderation endpoint (POST {api_base}/moderations
//     {"model", "input": [texts]} -> {"results": [{"flagged", "categories", "category_scores"}]});
//     flagged categories become decisions `moderation.<category>` ('/' read as '.');
//   - webhook: POST the texts with who asks (endpoint, key name, team; never a secret) to a
//     configured URL, which answers allow / block / redact / flag with a reason code (the JSON
//     contract is webhookRequest / webhookAnswerSchema below, documented in the README).
// A check that fails (timeout, connection, non-2xx, a body that breaks the contract) decides by
// its `on_error`: allow (fail-open: recorded as `<check>.error` flag) or block (fail-closed).
import { ConnectError } from "@connectrpc/connect";
import { z } from "zod";
import { httpUrl } from "../providers/request-builder";
import { upstreamFailure, type UpstreamCall, type UpstreamClient } from "../upstream/client";
import type { UpstreamPeer, UpstreamRequest } from "../upstream/wire";
import type { GuardDecision } from "./guardrails";
import { remoteChecks, warnPolicy } from "./metrics";

const reasonCode = z.string().regex(/^[a-z0-9_.-]{1,64}$/, "use lowercase letters, digits, '_', '.' or '-' (at most 64)");
const onError = z.enum(["allow", "block"]);

export const moderationRuleSchema = z.strictObject({
  type: z.literal("moderation"),
  /** Base URL of an OpenAI-compatible API: requests go to `{api_base}/moderations`. */
  api_base: httpUrl().default("https://api.openai.com/v1"),
  /** Bearer token, normally a `$ENV` reference. Never logged, never sent to a webhook. */
  api_key: z.string().min(1).optional(),
  model: z.string().min(1).max(128).default("omni-moderation-latest"),
  /** Categories that count (e.g. `violence`, `self-harm/intent`); any flagged one by default. */
  categories: z.array(z.string().regex(/^[a-z][a-z/_-]{0,63}$/, "a moderation category such as violence or self-harm/intent")).min(1).optional(),
  /** A category counts when its score reaches this, instead of when the upstream flags it. */
  threshold: z.number().gt(0).max(1).optional(),
  action: z.enum(["block", "flag"]).default("block"),
  timeout_ms: z.number().int().min(10).max(60_000).default(2_000),
  on_error: onError.default("block"),
});

const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "a header name");

export const webhookRuleSchema = z.strictObject({
  type: z.literal("webhook"),
  url: httpUrl(),
  /** Headers sent to the hook only (an authorization value as a whole `$ENV` reference). */
  headers: z.record(headerName, z.string().max(4096)).default({}),
  timeout_ms: z.number().int().min(10).max(60_000).default(1_000),
  on_error: onError.default("block"),
  /** The reason code of a block or redact when the hook names none. */
  reason: reasonCode.default("webhook"),
});

export type ModerationRuleConfig = z.infer<typeof moderationRuleSchema>;
export type WebhookRuleConfig = z.infer<typeof webhookRuleSchema>;
export type RemoteRuleConfig = ModerationRuleConfig | WebhookRuleConfig;

/** Who asks, as sent to a webhook: names only. */
export interface RemoteCheckContext {
  side: "input" | "output";
  endpoint: string;
  endpointType: string;
  keyName: string;
  team: string;
  requestId: string;
  traceparent?: string;
  /** The caller's cancellation: a check it aborts fails the call, not by `on_error`. */
  signal: AbortSignal;
  /** false for a stream's checks before its end. */
  final: boolean;
}

export interface RemoteVerdict {
  decisions: GuardDecision[];
  /** The texts to use instead (a webhook's redaction), same length as asked. */
  texts?: string[];
}

export interface RemoteRule {
  /** "moderation" or "webhook": the metric's `check` label. */
  readonly check: "moderation" | "webhook";
  /** Whether it may rewrite the text (a stream then holds back what it has not checked). */
  readonly mayRedact: boolean;
  /** Checks the texts (empty ones are not sent). */
  run(texts: readonly string[], ctx: RemoteCheckContext): Promise<RemoteVerdict>;
}

/** The OpenAI moderation answer, as far as it is read. */
const moderationAnswerSchema = z.object({
  results: z
    .array(
      z.object({
        flagged: z.boolean(),
        categories: z.record(z.string(), z.boolean().nullable()),
        category_scores: z.record(z.string(), z.number().nullable()).optional(),
      }),
    )
    .min(1),
});

/** The webhook's answer (extra fields are ignored: the contract may grow). */
export const webhookAnswerSchema = z.object({
  action: z.enum(["allow", "block", "redact", "flag"]),
  reason: reasonCode.optional(),
  texts: z.array(z.string()).optional(),
});

/** The body POSTed to a webhook (contract version 1). */
export interface WebhookRequest {
  version: 1;
  side: "input" | "output";
  endpoint: string;
  endpoint_type: string;
  key_name: string;
  team: string;
  request_id: string;
  /** false while a stream goes on (its text so far is being checked), true otherwise. */
  final: boolean;
  texts: string[];
}

/** An answer that breaks the check's contract. */
class ContractError extends Error {}

/** The largest answer a check may give (a verdict with redacted texts is about the size of the request). */
const maxAnswerBytes = 4 * 1024 * 1024;

/** POSTs and parses the answer, bounded: a body over the bound or not JSON breaks the contract. */
async function postJson(upstream: UpstreamClient, req: UpstreamRequest, peer: UpstreamPeer, call: UpstreamCall): Promise<unknown> {
  const text = await upstream.text(req, peer, call, maxAnswerBytes);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ContractError();
  }
}

function peerOf(name: string): UpstreamPeer {
  return { name, errorMessage: () => undefined };
}

/**
 * Runs a request with the rule's timeout; a failure that is not the caller's abort becomes
 * the rule's `on_error` decision.
 */
async function guarded(
  check: "moderation" | "webhook",
  rule: { timeout_ms: number; on_error: "allow" | "block" },
  ctx: RemoteCheckContext,
  send: (signal: AbortSignal) => Promise<RemoteVerdict>,
): Promise<RemoteVerdict> {
  const timeout = AbortSignal.timeout(rule.timeout_ms);
  try {
    const verdict = await send(AbortSignal.any([ctx.signal, timeout]));
    const outcome = verdict.decisions.find((d) => d.action === "block") ? "block" : verdict.texts ? "redact" : verdict.decisions.length > 0 ? "flag" : "allow";
    remoteChecks.add({ endpoint: ctx.endpoint, check, side: ctx.side, outcome });
    return verdict;
  } catch (err) {
    if (ctx.signal.aborted) throw ConnectError.from(ctx.signal.reason);
    remoteChecks.add({ endpoint: ctx.endpoint, check, side: ctx.side, outcome: "error" });
    // What went wrong, never an error body (a hook's error page may quote the text).
    const failure = upstreamFailure(err);
    const error =
      timeout.aborted || failure?.kind === "timeout"
        ? "timeout"
        : failure?.kind === "status"
          ? `status ${failure.status}`
          : failure?.kind === "connection"
            ? "connection"
            : "bad answer"; // a body that is not JSON, or JSON that breaks the contract
    warnPolicy({ endpoint: ctx.endpoint, requestId: ctx.requestId, side: ctx.side, check, error, onError: rule.on_error }, "remote guardrail check failed");
    return { decisions: [{ reason: `${check}.error`, action: rule.on_error === "block" ? "block" : "flag", count: 1 }] };
  }
}

export function compileModerationRule(rule: ModerationRuleConfig, upstream: UpstreamClient): RemoteRule {
  const url = `${rule.api_base.replace(/\/+$/, "")}/moderations`;
  const headers: Record<string, string> = rule.api_key ? { authorization: `Bearer ${rule.api_key}` } : {};
  const peer = peerOf("moderation");
  const wanted = rule.categories && new Set(rule.categories);
  return {
    check: "moderation",
    mayRedact: false,
    async run(texts, ctx) {
      const asked = texts.filter((t) => t.length > 0);
      if (asked.length === 0) return { decisions: [] };
      return guarded("moderation", rule, ctx, async (signal) => {
        const body = await postJson(upstream, { method: "POST", url, headers, body: { model: rule.model, input: asked } }, peer, { signal, requestId: ctx.requestId, traceparent: ctx.traceparent });
        const parsed = moderationAnswerSchema.safeParse(body);
        if (!parsed.success || parsed.data.results.length !== asked.length) throw new ContractError();
        const decisions: GuardDecision[] = [];
        for (const result of parsed.data.results) {
          for (const [category, flagged] of Object.entries(result.categories)) {
            if (wanted && !wanted.has(category)) continue;
            const score = result.category_scores?.[category] ?? 0;
            const counts = rule.threshold === undefined ? flagged === true : score >= rule.threshold;
            if (!counts) continue;
            const reason = `moderation.${category.replace(/\//g, ".")}`.slice(0, 64);
            const prior = decisions.find((d) => d.reason === reason);
            if (prior) prior.count++;
            else decisions.push({ reason, action: rule.action, count: 1 });
          }
        }
        return { decisions };
      });
    },
  };
}

export function compileWebhookRule(rule: WebhookRuleConfig, upstream: UpstreamClient): RemoteRule {
  const peer = peerOf("webhook");
  return {
    check: "webhook",
    mayRedact: true,
    async run(texts, ctx) {
      if (!texts.some((t) => t.length > 0)) return { decisions: [] };
      return guarded("webhook", rule, ctx, async (signal) => {
        const request: WebhookRequest = {
          version: 1,
          side: ctx.side,
          endpoint: ctx.endpoint,
          endpoint_type: ctx.endpointType,
          key_name: ctx.keyName,
          team: ctx.team,
          request_id: ctx.requestId,
          final: ctx.final,
          texts: [...texts],
        };
        const body = await postJson(upstream, { method: "POST", url: rule.url, headers: { ...rule.headers }, body: { ...request } }, peer, { signal, requestId: ctx.requestId, traceparent: ctx.traceparent });
        const parsed = webhookAnswerSchema.safeParse(body);
        if (!parsed.success) throw new ContractError();
        const answer = parsed.data;
        const reason = answer.reason ?? rule.reason;
        switch (answer.action) {
          case "allow":
            return { decisions: [] };
          case "flag":
            return { decisions: [{ reason, action: "flag", count: 1 }] };
          case "block":
            return { decisions: [{ reason, action: "block", count: 1 }] };
          case "redact":
            if (answer.texts?.length !== texts.length) throw new ContractError();
            return { decisions: [{ reason, action: "redact", count: answer.texts.filter((t, i) => t !== texts[i]).length }], texts: answer.texts };
        }
      });
    },
  };
}

export function compileRemoteRule(rule: RemoteRuleConfig, upstream: UpstreamClient): RemoteRule {
  return rule.type === "moderation" ? compileModerationRule(rule, upstream) : compileWebhookRule(rule, upstream);
}

/**
 * Runs the rules in order over the texts: each sees the texts the one before left (a redaction
 * carries on); a block stops. Returns the final texts and every decision.
 */
export async function runRemoteRules(rules: readonly RemoteRule[], texts: readonly string[], ctx: RemoteCheckContext): Promise<{ texts: readonly string[]; decisions: GuardDecision[] }> {
  const decisions: GuardDecision[] = [];
  for (const rule of rules) {
    const verdict = await rule.run(texts, ctx);
    decisions.push(...verdict.decisions);
    if (verdict.decisions.some((d) => d.action === "block")) break;
    if (verdict.texts) texts = verdict.texts;
  }
  return { texts, decisions };
}
