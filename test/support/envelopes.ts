// The length-prefixed envelopes of gRPC and of Connect streams: a flags byte, the length
// (big-endian uint32), the message.

export function envelope(flags: number, data: Uint8Array): Buffer {
  const b = Buffer.alloc(5 + data.length);
  b[0] = flags;
  b.writeUInt32BE(data.length, 1);
  b.set(data, 5);
  return b;
}

/** The envelopes of a response body. */
export function envelopes(body: Buffer): { flags: number; data: Buffer }[] {
  const out: { flags: number; data: Buffer }[] = [];
  for (let i = 0; i < body.length; ) {
    const len = body.readUInt32BE(i + 1);
    out.push({ flags: body[i]!, data: body.subarray(i + 5, i + 5 + len) });
    i += 5 + len;
  }
  return out;
}

/**
 * A gRPC-Web text-mode body's base64 pieces: the gateway pads each answer chunk on its own, and
 * Node's decoder stops at the first "=", so each piece is decoded apart (base64Decode).
 */
export function base64Pieces(text: string): string[] {
  return text.match(/[A-Za-z0-9+/]+={0,2}/g) ?? [];
}

/** The bytes of a text-mode body: its base64 pieces, each decoded, in order. */
export function base64Decode(pieces: string[]): Buffer {
  return Buffer.concat(pieces.map((p) => Buffer.from(p, "base64")));
}
