// A loopback port free right now, for a server a test starts as a child process (it cannot
// listen on port 0 and report back). A race with another process is possible but harmless here.
import { createServer } from "node:net";

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
