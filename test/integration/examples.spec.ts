// Every example in README.md and config/ runs as written, so an edit that breaks one fails here:
//  - each config/*.yaml starts with the command and the variables its own header names (and the
//    header names exactly the variables the file reads);
//  - README's shell lines that talk to a gateway (127.0.0.1:8080) run against `npm start` on a
//    free port, its Python blocks with the interop venv's python, its `npx modelgate` lines on a
//    scratch copy of the project (their own working directory, so their store and files land
//    there), and its YAML blocks load.
// The commands are read from the files; the only substitutions are the port and, after
// `keys create`, the id it printed for the README's placeholder id.
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import { interopPython } from "../interop/python-env";

const root = fileURLToPath(new URL("../..", import.meta.url));
const readme = readFileSync(join(root, "README.md"), "utf8");

interface CodeBlock {
  lang: string;
  body: string;
  /** 1-based line of the opening fence, for messages. */
  line: number;
}

function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const fence = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) {
    blocks.push({ lang: m[1]!, body: m[2]!, line: markdown.slice(0, m.index).split("\n").length });
  }
  return blocks;
}

/** The commands of a shell block: `\`-continued lines joined; comment and blank lines dropped. */
function shellCommands(body: string): string[] {
  return body
    .replace(/\\\n\s*/g, "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** A command without its trailing `# comment` (a `#` outside quotes, after a space). */
function withoutComment(command: string): string {
  let quote: string | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(command[i - 1]!))) return command.slice(0, i).trimEnd();
  }
  return command;
}

/** Every `$NAME` / `${NAME}` value in a YAML document: the variables it reads. */
function referencedVariables(yamlText: string): Set<string> {
  const names = new Set<string>();
  const visit = (v: unknown): void => {
    if (typeof v === "string") {
      const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$/.exec(v);
      if (m) names.add((m[1] ?? m[2])!);
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === "object") Object.values(v).forEach(visit);
  };
  visit(parse(yamlText));
  return names;
}

/** The environment of a user who has set none of what the examples configure. */
function cleanEnv(unset: Iterable<string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of [...unset, "MODELGATE_CONFIG", "MODELGATE_DATABASE_URL", "MODELGATE_REDIS_URL", "PORT", "LOG_LEVEL"]) {
    delete env[name];
  }
  return env;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with bash, stdin closed; one that is still running after a minute is killed. */
function runShell(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-c", command], { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n(killed: still running after 60 s)`;
      process.kill(-child.pid!, "SIGKILL");
    }, 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A gateway started by a shell command, in its own process group (npm, sh, node). */
interface Started {
  child: ChildProcess;
  port: () => Promise<number>;
  out: () => string;
  stop: () => Promise<void>;
}

const started: Started[] = [];

