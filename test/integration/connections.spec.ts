// Connections are bounded in time and number (issue 8, item 3), on a real gateway with short
// timeouts: slow or silent clients are closed, idle HTTP/1.1 and HTTP/2 connections are closed,
// a stalled gRPC request body is answered and reset, the per-address cap refuses the extra
// connection, a rapid-reset flood gets a GOAWAY, and none of it cuts a long streamed answer.
// Every "is closed" assertion allows 10 s, far above the configured few hundred milliseconds.
import * as http2 from "node:http2";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb";
import { parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import { clientFor } from "./clients";
import { eventually, startGateway, type TestGateway } from "./harness";

const closeWithin = 10_000;

const config = `
server:
  headers_timeout_ms: 300
  request_timeout_ms: 600
  idle_timeout_ms: 400
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
  - name: slow-chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1, config: { stream_delay_ms: 700 } }
`;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(config);
});
afterAll(() => gw.close());

interface RawConnection {
  socket: net.Socket;
  /** Everything the server sent. */
  received(): string;
  /** Resolves when the server closes the connection; rejects after `closeWithin`. */
  closed: Promise<void>;
}

function rawConnect(port: number, localAddress?: string): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress });
    const chunks: Buffer[] = [];
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", () => {});
    const closed = new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`the server did not close the connection within ${closeWithin} ms`)), closeWithin);
      socket.once("close", () => {
        clearTimeout(timer);
        done();
      });
    });
    closed.catch(() => {});
    socket.once("connect", () => resolve({ socket, received: () => Buffer.concat(chunks).toString("latin1"), closed }));
    socket.once("error", reject);
  });
}

/** Sends a GET and resolves with the response head once a whole response with that body is in. */
async function get(conn: RawConnection, path: string): Promise<string> {
  const before = conn.received().length;
  conn.socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
  await eventually(() => /\r\n\r\n[\s\S]*\}/.test(conn.received().slice(before)), 5_000);
  return conn.received().slice(before);
}

function h2Connect(url: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", () => {});
    session.once("remoteSettings", () => resolve(session));
    session.once("error", reject);
  });
}

