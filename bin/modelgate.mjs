#!/usr/bin/env node
// Runs the TypeScript entry point, so `npx modelgate` and `npm start` work without a build step:
// from a bundle of src/main.ts (esbuild, a dependency; npm packages stay external) in
// node_modules/.cache/modelgate/, rebuilt when any file under src/ or gen/ is newer than it
// (~0.3 s), else through tsx. The bundle starts ~2x faster than tsx's per-module loader hooks
// (bench/startup.ts); if it cannot be built or written, tsx runs the sources as before.
// MODELGATE_NO_BUNDLE=1 always uses tsx.
// `npx` and npm scripts put the Node 24 of the `node` devDependency first on PATH; run any other
// way on an older Node (`node bin/modelgate.mjs`, `./bin/modelgate.mjs`), this re-runs itself
// with that Node 24 rather than fail on the APIs older ones lack.
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import * as nodeModule from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const needed = 24;
if (Number(process.versions.node.split(".")[0]) < needed) {
  let node;
  try {
    node = join(dirname(nodeModule.createRequire(import.meta.url).resolve("node/package.json")), "bin", "node");
  } catch {
    process.stderr.write(`modelgate: needs Node ${needed}+ (this is ${process.version}); run \`npm install\`, then \`npx modelgate\`\n`);
    process.exit(1);
  }
  const child = spawn(node, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
  // The gateway finishes running calls on SIGTERM/SIGINT: pass them on and wait for it.
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
  child.on("error", (err) => {
    process.stderr.write(`modelgate: cannot run ${node}: ${err.message}\n`);
    process.exit(1);
  });
} else {
  // V8's code cache on disk (Node's module compile cache, in the OS temp folder): compiling the
  // dependencies' and the bundle's JavaScript is most of what a start costs once tsx is gone.
  // (A namespace import: a named one would not even parse on the old Node that the branch above re-runs.)
  nodeModule.enableCompileCache?.();
  const bundle = process.env.MODELGATE_NO_BUNDLE ? undefined : await freshBundle().catch(() => undefined);
  if (bundle !== undefined) {
    await import(pathToFileURL(bundle).href);
  } else {
    const { register } = await import("tsx/esm/api");
    register();
    await import("../src/main.ts");
  }
}

/** The newest modification time (ms) of the files under `dir`. */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * The path of an up-to-date bundle of src/main.ts, built if missing or older than a file under
 * src/ or gen/. Built to a temporary name and renamed, so processes starting at once never
 * read a half-written file. Throws if esbuild is missing or the build fails.
 */
async function freshBundle() {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const out = join(root, "node_modules", ".cache", "modelgate", "main.mjs");
  let built = 0;
  try {
    built = statSync(out).mtimeMs;
  } catch {
    // not built yet
  }
  if (built > Math.max(newest(join(root, "src")), newest(join(root, "gen")), statSync(fileURLToPath(import.meta.url)).mtimeMs)) return out;
  const esbuild = await import("esbuild");
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp.mjs`;
  try {
    await esbuild.build({
      entryPoints: [join(root, "src", "main.ts")],
      outfile: tmp,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node24",
      packages: "external",
      // No keepNames (tsx's default): it wraps every function expression in __name(), a
      // defineProperty that costs each closure made per call ~300 bytes and some CPU (issue 11).
      // Errors set their own `name`; stack traces take names from the code, not that property.
      sourcemap: "inline",
      logLevel: "silent",
    });
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
    // esbuild's build service is a child process (~150 MB RSS) that would otherwise live as long
    // as the gateway.
    await esbuild.stop();
  }
  return out;
}
