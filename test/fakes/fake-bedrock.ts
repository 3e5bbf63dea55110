// A fake Amazon Bedrock runtime on loopback, speaking its real wire formats, for integration
// tests. One plain node:http server (HTTP/1.1, keep-alive) serves:
//
//   POST /model/{modelId}/converse         Converse JSON
//   POST /model/{modelId}/converse-stream  ConverseStream: application/vnd.amazon.eventstream
//                                          frames, encoded with smithy's EventStreamCodec
//   POST /model/{modelId}/invoke           InvokeModel for embedding models: Amazon Titan
//                                          ({inputText} -> {embedding, inputTextTokenCount}) and
//                                          Cohere ({texts, input_type} -> {embeddings, ...})
//
// Authentication is checked for real. A SigV4 request is verified by recomputing its signature
// with smithy's SignatureV4 from what arrived (method, raw path, the signed headers, the body
// bytes) and the fake's own secret: a wrong secret, a changed body or a missing signed header
// gets 403 InvalidSignatureException "The request signature we calculated does not match...",
// an unknown key id or session token 403 UnrecognizedClientException, a stale x-amz-date 403
// "Signature expired". `Authorization: Bearer <key>` (Bedrock API keys) is checked against
// `apiKey`. Errors have Bedrock's shape: an `x-amzn-errortype` header and {"message"}.
//
// Converse requests are validated as Bedrock does where our translation could go wrong: roles
// must alternate starting with user, text blocks must not be blank, toolUse / toolResult
// blocks need a toolConfig, a toolChoice must name a defined tool.
//
// Deterministic answers, as in fake-upstream.ts (its helpers are reused):
//   - reply text = "echo: " + the last user message's text blocks; when that message holds
//     tool results, "echo: " + their content (text as is, json as JSON text)
//   - streams send one contentBlockDelta per splitIntoChunks() piece, then contentBlockStop,
//     messageStop and metadata (usage), every payload with Bedrock's `p` padding field
//   - usage: inputTokens = words in the system and every text block, outputTokens = pieces
//   - inferenceConfig.maxTokens caps the reply at that many words (stopReason max_tokens),
//     stopSequences cut it (stop_sequence)
//   - `#tool` with a toolConfig: "Let me check." and one toolUse of the first tool (or the one
//     toolChoice names) with input fakeToolArguments(text); streamed as contentBlockStart
//     {toolUse} then splitToolArguments() fragments; stopReason tool_use
//   - embeddings: fakeEmbedding() per text; Titan's inputTextTokenCount = words
//
// Directives at the start of the last user text (Converse) or the first input (invoke), as
// fake-upstream.ts parses them: #status:NNN, #garbage (unary: invalid JSON; stream: a frame
// with a broken checksum), #break, #slow, #hang, #delay:N, #stream-error (stream: two deltas,
// then a modelStreamErrorException frame) and, Bedrock's own, #throttle-midstream (two
// deltas, then a throttlingException frame).
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { randomUUID } from "node:crypto";
import { EventStreamCodec, type MessageHeaders } from "@smithy/core/event-streams";
import { Hash, fromUtf8, toUtf8 } from "@smithy/core/serde";
import { SignatureV4 } from "@smithy/signature-v4";
import {
  type JsonObject,
  type JsonValue,
  RETRY_AFTER_SECONDS,
  SLOW_CHUNK_COUNT,
  SLOW_INTERVAL_MS,
  countWords,
  fakeEmbedding,
  fakeReplyText,
  fakeToolArguments,
  parseDirectives,
  slowReplyText,
  splitIntoChunks,
  splitToolArguments,
} from "./fake-upstream";

export interface FakeBedrockCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, SigV4 requests must carry this x-amz-security-token. */
  sessionToken?: string;
  region: string;
  /** The Bedrock API key accepted as `Authorization: Bearer`. */
  apiKey: string;
}

export const FAKE_BEDROCK_CREDENTIALS: Readonly<FakeBedrockCredentials> = Object.freeze({
  accessKeyId: "AKIAFAKEBEDROCK00001",
  secretAccessKey: "fake/bedrock/Secret+Key/0000000000000000",
  region: "us-east-1",
  apiKey: "ABSKZmFrZS1iZWRyb2NrLWFwaS1rZXk=",
});