/** One gRPC health check on a raw HTTP/2 session: resolves with grpc-status. */
function rawHealthCheck(session: http2.ClientHttp2Session): Promise<string | undefined> {
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

/** One raw HTTP/2 frame. */
function h2Frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

describe("HTTP/1.1 timeouts", () => {
  it("closes a slowloris connection that trickles header bytes and never finishes them", async () => {
    const conn = await rawConnect(gw.port);
    conn.socket.write("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n");
    // One header byte every 50 ms: the socket is never idle, the headers never complete.
    const trickle = setInterval(() => {
      if (!conn.socket.destroyed) conn.socket.write("x");
    }, 50);
    try {
      await conn.closed;
    } finally {
      clearInterval(trickle);
    }
    expect(conn.received()).toMatch(/^(HTTP\/1\.1 408|$)/);
  });

  it("closes a connection that sent partial headers and went silent", async () => {
    const conn = await rawConnect(gw.port);
    conn.socket.write("GET /health HTTP/1.1\r\nhost: x\r\nx-partial: ");
    await conn.closed;
  });

  it.each([
    ["G", "an HTTP/1.1 request"],
    ["P", "the HTTP/2 preface"],
  ])("closes a connection that sent one byte (%s, the start of %s) and went silent", async (byte) => {
    const conn = await rawConnect(gw.port);
    conn.socket.write(byte);
    await conn.closed;
  });

  it("answers a keep-alive request, then closes the idle connection", async () => {
    const conn = await rawConnect(gw.port);
    expect(await get(conn, "/health")).toMatch(/^HTTP\/1\.1 200/);
    await conn.closed;
  });

  it("closes a connection whose request body never arrives in full (408)", async () => {
    const conn = await rawConnect(gw.port);
    conn.socket.write("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{");
    await conn.closed;
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe("HTTP/2 timeouts", () => {
  it("sends GOAWAY to an idle session and closes it", async () => {
    const session = await h2Connect(gw.url);
    expect(await rawHealthCheck(session)).toBe("0");
    let goaway: number | undefined;
    session.on("goaway", (code) => (goaway = code));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the idle session was not closed")), closeWithin);
      session.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    expect(goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });

  it("still closes an idle session after a few of its streams were reset as they opened", async () => {
    const conn = await rawConnect(gw.port);
    const path = "/modelgate.v1.ChatService/Chat";
    // HEADERS (POST, http, path, authority: literal, not indexed) and RST_STREAM(CANCEL) in one write.
    const block = Buffer.concat([Buffer.from([0x83, 0x86, 0x04, path.length]), Buffer.from(path), Buffer.from([0x01, 1]), Buffer.from("x")]);
    const frames: Buffer[] = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), h2Frame(4, 0, 0, Buffer.alloc(0))];
    for (let id = 1; id <= 9; id += 2) frames.push(h2Frame(1, 0x4, id, block), h2Frame(3, 0, id, Buffer.from([0, 0, 0, 8])));
    conn.socket.write(Buffer.concat(frames));
    await conn.closed;
  });

  it("closes a session that sends the preface and nothing else", async () => {
    const conn = await rawConnect(gw.port);
    conn.socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    conn.socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])); // empty SETTINGS
    await conn.closed;
  });

  it("answers DEADLINE_EXCEEDED and resets a stream whose gRPC length prefix promises more than is sent", async () => {
    const session = await h2Connect(gw.url);
    const req = session.request({ ":method": "POST", ":path": "/modelgate.v1.ChatService/Chat", "content-type": "application/grpc", te: "trailers" });
    const headers: http2.IncomingHttpHeaders[] = [];
    let headEndsStream = false;
    req.on("response", (h, flags) => {
      headers.push(h);
      headEndsStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    req.on("trailers", (h) => headers.push(h));
    req.on("data", () => {});
    req.on("error", () => {});
    // The length prefix says 1,000 bytes; 10 come, and the stream stays open.
    const frame = Buffer.alloc(15);
    frame.writeUInt32BE(1_000, 1);
    req.write(frame);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the stalled stream was not ended")), closeWithin);
      req.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const status = headers.map((h) => h["grpc-status"]).find((s) => s !== undefined);
    expect(status).toBe("4"); // DEADLINE_EXCEEDED
    expect(decodeURIComponent(String(headers.map((h) => h["grpc-message"]).find(Boolean)))).toMatch(/not received in full within 600 ms/);
    // Trailers-only: the head that carries the status ends the stream (what grpc-js needs to read it).
    expect(headEndsStream).toBe(true);
    // The gateway is healthy: a fresh call works (on this session unless it was closed meanwhile).
    const next = session.closed || session.destroyed ? await h2Connect(gw.url) : session;
    expect(await rawHealthCheck(next)).toBe("0");
    next.close();
    session.close();
  });

  it("answers a server stream's (StreamChat, served on the HTTP/2 stream itself) stalled request the same way, with its request id", async () => {
    const session = await h2Connect(gw.url);
    const req = session.request({
      ":method": "POST",
      ":path": "/modelgate.v1.ChatService/StreamChat",
      "content-type": "application/grpc",
      te: "trailers",
      "x-request-id": "stalled-stream-1",
    });
    let head: http2.IncomingHttpHeaders = {};
    let headEndsStream = false;
    req.on("response", (h, flags) => {
      head = h;
      headEndsStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    req.on("data", () => {});
    req.on("error", () => {});
    const frame = Buffer.alloc(15);
    frame.writeUInt32BE(1_000, 1);
    req.write(frame);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the stalled stream was not ended")), closeWithin);
      req.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    expect(head["grpc-status"]).toBe("4"); // DEADLINE_EXCEEDED, trailers-only
    expect(decodeURIComponent(String(head["grpc-message"]))).toMatch(/not received in full within 600 ms/);
    expect(head["x-request-id"]).toBe("stalled-stream-1");
    expect(headEndsStream).toBe(true);
    const next = session.closed || session.destroyed ? await h2Connect(gw.url) : session;
    expect(await rawHealthCheck(next)).toBe("0");
    next.close();
    session.close();
  });
});

describe("long streamed answers", () => {
  const question = "one two three four";
  // 5 words at 700 ms each: ~3.5 s with gaps longer than the idle (400 ms) and request (600 ms) timeouts.
  it.each(["grpc", "connect-json-h1"] as const)("a StreamChat over %s that outlasts every timeout is not cut", async (protocol) => {
    const chat = clientFor(ChatService, protocol, gw.url);
    let text = "";
    for await (const c of chat.streamChat({ endpoint: "slow-chat", messages: [{ role: "user", content: question }] })) {
      text += c.choices.map((d) => d.delta?.content ?? "").join("");
    }
    expect(text).toBe(`echo: ${question}`);
  });

  it("an OpenAI SSE stream over HTTP/1.1 that outlasts every timeout is not cut", async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "slow-chat", stream: true, messages: [{ role: "user", content: question }] }),
    });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain("[DONE]");
    const text = [...body.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join("");
    expect(text).toBe(`echo: ${question}`);
  });
});

describe("rapid reset", () => {
  // A fresh client (its own connection) for each check: an idle session of an earlier client
  // may be closed by the idle timeout (400 ms here) just as it sends, and connect-node does not
  // retry the REFUSED_STREAM that race ends in.
  const check = async () => (await clientFor(Health, "grpc", gw.url).check({})).status;

  it("a flood of HEADERS + RST_STREAM gets a GOAWAY while another client keeps working", async () => {
    expect(await check()).toBe(HealthCheckResponse_ServingStatus.SERVING);

    const flood = await h2Connect(gw.url);
    let goaway: number | undefined;
    flood.on("goaway", (code) => (goaway = code));
    const closed = new Promise<void>((resolve) => flood.once("close", () => resolve()));
    // A call of the flooding client in progress (a slow stream): cut with the session, it is
    // canceled (its client's connection is gone), not an INTERNAL error of the gateway.
    const inFlight = flood.request({
      ":method": "POST",
      ":path": "/modelgate.v1.ChatService/StreamChat",
      "content-type": "application/grpc+json",
      te: "trailers",
      "x-request-id": "cut-by-goaway",
    });
    inFlight.on("error", () => {});
    const message = Buffer.from(JSON.stringify({ endpoint: "slow-chat", messages: [{ role: "user", content: "a b c d e f g h" }] }));
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    inFlight.end(Buffer.concat([prefix, message]));
    await new Promise<void>((resolve) => inFlight.once("response", () => resolve()));
    // 600 resets: under nghttp2's default burst (1,000), over the gateway's.
    let sent = 0;
    let during: Promise<HealthCheckResponse_ServingStatus> | undefined;
    for (let batch = 0; batch < 6 && !flood.closed && !flood.destroyed; batch++) {
      for (let i = 0; i < 100 && !flood.closed && !flood.destroyed; i++) {
        const req = flood.request({ ":method": "POST", ":path": "/modelgate.v1.ChatService/Chat", "content-type": "application/grpc" }, { endStream: false });
        req.on("error", () => {});
        req.close(http2.constants.NGHTTP2_CANCEL);
        sent++;
      }
      during ??= check();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, closeWithin))]);
    expect(sent).toBeGreaterThan(0);
    expect(goaway).toBeDefined();
    expect(goaway).not.toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(flood.destroyed || flood.closed).toBe(true);
    const cut = () => gw.logs.find((l) => l["msg"] === "call" && l["requestId"] === "cut-by-goaway");
    await eventually(() => cut() !== undefined, closeWithin);
    expect(cut()?.["code"]).toBe("Canceled");

    expect(await during).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect(await check()).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });
});

