// Where the semantic cache keeps its (embedding, answer) pairs: a small VectorIndex interface
// with two backends.
//
// - MemoryVectorIndex: one replica. Brute-force cosine over unit-length Float32Arrays, per scope
//   (endpoint, models, the request's other fields: see semantic-cache.ts), bounded by entries and
//   bytes, oldest out first, entries expiring after their TTL. A lookup scans the scope's entries
//   only, on the event loop (handing it back every 2,048 entries): 10,000 entries of 1,536
//   dimensions are 15 M multiply-adds (figures in the README, from bench/semantic-index.ts), so
//   `max_entries` stops at 20,000: beyond, Chroma.
// - ChromaVectorIndex: many replicas. A Chroma server (`chroma run`, PyPI `chromadb`) over its
//   HTTP API v2, one cosine collection per vector size, the scope and expiry as metadata filtered
//   on in the query, the answer as the document (base64). Expired entries are swept at most once
//   a minute per replica; the store's size is bounded by the TTL (Chroma has no eviction).
//
// A backend that fails throws; the caller (semantic-cache.ts) answers a miss and logs it.

export interface VectorMatch {
  /** The best cosine similarity in the scope (-1..1), when the scope has any live entry. */
  similarity: number;
  /** The stored answer, when the best match reached the threshold. */
  entry?: Buffer;
}

export interface VectorIndex {
  /** The nearest live entry of the scope; its answer only when similarity ≥ minSimilarity. */
  query(scope: string, vector: Float32Array, minSimilarity: number): Promise<VectorMatch | undefined>;
  add(scope: string, vector: Float32Array, entry: Buffer, ttlMs: number): Promise<void>;
}

/** The vector scaled to unit length (cosine = dot product); undefined for a zero or non-finite one. */
export function unitVector(values: ArrayLike<number>): Float32Array | undefined {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
  if (!(sum > 0) || !Number.isFinite(sum)) return undefined;
  const norm = Math.sqrt(sum);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i]! / norm;
  return out;
}

/** a·b over four accumulators (about twice as fast as one: the additions do not wait on each other). */
function dot(a: Float32Array, b: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = a.length;
  const m = n - (n % 4);
  let i = 0;
  for (; i < m; i += 4) {
    s0 += a[i]! * b[i]!;
    s1 += a[i + 1]! * b[i + 1]!;
    s2 += a[i + 2]! * b[i + 2]!;
    s3 += a[i + 3]! * b[i + 3]!;
  }
  for (; i < n; i++) s0 += a[i]! * b[i]!;
  return s0 + s1 + s2 + s3;
}

/** Entries scanned between two turns of the event loop (a few ms at 1,536 dimensions). */
const slice = 2_048;

interface Stored {
  scope: string;
  vector: Float32Array;
  entry: Buffer;
  expiresAt: number;
}

