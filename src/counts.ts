// Open things counted by a name (connections by client address, watchers by key or team).
/** Counts by name; a name whose count falls to 0 is forgotten (the maps stay as small as what is open). */
export class Counts {
  private readonly counts = new Map<string, number>();

  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  add(name: string, delta: number): void {
    const n = this.get(name) + delta;
    if (n <= 0) this.counts.delete(name);
    else this.counts.set(name, n);
  }
}
