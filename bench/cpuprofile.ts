// Summarises a V8 .cpuprofile (node --cpu-prof): self time by code area and the top
// self-time functions, overall and in our own src/. Used by `bench/run.ts --cpu-prof`;
// also standalone: tsx bench/cpuprofile.ts FILE.cpuprofile [ROOT_DIR [TSX_CACHE_DIR]]
//
// tsx runs our .ts files minified to one line, so the profile's positions are line 1 plus a
// column. When the profiled process had a private tsx cache (TMPDIR pointing at an empty
// directory, so the cache holds exactly the code it ran), its source maps turn those positions
// back into .ts line numbers.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { SourceMap, type SourceMapPayload } from "node:module";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface FunctionTime {
  /** "name (file:line)", file relative to the root where possible. */
  label: string;
  area: string;
  selfMs: number;
  /** Share of busy (non-idle) time. */
  share: number;
  /** The callers this self time came through, biggest first (at most 2), with their share of it. */
  callers: { label: string; share: number }[];
}

export interface ProfileSummary {
  /** Samples before this many ms after the profile started were left out (start-up, warm-up). */
  fromMs: number;
  totalMs: number;
  idleMs: number;
  busyMs: number;
  areas: { area: string; selfMs: number; share: number }[];
  top: FunctionTime[];
  topOurs: FunctionTime[];
  /**
   * Busy time by code area with Node's and V8's own frames (node: internals, builtins) charged to
   * the nearest JavaScript caller above them in node_modules/ or the project: e.g. the
   * DOMException an AbortController makes for connect-es counts as connect-es. GC and
   * unattributed program time stay apart.
   */
  owners: { area: string; selfMs: number; share: number }[];
  /** Functions of @connectrpc/* by the same attribution (own self time + the internals below them). */
  topConnect: { label: string; ms: number; share: number }[];
}

