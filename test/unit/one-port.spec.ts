// The sniffing listener: HTTP/2 preface split over several TCP writes, HTTP/1.1, silence.
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOnePortServer, type OnePortServer } from "../../src/server/one-port";

let server: OnePortServer;
let port: number;
beforeAll(async () => {
  server = createOnePortServer(
    (req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`v${req.httpVersion}`);
    },
    { sniffTimeoutMs: 200 },
  );
  await new Promise<void>((r) => server.tcp.listen(0, "127.0.0.1", r));
  port = (server.tcp.address() as net.AddressInfo).port;
});
afterAll(async () => {
  const stopped = server.stopAccepting();
  server.destroyAll();
  await stopped;
});

function rawExchange(parts: Buffer[], gapMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks)));
    socket.on("connect", async () => {
      for (const p of parts) {
        socket.write(p);
        await new Promise((r) => setTimeout(r, gapMs));
      }
      setTimeout(() => socket.end(), 100);
    });
  });
}

describe("one-port sniffing", () => {
  it("HTTP/1.1 goes to the http server", async () => {
    const out = await rawExchange([Buffer.from("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")], 0);
    expect(out.toString()).toMatch(/^HTTP\/1.1 200[\s\S]*v1\.1/);
  });

  it("an HTTP/2 preface split into 1-byte and larger writes still reaches http2", async () => {
    const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    // An empty SETTINGS frame follows the preface, as every HTTP/2 client sends.
    const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    const out = await rawExchange([preface.subarray(0, 1), preface.subarray(1, 10), Buffer.concat([preface.subarray(10), settings])], 20);
    // The server's first frame is its SETTINGS frame (type 4).
    expect(out.length).toBeGreaterThanOrEqual(9);
    expect(out[3]).toBe(4);
  });

  it("a silent connection is dropped after the sniff timeout", async () => {
    const started = Date.now();
    const out = await new Promise<Buffer>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.on("data", () => {});
      socket.on("error", () => {});
      socket.on("close", () => resolve(Buffer.alloc(0)));
    });
    expect(out.length).toBe(0);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
