// A fake Hugging Face Text Generation Inference server on loopback, speaking TGI's wire formats
// (router/src/lib.rs, router/src/server.rs), for integration tests. One node:http server:
//
//   POST /generate              GenerateResponse {generated_text, details?}
//   POST /generate_stream       SSE `data:` StreamResponse events; the last has generated_text
//                               and details {finish_reason, generated_tokens, seed, input_length}
//   POST /v1/chat/completions   the Messages API: chat.completion, or chat.completion.chunk
//                               events (every delta repeats role "assistant"), a usage chunk
//                               when stream_options.include_usage, then [DONE]
//
// Validated as TGI does, with its error shape {"error", "error_type"}: temperature must be > 0
// and top_p < 1 (422 validation); /generate_stream refuses decoder_input_details with a 200 and
// an error event (TGI validates streams after answering). When started with `apiKey` (an
// Inference Endpoint), requests without `Authorization: Bearer <apiKey>` get 401.
//
// Deterministic answers, with fake-upstream.ts's helpers:
//   - reply = "echo: " + inputs (native) or the last user message's text (chat); the model id
//     is TGI_MODEL_ID whatever the request says (TGI serves one model). A chat response_format
//     (TGI's grammar {type: "json", value}) makes the reply the JSON text {"reply": <text>}.
//   - prompt tokens = words of inputs / every message; generated tokens = pieces
//     (splitIntoChunks), plus the closing special token </s> on a natural end, as TGI counts it.
//   - decoder_input_details lists one prefill token per prompt word (with a leading <s>, which
//     TGI adds: prompt tokens = words + 1 on /generate and in input_length).
//   - max_new_tokens / max_tokens caps the reply at that many words (finish_reason length),
//     stop cuts it (stop_sequence, or "stop" in chat).
//
// Directives at the start of the inputs / last user message, parsed by fake-upstream.ts's
// parseDirectives(): #status:NNN (TGI's error JSON; 422 validation, 424 generation,
// 429 overloaded with retry-after, others incomplete_generation), #garbage, #break (stream:
// two events, then the connection closes), #slow, #hang, #delay:N, #stream-error (two events,
// then a generation error event).
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type Directives,
  type JsonObject,
  type JsonValue,
  RETRY_AFTER_SECONDS,
  SLOW_INTERVAL_MS,
  countWords,
  fakeReplyText,
  parseDirectives,
  slowReplyText,
  splitIntoChunks,
} from "./fake-upstream";

export const TGI_MODEL_ID = "fake-org/fake-llm-7b-instruct";

export interface TgiRecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: JsonValue | undefined;
}

