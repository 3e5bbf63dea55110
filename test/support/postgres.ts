// A throwaway PostgreSQL for tests. With MODELGATE_TEST_DATABASE_URL set, that server is used
// (each test file gets its own database, dropped afterwards). Otherwise a cluster is created
// with the installed server binaries (Debian: apt-get install -y postgresql) in a temp dir, on a
// random port, and removed afterwards; one cluster serves every test file in a process.
//
// The cluster is owned by a small guard shell whose stdin is a pipe from this process: when we
// close it — in stop(), or because this process died, however it died — the guard stops the
// server and deletes its files. So a killed test run leaves no postgres behind.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./free-port";

export interface TestPostgres {
  /** Creates an empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /**
   * Creates an empty schema (in one database made for this caller) and returns a URL whose
   * connections see only it (search_path). ~1 ms instead of ~100-400 ms for a database, so a
   * suite can give each test its own.
   */
  createSchema(): Promise<string>;
  /** How long the server took to start (0 when MODELGATE_TEST_DATABASE_URL was used). */
  startupMs: number;
  /** Drops the databases made here; stops and deletes the server when the last user is done. */
  stop(): Promise<void>;
}

interface Server {
  adminUrl: string;
  startupMs: number;
  shutdown(): Promise<void>;
}

let shared: Promise<Server> | undefined;
let users = 0;

export async function startTestPostgres(): Promise<TestPostgres> {
  users += 1;
  shared ??= startServer();
  let server: Server;
  try {
    server = await shared;
  } catch (err) {
    users -= 1;
    shared = undefined;
    throw err;
  }
  const created: string[] = [];
  const createDatabase = async () => {
    const name = `test_${randomBytes(6).toString("hex")}`;
    await withAdmin(server.adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
    created.push(name);
    const url = new URL(server.adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  };
  let schemaDatabase: Promise<string> | undefined;
  return {
    startupMs: server.startupMs,
    createDatabase,
    async createSchema() {
      schemaDatabase ??= createDatabase();
      const database = await schemaDatabase;
      const name = `test_${randomBytes(6).toString("hex")}`;
      await withAdmin(database, (client) => client.query(`CREATE SCHEMA ${name}`));
      const url = new URL(database);
      url.searchParams.set("options", `-c search_path=${name}`);
      return url.toString();
    },
    async stop() {
      await withAdmin(server.adminUrl, async (client) => {
        for (const name of created) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
      users -= 1;
      if (users === 0) {
        shared = undefined;
        await server.shutdown();
      }
    },
  };
}

async function withAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function startServer(): Promise<Server> {
  const external = process.env.MODELGATE_TEST_DATABASE_URL;
  if (external) return { adminUrl: external, startupMs: 0, shutdown: async () => undefined };
  const started = Date.now();
  const bin = findServerBinaries();
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "modelgate-pg-"));
  if (asRoot) {
    // initdb and postgres refuse to run as root: the cluster belongs to the postgres user.
    const owner = systemUser("postgres");
    chownSync(dir, owner.uid, owner.gid);
  }
  const runAs = (command: string, args: string[]): string[] =>
    asRoot ? ["runuser", "-u", "postgres", "--", command, ...args] : [command, ...args];
  const data = join(dir, "data");
  const guard = startGuard(dir, runAs(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]));
  try {
    run(runAs(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "-N"]));
    const port = await startOnFreePort(bin, data, dir, runAs);
    return {
      adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
      startupMs: Date.now() - started,
      shutdown: () => stopGuard(guard),
    };
  } catch (err) {
    await stopGuard(guard);
    throw err;
  }
}

/** A random free port can be taken by someone else before postgres binds it: try a few. */
async function startOnFreePort(
  bin: string,
  data: string,
  dir: string,
  runAs: (command: string, args: string[]) => string[],
): Promise<number> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const options = [
      `-p ${port}`,
      `-k ${dir}`,
      "-c listen_addresses=127.0.0.1",
      // A test cluster needs no durability: skip every fsync.
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
    ].join(" ");
    try {
      run(runAs(join(bin, "pg_ctl"), ["-D", data, "-l", join(dir, "server.log"), "-w", "-t", "30", "-o", options, "start"]));
      return port;
    } catch (err) {
      lastError = err;
    }
  }
  const log = existsSync(join(dir, "server.log")) ? readFileSync(join(dir, "server.log"), "utf8") : "";
  throw new Error(`test postgres did not start: ${String(lastError)}\n${log.slice(-2000)}`);
}

function findServerBinaries(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")) && existsSync(join(root, v, "bin", "pg_ctl")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest !== undefined) return join(root, newest, "bin");
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))) return dir;
  }
  throw new Error(
    "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH). " +
      "Install them (Debian: apt-get install -y postgresql) or set MODELGATE_TEST_DATABASE_URL to a server to use.",
  );
}

function systemUser(name: string): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error(`running as root, but there is no "${name}" user to own the test cluster (apt-get install -y postgresql creates it)`);
  }
  return { uid: Number(uid), gid: Number(gid) };
}

function run(argv: string[]): void {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error("empty command");
  const result = spawnSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${argv.join(" ")} exited with ${result.status}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
}

/**
 * Waits for its stdin to close, then stops the server and removes `dir`. Detached, so it
 * outlives this process (and a kill of its process group) long enough to clean up.
 */
function startGuard(dir: string, stopCommand: string[]): ChildProcess {
  const quoted = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const script = `cat >/dev/null; ${stopCommand.map(quoted).join(" ")} >/dev/null 2>&1; rm -rf ${quoted(dir)}`;
  const guard = spawn("sh", ["-c", script], { stdio: ["pipe", "ignore", "ignore"], detached: true });
  guard.unref();
  // The pipe must not keep the test process alive either.
  if (guard.stdin instanceof Socket) guard.stdin.unref();
  return guard;
}

function stopGuard(guard: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (guard.exitCode !== null || guard.signalCode !== null) return resolve();
    guard.once("exit", () => resolve());
    // Keep this process alive until the guard has cleaned up.
    guard.ref();
    guard.stdin?.end();
  });
}
