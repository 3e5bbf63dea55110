// A response body that never ends: 64 KiB blocks of one byte, written as fast as the client
// reads (each 'drain' refills), until the client goes away. For the tests of what the gateway
// holds of an upstream's answer.
import type { ServerResponse } from "node:http";

export function writeForever(res: ServerResponse, byte = 0x61): void {
  const block = Buffer.alloc(64 * 1024, byte);
  const pump = () => {
    while (!res.destroyed && res.write(block));
    if (!res.destroyed) res.once("drain", pump);
  };
  pump();
}
