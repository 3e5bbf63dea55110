// Token estimates before a call (to reserve quota) and counts of streamed text (to settle a stream
// that ended without the provider's usage: cancelled by the client, or broken).
//
// Tokenizer: o200k_base (GPT-4o and later), counted by src/usage/bpe.ts from the vocabulary file
// and pre-tokenizer that gpt-tokenizer ships (MIT, no dependencies, nothing fetched at run time).
// gpt-tokenizer's own encoder held ~62 MB of RSS (its ranks module's 200k strings, a Map of them
// and its source text); the compact counter holds ~4 MB and counts as fast or faster (bench/
// tokens.ts; bench/README.md, "Twelfth pass"). One encoding for every provider: other vendors'
// tokenizers are not public or not shipped; their counts differ by some tens of percent, which is
// fine for a reservation that the provider's real usage settles afterwards.
//
// Loaded lazily: a gateway without token or spend limits never counts a token up front
// (src/interceptors/quota.ts). The first count builds the counter synchronously (~100 ms), and
// warmTokenizer() builds it in the background shortly after start-up instead of on the way to
// SERVING.
import { createRequire } from "node:module";
import type { JsonObject } from "@bufbuild/protobuf";
import type { ChatParams, CompleteParams, EmbedParams } from "../providers/types";
import { BpeCounter } from "./bpe";

// Built on first use and kept. User text may contain "<|endoftext|>" and friends: the counter
// counts them as text, never throws.
let counter: BpeCounter | undefined;

function getCounter(): BpeCounter {
  if (counter === undefined) {
    const require = createRequire(import.meta.url);
    const { O200K_TOKEN_SPLIT_REGEX } = require("gpt-tokenizer/encodingParams/constants") as { O200K_TOKEN_SPLIT_REGEX: RegExp };
    counter = BpeCounter.fromTiktokenFile(require.resolve("gpt-tokenizer/data/o200k_base.tiktoken"), O200K_TOKEN_SPLIT_REGEX);
  }
  return counter;
}

/** Delay of warmTokenizer()'s background build: after the port is listening, off the start-up path. */
export const warmDelayMs = 2_000;
let warmTimer: NodeJS.Timeout | undefined;

/**
 * Builds the counter in the background, warmDelayMs from now (after start-up), so the first call
 * that counts tokens does not pay for it; the timer does not keep the process alive.
 */
export function warmTokenizer(): void {
  if (counter !== undefined || warmTimer !== undefined) return;
  warmTimer = setTimeout(() => {
    getCounter();
  }, warmDelayMs);
  warmTimer.unref();
}

/**
 * Beyond this many characters a text is counted on its first part and extrapolated: exact
 * counting is linear (~30 µs per 1,000 characters) and runs on the event loop, so a 4 MB prompt
 * would stall every other call for ~130 ms. The extrapolation keeps the prefix's tokens/character.
 */
export const exactCountChars = 100_000;

/**
 * BPE as tiktoken and gpt-tokenizer run it is quadratic in the length of one pre-token: with
 * gpt-tokenizer, 20,000 repeated letters took ~340 ms and 100,000 spaces or newlines (one
 * pre-token too) 5-7 s, which a caller could send on purpose. bpe.ts merges long pieces in
 * O(n log n), and runs of non-space characters, and runs of white space, longer than this are
 * still counted in slices of this size, which bounds each merge's work and working arrays (natural
 * words and indentation are far shorter; a long URL or base64 blob gains at most one token per
 * slice).
 */
export const longRunChars = 128;
const longRunPattern = `\\S{${longRunChars + 1},}|\\s{${longRunChars + 1},}`;
const hasLongRun = new RegExp(longRunPattern);
// matchAll copies the regex with its lastIndex, so this one is only ever used through matchAll.
const longRuns = new RegExp(longRunPattern, "g");

