// A stream's first messages leave the process as they are made, not with the burst they are in
// (time to first token): Node corks an HTTP/1.1 response's socket until the next tick, so
// messages made through promise jobs alone (upstream chunks read at once) would otherwise all go
// out in one write after the last one. Counted at the socket: how many writes reach the kernel.
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FLUSHED_MESSAGES } from "../../src/server/node-adapter";
import { streamSse } from "../../src/surfaces/http";

/** `n` messages made by promise jobs only: nothing returns to the event loop between them. */
async function* burst(n: number): AsyncGenerator<{ i: number }> {
  for (let i = 0; i < n; i++) {
    await Promise.resolve();
    yield { i };
  }
}

/** Counts the socket's writes to the kernel (_write for one buffer, _writev for several). */
function countWrites(socket: Socket): { writes: number } {
  const counted = { writes: 0 };
  const s = socket as Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = s._write.bind(s);
  const writev = s._writev.bind(s);
  s._write = (...a) => {
    counted.writes++;
    write(...a);
  };
  s._writev = (...a) => {
    counted.writes++;
    writev(...a);
  };
  return counted;
}

let server: http.Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

async function serveBurst(n: number): Promise<{ writes: number; events: string[] }> {
  let counted: { writes: number } | undefined;
  const done = new Promise<void>((resolve) => {
    server = http.createServer((req, res) => {
      counted = countWrites(req.socket);
      void streamSse(res, burst(n), {}, (m) => m, { errorBody: () => ({}), terminator: "[DONE]" }).then(resolve);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const { port } = server!.address() as AddressInfo;
  const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  await done;
  const events = body.split("\n\n").filter((e) => e !== "");
  return { writes: counted!.writes, events };
}

describe("streamed responses send their first messages at once", () => {
  it("SSE: each of the first messages of a burst is its own write; the rest of the burst leaves together", async () => {
    const { writes, events } = await serveBurst(12);
    expect(events).toHaveLength(13); // 12 messages and [DONE], in order, none lost
    expect(events[0]).toBe('data: {"i":0}');
    expect(events[11]).toBe('data: {"i":11}');
    expect(events[12]).toBe("data: [DONE]");
    // The head with the first message, then the next FLUSHED_MESSAGES - 1 on their own, then the
    // remaining messages, [DONE] and the end in one write (chunked encoding's end may be a second).
    expect(writes).toBeGreaterThanOrEqual(FLUSHED_MESSAGES + 1);
    expect(writes).toBeLessThanOrEqual(FLUSHED_MESSAGES + 2);
  });

  it("a stream shorter than the flushed count is written whole", async () => {
    const { events } = await serveBurst(1);
    expect(events).toEqual(['data: {"i":0}', "data: [DONE]"]);
  });
});
