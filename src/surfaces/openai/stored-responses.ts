// The Responses API's stored responses: POST /v1/responses with `store` true (OpenAI's default)
// keeps the Response and its conversation (store.responses in the config), so that
//   GET    /v1/responses/{id}               answers it again,
//   GET    /v1/responses/{id}/input_items   lists the items it was generated from (paged),
//   DELETE /v1/responses/{id}               removes it,
//   POST   /v1/responses {previous_response_id}   continues its conversation.
// A stored row holds the whole conversation up to its answer, so continuing one is one read, not
// a walk up the chain. Who may read a response: its team's keys (its key's, when the key has no
// team), and admins; to anyone else it does not exist (404, never 403: ids say nothing).
// Instructions are not part of the conversation: as on OpenAI, they do not carry over.
import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { clip, invalidArgument } from "../../errors";
import type { StoredResponseEvent } from "../../observability/metrics";
import type { Principal } from "../../runtime";
import { purgeExpiredResponses } from "../../store/response-shared";
import type { ResponseStore, StoredResponse } from "../../store/types";
import { clientGone } from "../http";
import type { RestRoute } from "../router";
import type { NodeRequest, NodeResponse } from "../../server/one-port";
import { openaiErrorBody } from "./errors";
import { type InputItem, type ResponsesBody, parseInputItems } from "./responses";

export interface StoredResponsesOptions {
  store: ResponseStore;
  /** false: nothing is stored, and previous_response_id is refused. */
  enabled: boolean;
  ttlMs: number;
  /** The most one stored response may hold (its Response and its conversation, as JSON), in bytes. */
  maxBytes: number;
  /** Who is calling, by the same keys and tokens as the service calls (auth off: anonymous). */
  authenticate(header: string | undefined, signal: AbortSignal): Promise<Principal>;
  /** Deletions are logged (info: who removed which response); reads at debug. */
  log?: Logger;
  /** Counts what happens to answers kept (modelgate_stored_responses_total). */
  onEvent?: (event: StoredResponseEvent) => void;
  now?: () => number;
}

/** A stored conversation read for previous_response_id. */
export interface History {
  /** Its items as input items (for the chat request). */
  items: InputItem[];
  /** The same, as stored: a JSON array. */
  text: string;
}

/** A Response object as this surface writes it (responses-output.ts). */
export interface ResponseObject {
  id: string;
  output: unknown[];
}

/** input_items' page size: OpenAI's bounds and default. */
const MAX_ITEMS_PAGE = 100;
const DEFAULT_ITEMS_PAGE = 20;

/** The ids of this answer and of the input items that came without one. */
export function newResponseId(requestId: string): string {
  // The request id keeps the answer findable in the logs and the ledger; the random part keeps
  // two answers apart when a caller sends the same x-request-id twice.
  return `resp_${requestId}_${randomBytes(6).toString("hex")}`;
}

/** Who may read what a caller stored: its team's keys (its own key, without a team), and admins. */
export function readableBy(stored: { keyId: string; team: string }, who: Principal): boolean {
  if (who.roles.has("admin")) return true;
  return stored.team !== "" ? stored.team === who.team : stored.keyId === who.keyId;
}

function notFound(id: string): ConnectError {
  return new ConnectError(
    `No response with id ${JSON.stringify(clip(id, 80))} (never stored, deleted, expired after store.responses.ttl_hours, or not your team's)`,
    Code.NotFound,
  );
}

/** Two JSON array texts as one (no parse: a conversation may be megabytes). */
function concatJsonArrays(a: string, b: string): string {
  if (a === "[]") return b;
  if (b === "[]") return a;
  return `${a.slice(0, -1)},${b.slice(1)}`;
}

/** output_text parts carry annotations and logprobs in an item resource (OutputTextContent requires both). */
function contentParts(content: string | Extract<InputItem, { type: "message" }>["content"], assistant: boolean): unknown[] {
  if (typeof content === "string") return [assistant ? { type: "output_text", text: content, annotations: [], logprobs: [] } : { type: "input_text", text: content }];
  return content.map((p) => (p.type === "output_text" ? { ...p, annotations: p.annotations ?? [], logprobs: p.logprobs ?? [] } : p));
}

/** The id prefix of an item of this kind (OpenAI's: msg_, fc_, fco_). */
const idPrefix: Record<InputItem["type"], string> = { message: "msg", function_call: "fc", function_call_output: "fco" };

/**
 * An input item as an item resource (the shape input_items and conversations answer): with its id
 * (`idFor(prefix)` when it came without one) and a status.
 */
