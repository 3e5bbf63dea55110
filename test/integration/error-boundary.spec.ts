// The gateway's last error boundary: a bug that throws out of the request or stream listener
// (before any surface's own error handling) is logged, answered in the caller's protocol without
// the error's text, and the process keeps serving. The bug is injected by making the request-id
// check throw for one marked request id (vi.mock of src/interceptors/tracing): both listeners call
// it first, the request listener in assignRequestId, the HTTP/2 stream listener when it takes a
// server-streaming gRPC call.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { ChatRequestSchema, ChatService } from "../../gen/modelgate/v1/chat_pb";
import { clientFor, protocols } from "./clients";
import { echoEndpoints, startGateway, type TestGateway } from "./harness";

// vi.mock is hoisted above the imports: its factory can only see hoisted values.
const { FAULT } = vi.hoisted(() => ({ FAULT: "inject-fault" }));

vi.mock("../../src/interceptors/tracing", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/interceptors/tracing")>();
  return {
    ...real,
    saneRequestId: (value: string | null) => {
      if (value === FAULT) throw new Error("injected fault");
      return real.saneRequestId(value);
    },
  };
});

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`endpoints:${echoEndpoints}`);
});
afterAll(() => gw.close());

const request = { endpoint: "chat", messages: [{ role: "user", content: "hi" }] };
const faulty = { headers: { "x-request-id": FAULT } };

async function errorOf(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

function failures(): number {
  return gw.logs.filter((l) => l["msg"] === "request handler failed").length;
}

describe.each(protocols)("a gateway bug over %s", (protocol) => {
  it("unary and server-streaming calls get INTERNAL \"internal error\"; the next call is served", async () => {
    const chat = clientFor(ChatService, protocol, gw.url);
    const before = failures();
    const unary = await errorOf(chat.chat(request, faulty));
    expect({ code: unary.code, message: unary.rawMessage }).toEqual({ code: Code.Internal, message: "internal error" });
    const stream = await errorOf(
      (async () => {
        for await (const _ of chat.streamChat(request, faulty)) void _;
      })(),
    );
    expect({ code: stream.code, message: stream.rawMessage }).toEqual({ code: Code.Internal, message: "internal error" });
    expect(failures()).toBe(before + 2);
    expect((await chat.chat(request)).choices[0]?.message?.content).toContain("hi");
  });
});

describe("a gateway bug seen by other clients", () => {
  it("@grpc/grpc-js: INTERNAL on a unary call and on a server stream (the stream listener's path)", async () => {
    const client = new grpc.Client(new URL(gw.url).host, grpc.credentials.createInsecure());
    const identity = (b: Buffer) => b;
    const body = Buffer.from(toBinary(ChatRequestSchema, create(ChatRequestSchema, request)));
    const metadata = () => {
      const m = new grpc.Metadata();
      m.set("x-request-id", FAULT);
      return m;
    };
    try {
      const unary = await new Promise<grpc.ServiceError>((resolve, reject) => {
        client.makeUnaryRequest("/modelgate.v1.ChatService/Chat", identity, identity, body, metadata(), (e) =>
          e ? resolve(e) : reject(new Error("expected INTERNAL")),
        );
      });
      expect({ code: unary.code, details: unary.details }).toEqual({ code: grpc.status.INTERNAL, details: "internal error" });
      const stream = await new Promise<grpc.ServiceError>((resolve, reject) => {
        const call = client.makeServerStreamRequest("/modelgate.v1.ChatService/StreamChat", identity, identity, body, metadata());
        call.on("data", () => reject(new Error("expected no message")));
        call.on("error", resolve);
        call.on("end", () => reject(new Error("expected INTERNAL")));
      });
      expect({ code: stream.code, details: stream.details }).toEqual({ code: grpc.status.INTERNAL, details: "internal error" });
    } finally {
      client.close();
    }
  });

  it("REST: a JSON 500 that does not carry the error's text", async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": FAULT },
      body: JSON.stringify({ model: "chat", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ code: "internal", message: "internal error" });
  });

  it("logs the error for the operators, and no answer carried it", async () => {
    const logged = gw.logs.filter((l) => l["msg"] === "request handler failed");
    expect(logged.length).toBeGreaterThan(0);
    expect(JSON.stringify(logged[0])).toContain("injected fault");
    const ok = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "chat", messages: [{ role: "user", content: "still up" }] }),
    });
    expect(ok.status).toBe(200);
  });
});
