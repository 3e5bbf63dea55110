// connect-node's adapter, plus two corrections to what reaches the wire. Both are fixed here,
// in one place, rather than worked around by each client:
//  1. A request whose protobuf bytes cannot be decoded is the caller's fault: connect-es
//     reports it as INTERNAL ("parse binary: ..."); we answer INVALID_ARGUMENT, as we do for
//     bad JSON. (Server streams are caught earlier, in the errors interceptor.)
//  2. gRPC's `grpc-message` is percent-encoded only outside printable ASCII (gRPC HTTP/2 spec);
//     connect-es encodes with encodeURIComponent, which grpc-js decodes with decodeURI and so
//     shows "%3A" for every ':'. We re-encode to the spec, which every client decodes right.
import { Code, ConnectError, createConnectRouter, type ConnectRouter } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
  type ConnectNodeAdapterOptions,
} from "@connectrpc/connect-node";
import type { NodeRequest, NodeResponse, RequestListener } from "./one-port";

export function isParseError(err: ConnectError): boolean {
  return err.code === Code.Internal && err.rawMessage.startsWith("parse binary:");
}

export function createNodeHandler(
  options: Omit<ConnectNodeAdapterOptions, "routes" | "fallback"> & {
    routes: (router: ConnectRouter) => void;
    fallback: (req: NodeRequest, res: NodeResponse) => void;
  },
): RequestListener {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  options.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const handler = handlers.get(q < 0 ? url : url.slice(0, q));
    if (!handler) {
      options.fallback(req, res);
      return;
    }
    handler(universalRequestFromNodeRequest(req, res, undefined, undefined))
      .then((uRes) => universalResponseToNodeResponse(conform(uRes), res))
      .catch((reason: unknown) => {
        // Aborted: the client went away while we were writing; nothing left to tell anyone.
        if (ConnectError.from(reason).code !== Code.Aborted) res.destroy();
      });
  };
}

function conform(uRes: UniversalServerResponse): UniversalServerResponse {
  const contentType = uRes.header?.get("content-type") ?? "";
  if (contentType.startsWith("application/grpc-web")) {
    return uRes.body ? { ...uRes, body: mapChunks(uRes.body, fixGrpcWebTrailerFrame) } : uRes;
  }
  if (contentType.startsWith("application/grpc")) {
    const trailer = uRes.trailer;
    if (!trailer) return uRes;
    if (!uRes.body) {
      fixGrpcTrailer(trailer);
      return uRes;
    }
    const body = uRes.body;
    return {
      ...uRes,
      body: (async function* () {
        yield* body;
        fixGrpcTrailer(trailer);
      })(),
    };
  }
  if (uRes.status === 500 && uRes.body) {
    const fixed = { ...uRes };
    fixed.body = fixConnectErrorBody(uRes.body, fixed);
    return fixed;
  }
  return uRes;
}

async function* mapChunks(body: AsyncIterable<Uint8Array>, fn: (chunk: Uint8Array) => Uint8Array) {
  for await (const chunk of body) yield fn(chunk);
}

function fixGrpcTrailer(trailer: Headers): void {
  const status = trailer.get("grpc-status");
  const message = trailer.get("grpc-message");
  if (message === null) return;
  const text = safeDecode(message);
  if (status === String(Code.Internal) && text.startsWith("parse binary:")) {
    trailer.set("grpc-status", String(Code.InvalidArgument));
  }
  trailer.set("grpc-message", grpcPercentEncode(text));
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** gRPC-Web carries trailers in a final frame with flag 0x80 (uncompressed: exactly 0x80). */
function fixGrpcWebTrailerFrame(chunk: Uint8Array): Uint8Array {
  if (chunk.length < 5 || chunk[0] !== 0x80) return chunk;
  const headers = new Headers();
  for (const line of textDecoder.decode(chunk.subarray(5)).split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  if (!headers.has("grpc-message")) return chunk;
  fixGrpcTrailer(headers);
  let text = "";
  headers.forEach((value, key) => (text += `${key}: ${value}\r\n`));
  const data = textEncoder.encode(text);
  const frame = new Uint8Array(5 + data.length);
  frame[0] = 0x80;
  new DataView(frame.buffer).setUint32(1, data.length);
  frame.set(data, 5);
  return frame;
}

/** A Connect unary error is a JSON body with HTTP 500 for INTERNAL; a parse error becomes a 400. */
async function* fixConnectErrorBody(body: AsyncIterable<Uint8Array>, uRes: UniversalServerResponse) {
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  const bytes = Buffer.concat(parts);
  try {
    const json = JSON.parse(bytes.toString("utf8")) as { code?: unknown; message?: unknown };
    if (json.code === "internal" && typeof json.message === "string" && json.message.startsWith("parse binary:")) {
      uRes.status = 400;
      uRes.header?.delete("content-length");
      yield textEncoder.encode(JSON.stringify({ ...json, code: "invalid_argument" }));
      return;
    }
  } catch {
    // Not a Connect error body: pass it on unchanged.
  }
  yield bytes;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Percent-encodes '%' and everything outside printable ASCII, byte by byte (gRPC spec). */
export function grpcPercentEncode(text: string): string {
  let out = "";
  for (const byte of textEncoder.encode(text)) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