describe("connection caps", () => {
  let capped: TestGateway;
  beforeAll(async () => {
    capped = await startGateway(`
server:
  max_connections_per_ip: 3
  max_connections: 5
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
`);
  });
  afterAll(() => capped.close());

  it("refuses a connection over the per-address cap at once; the open ones keep working", async () => {
    const open = await Promise.all([1, 2, 3].map(() => rawConnect(capped.port)));
    for (const conn of open) expect(await get(conn, "/health")).toMatch(/^HTTP\/1\.1 200/);
    await eventually(() => capped.gateway["server"].stats().connections === 3, 5_000);

    const extra = await rawConnect(capped.port);
    extra.socket.write("GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
    await extra.closed;
    expect(extra.received()).toBe("");

    for (const conn of open) expect(await get(conn, "/health")).toMatch(/^HTTP\/1\.1 200/);
    // Another address still gets in (Linux routes all of 127/8 to loopback).
    const other = await rawConnect(capped.port, "127.0.0.2");
    expect(await get(other, "/health")).toMatch(/^HTTP\/1\.1 200/);
    other.socket.destroy();

    await eventually(() => capped.logs.some((l) => l["msg"] === "connections refused: over the connection cap"), 5_000);
    const line = capped.logs.find((l) => l["msg"] === "connections refused: over the connection cap")!;
    expect(line["refused_over_max_connections_per_ip"]).toBe(1);
    for (const conn of open) conn.socket.destroy();
  });

  it("logs refusals at most once per interval, not once per connection", async () => {
    await eventually(() => capped.gateway["server"].stats().connections === 0, 5_000);
    const open = await Promise.all([1, 2, 3].map(() => rawConnect(capped.port)));
    const before = capped.logs.filter((l) => l["msg"] === "connections refused: over the connection cap").length;
    const extras = await Promise.all(Array.from({ length: 20 }, () => rawConnect(capped.port)));
    await Promise.all(extras.map((e) => e.closed));
    await new Promise((r) => setTimeout(r, 200));
    const after = capped.logs.filter((l) => l["msg"] === "connections refused: over the connection cap").length;
    expect(after - before).toBeLessThanOrEqual(1);
    for (const conn of open) conn.socket.destroy();
  });
});

describe("config", () => {
  const endpoints = "endpoints:\n  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }\n";
  it("has defaults for every limit", () => {
    const { server } = parseConfig(endpoints, "test.yaml", modelFactories, {}).file;
    expect(server).toMatchObject({
      headers_timeout_ms: 10_000,
      request_timeout_ms: 60_000,
      idle_timeout_ms: 65_000,
      max_connections: 480,
      max_connections_per_ip: 120,
      http2_max_concurrent_streams: 256,
    });
  });
  it("refuses a headers timeout longer than the request timeout", () => {
    expect(() => parseConfig(`server: { headers_timeout_ms: 20000, request_timeout_ms: 10000 }\n${endpoints}`, "test.yaml", modelFactories, {})).toThrow(
      /server\.headers_timeout_ms: headers_timeout_ms must not be larger than request_timeout_ms/,
    );
  });
});