export interface BedrockRecordedRequest {
  method: string;
  /** The raw request path, e.g. "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse". */
  path: string;
  /** Lower-cased header names, as node:http delivers them. */
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when the body was empty or not JSON. */
  body: JsonValue | undefined;
  /** The body as received (UTF-8). */
  rawBody: string;
  /** The model id from the path, URL-decoded. */
  modelId: string;
  /** How the request authenticated (it is recorded even when refused). */
  auth: "sigv4" | "bearer" | "none";
  /** The error type the fake refused the credentials with (InvalidSignatureException ...), if it did. */
  authError?: string;
}

export interface FakeBedrock {
  readonly url: string;
  readonly port: number;
  readonly requests: BedrockRecordedRequest[];
  /** Requests whose client connection closed before the fake finished its response. */
  readonly closedEarly: number;
  waitForClosedEarly(n: number, timeoutMs?: number): Promise<void>;
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Wire helpers

const codec = new EventStreamCodec(toUtf8, fromUtf8);
const PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/";

function stringHeaders(headers: Record<string, string>): MessageHeaders {
  const out: MessageHeaders = {};
  for (const [name, value] of Object.entries(headers)) out[name] = { type: "string", value };
  return out;
}

/** One ConverseStream event frame; Bedrock pads every payload with a random-length `p`. */
function eventFrame(type: string, payload: JsonObject, seq: number): Uint8Array {
  const body = { ...payload, p: PADDING.slice(0, 1 + ((seq * 7) % PADDING.length)) };
  return codec.encode({
    headers: stringHeaders({ ":event-type": type, ":content-type": "application/json", ":message-type": "event" }),
    body: fromUtf8(JSON.stringify(body)),
  });
}

function exceptionFrame(type: string, payload: JsonObject): Uint8Array {
  return codec.encode({
    headers: stringHeaders({ ":exception-type": type, ":content-type": "application/json", ":message-type": "exception" }),
    body: fromUtf8(JSON.stringify(payload)),
  });
}

const ERROR_TYPES: Record<number, { type: string; message: string }> = {
  400: { type: "ValidationException", message: "Malformed input request, please reformat your input and try again." },
  403: { type: "AccessDeniedException", message: "You don't have access to the model with the specified model ID." },
  404: { type: "ResourceNotFoundException", message: "The provided model identifier is invalid." },
  408: { type: "ModelTimeoutException", message: "Model has timed out in processing the request." },
  424: { type: "ModelErrorException", message: "The model returned an error." },
  429: { type: "ThrottlingException", message: "Too many requests, please wait before trying again." },
  500: { type: "InternalServerException", message: "The server encountered an internal error." },
  503: { type: "ServiceUnavailableException", message: "Bedrock is unable to process your request." },
};

const SIGNATURE_MISMATCH =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// SigV4 verification

type AuthResult = { ok: true } | { ok: false; status: number; type: string; message: string };

const refuse = (type: string, message: string): AuthResult => ({ ok: false, status: 403, type, message });

/** `20240101T000000Z` -> Date. */
function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (m === null) return undefined;
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

async function verifySigV4(req: IncomingMessage, rawBody: string, creds: FakeBedrockCredentials): Promise<AuthResult> {
  const authorization = req.headers.authorization ?? "";
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
    authorization,
  );
  if (m === null) return refuse("MissingAuthenticationTokenException", "Missing Authentication Token");
  const [, keyId, , region, service, signedHeaderList] = m as unknown as [string, string, string, string, string, string];
  const token = req.headers["x-amz-security-token"];
  if (keyId !== creds.accessKeyId || (creds.sessionToken !== undefined && token !== creds.sessionToken)) {
    return refuse("UnrecognizedClientException", "The security token included in the request is invalid.");
  }
  if (service !== "bedrock" || region !== creds.region) {
    return refuse("InvalidSignatureException", `Credential should be scoped to correct service: 'bedrock' in region '${creds.region}'.`);
  }
  const amzDate = String(req.headers["x-amz-date"] ?? "");
  const signingDate = parseAmzDate(amzDate);
  if (signingDate === undefined) return refuse("IncompleteSignatureException", "Date must be in ISO-8601 'basic format'.");
  if (Math.abs(Date.now() - signingDate.getTime()) > 5 * 60_000) {
    return refuse("InvalidSignatureException", `Signature expired: ${amzDate} is now earlier than the allowed window.`);
  }
  const signedHeaders = signedHeaderList.split(";");
  if (!signedHeaders.includes("host")) return refuse("InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  // Rebuild the signed request from what arrived. The signer adds x-amz-date itself (from the
  // signing date), x-amz-security-token (from the credentials) and x-amz-content-sha256 (from
  // the body bytes, so a body changed after signing cannot match).
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    if (name === "x-amz-date" || name === "x-amz-security-token" || name === "x-amz-content-sha256") continue;
    const value = req.headers[name];
    if (value === undefined) return refuse("InvalidSignatureException", SIGNATURE_MISMATCH);
    headers[name] = Array.isArray(value) ? value.join(",") : value;
  }
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const signer = new SignatureV4({
    service: "bedrock",
    region: creds.region,
    credentials: {
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
      sessionToken: typeof token === "string" ? token : undefined,
    },
    sha256: Hash.bind(null, "sha256"),
    applyChecksum: signedHeaders.includes("x-amz-content-sha256"),
  });
  const [hostname = "", port] = (headers.host ?? "").split(":");
  const signed = await signer.sign(
    {
      method: req.method ?? "POST",
      protocol: "http:",
      hostname,
      port: port === undefined ? undefined : Number(port),
      path: q === -1 ? url : url.slice(0, q),
      query: q === -1 ? {} : Object.fromEntries(new URLSearchParams(url.slice(q + 1))),
      headers,
      body: rawBody,
    },
    { signingDate },
  );
  if (signed.headers.authorization !== authorization) return refuse("InvalidSignatureException", SIGNATURE_MISMATCH);
  return { ok: true };
}

