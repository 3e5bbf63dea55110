// Context-window management: count the request's tokens (messages, tool definitions, images,
// response schema: src/usage/tokens.ts) before any upstream call and, when the prompt and the
// requested output do not fit the model's window, refuse (INVALID_ARGUMENT with the counts), trim
// the conversation by the endpoint's strategy, or send it on to routing's context-length fallback.
import type { ChatParams, CompleteParams } from "../providers/types";
import { invalidArgument } from "../errors";
import { contextLimitsOf, type ContextLimits } from "../usage/context-windows";
import { chatPromptTokens, estimateReservation } from "../usage/tokens";
import type { OverflowStrategy } from "./config";

export interface ContextPolicy {
  strategy: OverflowStrategy;
  /** The window the request must fit: the smallest known among the endpoint's targets. */
  limits: ContextLimits;
  /** The largest window among the targets (for `route`), and its model. */
  largest: ContextLimits;
  largestModel: string;
  /** Which model the limits are of, for the error message. */
  model: string;
}

export type ContextOutcome = "fit" | "trimmed" | "routed";

/** The endpoint's context policy, or undefined when no target's window is known. */
export function compileContextPolicy(
  cfg: { on_overflow: OverflowStrategy; context_window?: number; max_output_tokens?: number },
  targets: readonly { provider: string; model: string }[],
): ContextPolicy | undefined {
  const known = targets
    .map((t) => {
      const shipped = contextLimitsOf(t.provider, t.model);
      const contextTokens = cfg.context_window ?? shipped?.contextTokens;
      if (contextTokens === undefined) return undefined;
      const maxOutputTokens = Math.min(cfg.max_output_tokens ?? shipped?.maxOutputTokens ?? contextTokens, contextTokens);
      return { model: t.model, limits: { contextTokens, maxOutputTokens } };
    })
    .filter((x) => x !== undefined);
  if (known.length === 0) return undefined;
  const smallest = known.reduce((a, b) => (b.limits.contextTokens < a.limits.contextTokens ? b : a));
  const largest = known.reduce((a, b) => (b.limits.contextTokens > a.limits.contextTokens ? b : a));
  return { strategy: cfg.on_overflow, limits: smallest.limits, largest: largest.limits, largestModel: largest.model, model: smallest.model };
}

function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

function outputTokens(maxTokens: number | undefined, n: number | undefined): number {
  return (maxTokens ?? 0) * Math.max(1, n ?? 1);
}

function checkOutput(policy: ContextPolicy, endpoint: string, maxTokens: number | undefined): void {
  if (maxTokens !== undefined && maxTokens > policy.limits.maxOutputTokens) {
    throw invalidArgument(
      `max_tokens: ${fmt(maxTokens)} is more than ${policy.model} can generate (${fmt(policy.limits.maxOutputTokens)}) on endpoint "${endpoint}"`,
    );
  }
}

function overflowError(policy: ContextPolicy, endpoint: string, prompt: number, output: number, window: number, after?: string): Error {
  const model = window === policy.limits.contextTokens ? policy.model : policy.largestModel;
  const need = output > 0 ? `${fmt(prompt)} prompt tokens + ${fmt(output)} max_tokens = ${fmt(prompt + output)}` : `${fmt(prompt)} prompt tokens`;
  return invalidArgument(
    `context window exceeded: ${need} > ${fmt(window)} tokens of ${model} on endpoint "${endpoint}"${after ? ` (${after})` : ""}`,
  );
}

type Message = ChatParams["messages"][number];

function isSystem(m: Message): boolean {
  return m.role === "system" || m.role === "developer";
}

/** Drops tool results whose call is no longer in the conversation (a provider would refuse them). */
function withoutOrphans(messages: Message[]): Message[] {
  const calls = new Set<string>();
  const out: Message[] = [];
  for (const m of messages) {
    for (const c of m.toolCalls) calls.add(c.id);
    if (m.role === "tool" && m.toolCallId && !calls.has(m.toolCallId)) continue;
    out.push(m);
  }
  return out;
}

/** The chat's request-side context check: the params to send (trimmed or as they were). */
export function fitChat(policy: ContextPolicy, endpoint: string, params: ChatParams): { params: ChatParams; outcome: ContextOutcome; promptTokens: number } {
  checkOutput(policy, endpoint, params.maxTokens);
  const output = outputTokens(params.maxTokens, params.n);
  const window = policy.limits.contextTokens;
  const prompt = chatPromptTokens(params);
  if (prompt + output <= window) return { params, outcome: "fit", promptTokens: prompt };
  if (policy.strategy === "refuse") throw overflowError(policy, endpoint, prompt, output, window);
  if (policy.strategy === "route") {
    if (prompt + output <= policy.largest.contextTokens) return { params, outcome: "routed", promptTokens: prompt };
    throw overflowError(policy, endpoint, prompt, output, policy.largest.contextTokens, "no target of the endpoint has a larger window");
  }
  const system = params.messages.filter(isSystem);
  let rest = params.messages.filter((m) => !isSystem(m));
  const budget = window - output;
  let tokens = prompt;
  // Each step removes one turn and re-counts (counting a message is cheap; windows are large).
  while (tokens > budget && rest.length > 1) {
    const at = policy.strategy === "drop_oldest" ? 0 : Math.floor((rest.length - 1) / 2);
    // middle_out keeps the first turn (the task) and the last one (the question).
    if (policy.strategy === "middle_out" && rest.length <= 2) break;
    rest = withoutOrphans([...rest.slice(0, at), ...rest.slice(at + 1)]);
    // A conversation must not start with an assistant's tool results.
    tokens = chatPromptTokens({ ...params, messages: [...system, ...rest] });
  }
  if (tokens > budget) {
    throw overflowError(policy, endpoint, prompt, output, window, `still ${fmt(tokens)} prompt tokens after ${policy.strategy}`);
  }
  return { params: { ...params, messages: [...system, ...rest] }, outcome: "trimmed", promptTokens: tokens };
}

/** Completions are one prompt: they fit, go to a larger target (`route`), or are refused. */
export function fitComplete(policy: ContextPolicy, endpoint: string, params: CompleteParams): { params: CompleteParams; outcome: ContextOutcome; promptTokens: number } {
  checkOutput(policy, endpoint, params.maxTokens);
  const prompts = Math.max(1, (params.prompts?.length ?? 0) + (params.tokenPrompts?.length ?? 0));
  const prompt = estimateReservation(params, 0).promptTokens;
  // Several prompts are several generations: each must fit; the largest share decides.
  const perPrompt = Math.ceil(prompt / prompts);
  const output = outputTokens(params.maxTokens, params.n);
  if (perPrompt + output <= policy.limits.contextTokens) return { params, outcome: "fit", promptTokens: prompt };
  if (policy.strategy === "route" && perPrompt + output <= policy.largest.contextTokens) return { params, outcome: "routed", promptTokens: prompt };
  throw overflowError(policy, endpoint, perPrompt, output, policy.strategy === "route" ? policy.largest.contextTokens : policy.limits.contextTokens,
    policy.strategy === "drop_oldest" || policy.strategy === "middle_out" ? "a completion prompt is not trimmed" : undefined);
}
