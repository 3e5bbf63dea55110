// The message compressions the gateway accepts and answers with: connect-node's gzip and brotli,
// and gRPC's "deflate" (the zlib format, RFC 1950, as gRPC core writes it), which clients built on
// gRPC core (Python grpcio, Ruby, C++, PHP) can be set to send. Without it such a client gets
// UNIMPLEMENTED "unknown compression".
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";

const deflate = promisify(zlib.deflate);
const inflate = promisify(zlib.inflate);

/** gRPC's "deflate", with connect-node's limits and error codes for gzip (compression.js). */
export const compressionDeflate: Compression = {
  name: "deflate",
  compress: async (bytes) => new Uint8Array(await deflate(bytes)),
  async decompress(bytes, readMaxBytes) {
    if (bytes.length === 0) return new Uint8Array(0);
    try {
      return new Uint8Array(await inflate(bytes, { maxOutputLength: readMaxBytes }));
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === "ERR_BUFFER_TOO_LARGE") {
        throw new ConnectError(`message is larger than configured readMaxBytes ${readMaxBytes} after decompression`, Code.ResourceExhausted, undefined, undefined, err);
      }
      throw new ConnectError("decompression failed", code === "Z_DATA_ERROR" ? Code.InvalidArgument : Code.Internal, undefined, undefined, err);
    }
  },
};

/** In the order a server prefers them when a client accepts several. */
export const acceptedCompressions: Compression[] = [compressionGzip, compressionBrotli, compressionDeflate];
