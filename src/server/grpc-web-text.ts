// gRPC-Web's text mode (`application/grpc-web-text`, PROTOCOL-WEB.md in grpc/grpc): the same
// frames as `application/grpc-web+proto`, base64-encoded both ways. It is the default mode of the
// official `grpc-web` JavaScript client (protoc-gen-grpc-web's `mode=grpcwebtext`), and its only
// mode with server streaming. connect-es speaks the binary mode only, so a text-mode call is
// translated around connect-es's handler: the request body is decoded as it arrives, and each
// chunk of the answer (messages and the trailer frame) is encoded on its own, padded, as Envoy's
// gRPC-Web filter writes it; the client decodes the answer in 4-character groups.
import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";

const textType = /^application\/grpc-web-text(?:\+proto)?\s*(?:;|$)/i;

/** Whether a request's content-type is gRPC-Web's text mode (`+proto` or bare; there is no JSON text mode). */
export function isGrpcWebText(contentType: string | undefined): boolean {
  return contentType !== undefined && textType.test(contentType);
}

/** The request as connect-es's binary gRPC-Web handler reads it. */
export function fromGrpcWebText(u: UniversalServerRequest): UniversalServerRequest {
  u.header.set("content-type", "application/grpc-web+proto");
  return { ...u, body: decodeBase64Stream(u.body as AsyncIterable<Uint8Array>) };
}

/** The answer in text mode: the same status and headers, its body base64-encoded chunk by chunk. */
export function toGrpcWebText(u: UniversalServerResponse): UniversalServerResponse {
  const header = u.header ?? new Headers();
  if (header.get("content-type")?.startsWith("application/grpc-web") === true) header.set("content-type", "application/grpc-web-text+proto");
  return { ...u, header, body: u.body === undefined ? undefined : encodeBase64Stream(u.body) };
}

async function* encodeBase64Stream(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  for await (const chunk of body) {
    if (chunk.byteLength > 0) yield Buffer.from(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("base64"), "latin1");
  }
}

/** Complete 4-character groups; a group with padding ends a segment (a client may pad each chunk it sends). */
const base64Groups = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

async function* decodeBase64Stream(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let pending = "";
  for await (const chunk of body) {
    pending += Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("latin1").replace(/[\r\n\t ]+/g, "");
    const usable = pending.length - (pending.length % 4);
    if (usable === 0) continue;
    yield decodeGroups(pending.slice(0, usable));
    pending = pending.slice(usable);
  }
  if (pending.length > 0) throw invalidText();
}

function decodeGroups(text: string): Uint8Array {
  // Node's decoder stops at the first "=": decode each padded segment on its own.
  const segments = text.includes("=") ? text.split(/(?<==)(?=[^=])/) : [text];
  const parts: Buffer[] = [];
  for (const segment of segments) {
    if (!base64Groups.test(segment)) throw invalidText();
    parts.push(Buffer.from(segment, "base64"));
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

function invalidText(): ConnectError {
  return new ConnectError("invalid grpc-web-text request: the body is not base64", Code.InvalidArgument);
}
