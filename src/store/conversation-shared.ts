// What the SQL backends share for conversations (ConversationStore): the checks a conversation,
// its items and a page request pass, with the identifier and text rules of stored responses
// (response-shared.ts): an id, key id, team or item id that could not be stored faithfully is
// refused with INVALID_ARGUMENT on a write and is simply not found on a read or a delete;
// metadata and items may be any well-formed text, NUL included.
import { Code, ConnectError, invalidArgument } from "../errors";
import { checkStorableTime, identifierProblem, textProblem } from "./response-shared";
import type { ConversationItemPage, ConversationItemRecord, ConversationRecord } from "./types";

/** The most items one page holds. */
export const MAX_CONVERSATION_PAGE = 1000;

export interface ConversationPageQuery {
  order: "asc" | "desc";
  after?: string;
  limit: number;
}

/** Refuses a conversation, or its first items, that could not be stored as they are, or items sharing an id. */
export function checkNewConversation(conversation: ConversationRecord, items: readonly ConversationItemRecord[]): void {
  for (const field of ["id", "keyId", "team"] as const) {
    const problem = identifierProblem(conversation[field]);
    if (problem !== undefined) throw invalidArgument(`conversation: ${field} ${problem}`);
  }
  checkStorableTime(conversation.createdAt, "conversation: createdAt");
  checkMetadata(conversation.metadata);
  checkItems(items);
  const ids = new Set<string>();
  for (const [index, item] of items.entries()) {
    if (ids.has(item.itemId)) throw invalidArgument(`conversation item ${index}: itemId ${item.itemId.slice(0, 128)} is given twice`);
    ids.add(item.itemId);
  }
}

export function checkMetadata(metadata: string): void {
  const problem = textProblem(metadata);
  if (problem !== undefined) throw invalidArgument(`conversation: metadata ${problem}`);
}

/** Refuses items that could not be stored as they are (a repeated id is the store's to judge). */
export function checkItems(items: readonly ConversationItemRecord[]): void {
  for (const [index, item] of items.entries()) {
    const idProblem = identifierProblem(item.itemId);
    if (idProblem !== undefined) throw invalidArgument(`conversation item ${index}: itemId ${idProblem}`);
    const textProblemFound = textProblem(item.item);
    if (textProblemFound !== undefined) throw invalidArgument(`conversation item ${index}: item ${textProblemFound}`);
  }
}

/** Whether a conversation, key, team or item could have been stored under `value`: when not, reads find nothing. */
export function isStorableIdentifier(value: string): boolean {
  return identifierProblem(value) === undefined;
}

/** Refuses a page request outside the contract: order asc or desc, limit 1 to 1000, after a string. */
export function checkPageQuery(page: ConversationPageQuery): void {
  if (page.order !== "asc" && page.order !== "desc") throw invalidArgument('conversation items: order must be "asc" or "desc"');
  if (!Number.isSafeInteger(page.limit) || page.limit < 1 || page.limit > MAX_CONVERSATION_PAGE) {
    throw invalidArgument(`conversation items: limit must be an integer from 1 to ${MAX_CONVERSATION_PAGE}`);
  }
  if (page.after !== undefined && typeof page.after !== "string") throw invalidArgument("conversation items: after must be a string");
}

/** Refuses a maxChars that is not a non-negative integer. */
export function checkMaxChars(maxChars: number): number {
  if (!Number.isSafeInteger(maxChars) || maxChars < 0) throw invalidArgument("conversation items: maxChars must be a non-negative integer");
  return maxChars;
}

/** allItems' refusal of a conversation whose items' text passes maxChars. */
export function conversationTooLarge(id: string, chars: number, maxChars: number): ConnectError {
  return new ConnectError(
    `conversation ${id.slice(0, 128)}: its items hold ${chars} characters, more than the ${maxChars} allowed`,
    Code.FailedPrecondition,
  );
}

/** A duplicate conversation id, or an item id already in the conversation. */
export function conversationConflict(what: string, cause: unknown): ConnectError {
  return new ConnectError(what, Code.AlreadyExists, undefined, undefined, cause);
}

/**
 * A page's SQL, the same for both backends but for how a parameter is written (`mark`: "?" for
 * SQLite, "$" for PostgreSQL), in one statement (one snapshot): no row when the conversation is
 * missing, one row of NULLs when it has no item (after the cursor), else up to `limit` items in
 * order. Parameters: 1 the conversation id, 2 the limit, [3 the item after which to start].
 */
export function conversationPageSql(order: "asc" | "desc", after: boolean, mark: "?" | "$"): string {
  const [direction, comparison] = order === "asc" ? ["ASC", ">"] : ["DESC", "<"];
  const cursor = after ? `AND i.seq ${comparison} (SELECT seq FROM conversation_items WHERE conversation_id = c.id AND item_id = ${mark}3)` : "";
  // The CAST keeps the limit an integer (node:sqlite binds a JS number as REAL).
  return `
    SELECT i.item_id, i.item FROM conversations c
    LEFT JOIN conversation_items i ON i.conversation_id = c.id ${cursor}
    WHERE c.id = ${mark}1
    ORDER BY i.seq ${direction} LIMIT CAST(${mark}2 AS INTEGER)`;
}

/** conversationPageSql for each order, from the start and after an item. */
export function conversationPageSqls(mark: "?" | "$"): Record<"asc" | "desc", { from: string; after: string }> {
  return {
    asc: { from: conversationPageSql("asc", false, mark), after: conversationPageSql("asc", true, mark) },
    desc: { from: conversationPageSql("desc", false, mark), after: conversationPageSql("desc", true, mark) },
  };
}

/** A page query's SQL (of conversationPageSqls) and parameters: one more item than the limit, to tell hasMore. */
export function conversationPageStatement(sqls: ReturnType<typeof conversationPageSqls>, id: string, page: ConversationPageQuery): [string, (string | number)[]] {
  const { from, after } = sqls[page.order];
  return page.after === undefined ? [from, [id, page.limit + 1]] : [after, [id, page.limit + 1, page.after]];
}

/** The page from the items a page statement found (up to limit + 1). */
export function conversationPage(items: ConversationItemRecord[], limit: number): ConversationItemPage {
  return { items: items.slice(0, limit), hasMore: items.length > limit };
}

/**
 * Every item, oldest first, in one statement (one snapshot): no row when the conversation is
 * missing; else the items' total length first (summed from chars, not reading the items' text),
 * and the items only when it is within the bound (one row of NULL items when not, or when there
 * is none). Parameters: 1 the conversation id, 2 maxChars.
 */
export function allConversationItemsSql(mark: "?" | "$"): string {
  return `
    SELECT t.total, i.item_id, i.item FROM conversations c
    CROSS JOIN (SELECT COALESCE(SUM(chars), 0) AS total FROM conversation_items WHERE conversation_id = ${mark}1) t
    LEFT JOIN conversation_items i ON i.conversation_id = c.id AND t.total <= ${mark}2
    WHERE c.id = ${mark}1
    ORDER BY i.seq`;
}
