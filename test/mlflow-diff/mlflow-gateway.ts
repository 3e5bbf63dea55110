// The real MLflow AI Gateway (mlflow[gateway]==3.8.1 from PyPI, pinned with every dependency in
// test/interop/python/requirements-mlflow-gateway.txt), for the differential tests: its venv is
// built once by `test/interop/setup.sh mlflow-gateway` (about two minutes the first time, a
// second after), and each test file starts its own gateway on a free loopback port.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { freePort } from "../support/free-port";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const venv = `${root}test/interop/.bin/venv-mlflow-gateway`;
export const mlflowPython = `${venv}/bin/python`;

/** Environment for MLflow's processes: no telemetry, nothing but loopback. */
export const mlflowEnv = { ...process.env, MLFLOW_DISABLE_TELEMETRY: "true", DO_NOT_TRACK: "true", PYTHONDONTWRITEBYTECODE: "1" };

let ready: Promise<string> | undefined;

/** Builds the venv if needed (idempotent, locked); resolves with its python. */
export function mlflowVenv(): Promise<string> {
  ready ??= (async () => {
    await run("bash", [`${root}test/interop/setup.sh`, "mlflow-gateway"], { timeout: 900_000, maxBuffer: 16 * 1024 * 1024 });
    if (!existsSync(mlflowPython)) throw new Error(`test/interop/setup.sh mlflow-gateway did not create ${mlflowPython}`);
    return mlflowPython;
  })();
  return ready;
}

/** Runs a Python script with the MLflow venv; resolves with stdout (a failing script's too). */
export async function runMlflowPython(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const python = await mlflowVenv();
  try {
    return (await run(python, [script, ...args], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024, env: { ...mlflowEnv, ...env } })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    if (e.stdout) return e.stdout;
    throw new Error(`${script} failed: ${e.stderr ?? String(err)}`);
  }
}

export { freePort };

export interface MlflowGateway {
  url: string;
  /** What the gateway printed (for a failing test's message). */
  log(): string;
  close(): Promise<void>;
}

/**
 * `mlflow gateway start --config-path ... --port ... --workers 1` (one worker: its rate limits are
 * counted per worker). It runs gunicorn and a config watcher as children, so it gets a process
 * group of its own and the whole group is stopped.
 */
export async function startMlflowGateway(configPath: string, env: NodeJS.ProcessEnv = {}): Promise<MlflowGateway> {
  await mlflowVenv();
  const port = await freePort();
  const child: ChildProcess = spawn(`${venv}/bin/mlflow`, ["gateway", "start", "--config-path", configPath, "--host", "127.0.0.1", "--port", String(port), "--workers", "1"], {
    env: { ...mlflowEnv, ...env },
    // Beside its config, not in the project: MLflow makes an ./mlruns folder where it runs.
    cwd: dirname(configPath),
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout!.on("data", (b: Buffer) => output.push(b.toString()));
  child.stderr!.on("data", (b: Buffer) => output.push(b.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once("exit", () => {
    exited = true;
    resolve();
  }));
  const url = `http://127.0.0.1:${port}`;
  const gateway: MlflowGateway = {
    url,
    log: () => output.join(""),
    async close() {
      if (exited) return;
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // already gone
        }
      }, 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
  // Ready when /health answers; gone if the process ends first.
  for (;;) {
    if (exited) throw new Error(`mlflow gateway start exited:\n${gateway.log()}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) return gateway;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
