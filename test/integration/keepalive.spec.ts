// HTTP/2 keep-alive PINGs (issue 10): the gateway pings every HTTP/2 session at
// server.http2_keepalive_ms; a peer that answers keeps its session (and may call on it), a peer
// that never answers is closed after server.http2_keepalive_timeout_ms. The idle timeout is set
// far above the test's waits, so only the keep-alive can close a session here. "Is closed"
// allows 10 s against a configured 300 ms.
import * as http2 from "node:http2";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startGateway, type TestGateway } from "./harness";

const closeWithin = 10_000;

const config = `
server:
  idle_timeout_ms: 600000
  http2_keepalive_ms: 100
  http2_keepalive_timeout_ms: 300
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
`;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(config);
});
afterAll(() => gw.close());

/** One raw HTTP/2 frame. */
function h2Frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** The (type, flags) of every whole frame in what an HTTP/2 server sent. */
function frameTypes(bytes: Buffer): { type: number; flags: number }[] {
  const frames: { type: number; flags: number }[] = [];
  for (let at = 0; at + 9 <= bytes.length; ) {
    const length = bytes.readUIntBE(at, 3);
    frames.push({ type: bytes[at + 3]!, flags: bytes[at + 4]! });
    at += 9 + length;
  }
  return frames;
}

function healthCheck(session: http2.ClientHttp2Session): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", te: "trailers" });
    let status: string | undefined;
    req.on("response", (h) => (status ??= h["grpc-status"] as string | undefined));
    req.on("trailers", (h) => (status ??= h["grpc-status"] as string | undefined));
    req.on("data", () => {});
    req.on("error", reject);
    req.on("close", () => resolve(status));
    req.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

describe("HTTP/2 keep-alive", () => {
  it("pings a session whose peer answers, and keeps it open and usable", async () => {
    const session = http2.connect(gw.url);
    session.on("error", () => {});
    let pings = 0;
    let closed = false;
    session.on("ping", () => pings++);
    session.once("close", () => (closed = true));
    try {
      // node:http2 acknowledges every PING by itself; several rounds must pass without a close.
      await eventually(() => pings >= 5, closeWithin);
      expect(closed).toBe(false);
      expect(await healthCheck(session)).toBe("0");
      expect(closed).toBe(false);
    } finally {
      session.destroy();
    }
  });

  it("pings a session with a call in progress too", async () => {
    const session = http2.connect(gw.url);
    session.on("error", () => {});
    let pings = 0;
    session.on("ping", () => pings++);
    // A gRPC stream whose request never ends: the call stays open while pings arrive.
    const req = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Watch", "content-type": "application/grpc", te: "trailers" });
    req.on("data", () => {});
    req.on("error", () => {});
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    try {
      await new Promise<void>((resolve) => req.once("response", () => resolve()));
      const before = pings;
      await eventually(() => pings >= before + 3, closeWithin);
      expect(session.closed).toBe(false);
    } finally {
      session.destroy();
    }
  });

  it("closes a session that acknowledges SETTINGS but never answers a PING", async () => {
    const socket = net.connect({ port: gw.port, host: "127.0.0.1" });
    socket.on("error", () => {});
    const chunks: Buffer[] = [];
    let settingsAcked = false;
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      // Acknowledge the server's SETTINGS once, as a conformant peer would, and nothing else.
      if (!settingsAcked && frameTypes(Buffer.concat(chunks)).some((f) => f.type === 4 && (f.flags & 1) === 0)) {
        settingsAcked = true;
        socket.write(h2Frame(4, 1, 0, Buffer.alloc(0)));
      }
    });
    const closed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the gateway did not close the silent session within ${closeWithin} ms`)), closeWithin);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), h2Frame(4, 0, 0, Buffer.alloc(0))]));
    await closed;
    expect(settingsAcked).toBe(true);
    // It was pinged (a PING without the ACK flag) before it was closed.
    expect(frameTypes(Buffer.concat(chunks)).some((f) => f.type === 6 && (f.flags & 1) === 0)).toBe(true);
    await eventually(() => gw.logs.some((l) => String(l["msg"]).includes("keep-alive PING was not answered")), closeWithin);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^modelgate_http2_keepalive_timeouts 1$/m);
  });
});
