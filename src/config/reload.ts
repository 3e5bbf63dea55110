// Reloads the config file on SIGHUP (the caller wires the signal) and when the file changes:
// parse and validate it, and hand a valid config to `apply` (the gateway builds its new state and
// swaps it whole). An invalid file is refused with every problem logged; the running config
// stays in force. Reloads run one at a time; changes that arrive during one are read after it.
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type { Logger } from "pino";
import type { ModelFactory } from "../providers/model";
import { ConfigError, parseConfig, readConfigText, type Env, type LoadedConfig } from "./load";

export interface ConfigReloaderOptions {
  path: string;
  factories: ReadonlyMap<string, ModelFactory>;
  apply(config: LoadedConfig): void;
  log: Logger;
  env?: Env;
  /** Quiet time after the last change event before the file is read (editors write in steps). */
  debounceMs?: number;
}

export type ReloadOutcome = "applied" | "unchanged" | "refused";

export class ConfigReloader {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReloadOutcome> | undefined;
  private again: { reason: string; force: boolean } | undefined;
  private lastText: string | undefined;
  private readonly path: string;

  constructor(private readonly options: ConfigReloaderOptions) {
    this.path = resolve(options.path);
  }

  /** Starts watching the file. The directory is watched: editors and deploy tools replace the file by renaming. */
  watch(): this {
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
      if (file !== null && file !== name) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload("file changed", false), this.options.debounceMs ?? 200);
      this.timer.unref();
    });
    this.watcher.on("error", (err) => this.options.log.error({ err, config: this.path }, "config watch failed: reload with SIGHUP"));
    return this;
  }

  /**
   * Reads, validates and applies the file now. `force` applies it even when its text did not
   * change (SIGHUP: `$ENV` values or key files may have).
   */
  reload(reason: string, force = true): Promise<ReloadOutcome> {
    if (this.running) {
      this.again = { reason, force: force || (this.again?.force ?? false) };
      return this.running;
    }
    this.running = this.reloadNow(reason, force).finally(() => {
      this.running = undefined;
      const next = this.again;
      this.again = undefined;
      if (next) void this.reload(next.reason, next.force);
    });
    return this.running;
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }

  private async reloadNow(reason: string, force: boolean): Promise<ReloadOutcome> {
    const { log } = this.options;
    let text: string;
    try {
      text = await readConfigText(this.path);
    } catch (err) {
      log.error({ config: this.path, reason, code: (err as NodeJS.ErrnoException).code }, "config reload refused: cannot read the file; the running config stays in force");
      return "refused";
    }
    if (!force && text === this.lastText) return "unchanged";
    let config: LoadedConfig;
    try {
      config = parseConfig(text, this.path, this.options.factories, this.options.env ?? process.env);
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        log.error({ err, config: this.path, reason }, "config reload refused: the file could not be read as a config; the running config stays in force");
        return "refused";
      }
      log.error(
        { config: this.path, reason, problems: err.problems.map((p) => `${p.path}: ${p.message}`) },
        `config reload refused (${err.problems.length} problem(s)); the running config stays in force`,
      );
      return "refused";
    }
    try {
      this.options.apply(config);
    } catch (err) {
      log.error({ err, config: this.path, reason }, "config reload failed while building the new state; the running config stays in force");
      return "refused";
    }
    this.lastText = text;
    log.info({ config: this.path, reason, endpoints: config.file.endpoints.map((e) => e.name) }, "config reload applied");
    return "applied";
  }

  /** Remembers the text the process started with, so a touch without changes is not a reload. */
  async primed(): Promise<this> {
    try {
      this.lastText = await readConfigText(this.path);
    } catch {
      this.lastText = undefined;
    }
    return this;
  }
}
