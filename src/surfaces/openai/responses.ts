// POST /v1/responses (OpenAI's Responses API) onto ChatService: the request (after the stored
// conversation that previous_response_id or conversation names: stored-responses.ts,
// conversations.ts) becomes a ChatRequest and goes through the same pipeline as
// /v1/chat/completions (auth, quotas, ledger, policies, routing); the answer is written back as a
// Response (responses-output.ts). What needs state this gateway does not keep (background
// responses, stored prompts) is refused with a message naming the field, as is every field that
// would change the answer and has no mapping (built-in tools, images and files, reasoning
// summaries, include). Fields with the same meaning in both
// APIs map to the chat fields; unknown fields travel in extras, as on /v1/chat/completions.
import type { JsonObject } from "@bufbuild/protobuf";
import { z } from "zod";
import { MaxTokensField } from "../../../gen/modelgate/v1/chat_pb";
import { invalidArgument } from "../../errors";
import { type ChatRequestInit, countField, extrasOf, templateVariablesField } from "./chat";

const jsonObject = z.record(z.string(), z.unknown());

/** Text parts: input_text (any role) and output_text (assistant history, as the API answered it). */
const textPart = z.object({ type: z.enum(["input_text", "output_text"]), text: z.string(), annotations: z.array(z.unknown()).optional(), logprobs: z.array(z.unknown()).optional() });
const refusalPart = z.object({ type: z.literal("refusal"), refusal: z.string() });
const contentPart = z.discriminatedUnion("type", [textPart, refusalPart], {
  error: (issue) =>
    issue.code === "invalid_union"
      ? "content part type must be input_text, output_text or refusal (input_image, input_file and input_audio are not supported by this gateway)"
      : undefined,
});

type ContentPart = z.infer<typeof contentPart>;

/** A string or content parts, parsed by hand so a bad part is reported at its own path. */
function textOrParts(what: string) {
  return z.unknown().transform((value, ctx): string | ContentPart[] => {
    if (typeof value === "string") return value;
    if (!Array.isArray(value)) {
      ctx.addIssue({ code: "custom", message: `must be a string or a list of ${what}` });
      return z.NEVER;
    }
    const parts: ContentPart[] = [];
    value.forEach((raw: unknown, j) => {
      const parsed = contentPart.safeParse(raw);
      if (parsed.success) parts.push(parsed.data);
      else for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: [j, ...issue.path] });
    });
    return parts;
  });
}

const messageItem = z.strictObject({
  type: z.literal("message"),
  role: z.enum(["user", "assistant", "system", "developer"], { error: 'must be "user", "assistant", "system" or "developer"' }),
  content: textOrParts("content parts"),
  id: z.string().nullish(),
  status: z.enum(["in_progress", "completed", "incomplete"]).nullish(),
  // gpt-5's commentary/final_answer marker: it changes how the model reads the turn, and has no chat equivalent.
  phase: z.null({ error: "phase is not supported by this gateway (its chat upstreams have no equivalent)" }).optional(),
});
const functionCallItem = z.strictObject({
  type: z.literal("function_call"),
  call_id: z.string().min(1, "must not be empty"),
  name: z.string().min(1, "must not be empty"),
  arguments: z.string(),
  id: z.string().nullish(),
  status: z.enum(["in_progress", "completed", "incomplete"]).nullish(),
});
const functionCallOutputItem = z.strictObject({
  type: z.literal("function_call_output"),
  call_id: z.string().min(1, "must not be empty"),
  output: textOrParts("input_text parts"),
  id: z.string().nullish(),
  status: z.enum(["in_progress", "completed", "incomplete"]).nullish(),
});
const inputItem = z.discriminatedUnion("type", [messageItem, functionCallItem, functionCallOutputItem], {
  error: (issue) =>
    issue.code === "invalid_union"
      ? "input item type must be message, function_call or function_call_output (this gateway serves function tools only: item references, reasoning and built-in tool items are not supported)"
      : undefined,
});
export type InputItem = z.infer<typeof inputItem>;

/**
 * A string (one user message) or a list of items. Items are parsed one by one so a bad one is
 * reported at its own path; an item with a role and no type is a message (EasyInputMessage).
 */
export const inputField = z.unknown().transform((value, ctx): string | InputItem[] => {
  if (typeof value === "string") return value;
  if (!Array.isArray(value)) {
    ctx.addIssue({ code: "custom", message: "must be a string or a list of input items" });
    return z.NEVER;
  }
  const items: InputItem[] = [];
  value.forEach((raw: unknown, i) => {
    const item = raw !== null && typeof raw === "object" && !Array.isArray(raw) && !("type" in raw) && "role" in raw ? { ...raw, type: "message" } : raw;
    const parsed = inputItem.safeParse(item);
    if (parsed.success) items.push(parsed.data);
    else for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: [i, ...issue.path] });
  });
  return items;
});