/** Tokens of `text` (o200k_base). */
export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  if (text.length <= exactCountChars) return countExact(text);
  const cut = boundary(text, exactCountChars);
  const prefixTokens = countExact(text.slice(0, cut));
  return prefixTokens + Math.ceil(((text.length - cut) * prefixTokens) / cut);
}

function countExact(text: string): number {
  const enc = getCounter();
  if (!hasLongRun.test(text)) return enc.count(text);
  let tokens = 0;
  let from = 0;
  for (const m of text.matchAll(longRuns)) {
    if (m.index > from) tokens += enc.count(text.slice(from, m.index));
    const end = m.index + m[0].length;
    for (let at = m.index; at < end; ) {
      const next = Math.min(end, boundary(text, at + longRunChars));
      tokens += enc.count(text.slice(at, next));
      at = next;
    }
    from = end;
  }
  if (from < text.length) tokens += enc.count(text.slice(from));
  return tokens;
}

/** `at`, or one less when that would split a surrogate pair. */
function boundary(text: string, at: number): number {
  const code = text.charCodeAt(at);
  return code >= 0xdc00 && code <= 0xdfff ? at - 1 : at;
}

// Per-item overheads of OpenAI's chat format (as counted by OpenAI's cookbook and gpt-tokenizer):
// each message is wrapped in <|start|>role ... <|end|>, the reply is primed with 3 more, each
// function definition costs ~9 tokens of framing, a tool call ~3.
const messageOverhead = 3;
const replyPriming = 3;
const nameOverhead = 1;
const toolDefinitionOverhead = 9;
const toolCallOverhead = 3;
const forcedToolOverhead = 4;
/**
 * Images: OpenAI bills a "low" detail image 85 tokens and a high-detail one 85 + 170 per 512 px
 * tile; 1,105 is six tiles (e.g. 1024x1536), a generous middle for unknown sizes. Anthropic's
 * (w*h)/750 gives ~1,600 for its largest images: settlement corrects the difference.
 */
export const imageTokensLow = 85;
export const imageTokens = 1_105;

type ChatMessageLike = ChatParams["messages"][number];

/** What a chat estimate reads: ChatParams, or the ChatRequest / StreamChatRequest message itself. */
export type ChatEstimateInput = Pick<ChatParams, "messages"> &
  Partial<Pick<ChatParams, "tools" | "toolChoice" | "responseFormat" | "maxTokens" | "n">>;
export type CompleteEstimateInput = Pick<CompleteParams, "prompt"> &
  Partial<Pick<CompleteParams, "maxTokens" | "n" | "prompts" | "tokenPrompts">>;
export type EmbedEstimateInput = Pick<EmbedParams, "inputs"> & Partial<Pick<EmbedParams, "tokenInputs">>;

export interface Reservation {
  /** Estimated prompt (input) tokens. */
  promptTokens: number;
  /** The most completion tokens the call may produce: max_tokens (or the default) times n. */
  maxCompletionTokens: number;
}

/** Prompt tokens of a chat: messages (text, images, tool calls), tool definitions, response schema. */
export function chatPromptTokens(params: ChatEstimateInput): number {
  let tokens = replyPriming;
  for (const m of params.messages) tokens += messageTokens(m);
  for (const tool of params.tools ?? []) {
    const fn = tool.function;
    if (!fn) continue;
    tokens += toolDefinitionOverhead + countTokens(fn.name) + countTokens(fn.description) + jsonTokens(fn.parameters);
  }
  const choice = params.toolChoice?.choice;
  if (choice?.case === "functionName") tokens += forcedToolOverhead + countTokens(choice.value);
  const schema = params.responseFormat?.jsonSchema;
  if (schema) tokens += countTokens(schema.name) + countTokens(schema.description) + jsonTokens(schema.schema);
  return tokens;
}

