// OpenAI's Conversations API: a conversation is a list of items kept by the gateway (the store,
// beside stored responses) that POST /v1/responses continues when its `conversation` names it:
// the conversation's items come before the request's input, and the input and output items are
// added to it once the answer is complete (before it, or the stream's terminal event, goes out).
//   POST   /v1/conversations                          create (metadata, up to 20 first items)
//   GET    /v1/conversations/{id}                     retrieve
//   POST   /v1/conversations/{id}                     update its metadata
//   DELETE /v1/conversations/{id}                     delete (with its items)
//   POST   /v1/conversations/{id}/items               add up to 20 items
//   GET    /v1/conversations/{id}/items               list (limit, order, after)
//   GET    /v1/conversations/{id}/items/{item_id}     one item
//   DELETE /v1/conversations/{id}/items/{item_id}     remove one item
// Who may use one: the rule of stored responses (its team's keys, its key's alone without a team,
// admins); to anyone else it does not exist. store.responses.enabled: false turns it off too;
// store.responses.max_bytes bounds what one response reads of a conversation.
import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { z } from "zod";
import { clip, invalidArgument } from "../../errors";
import type { Principal } from "../../runtime";
import type { ConversationItemRecord, ConversationRecord, ConversationStore } from "../../store/types";
import { parseBody } from "../../services/validate";
import { clientGone, readJson } from "../http";
import type { RestRoute } from "../router";
import type { NodeRequest, NodeResponse } from "../../server/one-port";
import { type InputItem, inputField, parseInputItems } from "./responses";
import { type History, itemResource, pageOf, queryOf, readableBy, refuseInclude, sendJsonText } from "./stored-responses";

/** Items one create or add may carry (OpenAI's bound). */
const MAX_ITEMS_PER_ADD = 20;

/** Metadata as OpenAI bounds it: 16 pairs, keys up to 64 characters, values up to 512. */
const metadataField = z
  .record(z.string().max(64, "keys must be at most 64 characters"), z.string().max(512, "values must be at most 512 characters"))
  .refine((m) => Object.keys(m).length <= 16, "at most 16 pairs");

const itemsField = inputField.transform((value, ctx): InputItem[] => {
  if (typeof value === "string" || value.length > MAX_ITEMS_PER_ADD) {
    ctx.addIssue({ code: "custom", message: `must be a list of at most ${MAX_ITEMS_PER_ADD} items` });
    return z.NEVER;
  }
  return value;
});

const createBody = z.strictObject({ metadata: metadataField.nullish(), items: itemsField.nullish() });
const updateBody = z.strictObject({ metadata: metadataField });
const addBody = z.strictObject({ items: itemsField.refine((items) => items.length > 0, "must not be empty") });

export interface ConversationsOptions {
  store: ConversationStore;
  /** false (store.responses.enabled): nothing is kept, every route and `conversation` refused. */
  enabled: boolean;
  /** The most one response reads of a conversation (store.responses.max_bytes), in characters of item JSON. */
  maxChars: number;
  maxBodyBytes: number;
  authenticate(header: string | undefined, signal: AbortSignal): Promise<Principal>;
  log?: Logger;
  now?: () => number;
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString("hex")}`;

function notFound(id: string): ConnectError {
  return new ConnectError(`No conversation with id ${JSON.stringify(clip(id, 80))} (never created, deleted, or not your team's)`, Code.NotFound);
}

function resource(c: ConversationRecord) {
  return { id: c.id, object: "conversation", created_at: Math.floor(c.createdAt.getTime() / 1000), metadata: JSON.parse(c.metadata) as unknown };
}

/** Items as a ConversationItemList (their JSON spliced in as stored: no parse and stringify again). */
function itemList(items: readonly ConversationItemRecord[], hasMore: boolean): string {
  const first = items[0]?.itemId;
  const last = items.at(-1)?.itemId;
  return `{"object":"list","data":[${items.map((i) => i.item).join(",")}],"first_id":${JSON.stringify(first ?? null)},"last_id":${JSON.stringify(last ?? null)},"has_more":${hasMore}}`;
}

