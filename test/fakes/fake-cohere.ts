// A fake Cohere v2 API (https://docs.cohere.com/v2/reference) on loopback, speaking its real
// wire format:
//
//   POST /v2/chat    unary: {id, finish_reason, message: {role, content[] | tool_plan +
//                    tool_calls[]}, usage: {billed_units, tokens}}; with `stream: true`: SSE
//                    `event: <type>` + `data` events message-start, content-start,
//                    content-delta..., content-end (or tool-plan-delta..., tool-call-start,
//                    tool-call-delta..., tool-call-end), message-end (finish_reason + usage)
//   POST /v2/embed   {id, embeddings: {float: [...]}, texts, meta: {billed_units}, response_type}
//
// A Bearer key is required (missing: 401); errors are {"id", "message"}. Behaviour, as
// fake-upstream.ts:
//   - the reply is fakeReplyText(last user text), streamed in splitIntoChunks() pieces, capped
//     by max_tokens (MAX_TOKENS), cut at stop_sequences (STOP_SEQUENCE), else COMPLETE. Usage:
//     billed_units.input_tokens = words of every message (tool results included), output =
//     reply words (for a tool call: its argument fragments, splitToolArguments());
//     tokens.input_tokens adds PREAMBLE_TOKENS for Cohere's own system preamble.
//   - tools: when the request has tools, tool_choice is not NONE and the last user message
//     starts with `#tool`, the answer is a tool_plan and one call of the first tool with
//     arguments fakeToolArguments(text), finish_reason TOOL_CALL. When the last message is a
//     tool result, the reply is "echo: " + the trailing tool results' contents joined by " ";
//     a tool_call_id that no earlier assistant tool call has is a 400, as in the real API.
//   - embeddings: fakeEmbedding(text) per text; input_type is required, as in v2.
//   - directives (parseDirectives) in the last user text / the first text, applied by
//     FakeHttpServer; #stream-error ends the stream with message-end finish_reason ERROR, which
//     is how Cohere reports a failed generation.
import { countWords, fakeEmbedding, fakeToolArguments, parseDirectives, splitToolArguments } from "./fake-upstream";
import type { FakeUpstream, JsonObject, JsonValue } from "./fake-upstream";
import { type FakeCtx, FakeHttpServer, type Route, fakeReply, isObject, positiveInt, stringList } from "./fake-http";

/** Tokens Cohere adds for its own system preamble (counted in `tokens`, never billed). */
export const PREAMBLE_TOKENS = 100;

function errorBody(status: number, message?: string): string {
  return JSON.stringify({ id: "fake-error-id", message: message ?? `fake cohere: status ${status}` });
}

const event = (type: string, data: JsonObject): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

/** Text of a message content: a string, or text items. */
function contentText(content: JsonValue | undefined): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((c) => (isObject(c) && typeof c.text === "string" ? c.text : "")).join("");
}

class FakeCohere {
  readonly server: FakeHttpServer;
  private seq = 0;

  constructor() {
    this.server = new FakeHttpServer({ errorBody, streamContentType: "text/event-stream" }, (path, method) =>
      this.route(path, method),
    );
  }

  private route(path: string, method: string): Route | undefined {
    if (method !== "POST" || (path !== "/v2/chat" && path !== "/v2/embed")) return undefined;
    return (ctx, body) => {
      if (!/^Bearer \S+/.test(ctx.req.headers.authorization ?? "")) return this.server.sendError(ctx, 401, "no api key supplied");
      if (!isObject(body)) return this.server.sendError(ctx, 400, "invalid request: the body must be a JSON object");
      if (typeof body.model !== "string" || body.model === "") return this.server.sendError(ctx, 400, "invalid request: model is required");
      if (path === "/v2/embed") return this.embed(ctx, body);
      this.chat(ctx, body);
    };
  }

