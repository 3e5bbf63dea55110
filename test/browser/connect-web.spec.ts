// A real browser (Debian's Chromium, driven by playwright-core) runs @connectrpc/connect-web
// against a real gateway: Connect JSON, Connect binary and gRPC-Web, unary and server streaming,
// errors. The page comes from a static server on another port, so every call is cross-origin and
// the gateway's CORS (src/server/cors.ts) is what lets it through, or, with a narrowed
// `server.cors_origins`, what makes the browser refuse it.
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoEndpoints, startGateway, type TestGateway } from "../integration/harness";
import type { PageResults, ProtocolName, ProtocolResults } from "./page/app";

const chromiumPath = process.env["MODELGATE_CHROMIUM"] ?? "/usr/bin/chromium";
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const protocols: ProtocolName[] = ["connect-json", "connect-binary", "grpc-web"];

const pageHtml = `<!doctype html>
<html><head><meta charset="utf-8"><title>modelgate connect-web</title></head>
<body><pre id="result"></pre><script type="module" src="/app.js"></script></body></html>`;

interface PageRun {
  results: PageResults;
  /** The browser console's messages (where Chromium reports a request blocked by CORS). */
  console: string[];
}

/** Serves the page and its bundle: the page's origin, distinct from every gateway's. */
async function startPageServer(bundle: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(pageHtml);
    } else if (path === "/app.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function bundlePage(): Promise<string> {
  const out = await build({
    entryPoints: [fileURLToPath(new URL("./page/app.ts", import.meta.url))],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error("esbuild produced no bundle for test/browser/page/app.ts");
  return file.text;
}

let browser: Browser | undefined;
let pageServer: Server | undefined;
let pageOrigin = "";
let gw: TestGateway | undefined;
/**
 * The setup, awaited by every test: a missing Chromium then fails each test with the message
 * (a failing beforeAll would only report them as skipped).
 */
let ready: Promise<PageRun>;

/** Loads the page against a gateway and returns what it wrote into <pre id="result">. */
async function runPage(gatewayUrl: string): Promise<PageRun> {
  if (!browser) throw new Error("the browser did not start");
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const console: string[] = [];
    const pageErrors: string[] = [];
    page.on("console", (message) => console.push(message.text()));
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(`${pageOrigin}/?base=${encodeURIComponent(gatewayUrl)}`);
    const result = page.locator("#result:not(:empty)");
    await result.waitFor({ timeout: 8_000 });
    expect(pageErrors).toEqual([]);
    return { results: JSON.parse((await result.textContent()) ?? "") as PageResults, console };
  } finally {
    await context.close();
  }
}

function protocolResults(run: PageRun, protocol: ProtocolName): ProtocolResults {
  if (!run.results.ok) throw new Error(`the page failed: ${run.results.fatal}`);
  return run.results.protocols[protocol];
}

async function setUp(): Promise<PageRun> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium not found at ${chromiumPath}: the browser tests need it. Install it with ` +
        "`apt-get install -y chromium` (.ci/run does), or point MODELGATE_CHROMIUM at a Chromium binary.",
    );
  }
  // All pieces settle and each started one is recorded, so afterAll closes it even when another
  // one failed.
  const [bundled, started, launched] = await Promise.allSettled([
    bundlePage(),
    startGateway(`endpoints:${echoEndpoints}`),
    chromium.launch({ executablePath: chromiumPath, args: chromiumArgs }),
  ]);
  if (started.status === "fulfilled") gw = started.value;
  if (launched.status === "fulfilled") browser = launched.value;
  for (const piece of [bundled, started, launched]) if (piece.status === "rejected") throw piece.reason;
  if (bundled.status !== "fulfilled" || !gw) throw new Error("unreachable: setup pieces settled without a value");
  const bundle = bundled.value;
  const gateway = gw;
  const served = await startPageServer(bundle);
  pageServer = served.server;
  pageOrigin = served.origin;
  expect(new URL(pageOrigin).port).not.toBe(String(gateway.port));
  return runPage(gateway.url);
}

beforeAll(() => {
  ready = setUp();
  // Each test awaits `ready` and reports the failure; this keeps it from also going unhandled.
  ready.catch(() => undefined);
});

afterAll(async () => {
  await ready.catch(() => undefined);
  await browser?.close();
  await gw?.close();
  await new Promise<void>((resolve) => (pageServer ? pageServer.close(() => resolve()) : resolve()));
});

describe.each(protocols)("connect-web over %s, cross-origin, default CORS (loopback origins)", (protocol) => {
  it("answers unary Chat, and the page can send and read x-request-id", async () => {
    const chat = protocolResults(await ready, protocol).chat;
    expect(chat).toEqual({
      ok: true,
      value: {
        model: "echo-1",
        content: `echo: hello from ${protocol}`,
        role: "assistant",
        finishReason: "stop",
        usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 },
        // Sent as a custom header (preflight allow-headers) and read back (expose-headers).
        requestIdHeader: `browser-${protocol}`,
      },
    });
  });

  it("streams StreamChat word by word through fetch, usage only on the last message", async () => {
    const stream = protocolResults(await ready, protocol).stream;
    if (!stream.ok) throw new Error(`StreamChat failed: ${JSON.stringify(stream.error)}`);
    const messages = stream.value;
    expect(messages.map((m) => m.content).join("")).toBe("echo: one two three");
    expect(messages.length).toBeGreaterThan(4);
    expect(messages[0]?.role).toBe("assistant");
    expect(messages.some((m) => m.finishReason === "stop")).toBe(true);
    expect(messages.at(-1)?.usage).toEqual({ promptTokens: 3, completionTokens: 4, totalTokens: 7 });
    expect(messages.slice(0, -1).every((m) => m.usage === null)).toBe(true);
  });

  it("reports an unknown endpoint as ConnectError NotFound with the gateway's message", async () => {
    expect(protocolResults(await ready, protocol).unknownEndpoint).toEqual({
      ok: false,
      error: { code: "NotFound", rawMessage: 'unknown endpoint "no-such-endpoint"', causeName: null },
    });
  });
});

describe.each([
  ["text", "application/grpc-web-text, base64 both ways: its default"],
  ["binary", "application/grpc-web+proto"],
] as const)("the official grpc-web client (Google's, npm grpc-web) in %s mode (%s), cross-origin", (format, _wire) => {
  const official = async () => {
    const run = await ready;
    if (!run.results.ok) throw new Error(`the page failed: ${run.results.fatal}`);
    return run.results.officialGrpcWeb[format];
  };

  it("answers unary Chat and passes x-request-id", async () => {
    expect((await official()).chat).toEqual({
      ok: true,
      value: {
        model: "echo-1",
        content: `echo: hello from grpc-web-${format}`,
        role: "assistant",
        finishReason: "stop",
        usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 },
        requestIdHeader: `browser-grpc-web-${format}`,
      },
    });
  });

  it("streams StreamChat", async () => {
    const stream = (await official()).stream;
    if (!stream.ok) throw new Error(`StreamChat failed: ${JSON.stringify(stream.error)}`);
    expect(stream.value.map((m) => m.content).join("")).toBe("echo: one two three");
    expect(stream.value.length).toBeGreaterThan(4);
    expect(stream.value.at(-1)?.usage).toEqual({ promptTokens: 3, completionTokens: 4, totalTokens: 7 });
  });

  it("reports an unknown endpoint as NOT_FOUND with the gateway's message", async () => {
    expect((await official()).unknownEndpoint).toEqual({ ok: false, error: { code: "NotFound", rawMessage: 'unknown endpoint "no-such-endpoint"', causeName: null } });
  });
});

describe("server.cors_origins", () => {
  it("a gateway that does not list the page's origin is refused by the browser", async () => {
    await ready;
    const narrowed = await startGateway(`server: { cors_origins: ["http://allowed.example"] }\nendpoints:${echoEndpoints}`);
    try {
      const run = await runPage(narrowed.url);
      for (const protocol of protocols) {
        const results = protocolResults(run, protocol);
        for (const call of [results.chat, results.stream, results.unknownEndpoint]) {
          // The preflight fails, fetch rejects with a detail-free TypeError, connect-web wraps it.
          expect(call).toEqual({ ok: false, error: { code: "Unknown", rawMessage: "Failed to fetch", causeName: "TypeError" } });
        }
      }
      expect(run.console.some((line) => line.includes("blocked by CORS policy"))).toBe(true);
      expect(run.console.join("\n")).toContain(`from origin '${pageOrigin}'`);
    } finally {
      await narrowed.close();
    }
  });

  it("a gateway that lists the page's exact origin serves it", async () => {
    await ready;
    const listed = await startGateway(`server: { cors_origins: ["http://allowed.example", "${pageOrigin}"] }\nendpoints:${echoEndpoints}`);
    try {
      const run = await runPage(listed.url);
      for (const protocol of protocols) {
        const results = protocolResults(run, protocol);
        expect(results.chat).toMatchObject({ ok: true, value: { content: `echo: hello from ${protocol}`, requestIdHeader: `browser-${protocol}` } });
        expect(results.stream.ok).toBe(true);
        expect(results.unknownEndpoint).toMatchObject({ ok: false, error: { code: "NotFound" } });
      }
      expect(run.console.some((line) => line.includes("CORS"))).toBe(false);
    } finally {
      await listed.close();
    }
  });
});
