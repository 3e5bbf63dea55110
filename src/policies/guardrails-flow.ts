// Where the remote guardrails (guardrails-remote.ts) meet a call: which texts of a request or an
// answer they see and how a redaction is written back, and, for streams, the hold-and-release
// of output chunks: chunks are held until `stream_check_chars` new characters came (or the
// stream ends), checked, then released, so the client never receives text no check has passed
// (the price: up to that many characters plus one round trip of delay, at every check).
import type { HandlerContext } from "@connectrpc/connect";
import { getCallIds, getCaller } from "../interceptors/call-info";
import type { ChatParams, CompleteParams, EmbedParams } from "../providers/types";
import type { RuntimeEndpoint } from "../runtime";
import type { GuardDecision } from "./guardrails";
import { runRemoteRules, type RemoteCheckContext, type RemoteRule } from "./guardrails-remote";

/** A stream's text so far sent to moderation: its last this many characters. */
const moderationWindow = 16_384;

export function remoteContext(endpoint: RuntimeEndpoint, ctx: HandlerContext, side: "input" | "output", final = true): RemoteCheckContext {
  const principal = getCaller(ctx.values)?.principal;
  const ids = getCallIds(ctx.values);
  return {
    side,
    endpoint: endpoint.name,
    endpointType: endpoint.type,
    keyName: principal?.keyName ?? "",
    team: principal?.team ?? "",
    requestId: ids?.requestId ?? "",
    traceparent: ids?.traceparent,
    signal: ctx.signal,
    final,
  };
}

type InputParams = ChatParams | CompleteParams | EmbedParams;

/** The request's texts, in a fixed order, and how to build the request with other texts. */
function inputTexts<P extends InputParams>(params: P): { texts: string[]; rebuild: (texts: readonly string[]) => P } {
  if ("messages" in params) {
    const texts: string[] = [];
    for (const m of params.messages) {
      texts.push(m.content);
      for (const part of m.parts) if (part.part.case === "text") texts.push(part.part.value);
    }
    const rebuild = (out: readonly string[]): P => {
      let i = 0;
      const messages = params.messages.map((m) => {
        const content = out[i++] ?? m.content;
        const parts = m.parts.map((part) => (part.part.case === "text" ? { ...part, part: { case: "text" as const, value: out[i++] ?? part.part.value } } : part));
        return { ...m, content, parts };
      });
      return { ...params, messages };
    };
    return { texts, rebuild };
  }
  if ("inputs" in params) {
    return { texts: [...params.inputs], rebuild: (out) => ({ ...params, inputs: [...out] }) };
  }
  const prompts = params.prompts ?? [];
  return {
    texts: [params.prompt, ...prompts],
    rebuild: (out) => ({ ...params, prompt: out[0] ?? params.prompt, prompts: params.prompts && out.slice(1) }),
  };
}

/** Runs the remote input rules; the request comes back rewritten when a hook redacted it. */
export async function remoteInput<P extends InputParams>(rules: readonly RemoteRule[], params: P, ctx: RemoteCheckContext): Promise<{ params: P; decisions: GuardDecision[] }> {
  const { texts, rebuild } = inputTexts(params);
  const result = await runRemoteRules(rules, texts, ctx);
  const changed = result.texts !== texts && result.texts.some((t, i) => t !== texts[i]);
  return { params: changed ? rebuild(result.texts) : params, decisions: result.decisions };
}

/** The parts of an answer or chunk whose text the output checks read (the pipeline's AnswerLike). */
export interface OutputChoice {
  index?: number;
  text?: string;
  message?: { content?: string };
  delta?: { content?: string };
}

function textOf(c: OutputChoice): { get: () => string; set: (v: string) => void } | undefined {
  const msg = c.message ?? c.delta;
  if (msg) return { get: () => msg.content ?? "", set: (v) => (msg.content = v) };
  if (typeof c.text === "string") return { get: () => c.text ?? "", set: (v) => (c.text = v) };
  return undefined;
}

/** Runs the remote output rules over a unary answer's choices, writing a redaction back. */
export async function remoteOutputUnary(rules: readonly RemoteRule[], choices: readonly OutputChoice[], ctx: RemoteCheckContext): Promise<GuardDecision[]> {
  const slots = choices.map(textOf).filter((s) => s !== undefined);
  const texts = slots.map((s) => s.get());
  const result = await runRemoteRules(rules, texts, ctx);
  if (result.texts !== texts) result.texts.forEach((t, i) => t !== texts[i] && slots[i]?.set(t));
  return result.decisions;
}

/**
 * Holds a stream's chunks until the remote checks passed their text. Webhooks see the new text
 * of each choice since the last check (and may redact it: the redacted text goes into the
 * first held chunk of the choice, the others' text becomes empty); moderation sees each
 * choice's text so far (its last 16 KiB), as a classifier needs the context.
 */
export class StreamRemoteGuard<C extends { choices?: OutputChoice[] }> {
  private held: C[] = [];
  private heldChars = 0;
  private readonly sent = new Map<number, string>();
  readonly decisions: GuardDecision[] = [];

  constructor(
    private readonly rules: readonly RemoteRule[],
    private readonly everyChars: number,
    private readonly context: (final: boolean) => RemoteCheckContext,
  ) {}

  /** Takes a chunk; returns the chunks that may go to the client now (checked), or a block. */
  async push(chunk: C): Promise<{ release: C[]; blocked?: GuardDecision }> {
    this.held.push(chunk);
    for (const c of chunk.choices ?? []) this.heldChars += textOf(c)?.get().length ?? 0;
    if (this.everyChars > 0 && this.heldChars >= this.everyChars) return this.check(false);
    return { release: [] };
  }

  /** The stream ended: checks what is held and releases it. */
  flush(): Promise<{ release: C[]; blocked?: GuardDecision }> {
    return this.check(true);
  }

  private async check(final: boolean): Promise<{ release: C[]; blocked?: GuardDecision }> {
    const held = this.held;
    this.held = [];
    this.heldChars = 0;
    // Per choice index: the held chunks' text slots, in order.
    const byChoice = new Map<number, { get: () => string; set: (v: string) => void }[]>();
    for (const chunk of held) {
      for (const c of chunk.choices ?? []) {
        const slot = textOf(c);
        if (!slot) continue;
        const list = byChoice.get(c.index ?? 0) ?? [];
        list.push(slot);
        byChoice.set(c.index ?? 0, list);
      }
    }
    const indexes = [...byChoice.keys()];
    const fresh = indexes.map((i) => (byChoice.get(i) ?? []).map((s) => s.get()).join(""));
    if (fresh.every((t) => t === "")) return { release: held };
    let texts: readonly string[] = fresh;
    const ctx = this.context(final);
    for (const rule of this.rules) {
      const asked = rule.check === "moderation" ? indexes.map((i, k) => ((this.sent.get(i) ?? "") + (texts[k] ?? "")).slice(-moderationWindow)) : texts;
      const verdict = await rule.run(asked, ctx);
      this.decisions.push(...verdict.decisions);
      const blocked = verdict.decisions.find((d) => d.action === "block");
      if (blocked) return { release: [], blocked };
      if (verdict.texts && rule.mayRedact) texts = verdict.texts;
    }
    indexes.forEach((index, k) => {
      const out = texts[k] ?? "";
      if (out !== fresh[k]) {
        const slots = byChoice.get(index) ?? [];
        slots.forEach((s, j) => s.set(j === 0 ? out : ""));
      }
      this.sent.set(index, ((this.sent.get(index) ?? "") + out).slice(-moderationWindow));
    });
    return { release: held };
  }
}
