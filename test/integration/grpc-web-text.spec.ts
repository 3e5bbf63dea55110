// gRPC-Web's text mode on the wire (src/server/grpc-web-text.ts): base64 request bodies as
// clients send them (whole, in padded pieces, with line breaks), base64 answers whose decoded
// frames are the binary mode's, and a body that is not base64 refused with INVALID_ARGUMENT.
// The official grpc-web client itself runs in test/browser/connect-web.spec.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ChatRequestSchema, ChatResponseSchema, StreamChatRequestSchema, StreamChatResponseSchema } from "../../gen/modelgate/v1/chat_pb";
import { echoEndpoints, startGateway, type TestGateway } from "./harness";
import { base64Decode, base64Pieces, envelope, envelopes } from "../support/envelopes";
import { h2Once } from "../support/h2-request";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`endpoints:${echoEndpoints}`);
});
afterAll(() => gw.close());

const chatFrame = envelope(0, toBinary(ChatRequestSchema, create(ChatRequestSchema, { endpoint: "chat", messages: [{ role: "user", content: "in text mode" }] })));
const streamFrame = envelope(0, toBinary(StreamChatRequestSchema, create(StreamChatRequestSchema, { endpoint: "chat", messages: [{ role: "user", content: "a b" }] })));

/** The answer's frames: the body decoded as the official client does, in 4-character groups of padded pieces. */
function decodeText(body: string): { flags: number; data: Buffer }[] {
  const pieces = base64Pieces(body);
  for (const piece of pieces) expect(piece.length % 4, `a base64 piece of ${piece.length} characters`).toBe(0);
  return envelopes(base64Decode(pieces));
}

function trailerOf(frames: { flags: number; data: Buffer }[]): Record<string, string> {
  const last = frames.at(-1)!;
  expect(last.flags).toBe(0x80);
  return Object.fromEntries(
    last.data
      .toString()
      .split("\r\n")
      .filter((l) => l !== "")
      .map((l) => [l.slice(0, l.indexOf(":")).trim(), l.slice(l.indexOf(":") + 1).trim()]),
  );
}

async function post(path: string, body: string, contentType = "application/grpc-web-text"): Promise<{ status: number; contentType: string | null; text: string }> {
  const res = await fetch(`${gw.url}/modelgate.v1.ChatService/${path}`, { method: "POST", headers: { "content-type": contentType, "x-grpc-web": "1" }, body });
  return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text() };
}

describe("gRPC-Web text mode", () => {
  it.each([
    ["application/grpc-web-text", chatFrame.toString("base64")],
    ["application/grpc-web-text+proto", chatFrame.toString("base64")],
    // Two pieces, each padded on its own (a client may encode each write apart), with a line break.
    ["application/grpc-web-text", `${chatFrame.subarray(0, 7).toString("base64")}\r\n${chatFrame.subarray(7).toString("base64")}`],
  ])("unary Chat as %s", async (contentType, body) => {
    const res = await post("Chat", body, contentType);
    expect({ status: res.status, contentType: res.contentType }).toEqual({ status: 200, contentType: "application/grpc-web-text+proto" });
    const frames = decodeText(res.text);
    expect(trailerOf(frames)["grpc-status"]).toBe("0");
    expect(fromBinary(ChatResponseSchema, frames[0]!.data).choices[0]?.message?.content).toBe("echo: in text mode");
  });

  it("StreamChat over HTTP/1.1 and HTTP/2: every message, then the trailer, each in base64", async () => {
    const h1 = await post("StreamChat", streamFrame.toString("base64"));
    const h2 = await h2Once(gw.url, { ":method": "POST", ":path": "/modelgate.v1.ChatService/StreamChat", "content-type": "application/grpc-web-text", "x-grpc-web": "1" }, Buffer.from(streamFrame.toString("base64")));
    for (const text of [h1.text, h2.body.toString("latin1")]) {
      const frames = decodeText(text);
      expect(trailerOf(frames)["grpc-status"]).toBe("0");
      const words = frames.slice(0, -1).map((f) => fromBinary(StreamChatResponseSchema, f.data).choices[0]?.delta?.content ?? "");
      expect(words.join("")).toBe("echo: a b");
    }
  });

  it.each([
    ["not base64", "!!!not base64!!!"],
    ["a length that is not a multiple of 4", chatFrame.toString("base64").slice(0, -1)],
    ["padding inside a group", "QQ=A"],
  ])("a body with %s -> INVALID_ARGUMENT in the trailer", async (_name, body) => {
    const res = await post("Chat", body);
    expect(res.status).toBe(200);
    const trailer = trailerOf(decodeText(res.text));
    expect({ status: trailer["grpc-status"], message: decodeURIComponent(trailer["grpc-message"] ?? "") }).toEqual({
      status: "3",
      message: "invalid grpc-web-text request: the body is not base64",
    });
  });
});
