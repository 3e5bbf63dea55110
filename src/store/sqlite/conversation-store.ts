// Conversations (Conversations API, the Responses API's `conversation`) in SQLite, beside the
// ledger (same database). Every write goes through SqliteWrites (writes.ts: the write worker for
// a file, so no commit's fsync runs on the event loop), those of more than one statement as the
// steps of one transaction: a conversation and its first items, items then their conversation.
// Reads go through SqliteReads (reads.ts: the read worker for a file, so a multi-MB item is not
// read on the event loop), ahead of queued usage reports (a call waits on them).
//
// Items are numbered 1, 2, ... within their conversation (seq): an append numbers each row after
// the conversation's last, inside its INSERT, and the write worker (one transaction at a time,
// BEGIN IMMEDIATE across processes) makes appends to one conversation take turns. An item row is
// inserted only while its conversation exists, so an append to a missing one changes nothing.
import { Code, ConnectError } from "../../errors";
import {
  allConversationItemsSql,
  checkItems,
  checkMaxChars,
  checkMetadata,
  checkNewConversation,
  checkPageQuery,
  conversationConflict,
  conversationPage,
  conversationPageSqls,
  conversationPageStatement,
  conversationTooLarge,
  isStorableIdentifier,
  type ConversationPageQuery,
} from "../conversation-shared";
import type { ConversationItemPage, ConversationItemRecord, ConversationRecord, ConversationStore } from "../types";
import { num, text, type SqliteRow } from "./columns";
import { isContentError, isUniqueViolation } from "./errors";
import type { SqliteReads } from "./reads";
import type { SqliteWrites, WriteRow, WriteStatement } from "./writes";

export const conversationWriteSql = {
  conversationInsert: `INSERT INTO conversations (id, key_id, team, created_at, metadata) VALUES (?, ?, ?, ?, ?)`,
  conversationMetadata: `UPDATE conversations SET metadata = ? WHERE id = ?`,
  conversationDelete: `DELETE FROM conversations WHERE id = ?`,
  conversationItemsDelete: `DELETE FROM conversation_items WHERE conversation_id = ?`,
  // Parameters: conversation id, item id, chars, item, conversation id again.
  conversationItemAppend: `
    INSERT INTO conversation_items (conversation_id, seq, item_id, chars, item)
    SELECT c.id, COALESCE((SELECT MAX(seq) FROM conversation_items WHERE conversation_id = ?), 0) + 1, ?, ?, ?
    FROM conversations c WHERE c.id = ?`,
  conversationItemDelete: `DELETE FROM conversation_items WHERE conversation_id = ? AND item_id = ?`,
  conversationOwnedByKeyItemsDelete: `DELETE FROM conversation_items WHERE conversation_id IN (SELECT id FROM conversations WHERE key_id = ?)`,
  conversationOwnedByKeyDelete: `DELETE FROM conversations WHERE key_id = ?`,
  conversationOwnedByTeamItemsDelete: `DELETE FROM conversation_items WHERE conversation_id IN (SELECT id FROM conversations WHERE team = ?)`,
  conversationOwnedByTeamDelete: `DELETE FROM conversations WHERE team = ?`,
} as const satisfies Partial<Record<WriteStatement, string>>;

const getSql = `SELECT id, key_id, team, created_at, metadata FROM conversations WHERE id = ?`;

const getItemSql = `SELECT item_id, item FROM conversation_items WHERE conversation_id = ? AND item_id = ?`;

const pageSqls = conversationPageSqls("?");
const allItemsSql = allConversationItemsSql("?");

export class SqliteConversationStore implements ConversationStore {
  constructor(
    private readonly reads: SqliteReads,
    private readonly writes: SqliteWrites,
  ) {}

  async create(conversation: ConversationRecord, items: readonly ConversationItemRecord[]): Promise<void> {
    checkNewConversation(conversation, items);
    const { id } = conversation;
    try {
      await this.writes.writeSteps([
        { statement: "conversationInsert", rows: [[id, conversation.keyId, conversation.team, conversation.createdAt.getTime(), conversation.metadata]] },
        { statement: "conversationItemAppend", rows: appendRows(id, items) },
      ]);
    } catch (err) {
      throw refused(err, `conversation ${id} already exists`);
    }
  }

  async get(id: string): Promise<ConversationRecord | undefined> {
    if (!isStorableIdentifier(id)) return undefined;
    const [row] = await this.reads.all(getSql, [id], { urgent: true });
    return row === undefined ? undefined : conversationRecord(row);
  }

