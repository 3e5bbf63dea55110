// A fake upstream that speaks the providers' real wire formats on loopback, for integration
// tests and benchmarks. One plain node:http server (HTTP/1.1, keep-alive) serves:
//
//   OpenAI     POST /v1/chat/completions   chat.completion / chat.completion.chunk (+ [DONE])
//              POST /v1/completions        text_completion (unary and streamed)
//              POST /v1/embeddings         list of embedding objects (float or base64)
//   Azure      POST /openai/deployments/{deployment}/chat/completions (also /completions,
//              /embeddings): the OpenAI answers, the deployment as the model; needs the
//              `api-version` query parameter and an `api-key` (or `Authorization: Bearer`) header
//   Anthropic  POST /v1/messages           message / SSE events with `event:` lines
//   MLflow     POST /invocations           {"predictions": [...]}; GET /ping, /health, /version
//              POST /<any>/<N>/invocations a registered version N of the same model (e.g.
//                                          /churn/3/invocations): predictions multiplied by N
//              POST /llm/invocations       an LLM: {"inputs": [text, ...], "params"} -> texts
//              POST /embeddings/invocations  an embedding model: {"inputs": [text, ...]} -> vectors
//
// Everything is deterministic:
//   - chat reply text = "echo: " + the last user message's text (Anthropic too);
//     completions reply = "echo: " + the prompt. See fakeReplyText().
//   - streams split the text into pieces after each run of whitespace (splitIntoChunks()),
//     so the concatenation of the streamed pieces equals the unary text.
//   - usage: prompt tokens = whitespace-separated words in all input messages (incl. system,
//     Anthropic `system` too) / prompts / inputs; completion tokens = words in the reply
//     (= number of streamed pieces), summed over choices when n > 1.
//   - `max_tokens` (OpenAI `max_completion_tokens` too) caps the reply at that many words:
//     finish_reason "length" / stop_reason "max_tokens". Legacy completions default to 16,
//     as the real API does. `stop` / `stop_sequences` cut the reply before the first match:
//     finish_reason "stop" / stop_reason "stop_sequence" with `stop_sequence` set.
//   - embeddings: fakeEmbedding() (8 float32-exact values per input).
//   - OpenAI tool calls: when the request has `tools`, the LAST message is a user message and
//     its text starts with `#tool`, the answer is one call of the first tool with arguments
//     fakeToolArguments(text after "#tool") = {"q":"<rest, trimmed>"}, finish_reason
//     "tool_calls"; streamed as real tool-call deltas (index, id, type, function.name first,
//     then splitToolArguments() fragments). Completion tokens = the number of fragments.
//     When the LAST message is a tool result, the reply is "echo: " + that message's text.
//   - Anthropic tool use: the same `#tool` call as a tool_use block (input_json_delta
//     fragments when streamed), tool_result turns echoed; see anthropicToolTurn().
//   - MLflow: one prediction per row = sum of the numbers in that row (see fakePredictions()).
//     The LLM answers each input with fakeReplyText(input), `params.n` times (default 1),
//     capped by `params.max_tokens` words and cut at `params.stop`, as MLflow-served text
//     generation pipelines answer MLflow AI Gateway (one string per prediction). The embedding
//     model answers fakeEmbedding() per input.
//
// Directives: the LAST user message's text (chat / messages), the first prompt (completions),
// the first input (embeddings) or, for /invocations, `params.directive` or else the first
// string found in the first row / instance, may START with one or more space-separated
// directives (see parseDirectives()):
//   #status:NNN  answer NNN (>= 400) with the provider's error JSON; 429 adds `retry-after: 7`
//   #garbage     200 with an invalid JSON body (streams: an SSE event whose data is not JSON)
//   #break       stream: headers + preamble + 2 content events, then the socket is closed
//                without the terminal event / chunk terminator; unary: the socket is destroyed
//   #slow        stream: one content event every SLOW_INTERVAL_MS for SLOW_CHUNK_COUNT events
//                (text = slowReplyText(), not capped by max_tokens); unary: answers
//                slowReplyText() after SLOW_CHUNK_COUNT * SLOW_INTERVAL_MS
//   #hang        never answers (no headers) until the client goes away
//   #delay:N     wait N ms before doing the rest
//   #linger:N    stream: the whole stream, terminal event included, then N ms before the
//                response ends (an upstream whose connection lags behind its last event)
//   #stream-error  stream: preamble + 2 content events, then the provider's in-stream error
//                (OpenAI `data: {"error":{...}}`, Anthropic `event: error`), then end
//   #retry-after:N  with #status:NNN, send `retry-after: N` (seconds; 429 sends 7 without it)
// Queued faults (queueFaults()) apply directives to the next requests whatever their text says,
// so several fakes behind one endpoint can fail differently for the same call.
// The directive text stays part of the echoed reply.
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export interface RecordedRequest {
  method: string;
  /** The request path without the query string, e.g. "/v1/chat/completions". */
  path: string;
  /** The query string without the "?" ("" when there is none), e.g. "api-version=2024-10-21". */
  query: string;
  /** Lower-cased header names, as node:http delivers them. */
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when the body was empty or not JSON. */
  body: JsonValue | undefined;
  /** The body as received (UTF-8). */
  rawBody: string;
  /** The client's port: requests with the same one came over the same (kept-alive) connection. */
  remotePort: number | undefined;
}

export interface FakeUpstreamOptions {
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Record requests into `requests` (default true). Benchmarks turn it off. */
  record?: boolean;
}

