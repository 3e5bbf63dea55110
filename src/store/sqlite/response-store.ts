// Stored responses (Responses API) in SQLite, beside the ledger (same database). Writes go through
// SqliteWrites (writes.ts: the write worker for a file, so no commit's fsync runs on the event
// loop); a get goes through SqliteReads (reads.ts: the read worker for a file, so a multi-MB row
// is not read on the event loop), ahead of queued usage reports (a call waits on it).
//
// Group commit: every answer with `store: true` is one put, and each write transaction costs a
// commit (an fsync, synchronous = FULL). So this store hands SqliteWrites one batch at a time;
// puts that arrive while one is being written wait together and go in the next batch (one
// transaction, one commit), up to a bound in rows and in characters of text (the limits). Each
// caller's promise settles with its own batch's outcome: a batch that fails fails all of its
// callers (nothing is lost silently), except that a batch SQLite refuses for a row's content is
// written again caller by caller, so one bad put does not fail the others with it. Deletes and
// purges go through the same queue, in order behind the puts before them (a delete right after a
// put of the same id is not overtaken by it); a purge is its own batch (its count is its own).
// A bounded amount of text waits (a disk that stalls must not pile up answers in memory);
// a put past it fails with UNAVAILABLE.
import type { SQLInputValue } from "node:sqlite";
import { Code, ConnectError, unavailable } from "../../errors";
import { checkPurgeLimit, checkStoredResponse, isStorableIdentifier } from "../response-shared";
import { checkDate } from "../sql-shared";
import type { ResponseStore, StoredResponse } from "../types";
import { num, text, type SqliteRow } from "./columns";
import { isContentError } from "./errors";
import type { SqliteReads } from "./reads";
import type { SqliteWrites, WriteRow, WriteStatement } from "./writes";

