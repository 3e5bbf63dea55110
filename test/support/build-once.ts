// Builds a test dependency with its set-up script when it is missing (the script caches its
// output outside the clone, so this is a no-op after the first run; .ci/run builds them first).
// A failed build fails the tests that need it, with the script's own words: `npm test` on a fresh
// machine builds what it tests rather than skipping it.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";

/** Runs `bash script ...args` unless `built` exists; rejects with the script's output tail. */
export function buildOnce(built: string, script: string, args: string[] = [], timeoutMs = 840_000): Promise<void> {
  if (existsSync(built)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    execFile("bash", [script, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err && existsSync(built)) return resolve();
      const tail = `${stderr}${stdout}`.trim().split("\n").slice(-20).join("\n");
      reject(new Error(`bash ${[script, ...args].join(" ")} did not build ${built}: ${err?.message ?? "no output"}\n${tail}`));
    });
  });
}