export class Conversations {
  private readonly now: () => number;

  constructor(private readonly options: ConversationsOptions) {
    this.now = options.now ?? Date.now;
  }

  private checkEnabled(): void {
    if (!this.options.enabled) throw invalidArgument("conversation: this gateway stores no conversations (store.responses.enabled is false): send the whole conversation in input instead");
  }

  /** The caller's conversation, or NOT_FOUND. */
  private async find(req: NodeRequest, res: NodeResponse, id: string): Promise<{ conversation: ConversationRecord; who: Principal }> {
    this.checkEnabled();
    const who = await this.options.authenticate(req.headers.authorization, clientGone(res));
    const conversation = id.length <= 512 ? await this.options.store.get(id) : undefined;
    if (!conversation || !readableBy(conversation, who)) throw notFound(id);
    return { conversation, who };
  }

  /** Item resources with ids for the items (new ids for those sent without one). */
  private records(items: readonly InputItem[]): ConversationItemRecord[] {
    return items.map((item) => {
      const r = itemResource(item, newId);
      return { itemId: r.id, item: JSON.stringify(r) };
    });
  }

  /**
   * The conversation a response continues (its items, before the request's input), for the
   * caller whose Authorization header this is; refused by name when it cannot be used.
   */
  async history(header: string | undefined, id: string, signal: AbortSignal): Promise<History> {
    this.checkEnabled();
    const who = await this.options.authenticate(header, signal);
    const conversation = id.length <= 512 ? await this.options.store.get(id) : undefined;
    if (!conversation || !readableBy(conversation, who)) throw invalidArgument(`conversation: ${notFound(id).rawMessage}`);
    let records: ConversationItemRecord[] | undefined;
    try {
      records = await this.options.store.allItems(id, this.options.maxChars);
    } catch (err) {
      if (ConnectError.from(err).code !== Code.FailedPrecondition) throw err;
      throw invalidArgument(`conversation: ${id} holds more than store.responses.max_bytes (${this.options.maxChars}) of items: start a new one, or delete items from it`);
    }
    // Deleted between the two reads: as if it never was.
    if (records === undefined) throw invalidArgument(`conversation: ${notFound(id).rawMessage}`);
    const text = `[${records.map((r) => r.item).join(",")}]`;
    const items = parseInputItems(JSON.parse(text));
    if (items === undefined) throw new ConnectError(`conversation: the items of ${clip(id, 80)} cannot be read back`, Code.DataLoss);
    return { items, text };
  }

  /** Adds a response's input and output items to the conversation it continued (the call fails if it cannot). */
  async extend(id: string, input: readonly unknown[], output: readonly unknown[]): Promise<void> {
    const records = [...input, ...output].map((item) => ({ itemId: (item as { id: string }).id, item: JSON.stringify(item) }));
    let added: boolean;
    try {
      added = await this.options.store.append(id, records);
    } catch (err) {
      const e = ConnectError.from(err);
      throw new ConnectError(`conversation: the answer could not be added to ${clip(id, 80)} (${e.rawMessage})`, e.code === Code.Unknown || e.code === Code.Internal ? Code.Unavailable : e.code);
    }
    if (!added) throw new ConnectError(`conversation: ${clip(id, 80)} was deleted while the answer was made, so it was not added`, Code.Aborted);
  }

