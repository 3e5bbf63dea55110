// The Responses API's answers: a chat answer as a Response object, and a chat stream as the
// Responses event sequence (response.created, response.in_progress, output items and content
// parts opened, text and argument deltas, everything closed, then response.completed or
// response.incomplete; response.failed for a failure midway), every event with its
// sequence_number. Ids derive from the gateway's request id: resp_<id>_<random> (stored-responses.ts),
// msg_<id>, fc_<id>_<n>. A stored answer is kept before its terminal event is written.
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatResponse, StreamChatResponse } from "../../../gen/modelgate/v1/chat_pb";
import type { Annotation, ChatMessage, Usage } from "../../../gen/modelgate/v1/common_pb";
import type { SseEvent, SseFraming } from "../http";
import { createdOf } from "./chat";
import type { ResponsesBody } from "./responses";

/** What a Response repeats from its request, and its identity. */
export interface ResponseBase {
  requestId: string;
  /** The Response's id (newResponseId). */
  responseId: string;
  body: ResponsesBody;
  /** The gateway's clock when the call started (seconds). */
  startedAt: number;
}

type Status = "in_progress" | "completed" | "incomplete" | "failed";

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** ResponseUsage: the totals, and the two breakdowns the spec requires (0 when the upstream reported none). */
export function responseUsageJson(u: Usage) {
  return {
    input_tokens: u.promptTokens,
    input_tokens_details: { cached_tokens: u.cachedPromptTokens ?? 0, cache_write_tokens: u.cacheWritePromptTokens ?? 0 },
    output_tokens: u.completionTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens ?? 0 },
    total_tokens: u.totalTokens,
  };
}

function annotationsJson(annotations: readonly Annotation[]) {
  return annotations.flatMap((a) =>
    a.urlCitation
      ? [{ type: "url_citation", start_index: a.urlCitation.startIndex, end_index: a.urlCitation.endIndex, url: a.urlCitation.url, title: a.urlCitation.title }]
      : [],
  );
}

const outputTextPart = (text: string, annotations: readonly Annotation[] = []) => ({ type: "output_text", text, annotations: annotationsJson(annotations), logprobs: [] });
const refusalPart = (refusal: string) => ({ type: "refusal", refusal });

/** The chat finish reason as the Response's status (length and content_filter leave it incomplete). */
function statusOf(finishReason: string): { status: Status; reason?: "max_output_tokens" | "content_filter" } {
  if (finishReason === "length") return { status: "incomplete", reason: "max_output_tokens" };
  if (finishReason === "content_filter") return { status: "incomplete", reason: "content_filter" };
  return { status: "completed" };
}

/** The Response object around `output`: the request's settings echoed, as OpenAI answers them. */
function responseJson(
  base: ResponseBase,
  fields: { created: number; model: string; status: Status; reason?: string; output: unknown[]; usage?: Usage; error?: { code: string; message: string } },
) {
  const { body } = base;
  const format = body.text?.format;
  return {
    id: base.responseId,
    object: "response",
    created_at: fields.created,
    status: fields.status,
    background: false,
    completed_at: fields.status === "completed" ? nowSeconds() : null,
    error: fields.error ?? null,
    incomplete_details: fields.reason === undefined ? null : { reason: fields.reason },
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: fields.model,
    output: fields.output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    ...(body.conversation != null ? { conversation: { id: body.conversation } } : {}),
    reasoning: { effort: body.reasoning?.effort ?? null, summary: null },
    temperature: body.temperature ?? null,
    text: {
      format:
        format == null
          ? { type: "text" }
          : format.type === "json_schema"
            ? { type: "json_schema", name: format.name, schema: format.schema, ...(format.description != null ? { description: format.description } : {}), strict: format.strict ?? null }
            : format,
      ...(body.text?.verbosity != null ? { verbosity: body.text.verbosity } : {}),
    },
    tool_choice: body.tool_choice ?? "auto",
    tools: (body.tools ?? []).map((t) => ({ type: "function", name: t.name, description: t.description ?? null, parameters: t.parameters ?? null, strict: t.strict ?? null })),
    top_p: body.top_p ?? null,
    truncation: "disabled",
    ...(fields.usage ? { usage: responseUsageJson(fields.usage) } : {}),
    ...(body.user != null ? { user: body.user } : {}),
    metadata: body.metadata ?? {},
  };
}