/** Which part of the code a frame belongs to. */
export function areaOf(frame: CallFrame, rootUrl: string): string {
  const { url, functionName } = frame;
  if (url === "") {
    if (functionName === "(idle)") return "(idle)";
    if (functionName === "(garbage collector)") return "GC";
    if (functionName === "(program)") return "(program: V8/native, unattributed)";
    return "V8 builtins / native";
  }
  if (url.startsWith("node:")) return "node: internals";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm !== -1) {
    const rest = url.slice(nm + "/node_modules/".length).split("/");
    const pkg = rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1] ?? ""}` : (rest[0] ?? "?");
    return `npm: ${pkg}`;
  }
  if (url.startsWith(rootUrl)) {
    const rel = url.slice(rootUrl.length);
    const top = rel.split("/")[0] ?? rel;
    return `ours: ${top}/`;
  }
  return "other";
}

/** file:// URL of each .ts source -> its source map, from a tsx cache directory (searched recursively). */
export function loadTsxSourceMaps(cacheDir: string): Map<string, SourceMap> {
  const found = new Map<string, { map: SourceMap; mtime: number }>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(full);
        continue;
      }
      let payload: SourceMapPayload | undefined;
      try {
        payload = (JSON.parse(readFileSync(full, "utf8")) as { map?: SourceMapPayload }).map;
      } catch {
        continue;
      }
      const source = payload?.sources?.[0];
      if (payload === undefined || source === undefined || !path.isAbsolute(source)) continue;
      const url = pathToFileURL(source).href;
      const mtime = statSync(full).mtimeMs;
      const prev = found.get(url);
      if (prev === undefined || prev.mtime < mtime) found.set(url, { map: new SourceMap(payload), mtime });
    }
  };
  walk(cacheDir);
  return new Map([...found].map(([url, v]) => [url, v.map]));
}

/** The 0-based source line of a generated position, when a map knows it. */
function originalLine(maps: Map<string, SourceMap> | undefined, frame: CallFrame): number | undefined {
  const entry = maps?.get(frame.url)?.findEntry(frame.lineNumber, frame.columnNumber);
  return entry !== undefined && "originalLine" in entry ? entry.originalLine : undefined;
}

/**
 * `fromMs`: leave out samples taken earlier than this after the profile started (the profile
 * covers the whole process life: module loading and compiling come first).
 */
export function summarizeProfile(
  file: string,
  rootDir: string,
  opts: { topN?: number; tsxCacheDir?: string; fromMs?: number } = {},
): ProfileSummary {
  const { topN = 15, tsxCacheDir, fromMs = 0 } = opts;
  const maps = tsxCacheDir === undefined ? undefined : loadTsxSourceMaps(tsxCacheDir);
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const rootUrl = pathToFileURL(rootDir).href.replace(/\/?$/, "/");
  const byId = new Map<number, ProfileNode>();
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  }

  // Self time per node: each sample's time delta goes to the node it landed in.
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const fromUs = fromMs * 1000;
  let elapsedUs = 0;
  for (let i = 0; i < samples.length; i++) {
    const delta = Math.max(0, deltas[i] ?? 0);
    elapsedUs += delta;
    if (elapsedUs < fromUs) continue;
    const id = samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }

  const labelOf = (frame: CallFrame): string => {
    const line = originalLine(maps, frame) ?? frame.lineNumber;
    const where = frame.url === "" ? "" : ` (${shortUrl(frame.url, rootUrl)}:${line + 1})`;
    return `${frame.functionName || "(anonymous)"}${where}`;
  };
  const perFunction = new Map<string, { label: string; area: string; us: number; callers: Map<string, number> }>();
  const perArea = new Map<string, number>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const frame = node.callFrame;
    const area = areaOf(frame, rootUrl);
    totalUs += us;
    perArea.set(area, (perArea.get(area) ?? 0) + us);
    const label = labelOf(frame);
    const entry = perFunction.get(label) ?? { label, area, us: 0, callers: new Map<string, number>() };
    entry.us += us;
    const parent = byId.get(parentOf.get(id) ?? -1);
    if (parent) {
      // When the caller is Node's or V8's own code, also name the first JS caller above it.
      let caller = labelOf(parent.callFrame);
      let up = parent;
      while (up.callFrame.url === "" || up.callFrame.url.startsWith("node:")) {
        const next = byId.get(parentOf.get(up.id) ?? -1);
        if (!next || next.callFrame.functionName === "(root)") break;
        up = next;
      }
      if (up !== parent && up.callFrame.url !== "" && !up.callFrame.url.startsWith("node:")) {
        caller += ` ← ${labelOf(up.callFrame)}`;
      }
      entry.callers.set(caller, (entry.callers.get(caller) ?? 0) + us);
    }
    perFunction.set(label, entry);
  }
  // Owners: charge node:/V8 frames to the nearest caller that is package or project code.
  const perOwner = new Map<string, number>();
  const perConnectFn = new Map<string, number>();
  for (const [id, us] of selfUs) {
    let node = byId.get(id);
    if (!node) continue;
    const own = areaOf(node.callFrame, rootUrl);
    if (own === "(idle)" || own === "GC" || own.startsWith("(program")) {
      perOwner.set(own, (perOwner.get(own) ?? 0) + us);
      continue;
    }
    while (node.callFrame.url === "" || node.callFrame.url.startsWith("node:")) {
      const up = byId.get(parentOf.get(node.id) ?? -1);
      if (!up || up.callFrame.functionName === "(root)") break;
      node = up;
    }
    const area = areaOf(node.callFrame, rootUrl);
    perOwner.set(area, (perOwner.get(area) ?? 0) + us);
    if (area.startsWith("npm: @connectrpc/")) {
      const label = labelOf(node.callFrame);
      perConnectFn.set(label, (perConnectFn.get(label) ?? 0) + us);
    }
  }
  const idleUs = perArea.get("(idle)") ?? 0;
  const busyUs = Math.max(1, totalUs - idleUs);
  const fns = [...perFunction.values()]
    .filter((f) => f.area !== "(idle)")
    .sort((a, b) => b.us - a.us)
    .map(
      (f): FunctionTime => ({
        label: f.label,
        area: f.area,
        selfMs: f.us / 1000,
        share: f.us / busyUs,
        callers: [...f.callers]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 2)
          .map(([label, us]) => ({ label, share: us / Math.max(1, f.us) })),
      }),
    );
  return {
    fromMs,
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    busyMs: busyUs / 1000,
    areas: [...perArea.entries()]
      .filter(([area]) => area !== "(idle)")
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, selfMs: us / 1000, share: us / busyUs })),
    top: fns.slice(0, topN),
    topOurs: fns.filter((f) => f.area.startsWith("ours: src/")).slice(0, 10),
    owners: [...perOwner.entries()]
      .filter(([area]) => area !== "(idle)")
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, selfMs: us / 1000, share: us / busyUs })),
    topConnect: [...perConnectFn.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([label, us]) => ({ label, ms: us / 1000, share: us / busyUs })),
  };
}

function shortUrl(url: string, rootUrl: string): string {
  if (url.startsWith(rootUrl)) return url.slice(rootUrl.length);
  const nm = url.lastIndexOf("/node_modules/");
  if (nm !== -1) return url.slice(nm + "/node_modules/".length);
  return url;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** Markdown: areas, top functions, top functions in src/. */
export function formatProfileSummary(s: ProfileSummary): string {
  const lines: string[] = [];
  const skipped = s.fromMs > 0 ? ` (samples from ${(s.fromMs / 1000).toFixed(1)} s after start; start-up and warm-up left out)` : "";
  lines.push(
    `Profile: ${(s.totalMs / 1000).toFixed(1)} s sampled${skipped}, ${(s.busyMs / 1000).toFixed(1)} s busy (not idle). Shares are of busy time.`,
    "",
    "| code area | self ms | share |",
    "| --- | ---: | ---: |",
  );
  for (const a of s.areas) lines.push(`| ${a.area} | ${a.selfMs.toFixed(0)} | ${pct(a.share)} |`);
  const callers = (f: FunctionTime) => f.callers.map((c) => `\`${c.label}\` ${pct(c.share)}`).join("; ");
  lines.push("", "| top self-time functions | area | self ms | share | called from |", "| --- | --- | ---: | ---: | --- |");
  for (const f of s.top) {
    lines.push(`| \`${f.label}\` | ${f.area} | ${f.selfMs.toFixed(0)} | ${pct(f.share)} | ${callers(f)} |`);
  }
  lines.push("", "| top self-time functions in src/ | self ms | share | called from |", "| --- | ---: | ---: | --- |");
  if (s.topOurs.length === 0) lines.push("| (none sampled) | | | |");
  for (const f of s.topOurs) lines.push(`| \`${f.label}\` | ${f.selfMs.toFixed(1)} | ${pct(f.share)} | ${callers(f)} |`);
  lines.push(
    "",
    "Node's and V8's own frames charged to their nearest package or project caller (so connect-es's row includes the AbortSignal, DOMException, Headers and URL work it asks Node for):",
    "",
    "| owner | ms | share |",
    "| --- | ---: | ---: |",
  );
  for (const a of s.owners) lines.push(`| ${a.area} | ${a.selfMs.toFixed(0)} | ${pct(a.share)} |`);
  lines.push("", "| top @connectrpc functions (self + the Node/V8 work below them) | ms | share |", "| --- | ---: | ---: |");
  if (s.topConnect.length === 0) lines.push("| (none sampled) | | |");
  for (const f of s.topConnect) lines.push(`| \`${f.label}\` | ${f.ms.toFixed(0)} | ${pct(f.share)} |`);
  return lines.join("\n");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write("usage: tsx bench/cpuprofile.ts FILE.cpuprofile [ROOT_DIR [TSX_CACHE_DIR]]\n");
    process.exit(2);
  }
  const summary = summarizeProfile(file, process.argv[3] ?? process.cwd(), { tsxCacheDir: process.argv[4] });
  process.stdout.write(formatProfileSummary(summary) + "\n");
}
