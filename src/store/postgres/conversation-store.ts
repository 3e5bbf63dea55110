// Conversations (Conversations API, the Responses API's `conversation`) in PostgreSQL, shared by
// every replica. metadata and items are kept as their UTF-8 bytes (bytea, see migration 8), as
// stored responses are: PostgreSQL text cannot hold a NUL. Items are numbered 1, 2, ... within
// their conversation (seq); an append locks its conversation's row (SELECT … FOR UPDATE) before
// reading the last seq, so appends from several replicas at once take turns and never number two
// items alike. Deleting a conversation deletes its items (ON DELETE CASCADE).
import type { Pool, PoolClient } from "pg";
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
import { isUniqueViolation, rethrowAppendError, rethrowDatabaseError } from "./errors";
import { inTransaction } from "./transaction";

/** Items per INSERT (5 parameters each): few, as an item may be megabytes. */
const INSERT_CHUNK_ROWS = 100;

interface ConversationDbRow {
  id: string;
  key_id: string;
  team: string;
  created_at: Date;
  metadata: Buffer;
}

interface ItemDbRow {
  item_id: string | null;
  item: Buffer | null;
}

const pageSqls = conversationPageSqls("$");
const allItemsSql = allConversationItemsSql("$");

export class PostgresConversationStore implements ConversationStore {
  constructor(private readonly pool: Pool) {}

  async create(conversation: ConversationRecord, items: readonly ConversationItemRecord[]): Promise<void> {
    checkNewConversation(conversation, items);
    const { id } = conversation;
    await inTransaction(
      this.pool,
      async (client) => {
        await client.query("INSERT INTO conversations (id, key_id, team, created_at, metadata) VALUES ($1, $2, $3, $4, $5)", [
          id,
          conversation.keyId,
          conversation.team,
          conversation.createdAt,
          Buffer.from(conversation.metadata, "utf8"),
        ]);
        await insertItems(client, id, 0, items);
      },
      (err) => rethrowConflict(err, `conversation ${id} already exists`),
    );
  }

  async get(id: string): Promise<ConversationRecord | undefined> {
    if (!isStorableIdentifier(id)) return undefined;
    const result = await this.pool
      .query<ConversationDbRow>("SELECT id, key_id, team, created_at, metadata FROM conversations WHERE id = $1", [id])
      .catch(rethrowDatabaseError);
    const row = result.rows[0];
    if (row === undefined) return undefined;
    return { id: row.id, keyId: row.key_id, team: row.team, createdAt: row.created_at, metadata: row.metadata.toString("utf8") };
  }

  async setMetadata(id: string, metadata: string): Promise<boolean> {
    checkMetadata(metadata);
    if (!isStorableIdentifier(id)) return false;
    const result = await this.pool
      .query("UPDATE conversations SET metadata = $1 WHERE id = $2", [Buffer.from(metadata, "utf8"), id])
      .catch(rethrowDatabaseError);
    return (result.rowCount ?? 0) > 0;
  }

  async delete(id: string): Promise<boolean> {
    if (!isStorableIdentifier(id)) return false;
    const result = await this.pool.query("DELETE FROM conversations WHERE id = $1", [id]).catch(rethrowDatabaseError);
    return (result.rowCount ?? 0) > 0;
  }

  async append(id: string, items: readonly ConversationItemRecord[]): Promise<boolean> {
    checkItems(items);
    if (!isStorableIdentifier(id)) return false;
    return inTransaction(
      this.pool,
      async (client) => {
        // The lock first, then the last seq in a statement of its own: under READ COMMITTED it
        // sees the items of the append that held the lock before (one statement would not).
        const locked = await client.query("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", [id]);
        if (locked.rowCount === 0) return false;
        const last = await client.query<{ last: string }>(
          "SELECT COALESCE(MAX(seq), 0)::text AS last FROM conversation_items WHERE conversation_id = $1",
          [id],
        );
        await insertItems(client, id, Number(last.rows[0]?.last ?? 0), items);
        return true;
      },
      (err) => rethrowConflict(err, `conversation ${id}: an item id is already in the conversation (or given twice)`),
    );
  }

