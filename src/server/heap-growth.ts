// How far V8 lets the old generation grow past what survived its last full collection. V8 picks
// the factor itself (up to 4× for a heap that collects fast), and under steady load the gateway's
// short-lived per-call objects that outlive two scavenges fill the old generation to that limit:
// at c=32 (issue 11; `npm run bench -- --long`, bench/README "Sixth pass") RSS climbed from ~357 MB
// after 100k calls to ~480 MB after 300k and stayed there, with ~70 MB live. A fixed factor of 2
// holds it at ~360 MB from the first 100k calls on, for ~4 full collections per 20 s instead of
// ~1–3 (~50–90 ms of main-thread pause per 20 s, the marking mostly concurrent): no CPU per call
// we could tell from the noise.
//
// V8 reads the flag at each full collection's end, so it is set at start (Node accepts no V8 heap
// flag in NODE_OPTIONS but this one would need the command line otherwise); a
// `--heap-growing-percent` given to node on the command line wins.
import { setFlagsFromString } from "node:v8";

/** The default: each full collection lets the heap grow to twice what survived it. */
export const HEAP_GROWING_PERCENT = 100;

/** Sets V8's heap growing factor unless node was started with its own; returns the percent in force, if ours. */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv, percent = HEAP_GROWING_PERCENT): number | undefined {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a))) return undefined;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}
