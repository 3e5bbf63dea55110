// The console's static files through a real gateway (src/surfaces/console.ts, wired in
// src/server/gateway.ts): content types, caching (hashed assets immutable, index.html
// revalidated), the CSP on every answer, gzip, 404s, and no path that escapes the build folder.
// Requests go out raw through node:http so `..` and odd escapes reach the server unnormalised.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleCsp, safeRelative } from "../../src/surfaces/console";
import { echoEndpoints, startGateway, type TestGateway } from "../integration/harness";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(port: number, path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: init.method ?? "GET", headers: init.headers ?? {}, timeout: 5_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

const bigScript = `console.log(${JSON.stringify("x".repeat(4_000))});\n`;
let base: string;
let gw: TestGateway;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "modelgate-console-"));
  const dist = join(base, "dist");
  mkdirSync(join(dist, "assets"), { recursive: true });
  writeFileSync(join(dist, "index.html"), '<!doctype html><title>c</title><script type="module" src="/console/assets/index-AbC123.js"></script>');
  writeFileSync(join(dist, "assets", "index-AbC123.js"), bigScript);
  writeFileSync(join(dist, "assets", "index-AbC123.css"), "body{color:red}");
  writeFileSync(join(dist, "assets", "notes.unknownext"), "x");
  // Beside the build folder: must never be served.
  writeFileSync(join(base, "secret.txt"), "TOP-SECRET");
  process.env["MODELGATE_CONSOLE_DIR"] = dist;
  gw = await startGateway(`endpoints:${echoEndpoints}`);
});

afterAll(async () => {
  await gw?.close();
  delete process.env["MODELGATE_CONSOLE_DIR"];
  rmSync(base, { recursive: true, force: true });
});

describe("console static files", () => {
  it("serves index.html at /console/ with no-cache, the CSP and security headers", async () => {
    const res = await get(gw.port, "/console/");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(res.headers["cache-control"]).toBe("no-cache");
    expect(res.headers["content-security-policy"]).toBe(consoleCsp);
    expect(consoleCsp).toContain("script-src 'self'");
    expect(consoleCsp).toContain("connect-src 'self'");
    expect(consoleCsp).not.toContain("unsafe-inline");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["x-request-id"]).toBeTruthy();
    expect(res.body.toString()).toContain("/console/assets/index-AbC123.js");
    expect((await get(gw.port, "/console/index.html")).headers["cache-control"]).toBe("no-cache");
  });

  it("redirects /console to /console/", async () => {
    const res = await get(gw.port, "/console?x=1");
    expect(res.status).toBe(308);
    expect(res.headers["location"]).toBe("/console/?x=1");
  });

  it("serves hashed assets as immutable with their content type, gzipped when asked", async () => {
    const js = await get(gw.port, "/console/assets/index-AbC123.js", { headers: { "accept-encoding": "gzip, br" } });
    expect(js.status).toBe(200);
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(js.headers["content-encoding"]).toBe("gzip");
    expect(js.headers["vary"]).toBe("accept-encoding");
    expect(gunzipSync(js.body).toString()).toBe(bigScript);
    const plain = await get(gw.port, "/console/assets/index-AbC123.js");
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.body.toString()).toBe(bigScript);
    const css = await get(gw.port, "/console/assets/index-AbC123.css");
    expect(css.headers["content-type"]).toBe("text/css; charset=utf-8");
    // Revalidation by ETag.
    const again = await get(gw.port, "/console/assets/index-AbC123.css", { headers: { "if-none-match": String(css.headers["etag"]) } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
  });

  it("answers HEAD without a body and refuses other methods with 405", async () => {
    const head = await get(gw.port, "/console/", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    const post = await get(gw.port, "/console/", { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers["allow"]).toBe("GET, HEAD");
  });

  it("answers 404 for unknown files and unknown file types", async () => {
    for (const path of ["/console/nope.js", "/console/assets/missing-123.js", "/console/assets", "/console/assets/notes.unknownext"]) {
      const res = await get(gw.port, path);
      expect(res.status, path).toBe(404);
      expect(res.headers["content-security-policy"], path).toBe(consoleCsp);
    }
  });

  it("never serves a file outside the build folder", async () => {
    const attempts = [
      "/console/../secret.txt",
      "/console/..%2fsecret.txt",
      "/console/%2e%2e/secret.txt",
      "/console/%2e%2e%2fsecret.txt",
      "/console/assets/..%2F..%2Fsecret.txt",
      "/console/..%5csecret.txt",
      "/console/assets%2f..%2f..%2fsecret.txt",
      "/console/%2fetc%2fpasswd",
      "//console/../secret.txt",
      "/console/index.html%00.js",
      "/console/%E0%A4%A",
      "/console/./index.html",
      "/console/assets//index-AbC123.js",
    ];
    for (const path of attempts) {
      const res = await get(gw.port, path);
      expect(res.body.toString(), path).not.toContain("TOP-SECRET");
      expect([400, 404], path).toContain(res.status);
    }
    expect(safeRelative("a/../../b")).toBeNull();
    expect(safeRelative("..%2f")).toBeNull();
    expect(safeRelative("assets/x.js")).toBe("assets/x.js");
  });

  it("leaves other paths to the rest of the gateway", async () => {
    const res = await get(gw.port, "/consolex");
    expect(res.status).toBe(404);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.headers["content-security-policy"]).toBeUndefined();
  });
});
