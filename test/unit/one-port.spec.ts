// The sniffing listener: HTTP/2 preface split over several TCP writes, HTTP/1.1, silence; and
// its limits: timeouts, the connection cap, the per-address key.
import * as http2 from "node:http2";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { clientKey, createOnePortServer, type OnePortServer } from "../../src/server/one-port";

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
    // Resolves only when the server closes the socket (a kept connection times the test out).
    const out = await new Promise<Buffer>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.on("data", () => {});
      socket.on("error", () => {});
      socket.on("close", () => resolve(Buffer.alloc(0)));
    });
    expect(out.length).toBe(0);
  });
});

describe("clientKey (the per-address cap's key)", () => {
  it.each([
    ["127.0.0.1", "127.0.0.1"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["::1", "0:0:0:0::/64"],
    ["2001:db8:aa:bb:1:2:3:4", "2001:db8:aa:bb::/64"],
    ["2001:db8:aa:bb::9", "2001:db8:aa:bb::/64"],
    ["2001:DB8:00aa::", "2001:db8:aa:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
  ])("%s -> %s", (address, key) => {
    expect(clientKey(address)).toBe(key);
  });
  it("no address (the socket is already gone) has no key", () => {
    expect(clientKey(undefined)).toBeUndefined();
  });
});

describe("one-port limits", () => {
  let limited: OnePortServer;
  let limitedPort: number;
  const warnings: object[] = [];
  beforeAll(async () => {
    limited = createOnePortServer(
      (req, res) => {
        if (req.url === "/slow") {
          // A slow streamed answer: a chunk every 400 ms, five times (longer than every timeout).
          res.writeHead(200, { "content-type": "text/plain" });
          let n = 0;
          const timer = setInterval(() => {
            res.write(`${n}`);
            if (++n === 5) {
              clearInterval(timer);
              res.end();
            }
          }, 400);
          return;
        }
        req.resume();
        req.on("end", () => res.end("ok"));
      },
      {
        headersTimeoutMs: 200,
        requestTimeoutMs: 300,
        idleTimeoutMs: 3_000,
        maxConnections: 2,
        log: { warn: (fields) => warnings.push(fields) },
      },
    );
    await new Promise<void>((r) => limited.tcp.listen(0, "127.0.0.1", r));
    limitedPort = (limited.tcp.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    const stopped = limited.stopAccepting();
    limited.destroyAll();
    await stopped;
  });

  function closedWithin(socket: net.Socket, ms = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      if (socket.destroyed) return resolve();
      const timer = setTimeout(() => reject(new Error("not closed in time")), ms);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  it("HTTP/1.1: one byte and silence is closed by the headers timeout", async () => {
    const socket = net.connect(limitedPort, "127.0.0.1");
    socket.on("error", () => {});
    socket.on("connect", () => socket.write("G"));
    socket.resume(); // read the 408 and the close
    await closedWithin(socket);
  });

  it("HTTP/1.1: the keep-alive timeout is the configured idle timeout", async () => {
    const socket = net.connect(limitedPort, "127.0.0.1");
    socket.on("error", () => {});
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString()));
    socket.on("connect", () => socket.write("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    await vi.waitFor(() => expect(text).toMatch(/\r\n\r\nok$/), { timeout: 5_000 });
    expect(text).toMatch(/\r\nkeep-alive: timeout=3\r\n/i);
    socket.destroy();
  });

  it("HTTP/2: a stalled request body gets 408 and a reset; a slow streamed answer is not cut", async () => {
    const session = http2.connect(`http://127.0.0.1:${limitedPort}`);
    session.on("error", () => {});
    const stalled = session.request({ ":method": "POST", ":path": "/", "content-type": "application/json" });
    stalled.on("error", () => {});
    stalled.write("{");
    const status = await new Promise<number | undefined>((resolve) => {
      let s: number | undefined;
      stalled.on("response", (h) => (s = h[":status"]));
      stalled.resume();
      stalled.on("close", () => resolve(s));
    });
    expect(status).toBe(408);

    const slow = session.request({ ":method": "GET", ":path": "/slow" });
    let body = "";
    slow.setEncoding("utf8");
    slow.on("data", (d: string) => (body += d));
    await new Promise((resolve) => slow.on("close", resolve));
    expect(body).toBe("01234");
    session.close();
  });

  it("refuses connections over the global cap at once and logs them once", async () => {
    const open = await Promise.all(
      [1, 2].map(
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(limitedPort, "127.0.0.1", () => resolve(s));
            s.on("error", () => {});
          }),
      ),
    );
    await vi.waitFor(() => expect(limited.stats().connections).toBe(2), { timeout: 5_000 });
    const extras = [1, 2, 3].map(() => {
      const s = net.connect(limitedPort, "127.0.0.1");
      s.on("error", () => {});
      s.resume();
      return s;
    });
    await Promise.all(extras.map((s) => closedWithin(s)));
    expect(limited.stats().refusedGlobal).toBe(3);
    await vi.waitFor(() => expect(warnings.length).toBeGreaterThan(0), { timeout: 10_000 });
    expect(warnings.length).toBeLessThanOrEqual(2);
    for (const s of open) s.destroy();
  });
});
