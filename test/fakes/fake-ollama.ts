// A fake Ollama server on loopback, speaking its native API (ollama/ollama docs/api.md,
// api/types.go), for integration tests. One plain node:http server (HTTP/1.1, keep-alive):
//
//   POST /api/chat      ChatResponse; streamed (the default, as in Ollama) as NDJSON lines with
//                       content type application/x-ndjson, the last with done: true
//   POST /api/generate  GenerateResponse (`response` text), streamed the same way
//   POST /api/embed     {model, embeddings: [[...]], prompt_eval_count}
//
// Deterministic answers, with fake-upstream.ts's helpers:
//   - chat reply = "echo: " + the last user message's text; generate reply = "echo: " + prompt.
//     With `format` ("json" or a schema) the reply is the JSON text {"reply": <that text>}.
//   - streams send one line per splitIntoChunks() piece, then a done line with empty content.
//   - prompt_eval_count = words in every message's content (or the prompt / inputs);
//     eval_count = the number of pieces. Ollama leaves prompt_eval_count out when it is 0.
//   - options.num_predict caps the reply at that many words (done_reason "length"),
//     options.stop cuts it before the first match (done_reason "stop").
//   - tool calls: when the request has `tools` and the LAST message is a user message starting
//     with `#tool`, the answer is one call of the first tool with arguments
//     fakeToolArguments(text) as an OBJECT and no id, done_reason "stop" (as Ollama says even
//     after tool calls); streamed as one line holding the whole call, then the done line.
//     When the LAST message is a tool result, the reply is
//     "echo: tool <tool_name> said <content>", so a test sees what the gateway sent back.
//   - images: a user message's `images` must be base64 strings; the reply gains
//     " [N images]" so a test sees they arrived.
//   - model "missing" answers 404 {"error": "model \"missing\" not found, try pulling it first"}.
//
// Directives at the start of that last user message / the prompt / the first input, parsed by
// fake-upstream.ts's parseDirectives(): #status:NNN ({"error"} with that status; 429 adds
// retry-after), #garbage (unary: invalid JSON; stream: an invalid line), #break (stream: two
// lines, then the connection closes without the done line; unary: the socket is destroyed),
// #slow (one line every SLOW_INTERVAL_MS for SLOW_CHUNK_COUNT lines), #hang, #delay:N,
// #stream-error (two lines, then an {"error"} line, as Ollama reports a failed generation).
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type Directives,
  type JsonObject,
  type JsonValue,
  RETRY_AFTER_SECONDS,
  SLOW_INTERVAL_MS,
  countWords,
  fakeEmbedding,
  fakeReplyText,
  fakeToolArguments,
  parseDirectives,
  slowReplyText,
  splitIntoChunks,
} from "./fake-upstream";

export interface OllamaRecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when empty or not JSON. */
  body: JsonValue | undefined;
}