// ---------------------------------------------------------------------------------------------
// Directives

interface BedrockDirectives extends ReturnType<typeof parseDirectives> {
  tool: boolean;
  throttleMidstream: boolean;
}

/** fake-upstream's directives plus Bedrock's own (#tool, #throttle-midstream), in any order. */
function directivesOf(text: string): BedrockDirectives {
  const own = { tool: false, throttleMidstream: false };
  const rest: string[] = [];
  const words = text.split(/\s+/);
  let i = 0;
  for (; i < words.length && words[i]!.startsWith("#"); i++) {
    if (words[i] === "#tool") own.tool = true;
    else if (words[i] === "#throttle-midstream") own.throttleMidstream = true;
    else rest.push(words[i]!);
  }
  return { ...parseDirectives(rest.join(" ")), ...own };
}

// ---------------------------------------------------------------------------------------------
// Converse validation and the reply

class BadRequest extends Error {}

interface Conversation {
  /** Text of the last user message (or of the tool results it carries). */
  lastUserText: string;
  inputTokens: number;
  tools: string[];
  forcedTool: string | undefined;
}

function blockText(block: JsonObject): string {
  return typeof block.text === "string" ? block.text : "";
}

function toolResultText(block: JsonObject): string {
  const result = block.toolResult as JsonObject;
  const content = Array.isArray(result.content) ? result.content : [];
  return content
    .map((c) => (isObject(c) ? (typeof c.text === "string" ? c.text : c.json !== undefined ? JSON.stringify(c.json) : "") : ""))
    .join("");
}