export const responseWriteSql = {
  responsePut: `
    INSERT OR REPLACE INTO responses (id, key_id, team, endpoint, created_at, expires_at, response, items, input_count)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  responseDelete: `DELETE FROM responses WHERE id = ?`,
  // The CAST keeps the limit an integer (node:sqlite binds a JS number as REAL).
  responsePurge: `DELETE FROM responses WHERE id IN (SELECT id FROM responses WHERE expires_at <= ? LIMIT CAST(? AS INTEGER))`,
  responseDeleteByKey: `DELETE FROM responses WHERE key_id = ?`,
  responseDeleteByTeam: `DELETE FROM responses WHERE team = ?`,
} as const satisfies Partial<Record<WriteStatement, string>>;

const getSql = `
  SELECT id, key_id, team, endpoint, created_at, expires_at, response, items, input_count
  FROM responses WHERE id = ? AND expires_at > ?`;

export interface ResponseQueueLimits {
  /** Rows one coalesced batch takes at most (a single put of more goes alone). */
  batchRows: number;
  /** Characters of response and items text one coalesced batch takes at most (a single bigger put goes alone). */
  batchChars: number;
  /** Characters of text waiting behind the batch being written, at most (a put alone may be bigger). */
  queuedChars: number;
}

export const RESPONSE_QUEUE_LIMITS: ResponseQueueLimits = {
  batchRows: 256,
  batchChars: 32 * 1024 * 1024,
  queuedChars: 256 * 1024 * 1024,
};

interface Caller {
  rows: readonly WriteRow[];
  resolve(changes: number): void;
  reject(err: unknown): void;
}

interface Batch {
  statement: WriteStatement;
  /** Later calls of the same statement may join it (puts, deletes; not a purge). */
  joinable: boolean;
  callers: Caller[];
  rows: number;
  chars: number;
}

export class SqliteResponseStore implements ResponseStore {
  /** Batches waiting behind the one being written, in order. */
  private readonly queue: Batch[] = [];
  private writing = false;
  /** Characters of text in `queue`. */
  private queuedChars = 0;

  constructor(
    private readonly reads: SqliteReads,
    private readonly writes: SqliteWrites,
    private readonly limits: ResponseQueueLimits = RESPONSE_QUEUE_LIMITS,
  ) {}

  async put(rows: readonly StoredResponse[]): Promise<void> {
    rows.forEach(checkStoredResponse);
    if (rows.length === 0) return;
    let chars = 0;
    const values = rows.map((r) => {
      chars += r.response.length + r.items.length;
      return [r.id, r.keyId, r.team, r.endpoint, r.createdAt.getTime(), r.expiresAt.getTime(), r.response, r.items, r.inputCount];
    });
    await this.enqueue("responsePut", values, chars, true);
  }

  async get(id: string, now: Date): Promise<StoredResponse | undefined> {
    checkDate(now, "responses: now");
    if (!isStorableIdentifier(id)) return undefined;
    const [row] = await this.reads.all(getSql, [id, now.getTime()], { urgent: true });
    return row === undefined ? undefined : storedResponse(row);
  }

  async delete(id: string): Promise<void> {
    if (!isStorableIdentifier(id)) return;
    await this.enqueue("responseDelete", [[id]], 0, true);
  }

  async purgeExpired(now: Date, limit: number): Promise<number> {
    checkDate(now, "responses: now");
    const params: SQLInputValue[] = [now.getTime(), checkPurgeLimit(limit)];
    return this.enqueue("responsePurge", [params], 0, false);
  }

  async deleteOwned(owner: { keyId: string } | { team: string }): Promise<number> {
    const [statement, value] = "keyId" in owner ? (["responseDeleteByKey", owner.keyId] as const) : (["responseDeleteByTeam", owner.team] as const);
    // An owner no row can have (see response-shared.ts) owns nothing.
    if (!isStorableIdentifier(value)) return 0;
    return this.enqueue(statement, [[value]], 0, false);
  }

  /** Queues the rows (joining the last waiting batch when it may and has room); settles with their batch. */
  private enqueue(statement: WriteStatement, rows: readonly WriteRow[], chars: number, joinable: boolean): Promise<number> {
    if (this.queue.length > 0 && this.queuedChars + chars > this.limits.queuedChars) {
      return Promise.reject(unavailable(`responses: ${this.queuedChars} characters of responses are waiting to be written (the store is slow); try again later`));
    }
    this.queuedChars += chars;
    return new Promise<number>((resolve, reject) => {
      const caller: Caller = { rows, resolve, reject };
      const last = this.queue.at(-1);
      if (
        joinable &&
        last !== undefined &&
        last.joinable &&
        last.statement === statement &&
        last.rows + rows.length <= this.limits.batchRows &&
        last.chars + chars <= this.limits.batchChars
      ) {
        last.callers.push(caller);
        last.rows += rows.length;
        last.chars += chars;
      } else {
        this.queue.push({ statement, joinable, callers: [caller], rows: rows.length, chars });
      }
      if (!this.writing) void this.drain();
    });
  }

  /** Writes the queued batches one at a time, until none is left. */
  private async drain(): Promise<void> {
    this.writing = true;
    try {
      for (let batch = this.queue.shift(); batch !== undefined; batch = this.queue.shift()) {
        this.queuedChars -= batch.chars;
        await this.writeBatch(batch);
      }
    } finally {
      this.writing = false;
    }
  }

  /** One transaction for the batch; settles each of its callers. Never throws. */
  private async writeBatch(batch: Batch): Promise<void> {
    const { statement, callers } = batch;
    const rows = callers.length === 1 ? callers[0]!.rows : callers.flatMap((c) => c.rows);
    let changes: number;
    try {
      changes = await this.writes.write(statement, rows);
    } catch (err) {
      if (callers.length > 1 && isContentError(err)) {
        // Some caller's rows were refused for what they hold: each caller's alone, so the others land.
        for (const caller of callers) await this.writeBatch({ ...batch, callers: [caller], rows: caller.rows.length });
        return;
      }
      const failure = isContentError(err) ? refused(err) : err;
      for (const caller of callers) caller.reject(failure);
      return;
    }
    for (const caller of callers) caller.resolve(changes);
  }
}

function storedResponse(row: SqliteRow): StoredResponse {
  return {
    id: text(row, "id"),
    keyId: text(row, "key_id"),
    team: text(row, "team"),
    endpoint: text(row, "endpoint"),
    createdAt: new Date(num(row, "created_at")),
    expiresAt: new Date(num(row, "expires_at")),
    response: text(row, "response"),
    items: text(row, "items"),
    inputCount: num(row, "input_count"),
  };
}

function refused(err: unknown): ConnectError {
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectError(`sqlite store refused the stored responses: ${message}`, Code.InvalidArgument, undefined, undefined, err);
}
