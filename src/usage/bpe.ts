// A token counter for tiktoken's byte-level BPE (o200k_base), kept in ~4 MB instead of the ~68 MB
// that gpt-tokenizer's encoder holds (200k rank strings in a Map, their reverse, the ranks module's
// source text: see bench/README.md, "Twelfth pass").
//
// The vocabulary is the `.tiktoken` file gpt-tokenizer ships (one "base64-bytes rank" line per
// token, OpenAI's own format). It is read once into three typed arrays: every token's bytes one
// after the other, each rank's offset into them, and an open-addressing hash table from a byte
// string to its rank. The pre-tokenizer is gpt-tokenizer's own o200k regular expression, and the
// merge is tiktoken's (`_byte_pair_merge` in tiktoken's lib.rs: merge the lowest-ranked adjacent
// pair, leftmost first, until no pair is a token), so counts equal gpt-tokenizer's and tiktoken's;
// test/unit/bpe.spec.ts checks them against gpt-tokenizer on varied and random text.
import { readFileSync } from "node:fs";

/** Pieces up to this many bytes merge by the linear scan (as fast up to here: 128 ASCII letters), longer ones by the heap. */
const linearMergeBytes = 128;

/** Byte-level BPE token counter over one `.tiktoken` vocabulary. Counts only: never encodes. */
export class BpeCounter {
  /** Every token's bytes, in rank order. */
  private readonly bytes: Uint8Array;
  /** `offsets[rank]` .. `offsets[rank + 1]` is the token's span in `bytes`. */
  private readonly offsets: Uint32Array;
  /** Open addressing, linear probing: rank + 1 per slot, 0 for empty. */
  private readonly table: Int32Array;
  private readonly mask: number;
  /** A piece's UTF-8 bytes; grown for a longer piece. */
  private scratch = new Uint8Array(1024);
  private readonly encoder = new TextEncoder();
  /**
   * The linear merge's state, reused (its pieces are at most linearMergeBytes): part starts, and
   * the rank of the pair starting at each part.
   */
  private readonly starts = new Int32Array(linearMergeBytes + 1);
  private readonly ranks = new Int32Array(linearMergeBytes + 1);
  /** Pieces that took a merge, and their token counts. */
  private readonly merged = new Map<string, number>();

  private constructor(
    bytes: Uint8Array,
    offsets: Uint32Array,
    private readonly split: RegExp,
  ) {
    this.bytes = bytes;
    this.offsets = offsets;
    const count = offsets.length - 1;
    let size = 1;
    while (size < count * 2) size <<= 1;
    this.table = new Int32Array(size);
    this.mask = size - 1;
    for (let rank = 0; rank < count; rank++) {
      const from = offsets[rank]!;
      const to = offsets[rank + 1]!;
      if (to === from) continue; // a rank the file skips
      let slot = hashBytes(bytes, from, to) & this.mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & this.mask;
      this.table[slot] = rank + 1;
    }
  }

  /**
   * Reads a `.tiktoken` file: lines of "<base64 token bytes> <rank>", ranks from 0 with none
   * repeated. `split` is the encoding's pre-tokenizer (a global, unicode regular expression).
   */
  static fromTiktokenFile(path: string, split: RegExp): BpeCounter {
    const file = readFileSync(path);
    // Base64 decodes to at most 3/4 of its text: one buffer for all tokens, trimmed after.
    const bytes = new Uint8Array(Math.ceil((file.length * 3) / 4));
    let lines = 1;
    for (let i = file.indexOf(0x0a); i >= 0; i = file.indexOf(0x0a, i + 1)) lines++;
    // Typed arrays, not a JS array: what the build leaves behind goes back with one collection.
    const spans = new Int32Array(lines * 3); // rank, from, to triples
    let tokens = 0;
    let maxRank = -1;
    let used = 0;
    let at = 0;
    while (at < file.length) {
      const lineEnd = indexOrEnd(file, 0x0a, at);
      const space = indexOrEnd(file, 0x20, at);
      if (space < lineEnd) {
        const from = used;
        used = decodeBase64(file, at, space, bytes, used);
        const rank = parseDecimal(file, space + 1, lineEnd);
        spans[tokens * 3] = rank;
        spans[tokens * 3 + 1] = from;
        spans[tokens * 3 + 2] = used;
        tokens++;
        if (rank > maxRank) maxRank = rank;
      } else if (lineEnd > at && !(lineEnd === at + 1 && file[at] === 0x0d)) {
        throw new Error(`${path}: line without a rank at byte ${at}`);
      }
      at = lineEnd + 1;
    }
    if (maxRank < 0) throw new Error(`${path}: no tokens`);
    if (maxRank >= maxRanks) throw new Error(`${path}: rank ${maxRank} is beyond ${maxRanks - 1}`);
    // Offsets in rank order; tokens are laid out in file order, so copy them into rank order.
    const byRank = new Int32Array((maxRank + 1) * 2).fill(-1);
    for (let i = 0; i < tokens * 3; i += 3) {
      const rank = spans[i]!;
      if (byRank[rank * 2]! !== -1) throw new Error(`${path}: rank ${rank} appears twice`);
      byRank[rank * 2] = spans[i + 1]!;
      byRank[rank * 2 + 1] = spans[i + 2]!;
    }
    const ordered = new Uint8Array(used);
    const offsets = new Uint32Array(maxRank + 2);
    let out = 0;
    for (let rank = 0; rank <= maxRank; rank++) {
      offsets[rank] = out;
      const from = byRank[rank * 2]!;
      if (from === -1) continue;
      const to = byRank[rank * 2 + 1]!;
      ordered.set(bytes.subarray(from, to), out);
      out += to - from;
    }
    offsets[maxRank + 1] = out;
    return new BpeCounter(ordered, offsets, split);
  }