const messageItem = (id: string, status: Status, content: unknown[]) => ({ type: "message", id, status, role: "assistant", content });
const functionCallItem = (id: string, callId: string, name: string, args: string, status: Status) => ({
  type: "function_call",
  id,
  call_id: callId,
  name,
  arguments: args,
  status,
});

/** A chat answer (its first choice: a Response has one output) as a Response. */
export function responseFromChat(res: ChatResponse, base: ResponseBase) {
  const choice = res.choices[0];
  const m: ChatMessage | undefined = choice?.message;
  const { status, reason } = statusOf(choice?.finishReason ?? "");
  const itemStatus = status === "incomplete" ? "incomplete" : "completed";
  const output: unknown[] = [];
  const content: unknown[] = [];
  if (m?.content) content.push(outputTextPart(m.content, m.annotations));
  if (m?.refusal) content.push(refusalPart(m.refusal));
  // A turn of only tool calls has no message; an empty answer is a message with empty text.
  if (content.length === 0 && !m?.toolCalls.length) content.push(outputTextPart(""));
  if (content.length > 0) output.push(messageItem(`msg_${base.requestId}`, itemStatus, content));
  m?.toolCalls.forEach((c, i) => output.push(functionCallItem(`fc_${base.requestId}_${i}`, c.id, c.function?.name ?? "", c.function?.arguments ?? "", "completed")));
  return responseJson(base, { created: createdOf(res.created, base.startedAt), model: res.model, status, reason, output, usage: res.usage });
}

/** The code of a failure midway, in the spec's ResponseErrorCode vocabulary. */
function failureCode(err: ConnectError): string {
  if (err.code === Code.ResourceExhausted) return "rate_limit_exceeded";
  if (err.code === Code.InvalidArgument || err.code === Code.FailedPrecondition || err.code === Code.OutOfRange) return "invalid_prompt";
  return "server_error";
}

interface OpenPart {
  kind: "output_text" | "refusal";
  text: string;
  annotations: Annotation[];
}

interface MessageState {
  kind: "message";
  outputIndex: number;
  id: string;
  parts: OpenPart[];
}

interface CallState {
  kind: "function_call";
  outputIndex: number;
  id: string;
  callId: string;
  name: string;
  args: string;
}

/**
 * A chat stream as Responses events. Items stay open until the stream ends (deltas of parallel
 * tool calls may interleave) and are closed in output order before the terminal event.
 */
export class ResponseEvents implements SseFraming<StreamChatResponse> {
  private sequence = 0;
  private created?: number;
  private model = "";
  private finishReason = "";
  private usage?: Usage;
  private readonly items: (MessageState | CallState)[] = [];
  private message?: MessageState;
  private readonly calls = new Map<number, CallState>();

  /** `keep` stores the final Response (when asked to) before its terminal event goes out; a failure to is the stream's failure. */
  constructor(
    private readonly base: ResponseBase,
    private readonly keep?: (response: ReturnType<typeof responseJson>) => Promise<void>,
  ) {}

  private event(type: string, fields: Record<string, unknown>): SseEvent {
    return { event: type, data: { type, ...fields, sequence_number: this.sequence++ } };
  }

  private snapshot(status: Status, fields: { reason?: string; output?: unknown[]; usage?: Usage; error?: { code: string; message: string } } = {}) {
    return responseJson(this.base, { created: this.created ?? this.base.startedAt, model: this.model, status, output: fields.output ?? [], ...fields });
  }

