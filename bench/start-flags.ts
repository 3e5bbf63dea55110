// The Node flags `npm start` runs the gateway with, read from package.json's "start" script
// ("node <flags> bin/modelgate.mjs"), so that every bench measures the gateway as it ships.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** package.json's "start" script, e.g. "node --max-semi-space-size=8 bin/modelgate.mjs". */
export const startScript: string = (JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start;

/** The flags between `node` and `bin/modelgate.mjs` in the start script. */
export const startNodeFlags: string[] = (() => {
  const words = startScript.split(/\s+/).filter((w) => w !== "");
  const entry = words.indexOf("bin/modelgate.mjs");
  if (words[0] !== "node" || entry < 0) throw new Error(`package.json's start script is not "node [flags] bin/modelgate.mjs": ${startScript}`);
  return words.slice(1, entry);
})();