export function itemResource(item: InputItem, idFor: (prefix: string) => string): { id: string } & Record<string, unknown> {
  const id = item.id ?? idFor(idPrefix[item.type]);
  switch (item.type) {
    case "message":
      return { type: "message", id, role: item.role, status: item.status ?? "completed", content: contentParts(item.content, item.role === "assistant") };
    case "function_call":
      return { type: "function_call", id, call_id: item.call_id, name: item.name, arguments: item.arguments, status: item.status ?? "completed" };
    case "function_call_output":
      return { type: "function_call_output", id, call_id: item.call_id, output: item.output, status: item.status ?? "completed" };
  }
}

/** A string input: one user message. */
export const userMessage = (text: string): InputItem => ({ type: "message", role: "user", content: text });

/** This request's input as item resources: `<kind>_<request id>_in<n>` for those sent without an id. */
export function inputItemResources(body: ResponsesBody, requestId: string): unknown[] {
  const input = body.input ?? [];
  const items = typeof input === "string" ? [userMessage(input)] : input;
  return items.map((item, i) => itemResource(item, (prefix) => `${prefix}_${requestId}_in${i}`));
}

export class StoredResponses {
  private readonly now: () => number;

  constructor(private readonly options: StoredResponsesOptions) {
    this.now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  /** The caller's stored response, or NOT_FOUND; and who the caller is. */
  private async find(header: string | undefined, id: string, signal: AbortSignal): Promise<StoredResponse & { by: Principal }> {
    const who = await this.options.authenticate(header, signal);
    // Ids this gateway makes are short; a longer one cannot be stored, so it is not looked up.
    const stored = id.length <= 512 ? await this.options.store.get(id, new Date(this.now())) : undefined;
    if (!stored || !readableBy(stored, who)) throw notFound(id);
    return { ...stored, by: who };
  }

  /** previous_response_id's conversation, for the caller whose Authorization header this is. */
  async history(header: string | undefined, id: string, signal: AbortSignal): Promise<History> {
    if (!this.options.enabled) throw invalidArgument("previous_response_id: this gateway stores no responses (store.responses.enabled is false): send the whole conversation in input instead");
    let stored: StoredResponse;
    try {
      stored = await this.find(header, id, signal);
    } catch (err) {
      // Said in the request's terms: a 400 naming the field, as OpenAI answers an unknown previous response.
      if (err instanceof ConnectError && err.code === Code.NotFound) throw invalidArgument(`previous_response_id: ${err.rawMessage}`);
      throw err;
    }
    let items: InputItem[] | undefined;
    try {
      items = parseInputItems(JSON.parse(stored.items));
    } catch {
      items = undefined;
    }
    if (items === undefined) throw new ConnectError(`previous_response_id: the stored conversation of ${clip(id, 80)} cannot be read back`, Code.DataLoss);
    return { items, text: stored.items };
  }

  /**
   * Refuses a conversation that could not be stored anyway, before the model is asked: the
   * previous one and this request's input already over store.responses.max_bytes.
   */
  checkSize(history: History | undefined, input: unknown[]): void {
    const bytes = Buffer.byteLength(history?.text ?? "") + Buffer.byteLength(JSON.stringify(input));
    if (bytes > this.options.maxBytes) {
      this.options.onEvent?.("too_large");
      throw invalidArgument(
        history === undefined
          ? `input: ${bytes} bytes as stored, more than store.responses.max_bytes (${this.options.maxBytes}): send store: false`
          : `previous_response_id: the conversation would be ${bytes} bytes, more than store.responses.max_bytes (${this.options.maxBytes}): start a new one, or send store: false with the whole conversation in input`,
      );
    }
  }

  /** Keeps an answer with its conversation; fails (the caller's call with it) when it cannot. */
  async save(who: Principal, endpoint: string, response: ResponseObject, input: unknown[], history: History | undefined): Promise<void> {
    const responseText = JSON.stringify(response);
    const inputText = JSON.stringify(input);
    const items = concatJsonArrays(concatJsonArrays(history?.text ?? "[]", inputText), JSON.stringify(response.output));
    const bytes = Buffer.byteLength(responseText) + Buffer.byteLength(items);
    if (bytes > this.options.maxBytes) {
      this.options.onEvent?.("too_large");
      throw new ConnectError(
        `the response and its conversation are ${bytes} bytes, more than store.responses.max_bytes (${this.options.maxBytes}), so it was not stored: start a new conversation, or send store: false`,
        Code.FailedPrecondition,
      );
    }
    const now = this.now();
    try {
      await this.options.store.put([
        {
          id: response.id,
          keyId: who.keyId,
          team: who.team,
          endpoint,
          createdAt: new Date(now),
          expiresAt: new Date(now + this.options.ttlMs),
          response: responseText,
          items,
          inputCount: (history?.items.length ?? 0) + input.length,
        },
      ]);
    } catch (err) {
      this.options.onEvent?.("failed");
      // The store's own code when it has one (a refused row, a full write queue); a database error is UNAVAILABLE.
      const e = ConnectError.from(err);
      const code = e.code === Code.Unknown || e.code === Code.Internal ? Code.Unavailable : e.code;
      throw new ConnectError(`the response could not be stored (${e.rawMessage}): retry, or send store: false`, code);
    }
    this.options.onEvent?.("stored");
  }

  /** GET, DELETE and input_items; cancel (background responses only, none here) and the routes not served. */
  routes(): RestRoute[] {
    const header = (req: NodeRequest) => req.headers.authorization;
    return [
      {
        method: "GET",
        path: "/v1/responses/{response_id}",
        handler: async (req, res, params) => {
          const query = queryOf(req);
          refuseInclude(query);
          if (query.get("stream") === "true") throw invalidArgument("stream: only background responses can be streamed again, and this gateway runs none");
          const stored = await this.find(header(req), params["response_id"] ?? "", clientGone(res));
          this.options.log?.debug({ responseId: stored.id, keyId: stored.by.keyId }, "stored response read");
          sendJsonText(res, stored.response);
        },
      },
      {
        method: "DELETE",
        path: "/v1/responses/{response_id}",
        handler: async (req, res, params) => {
          const stored = await this.find(header(req), params["response_id"] ?? "", clientGone(res));
          await this.options.store.delete(stored.id);
          this.options.onEvent?.("deleted");
          this.options.log?.info({ responseId: stored.id, keyId: stored.by.keyId, team: stored.by.team, owner: { keyId: stored.keyId, team: stored.team } }, "stored response deleted");
          sendJsonText(res, JSON.stringify({ id: stored.id, object: "response", deleted: true }));
        },
      },
      {
        method: "GET",
        path: "/v1/responses/{response_id}/input_items",
        handler: async (req, res, params) => {
          const query = queryOf(req);
          refuseInclude(query);
          const page = pageOf(query);
          const stored = await this.find(header(req), params["response_id"] ?? "", clientGone(res));
          const items = (JSON.parse(stored.items) as { id: string }[]).slice(0, stored.inputCount);
          if (page.order === "desc") items.reverse();
          let from = 0;
          if (page.after !== undefined) {
            const at = items.findIndex((item) => item.id === page.after);
            if (at < 0) throw invalidArgument(`after: no input item ${JSON.stringify(clip(page.after, 80))} in this response`);
            from = at + 1;
          }
          const data = items.slice(from, from + page.limit);
          sendJsonText(
            res,
            JSON.stringify({ object: "list", data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: from + page.limit < items.length }),
          );
        },
      },
      {
        method: "POST",
        path: "/v1/responses/{response_id}/cancel",
        handler: async (req, res, params) => {
          await this.find(header(req), params["response_id"] ?? "", clientGone(res));
          throw invalidArgument("Only responses created with background: true can be cancelled (this gateway runs none: every response is complete when it is answered)");
        },
      },
      ...["/v1/responses/input_tokens", "/v1/responses/compact"].map(
        (path): RestRoute => ({
          method: "POST",
          path,
          async handler(_req, res) {
            const body = JSON.stringify(openaiErrorBody(`POST ${path} is not served by this gateway`, "invalid_request_error"));
            res.writeHead(404, { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) });
            res.end(body);
          },
        }),
      ),
    ];
  }