function messageTokens(m: ChatMessageLike): number {
  let tokens = messageOverhead + countTokens(m.role) + countTokens(m.content);
  if (m.name) tokens += nameOverhead + countTokens(m.name);
  if (m.toolCallId) tokens += countTokens(m.toolCallId);
  for (const part of m.parts) {
    const p = part.part;
    if (p.case === "text") tokens += countTokens(p.value);
    else if (p.case === "imageUrl") tokens += p.value.detail === "low" ? imageTokensLow : imageTokens;
    else if (p.case === "image") tokens += imageTokens;
  }
  for (const call of m.toolCalls) tokens += toolCallTokens(call.id, call.function?.name ?? "", call.function?.arguments ?? "");
  return tokens;
}

function jsonTokens(value: JsonObject | undefined): number {
  return value === undefined ? 0 : countTokens(JSON.stringify(value));
}

/**
 * The reservation for a call: the prompt's estimate and the completion's ceiling. `defaultMaxTokens`
 * stands in when the request sets no max_tokens (providers then stop at their own limit).
 */
export function estimateReservation(
  params: ChatEstimateInput | CompleteEstimateInput | EmbedEstimateInput,
  defaultMaxTokens: number,
): Reservation {
  if ("inputs" in params) {
    let promptTokens = 0;
    for (const input of params.inputs) promptTokens += countTokens(input);
    // Token ids count exactly.
    for (const t of params.tokenInputs ?? []) promptTokens += t.ids.length;
    return { promptTokens, maxCompletionTokens: 0 };
  }
  if ("messages" in params) return { promptTokens: chatPromptTokens(params), maxCompletionTokens: completionCeiling(params, defaultMaxTokens) };
  // Several prompts (texts or token ids) each get n choices, all generated and billed.
  let promptTokens = countTokens(params.prompt);
  for (const p of params.prompts ?? []) promptTokens += countTokens(p);
  for (const t of params.tokenPrompts ?? []) promptTokens += t.ids.length;
  const prompts = Math.max(1, (params.prompts?.length ?? 0) + (params.tokenPrompts?.length ?? 0));
  const ceiling = Math.min(completionCeiling(params, defaultMaxTokens) * prompts, Number.MAX_SAFE_INTEGER);
  return { promptTokens, maxCompletionTokens: ceiling };
}

/**
 * The most output a call may produce: max_tokens (or the default) for each of the n choices,
 * since every choice is generated and billed. Only the typed fields count: providers refuse
 * extras that would lengthen or multiply the output (src/providers/extras.ts). The quota
 * interceptor reserves before the service validates, so an out-of-range request (two uint32s
 * multiplied pass 2^53) is capped to an exact integer rather than reserved as a float; the
 * service then refuses it.
 */
export function completionCeiling(params: Partial<Pick<CompleteParams, "maxTokens" | "n">>, defaultMaxTokens: number): number {
  const choices = Math.max(1, params.n ?? 1);
  return Math.min((params.maxTokens ?? defaultMaxTokens) * choices, Number.MAX_SAFE_INTEGER);
}

const chatRequests = new Set(["modelgate.v1.ChatRequest", "modelgate.v1.StreamChatRequest"]);
const completeRequests = new Set(["modelgate.v1.CompleteRequest", "modelgate.v1.StreamCompleteRequest"]);

/**
 * estimateReservation for a request message as an interceptor sees it (`unknown`): chat,
 * completion and embedding requests by their protobuf type name; anything else (Predict) has
 * no tokens to reserve.
 */
export function reservationForRequest(message: unknown, defaultMaxTokens: number): Reservation {
  const typeName = (message as { $typeName?: unknown } | null | undefined)?.$typeName;
  if (typeof typeName !== "string") return { promptTokens: 0, maxCompletionTokens: 0 };
  if (chatRequests.has(typeName)) return estimateReservation(message as ChatEstimateInput, defaultMaxTokens);
  if (completeRequests.has(typeName)) return estimateReservation(message as CompleteEstimateInput, defaultMaxTokens);
  if (typeName === "modelgate.v1.EmbedRequest") return estimateReservation(message as EmbedEstimateInput, defaultMaxTokens);
  return { promptTokens: 0, maxCompletionTokens: 0 };
}

