#!/usr/bin/env node
// Builds the web console (console/ -> console/dist) with Vite when the build is missing or older
// than its sources (console/src, console/index.html, console/vite.config.ts, gen/modelgate,
// package-lock.json). Run by `npm install`/`npm ci` (the `prepare` script) and by the browser
// test; `npm run build:console -- --force` rebuilds anyway.
// Exits 0 without building where the console cannot be built and is not needed: a tree without
// console/ (the Docker build stage copies only the gateway) or without Vite (npm ci --omit=dev).
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const consoleDir = join(root, "console");
const dist = join(consoleDir, "dist");
const stamp = join(dist, ".built");
const force = process.argv.includes("--force");

function newest(path) {
  if (!existsSync(path)) return 0;
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let latest = info.mtimeMs;
  for (const entry of readdirSync(path)) {
    if (entry === "dist" || entry === "node_modules") continue;
    latest = Math.max(latest, newest(join(path, entry)));
  }
  return latest;
}

if (!existsSync(join(consoleDir, "index.html"))) {
  console.log("build-console: no console/ sources here; nothing to build");
  process.exit(0);
}
const sources = Math.max(
  newest(join(consoleDir, "src")),
  newest(join(consoleDir, "index.html")),
  newest(join(consoleDir, "vite.config.ts")),
  newest(join(root, "gen", "modelgate")),
  newest(join(root, "package-lock.json")),
);
const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (!force && built > sources) {
  console.log("build-console: console/dist is up to date");
  process.exit(0);
}
let vite;
try {
  vite = await import("vite");
} catch {
  console.log("build-console: Vite is not installed (production-only install?): the console is not built; /console/ answers 503");
  process.exit(0);
}
const started = performance.now();
await vite.build({ configFile: join(consoleDir, "vite.config.ts"), logLevel: process.env.CONSOLE_BUILD_QUIET ? "warn" : "info" });
writeFileSync(stamp, `${new Date().toISOString()}\n`);
console.log(`build-console: built console/dist in ${((performance.now() - started) / 1000).toFixed(1)} s`);