export interface FakeUpstream {
  /** e.g. "http://127.0.0.1:43211" (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Requests received since start / the last reset(), in arrival order. */
  readonly requests: RecordedRequest[];
  /**
   * Requests whose client connection closed before the fake finished its response
   * (sockets the fake closed on purpose for #break are not counted).
   */
  readonly closedEarly: number;
  /** Resolves once closedEarly >= n; rejects after timeoutMs (default 2000). */
  waitForClosedEarly(n: number, timeoutMs?: number): Promise<void>;
  /** Resolves once requests.length >= n (needs recording); rejects after timeoutMs (default 2000). */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  /** Clears `requests` (in place) and zeroes `closedEarly` (and drops queued faults). */
  reset(): void;
  /** Stops listening and destroys every connection (pending #hang / #slow ones included). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Deterministic helpers (exported so tests can compute expected values)

export const SLOW_CHUNK_COUNT = 200;
export const SLOW_INTERVAL_MS = 50;
export const RETRY_AFTER_SECONDS = 7;
export const EMBEDDING_DIMENSIONS = 8;
/** Default max_tokens of the legacy completions endpoint (as in the real API). */
export const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

/** The unary reply text for a chat (last user message text) or a completion (prompt). */
export function fakeReplyText(input: string): string {
  return "echo: " + input;
}

/** Size of the argument fragments of a streamed fake tool call. */
export const TOOL_ARGUMENT_FRAGMENT_SIZE = 6;

/** The arguments of the fake tool call answering a `#tool ...` message (see the header). */
export function fakeToolArguments(userText: string): string {
  return JSON.stringify({ q: userText.replace(/^#tool/, "").trim() });
}

/** The streamed fragments of tool-call arguments: TOOL_ARGUMENT_FRAGMENT_SIZE characters each. */
export function splitToolArguments(args: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i += TOOL_ARGUMENT_FRAGMENT_SIZE) out.push(args.slice(i, i + TOOL_ARGUMENT_FRAGMENT_SIZE));
  return out;
}

/** The #slow reply: "slow0 slow1 ... slow199" (SLOW_CHUNK_COUNT words). */
export function slowReplyText(): string {
  return SLOW_TEXT;
}

const SLOW_PIECES: readonly string[] = Array.from({ length: SLOW_CHUNK_COUNT }, (_, i) =>
  i === SLOW_CHUNK_COUNT - 1 ? `slow${i}` : `slow${i} `,
);
const SLOW_TEXT = SLOW_PIECES.join("");

/**
 * Splits text into stream pieces: each piece is one word plus the whitespace after it
 * (leading whitespace, if any, is its own piece). pieces.join("") === text; "" gives [].
 */
export function splitIntoChunks(text: string): string[] {
  return text === "" ? [] : text.split(SPLIT_RE);
}
const SPLIT_RE = /(?<=\s)(?=\S)/;

/** Number of whitespace-separated words. */
export function countWords(text: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const space = c === 32 || c === 10 || c === 9 || c === 13 || c === 12 || c === 11 || c === 160;
    if (space) inWord = false;
    else if (!inWord) {
      inWord = true;
      n++;
    }
  }
  return n;
}

/**
 * The fake embedding of one input: EMBEDDING_DIMENSIONS (8) values in [-1, 1).
 *
 *   h[d] = 31 * (d + 1) * text.length + sum over positions j with j % 8 === d of code(j) * (j + 1)
 *   v[d] = ((h[d] mod 512) - 256) / 256
 *
 * where code(j) = text.charCodeAt(j) (UTF-16 code units). Every value is k/256 for an integer
 * k in [-256, 255], so it is exactly representable as float32 and survives float32 round trips
 * (proto `repeated float`) and base64 float32 encoding unchanged.
 */
export function fakeEmbedding(text: string): number[] {
  const h = new Array<number>(EMBEDDING_DIMENSIONS);
  for (let d = 0; d < EMBEDDING_DIMENSIONS; d++) h[d] = 31 * (d + 1) * text.length;
  for (let j = 0; j < text.length; j++) {
    const d = j % EMBEDDING_DIMENSIONS;
    h[d] = (h[d] ?? 0) + text.charCodeAt(j) * (j + 1);
  }
  const v = new Array<number>(EMBEDDING_DIMENSIONS);
  for (let d = 0; d < EMBEDDING_DIMENSIONS; d++) v[d] = (((h[d] ?? 0) % 512) - 256) / 256;
  return v;
}

/** Sum of every number in a JSON value (nested arrays and object values included; others count 0). */
export function sumNumbers(value: JsonValue | undefined): number {
  if (typeof value === "number") return value;
  if (value === null || typeof value !== "object") return 0;
  let sum = 0;
  if (Array.isArray(value)) {
    for (const v of value) sum += sumNumbers(v);
  } else {
    for (const k in value) sum += sumNumbers(value[k]);
  }
  return sum;
}

/** Why an MLflow input was rejected (the fake answers 400 BAD_REQUEST with this message). */
export class FakePredictError extends Error {}

const MLFLOW_FORMATS = ["dataframe_split", "dataframe_records", "instances", "inputs"] as const;
const MLFLOW_REQUIRED_INPUT_FORMAT =
  "The input must be a JSON dictionary with exactly one of the input fields " +
  "{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}";

/**
 * The fake MLflow model. `body` is the whole /invocations JSON body.
 *   dataframe_split   {columns?, data: [[...], ...], index?}  -> one sum per row of `data`
 *   dataframe_records [{col: value, ...}, ...]                 -> one sum per record
 *   instances         [instance, ...]                          -> one sum per instance
 *                     (a number, a nested array of numbers, or an object of named tensors)
 *   inputs            [instance, ...]                          -> as instances
 *                     {name: [v0, v1, ...], ...}               -> columnar: row i sums every v_i
 * Non-numeric values count as 0. If `params.multiplier` is a number every prediction is
 * multiplied by it. Throws FakePredictError (MLflow's messages) on a bad shape.
 */
export function fakePredictions(body: JsonValue | undefined): number[] {
  if (!isObject(body)) {
    throw new FakePredictError(
      `${MLFLOW_REQUIRED_INPUT_FORMAT}. ${Array.isArray(body) ? "Received a list" : "Received unexpected input type"}.`,
    );
  }
  let format: (typeof MLFLOW_FORMATS)[number] | undefined;
  let count = 0;
  for (const f of MLFLOW_FORMATS) {
    if (body[f] !== undefined) {
      format = f;
      count++;
    }
  }
  if (format === undefined || count !== 1) {
    throw new FakePredictError(
      `${MLFLOW_REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: ${JSON.stringify(Object.keys(body))}.`,
    );
  }
  const input = body[format];
  let out: number[];
  switch (format) {
    case "dataframe_split": {
      if (!isObject(input) || !Array.isArray(input.data)) {
        throw new FakePredictError(
          "Failed to parse input as a Pandas DataFrame: dataframe_split must be an object with a 'data' list.",
        );
      }
      const columns = input.columns;
      if (columns !== undefined && !Array.isArray(columns)) {
        throw new FakePredictError("Failed to parse input as a Pandas DataFrame: 'columns' must be a list.");
      }
      out = input.data.map((row, i) => {
        if (!Array.isArray(row)) {
          throw new FakePredictError(`Failed to parse input as a Pandas DataFrame: row ${i} is not a list.`);
        }
        if (columns !== undefined && row.length !== columns.length) {
          throw new FakePredictError(
            `Failed to parse input as a Pandas DataFrame: ${columns.length} columns passed, passed data had ${row.length} columns`,
          );
        }
        return sumNumbers(row);
      });
      break;
    }
    case "dataframe_records": {
      if (!Array.isArray(input)) {
        throw new FakePredictError("Failed to parse input as a Pandas DataFrame: dataframe_records must be a list.");
      }
      out = input.map((rec, i) => {
        if (!isObject(rec)) {
          throw new FakePredictError(`Failed to parse input as a Pandas DataFrame: record ${i} is not an object.`);
        }
        return sumNumbers(rec);
      });
      break;
    }
    case "instances":
    case "inputs": {
      if (Array.isArray(input)) {
        out = input.map(sumNumbers);
      } else if (format === "inputs" && isObject(input)) {
        let rows = -1;
        for (const k in input) {
          const col = input[k];
          if (!Array.isArray(col) || (rows !== -1 && col.length !== rows)) {
            throw new FakePredictError(
              "Failed to parse data as TF serving input. The length of values for each input/column name are not the same",
            );
          }
          rows = col.length;
        }
        out = new Array<number>(Math.max(rows, 0)).fill(0);
        for (const k in input) {
          const col = input[k] as JsonValue[];
          for (let i = 0; i < out.length; i++) out[i] = (out[i] ?? 0) + sumNumbers(col[i]);
        }
      } else {
        throw new FakePredictError(
          `Failed to parse data as TF serving input. '${format}' must be a list${format === "inputs" ? " or a dictionary of lists" : ""}.`,
        );
      }
      break;
    }
  }
  const params = body.params;
  if (params !== undefined && params !== null) {
    if (!isObject(params)) throw new FakePredictError("'params' must be a dictionary.");
    const m = params.multiplier;
    if (typeof m === "number") out = out.map((x) => x * m);
  }
  return out;
}

/** The `inputs` list of strings MLflow AI Gateway sends to an MLflow-served LLM or embedding model. */
function llmInputs(body: JsonValue | undefined): string[] {
  const inputs = isObject(body) ? body.inputs : undefined;
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((x) => typeof x === "string")) {
    throw new FakePredictError("Failed to parse data as TF serving input. 'inputs' must be a non-empty list of strings.");
  }
  return inputs as string[];
}

/** The fake MLflow-served LLM: per input, `params.n` copies of its reply (see the header). */
function fakeTextPredictions(body: JsonValue | undefined, slow: boolean): string[] {
  const params = isObject(body) && isObject(body.params) ? body.params : {};
  const n = positiveInt(params.n) ?? 1;
  const stops = stopList(params.stop);
  return llmInputs(body).flatMap((input) => {
    const text = makeReply(input, slow, positiveInt(params.max_tokens), stops).text;
    return Array.from({ length: n }, () => text);
  });
}

// ---------------------------------------------------------------------------------------------
// Directives

export interface Directives {
  /** HTTP status to answer with (0 = none). */
  status: number;
  garbage: boolean;
  break: boolean;
  slow: boolean;
  hang: boolean;
  streamError: boolean;
  /** Milliseconds to wait first (0 = none). */
  delayMs: number;
  /** Stream: milliseconds between the terminal event and the response's end (0 = none). */
  lingerMs: number;
  /** `retry-after` seconds to send with an error status (-1 = the default: 7 for a 429). */
  retryAfter: number;
}

const NO_DIRECTIVES: Readonly<Directives> = Object.freeze({
  retryAfter: -1,
  status: 0,
  garbage: false,
  break: false,
  slow: false,
  hang: false,
  streamError: false,
  delayMs: 0,
  lingerMs: 0,
});

/** Parses the leading directives of a text ("#delay:20 #status:500 hi" -> delay + status). */
export function parseDirectives(text: string): Readonly<Directives> {
  if (text.charCodeAt(0) !== 35 /* # */) return NO_DIRECTIVES;
  const d: Directives = { ...NO_DIRECTIVES };
  let matched = false;
  for (const tok of text.split(/\s+/)) {
    if (!tok.startsWith("#")) break;
    let m: RegExpExecArray | null;
    if ((m = /^#status:(\d{3})$/.exec(tok))) d.status = Number(m[1]);
    else if ((m = /^#delay:(\d+)$/.exec(tok))) d.delayMs = Number(m[1]);
    else if ((m = /^#linger:(\d+)$/.exec(tok))) d.lingerMs = Number(m[1]);
    else if ((m = /^#retry-after:(\d+)$/.exec(tok))) d.retryAfter = Number(m[1]);
    else if (tok === "#garbage") d.garbage = true;
    else if (tok === "#break") d.break = true;
    else if (tok === "#slow") d.slow = true;
    else if (tok === "#hang") d.hang = true;
    else if (tok === "#stream-error") d.streamError = true;
    else break;
    matched = true;
  }
  if (d.status < 400) d.status = 0;
  return matched ? d : NO_DIRECTIVES;
}

/** A queued fault over the request's own directives: the fault's set values win. */
function withQueued(own: Readonly<Directives>, fault: Readonly<Directives>): Readonly<Directives> {
  if (fault === NO_DIRECTIVES) return own;
  if (own === NO_DIRECTIVES) return fault;
  return {
    status: fault.status || own.status,
    garbage: fault.garbage || own.garbage,
    break: fault.break || own.break,
    slow: fault.slow || own.slow,
    hang: fault.hang || own.hang,
    streamError: fault.streamError || own.streamError,
    delayMs: fault.delayMs || own.delayMs,
    lingerMs: fault.lingerMs || own.lingerMs,
    retryAfter: fault.retryAfter >= 0 ? fault.retryAfter : own.retryAfter,
  };
}

// ---------------------------------------------------------------------------------------------
// Small JSON helpers

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Text of an OpenAI / Anthropic message content: a string or a list of {type:"text", text} parts. */
function contentText(content: JsonValue | undefined): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let out = "";
  for (const part of content) {
    if (typeof part === "string") out += part;
    else if (isObject(part) && typeof part.text === "string") out += part.text;
  }
  return out;
}

function firstString(v: JsonValue | undefined, depth: number): string | undefined {
  if (typeof v === "string") return v;
  if (depth <= 0 || v === null || typeof v !== "object") return undefined;
  if (Array.isArray(v)) {
    for (const x of v) {
      const s = firstString(x, depth - 1);
      if (s !== undefined) return s;
    }
    return undefined;
  }
  for (const k in v) {
    const s = firstString(v[k], depth - 1);
    if (s !== undefined) return s;
  }
  return undefined;
}

function stopList(v: JsonValue | undefined): string[] {
  if (typeof v === "string") return v === "" ? [] : [v];
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const s of v) if (typeof s === "string" && s !== "") out.push(s);
  return out;
}

function positiveInt(v: JsonValue | undefined): number | undefined {
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined;
}

// ---------------------------------------------------------------------------------------------
// Replies

type Finish = "stop" | "length" | "stop_sequence";

interface Reply {
  pieces: readonly string[];
  text: string;
  finish: Finish;
  stopSequence: string | null;
}

function makeReply(input: string, slow: boolean, maxTokens: number | undefined, stops: string[]): Reply {
  if (slow) return { pieces: SLOW_PIECES, text: SLOW_TEXT, finish: "stop", stopSequence: null };
  let text = fakeReplyText(input);
  let finish: Finish = "stop";
  let stopSequence: string | null = null;
  if (stops.length > 0) {
    let cut = -1;
    for (const s of stops) {
      const i = text.indexOf(s);
      if (i !== -1 && (cut === -1 || i < cut)) {
        cut = i;
        stopSequence = s;
      }
    }
    if (cut !== -1) {
      text = text.slice(0, cut);
      finish = "stop_sequence";
    }
  }
  let pieces = splitIntoChunks(text);
  if (maxTokens !== undefined && pieces.length > maxTokens) {
    pieces = pieces.slice(0, maxTokens);
    const last = pieces.length - 1;
    pieces[last] = (pieces[last] ?? "").trimEnd();
    text = pieces.join("");
    finish = "length";
    stopSequence = null;
  }
  return { pieces, text, finish, stopSequence };
}

const openaiFinish = (f: Finish): string => (f === "length" ? "length" : "stop");
/**
 * Anthropic tool behaviour. The last message a user turn with tool_result blocks: "result",
 * the reply is "echo: " + their contents (and any text after them) joined by " ", and every
 * tool_use_id must answer a tool_use of the assistant turn before (else 400, as the real API).
 * The last user text starting with `#tool` with `tools` (tool_choice not "none"): "call" of the
 * forced tool or the first one, arguments fakeToolArguments(text), streamed as
 * input_json_delta fragments (splitToolArguments()); output tokens = the fragments.
 */
type AnthropicToolTurn =
  | { kind: "none" }
  | { kind: "call"; name: string }
  /** `words`: the words of the tool results, which contentText() does not count. */
  | { kind: "result"; text: string; words: number }
  | { kind: "error"; message: string };

function anthropicToolTurn(messages: JsonValue[], body: JsonObject): AnthropicToolTurn {
  const at = messages.length - 1;
  const last = messages[at];
  const blocks = isObject(last) && Array.isArray(last.content) ? last.content.filter(isObject) : [];
  const results = blocks.filter((b) => b.type === "tool_result");
  if (results.length > 0) {
    const previous = messages[at - 1];
    const uses = isObject(previous) && previous.role === "assistant" && Array.isArray(previous.content) ? previous.content : [];
    const ids = new Set(uses.filter(isObject).filter((b) => b.type === "tool_use").map((b) => b.id));
    for (const r of results) {
      if (!ids.has(r.tool_use_id)) {
        return { kind: "error", message: `messages.${at}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(r.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.` };
      }
    }
    const texts = blocks.map((b) => (b.type === "tool_result" ? contentText(b.content) : b.type === "text" && typeof b.text === "string" ? b.text : ""));
    const words = results.reduce((n, r) => n + countWords(contentText(r.content)), 0);
    return { kind: "result", text: texts.filter((t) => t !== "").join(" "), words };
  }
  const lastUserText = isObject(last) && last.role === "user" ? contentText(last.content) : "";
  const choice = isObject(body.tool_choice) ? body.tool_choice : {};
  if (!lastUserText.startsWith("#tool") || !Array.isArray(body.tools) || choice.type === "none") return { kind: "none" };
  const first = body.tools[0];
  const name = choice.type === "tool" ? choice.name : isObject(first) ? first.name : undefined;
  return typeof name === "string" ? { kind: "call", name } : { kind: "none" };
}

const anthropicStop = (f: Finish): string =>
  f === "length" ? "max_tokens" : f === "stop_sequence" ? "stop_sequence" : "end_turn";

// ---------------------------------------------------------------------------------------------
// Errors in each provider's format

type Provider = "openai" | "anthropic" | "mlflow";

const OPENAI_ERROR_DEFAULTS: Record<number, { message: string; type: string; code: string | null }> = {
  400: { message: "fake upstream: bad request", type: "invalid_request_error", code: null },
  401: {
    message:
      "Incorrect API key provided: sk-fake. You can find your API key at https://platform.openai.com/account/api-keys.",
    type: "invalid_request_error",
    code: "invalid_api_key",
  },
  403: { message: "fake upstream: forbidden", type: "invalid_request_error", code: "unsupported_country_region_territory" },
  404: { message: "The model does not exist or you do not have access to it.", type: "invalid_request_error", code: "model_not_found" },
  429: {
    message: "Rate limit reached for requests. Please try again in 7s.",
    type: "requests",
    code: "rate_limit_exceeded",
  },
  500: {
    message: "The server had an error while processing your request. Sorry about that!",
    type: "server_error",
    code: null,
  },
  503: { message: "The engine is currently overloaded, please try again later.", type: "server_error", code: null },
};

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  504: "timeout_error",
  529: "overloaded_error",
};

const MLFLOW_ERROR_CODES: Record<number, string> = {
  400: "BAD_REQUEST",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "ENDPOINT_NOT_FOUND",
  429: "REQUEST_LIMIT_EXCEEDED",
  500: "INTERNAL_ERROR",
  503: "TEMPORARILY_UNAVAILABLE",
};

function openaiErrorJson(status: number, message?: string, param: string | null = null, code?: string | null): string {
  const def = OPENAI_ERROR_DEFAULTS[status];
  return JSON.stringify({
    error: {
      message: message ?? def?.message ?? `fake upstream: status ${status}`,
      type: def?.type ?? (status >= 500 ? "server_error" : "invalid_request_error"),
      param,
      code: code !== undefined ? code : (def?.code ?? null),
    },
  });
}

function anthropicErrorObject(status: number, message?: string): JsonObject {
  const type = ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
  return { type: "error", error: { type, message: message ?? `fake upstream: ${type}` } };
}

function errorJson(provider: Provider, status: number, message?: string): string {
  switch (provider) {
    case "openai":
      return openaiErrorJson(status, message);
    case "anthropic":
      return JSON.stringify(anthropicErrorObject(status, message));
    case "mlflow":
      return JSON.stringify({
        error_code: MLFLOW_ERROR_CODES[status] ?? (status >= 500 ? "INTERNAL_ERROR" : "BAD_REQUEST"),
        message: message ?? `fake upstream: status ${status}`,
      });
  }
}

const GARBAGE_BODY = '{"id": "fake", "object": "chat.completion", "choices": [{"index": 0, "mess';

// ---------------------------------------------------------------------------------------------
// SSE

const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
};

const openaiEvent = (obj: JsonValue): string => "data: " + JSON.stringify(obj) + "\n\n";
const anthropicEvent = (type: string, obj: JsonValue): string =>
  "event: " + type + "\ndata: " + JSON.stringify(obj) + "\n\n";
const OPENAI_DONE = "data: [DONE]\n\n";

/** A stream as three parts: sent at once, one content event per piece, sent after the content. */
interface StreamPlan {
  head: string[];
  body: string[];
  tail: string[];
  /** The provider's in-stream error event (for #stream-error). */
  error: string;
  /** The event sent for #garbage. */
  garbage: string;
}

// ---------------------------------------------------------------------------------------------
// The server

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  /** Set when the fake closed the socket on purpose (#break) or is shutting down. */
  selfClosed: boolean;
  timer: NodeJS.Timeout | undefined;
  interval: NodeJS.Timeout | undefined;
}

interface Waiter {
  n: number;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

type Handler = (ctx: Ctx, body: JsonValue) => void;

const JSON_HEADERS = "application/json";
const AZURE_DEPLOYMENT_PATH = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/;
const noop = (): void => {};

class FakeUpstreamServer implements FaultyUpstream {
  url = "";
  port = 0;
  closedEarly = 0;
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;
  private readonly record: boolean;
  private seq = 0;
  private closing = false;
  private readonly faults: string[] = [];
  private closedWaiters: Waiter[] = [];
  private requestWaiters: Waiter[] = [];
  private readonly routes: Map<string, { provider: Provider; handle: Handler }>;

  constructor(record: boolean) {
    this.record = record;
    this.routes = new Map<string, { provider: Provider; handle: Handler }>([
      ["/v1/chat/completions", { provider: "openai", handle: (c, b) => this.openaiChat(c, b) }],
      // Mistral's chat API: OpenAI-shaped, but a stream always ends with usage on its last chunk
      // (no stream_options, no separate usage chunk).
      ["/mistral/v1/chat/completions", { provider: "openai", handle: (c, b) => this.openaiChat(c, b, "mistral") }],
      ["/mistral/v1/embeddings", { provider: "openai", handle: (c, b) => this.openaiEmbeddings(c, b) }],
      ["/v1/completions", { provider: "openai", handle: (c, b) => this.openaiCompletions(c, b) }],
      ["/v1/embeddings", { provider: "openai", handle: (c, b) => this.openaiEmbeddings(c, b) }],
      ["/v1/messages", { provider: "anthropic", handle: (c, b) => this.anthropicMessages(c, b) }],
      ["/invocations", { provider: "mlflow", handle: (c, b) => this.mlflowInvocations(c, b) }],
    ]);
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
    const addr = this.server.address() as AddressInfo;
    this.port = addr.port;
    this.url = `http://127.0.0.1:${addr.port}`;
  }

  // --- public API ------------------------------------------------------------------------------

  waitForClosedEarly(n: number, timeoutMs = 2000): Promise<void> {
    return this.wait(this.closedWaiters, n, () => this.closedEarly, timeoutMs, "closedEarly");
  }

  waitForRequests(n: number, timeoutMs = 2000): Promise<void> {
    return this.wait(this.requestWaiters, n, () => this.requests.length, timeoutMs, "requests");
  }

  queueFaults(...directives: string[]): void {
    this.faults.push(...directives);
  }

  reset(): void {
    this.requests.length = 0;
    this.closedEarly = 0;
    this.faults.length = 0;
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
          const i = list.indexOf(w);
          if (i !== -1) list.splice(i, 1);
          reject(new Error(`fake upstream: ${what} is ${current()} after ${timeoutMs} ms, wanted ${n}`));
        }, timeoutMs),
      };
      list.push(w);
    });
  }