  async setMetadata(id: string, metadata: string): Promise<boolean> {
    checkMetadata(metadata);
    if (!isStorableIdentifier(id)) return false;
    return (await this.writes.write("conversationMetadata", [[metadata, id]])) > 0;
  }

  async delete(id: string): Promise<boolean> {
    if (!isStorableIdentifier(id)) return false;
    const [, conversations] = await this.writes.writeSteps([
      { statement: "conversationItemsDelete", rows: [[id]] },
      { statement: "conversationDelete", rows: [[id]] },
    ]);
    return (conversations ?? 0) > 0;
  }

  async append(id: string, items: readonly ConversationItemRecord[]): Promise<boolean> {
    checkItems(items);
    if (!isStorableIdentifier(id)) return false;
    if (items.length === 0) return (await this.get(id)) !== undefined;
    let changes: number;
    try {
      changes = await this.writes.write("conversationItemAppend", appendRows(id, items));
    } catch (err) {
      throw refused(err, `conversation ${id}: an item id is already in the conversation (or given twice)`);
    }
    // Each row is inserted only while the conversation exists: all of them, or none.
    return changes > 0;
  }

  async items(id: string, page: ConversationPageQuery): Promise<ConversationItemPage | undefined> {
    checkPageQuery(page);
    if (!isStorableIdentifier(id)) return undefined;
    if (page.after !== undefined && !isStorableIdentifier(page.after)) {
      // No item could have that id: an empty page, if the conversation is there.
      return (await this.get(id)) === undefined ? undefined : { items: [], hasMore: false };
    }
    const rows = await this.reads.all(...conversationPageStatement(pageSqls, id, page), { urgent: true });
    if (rows.length === 0) return undefined;
    return conversationPage(rows.filter((row) => row["item_id"] !== null).map(itemRecord), page.limit);
  }

  async allItems(id: string, maxChars: number): Promise<ConversationItemRecord[] | undefined> {
    checkMaxChars(maxChars);
    if (!isStorableIdentifier(id)) return undefined;
    const rows = await this.reads.all(allItemsSql, [id, maxChars], { urgent: true });
    const [first] = rows;
    if (first === undefined) return undefined;
    const total = num(first, "total");
    if (total > maxChars) throw conversationTooLarge(id, total, maxChars);
    return rows.filter((row) => row["item_id"] !== null).map(itemRecord);
  }

  async getItem(id: string, itemId: string): Promise<ConversationItemRecord | undefined> {
    if (!isStorableIdentifier(id) || !isStorableIdentifier(itemId)) return undefined;
    const [row] = await this.reads.all(getItemSql, [id, itemId], { urgent: true });
    return row === undefined ? undefined : itemRecord(row);
  }

  async deleteItem(id: string, itemId: string): Promise<boolean> {
    if (!isStorableIdentifier(id) || !isStorableIdentifier(itemId)) return false;
    return (await this.writes.write("conversationItemDelete", [[id, itemId]])) > 0;
  }

  async deleteOwned(owner: { keyId: string } | { team: string }): Promise<number> {
    const [value, items, conversations]: [string, WriteStatement, WriteStatement] =
      "keyId" in owner
        ? [owner.keyId, "conversationOwnedByKeyItemsDelete", "conversationOwnedByKeyDelete"]
        : [owner.team, "conversationOwnedByTeamItemsDelete", "conversationOwnedByTeamDelete"];
    if (!isStorableIdentifier(value)) return 0;
    const [, removed] = await this.writes.writeSteps([
      { statement: items, rows: [[value]] },
      { statement: conversations, rows: [[value]] },
    ]);
    return removed ?? 0;
  }
}

function appendRows(id: string, items: readonly ConversationItemRecord[]): WriteRow[] {
  return items.map((item) => [id, item.itemId, item.item.length, item.item, id]);
}

function conversationRecord(row: SqliteRow): ConversationRecord {
  return {
    id: text(row, "id"),
    keyId: text(row, "key_id"),
    team: text(row, "team"),
    createdAt: new Date(num(row, "created_at")),
    metadata: text(row, "metadata"),
  };
}

function itemRecord(row: SqliteRow): ConversationItemRecord {
  return { itemId: text(row, "item_id"), item: text(row, "item") };
}

/** A taken id as ALREADY_EXISTS (`conflict` says which), other content SQLite refused as INVALID_ARGUMENT. */
function refused(err: unknown, conflict: string): unknown {
  if (isUniqueViolation(err)) return conversationConflict(conflict, err);
  if (!isContentError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectError(`sqlite store refused the conversation: ${message}`, Code.InvalidArgument, undefined, undefined, err);
}