  private chat(ctx: FakeCtx, body: JsonObject): void {
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      return this.server.sendError(ctx, 400, "invalid request: messages must contain at least one message");
    }
    const callIds = new Set<string>();
    let inputWords = 0;
    let lastUser = "";
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (!isObject(m) || !["system", "user", "assistant", "tool"].includes(String(m.role))) {
        return this.server.sendError(ctx, 400, `invalid request: messages[${i}].role must be one of system, user, assistant, tool`);
      }
      inputWords += countWords(contentText(m.content)) + countWords(typeof m.tool_plan === "string" ? m.tool_plan : "");
      if (m.role === "user") lastUser = contentText(m.content);
      if (m.role === "assistant" && Array.isArray(m.tool_calls)) {
        for (const c of m.tool_calls) if (isObject(c) && typeof c.id === "string") callIds.add(c.id);
      }
      if (m.role === "tool" && (typeof m.tool_call_id !== "string" || !callIds.has(m.tool_call_id))) {
        return this.server.sendError(ctx, 400, `invalid request: tool call id ${JSON.stringify(m.tool_call_id)} in messages[${i}] was not found in the previous tool calls`);
      }
    }
    // The trailing tool results, if the conversation ends with them.
    const results: string[] = [];
    for (let i = messages.length - 1; i >= 0 && isObject(messages[i]) && (messages[i] as JsonObject).role === "tool"; i--) {
      results.unshift(contentText((messages[i] as JsonObject).content));
    }
    const input = results.length > 0 ? results.join(" ") : lastUser;
    const d = parseDirectives(results.length > 0 ? "" : lastUser);
    const call = results.length > 0 ? undefined : this.toolCall(body, lastUser);
    const stream = body.stream === true;
    const id = `fake-chat-${String(++this.seq).padStart(8, "0")}`;
    this.server.act(ctx, d, stream, () => {
      const usage = (output: number): JsonObject => ({
        billed_units: { input_tokens: inputWords, output_tokens: output },
        tokens: { input_tokens: inputWords + PREAMBLE_TOKENS, output_tokens: output },
      });
      const messageStart = event("message-start", {
        id,
        delta: { message: { role: "assistant", content: [], tool_plan: "", tool_calls: [], citations: [] } },
      });
      const failed = event("message-end", { delta: { finish_reason: "ERROR", usage: usage(2) } });
      const garbage = 'event: content-delta\ndata: {"type": "content-delta", "index": 0, "delta\n\n';
      if (call !== undefined) {
        const fragments = splitToolArguments(call.arguments);
        const plan = `I will call ${call.name}.`;
        const toolCall = { id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } };
        if (!stream) {
          return this.server.send(ctx.res, 200, JSON.stringify({
            id,
            finish_reason: "TOOL_CALL",
            message: { role: "assistant", tool_plan: plan, tool_calls: [toolCall] },
            usage: usage(fragments.length),
          }));
        }
        return this.server.sendStream(ctx, d, {
          head: [messageStart, event("tool-plan-delta", { delta: { message: { tool_plan: plan } } })],
          body: [
            event("tool-call-start", { index: 0, delta: { message: { tool_calls: { ...toolCall, function: { name: call.name, arguments: "" } } } } }),
            ...fragments.map((arguments_) => event("tool-call-delta", { index: 0, delta: { message: { tool_calls: { function: { arguments: arguments_ } } } } })),
          ],
          tail: [
            event("tool-call-end", { index: 0 }),
            event("message-end", { delta: { finish_reason: "TOOL_CALL", usage: usage(fragments.length) } }),
          ],
          error: failed,
          garbage,
        });
      }
      const reply = fakeReply(input, d.slow, positiveInt(body.max_tokens), stringList(body.stop_sequences));
      const finish = reply.finish === "length" ? "MAX_TOKENS" : reply.finish === "stop_sequence" ? "STOP_SEQUENCE" : "COMPLETE";
      if (!stream) {
        return this.server.send(ctx.res, 200, JSON.stringify({
          id,
          finish_reason: finish,
          message: { role: "assistant", content: [{ type: "text", text: reply.text }] },
          usage: usage(reply.pieces.length),
        }));
      }
      this.server.sendStream(ctx, d, {
        head: [messageStart, event("content-start", { index: 0, delta: { message: { content: { type: "text", text: "" } } } })],
        body: reply.pieces.map((text) => event("content-delta", { index: 0, delta: { message: { content: { text } } }, logprobs: null })),
        tail: [
          event("content-end", { index: 0 }),
          event("message-end", { delta: { finish_reason: finish, usage: usage(reply.pieces.length) } }),
        ],
        error: failed,
        garbage,
      });
    });
  }

  /** The call a `#tool` message gets, when tools are given and allowed. */
  private toolCall(body: JsonObject, lastUser: string): { id: string; name: string; arguments: string } | undefined {
    if (!lastUser.startsWith("#tool") || !Array.isArray(body.tools) || body.tool_choice === "NONE") return undefined;
    const first = body.tools[0];
    const fn = isObject(first) && isObject(first.function) ? first.function : undefined;
    if (fn === undefined || typeof fn.name !== "string") return undefined;
    return { id: `${fn.name}_fake${String(this.seq + 1).padStart(6, "0")}`, name: fn.name, arguments: fakeToolArguments(lastUser) };
  }

  private embed(ctx: FakeCtx, body: JsonObject): void {
    const texts = body.texts;
    if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === "string")) {
      return this.server.sendError(ctx, 400, "invalid request: texts must be a non-empty list of strings");
    }
    if (typeof body.input_type !== "string") {
      return this.server.sendError(ctx, 400, "invalid request: valid input_type must be provided with the provided model");
    }
    if (!Array.isArray(body.embedding_types) || !body.embedding_types.includes("float")) {
      return this.server.sendError(ctx, 400, "fake cohere: only float embeddings are served");
    }
    const inputs = texts as string[];
    this.server.act(ctx, parseDirectives(inputs[0] ?? ""), false, () =>
      this.server.send(ctx.res, 200, JSON.stringify({
        id: `fake-embed-${String(++this.seq).padStart(8, "0")}`,
        embeddings: { float: inputs.map(fakeEmbedding) },
        texts: inputs,
        meta: { api_version: { version: "2" }, billed_units: { input_tokens: inputs.reduce((n, t) => n + countWords(t), 0) } },
        response_type: "embeddings_by_type",
      })),
    );
  }
}

/** Starts the fake Cohere API on a free port of 127.0.0.1; `url` is its base URL. */
export async function startFakeCohere(): Promise<FakeUpstream> {
  const fake = new FakeCohere();
  await fake.server.listen();
  return fake.server;
}