  private static notify(list: Waiter[], value: number): void {
    if (list.length === 0) return;
    for (let i = list.length - 1; i >= 0; i--) {
      const w = list[i];
      if (w !== undefined && value >= w.n) {
        list.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  // --- plumbing --------------------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const ctx: Ctx = { req, res, selfClosed: false, timer: undefined, interval: undefined };
    req.on("error", noop);
    res.on("error", noop);
    res.on("close", () => {
      if (ctx.timer !== undefined) clearTimeout(ctx.timer);
      if (ctx.interval !== undefined) clearInterval(ctx.interval);
      if (!res.writableEnded && !ctx.selfClosed && !this.closing) {
        this.closedEarly++;
        FakeUpstreamServer.notify(this.closedWaiters, this.closedEarly);
      }
    });
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      raw += chunk;
    });
    req.on("end", () => this.dispatch(ctx, raw));
  }

  private dispatch(ctx: Ctx, raw: string): void {
    const { req, res } = ctx;
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? "GET";
    let body: JsonValue | undefined;
    let parseError: string | undefined;
    if (raw !== "") {
      try {
        body = JSON.parse(raw) as JsonValue;
      } catch (e) {
        parseError = e instanceof Error ? e.message : String(e);
      }
    }
    if (this.record) {
      this.requests.push({ method, path, query: q === -1 ? "" : url.slice(q + 1), headers: req.headers, body, rawBody: raw, remotePort: req.socket.remotePort });
      FakeUpstreamServer.notify(this.requestWaiters, this.requests.length);
    }

    const azure = AZURE_DEPLOYMENT_PATH.exec(path);
    if (azure !== null) return this.azureDeployment(ctx, method, q === -1 ? "" : url.slice(q + 1), azure, body);
    // MLflow scoring servers may sit under a path prefix (one per model or version).
    const route = this.routes.get(path) ?? (path.endsWith("/invocations") ? this.routes.get("/invocations") : undefined);
    if (route === undefined) {
      if (method === "GET" && (path === "/ping" || path === "/health")) return this.send(res, 200, "\n", "text/plain");
      if (method === "GET" && path === "/version") return this.send(res, 200, "2.22.0", "text/plain");
      const provider: Provider = path.startsWith("/v1/") ? "openai" : "mlflow";
      return this.send(res, 404, errorJson(provider, 404, `Invalid URL (${method} ${path})`));
    }
    if (method !== "POST") {
      return this.send(res, 405, errorJson(route.provider, 405, `Method ${method} not allowed for ${path}`));
    }
    if (route.provider === "anthropic") {
      // Authentication comes before body validation, as in the real API.
      if (!req.headers["x-api-key"]) {
        return this.send(res, 401, errorJson("anthropic", 401, "x-api-key header is required"));
      }
      if (!req.headers["anthropic-version"]) {
        return this.send(res, 401, errorJson("anthropic", 401, "anthropic-version header is required"));
      }
    }
    if (route.provider === "mlflow") {
      const ct = req.headers["content-type"] ?? "";
      if (!ct.startsWith("application/json")) {
        return this.send(
          res,
          415,
          `This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got '${ct}'.`,
          "text/plain",
        );
      }
    }
    if (body === undefined) {
      const msg =
        route.provider === "mlflow"
          ? `Ensure that input is a valid JSON formatted string. Error: '${parseError ?? "empty body"}'`
          : route.provider === "anthropic"
            ? "There was an error parsing the body of your request."
            : "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";
      return this.send(res, 400, errorJson(route.provider, 400, msg));
    }
    route.handle(ctx, body);
  }