export interface FakeOllama {
  /** e.g. "http://127.0.0.1:43211" (no trailing slash). */
  readonly url: string;
  readonly requests: OllamaRecordedRequest[];
  /** Requests whose client went away before the answer ended (not counting #break). */
  readonly closedEarly: number;
  waitForClosedEarly(n: number, timeoutMs?: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

const NDJSON = "application/x-ndjson";
const CREATED_AT = "2025-01-15T10:20:30.123456789Z";

interface Reply {
  pieces: string[];
  text: string;
  doneReason: "stop" | "length";
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The reply to `text` under the request's options (num_predict, stop) and format. */
function makeReply(text: string, body: JsonObject, slow: boolean): Reply {
  if (slow) {
    const pieces = splitIntoChunks(slowReplyText());
    return { pieces, text: slowReplyText(), doneReason: "stop" };
  }
  let reply = body.format === undefined ? text : JSON.stringify({ reply: text });
  const options = isObject(body.options) ? body.options : {};
  const stops = Array.isArray(options.stop) ? options.stop.filter((s): s is string => typeof s === "string" && s !== "") : [];
  for (const stop of stops) {
    const at = reply.indexOf(stop);
    if (at !== -1) reply = reply.slice(0, at);
  }
  let pieces = splitIntoChunks(reply);
  let doneReason: Reply["doneReason"] = "stop";
  const max = options.num_predict;
  if (typeof max === "number" && max > 0 && pieces.length > max) {
    pieces = pieces.slice(0, max);
    pieces[pieces.length - 1] = (pieces[pieces.length - 1] ?? "").trimEnd();
    doneReason = "length";
  }
  return { pieces, text: pieces.join(""), doneReason };
}

/** The done fields: Ollama's Metrics, with prompt_eval_count left out when 0 (omitempty). */
function metrics(promptTokens: number, evalCount: number): JsonObject {
  const out: JsonObject = { total_duration: 5191566416, load_duration: 2154458 };
  if (promptTokens > 0) out.prompt_eval_count = promptTokens;
  out.prompt_eval_duration = 383809000;
  out.eval_count = evalCount;
  out.eval_duration = 4799921000;
  return out;
}

const line = (obj: JsonValue): string => JSON.stringify(obj) + "\n";

interface Ctx {
  res: ServerResponse;
  selfClosed: boolean;
  timers: NodeJS.Timeout[];
}

class FakeOllamaServer implements FakeOllama {
  url = "";
  closedEarly = 0;
  readonly requests: OllamaRecordedRequest[] = [];
  private readonly server: Server;
  private closing = false;
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor() {
    this.server = createServer({ keepAlive: true, noDelay: true }, (req, res) => this.onRequest(req, res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  waitForClosedEarly(n: number, timeoutMs = 2000): Promise<void> {
    if (this.closedEarly >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fake ollama: closedEarly is ${this.closedEarly}, wanted ${n}`)), timeoutMs);
      this.waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  reset(): void {
    this.requests.length = 0;
    this.closedEarly = 0;
  }

  close(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const ctx: Ctx = { res, selfClosed: false, timers: [] };
    res.on("close", () => {
      for (const t of ctx.timers) clearTimeout(t);
      if (!res.writableEnded && !ctx.selfClosed && !this.closing) {
        this.closedEarly++;
        this.waiters = this.waiters.filter((w) => (this.closedEarly >= w.n ? (w.resolve(), false) : true));
      }
    });
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (raw += chunk));
    req.on("end", () => {
      let body: JsonValue | undefined;
      try {
        body = raw === "" ? undefined : (JSON.parse(raw) as JsonValue);
      } catch {
        body = undefined;
      }
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      this.requests.push({ method: req.method ?? "GET", path, headers: req.headers, body });
      this.route(ctx, req.method ?? "GET", path, body);
    });
  }

  private route(ctx: Ctx, method: string, path: string, body: JsonValue | undefined): void {
    const handlers: Record<string, (ctx: Ctx, body: JsonObject) => void> = {
      "/api/chat": (c, b) => this.chat(c, b),
      "/api/generate": (c, b) => this.generate(c, b),
      "/api/embed": (c, b) => this.embed(c, b),
    };
    const handler = handlers[path];
    if (handler === undefined) return this.error(ctx, 404, "404 page not found");
    if (method !== "POST") return this.error(ctx, 405, "405 method not allowed");
    if (!isObject(body)) return this.error(ctx, 400, "invalid request body");
    if (typeof body.model !== "string" || body.model === "") return this.error(ctx, 400, "model is required");
    if (body.model === "missing") return this.error(ctx, 404, `model "missing" not found, try pulling it first`);
    handler(ctx, body);
  }

  private error(ctx: Ctx, status: number, message: string): void {
    const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
    if (status === 429) headers["retry-after"] = String(RETRY_AFTER_SECONDS);
    ctx.res.writeHead(status, headers);
    ctx.res.end(JSON.stringify({ error: message }));
  }

  // --- routes ----------------------------------------------------------------------------------

  private chat(ctx: Ctx, body: JsonObject): void {
    const messages = body.messages;
    if (!Array.isArray(messages) || !messages.every(isObject)) return this.error(ctx, 400, "messages must be a list");
    let promptTokens = 0;
    for (const m of messages) {
      promptTokens += countWords(typeof m.content === "string" ? m.content : "");
      if (m.images !== undefined && !(Array.isArray(m.images) && m.images.every((i) => typeof i === "string"))) {
        return this.error(ctx, 400, "images must be base64 strings");
      }
    }
    const last = messages[messages.length - 1];
    const lastUser = [...messages].reverse().find((m) => m.role === "user");
    const userText = typeof lastUser?.content === "string" ? lastUser.content : "";
    const tools = Array.isArray(body.tools) ? body.tools.filter(isObject) : [];
    const stream = body.stream !== false;
    const model = body.model as string;

    // A tool call answers a `#tool` user turn when tools are offered.
    if (last?.role === "user" && userText.startsWith("#tool") && tools.length > 0) {
      const fn = isObject(tools[0]?.function) ? tools[0].function : {};
      const call = { function: { index: 0, name: String(fn.name), arguments: JSON.parse(fakeToolArguments(userText)) as JsonValue } };
      const head = { model, created_at: CREATED_AT, message: { role: "assistant", content: "", tool_calls: [call] }, done: !stream };
      const done = { model, created_at: CREATED_AT, message: { role: "assistant", content: "" }, done_reason: "stop", done: true, ...metrics(promptTokens, 1) };
      if (!stream) return this.json(ctx, { ...head, done_reason: "stop", done: true, ...metrics(promptTokens, 1) });
      return this.ndjson(ctx, parseDirectives(""), [line(head)], [], [line(done)]);
    }

    let text: string;
    if (last?.role === "tool") {
      text = `echo: tool ${String(last.tool_name)} said ${String(last.content)}`;
    } else {
      const images = Array.isArray(lastUser?.images) ? lastUser.images.length : 0;
      text = fakeReplyText(userText) + (images > 0 ? ` [${images} images]` : "");
    }
    const d = last?.role === "tool" ? parseDirectives("") : parseDirectives(userText);
    const reply = makeReply(text, body, d.slow);
    const message = (content: string) => ({ role: "assistant", content });
    if (!stream) {
      return this.unary(ctx, d, () => ({
        model,
        created_at: CREATED_AT,
        message: message(reply.text),
        done_reason: reply.doneReason,
        done: true,
        ...metrics(promptTokens, reply.pieces.length),
      }));
    }
    this.ndjson(
      ctx,
      d,
      [],
      reply.pieces.map((p) => line({ model, created_at: CREATED_AT, message: message(p), done: false })),
      [line({ model, created_at: CREATED_AT, message: message(""), done_reason: reply.doneReason, done: true, ...metrics(promptTokens, reply.pieces.length) })],
    );
  }

  private generate(ctx: Ctx, body: JsonObject): void {
    if (typeof body.prompt !== "string") return this.error(ctx, 400, "prompt must be a string");
    const d = parseDirectives(body.prompt);
    const reply = makeReply(fakeReplyText(body.prompt), body, d.slow);
    const model = body.model as string;
    const promptTokens = countWords(body.prompt);
    const done = { done: true, done_reason: reply.doneReason, context: [1, 2, 3], ...metrics(promptTokens, reply.pieces.length) };
    if (body.stream === false) {
      return this.unary(ctx, d, () => ({ model, created_at: CREATED_AT, response: reply.text, ...done }));
    }
    this.ndjson(
      ctx,
      d,
      [],
      reply.pieces.map((p) => line({ model, created_at: CREATED_AT, response: p, done: false })),
      [line({ model, created_at: CREATED_AT, response: "", ...done })],
    );
  }

  private embed(ctx: Ctx, body: JsonObject): void {
    const input = typeof body.input === "string" ? [body.input] : body.input;
    if (!Array.isArray(input) || !input.every((s): s is string => typeof s === "string")) {
      return this.error(ctx, 400, "invalid input type");
    }
    const d = parseDirectives(input[0] ?? "");
    const tokens = input.reduce((n, s) => n + countWords(s), 0);
    this.unary(ctx, d, () => ({
      model: body.model as string,
      embeddings: input.map(fakeEmbedding),
      total_duration: 14143917,
      load_duration: 1019500,
      prompt_eval_count: tokens,
    }));
  }

  // --- answering under directives --------------------------------------------------------------

  private later(ctx: Ctx, ms: number, run: () => void): void {
    ctx.timers.push(setTimeout(run, ms));
  }

  private json(ctx: Ctx, obj: JsonValue): void {
    if (ctx.res.destroyed) return;
    ctx.res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    ctx.res.end(JSON.stringify(obj));
  }

  /** Applies #delay, #hang and #status; then `go`. */
  private start(ctx: Ctx, d: Readonly<Directives>, go: () => void): void {
    if (d.hang) return;
    if (d.delayMs > 0) return this.later(ctx, d.delayMs, () => this.start(ctx, { ...d, delayMs: 0 }, go));
    if (d.status !== 0) return this.error(ctx, d.status, `fake ollama: status ${d.status}`);
    go();
  }

  private unary(ctx: Ctx, d: Readonly<Directives>, answer: () => JsonObject): void {
    this.start(ctx, d, () => {
      if (d.break) {
        ctx.selfClosed = true;
        ctx.res.socket?.destroy();
      } else if (d.garbage) {
        ctx.res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
        ctx.res.end('{"model":"x","message":{"role":"assist');
      } else if (d.slow) {
        this.later(ctx, 2000, () => this.json(ctx, answer()));
      } else {
        this.json(ctx, answer());
      }
    });
  }

  private ndjson(ctx: Ctx, d: Readonly<Directives>, head: string[], body: string[], tail: string[]): void {
    this.start(ctx, d, () => {
      const { res } = ctx;
      if (res.destroyed) return;
      res.writeHead(200, { "content-type": NDJSON });
      if (d.garbage) return void res.end(head.join("") + '{"model":"x","message":{"role":"assist\n');
      if (d.break) {
        ctx.selfClosed = true;
        const socket = res.socket;
        res.write(head.join("") + body.slice(0, 2).join(""), () => socket?.destroy());
        return;
      }
      if (d.streamError) {
        return void res.end(head.join("") + body.slice(0, 2).join("") + line({ error: "an error was encountered while running the model: unexpected EOF" }));
      }
      if (d.slow) {
        res.write(head.join(""));
        let i = 0;
        const tick = () => {
          if (res.destroyed) return;
          if (i < body.length) {
            res.write(body[i++] ?? "");
            this.later(ctx, SLOW_INTERVAL_MS, tick);
          } else {
            res.end(tail.join(""));
          }
        };
        return tick();
      }
      res.end(head.join("") + body.join("") + tail.join(""));
    });
  }
}

/** Starts the fake on 127.0.0.1, on a free port. */
export async function startFakeOllama(): Promise<FakeOllama> {
  const fake = new FakeOllamaServer();
  await fake.listen();
  return fake;
}
