// The Dockerfile without a Docker engine (CI's machine runs none): scripts/docker-build-stage.sh
// lints it with hadolint, copies what the build stage COPYs, runs its commands
// (deploy/docker/build.sh, the same script the Dockerfile's RUN runs), lays out the runtime
// stage's read-only root filesystem, starts the gateway from it as an unprivileged user, waits
// for the image's HEALTHCHECK (deploy/docker/healthcheck.mjs, grpc.health.v1 over h2c) to see
// SERVING, makes a Connect and a REST call, loads the web console (built in the image by Vite
// from console/), and stops it with SIGTERM (exit 0). Here: that it
// passes, and that the Dockerfile keeps the properties the script cannot see (non-root USER, the
// volume, the HEALTHCHECK).
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dockerfile = readFileSync(`${root}/Dockerfile`, "utf8");

let result: { code: number | string; stdout: string; stderr: string };

beforeAll(async () => {
  result = await new Promise((resolve) => {
    // Node 24 (this process's) first on PATH, as the image's.
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env["PATH"] ?? ""}` };
    execFile("bash", [`${root}/scripts/docker-build-stage.sh`], { cwd: root, env, timeout: 540_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : (err.code ?? err.signal ?? "failed");
      resolve({ code, stdout, stderr });
    });
  });
}, 600_000);

const tail = (text: string) => text.trimEnd().split("\n").slice(-40).join("\n");

describe("Dockerfile", () => {
  it("builds, starts read-only as non-root, reports SERVING to its HEALTHCHECK, serves, and drains on SIGTERM", () => {
    expect(result.code, tail(`${result.stdout}\n${result.stderr}`)).toBe(0);
    expect(result.stdout).toContain("hadolint Dockerfile: clean");
    expect(result.stdout).toContain("HEALTHCHECK: SERVING on 127.0.0.1:");
    expect(result.stdout).toContain("Connect Chat: ok");
    expect(result.stdout).toContain("MLflow REST invocations: ok");
    expect(result.stdout).toMatch(/^Console: ok \(\/console\/ and \/console\/assets\/index-[\w-]+\.js\)$/m);
    expect(result.stdout).toContain("SIGTERM: drained, exit 0");
    expect(result.stdout.trimEnd().split("\n").at(-1)).toBe("docker-build-stage: ok");
  });

  it("is multi-stage on node:24-slim, runs as a numeric non-root user, declares the volume and a gRPC HEALTHCHECK", () => {
    const instructions = dockerfile
      .split("\n")
      .filter((l) => /^[A-Z]+\s/.test(l))
      .map((l) => l.split(/\s+/)[0]);
    expect(instructions.filter((i) => i === "FROM")).toHaveLength(2);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-slim$/m);
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\} AS build$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/out\/ \/$/m);
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    expect(dockerfile).toMatch(/^VOLUME \["\/var\/lib\/modelgate"\]$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .* CMD \["node", "\/app\/healthcheck.mjs"\]$/m);
    // The build stage builds the console from its sources (never a dist/ from the context).
    expect(dockerfile).toMatch(/^COPY console \.\/console$/m);
    // The last USER comes after every RUN of the runtime stage (nothing runs as root at start).
    expect(dockerfile.lastIndexOf("\nUSER ")).toBeGreaterThan(dockerfile.lastIndexOf("\nRUN "));
  });

  it("keeps local state and tooling out of the build context", () => {
    const ignored = readFileSync(`${root}/.dockerignore`, "utf8").split("\n");
    for (const entry of [".git", "**/node_modules", ".modelgate", "test", "console/dist"]) expect(ignored).toContain(entry);
    expect(ignored).not.toContain("console");
  });
});