  private send(res: ServerResponse, status: number, body: string, contentType = JSON_HEADERS, extra?: Record<string, string>): void {
    if (res.destroyed) return;
    const headers: Record<string, string | number> = {
      "content-type": contentType,
      "content-length": Buffer.byteLength(body),
    };
    if (extra !== undefined) Object.assign(headers, extra);
    res.writeHead(status, headers);
    res.end(body);
  }

  /**
   * Applies the directives, then calls `respond` (normal answer). `respond` is given the
   * directives so streams can honour #break / #slow / #stream-error.
   */
  /** The directives of a request's text, with the next queued fault (if any) over them. */
  private directives(text: string): Readonly<Directives> {
    const own = parseDirectives(text);
    const queued = this.faults.shift();
    return queued === undefined ? own : withQueued(own, parseDirectives(queued));
  }

  private act(ctx: Ctx, d: Readonly<Directives>, provider: Provider, stream: boolean, respond: () => void): void {
    if (d === NO_DIRECTIVES) return respond();
    if (d.delayMs > 0) {
      ctx.timer = setTimeout(() => {
        ctx.timer = undefined;
        this.afterDelay(ctx, d, provider, stream, respond);
      }, d.delayMs);
      return;
    }
    this.afterDelay(ctx, d, provider, stream, respond);
  }

