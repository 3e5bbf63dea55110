// Polyglot gRPC interop: a Python client (grpcio), a Go client (grpc-go), a Java client
// (grpc-java) and a Rust client (tonic), each with stubs generated from proto/, run the same
// checks against real gateways over gRPC h2c and print one JSON line per check
// (test/interop/python/client.py, test/interop/go/*.go, test/interop/java/src, test/interop/rust/src).
// Each check is a test here, failing with the client's own message. test/interop/setup.sh builds
// the venv, the stubs and the Go binary, `setup.sh java` and `setup.sh rust` the other two
// (idempotent, under a second when done); without python3, go, mvn or cargo it fails, and so
// does every test of that language, with its message: CI installs them, a skip would hide a gap.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoEndpoints, eventually, startGateway, type TestGateway } from "../integration/harness";

const root = fileURLToPath(new URL("../..", import.meta.url));
const interop = `${root}/test/interop`;

/** What the clients check, in their order; both print exactly these names. */
const checks = [
  "chat_unary",
  "stream_chat",
  "embed",
  "list_endpoints",
  "not_found",
  "invalid_argument",
  "unauthenticated",
  "authenticated",
  "deadline_exceeded",
  "cancelled",
  "far_deadline",
] as const;

const langs = ["python", "go", "java", "rust"] as const;
type Lang = (typeof langs)[number];

/**
 * The checks each client runs: all also call a method the gateway does not serve (its
 * trailers-only UNIMPLEMENTED, as each gRPC stack reads it); the Java and Rust ones also ask
 * grpc.health.v1; the Python one also compresses with gzip and with gRPC core's deflate.
 */
const checksOf: Record<Lang, readonly string[]> = {
  python: [...checks, "unimplemented", "compression"],
  go: [...checks, "unimplemented"],
  java: [...checks, "health", "unimplemented"],
  rust: [...checks, "health", "unimplemented"],
};

const clientCommand: Record<Lang, [string, ...string[]]> = {
  python: [`${interop}/.venv/bin/python`, "-B", `${interop}/python/client.py`],
  go: [`${interop}/.bin/interop-client-go`],
  java: [`${interop}/.bin/interop-client-java`],
  rust: [`${interop}/.bin/interop-client-rust`],
};

/** The setup.sh arguments that build each client (Python and Go share the default run). */
const setupArgs: Record<Lang, string[]> = { python: [], go: [], java: ["java"], rust: ["rust"] };

/**
 * The endpoints the clients expect (their list_endpoints check names them). "slow" streams a
 * word every 500 ms, so a deadline or a cancel lands mid-stream; the clients' SLOW_DELAY_MS /
 * slowDelay must match.
 */
const slowDelayMs = 500;
const interopEndpoints = `${echoEndpoints}
  - name: slow
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1, config: { stream_delay_ms: ${slowDelayMs} } }
`;
const apiKey = "sk-interop-0123456789abcdef";

interface CheckResult {
  lang: string;
  check: string;
  ok: boolean;
  ms: number;
  error?: string;
}

interface Finished {
  /** The exit code, or the error name (ENOENT ...) when the command could not run. */
  code: number | string;
  stdout: string;
  stderr: string;
}

interface ClientRun extends Finished {
  results: CheckResult[];
}

function runCommand(command: string, args: string[], timeoutMs: number): Promise<Finished> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: root, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : (err.code ?? err.signal ?? "failed");
      resolve({ code, stdout, stderr });
    });
  });
}

const tail = (text: string, lines = 30) => text.trimEnd().split("\n").slice(-lines).join("\n");

const setupFailures = new Map<Lang, string>();
let gw: TestGateway | undefined;
let authGw: TestGateway | undefined;
const runs = new Map<Lang, ClientRun>();

async function runClient(lang: Lang, addr: string, authAddr: string): Promise<ClientRun> {
  const [command, ...args] = clientCommand[lang];
  const flags = lang !== "go" ? ["--addr", addr, "--auth-addr", authAddr, "--api-key", apiKey] : ["-addr", addr, "-auth-addr", authAddr, "-api-key", apiKey];
  const finished = await runCommand(command, [...args, ...flags], 60_000);
  const results = finished.stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as CheckResult);
  return { ...finished, results };
}

