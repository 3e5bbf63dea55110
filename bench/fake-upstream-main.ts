// Starts the fake upstream (OpenAI + Anthropic + MLflow wire formats) as a standalone process,
// for benchmarks. Usage: tsx bench/fake-upstream-main.ts [--port N]   (default 0 = any free port)
// Prints "listening http://127.0.0.1:PORT" once ready; exits cleanly on SIGTERM / SIGINT.
// Requests are not recorded (memory stays flat however long the benchmark runs).
import { startFakeUpstream } from "../test/fakes/fake-upstream";

function parsePort(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    let value: string | undefined;
    if (arg === "--port") value = argv[i + 1];
    else if (arg?.startsWith("--port=")) value = arg.slice("--port=".length);
    else continue;
    const port = Number(value);
    if (value === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new Error(`invalid --port: ${String(value)}`);
    }
    return port;
  }
  return 0;
}

async function main(): Promise<void> {
  const fake = await startFakeUpstream({ port: parsePort(process.argv.slice(2)), record: false });
  process.stdout.write(`listening ${fake.url}\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    fake.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`fake upstream failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