  routes(): RestRoute[] {
    const body = async (req: NodeRequest) => readJson(req, this.options.maxBodyBytes);
    const conversationId = (params: Record<string, string>) => params["conversation_id"] ?? "";
    return [
      {
        method: "POST",
        path: "/v1/conversations",
        handler: async (req, res) => {
          this.checkEnabled();
          const parsed = parseBody(createBody, await body(req));
          const who = await this.options.authenticate(req.headers.authorization, clientGone(res));
          const conversation: ConversationRecord = {
            id: newId("conv"),
            keyId: who.keyId,
            team: who.team,
            createdAt: new Date(this.now()),
            metadata: JSON.stringify(parsed.metadata ?? {}),
          };
          await this.options.store.create(conversation, this.records(parsed.items ?? []));
          sendJsonText(res, JSON.stringify(resource(conversation)));
        },
      },
      {
        method: "GET",
        path: "/v1/conversations/{conversation_id}",
        handler: async (req, res, params) => {
          const { conversation } = await this.find(req, res, conversationId(params));
          sendJsonText(res, JSON.stringify(resource(conversation)));
        },
      },
      {
        method: "POST",
        path: "/v1/conversations/{conversation_id}",
        handler: async (req, res, params) => {
          const parsed = parseBody(updateBody, await body(req));
          const { conversation } = await this.find(req, res, conversationId(params));
          const metadata = JSON.stringify(parsed.metadata);
          if (!(await this.options.store.setMetadata(conversation.id, metadata))) throw notFound(conversation.id);
          sendJsonText(res, JSON.stringify(resource({ ...conversation, metadata })));
        },
      },
      {
        method: "DELETE",
        path: "/v1/conversations/{conversation_id}",
        handler: async (req, res, params) => {
          const { conversation, who } = await this.find(req, res, conversationId(params));
          await this.options.store.delete(conversation.id);
          this.options.log?.info({ conversationId: conversation.id, keyId: who.keyId, team: who.team, owner: { keyId: conversation.keyId, team: conversation.team } }, "conversation deleted");
          sendJsonText(res, JSON.stringify({ id: conversation.id, object: "conversation.deleted", deleted: true }));
        },
      },
      {
        method: "POST",
        path: "/v1/conversations/{conversation_id}/items",
        handler: async (req, res, params) => {
          refuseInclude(queryOf(req));
          const parsed = parseBody(addBody, await body(req));
          const { conversation } = await this.find(req, res, conversationId(params));
          const records = this.records(parsed.items);
          if (!(await this.options.store.append(conversation.id, records))) throw notFound(conversation.id);
          sendJsonText(res, itemList(records, false));
        },
      },
      {
        method: "GET",
        path: "/v1/conversations/{conversation_id}/items",
        handler: async (req, res, params) => {
          const query = queryOf(req);
          refuseInclude(query);
          const page = pageOf(query);
          const { conversation } = await this.find(req, res, conversationId(params));
          const got = await this.options.store.items(conversation.id, page);
          if (!got) throw notFound(conversation.id);
          if (page.after !== undefined && got.items.length === 0 && !(await this.options.store.getItem(conversation.id, page.after))) {
            throw invalidArgument(`after: no item ${JSON.stringify(clip(page.after, 80))} in this conversation`);
          }
          sendJsonText(res, itemList(got.items, got.hasMore));
        },
      },
      {
        method: "GET",
        path: "/v1/conversations/{conversation_id}/items/{item_id}",
        handler: async (req, res, params) => {
          refuseInclude(queryOf(req));
          const { conversation } = await this.find(req, res, conversationId(params));
          const itemId = params["item_id"] ?? "";
          const item = await this.options.store.getItem(conversation.id, itemId);
          if (!item) throw new ConnectError(`No item ${JSON.stringify(clip(itemId, 80))} in conversation ${conversation.id}`, Code.NotFound);
          sendJsonText(res, item.item);
        },
      },
      {
        method: "DELETE",
        path: "/v1/conversations/{conversation_id}/items/{item_id}",
        handler: async (req, res, params) => {
          const { conversation } = await this.find(req, res, conversationId(params));
          const itemId = params["item_id"] ?? "";
          if (!(await this.options.store.deleteItem(conversation.id, itemId))) {
            throw new ConnectError(`No item ${JSON.stringify(clip(itemId, 80))} in conversation ${conversation.id}`, Code.NotFound);
          }
          sendJsonText(res, JSON.stringify(resource(conversation)));
        },
      },
    ];
  }
}