  async items(id: string, page: ConversationPageQuery): Promise<ConversationItemPage | undefined> {
    checkPageQuery(page);
    if (!isStorableIdentifier(id)) return undefined;
    if (page.after !== undefined && !isStorableIdentifier(page.after)) {
      // No item could have that id: an empty page, if the conversation is there.
      return (await this.get(id)) === undefined ? undefined : { items: [], hasMore: false };
    }
    const result = await this.pool.query<ItemDbRow>(...conversationPageStatement(pageSqls, id, page)).catch(rethrowDatabaseError);
    if (result.rows.length === 0) return undefined;
    return conversationPage(itemRecords(result.rows), page.limit);
  }

  async allItems(id: string, maxChars: number): Promise<ConversationItemRecord[] | undefined> {
    checkMaxChars(maxChars);
    if (!isStorableIdentifier(id)) return undefined;
    // total: SUM of a bigint is numeric, which node-postgres hands over as a string.
    const result = await this.pool.query<ItemDbRow & { total: string }>(allItemsSql, [id, maxChars]).catch(rethrowDatabaseError);
    const [first] = result.rows;
    if (first === undefined) return undefined;
    const total = Number(first.total);
    if (total > maxChars) throw conversationTooLarge(id, total, maxChars);
    return itemRecords(result.rows);
  }

  async getItem(id: string, itemId: string): Promise<ConversationItemRecord | undefined> {
    if (!isStorableIdentifier(id) || !isStorableIdentifier(itemId)) return undefined;
    const result = await this.pool
      .query<ItemDbRow>("SELECT item_id, item FROM conversation_items WHERE conversation_id = $1 AND item_id = $2", [id, itemId])
      .catch(rethrowDatabaseError);
    return itemRecords(result.rows)[0];
  }

  async deleteItem(id: string, itemId: string): Promise<boolean> {
    if (!isStorableIdentifier(id) || !isStorableIdentifier(itemId)) return false;
    const result = await this.pool
      .query("DELETE FROM conversation_items WHERE conversation_id = $1 AND item_id = $2", [id, itemId])
      .catch(rethrowDatabaseError);
    return (result.rowCount ?? 0) > 0;
  }

  async deleteOwned(owner: { keyId: string } | { team: string }): Promise<number> {
    const [column, value] = "keyId" in owner ? ["key_id", owner.keyId] : ["team", owner.team];
    if (!isStorableIdentifier(value)) return 0;
    const result = await this.pool.query(`DELETE FROM conversations WHERE ${column} = $1`, [value]).catch(rethrowDatabaseError);
    return result.rowCount ?? 0;
  }
}

/** Inserts the items numbered after `last`, in chunks (inside the caller's transaction). */
async function insertItems(client: PoolClient, id: string, last: number, items: readonly ConversationItemRecord[]): Promise<void> {
  for (let start = 0; start < items.length; start += INSERT_CHUNK_ROWS) {
    const params: unknown[] = [];
    const values = items.slice(start, start + INSERT_CHUNK_ROWS).map((item, i) => {
      const at = params.length;
      params.push(id, last + start + i + 1, item.itemId, item.item.length, Buffer.from(item.item, "utf8"));
      return `($${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}, $${at + 5})`;
    });
    await client.query(`INSERT INTO conversation_items (conversation_id, seq, item_id, chars, item) VALUES ${values.join(", ")}`, params);
  }
}

function itemRecords(rows: readonly ItemDbRow[]): ConversationItemRecord[] {
  const items: ConversationItemRecord[] = [];
  for (const row of rows) {
    if (row.item_id !== null && row.item !== null) items.push({ itemId: row.item_id, item: row.item.toString("utf8") });
  }
  return items;
}

/** A taken id as ALREADY_EXISTS (`conflict` says which); the rest as rethrowAppendError does. */
function rethrowConflict(err: unknown, conflict: string): never {
  if (isUniqueViolation(err)) throw conversationConflict(conflict, err);
  rethrowAppendError(err);
}