  /** Removes expired responses, a bounded batch at a time (at most maxBatches: the timer comes back); how many it removed. */
  purge(batch = 1000, maxBatches = 100): Promise<number> {
    return purgeExpiredResponses(this.options.store, new Date(this.now()), batch, maxBatches);
  }
}

export function queryOf(req: NodeRequest): URLSearchParams {
  const url = req.url ?? "";
  const q = url.indexOf("?");
  return new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
}

export function refuseInclude(query: URLSearchParams): void {
  const include = [...query.getAll("include"), ...query.getAll("include[]")].filter((v) => v !== "");
  if (include.length > 0) throw invalidArgument("include: no include values are supported by this gateway (it returns no tool results, logprobs or encrypted reasoning)");
}

export function pageOf(query: URLSearchParams): { limit: number; order: "asc" | "desc"; after?: string } {
  const rawLimit = query.get("limit");
  const limit = rawLimit === null ? DEFAULT_ITEMS_PAGE : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_ITEMS_PAGE) throw invalidArgument(`limit: must be an integer from 1 to ${MAX_ITEMS_PAGE}`);
  const order = query.get("order") ?? "desc";
  if (order !== "asc" && order !== "desc") throw invalidArgument('order: must be "asc" or "desc"');
  const after = query.get("after") ?? undefined;
  return { limit, order, after: after === "" ? undefined : after };
}

export function sendJsonText(res: NodeResponse, text: string): void {
  res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
  res.end(text);
}