const functionTool = z.object({
  type: z.literal("function"),
  name: z.string().min(1, "must not be empty"),
  description: z.string().nullish(),
  parameters: jsonObject.nullish(),
  strict: z.boolean().nullish(),
});
/** Function tools only: a built-in tool (web_search, file_search, ...) is refused by its type. */
const tool = z.unknown().transform((value, ctx) => {
  const type = value !== null && typeof value === "object" ? (value as { type?: unknown }).type : undefined;
  if (type !== "function") {
    ctx.addIssue({
      code: "custom",
      message: `${typeof type === "string" ? `${type} tools are` : "this tool is"} not supported by this gateway (only function tools)`,
    });
    return z.NEVER;
  }
  const parsed = functionTool.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
  return z.NEVER;
});

const toolChoice = z.union([z.enum(["auto", "none", "required"]), z.object({ type: z.literal("function"), name: z.string().min(1) })], {
  error: 'must be "auto", "none", "required" or {"type": "function", "name"} (allowed_tools and built-in tool choices are not supported)',
});

const textFormat = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({
      type: z.literal("json_schema"),
      name: z.string().min(1, "must not be empty"),
      schema: jsonObject,
      description: z.string().nullish(),
      strict: z.boolean().nullish(),
    }),
  ],
  { error: (issue) => (issue.code === "invalid_union" ? 'type must be "text", "json_object" or "json_schema"' : undefined) },
);

/** A field this gateway cannot honour: absent or null (or the one harmless value) passes, anything else is refused. */
function refused(why: string) {
  return z.null({ error: why }).optional();
}

export const responsesBody = z
  .object({
    model: z.string().min(1, "model is required (the endpoint name)"),
    input: inputField.optional(),
    instructions: z.string().nullish(),
    max_output_tokens: countField,
    temperature: z.number().nullish(),
    top_p: z.number().nullish(),
    stream: z.boolean().nullish(),
    // include_obfuscation is accepted: the gateway's events carry no obfuscation padding.
    stream_options: z.strictObject({ include_obfuscation: z.boolean().nullish() }).nullish(),
    // Echoed on the Response, as OpenAI does; not sent upstream (chat's metadata is for stored completions).
    metadata: z.record(z.string(), z.string()).nullish(),
    user: z.string().nullish(),
    tools: z.array(tool).nullish(),
    tool_choice: toolChoice.nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    text: z.strictObject({ format: textFormat.nullish(), verbosity: z.enum(["low", "medium", "high"]).nullish() }).nullish(),
    // true (the default) keeps the answer (stored-responses.ts), unless store.responses.enabled is false.
    store: z.boolean().nullish(),
    reasoning: z
      .strictObject({
        effort: z.string().nullish(),
        summary: refused("reasoning summaries are not supported by this gateway (its chat upstreams return none)"),
        generate_summary: refused("reasoning summaries are not supported by this gateway (its chat upstreams return none)"),
      })
      .nullish(),
    truncation: z.enum(["disabled"], { error: 'only "disabled" is supported (the gateway does not drop input items to fit the context window)' }).nullish(),
    include: z.array(z.never({ error: "no include values are supported by this gateway (it returns no tool results, logprobs or encrypted reasoning)" })).nullish(),
    previous_response_id: z.string().min(1, "must not be empty").max(512, "must be at most 512 characters").nullish(),
    // A Conversations API conversation (conversations.ts): its id, or {id}.
    conversation: z
      .union([z.string(), z.strictObject({ id: z.string() })], { error: 'must be a conversation id or {"id": "conv_..."}' })
      .transform((c) => (typeof c === "string" ? c : c.id))
      .pipe(z.string().min(1, "must not be empty").max(512, "must be at most 512 characters"))
      .nullish(),
    background: z.literal(false, { error: "background responses are not supported: this gateway answers every response before it returns" }).nullish(),
    prompt: refused("stored prompts are not supported by this gateway (use the endpoint's prompt template and template_variables)"),
    max_tool_calls: refused("max_tool_calls is not supported (it limits built-in tool calls, which this gateway does not run)"),
    context_management: refused("context_management is not supported by this gateway"),
    top_logprobs: refused("top_logprobs is not supported on /v1/responses by this gateway (use /v1/chat/completions for logprobs)"),
    template_variables: templateVariablesField,
  })
  .catchall(z.unknown());

export type ResponsesBody = z.infer<typeof responsesBody>;

/** Chat Completions names sent to /v1/responses: refused with the Responses name to use. */
const chatOnlyFields: Readonly<Record<string, string>> = {
  messages: "use input (a string or a list of input items)",
  max_tokens: "use max_output_tokens",
  max_completion_tokens: "use max_output_tokens",
  response_format: "use text.format",
  functions: "use tools with type function",
  function_call: "use tool_choice",
  n: "the Responses API answers one output",
  stop: "the Responses API has no stop sequences",
  logprobs: "the Responses API has no logprobs parameter",
};

/**
 * Keys handled here, typed or refused; the rest travel in extras, as on /v1/chat/completions
 * (service_tier, safety_identifier, prompt_cache_key, ... mean the same in both APIs).
 */
const typedKeys = new Set(Object.keys(responsesBody.shape));

