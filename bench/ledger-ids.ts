// What a ledger row costs the SQLite store as the table grows, with random (UUIDv4) or
// time-ordered (UUIDv7) request ids: the request_id index takes a v4 id at a random page, a v7
// one at its end.
//   npx tsx bench/ledger-ids.ts [v4|v7] [rows, default 500,000]
// Appends batches of 300 rows (the write worker's path: openSqliteStore on a file, WAL,
// synchronous = FULL) and prints, per 100,200 rows, the wall time and the process's CPU (main
// thread and write worker) per row.
import { randomUUID, randomUUIDv7 } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store";
import type { LedgerRow } from "../src/store/types";
import { benchLedgerRow } from "./ledger-row";

const mode = process.argv[2] ?? "v7";
if (mode !== "v4" && mode !== "v7") throw new Error(`usage: ledger-ids.ts [v4|v7] [rows]`);
const total = Number(process.argv[3] ?? 500_000);
const STEP = 100_200;
const BATCH = 300;
const dir = mkdtempSync(join(tmpdir(), "modelgate-ledger-ids-"));
const store = openSqliteStore(join(dir, "ledger.db"));
await store.migrate();
const id = mode === "v7" ? randomUUIDv7 : randomUUID;
const row = (): LedgerRow => benchLedgerRow(id());
let cpu0 = process.cpuUsage();
let t0 = performance.now();
try {
  for (let n = BATCH; n <= total; n += BATCH) {
    await store.ledger.append(Array.from({ length: BATCH }, row));
    if (n % STEP === 0) {
      const cpu = process.cpuUsage(cpu0);
      const ms = performance.now() - t0;
      process.stdout.write(`${mode} ${n} rows: ${((ms * 1000) / STEP).toFixed(1)} µs wall/row, ${((cpu.user + cpu.system) / STEP).toFixed(1)} µs CPU/row\n`);
      cpu0 = process.cpuUsage();
      t0 = performance.now();
    }
  }
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
