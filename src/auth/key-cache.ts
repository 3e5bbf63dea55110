// Every replica keeps the store's keys in memory and polls for changes, so authenticating a call
// never waits for the database and a revocation reaches every replica within one poll interval.
import type { Logger } from "pino";
import type { KeyRecord, KeyStore } from "../store/types";

export class KeyCache {
  private readonly byHash = new Map<string, KeyRecord>();
  private readonly hashById = new Map<string, string>();
  private watermark = new Date(0);
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly store: KeyStore,
    private readonly refreshMs: number,
    private readonly log: Logger,
  ) {}

  /** Loads every key, then polls for changes. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The key with this secret hash, revoked and expired ones included (the caller says why it fails). */
  lookup(hash: string): KeyRecord | undefined {
    return this.byHash.get(hash);
  }

  /** Applies changes since the last poll; concurrent calls share one query. */
  refresh(): Promise<void> {
    this.refreshing ??= this.poll().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async poll(): Promise<void> {
    let changed: KeyRecord[];
    try {
      changed = await this.store.changedSince(this.watermark);
    } catch (err) {
      if (!this.failing) this.log.error({ err }, "key store unreachable: serving the keys already loaded");
      this.failing = true;
      return;
    }
    if (this.failing) this.log.info("key store reachable again");
    this.failing = false;
    for (const key of changed) {
      const old = this.hashById.get(key.id);
      if (old !== undefined && old !== key.hash) this.byHash.delete(old);
      this.byHash.set(key.hash, key);
      this.hashById.set(key.id, key.hash);
      if (key.updatedAt > this.watermark) this.watermark = key.updatedAt;
    }
  }
}
