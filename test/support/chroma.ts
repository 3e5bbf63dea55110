// A real Chroma server for tests (`chroma run` from PyPI's chromadb, built by chroma-setup.sh):
// on a free loopback port, persisting into a temp dir removed on close. Set
// MODELGATE_TEST_CHROMA_URL to reuse a running server instead (tests keep apart by collection
// name). A missing python3 or a failed build fails the test with the reason: never a skip.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort } from "./free-port";

const run = promisify(execFile);
const setup = fileURLToPath(new URL("./chroma-setup.sh", import.meta.url));

export interface TestChroma {
  /** http://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

let venv: Promise<string> | undefined;

/** The venv with `chroma` (built on first use: up to a few minutes). */
export function chromaVenv(): Promise<string> {
  venv ??= run("bash", [setup], { timeout: 600_000, maxBuffer: 4 * 1024 * 1024 }).then(({ stdout }) => stdout.trim().split("\n").pop()!);
  return venv;
}

export async function useTestChroma(): Promise<TestChroma> {
  const url = process.env.MODELGATE_TEST_CHROMA_URL;
  if (url) return { url, close: async () => {} };
  return startChroma();
}

export async function startChroma(): Promise<TestChroma> {
  const bin = join(await chromaVenv(), "bin", "chroma");
  const dir = await mkdtemp(join(tmpdir(), "modelgate-chroma-"));
  const port = await freePort();
  const child: ChildProcess = spawn(bin, ["run", "--path", dir, "--host", "127.0.0.1", "--port", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const close = async () => {
    process.off("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  for (const until = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 100))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await close();
      throw new Error(`chroma run exited (${child.exitCode ?? child.signalCode}) before serving:\n${output}`);
    }
    try {
      const res = await fetch(`${url}/api/v2/heartbeat`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return { url, close };
    } catch {
      // Not listening yet.
    }
    if (Date.now() > until) {
      await close();
      throw new Error(`chroma run did not answer its heartbeat within 60 s:\n${output}`);
    }
  }
}