/** The checks Bedrock makes that a wrong translation would trip. Throws BadRequest with its words. */
function readConversation(body: JsonObject): Conversation {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new BadRequest("A conversation must start with a user message. Try again with a conversation that starts with a user message.");
  }
  let inputTokens = 0;
  const system = body.system;
  if (system !== undefined) {
    if (!Array.isArray(system)) throw new BadRequest("1 validation error detected: Value at 'system' failed to satisfy constraint");
    for (const s of system) if (isObject(s)) inputTokens += countWords(blockText(s));
  }
  let toolBlocks = false;
  let lastUserText = "";
  messages.forEach((m, i) => {
    if (!isObject(m) || (m.role !== "user" && m.role !== "assistant")) {
      throw new BadRequest(`1 validation error detected: Value at 'messages.${i + 1}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]`);
    }
    const expected = i % 2 === 0 ? "user" : "assistant";
    if (m.role !== expected) {
      throw new BadRequest(
        i === 0
          ? "A conversation must start with a user message. Try again with a conversation that starts with a user message."
          : "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
      );
    }
    if (!Array.isArray(m.content) || m.content.length === 0) {
      throw new BadRequest(`The content field in the Message object at messages.${i} is empty. Add a ContentBlock object to the content field and try again.`);
    }
    let text = "";
    let results = "";
    m.content.forEach((b, j) => {
      if (!isObject(b)) throw new BadRequest(`messages.${i}.content.${j} is not a ContentBlock`);
      if (typeof b.text === "string") {
        if (b.text.trim() === "") {
          throw new BadRequest(`The text field in the ContentBlock object at messages.${i}.content.${j} is blank. Add text to the text field, and try again.`);
        }
        text += b.text;
        inputTokens += countWords(b.text);
      } else if (isObject(b.toolUse) || isObject(b.toolResult)) {
        toolBlocks = true;
        if (isObject(b.toolResult)) results += toolResultText(b);
      } else if (!isObject(b.image)) {
        throw new BadRequest(`The fake does not know the ContentBlock at messages.${i}.content.${j}: ${Object.keys(b).join(", ")}`);
      }
    });
    if (m.role === "user") lastUserText = results !== "" ? results : text;
  });
  const config = body.toolConfig;
  if (toolBlocks && !isObject(config)) {
    throw new BadRequest("The toolConfig field must be defined when using toolUse and toolResult content blocks.");
  }
  const tools: string[] = [];
  let forcedTool: string | undefined;
  if (isObject(config)) {
    for (const t of Array.isArray(config.tools) ? config.tools : []) {
      if (isObject(t) && isObject(t.toolSpec) && typeof t.toolSpec.name === "string") tools.push(t.toolSpec.name);
    }
    const choice = config.toolChoice;
    if (isObject(choice) && isObject(choice.tool)) {
      forcedTool = String(choice.tool.name);
      if (!tools.includes(forcedTool)) throw new BadRequest(`The tool ${forcedTool} in toolChoice is not defined in toolConfig.`);
    }
  }
  return { lastUserText, inputTokens, tools, forcedTool };
}

interface Reply {
  text: string;
  pieces: string[];
  stopReason: string;
  toolUse?: { id: string; name: string; args: string; fragments: string[] };
}

function makeReply(conv: Conversation, d: BedrockDirectives, inference: JsonObject, seq: number): Reply {
  if (d.slow) {
    const text = slowReplyText();
    return { text, pieces: splitIntoChunks(text), stopReason: "end_turn" };
  }
  if (d.tool && conv.tools.length > 0) {
    const args = fakeToolArguments(conv.lastUserText);
    const name = conv.forcedTool ?? conv.tools[0]!;
    const id = "tooluse_fake" + String(seq).padStart(10, "0");
    const text = "Let me check.";
    return { text, pieces: splitIntoChunks(text), stopReason: "tool_use", toolUse: { id, name, args, fragments: splitToolArguments(args) } };
  }
  let text = fakeReplyText(conv.lastUserText);
  let stopReason = "end_turn";
  const stops = Array.isArray(inference.stopSequences) ? inference.stopSequences.filter((s): s is string => typeof s === "string") : [];
  for (const s of stops) {
    const at = text.indexOf(s);
    if (at !== -1) {
      text = text.slice(0, at);
      stopReason = "stop_sequence";
    }
  }
  let pieces = splitIntoChunks(text);
  const max = inference.maxTokens;
  if (typeof max === "number" && pieces.length > max) {
    pieces = pieces.slice(0, max);
    pieces[pieces.length - 1] = (pieces.at(-1) ?? "").trimEnd();
    text = pieces.join("");
    stopReason = "max_tokens";
  }
  return { text, pieces, stopReason };
}

// ---------------------------------------------------------------------------------------------
// Server

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  selfClosed: boolean;
  timer: NodeJS.Timeout | undefined;
  interval: NodeJS.Timeout | undefined;
}

interface Waiter {
  n: number;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

const noop = (): void => {};

class FakeBedrockServer implements FakeBedrock {
  url = "";
  port = 0;
  closedEarly = 0;
  readonly requests: BedrockRecordedRequest[] = [];
  private readonly server: Server;
  private seq = 0;
  private closing = false;
  private closedWaiters: Waiter[] = [];
  private requestWaiters: Waiter[] = [];

