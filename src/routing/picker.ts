// Picks the order in which a call tries an endpoint's targets. Weighted: the first target is
// drawn by weight (from a random number, or a hash of the caller for sticky routing), the others
// follow in listed order as fallbacks. Fallback: always the listed order. Every possible order is
// built once, so a pick allocates nothing.

export class TargetPicker<T> {
  private readonly orders: (readonly T[])[];
  /** Upper bounds of each target's share of [0, 1), for weighted picks. */
  private readonly bounds: number[];

  constructor(
    targets: readonly T[],
    weights: readonly number[],
    readonly strategy: "weighted" | "fallback" | "least_latency",
  ) {
    this.orders = targets.map((first, i) => [first, ...targets.filter((_, j) => j !== i)]);
    const total = weights.reduce((a, b) => a + b, 0);
    let acc = 0;
    this.bounds = weights.map((w) => (acc += total > 0 ? w / total : 0));
    // The last target with weight takes the rounding rest.
    const last = weights.findLastIndex((w) => w > 0);
    if (last >= 0) this.bounds[last] = 1;
  }

  /** The order for a number in [0, 1): uniform for a split, a hash for sticky routing. */
  order(u: number): readonly T[] {
    if (this.strategy !== "weighted") return this.orders[0]!;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) if (u < b[i]!) return this.orders[i]!;
    return this.orders[0]!;
  }
}

/** A caller's stable place in [0, 1): FNV-1a of the key, so a caller stays on its target. */
export function stickyPoint(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Spreads nearby keys ("user-1", "user-2") before taking the point.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0) / 4294967296;
}