beforeAll(async () => {
  // Cold, setup downloads and builds for a minute or two (more with other test files running).
  // Java and Rust: about 1.5 minutes each cold, in parallel with the Python and Go setup.
  const setups = new Map<string, Promise<Finished>>();
  for (const lang of langs) {
    const key = setupArgs[lang].join(" ");
    if (!setups.has(key)) setups.set(key, runCommand("bash", [`${interop}/setup.sh`, ...setupArgs[lang]], 840_000));
  }
  for (const lang of langs) {
    const setup = await setups.get(setupArgs[lang].join(" "))!;
    if (setup.code !== 0) {
      const command = ["test/interop/setup.sh", ...setupArgs[lang]].join(" ");
      setupFailures.set(lang, `${command} failed (${setup.code}):\n${tail(setup.stderr || setup.stdout)}`);
    }
  }
  const ready = langs.filter((lang) => !setupFailures.has(lang));
  if (ready.length === 0) return;
  gw = await startGateway(`endpoints:${interopEndpoints}`);
  authGw = await startGateway(
    `
auth:
  enabled: true
  keys:
    - { name: interop, key: $INTEROP_KEY }
endpoints:${echoEndpoints}`,
    { INTEROP_KEY: apiKey },
  );
  const addr = `127.0.0.1:${gw.port}`;
  const authAddr = `127.0.0.1:${authGw.port}`;
  // Two clients at a time (a JVM starting beside three others can starve a 1.5 s deadline check
  // on a loaded 2-core machine): Python and Go, then Java and Rust.
  for (const pair of [["python", "go"], ["java", "rust"]] as const) {
    const batch = ready.filter((lang) => (pair as readonly Lang[]).includes(lang));
    const finished = await Promise.all(batch.map((lang) => runClient(lang, addr, authAddr)));
    batch.forEach((lang, i) => runs.set(lang, finished[i]!));
  }
}, 900_000);

afterAll(async () => {
  await gw?.close();
  await authGw?.close();
});

function clientRun(lang: Lang): ClientRun {
  const setupFailure = setupFailures.get(lang);
  if (setupFailure !== undefined) throw new Error(setupFailure);
  const run = runs.get(lang);
  if (!run) throw new Error(`the ${lang} client did not run`);
  return run;
}

/** The gateway's log line for one of the client's calls (the clients send x-request-id). */
async function gatewayLine(lang: Lang, check: string): Promise<Record<string, unknown>> {
  clientRun(lang);
  const requestId = `${lang}-${check}`;
  const find = () => gw!.logs.find((l) => l["requestId"] === requestId);
  await eventually(() => find() !== undefined);
  return find()!;
}

describe.each(langs)("%s gRPC client against the gateway", (lang) => {
  it.each(checksOf[lang])("%s", (check) => {
    const run = clientRun(lang);
    const result = run.results.find((r) => r.check === check);
    if (!result) {
      expect.fail(`the ${lang} client reported no result for ${check} (exit ${run.code}); stderr:\n${tail(run.stderr)}`);
    }
    if (!result.ok) expect.fail(`${lang} ${check}: ${result.error ?? "failed with no message"}`);
    expect(result.lang).toBe(lang);
  });

  it("reports each check exactly once and exits 0", () => {
    const run = clientRun(lang);
    expect(run.results.map((r) => r.check), `checks reported; stderr:\n${tail(run.stderr)}`).toEqual([...checksOf[lang]]);
    expect(run.code, `exit code; stderr:\n${tail(run.stderr)}`).toBe(0);
  });

  it("its deadline ended the gateway's stream early", async () => {
    const line = await gatewayLine(lang, "deadline_exceeded");
    expect(line["procedure"]).toBe("modelgate.v1.ChatService/StreamChat");
    // The client's own timer fires with the server's (both from grpc-timeout's start), so the
    // gateway sees either its deadline or the client's RST_STREAM(CANCEL) first.
    // Either way not "ok": the stream was cut short (the clients also count what they got).
    expect(["DeadlineExceeded", "Canceled"]).toContain(line["code"]);
  });

  it("its cancel reached the gateway mid-stream", async () => {
    const line = await gatewayLine(lang, "cancelled");
    expect(line).toMatchObject({ procedure: "modelgate.v1.ChatService/StreamChat", endpoint: "slow", code: "Canceled" });
  });
});