  constructor(private readonly creds: FakeBedrockCredentials) {
    this.server = createServer({ noDelay: true, keepAlive: true }, (req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 30_000;
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  waitForClosedEarly(n: number, timeoutMs = 2000): Promise<void> {
    return this.wait(this.closedWaiters, n, () => this.closedEarly, timeoutMs, "closedEarly");
  }

  waitForRequests(n: number, timeoutMs = 2000): Promise<void> {
    return this.wait(this.requestWaiters, n, () => this.requests.length, timeoutMs, "requests");
  }

  reset(): void {
    this.requests.length = 0;
    this.closedEarly = 0;
  }

  close(): Promise<void> {
    this.closing = true;
    return new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private wait(list: Waiter[], n: number, current: () => number, timeoutMs: number, what: string): Promise<void> {
    if (current() >= n) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        n,
        resolve,
        timer: setTimeout(() => {
          list.splice(list.indexOf(w), 1);
          reject(new Error(`fake bedrock: ${what} is ${current()} after ${timeoutMs} ms, wanted ${n}`));
        }, timeoutMs),
      };
      list.push(w);
    });
  }

  private static notify(list: Waiter[], value: number): void {
    for (let i = list.length - 1; i >= 0; i--) {
      const w = list[i]!;
      if (value >= w.n) {
        list.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const ctx: Ctx = { req, res, selfClosed: false, timer: undefined, interval: undefined };
    req.on("error", noop);
    res.on("error", noop);
    res.on("close", () => {
      if (ctx.timer !== undefined) clearTimeout(ctx.timer);
      if (ctx.interval !== undefined) clearInterval(ctx.interval);
      if (!res.writableEnded && !ctx.selfClosed && !this.closing) {
        this.closedEarly++;
        FakeBedrockServer.notify(this.closedWaiters, this.closedEarly);
      }
    });
    const parts: Buffer[] = [];
    req.on("data", (chunk: Buffer) => parts.push(chunk));
    req.on("end", () => {
      this.dispatch(ctx, Buffer.concat(parts).toString("utf8")).catch((err: unknown) => {
        this.sendError(res, 500, "InternalServerException", `fake bedrock: ${String(err)}`);
      });
    });
  }

  private async dispatch(ctx: Ctx, raw: string): Promise<void> {
    const { req, res } = ctx;
    const url = req.url ?? "/";
    const path = url.split("?")[0] ?? "/";
    const route = /^\/model\/([^/]+)\/(converse|converse-stream|invoke)$/.exec(path);
    let body: JsonValue | undefined;
    try {
      body = raw === "" ? undefined : (JSON.parse(raw) as JsonValue);
    } catch {
      body = undefined;
    }
    const authorization = req.headers.authorization ?? "";
    const auth = authorization.startsWith("Bearer ") ? "bearer" : authorization.startsWith("AWS4-") ? "sigv4" : "none";
    const modelId = route === null ? "" : decodeURIComponent(route[1]!);
    const recorded: BedrockRecordedRequest = { method: req.method ?? "GET", path, headers: req.headers, body, rawBody: raw, modelId, auth };
    this.requests.push(recorded);
    FakeBedrockServer.notify(this.requestWaiters, this.requests.length);

    if (route === null || req.method !== "POST") {
      return this.sendError(res, 404, "UnknownOperationException", `Unknown operation ${req.method ?? ""} ${path}`);
    }
    const verdict =
      auth === "bearer"
        ? authorization === `Bearer ${this.creds.apiKey}`
          ? ({ ok: true } as const)
          : refuse("AccessDeniedException", "Authentication failed: Please make sure your API Key is valid.")
        : await verifySigV4(req, raw, this.creds);
    if (!verdict.ok) {
      recorded.authError = verdict.type;
      return this.sendError(res, verdict.status, verdict.type, verdict.message);
    }
    if (!isObject(body)) return this.sendError(res, 400, "ValidationException", "Malformed input request, please reformat your input and try again.");
    const operation = route[2]!;
    try {
      if (operation === "invoke") this.invoke(ctx, modelId, body);
      else this.converse(ctx, body, operation === "converse-stream");
    } catch (err) {
      if (err instanceof BadRequest) return this.sendError(res, 400, "ValidationException", err.message);
      throw err;
    }
  }

  private sendError(res: ServerResponse, status: number, type: string, message: string, extra: Record<string, string> = {}): void {
    this.send(res, status, JSON.stringify({ message }), { "x-amzn-errortype": type + ERROR_TYPE_SUFFIX, ...extra });
  }

  private send(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
    if (res.destroyed || res.headersSent) return;
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "x-amzn-requestid": randomUUID(),
      ...extra,
    });
    res.end(body);
  }

  /** Applies #delay, #hang and #status, and for unary calls #garbage, #break and #slow; then `then`. */
  private preamble(ctx: Ctx, d: BedrockDirectives, stream: boolean, then: () => void): void {
    const go = () => {
      const { res } = ctx;
      if (res.destroyed || d.hang) return;
      if (d.status !== 0) {
        const known = ERROR_TYPES[d.status] ?? { type: "InternalServerException", message: `fake bedrock: status ${d.status}` };
        const extra = d.status === 429 ? { "retry-after": String(RETRY_AFTER_SECONDS) } : undefined;
        return this.sendError(res, d.status, known.type, known.message, extra);
      }
      if (!stream && d.garbage) return this.send(res, 200, '{"output": {"message": {"role": "assistant", "cont');
      if (!stream && d.break) {
        ctx.selfClosed = true;
        res.socket?.destroy();
        return;
      }
      if (!stream && d.slow) {
        ctx.timer = setTimeout(then, SLOW_CHUNK_COUNT * SLOW_INTERVAL_MS);
        return;
      }
      then();
    };
    if (d.delayMs > 0) ctx.timer = setTimeout(go, d.delayMs);
    else go();
  }

  private converse(ctx: Ctx, body: JsonObject, stream: boolean): void {
    const conv = readConversation(body);
    const d = directivesOf(conv.lastUserText);
    const inference = isObject(body.inferenceConfig) ? body.inferenceConfig : {};
    const seq = ++this.seq;
    this.preamble(ctx, d, stream, () => {
      const reply = makeReply(conv, d, inference, seq);
      const outputTokens = reply.pieces.length + (reply.toolUse?.fragments.length ?? 0);
      const usage = { inputTokens: conv.inputTokens, outputTokens, totalTokens: conv.inputTokens + outputTokens };
      if (!stream) {
        const content: JsonValue[] = [{ text: reply.text }];
        if (reply.toolUse) {
          const { id, name, args } = reply.toolUse;
          content.push({ toolUse: { toolUseId: id, name, input: JSON.parse(args) as JsonValue } });
        }
        return this.send(
          ctx.res,
          200,
          JSON.stringify({
            output: { message: { role: "assistant", content } },
            stopReason: reply.stopReason,
            usage,
            metrics: { latencyMs: 42 },
          }),
        );
      }
      let n = 0;
      const frame = (type: string, payload: JsonObject) => eventFrame(type, payload, n++);
      const head = [frame("messageStart", { role: "assistant" })];
      const content = reply.pieces.map((text) => frame("contentBlockDelta", { contentBlockIndex: 0, delta: { text } }));
      const tail = [frame("contentBlockStop", { contentBlockIndex: 0 })];
      if (reply.toolUse) {
        const { id, name, fragments } = reply.toolUse;
        tail.push(frame("contentBlockStart", { contentBlockIndex: 1, start: { toolUse: { toolUseId: id, name } } }));
        for (const input of fragments) tail.push(frame("contentBlockDelta", { contentBlockIndex: 1, delta: { toolUse: { input } } }));
        tail.push(frame("contentBlockStop", { contentBlockIndex: 1 }));
      }
      tail.push(frame("messageStop", { stopReason: reply.stopReason }));
      tail.push(frame("metadata", { usage, metrics: { latencyMs: 42 } }));
      this.sendStream(ctx, d, head, content, tail);
    });
  }

  private sendStream(ctx: Ctx, d: BedrockDirectives, head: Uint8Array[], content: Uint8Array[], tail: Uint8Array[]): void {
    const { res } = ctx;
    if (res.destroyed) return;
    res.writeHead(200, { "content-type": "application/vnd.amazon.eventstream", "x-amzn-requestid": randomUUID() });
    const write = (frames: Uint8Array[]) => res.write(Buffer.concat(frames));
    if (d.garbage) {
      const broken = Buffer.from(content[0] ?? tail[0]!);
      broken[broken.length - 1] = broken[broken.length - 1]! ^ 0xff; // the message checksum
      write([...head, broken]);
      res.end();
      return;
    }
    if (d.break) {
      const socket: Socket | null = res.socket;
      ctx.selfClosed = true;
      res.write(Buffer.concat([...head, ...content.slice(0, 2)]), () => {
        socket?.end();
        setTimeout(() => socket?.destroy(), 1000).unref();
      });
      return;
    }
    if (d.throttleMidstream || d.streamError) {
      const exception = d.throttleMidstream
        ? exceptionFrame("throttlingException", { message: "Too many tokens, please wait before trying again." })
        : exceptionFrame("modelStreamErrorException", { message: "Model stream error.", originalStatusCode: 500, originalMessage: "fake model failure" });
      write([...head, ...content.slice(0, 2), exception]);
      res.end();
      return;
    }
    if (d.slow) {
      write(head);
      let i = 0;
      ctx.interval = setInterval(() => {
        if (res.destroyed) return;
        const f = content[i++];
        if (f !== undefined) res.write(f);
        if (i >= content.length) {
          clearInterval(ctx.interval);
          ctx.interval = undefined;
          write(tail);
          res.end();
        }
      }, SLOW_INTERVAL_MS);
      return;
    }
    // Frames go out split at arbitrary byte boundaries, as TCP may deliver them.
    const all = Buffer.concat([...head, ...content, ...tail]);
    for (let at = 0; at < all.length; at += 37) res.write(all.subarray(at, at + 37));
    res.end();
  }

  private invoke(ctx: Ctx, modelId: string, body: JsonObject): void {
    const id = modelId.slice(modelId.lastIndexOf("/") + 1);
    if (/(^|\.)amazon\.titan-embed/.test(id)) {
      const text = body.inputText;
      if (typeof text !== "string") throw new BadRequest("Malformed input request: #: required key [inputText] not found, please reformat your input and try again.");
      const extra = Object.keys(body).find((k) => !["inputText", "dimensions", "normalize", "embeddingTypes"].includes(k));
      if (extra !== undefined) throw new BadRequest(`Malformed input request: #: extraneous key [${extra}] is not permitted, please reformat your input and try again.`);
      return this.preamble(ctx, directivesOf(text), false, () =>
        this.send(ctx.res, 200, JSON.stringify({ embedding: fakeEmbedding(text), inputTextTokenCount: countWords(text) })),
      );
    }
    if (/(^|\.)cohere\.embed/.test(id)) {
      const texts = body.texts;
      if (!Array.isArray(texts) || !texts.every((t): t is string => typeof t === "string")) {
        throw new BadRequest("Malformed input request: #: required key [texts] not found, please reformat your input and try again.");
      }
      if (typeof body.input_type !== "string") {
        throw new BadRequest("Malformed input request: #: required key [input_type] not found, please reformat your input and try again.");
      }
      if (texts.length > 96) throw new BadRequest("Malformed input request: #/texts: expected maximum item count: 96, found: " + texts.length);
      return this.preamble(ctx, directivesOf(texts[0] ?? ""), false, () =>
        this.send(
          ctx.res,
          200,
          JSON.stringify({ id: randomUUID(), embeddings: texts.map(fakeEmbedding), response_type: "embeddings_floats", texts }),
        ),
      );
    }
    throw new BadRequest(`The fake serves InvokeModel only for Titan and Cohere embedding models, not ${modelId}.`);
  }
}

/** Starts the fake Bedrock on 127.0.0.1 (a free port unless `port` is given). */
export async function startFakeBedrock(
  opts: { port?: number; credentials?: Partial<FakeBedrockCredentials> } = {},
): Promise<FakeBedrock> {
  const fake = new FakeBedrockServer({ ...FAKE_BEDROCK_CREDENTIALS, ...opts.credentials });
  await fake.listen(opts.port ?? 0);
  return fake;
}
