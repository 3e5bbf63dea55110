// The README's "Calling modelgate from your language" examples are regions of tested clients,
// shown verbatim: each block follows a `<!-- snippet-source: FILE#REGION -->` line, and must equal
// the lines between `snippet:begin REGION` and the next `snippet:end` comment in FILE, dedented by
// their common indentation. Every region of those clients is shown. The clients run elsewhere:
// test/interop/polyglot.spec.ts runs the Python, Go, Java and Rust ones (their authenticated check
// calls the example), test/browser the browser page; the TypeScript example runs here.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoEndpoints, eventually, startGateway, type TestGateway } from "../integration/harness";
import { chatExample } from "./typescript/example";

const root = fileURLToPath(new URL("../..", import.meta.url));
const readme = readFileSync(`${root}/README.md`, "utf8");

/** The clients whose regions the README shows, in the README's order. */
const clients = [
  "test/interop/typescript/example.ts",
  "test/browser/page/app.ts",
  "test/interop/python/client.py",
  "test/interop/go/example.go",
  "test/interop/java/src/main/java/modelgate/interop/Example.java",
  "test/interop/rust/src/example.rs",
];

interface Block {
  source: string;
  region: string;
  lang: string;
  body: string;
}

function readmeBlocks(): Block[] {
  const section = readme.slice(readme.indexOf("## Calling modelgate from your language"));
  const end = section.indexOf("\n## ", 1);
  const re = /^<!-- snippet-source: (\S+)#(\S+) -->\n```(\w+)\n([\s\S]*?)^```$/gm;
  return [...section.slice(0, end === -1 ? undefined : end).matchAll(re)].map((m) => ({
    source: m[1]!,
    region: m[2]!,
    lang: m[3]!,
    body: m[4]!,
  }));
}

const beginMarker = /^\s*(?:\/\/|#) snippet:begin (\S+)\s*$/;
const endMarker = /^\s*(?:\/\/|#) snippet:end\s*$/;

/** A file's regions: name -> the lines between its markers, dedented, with a final newline. */
function regionsOf(file: string): Map<string, string> {
  const regions = new Map<string, string>();
  const lines = readFileSync(`${root}/${file}`, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const name = beginMarker.exec(lines[i]!)?.[1];
    if (!name) continue;
    const end = lines.findIndex((l, j) => j > i && endMarker.test(l));
    if (end === -1) throw new Error(`${file}: "snippet:begin ${name}" has no "snippet:end"`);
    if (regions.has(name)) throw new Error(`${file}: two regions named ${name}`);
    const body = lines.slice(i + 1, end);
    const indents = body.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)![0].length);
    const indent = indents.length ? Math.min(...indents) : 0;
    regions.set(name, body.map((l) => l.slice(Math.min(indent, l.length))).join("\n") + "\n");
    i = end;
  }
  return regions;
}

describe("README client snippets", () => {
  const blocks = readmeBlocks();

  it("shows the TypeScript, browser, Python, Go, Java and Rust examples, and every region", () => {
    expect(blocks.map((b) => b.lang)).toEqual(["ts", "ts", "ts", "ts", "python", "go", "java", "rust"]);
    for (const name of ["**TypeScript**", "**Browser**", "**Python**", "**Go**", "**Java**", "**Rust**"]) {
      expect(readme, name).toContain(name);
    }
    const shown = blocks.map((b) => `${b.source}#${b.region}`).sort();
    const regions = clients.flatMap((file) => [...regionsOf(file).keys()].map((name) => `${file}#${name}`)).sort();
    expect(shown).toEqual(regions);
  });

  it.each(blocks.map((b) => [`${b.source}#${b.region}`, b] as const))("%s is shown verbatim", (_, block) => {
    expect(existsSync(`${root}/${block.source}`), `${block.source} exists`).toBe(true);
    const region = regionsOf(block.source).get(block.region);
    expect(region, `region ${block.region} in ${block.source}`).toBeDefined();
    expect(region!.split("\n").length).toBeGreaterThan(4);
    expect(block.body).toBe(region);
  });
});

describe("the README's TypeScript example", () => {
  let gw: TestGateway;
  const apiKey = "sk-readme-0123456789abcdef";

  beforeAll(async () => {
    gw = await startGateway(
      `
auth:
  enabled: true
  keys:
    - { name: readme, key: $README_KEY }
endpoints:${echoEndpoints}`,
      { README_KEY: apiKey },
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("prints the reply, the streamed reply with its usage, and the NOT_FOUND message", async () => {
    let out = "";
    await chatExample(gw.url, apiKey, (text) => (out += text));
    // Against the echo provider: 1 prompt + 2 completion tokens.
    expect(out).toBe('echo: hi\necho: hi\n3 tokens\nnot found: unknown endpoint "no-such-endpoint"\n');
    // The stream's call went through with the key the example sent.
    const streamed = () => gw.logs.find((l) => l["procedure"] === "modelgate.v1.ChatService/StreamChat");
    await eventually(() => streamed() !== undefined);
    expect(streamed()).toMatchObject({ key: "readme", endpoint: "chat", code: "ok" });
  });
});
