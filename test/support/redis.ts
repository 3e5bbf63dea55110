// Real redis-server instances for tests: each on a random free loopback port, in a temp dir, with
// persistence off. Set MODELGATE_TEST_REDIS_URL to reuse a running Redis instead (tests keep
// their keys apart by prefix). A missing redis-server fails the tests with what to do: never a skip.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port";

export interface TestRedis {
  url: string;
  /** Stops the server this set-up started (nothing when reusing MODELGATE_TEST_REDIS_URL). */
  close(): Promise<void>;
}

/** A server the test controls: it can crash it, freeze it and bring it back on the same port. */
export interface OwnedRedis extends TestRedis {
  port: number;
  /** SIGKILL, as in a crash; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: persistence is off). */
  restart(): Promise<void>;
  /** SIGSTOP: the port stays open but nothing answers (a hung server). */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
}

/** MODELGATE_TEST_REDIS_URL when set, else a fresh server. */
export async function useTestRedis(): Promise<TestRedis> {
  const url = process.env.MODELGATE_TEST_REDIS_URL;
  if (url) return { url, close: async () => {} };
  return startRedisServer();
}

/** Always a fresh server of our own (tests that stop and restart Redis cannot share one). */
export async function startRedisServer(): Promise<OwnedRedis> {
  const dir = await mkdtemp(join(tmpdir(), "modelgate-redis-"));
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 1; !child; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir);
    } catch (err) {
      // Another process may have taken the port between freePort() and redis binding it.
      if (attempt >= 3 || !(err instanceof PortTaken)) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  let proc: ChildProcess = child;
  const killOnExit = () => proc.kill("SIGKILL");
  process.once("exit", killOnExit);

  const kill = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGCONT"); // a frozen process must run to die cleanly
    proc.kill("SIGKILL");
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    restart: async () => {
      await kill();
      proc = await launch(port, dir);
    },
    freeze: () => void proc.kill("SIGSTOP"),
    thaw: () => void proc.kill("SIGCONT"),
    close: async () => {
      process.off("exit", killOnExit);
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

class PortTaken extends Error {}

function launch(port: number, dir: string): Promise<ChildProcess> {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "notice"];
  return new Promise((resolve, reject) => {
    const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const timer = setTimeout(() => fail(new Error(`redis-server on port ${port} not ready within 10 s:\n${output}`)), 10_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(err);
    };
    child.on("error", (err: NodeJS.ErrnoException) => {
      fail(
        err.code === "ENOENT"
          ? new Error(
              "redis-server is not installed: the Redis contract tests need a real server. " +
                "Install it (Debian: apt-get install -y redis-server) or set MODELGATE_TEST_REDIS_URL=redis://host:port",
            )
          : err,
      );
    });
    child.on("exit", (code, signal) => {
      const taken = /Address already in use/i.test(output);
      const err = taken ? new PortTaken(`port ${port} taken`) : new Error(`redis-server exited (${code ?? signal}) before it was ready:\n${output}`);
      fail(err);
    });
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        child.stdout?.off("data", onData);
        child.stdout?.resume(); // keep draining so the pipe never fills and blocks redis
        resolve(child);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  });
}