/**
 * What a stream generated, counted as the prompt estimate counts the same output when it comes
 * back as an assistant message (messageTokens): the text of each choice (content, refusal, or a
 * completion's text) and each tool call (framing + id + name + arguments), so a stream that was
 * cancelled or broke before the provider's usage arrived is settled on everything it sent. Each
 * piece is collected and counted once, when asked: counting each delta alone would over-count
 * tokens that BPE merges across delta boundaries, and re-counting per delta would be quadratic.
 */
export class StreamedTokenCounter {
  /** Text per choice index. */
  private readonly texts = new Map<number, string[]>();
  /** Tool calls per "choice/call index": their id, name and argument fragments (made at the first: most streams have none). */
  private calls: Map<string, { id: string[]; name: string[]; args: string[] }> | undefined;
  private counted = 0;
  private dirty = false;

  /** Adds text generated for one choice (index 0 unless told). */
  add(text: string, choice = 0): void {
    if (!text) return;
    let pieces = this.texts.get(choice);
    if (!pieces) this.texts.set(choice, (pieces = []));
    pieces.push(text);
    this.dirty = true;
  }

  /** Adds a tool-call delta: the first carries the id and name, later ones argument fragments. */
  addToolCall(choice: number, call: StreamedToolCallLike, position: number): void {
    const key = `${choice}/${call.index ?? position}`;
    const calls = (this.calls ??= new Map());
    let c = calls.get(key);
    if (!c) calls.set(key, (c = { id: [], name: [], args: [] }));
    if (call.id) c.id.push(call.id);
    if (call.function?.name) c.name.push(call.function.name);
    if (call.function?.arguments) c.args.push(call.function.arguments);
    this.dirty = true;
  }

  /** Adds what a chat or completion stream chunk generated (every choice). */
  addChunk(chunk: StreamChunkLike): void {
    for (const choice of chunk.choices) {
      const index = choice.index ?? 0;
      if ("text" in choice && typeof choice.text === "string") this.add(choice.text, index);
      const delta = "delta" in choice ? choice.delta : undefined;
      if (!delta) continue;
      if (typeof delta.content === "string") this.add(delta.content, index);
      if (typeof delta.refusal === "string") this.add(delta.refusal, index);
      (delta.toolCalls ?? []).forEach((call, position) => this.addToolCall(index, call, position));
    }
  }

  /** True once anything was generated. */
  get hasOutput(): boolean {
    return this.texts.size > 0 || (this.calls?.size ?? 0) > 0;
  }

  /** Tokens of everything added so far (memoised until more is added). */
  tokens(): number {
    if (this.dirty) {
      let tokens = 0;
      for (const pieces of this.texts.values()) tokens += countTokens(pieces.join(""));
      if (this.calls) for (const c of this.calls.values()) tokens += toolCallTokens(c.id.join(""), c.name.join(""), c.args.join(""));
      this.counted = tokens;
      this.dirty = false;
    }
    return this.counted;
  }
}

/** Tokens of one tool call, in a prompt or streamed: its framing, id, function name and arguments. */
export function toolCallTokens(id: string, name: string, args: string): number {
  return toolCallOverhead + countTokens(id) + countTokens(name) + countTokens(args);
}

/** A tool-call delta of a stream chunk (its index, when given, keys the fragments of one call). */
export interface StreamedToolCallLike {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}

/** The parts of ChatChunk / CompleteChunk (or their proto messages) that carry generated text. */
export interface StreamChunkLike {
  choices: readonly (
    | { index?: number; text?: string }
    | { index?: number; delta?: { content?: string; refusal?: string; toolCalls?: readonly StreamedToolCallLike[] } }
  )[];
}