  private afterDelay(ctx: Ctx, d: Readonly<Directives>, provider: Provider, stream: boolean, respond: () => void): void {
    const { res } = ctx;
    if (res.destroyed || d.hang) return;
    if (d.status !== 0) {
      const retryAfter = d.retryAfter >= 0 ? d.retryAfter : d.status === 429 ? RETRY_AFTER_SECONDS : -1;
      const extra: Record<string, string> | undefined = retryAfter >= 0 ? { "retry-after": String(retryAfter) } : undefined;
      return this.send(res, d.status, errorJson(provider, d.status), JSON_HEADERS, {
        ...this.idHeader(provider),
        ...extra,
      });
    }
    if (!stream) {
      if (d.garbage) return this.send(res, 200, GARBAGE_BODY);
      if (d.break) {
        ctx.selfClosed = true;
        res.socket?.destroy();
        return;
      }
      if (d.slow) {
        ctx.timer = setTimeout(respond, SLOW_CHUNK_COUNT * SLOW_INTERVAL_MS);
        return;
      }
    }
    respond();
  }

  private idHeader(provider: Provider): Record<string, string> {
    const id = "req_fake" + String(this.seq).padStart(8, "0");
    if (provider === "openai") return { "x-request-id": id };
    if (provider === "anthropic") return { "request-id": id };
    return {};
  }

  private sendStream(ctx: Ctx, d: Readonly<Directives>, plan: StreamPlan, extraHeaders: Record<string, string>): void {
    const { res } = ctx;
    if (res.destroyed) return;
    res.writeHead(200, { ...SSE_HEADERS, ...extraHeaders });
    if (d.garbage) {
      res.write(plan.head.join("") + plan.garbage);
      res.end();
      return;
    }
    if (d.break) {
      const socket: Socket | null = res.socket;
      ctx.selfClosed = true;
      res.write(plan.head.join("") + plan.body.slice(0, 2).join(""), () => {
        // End the TCP connection without the terminal event or the final zero-length chunk.
        socket?.end();
        setTimeout(() => socket?.destroy(), 1000).unref();
      });
      return;
    }
    if (d.streamError) {
      res.write(plan.head.join("") + plan.body.slice(0, 2).join("") + plan.error);
      res.end();
      return;
    }
    if (d.slow) {
      res.write(plan.head.join(""));
      let i = 0;
      ctx.interval = setInterval(() => {
        if (res.destroyed) return;
        const ev = plan.body[i++];
        if (ev !== undefined) res.write(ev);
        if (i >= plan.body.length) {
          clearInterval(ctx.interval);
          ctx.interval = undefined;
          res.write(plan.tail.join(""));
          res.end();
        }
      }, SLOW_INTERVAL_MS);
      return;
    }
    res.write(plan.head.join("") + plan.body.join("") + plan.tail.join(""));
    if (d.lingerMs > 0) ctx.timer = setTimeout(() => res.end(), d.lingerMs);
    else res.end();
  }

