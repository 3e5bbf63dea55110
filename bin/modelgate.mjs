#!/usr/bin/env node
// Runs the TypeScript entry point through tsx, so `npx modelgate` works without a build step.
// `npx` and npm scripts put the Node 24 of the `node` devDependency first on PATH; run any other
// way on an older Node (`node bin/modelgate.mjs`, `./bin/modelgate.mjs`), this re-runs itself
// with that Node 24 rather than fail on the APIs older ones lack.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const needed = 24;
if (Number(process.versions.node.split(".")[0]) < needed) {
  let node;
  try {
    node = join(dirname(createRequire(import.meta.url).resolve("node/package.json")), "bin", "node");
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
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/main.ts");
}
