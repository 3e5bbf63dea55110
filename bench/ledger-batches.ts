// What the usage ledger costs per call at a steady call rate, with the writer's batching as it
// ships (flushIntervalMs 100: one commit an interval) and written through (flushIntervalMs 0: a
// batch each time the last append ended, which is how every load was written before the pacing).
//   npx tsx bench/ledger-batches.ts [--rates 1000,2000,4000] [--seconds 5] [--intervals 100,0]
// Each run records rows into a LedgerWriter (src/usage/ledger-writer.ts) over a fresh SQLite file
// store (openSqliteStore: the write worker, WAL, synchronous = FULL, the ledger's indexes) at the
// given rows per second for --seconds, flushes, then prints the appends, the mean rows per append
// and the process's CPU (main thread and write worker, getrusage) per row, less what the same
// steady loop costs just before when its rows go nowhere (the 1 ms tick, building the rows), and
// the main thread's part of it (what the event loop that serves calls pays). Expect a few µs of
// noise per row either way: the two loops run seconds apart on a machine whose speed drifts.
import { randomUUIDv7 } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store";
import type { LedgerRow, LedgerStore } from "../src/store/types";
import { LedgerWriter } from "../src/usage/ledger-writer";
import { benchLedgerRow } from "./ledger-row";

const { values: opt } = parseArgs({
  options: {
    rates: { type: "string", default: "1000,2000,4000" },
    seconds: { type: "string", default: "5" },
    intervals: { type: "string", default: "100,0" },
  },
  strict: true,
});
const rates = opt.rates.split(",").map(Number);
const seconds = Number(opt.seconds);
const intervals = opt.intervals.split(",").map(Number);
for (const n of [...rates, seconds, ...intervals]) if (!Number.isFinite(n) || n < 0) throw new Error("--rates, --seconds and --intervals take numbers >= 0");

const row = (): LedgerRow => benchLedgerRow(randomUUIDv7());

interface Result {
  rate: number;
  interval: number;
  rows: number;
  appends: number;
  cpuUsPerRow: number;
  /** The main thread's part (process.threadCpuUsage): what the event loop pays. */
  mainUsPerRow: number;
}

/** Records `rate` rows a second for --seconds (a 1 ms tick) with `record`: the CPU µs it took per row. */
async function steady(rate: number, record: (r: LedgerRow) => void): Promise<{ rows: number; cpuUs: number; mainUs: number }> {
  const cpu0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  const t0 = performance.now();
  let recorded = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(rate * seconds, Math.floor(((performance.now() - t0) / 1000) * rate));
      for (; recorded < due; recorded++) record(row());
      if (recorded >= rate * seconds) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  const cpu = process.cpuUsage(cpu0);
  const main = process.threadCpuUsage(main0);
  return { rows: recorded, cpuUs: cpu.user + cpu.system, mainUs: main.user + main.system };
}

async function run(rate: number, interval: number): Promise<Result> {
  // What the tick and the rows' building cost on their own at this rate, measured just before (the
  // machine's speed drifts), subtracted from the run.
  const idle = await steady(rate, () => {});
  const dir = mkdtempSync(join(tmpdir(), "modelgate-ledger-batches-"));
  const store = openSqliteStore(join(dir, "ledger.db"));
  await store.migrate();
  let appends = 0;
  const ledger: LedgerStore = Object.create(store.ledger) as LedgerStore;
  ledger.append = (rows) => {
    appends++;
    return store.ledger.append(rows);
  };
  const writer = new LedgerWriter(ledger, { flushIntervalMs: interval });
  // The write worker starts on the first append: started before the clock, as in a warm gateway.
  writer.record(row());
  await writer.flush();
  appends = 0;
  const cpu0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  const { rows } = await steady(rate, (r) => writer.record(r));
  await writer.flush();
  const cpu = process.cpuUsage(cpu0);
  const main = process.threadCpuUsage(main0);
  await writer.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    rate,
    interval,
    rows,
    appends,
    cpuUsPerRow: (cpu.user + cpu.system) / rows - idle.cpuUs / idle.rows,
    mainUsPerRow: (main.user + main.system) / rows - idle.mainUs / idle.rows,
  };
}

// A throwaway cell first, so that the first one measured does not pay for compiling the code.
await run(rates[0] ?? 1000, intervals[0] ?? 100);

const results: Result[] = [];
for (const rate of rates) {
  for (const interval of intervals) {
    const r = await run(rate, interval);
    results.push(r);
    console.error(`${rate} rows/s, flushIntervalMs ${interval}: ${r.appends} appends, ${r.cpuUsPerRow.toFixed(1)} µs CPU/row`);
  }
}
console.log(`| rows/s | flushIntervalMs | appends | rows per append | ledger CPU µs per row (main + write worker) | of it, main thread |
| ---: | ---: | ---: | ---: | ---: | ---: |`);
for (const r of results) {
  console.log(`| ${r.rate} | ${r.interval} | ${r.appends} | ${(r.rows / Math.max(1, r.appends)).toFixed(1)} | ${r.cpuUsPerRow.toFixed(1)} | ${r.mainUsPerRow.toFixed(1)} |`);
}