  // --- Azure OpenAI ----------------------------------------------------------------------------

  /** A deployment route: Azure's checks, then the OpenAI handler with the deployment as model. */
  private azureDeployment(ctx: Ctx, method: string, query: string, match: RegExpExecArray, body: JsonValue | undefined): void {
    const { req, res } = ctx;
    const deployment = decodeURIComponent(match[1] ?? "");
    const operation = match[2] ?? "";
    if (method !== "POST") return this.send(res, 405, errorJson("openai", 405, `Method ${method} not allowed`));
    if (!new URLSearchParams(query).get("api-version")) {
      return this.send(res, 404, JSON.stringify({ error: { code: "404", message: "Resource not found" } }));
    }
    const bearer = (req.headers.authorization ?? "").startsWith("Bearer ");
    if (!req.headers["api-key"] && !bearer) {
      return this.send(
        res,
        401,
        JSON.stringify({
          error: {
            code: "401",
            message:
              "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
          },
        }),
      );
    }
    if (!isObject(body)) return this.openaiBadRequest(ctx, "We could not parse the JSON body of your request.", null);
    const withModel: JsonObject = { ...body, model: deployment };
    if (operation === "chat/completions") return this.openaiChat(ctx, withModel);
    if (operation === "completions") return this.openaiCompletions(ctx, withModel);
    return this.openaiEmbeddings(ctx, withModel);
  }

  // --- OpenAI ----------------------------------------------------------------------------------

  private openaiBadRequest(ctx: Ctx, message: string, param: string | null, code: string | null = null): void {
    this.send(ctx.res, 400, openaiErrorJson(400, message, param, code));
  }

