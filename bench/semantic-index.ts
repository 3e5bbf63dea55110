// Lookup time of the semantic cache's in-process index (src/policies/semantic-cache-index.ts):
// MemoryVectorIndex.query over N entries of one scope (the worst case: a lookup scans its scope's
// entries only), for common embedding sizes, in ms per lookup (median and p95 of `lookups`
// queries with random unit vectors, and the process's CPU time per lookup, steadier than wall
// time on a busy machine). And the same against a Chroma server when
// MODELGATE_BENCH_CHROMA_URL is set (an HTTP round trip + HNSW).
//   npx tsx bench/semantic-index.ts [entries=10000] [lookups=200]
import { ChromaVectorIndex, MemoryVectorIndex, unitVector, type VectorIndex } from "../src/policies/semantic-cache-index";

const entries = Number(process.argv[2] ?? 10_000);
const lookups = Number(process.argv[3] ?? 200);

let seed = 7;
const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648 - 0.5;
const randomVector = (dims: number) => unitVector(Array.from({ length: dims }, rand))!;

async function measure(name: string, index: VectorIndex, dims: number, fill: number): Promise<void> {
  const answer = Buffer.alloc(600, 1); // a short chat answer in protobuf binary
  const started = performance.now();
  for (let i = 0; i < fill; i++) await index.add("scope", randomVector(dims), answer, 3_600_000);
  const fillMs = performance.now() - started;
  const times: number[] = [];
  const queries = Array.from({ length: lookups }, () => randomVector(dims));
  const cpu = process.cpuUsage();
  for (const q of queries) {
    const t = performance.now();
    await index.query("scope", q, 0.95);
    times.push(performance.now() - t);
  }
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / lookups;
  times.sort((a, b) => a - b);
  const at = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  console.log(`${name.padEnd(8)} ${String(dims).padStart(5)} dims  ${fill} entries  lookup p50 ${at(0.5).toFixed(2)} ms  p95 ${at(0.95).toFixed(2)} ms  CPU ${cpuMs.toFixed(2)} ms/lookup  (filled in ${(fillMs / 1000).toFixed(1)} s)`);
}

for (const dims of [384, 768, 1536, 3072]) {
  await measure("memory", new MemoryVectorIndex(entries, 4 * 1024 ** 3), dims, entries);
}
const chroma = process.env.MODELGATE_BENCH_CHROMA_URL;
if (chroma) {
  const fill = Math.min(entries, 2_000);
  await measure("chroma", new ChromaVectorIndex({ url: chroma, tenant: "default_tenant", database: "default_database", collection: `bench-${Date.now()}`, timeoutMs: 10_000 }), 1536, fill);
}