  /** Tokens in `text`, special-token text counted as plain text. */
  count(text: string): number {
    let tokens = 0;
    for (const match of text.matchAll(this.split)) tokens += this.countPiece(match[0]);
    return tokens;
  }

  private countPiece(piece: string): number {
    // UTF-8 needs at most 3 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units).
    if (piece.length * 3 > this.scratch.length) this.grow(piece.length * 3);
    const scratch = this.scratch;
    // Most pieces are ASCII: copy them here and hash on the way; anything else, TextEncoder.
    let length = piece.length;
    let h = 0x811c9dc5;
    for (let i = 0; i < length; i++) {
      const c = piece.charCodeAt(i);
      if (c >= 0x80) {
        length = this.encoder.encodeInto(piece, scratch).written;
        h = hashBytes(scratch, 0, length);
        break;
      }
      scratch[i] = c;
      h = Math.imul(h ^ c, 0x01000193);
    }
    if (this.find(h >>> 0, 0, length) >= 0) return 1;
    // Words that are not one token recur in a text and across calls: their counts are kept, up to
    // mergeCacheSize of them (then the cache starts again: bounded, and no bookkeeping per hit).
    let tokens = this.merged.get(piece);
    if (tokens === undefined) {
      tokens = this.merge(length);
      if (this.merged.size >= mergeCacheSize) this.merged.clear();
      this.merged.set(piece, tokens);
    }
    return tokens;
  }

  private grow(bytes: number): void {
    let size = this.scratch.length;
    while (size < bytes) size *= 2;
    this.scratch = new Uint8Array(size);
  }

  /** Rank of scratch[from, to), or -1 when it is not a token. */
  private rankOf(from: number, to: number): number {
    return this.find(hashBytes(this.scratch, from, to), from, to);
  }

  /** rankOf with the span's hash already known. */
  private find(hash: number, from: number, to: number): number {
    const { scratch, bytes, offsets, table, mask } = this;
    const length = to - from;
    let slot = hash & mask;
    for (;;) {
      const entry = table[slot]!;
      if (entry === 0) return -1;
      const start = offsets[entry - 1]!;
      if (offsets[entry]! - start === length) {
        let i = 0;
        while (i < length && bytes[start + i] === scratch[from + i]) i++;
        if (i === length) return entry - 1;
      }
      slot = (slot + 1) & mask;
    }
  }