/** Stored items read back (a stored conversation), or undefined when they are not input items. */
export function parseInputItems(value: unknown): InputItem[] | undefined {
  const parsed = inputField.safeParse(value);
  return parsed.success && Array.isArray(parsed.data) ? parsed.data : undefined;
}

/**
 * The chat request; `history` is the stored conversation (previous_response_id's or
 * conversation's, as `historyName` says in errors), before this request's input.
 */
export function toChatRequestFromResponses(body: ResponsesBody, history?: readonly InputItem[], historyName = "previous_response_id's conversation"): ChatRequestInit {
  for (const key of Object.keys(body)) {
    const instead = chatOnlyFields[key];
    if (instead !== undefined && body[key] !== undefined) throw invalidArgument(`${key}: not a Responses API field (${instead})`);
  }
  const messages = toMessages(body, history, historyName);
  // Said here in this API's words (the service would name `messages`); a template's variables may stand in.
  if (messages.length === 0 && body.template_variables === undefined) throw invalidArgument("input: required (a string or a list of input items)");
  const extras = extrasOf(body, typedKeys) ?? {};
  if (body.reasoning?.effort != null) extras["reasoning_effort"] = body.reasoning.effort;
  if (body.text?.verbosity != null) extras["verbosity"] = body.text.verbosity;
  const format = body.text?.format;
  return {
    endpoint: body.model,
    messages,
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    maxTokens: body.max_output_tokens ?? undefined,
    maxTokensField: body.max_output_tokens == null ? undefined : MaxTokensField.MAX_COMPLETION_TOKENS,
    user: body.user ?? "",
    extras: Object.keys(extras).length > 0 ? extras : undefined,
    templateVariables: body.template_variables,
    tools: (body.tools ?? []).map((t) => ({
      type: "function",
      function: { name: t.name, description: t.description ?? "", parameters: (t.parameters ?? undefined) as JsonObject | undefined, strict: t.strict ?? undefined },
    })),
    toolChoice:
      body.tool_choice == null
        ? undefined
        : typeof body.tool_choice === "string"
          ? { choice: { case: "mode", value: body.tool_choice } }
          : { choice: { case: "functionName", value: body.tool_choice.name } },
    responseFormat:
      format == null || format.type === "text"
        ? undefined
        : format.type === "json_schema"
          ? {
              type: "json_schema",
              jsonSchema: { name: format.name, description: format.description ?? "", schema: format.schema as JsonObject, strict: format.strict ?? undefined },
            }
          : { type: "json_object" },
    parallelToolCalls: body.parallel_tool_calls ?? undefined,
  };
}

type MessageInit = NonNullable<ChatRequestInit["messages"]>[number];

/**
 * instructions (a leading system message), then the history's items and the input items as chat
 * messages (a history's paths say where in it, an input's where in `input`).
 */
function toMessages(body: ResponsesBody, history: readonly InputItem[] | undefined, historyName: string): MessageInit[] {
  const messages: MessageInit[] = [];
  if (body.instructions != null && body.instructions !== "") messages.push({ role: "system", content: body.instructions });
  addItems(messages, history ?? [], historyName);
  const items = body.input ?? [];
  if (typeof items === "string") messages.push({ role: "user", content: items });
  else addItems(messages, items, "input");
  return messages;
}

function addItems(messages: MessageInit[], items: readonly InputItem[], where: string): void {
  items.forEach((item, i) => {
    switch (item.type) {
      case "message": {
        messages.push({ role: item.role, ...textOf(item.content, `${where}[${i}].content`, item.role === "assistant") });
        return;
      }
      case "function_call": {
        // Consecutive calls (and a call right after the assistant's text) are one assistant turn, as chat has them.
        const last = messages.at(-1);
        const call = { id: item.call_id, type: "function", function: { name: item.name, arguments: item.arguments } };
        if (last?.role === "assistant") {
          const calls = (last.toolCalls ??= []);
          calls.push({ ...call, index: calls.length });
        } else {
          messages.push({ role: "assistant", content: "", toolCalls: [{ ...call, index: 0 }] });
        }
        return;
      }
      case "function_call_output": {
        const { content, parts } = textOf(item.output, `${where}[${i}].output`, false);
        messages.push({ role: "tool", toolCallId: item.call_id, content, parts });
        return;
      }
    }
  });
}

/**
 * A content string or parts as a chat message's content: one text part is the content string,
 * several stay parts (the provider joins or keeps them, as for chat); refusal parts (assistant
 * history) are the message's refusal.
 */
function textOf(content: string | ContentPart[], path: string, assistant: boolean): Pick<MessageInit, "content" | "parts" | "refusal"> {
  if (typeof content === "string") return { content };
  const texts: string[] = [];
  let refusal = "";
  content.forEach((p, j) => {
    if (p.type === "refusal") {
      if (!assistant) throw invalidArgument(`${path}[${j}]: refusal parts are only allowed in assistant messages`);
      refusal += p.refusal;
    } else texts.push(p.text);
  });
  if (texts.length <= 1) return { content: texts[0] ?? "", refusal };
  return { content: "", parts: texts.map((t) => ({ part: { case: "text", value: t } })), refusal };
}