  eventsOf(chunk: StreamChatResponse): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.created === undefined) {
      this.created = createdOf(chunk.created, this.base.startedAt);
      this.model = chunk.model;
      const response = this.snapshot("in_progress");
      out.push(this.event("response.created", { response }), this.event("response.in_progress", { response }));
    }
    if (chunk.usage) this.usage = chunk.usage;
    // A Response has one output: choices other than the first (n > 1 through extras) are not asked for.
    const choice = chunk.choices.find((c) => c.index === 0);
    if (!choice) return out;
    if (choice.finishReason) this.finishReason = choice.finishReason;
    const d = choice.delta;
    if (!d) return out;
    if (d.content) this.textDelta(out, "output_text", d.content);
    if (d.refusal) this.textDelta(out, "refusal", d.refusal);
    if (d.annotations.length > 0 && this.message) this.message.parts.at(-1)?.annotations.push(...d.annotations);
    for (const c of d.toolCalls) this.callDelta(out, c.index, c.id, c.function?.name ?? "", c.function?.arguments ?? "");
    return out;
  }

  private openMessage(out: SseEvent[]): MessageState {
    if (this.message) return this.message;
    const message: MessageState = { kind: "message", outputIndex: this.items.length, id: `msg_${this.base.requestId}`, parts: [] };
    this.items.push(message);
    this.message = message;
    out.push(this.event("response.output_item.added", { output_index: message.outputIndex, item: messageItem(message.id, "in_progress", []) }));
    return message;
  }

  private textDelta(out: SseEvent[], kind: OpenPart["kind"], delta: string): void {
    const message = this.openMessage(out);
    let part = message.parts.at(-1);
    if (part?.kind !== kind) {
      if (part) this.closePart(out, message, message.parts.length - 1);
      part = { kind, text: "", annotations: [] };
      message.parts.push(part);
      out.push(
        this.event("response.content_part.added", {
          item_id: message.id,
          output_index: message.outputIndex,
          content_index: message.parts.length - 1,
          part: kind === "output_text" ? outputTextPart("") : refusalPart(""),
        }),
      );
    }
    part.text += delta;
    const where = { item_id: message.id, output_index: message.outputIndex, content_index: message.parts.length - 1 };
    out.push(kind === "output_text" ? this.event("response.output_text.delta", { ...where, delta, logprobs: [] }) : this.event("response.refusal.delta", { ...where, delta }));
  }

  private partJson(part: OpenPart) {
    return part.kind === "output_text" ? outputTextPart(part.text, part.annotations) : refusalPart(part.text);
  }

  private closePart(out: SseEvent[], message: MessageState, index: number): void {
    const part = message.parts[index]!;
    const where = { item_id: message.id, output_index: message.outputIndex, content_index: index };
    out.push(
      part.kind === "output_text"
        ? this.event("response.output_text.done", { ...where, text: part.text, logprobs: [] })
        : this.event("response.refusal.done", { ...where, refusal: part.text }),
      this.event("response.content_part.done", { ...where, part: this.partJson(part) }),
    );
  }

  private callDelta(out: SseEvent[], index: number, callId: string, name: string, args: string): void {
    let call = this.calls.get(index);
    if (!call) {
      call = { kind: "function_call", outputIndex: this.items.length, id: `fc_${this.base.requestId}_${this.calls.size}`, callId, name, args: "" };
      this.calls.set(index, call);
      this.items.push(call);
      out.push(this.event("response.output_item.added", { output_index: call.outputIndex, item: functionCallItem(call.id, callId, name, "", "in_progress") }));
    }
    call.callId ||= callId;
    call.name ||= name;
    if (args) {
      call.args += args;
      out.push(this.event("response.function_call_arguments.delta", { item_id: call.id, output_index: call.outputIndex, delta: args }));
    }
  }

  /** The items as the final Response lists them. */
  private output(itemStatus: Status): unknown[] {
    return this.items.map((item) =>
      item.kind === "message"
        ? messageItem(item.id, itemStatus, item.parts.map((p) => this.partJson(p)))
        : functionCallItem(item.id, item.callId, item.name, item.args, "completed"),
    );
  }

  async end(): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    // An empty answer is a message with empty text, as the unary answer has it.
    if (this.items.length === 0) this.textDelta(out, "output_text", "");
    const { status, reason } = statusOf(this.finishReason);
    const itemStatus = status === "incomplete" ? "incomplete" : "completed";
    const output = this.output(itemStatus);
    for (const item of this.items) {
      if (item.kind === "message") {
        this.closePart(out, item, item.parts.length - 1);
      } else {
        out.push(this.event("response.function_call_arguments.done", { item_id: item.id, name: item.name, output_index: item.outputIndex, arguments: item.args }));
      }
      out.push(this.event("response.output_item.done", { output_index: item.outputIndex, item: output[item.outputIndex] }));
    }
    const response = this.snapshot(status, { reason, output, usage: this.usage });
    if (this.keep) await this.keep(response);
    out.push(this.event(status === "incomplete" ? "response.incomplete" : "response.completed", { response }));
    return out;
  }

  /** A failure midway: response.failed, with what was answered so far and the error (the SDKs' finalResponse() has status "failed"). */
  failure(err: unknown): SseEvent[] {
    const e = ConnectError.from(err);
    const response = this.snapshot("failed", { output: this.output("incomplete"), usage: this.usage, error: { code: failureCode(e), message: e.rawMessage } });
    return [this.event("response.failed", { response })];
  }
}