  /**
   * tiktoken's merge over scratch[0, length): parts start at every byte; `ranks[i]` is the rank
   * of parts i and i + 1 together (-1: not a token). Merge the lowest rank, leftmost on ties,
   * until none is left; the parts left are the tokens.
   */
  private merge(length: number): number {
    if (length > linearMergeBytes) return this.mergeLarge(length);
    const { starts, ranks } = this;
    let parts = length + 1; // part starts, the last one being `length` itself
    for (let i = 0; i < parts; i++) starts[i] = i;
    for (let i = 0; i + 2 < parts; i++) ranks[i] = this.rankOf(i, i + 2);
    ranks[parts - 2] = -1;
    ranks[parts - 1] = -1;
    for (;;) {
      let best = -1;
      let bestRank = 0x7fffffff;
      for (let i = 0; i + 1 < parts; i++) {
        const r = ranks[i]!;
        if (r >= 0 && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) return parts - 1;
      // Part best + 1 joins part best: remove its start, then re-rank the pairs around best.
      parts--;
      for (let i = best + 1; i < parts; i++) {
        starts[i] = starts[i + 1]!;
        ranks[i] = ranks[i + 1]!;
      }
      ranks[best] = best + 2 < parts ? this.rankOf(starts[best]!, starts[best + 2]!) : -1;
      if (best > 0) ranks[best - 1] = this.rankOf(starts[best - 1]!, starts[best + 1]!);
    }
  }

  /**
   * The same merge for a long piece, in O(n log n) instead of O(n²): a 384-byte piece (128 CJK
   * characters, one slice of a long run) took ~150k steps the linear way. Parts are a linked list
   * over their start bytes; every adjacent pair that is a token sits in a binary min-heap keyed
   * by (rank, start), so the pop is the lowest rank, leftmost on a tie, as the linear scan picks.
   * A merge changes two pairs (the merged part's, and its left neighbour's): they are pushed anew
   * and their old entries are skipped when popped, as their rank no longer matches (the pairs at
   * one start only grow, and two different byte strings never share a rank).
   */
  private mergeLarge(length: number): number {
    const next = new Int32Array(length + 1);
    const prev = new Int32Array(length + 1);
    const pair = new Int32Array(length + 1); // the pair's rank at each live start; -1 none, -2 merged away
    const heap = new Float64Array(3 * length + 1); // at most one entry per pair, then two per merge
    let size = 0;
    const push = (key: number) => {
      let at = size++;
      while (at > 0) {
        const up = (at - 1) >> 1;
        if (heap[up]! <= key) break;
        heap[at] = heap[up]!;
        at = up;
      }
      heap[at] = key;
    };
    const pop = (): number => {
      const top = heap[0]!;
      const last = heap[--size]!;
      let at = 0;
      for (;;) {
        let child = 2 * at + 1;
        if (child >= size) break;
        if (child + 1 < size && heap[child + 1]! < heap[child]!) child++;
        if (heap[child]! >= last) break;
        heap[at] = heap[child]!;
        at = child;
      }
      heap[at] = last;
      return top;
    };
    const rankPair = (start: number) => {
      const second = next[start]!;
      const r = second < length ? this.rankOf(start, next[second]!) : -1;
      pair[start] = r;
      if (r >= 0) push(r * heapKeyShift + start);
    };
    for (let i = 0; i <= length; i++) {
      next[i] = i + 1;
      prev[i] = i - 1;
    }
    for (let i = 0; i < length; i++) rankPair(i);
    let parts = length;
    while (size > 0) {
      const key = pop();
      const start = key % heapKeyShift;
      if (pair[start] !== (key - start) / heapKeyShift) continue; // stale
      const joined = next[start]!;
      const after = next[joined]!;
      next[start] = after;
      prev[after] = start;
      pair[joined] = -2;
      parts--;
      rankPair(start);
      if (start > 0) rankPair(prev[start]!);
    }
    return parts;
  }
}

/** A heap key is rank × this + the pair's start byte (ranks < 2^24, so keys stay below 2^53). */
const heapKeyShift = 2 ** 29;

/** Ranks a vocabulary may use: o200k has 200k, the largest tiktoken vocabularies a few times more. */
const maxRanks = 1 << 24;

/** Pieces whose merged counts are kept (~0.5 MB at most for words; longer pieces are rarer). */
const mergeCacheSize = 8_192;

/** FNV-1a over bytes[from, to). */
function hashBytes(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

function indexOrEnd(buf: Uint8Array, byte: number, from: number): number {
  const i = buf.indexOf(byte, from);
  return i < 0 ? buf.length : i;
}

const base64Values = (() => {
  const values = new Int8Array(256).fill(-1);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i;
  return values;
})();

/** Decodes base64 text src[from, to) into dst at `at`; returns the end of what it wrote. */
function decodeBase64(src: Uint8Array, from: number, to: number, dst: Uint8Array, at: number): number {
  let bits = 0;
  let value = 0;
  for (let i = from; i < to; i++) {
    const c = src[i]!;
    if (c === 0x3d) break; // "=" padding
    const v = base64Values[c]!;
    if (v < 0) throw new Error(`invalid base64 byte ${c} at ${i}`);
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      dst[at++] = (value >>> bits) & 0xff;
      value &= (1 << bits) - 1;
    }
  }
  return at;
}

function parseDecimal(src: Uint8Array, from: number, to: number): number {
  let n = 0;
  let digits = 0;
  for (let i = from; i < to; i++) {
    const c = src[i]!;
    if (c === 0x0d && i === to - 1) break;
    if (c < 0x30 || c > 0x39) throw new Error(`invalid rank at byte ${i}`);
    n = n * 10 + (c - 0x30);
    digits++;
  }
  if (digits === 0 || digits > 9) throw new Error(`invalid rank at byte ${from}`);
  return n;
}
