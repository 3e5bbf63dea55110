// The web console's static files (console/, built by Vite into console/dist) at /console/.
// Only GET/HEAD; hashed files under assets/ are immutable for a year, everything else (index.html)
// is revalidated on every load. Every answer carries a strict Content-Security-Policy: scripts,
// styles and calls from this origin only (the console speaks the gateway's Connect API on the same
// origin), nothing inline, no framing. Paths are decoded once and refused when they leave the
// build folder (`..`, encoded slashes or backslashes, NUL), so no file outside it is ever read.
import { readFileSync, existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { NodeRequest, NodeResponse } from "../server/one-port";

export const CONSOLE_PREFIX = "/console/";

export const consoleCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};
/** Worth compressing on the fly (cached per file version). */
const compressible = new Set([".html", ".js", ".mjs", ".css", ".json", ".map", ".svg", ".txt"]);

/**
 * The console's build folder: MODELGATE_CONSOLE_DIR, else console/dist in the modelgate package
 * this module runs from (found upward, so it works from src/, from bin/'s cached bundle under
 * node_modules/.cache and from the image's /app/dist).
 */
export function defaultConsoleDir(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env["MODELGATE_CONSOLE_DIR"];
  if (configured) return resolve(configured);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: unknown }).name === "modelgate") return join(dir, "console", "dist");
      } catch {
        // not a readable package.json: keep looking upward
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return resolve("console", "dist");
    dir = parent;
  }
}

interface Cached {
  mtimeMs: number;
  size: number;
  body: Buffer;
  gzip: Buffer | null;
}

/** Serves /console and /console/*; returns false for every other path. */
export function consoleHandler(dir: string = defaultConsoleDir()): (req: NodeRequest, res: NodeResponse) => boolean {
  const root = resolve(dir);
  const cache = new Map<string, Cached>();

  return (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const rawPath = q < 0 ? url : url.slice(0, q);
    if (rawPath !== "/console" && !rawPath.startsWith(CONSOLE_PREFIX)) return false;
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "HEAD") {
      send(res, 405, "text/plain; charset=utf-8", `method ${method} not allowed on the console's files`, { allow: "GET, HEAD" });
      return true;
    }
    if (rawPath === "/console") {
      send(res, 308, "text/plain; charset=utf-8", "moved to /console/", { location: CONSOLE_PREFIX + (q < 0 ? "" : url.slice(q)) });
      return true;
    }
    const relative = safeRelative(rawPath.slice(CONSOLE_PREFIX.length));
    if (relative === null) {
      send(res, 400, "text/plain; charset=utf-8", "bad console path");
      return true;
    }
    serveFile(root, relative === "" ? "index.html" : relative, method === "HEAD", req, res, cache).catch(() => {
      if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", "the console file could not be read");
      else res.destroy();
    });
    return true;
  };
}

/**
 * The decoded path under /console/, or null when it is not a plain relative path: `.`/`..`
 * segments, empty segments, backslashes, NUL, control characters or undecodable escapes.
 */
export function safeRelative(encoded: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(encoded);
  } catch {
    return null;
  }
  if (decoded === "") return "";
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(decoded)) return null;
  const segments = decoded.split("/");
  for (const segment of segments) if (segment === "" || segment === "." || segment === "..") return null;
  return decoded;
}

async function serveFile(
  root: string,
  relative: string,
  headOnly: boolean,
  req: NodeRequest,
  res: NodeResponse,
  cache: Map<string, Cached>,
): Promise<void> {
  const path = resolve(root, relative);
  // Belt and braces after safeRelative: the resolved file must be inside the build folder.
  if (!path.startsWith(root + sep)) {
    send(res, 400, "text/plain; charset=utf-8", "bad console path");
    return;
  }
  const ext = extname(path).toLowerCase();
  const type = contentTypes[ext];
  let info;
  try {
    info = await stat(path);
  } catch {
    info = null;
  }
  if (!info?.isFile() || type === undefined) {
    if (relative === "index.html") {
      send(res, 503, "text/plain; charset=utf-8", "the console is not built: run `npm run build:console` (npm install does it)");
    } else {
      send(res, 404, "text/plain; charset=utf-8", `no console file ${JSON.stringify(relative)}`);
    }
    return;
  }
  let entry = cache.get(path);
  if (!entry || entry.mtimeMs !== info.mtimeMs || entry.size !== info.size) {
    const body = await readFile(path);
    entry = { mtimeMs: info.mtimeMs, size: info.size, body, gzip: compressible.has(ext) && body.length > 512 ? gzipSync(body) : null };
    cache.set(path, entry);
  }
  const immutable = relative.startsWith("assets/");
  const headers: Record<string, string> = {
    "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    vary: "accept-encoding",
  };
  const etag = `"${entry.size.toString(16)}-${Math.floor(entry.mtimeMs).toString(16)}"`;
  headers["etag"] = etag;
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304, { ...securityHeaders(), ...headers });
    res.end();
    return;
  }
  const acceptEncoding = req.headers["accept-encoding"];
  const gzip = entry.gzip !== null && typeof acceptEncoding === "string" && /\bgzip\b/.test(acceptEncoding);
  if (gzip) headers["content-encoding"] = "gzip";
  const body = gzip && entry.gzip ? entry.gzip : entry.body;
  res.writeHead(200, { ...securityHeaders(), ...headers, "content-type": type, "content-length": String(body.length) });
  if (headOnly) res.end();
  else res.end(body);
}

function securityHeaders(): Record<string, string> {
  return {
    "content-security-policy": consoleCsp,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
  };
}

function send(res: NodeResponse, status: number, type: string, text: string, extra: Record<string, string> = {}): void {
  const body = Buffer.from(text, "utf8");
  res.writeHead(status, { ...securityHeaders(), "cache-control": "no-store", ...extra, "content-type": type, "content-length": String(body.length) });
  res.end(body);
}
