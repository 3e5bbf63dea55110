// A real `mlflow server` (MLflow 3 from PyPI, the venv `bash test/otel/setup.sh mlflow` builds and
// caches outside the clone) on a free port with a throwaway SQLite store, and its Python client
// for set-up steps (registering prompts, moving aliases). Stopped with its process group.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildOnce } from "./build-once";
import { freePort } from "./free-port";

/** The venv test/otel/setup.sh builds (the same hash of its requirements line). */
export function mlflowVenv(): string {
  const requirements = "mlflow==3.8.1 SQLAlchemy==2.0.58";
  const hash = createHash("sha256").update(`${requirements}\n`).digest("hex").slice(0, 16);
  const cache = process.env["MODELGATE_MLFLOW_SERVER_CACHE"] ?? join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "modelgate-mlflow-server");
  return join(cache, hash, "venv");
}

export interface MlflowServer {
  url: string;
  /** Runs a Python snippet with the mlflow client pointed at this server; throws with its output on failure. */
  python(code: string): void;
  /** Runs a Python script of the venv with `args`, in the server's temporary folder; throws with its output on failure. */
  pythonScript(script: string, args: string[], env?: NodeJS.ProcessEnv, timeoutMs?: number): void;
  /** The server's output so far (its access log included), the last 200 KB. */
  output(): string;
  stop(): Promise<void>;
}

/** Builds the venv on first use (`bash test/otel/setup.sh mlflow`, cached outside the clone; needs python3). */
export async function startMlflowServer(): Promise<MlflowServer> {
  const venv = mlflowVenv();
  await buildOnce(join(venv, ".complete"), fileURLToPath(new URL("../otel/setup.sh", import.meta.url)), ["mlflow"]);
  const dir = mkdtempSync(join(tmpdir(), "modelgate-mlflow-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = "";
  // Its own process group: `mlflow server` runs uvicorn as a child, stopped with it.
  const server: ChildProcess = spawn(
    join(venv, "bin", "mlflow"),
    ["server", "--host", "127.0.0.1", "--port", String(port), "--workers", "1", "--backend-store-uri", `sqlite:///${join(dir, "mlflow.db")}`, "--default-artifact-root", join(dir, "artifacts")],
    // cwd: its temporary folder, not the project (MLflow makes an ./mlruns folder where it runs).
    { stdio: ["ignore", "pipe", "pipe"], detached: true, cwd: dir, env: { ...process.env, MLFLOW_TRACKING_URI: "" } },
  );
  server.stdout!.on("data", (c: Buffer) => (output = (output + c.toString()).slice(-200_000)));
  server.stderr!.on("data", (c: Buffer) => (output = (output + c.toString()).slice(-200_000)));
  const running = () => server.exitCode === null && server.signalCode === null;
  const stop = async () => {
    if (server.pid !== undefined && running()) {
      const exited = new Promise((resolve) => server.once("exit", resolve));
      process.kill(-server.pid, "SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (running()) process.kill(-server.pid, "SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const until = Date.now() + 110_000;
  for (;;) {
    if (!running()) throw new Error(`mlflow server exited (${server.exitCode}): ${output.slice(-2000)}`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > until) {
      await stop();
      throw new Error(`mlflow server not ready in time: ${output.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  /** The venv's python with `args`, in the server's folder; throws with its stderr on failure. */
  const runPython = (what: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) => {
    const run = spawnSync(join(venv, "bin", "python"), args, { encoding: "utf8", cwd: dir, timeout: timeoutMs, env: { ...process.env, ...env } });
    if (run.status !== 0) throw new Error(`${what} failed (${run.status ?? run.signal}): ${run.stderr.slice(-2000)}`);
  };
  return {
    url,
    python: (code) => runPython("python", ["-c", code], { MLFLOW_TRACKING_URI: url }, 120_000),
    pythonScript: (script, args, env = {}, timeoutMs = 180_000) => runPython(script, [script, ...args], env, timeoutMs),
    output: () => output,
    stop,
  };
}