  private openaiChat(ctx: Ctx, body: JsonValue, dialect: "openai" | "mistral" = "openai"): void {
    if (!isObject(body)) return this.openaiBadRequest(ctx, "The request body must be a JSON object.", null);
    const model = body.model;
    if (typeof model !== "string" || model === "") {
      return this.openaiBadRequest(ctx, "you must provide a model parameter", null);
    }
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      return this.openaiBadRequest(ctx, "Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
    }
    let promptTokens = 0;
    let lastUser = "";
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (!isObject(m) || typeof m.role !== "string") {
        return this.openaiBadRequest(ctx, `Invalid value for 'messages[${i}]'.`, `messages[${i}]`);
      }
      const text = contentText(m.content);
      promptTokens += countWords(text);
      if (m.role === "user") lastUser = text;
    }
    const last = messages[messages.length - 1];
    const lastRole = isObject(last) ? last.role : undefined;
    // A tool result answered: echo it. A `#tool` user turn with tools: call the first tool.
    const echoed = lastRole === "tool" && isObject(last) ? contentText(last.content) : lastUser;
    let toolName: string | undefined;
    if (Array.isArray(body.tools) && body.tools.length > 0 && lastRole === "user" && lastUser.startsWith("#tool")) {
      const tool = body.tools[0];
      const fn = isObject(tool) ? tool.function : undefined;
      if (!isObject(fn) || typeof fn.name !== "string" || fn.name === "") {
        return this.openaiBadRequest(ctx, "Missing required parameter: 'tools[0].function.name'.", "tools[0].function.name");
      }
      toolName = fn.name;
    }
    const n = positiveInt(body.n) ?? 1;
    const stream = body.stream === true;
    const includeUsage = stream && isObject(body.stream_options) && body.stream_options.include_usage === true;
    const d = this.directives(lastUser);
    const maxTokens = positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens);
    const stops = stopList(body.stop);

    const seq = ++this.seq;
    this.act(ctx, d, "openai", stream, () => {
      const reply = makeReply(echoed, d.slow, maxTokens, stops);
      const id = "chatcmpl-fake" + String(seq).padStart(8, "0");
      const created = Math.floor(Date.now() / 1000);
      const toolCall =
        toolName === undefined
          ? undefined
          : { id: "call_fake" + String(seq).padStart(8, "0"), name: toolName, arguments: fakeToolArguments(lastUser) };
      const fragments = toolCall === undefined ? [] : splitToolArguments(toolCall.arguments);
      const completionTokens = (toolCall === undefined ? reply.pieces.length : fragments.length) * n;
      const usage = {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      };
      const finish = toolCall === undefined ? openaiFinish(reply.finish) : "tool_calls";
      const headers = this.idHeader("openai");
      if (!stream) {
        const choices: JsonValue[] = [];
        for (let i = 0; i < n; i++) {
          const message: JsonObject =
            toolCall === undefined
              ? { role: "assistant", content: reply.text, refusal: null, annotations: [] }
              : {
                  role: "assistant",
                  content: null,
                  tool_calls: [{ id: toolCall.id, type: "function", function: { name: toolCall.name, arguments: toolCall.arguments } }],
                  refusal: null,
                  annotations: [],
                };
          choices.push({ index: i, message, logprobs: null, finish_reason: finish });
        }
        return this.send(
          ctx.res,
          200,
          JSON.stringify({
            id,
            object: "chat.completion",
            created,
            model,
            choices,
            usage,
            service_tier: "default",
            system_fingerprint: "fp_fake",
          }),
          JSON_HEADERS,
          headers,
        );
      }
      const chunk = (choices: JsonValue[], withUsage: JsonValue = null): string => {
        const obj: JsonObject = {
          id,
          object: "chat.completion.chunk",
          created,
          model,
          service_tier: "default",
          system_fingerprint: "fp_fake",
          choices,
        };
        if (includeUsage) obj.usage = withUsage;
        return openaiEvent(obj);
      };
      const head: string[] = [];
      const bodyEvents: string[] = [];
      const tail: string[] = [];
      for (let i = 0; i < n; i++) {
        const delta: JsonObject =
          toolCall === undefined
            ? { role: "assistant", content: "", refusal: null }
            : {
                role: "assistant",
                content: null,
                tool_calls: [{ index: 0, id: toolCall.id, type: "function", function: { name: toolCall.name, arguments: "" } }],
                refusal: null,
              };
        head.push(chunk([{ index: i, delta, logprobs: null, finish_reason: null }]));
      }
      if (toolCall === undefined) {
        for (const piece of reply.pieces) {
          for (let i = 0; i < n; i++) {
            bodyEvents.push(chunk([{ index: i, delta: { content: piece }, logprobs: null, finish_reason: null }]));
          }
        }
      } else {
        for (const fragment of fragments) {
          for (let i = 0; i < n; i++) {
            const delta = { tool_calls: [{ index: 0, function: { arguments: fragment } }] };
            bodyEvents.push(chunk([{ index: i, delta, logprobs: null, finish_reason: null }]));
          }
        }
      }
      if (dialect === "mistral") {
        for (let i = 0; i < n; i++) {
          const last: JsonObject = JSON.parse(chunk([{ index: i, delta: { content: "" }, finish_reason: finish }]).slice(6)) as JsonObject;
          if (i === n - 1) last.usage = { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.total_tokens };
          tail.push(openaiEvent(last));
        }
      } else {
        for (let i = 0; i < n; i++) {
          tail.push(chunk([{ index: i, delta: {}, logprobs: null, finish_reason: finish }]));
        }
        if (includeUsage) tail.push(chunk([], usage));
      }
      tail.push(OPENAI_DONE);
      this.sendStream(
        ctx,
        d,
        {
          head,
          body: bodyEvents,
          tail,
          error: openaiEvent(JSON.parse(openaiErrorJson(500)) as JsonValue),
          garbage: "data: {\"id\": \"chatcmpl-broken\", \"choices\": [\n\n" + OPENAI_DONE,
        },
        headers,
      );
    });
  }

  private openaiCompletions(ctx: Ctx, body: JsonValue): void {
    if (!isObject(body)) return this.openaiBadRequest(ctx, "The request body must be a JSON object.", null);
    const model = body.model;
    if (typeof model !== "string" || model === "") {
      return this.openaiBadRequest(ctx, "you must provide a model parameter", null);
    }
    const rawPrompt = body.prompt;
    let prompts: string[];
    if (typeof rawPrompt === "string") prompts = [rawPrompt];
    else if (Array.isArray(rawPrompt) && rawPrompt.length > 0 && rawPrompt.every((p) => typeof p === "string")) {
      prompts = rawPrompt as string[];
    } else {
      return this.openaiBadRequest(
        ctx,
        "Invalid value for 'prompt': the fake upstream accepts a string or a non-empty list of strings.",
        "prompt",
      );
    }
    let promptTokens = 0;
    for (const p of prompts) promptTokens += countWords(p);
    const n = positiveInt(body.n) ?? 1;
    const stream = body.stream === true;
    const includeUsage = stream && isObject(body.stream_options) && body.stream_options.include_usage === true;
    const d = this.directives(prompts[0] ?? "");
    const maxTokens = positiveInt(body.max_tokens) ?? COMPLETIONS_DEFAULT_MAX_TOKENS;
    const stops = stopList(body.stop);

    const seq = ++this.seq;
    this.act(ctx, d, "openai", stream, () => {
      const replies = prompts.map((p) => makeReply(p, d.slow, maxTokens, stops));
      const id = "cmpl-fake" + String(seq).padStart(8, "0");
      const created = Math.floor(Date.now() / 1000);
      let completionTokens = 0;
      for (const r of replies) completionTokens += r.pieces.length * n;
      const usage = {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      };
      const headers = this.idHeader("openai");
      if (!stream) {
        const choices: JsonValue[] = [];
        replies.forEach((r, p) => {
          for (let k = 0; k < n; k++) {
            choices.push({ text: r.text, index: p * n + k, logprobs: null, finish_reason: openaiFinish(r.finish) });
          }
        });
        return this.send(
          ctx.res,
          200,
          JSON.stringify({ id, object: "text_completion", created, model, choices, usage, system_fingerprint: "fp_fake" }),
          JSON_HEADERS,
          headers,
        );
      }
      const chunk = (choices: JsonValue[], withUsage: JsonValue = null): string => {
        const obj: JsonObject = { id, object: "text_completion", created, choices, model, system_fingerprint: "fp_fake" };
        if (includeUsage) obj.usage = withUsage;
        return openaiEvent(obj);
      };
      const bodyEvents: string[] = [];
      const tail: string[] = [];
      const longest = Math.max(...replies.map((r) => r.pieces.length));
      for (let j = 0; j < longest; j++) {
        replies.forEach((r, p) => {
          const piece = r.pieces[j];
          if (piece === undefined) return;
          for (let k = 0; k < n; k++) {
            bodyEvents.push(chunk([{ text: piece, index: p * n + k, logprobs: null, finish_reason: null }]));
          }
        });
      }
      replies.forEach((r, p) => {
        for (let k = 0; k < n; k++) {
          tail.push(chunk([{ text: "", index: p * n + k, logprobs: null, finish_reason: openaiFinish(r.finish) }]));
        }
      });
      if (includeUsage) tail.push(chunk([], usage));
      tail.push(OPENAI_DONE);
      this.sendStream(
        ctx,
        d,
        {
          head: [],
          body: bodyEvents,
          tail,
          error: openaiEvent(JSON.parse(openaiErrorJson(500)) as JsonValue),
          garbage: "data: {\"id\": \"cmpl-broken\", \"choices\": [\n\n" + OPENAI_DONE,
        },
        headers,
      );
    });
  }

  private openaiEmbeddings(ctx: Ctx, body: JsonValue): void {
    if (!isObject(body)) return this.openaiBadRequest(ctx, "The request body must be a JSON object.", null);
    const model = body.model;
    if (typeof model !== "string" || model === "") {
      return this.openaiBadRequest(ctx, "you must provide a model parameter", null);
    }
    const rawInput = body.input;
    let inputs: string[];
    if (typeof rawInput === "string") inputs = [rawInput];
    else if (Array.isArray(rawInput) && rawInput.length > 0 && rawInput.every((p) => typeof p === "string")) {
      inputs = rawInput as string[];
    } else {
      return this.openaiBadRequest(
        ctx,
        "'$.input' is invalid. The fake upstream accepts a string or a non-empty list of strings.",
        "input",
      );
    }
    if (inputs.some((s) => s === "")) {
      return this.openaiBadRequest(ctx, "'$.input' is invalid. Please check the API reference.", "input");
    }
    const format = body.encoding_format ?? "float";
    if (format !== "float" && format !== "base64") {
      return this.openaiBadRequest(ctx, "Invalid value for 'encoding_format': must be 'float' or 'base64'.", "encoding_format");
    }
    const d = this.directives(inputs[0] ?? "");
    this.act(ctx, d, "openai", false, () => {
      let tokens = 0;
      const data: JsonValue[] = inputs.map((text, index) => {
        tokens += countWords(text);
        const v = fakeEmbedding(text);
        const embedding = format === "base64" ? Buffer.from(new Float32Array(v).buffer).toString("base64") : v;
        return { object: "embedding", index, embedding };
      });
      this.send(
        ctx.res,
        200,
        JSON.stringify({ object: "list", data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } }),
        JSON_HEADERS,
        this.idHeader("openai"),
      );
    });
  }

  // --- Anthropic -------------------------------------------------------------------------------

  private anthropicBadRequest(ctx: Ctx, message: string): void {
    this.send(ctx.res, 400, errorJson("anthropic", 400, message));
  }

  private anthropicMessages(ctx: Ctx, body: JsonValue): void {
    if (!isObject(body)) return this.anthropicBadRequest(ctx, "The request body must be a JSON object.");
    const model = body.model;
    if (typeof model !== "string" || model === "") return this.anthropicBadRequest(ctx, "model: Field required");
    const maxTokens = body.max_tokens;
    if (maxTokens === undefined) return this.anthropicBadRequest(ctx, "max_tokens: Field required");
    if (typeof maxTokens !== "number" || !Number.isInteger(maxTokens) || maxTokens < 1) {
      return this.anthropicBadRequest(ctx, "max_tokens: Input should be a valid integer greater than or equal to 1");
    }
    const messages = body.messages;
    if (messages === undefined) return this.anthropicBadRequest(ctx, "messages: Field required");
    if (!Array.isArray(messages) || messages.length === 0) {
      return this.anthropicBadRequest(ctx, "messages: at least one message is required");
    }
    let inputTokens = countWords(contentText(body.system));
    let lastUser = "";
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (!isObject(m) || (m.role !== "user" && m.role !== "assistant")) {
        return this.anthropicBadRequest(ctx, `messages.${i}.role: Input should be 'user' or 'assistant'`);
      }
      const text = contentText(m.content);
      inputTokens += countWords(text);
      if (m.role === "user") lastUser = text;
    }
    const stream = body.stream === true;
    const tools = anthropicToolTurn(messages, body);
    if (tools.kind === "error") return this.anthropicBadRequest(ctx, tools.message);
    inputTokens += tools.kind === "result" ? tools.words : 0;
    const d = this.directives(lastUser);
    const stops = stopList(body.stop_sequences);

    const seq = ++this.seq;
    this.act(ctx, d, "anthropic", stream, () => {
      if (tools.kind === "call") return this.anthropicToolUse(ctx, d, seq, model, inputTokens, stream, tools.name, lastUser);
      const reply = makeReply(tools.kind === "result" ? tools.text : lastUser, d.slow, maxTokens, stops);
      const id = "msg_fake" + String(seq).padStart(16, "0");
      const outputTokens = reply.pieces.length;
      const stopReason = anthropicStop(reply.finish);
      const headers = this.idHeader("anthropic");
      if (!stream) {
        return this.send(
          ctx.res,
          200,
          JSON.stringify({
            id,
            type: "message",
            role: "assistant",
            model,
            content: [{ type: "text", text: reply.text }],
            stop_reason: stopReason,
            stop_sequence: reply.stopSequence,
            usage: {
              input_tokens: inputTokens,
              cache_creation_input_tokens: 0,
              cache_read_input_tokens: 0,
              output_tokens: outputTokens,
              service_tier: "standard",
            },
          }),
          JSON_HEADERS,
          headers,
        );
      }
      const head = [
        anthropicEvent("message_start", {
          type: "message_start",
          message: {
            id,
            type: "message",
            role: "assistant",
            model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: {
              input_tokens: inputTokens,
              cache_creation_input_tokens: 0,
              cache_read_input_tokens: 0,
              output_tokens: 1,
              service_tier: "standard",
            },
          },
        }),
        anthropicEvent("content_block_start", {
          type: "content_block_start",
          index: 0,
          content_block: { type: "text", text: "" },
        }),
        anthropicEvent("ping", { type: "ping" }),
      ];
      const bodyEvents = reply.pieces.map((text) =>
        anthropicEvent("content_block_delta", {
          type: "content_block_delta",
          index: 0,
          delta: { type: "text_delta", text },
        }),
      );
      const tail = [
        anthropicEvent("content_block_stop", { type: "content_block_stop", index: 0 }),
        anthropicEvent("message_delta", {
          type: "message_delta",
          delta: { stop_reason: stopReason, stop_sequence: reply.stopSequence },
          usage: { output_tokens: outputTokens },
        }),
        anthropicEvent("message_stop", { type: "message_stop" }),
      ];
      this.sendStream(
        ctx,
        d,
        {
          head,
          body: bodyEvents,
          tail,
          error: anthropicEvent("error", anthropicErrorObject(529, "Overloaded")),
          garbage: "event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\n\n",
        },
        headers,
      );
    });
  }

  /** The tool_use answer to a `#tool` message (see anthropicToolTurn()). */
  private anthropicToolUse(ctx: Ctx, d: Readonly<Directives>, seq: number, model: string, inputTokens: number, stream: boolean, name: string, userText: string): void {
    const id = "msg_fake" + String(seq).padStart(16, "0");
    const toolUse = { type: "tool_use", id: "toolu_fake" + String(seq).padStart(16, "0"), name, input: {} };
    const args = fakeToolArguments(userText);
    const fragments = splitToolArguments(args);
    const usage = { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: fragments.length, service_tier: "standard" };
    const headers = this.idHeader("anthropic");
    if (!stream) {
      const message = { id, type: "message", role: "assistant", model, content: [{ ...toolUse, input: JSON.parse(args) as JsonValue }], stop_reason: "tool_use", stop_sequence: null, usage };
      return this.send(ctx.res, 200, JSON.stringify(message), JSON_HEADERS, headers);
    }
    const start = { id, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } };
    this.sendStream(
      ctx,
      d,
      {
        head: [
          anthropicEvent("message_start", { type: "message_start", message: start }),
          anthropicEvent("content_block_start", { type: "content_block_start", index: 0, content_block: toolUse }),
        ],
        body: fragments.map((partial_json) =>
          anthropicEvent("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json } }),
        ),
        tail: [
          anthropicEvent("content_block_stop", { type: "content_block_stop", index: 0 }),
          anthropicEvent("message_delta", { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: fragments.length } }),
          anthropicEvent("message_stop", { type: "message_stop" }),
        ],
        error: anthropicEvent("error", anthropicErrorObject(529, "Overloaded")),
        garbage: "event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\n\n",
      },
      headers,
    );
  }

  // --- MLflow ----------------------------------------------------------------------------------

  private mlflowInvocations(ctx: Ctx, body: JsonValue): void {
    let directiveText: string | undefined;
    if (isObject(body)) {
      const params = body.params;
      if (isObject(params) && typeof params.directive === "string") directiveText = params.directive;
      else {
        for (const f of MLFLOW_FORMATS) {
          const input = body[f];
          if (input === undefined) continue;
          const first = f === "dataframe_split" ? (isObject(input) && Array.isArray(input.data) ? input.data[0] : undefined)
            : f === "inputs" && isObject(input) ? input
            : Array.isArray(input) ? input[0] : undefined;
          directiveText = firstString(first, 3);
          break;
        }
      }
    }
    const d = this.directives(directiveText ?? "");
    const path = (ctx.req.url ?? "").split("?")[0] ?? "";
    this.act(ctx, d, "mlflow", false, () => {
      let predictions: JsonValue[];
      try {
        if (path === "/llm/invocations") predictions = fakeTextPredictions(body, d.slow);
        else if (path === "/embeddings/invocations") predictions = llmInputs(body).map(fakeEmbedding);
        else {
          // /churn/3/invocations serves version 3 of the fake model: predictions times 3
          const version = Number(/\/([0-9]+)\/invocations$/.exec(path)?.[1] ?? 1);
          predictions = fakePredictions(body).map((x) => x * version);
        }
      } catch (e) {
        if (e instanceof FakePredictError) return this.send(ctx.res, 400, errorJson("mlflow", 400, e.message));
        throw e;
      }
      this.send(ctx.res, 200, JSON.stringify({ predictions }));
    });
  }
}

/** Starts the fake on 127.0.0.1 (a free port unless `port` is given). */
/** The provider fake of this file: it can also be told to fail its next requests. */
export interface FaultyUpstream extends FakeUpstream {
  /**
   * The next requests (one each, in order) act as if their text began with these directives,
   * e.g. queueFaults("#status:500", "#status:429 #retry-after:0"); later requests are normal.
   */
  queueFaults(...directives: string[]): void;
}

export async function startFakeUpstream(opts: FakeUpstreamOptions = {}): Promise<FaultyUpstream> {
  const fake = new FakeUpstreamServer(opts.record ?? true);
  await fake.listen(opts.port ?? 0);
  return fake;
}
