// The README's "Calling modelgate from your language" snippets stay cut from tested code: each
// block follows a `<!-- snippet-source: FILE... -->` line, and every line of the block that is
// not blank or a comment must appear, as a whole line (trimmed), in one of those files: the
// clients test/interop/polyglot.spec.ts and test/browser run.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const readme = readFileSync(`${root}/README.md`, "utf8");

interface Snippet {
  lang: string;
  sources: string[];
  lines: string[];
}

function snippets(): Snippet[] {
  const found: Snippet[] = [];
  const re = /<!-- snippet-source: ([^>]+?) -->\n```(\w+)\n([\s\S]*?)\n```/g;
  for (const m of readme.matchAll(re)) {
    found.push({ lang: m[2]!, sources: m[1]!.trim().split(/\s+/), lines: m[3]!.split("\n") });
  }
  return found;
}

const isComment = (line: string) => line.startsWith("//") || line.startsWith("#");

describe("README client snippets", () => {
  const all = snippets();

  it("has one for TypeScript, the browser, Python, Go, Java and Rust", () => {
    const heading = readme.indexOf("## Calling modelgate from your language");
    expect(heading, "the section heading").toBeGreaterThan(0);
    expect(all.map((s) => s.lang)).toEqual(["ts", "ts", "python", "go", "java", "rust"]);
    for (const name of ["**TypeScript**", "**Browser**", "**Python**", "**Go**", "**Java**", "**Rust**"]) {
      expect(readme.indexOf(name, heading), name).toBeGreaterThan(heading);
    }
  });

  it.each(all.map((s) => [s.sources.join(" "), s] as const))("every code line is in %s", (_, snippet) => {
    const sourceLines = new Set<string>();
    for (const source of snippet.sources) {
      expect(existsSync(`${root}/${source}`), `${source} exists`).toBe(true);
      for (const line of readFileSync(`${root}/${source}`, "utf8").split("\n")) sourceLines.add(line.trim());
    }
    const code = snippet.lines.map((l) => l.trim()).filter((l) => l !== "" && !isComment(l));
    expect(code.length).toBeGreaterThan(2);
    const missing = code.filter((l) => !sourceLines.has(l));
    expect(missing, `README lines not found in ${snippet.sources.join(", ")}`).toEqual([]);
  });
});