export interface FakeTgi {
  readonly url: string;
  readonly requests: TgiRecordedRequest[];
  /** Requests whose client went away before the answer ended (not counting #break). */
  readonly closedEarly: number;
  waitForClosedEarly(n: number, timeoutMs?: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

export interface FakeTgiOptions {
  /** Require `Authorization: Bearer <apiKey>`, as an Inference Endpoint does. */
  apiKey?: string;
}

const ERROR_TYPES: Record<number, string> = { 422: "validation", 424: "generation", 429: "overloaded" };

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

type Finish = "length" | "eos_token" | "stop_sequence";

interface Reply {
  pieces: string[];
  text: string;
  finish: Finish;
}

function makeReply(text: string, maxTokens: JsonValue | undefined, stop: JsonValue | undefined, slow: boolean): Reply {
  if (slow) return { pieces: splitIntoChunks(slowReplyText()), text: slowReplyText(), finish: "eos_token" };
  let reply = text;
  let finish: Finish = "eos_token";
  for (const s of Array.isArray(stop) ? stop : []) {
    const at = typeof s === "string" && s !== "" ? reply.indexOf(s) : -1;
    if (at !== -1) {
      reply = reply.slice(0, at + (s as string).length);
      finish = "stop_sequence";
    }
  }
  let pieces = splitIntoChunks(reply);
  if (typeof maxTokens === "number" && maxTokens > 0 && pieces.length > maxTokens) {
    pieces = pieces.slice(0, maxTokens);
    finish = "length";
  }
  return { pieces, text: pieces.join(""), finish };
}

/** Tokens TGI counts as generated: the pieces, plus </s> when the model ended by itself. */
const generatedTokens = (r: Reply) => r.pieces.length + (r.finish === "eos_token" ? 1 : 0);
const token = (id: number, text: string, special = false): JsonObject => ({ id, text, logprob: -0.25, special });
const sse = (obj: JsonValue | string): string => `data:${typeof obj === "string" ? obj : JSON.stringify(obj)}\n\n`;

interface Ctx {
  res: ServerResponse;
  selfClosed: boolean;
  timers: NodeJS.Timeout[];
}

class FakeTgiServer implements FakeTgi {
  url = "";
  closedEarly = 0;
  readonly requests: TgiRecordedRequest[] = [];
  private readonly server: Server;
  private closing = false;
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(private readonly options: FakeTgiOptions) {
    this.server = createServer({ keepAlive: true, noDelay: true }, (req, res) => this.onRequest(req, res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  waitForClosedEarly(n: number, timeoutMs = 2000): Promise<void> {
    if (this.closedEarly >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fake tgi: closedEarly is ${this.closedEarly}, wanted ${n}`)), timeoutMs);
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
      this.route(ctx, req, path, body);
    });
  }

  private route(ctx: Ctx, req: IncomingMessage, path: string, body: JsonValue | undefined): void {
    if (this.options.apiKey !== undefined && req.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      ctx.res.writeHead(401, { "content-type": "application/json" });
      return void ctx.res.end(JSON.stringify({ error: "Authorization header is correct, but the token seems invalid" }));
    }
    const handlers: Record<string, (ctx: Ctx, body: JsonObject) => void> = {
      "/generate": (c, b) => this.generate(c, b, false),
      "/generate_stream": (c, b) => this.generate(c, b, true),
      "/v1/chat/completions": (c, b) => this.chat(c, b),
    };
    const handler = handlers[path];
    if (handler === undefined || req.method !== "POST") {
      ctx.res.writeHead(404);
      return void ctx.res.end();
    }
    if (!isObject(body)) return this.error(ctx, 422, "Failed to deserialize the JSON body into the target type");
    handler(ctx, body);
  }

  private error(ctx: Ctx, status: number, message: string): void {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (status === 429) headers["retry-after"] = String(RETRY_AFTER_SECONDS);
    ctx.res.writeHead(status, headers);
    ctx.res.end(JSON.stringify({ error: message, error_type: ERROR_TYPES[status] ?? "incomplete_generation" }));
  }

  /** TGI's sampling checks (router/src/validation.rs); the message, or undefined when valid. */
  private static invalidSampling(params: JsonObject): string | undefined {
    if (typeof params.temperature === "number" && params.temperature <= 0) {
      return "Input validation error: `temperature` must be strictly positive";
    }
    if (typeof params.top_p === "number" && (params.top_p <= 0 || params.top_p >= 1)) {
      return "Input validation error: `top_p` must be > 0.0 and < 1.0";
    }
    return undefined;
  }

  // --- native routes ---------------------------------------------------------------------------

  private generate(ctx: Ctx, body: JsonObject, stream: boolean): void {
    const inputs = body.inputs;
    if (typeof inputs !== "string") return this.error(ctx, 422, "Failed to deserialize the JSON body: missing field `inputs`");
    const params = isObject(body.parameters) ? body.parameters : {};
    const d = parseDirectives(inputs);
    const invalid = FakeTgiServer.invalidSampling(params);
    if (invalid !== undefined) return this.error(ctx, 422, invalid);
    const reply = makeReply(fakeReplyText(inputs), params.max_new_tokens ?? 100, params.stop, d.slow);
    const inputLength = countWords(inputs) + 1;
    const seed = typeof params.seed === "number" ? params.seed : null;
    if (!stream) {
      return this.unary(ctx, d, () => {
        const answer: JsonObject = { generated_text: reply.text };
        if (params.details === true) {
          const prefill = params.decoder_input_details === true
            ? [{ id: 1, text: "<s>", logprob: null }, ...inputs.split(/\s+/).filter(Boolean).map((w, i) => ({ id: 100 + i, text: w, logprob: -1.5 }))]
            : [];
          answer.details = {
            finish_reason: reply.finish,
            generated_tokens: generatedTokens(reply),
            seed,
            prefill,
            tokens: reply.pieces.map((p, i) => token(1000 + i, p)),
          };
        }
        return answer;
      });
    }
    if (params.decoder_input_details === true) {
      // TGI answers 200, then the validation error as the only event.
      return this.events(ctx, parseDirectives(""), [], [], [
        sse({ error: "Input validation error: `decoder_input_details` == true is not supported when streaming tokens", error_type: "validation" }),
      ]);
    }
    const details = { finish_reason: reply.finish, generated_tokens: generatedTokens(reply), seed, input_length: inputLength };
    const last = reply.pieces.length - 1;
    const events = reply.pieces.map((p, i) => {
      const closing = i === last && reply.finish !== "eos_token";
      return sse({ index: i + 1, token: token(1000 + i, p), generated_text: closing ? reply.text : null, details: closing ? details : null });
    });
    const tail =
      reply.finish === "eos_token"
        ? [sse({ index: reply.pieces.length + 1, token: token(2, "</s>", true), generated_text: reply.text, details })]
        : [];
    this.events(ctx, d, [], events, tail);
  }

  // --- Messages API ----------------------------------------------------------------------------

  private chat(ctx: Ctx, body: JsonObject): void {
    const messages = Array.isArray(body.messages) ? body.messages.filter(isObject) : [];
    if (messages.length === 0) return this.error(ctx, 422, "Failed to deserialize the JSON body: missing field `messages`");
    const invalid = FakeTgiServer.invalidSampling(body);
    if (invalid !== undefined) return this.error(ctx, 422, invalid);
    let promptTokens = 0;
    let userText = "";
    for (const m of messages) {
      const text = typeof m.content === "string" ? m.content : "";
      promptTokens += countWords(text);
      if (m.role === "user") userText = text;
    }
    const d = parseDirectives(userText);
    const format = isObject(body.response_format) ? body.response_format : undefined;
    if (format !== undefined && format.type !== "json") {
      return this.error(ctx, 422, "Failed to deserialize the JSON body: response_format: unknown variant");
    }
    const text = format === undefined ? fakeReplyText(userText) : JSON.stringify({ reply: fakeReplyText(userText) });
    const reply = makeReply(text, body.max_tokens, body.stop, d.slow);
    const finish = reply.finish === "length" ? "length" : "stop";
    const usage = { prompt_tokens: promptTokens, completion_tokens: generatedTokens(reply), total_tokens: promptTokens + generatedTokens(reply) };
    const envelope = { id: "", created: 1732549436, model: TGI_MODEL_ID, system_fingerprint: "3.0.1-sha-fake" };
    if (body.stream !== true) {
      return this.unary(ctx, d, () => ({
        object: "chat.completion",
        ...envelope,
        choices: [{ index: 0, message: { role: "assistant", content: reply.text }, logprobs: null, finish_reason: finish }],
        usage,
      }));
    }
    const chunk = (content: string, finishReason: string | null) =>
      sse({ object: "chat.completion.chunk", ...envelope, choices: [{ index: 0, delta: { role: "assistant", content }, logprobs: null, finish_reason: finishReason }], usage: null });
    const includeUsage = isObject(body.stream_options) && body.stream_options.include_usage === true;
    const tail = [chunk("", finish)];
    if (includeUsage) tail.push(sse({ object: "chat.completion.chunk", ...envelope, choices: [], usage }));
    tail.push(sse("[DONE]"));
    this.events(ctx, d, [], reply.pieces.map((p) => chunk(p, null)), tail);
  }

  // --- answering under directives --------------------------------------------------------------

  private later(ctx: Ctx, ms: number, run: () => void): void {
    ctx.timers.push(setTimeout(run, ms));
  }

  private start(ctx: Ctx, d: Readonly<Directives>, go: () => void): void {
    if (d.hang) return;
    if (d.delayMs > 0) return this.later(ctx, d.delayMs, () => this.start(ctx, { ...d, delayMs: 0 }, go));
    if (d.status !== 0) return this.error(ctx, d.status, `fake tgi: status ${d.status}`);
    go();
  }

  private unary(ctx: Ctx, d: Readonly<Directives>, answer: () => JsonObject): void {
    this.start(ctx, d, () => {
      const { res } = ctx;
      if (res.destroyed) return;
      if (d.break) {
        ctx.selfClosed = true;
        return void res.socket?.destroy();
      }
      const send = () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(d.garbage ? '{"generated_text": "echo' : JSON.stringify(answer()));
      };
      if (d.slow) this.later(ctx, 2000, send);
      else send();
    });
  }

  private events(ctx: Ctx, d: Readonly<Directives>, head: string[], body: string[], tail: string[]): void {
    this.start(ctx, d, () => {
      const { res } = ctx;
      if (res.destroyed) return;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      if (d.garbage) return void res.end(head.join("") + sse('{"index":1,"token":{"id'));
      if (d.break) {
        ctx.selfClosed = true;
        const socket = res.socket;
        res.write(head.join("") + body.slice(0, 2).join(""), () => socket?.destroy());
        return;
      }
      if (d.streamError) {
        const error = sse({ error: "Request failed during generation: Server error: CUDA out of memory.", error_type: "generation" });
        return void res.end(head.join("") + body.slice(0, 2).join("") + error);
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
export async function startFakeTgi(options: FakeTgiOptions = {}): Promise<FakeTgi> {
  const fake = new FakeTgiServer(options);
  await fake.listen();
  return fake;
}