function startGatewayCommand(command: string, cwd: string, env: NodeJS.ProcessEnv): Started {
  const child = spawn("bash", ["-c", command], { cwd, env, detached: true });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  // 'close', not 'exit': bash or npm may exit before the gateway they started has written its
  // last lines; the pipes close only when every process of the group holding them is gone.
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const handle: Started = {
    child,
    out: () => out,
    async port() {
      for (;;) {
        const m = /"port":(\d+),[^\n]*modelgate listening/.exec(out);
        if (m) return Number(m[1]);
        if (child.exitCode !== null) throw new Error(`\`${command}\` exited ${child.exitCode}:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGTERM");
      await exited;
    },
  };
  started.push(handle);
  return handle;
}

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
});

describe.each(readdirSync(join(root, "config")).filter((f) => /\.ya?ml$/.test(f)))("config/%s", (file) => {
  const text = readFileSync(join(root, "config", file), "utf8");
  // The header: the leading comment lines, `\`-continued lines joined.
  const header = text
    .split("\n")
    .filter((_, i, lines) => lines.slice(0, i + 1).every((l) => l.startsWith("#")))
    .map((l) => l.replace(/^# ?/, ""))
    .join("\n")
    .replace(/\\\n\s*/g, "");
  const runLine = new RegExp(`^\\s*((?:[A-Z_][A-Z0-9_]*=\\S+\\s+)*)(npm start -- --config config/${file.replace(".", "\\.")})\\s*$`, "m").exec(header);
  const assignments = Object.fromEntries(
    (runLine?.[1] ?? "")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]),
  );

  it("its header has the command that runs it, with every variable it reads (and no other)", () => {
    expect(runLine, `no line "[VAR=value ...] npm start -- --config config/${file}" in the header:\n${header}`).not.toBeNull();
    expect(Object.keys(assignments).sort()).toEqual([...referencedVariables(text)].sort());
  });

  it("starts with that command (on a free loopback port) and answers", async () => {
    const gw = startGatewayCommand(`${runLine![0]!.trim()} --host 127.0.0.1 --port 0`, root, cleanEnv(referencedVariables(text)));
    const port = await gw.port();
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(res.status).toBe(200);
    await gw.stop();
    expect(gw.out()).toContain('"msg":"stopped"');
  }, 60_000);
});

describe("README.md", () => {
  const blocks = codeBlocks(readme);
  const commands = blocks.filter((b) => b.lang === "sh").flatMap((b) => shellCommands(b.body));
  // Lines that call a running gateway, and the modelgate CLI; not the set-up, test, lint and
  // benchmark lines (npm install, npm test, ...), which CI runs as such.
  const gatewayCommands = commands.filter((c) => withoutComment(c).includes("127.0.0.1:8080"));
  const cliCommands = commands.filter((c) => c.startsWith("npx modelgate "));
  // Not the client examples: a block right after a `<!-- snippet-source: FILE#REGION -->` line
  // is a region of a tested client (a function, not a script), which
  // test/interop/readme-snippets.spec.ts checks against its source instead.
  const readmeLines = readme.split("\n");
  const isSnippet = (b: CodeBlock) => /^<!-- snippet-source: .* -->$/.test(readmeLines[b.line - 2] ?? "");
  const pythonBlocks = blocks.filter((b) => b.lang === "python" && !isSnippet(b));
  let port = 0;
  const gatewayEnv = cleanEnv([]);

  beforeAll(async () => {
    // "With `npm start` running": the default config, on a free port instead of 8080.
    port = await startGatewayCommand("npm start -- --port 0", root, gatewayEnv).port();
  }, 60_000);

  it("has the examples this test runs (a parsing slip must not make it pass empty)", () => {
    expect(gatewayCommands.length).toBeGreaterThanOrEqual(5);
    expect(cliCommands.filter((c) => c.startsWith("npx modelgate keys ")).length).toBeGreaterThanOrEqual(4);
    expect(cliCommands.filter((c) => c.startsWith("npx modelgate usage ")).length).toBeGreaterThanOrEqual(2);
    expect(cliCommands.filter((c) => c.startsWith("npx modelgate responses ")).length).toBeGreaterThanOrEqual(3);
    expect(pythonBlocks.length).toBeGreaterThanOrEqual(2);
  });

  it("its shell lines against a running gateway succeed with no output on stderr", async () => {
    const hasGrpcurl = (await runShell("command -v grpcurl", root, gatewayEnv)).code === 0;
    for (const written of gatewayCommands) {
      if (written.startsWith("grpcurl ") && !hasGrpcurl) continue; // "if you have it"
      const command = written.replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`);
      const run = await runShell(command, root, gatewayEnv);
      expect({ command: written, code: run.code, stderr: run.stderr }).toEqual({ command: written, code: 0, stderr: "" });
      expect(run.stdout, written).not.toBe("");
      // curl -s exits 0 on an error status: an error body fails the example too.
      expect(run.stdout, written).not.toMatch(/"(code|error)"\s*:/);
      if (written.includes("ChatService/")) expect(run.stdout, written).toContain("\"echo:");
      if (written.includes(" describe modelgate.v1.ChatRequest")) expect(run.stdout).toContain("The name of a configured endpoint");
    }
  }, 120_000);

  it("its Python blocks run with the interop venv (openai, mlflow) and print the echo", async () => {
    const python = await interopPython();
    for (const block of pythonBlocks) {
      const code = block.body.replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`);
      const run = await new Promise<Run>((resolve) => {
        const child = spawn(python, ["-"], { cwd: root, env: gatewayEnv });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("close", (exit) => resolve({ code: exit, stdout, stderr }));
        child.stdin.end(code);
      });
      expect(run.code, `README.md line ${block.line}:\n${run.stderr}`).toBe(0);
      expect(run.stdout, `README.md line ${block.line}`).toContain("echo: hi");
    }
  }, 900_000);

  it("its `npx modelgate` lines run in a fresh folder holding the project", async () => {
    // A scratch folder that is the project for npx (package.json, .npmrc, the code by symlink),
    // so the store (.modelgate/) and `> ledger.csv` land there, not in the checkout. npx installs
    // the project into its cache to link the bin, which runs the `prepare` script (the console
    // build check: scripts/, console/ and gen/ must be there too).
    const dir = mkdtempSync(join(tmpdir(), "modelgate-examples-"));
    const links = ["node_modules", "bin", "config", "scripts", "console", "gen"];
    onTestFinished(() => {
      for (const d of links) unlinkSync(join(dir, d)); // the links, never what they point at
      rmSync(dir, { recursive: true, force: true });
    });
    for (const f of ["package.json", ".npmrc"]) copyFileSync(join(root, f), join(dir, f));
    for (const d of links) symlinkSync(join(root, d), join(dir, d));
    const env = cleanEnv(referencedVariables(readFileSync(join(root, "config/example.yaml"), "utf8")));
    let keyId: string | undefined;
    for (const written of cliCommands) {
      const command = keyId ? written.replaceAll("key_0123abcd", keyId) : written;
      const run = await runShell(command, dir, env);
      expect({ command: written, code: run.code, stderr: run.stderr }).toEqual({ command: written, code: 0, stderr: "" });
      if (written.startsWith("npx modelgate keys create ")) {
        keyId = /^created (key_\w+)/m.exec(run.stdout)?.[1];
        expect(keyId, run.stdout).toBeDefined();
      }
    }
    expect(keyId).toBeDefined();
    expect(existsSync(join(dir, ".modelgate/modelgate.db"))).toBe(true);
    if (cliCommands.some((c) => c.includes("> ledger.csv"))) {
      expect(readFileSync(join(dir, "ledger.csv"), "utf8")).toMatch(/^time,/);
    }
  }, 180_000);

  it("its YAML blocks are configs that load (with a value for each variable they read)", () => {
    const yamlBlocks = blocks.filter((b) => b.lang === "yaml");
    expect(yamlBlocks.length).toBeGreaterThan(0);
    for (const block of yamlBlocks) {
      const env = Object.fromEntries([...referencedVariables(block.body)].map((name) => [name, `example-value-for-${name}`]));
      expect(() => parseConfig(block.body, `README.md line ${block.line}`, modelFactories, env)).not.toThrow();
    }
  });
});