/** In process: brute-force cosine per scope, bounded by entries and bytes (oldest out first). */
export class MemoryVectorIndex implements VectorIndex {
  private readonly scopes = new Map<string, Stored[]>();
  /** Every entry in insertion order (Set order): the eviction order. */
  private readonly order = new Set<Stored>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): { entries: number; bytes: number } {
    return { entries: this.order.size, bytes: this.bytes };
  }

  async query(scope: string, vector: Float32Array, minSimilarity: number): Promise<VectorMatch | undefined> {
    const list = this.scopes.get(scope);
    if (!list) return undefined;
    const now = this.now();
    let best: Stored | undefined;
    let bestSimilarity = -Infinity;
    let expired = false;
    // A long scan gives the event loop back every `slice` entries (other calls go on meanwhile),
    // over a copy of the list: adds and evictions may change the list while it waits.
    const entries = list.length > slice ? list.slice() : list;
    for (let i = 0; i < entries.length; i++) {
      if (i > 0 && i % slice === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const s = entries[i]!;
      if (s.expiresAt <= now) {
        expired = true;
        continue;
      }
      if (s.vector.length !== vector.length) continue;
      const sim = dot(s.vector, vector);
      if (sim > bestSimilarity) {
        bestSimilarity = sim;
        best = s;
      }
    }
    if (expired) for (const s of entries.filter((x) => x.expiresAt <= now)) this.remove(s);
    if (!best) return undefined;
    return bestSimilarity >= minSimilarity ? { similarity: bestSimilarity, entry: best.entry } : { similarity: bestSimilarity };
  }

  async add(scope: string, vector: Float32Array, entry: Buffer, ttlMs: number): Promise<void> {
    const size = sizeOf(vector, entry, scope);
    if (size > this.maxBytes) return;
    const stored: Stored = { scope, vector, entry, expiresAt: this.now() + ttlMs };
    let list = this.scopes.get(scope);
    if (!list) this.scopes.set(scope, (list = []));
    list.push(stored);
    this.order.add(stored);
    this.bytes += size;
    for (const oldest of this.order) {
      if (this.order.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.remove(oldest);
    }
  }

  private remove(s: Stored): void {
    if (!this.order.delete(s)) return;
    this.bytes -= sizeOf(s.vector, s.entry, s.scope);
    const list = this.scopes.get(s.scope);
    if (!list) return;
    const i = list.indexOf(s);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.scopes.delete(s.scope);
  }
}

function sizeOf(vector: Float32Array, entry: Buffer, scope: string): number {
  return vector.byteLength + entry.length + scope.length + 64;
}

export interface ChromaOptions {
  /** http(s)://host:port of the Chroma server. */
  url: string;
  tenant: string;
  database: string;
  /** Collection name stem: one collection per vector size, `<stem>-d<dims>`. */
  collection: string;
  /** Timeout of one request to Chroma. */
  timeoutMs: number;
}

const sweepEveryMs = 60_000;

/** A Chroma server shared by replicas, over its HTTP API v2. */
export class ChromaVectorIndex implements VectorIndex {
  private readonly base: string;
  private readonly collections = new Map<number, Promise<string>>();
  private lastSweep = 0;

  constructor(
    private readonly options: ChromaOptions,
    private readonly now: () => number = Date.now,
  ) {
    const root = options.url.replace(/\/+$/, "");
    this.base = `${root}/api/v2/tenants/${encodeURIComponent(options.tenant)}/databases/${encodeURIComponent(options.database)}`;
  }

  async query(scope: string, vector: Float32Array, minSimilarity: number): Promise<VectorMatch | undefined> {
    const id = await this.collection(vector.length);
    const res = await this.post<{ documents?: (string | null)[][] | null; distances?: (number | null)[][] | null }>(id, "query", {
      query_embeddings: [Array.from(vector)],
      n_results: 1,
      where: { $and: [{ scope }, { expires_at: { $gt: this.now() } }] },
      include: ["documents", "distances"],
    });
    const distance = res.distances?.[0]?.[0];
    if (typeof distance !== "number") return undefined;
    // Cosine distance = 1 - cosine similarity.
    const similarity = 1 - distance;
    const doc = res.documents?.[0]?.[0];
    return similarity >= minSimilarity && typeof doc === "string" ? { similarity, entry: Buffer.from(doc, "base64") } : { similarity };
  }

  async add(scope: string, vector: Float32Array, entry: Buffer, ttlMs: number): Promise<void> {
    const id = await this.collection(vector.length);
    const now = this.now();
    await this.post(id, "add", {
      ids: [crypto.randomUUID()],
      embeddings: [Array.from(vector)],
      documents: [entry.toString("base64")],
      metadatas: [{ scope, expires_at: now + ttlMs }],
    });
    if (now - this.lastSweep >= sweepEveryMs) {
      this.lastSweep = now;
      await this.post(id, "delete", { where: { expires_at: { $lte: now } } });
    }
  }

  /** The collection for this vector size (created on first use; cosine space). */
  private collection(dims: number): Promise<string> {
    let id = this.collections.get(dims);
    if (!id) {
      id = this.request<{ id?: unknown }>(`${this.base}/collections`, {
        name: `${this.options.collection}-d${dims}`,
        get_or_create: true,
        configuration: { hnsw: { space: "cosine" } },
      }).then((c) => {
        if (typeof c.id !== "string") throw new Error("chroma: the collection answer has no id");
        return c.id;
      });
      // A failure is not remembered: the next call tries again.
      id.catch(() => this.collections.delete(dims));
      this.collections.set(dims, id);
    }
    return id;
  }

  private async post<T>(collectionId: string, op: "query" | "add" | "delete", body: unknown): Promise<T> {
    try {
      return await this.request<T>(`${this.base}/collections/${collectionId}/${op}`, body);
    } catch (err) {
      // The collection may have been deleted behind our back: look it up again next time.
      if (err instanceof ChromaError && err.status === 404) for (const [dims, p] of this.collections) void p.then((v) => v === collectionId && this.collections.delete(dims), () => {});
      throw err;
    }
  }

  private async request<T>(url: string, body: unknown): Promise<T> {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.options.timeoutMs),
    });
    const text = await answerText(res);
    if (!res.ok) throw new ChromaError(res.status, text.slice(0, 300));
    return JSON.parse(text) as T;
  }
}

/** Largest answer read from Chroma: a query's few documents or a page of ids are far smaller. */
const maxAnswerBytes = 16 * 1024 * 1024;

/** The answer's body as text, at most maxAnswerBytes (a larger one fails; the rest is not read). */
async function answerText(res: Response): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  if (reader === undefined) return "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxAnswerBytes) throw new ChromaError(res.status, `answer larger than ${maxAnswerBytes} bytes`);
      parts.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    }
  } finally {
    if (size > maxAnswerBytes) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  return Buffer.concat(parts, size).toString("utf8");
}

export class ChromaError extends Error {
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`chroma answered ${status}: ${body}`);
  }
}
