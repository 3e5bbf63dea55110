// One HTTP/2 request with node:http2, for tests that look at the frames' contents themselves
// (status, headers, trailers, raw body) rather than through a gRPC or Connect client.
import * as http2 from "node:http2";

export interface H2Answer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Sends `headers` and `body` on `session` and resolves when the stream closes (ended or reset),
 * with what came; rejects on a stream error, or after `timeoutMs` (the stream is cancelled).
 * A GET or HEAD stream ends with its headers (Node's client does that): `body` is not sent then.
 */
export function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: Uint8Array, timeoutMs = 10_000): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const parts: Buffer[] = [];
    req.on("response", (h) => (head = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (b: Buffer) => parts.push(b));
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on("close", () => {
      clearTimeout(timer);
      resolve({ headers: head, trailers, body: Buffer.concat(parts) });
    });
    if (!req.writableEnded) req.end(body);
  });
}

/** h2Request on a connection of its own to `url`, closed after the answer. */
export async function h2Once(url: string, headers: http2.OutgoingHttpHeaders, body: Uint8Array): Promise<H2Answer> {
  const session = http2.connect(url);
  session.on("error", () => {}); // the request's own error says it
  try {
    return await h2Request(session, headers, body);
  } finally {
    session.close();
  }
}
