// The Python interpreter for interop tests: the venv that test/interop/setup.sh builds (grpcio,
// grpcio-tools, mlflow-skinny, openai). Built on first use; a missing python3 fails the test.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const here = fileURLToPath(new URL(".", import.meta.url));
const venvPython = `${here}.venv/bin/python`;

let ready: Promise<string> | undefined;

export function interopPython(): Promise<string> {
  const override = process.env["MODELGATE_INTEROP_PYTHON"];
  if (override) return Promise.resolve(override);
  ready ??= (async () => {
    await run("bash", [`${here}setup.sh`], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
    if (!existsSync(venvPython)) throw new Error(`test/interop/setup.sh did not create ${venvPython}`);
    return venvPython;
  })();
  return ready;
}

export interface CheckResult {
  check: string;
  ok: boolean;
  detail: unknown;
}

/** Runs an interop script (which prints one JSON line per check) and collects its results. */
export async function runPythonChecks(script: string, args: string[]): Promise<Map<string, CheckResult>> {
  const python = await interopPython();
  let stdout: string;
  try {
    ({ stdout } = await run(python, [script, ...args], { timeout: 120_000 }));
  } catch (err) {
    stdout = (err as { stdout?: string }).stdout ?? "";
  }
  return new Map(
    stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as CheckResult)
      .map((r) => [r.check, r]),
  );
}
