// A loopback port free right now, for a server started as a child process (it cannot listen on
// port 0 and report back): the tests' Redis, PostgreSQL and MLflow servers, and every bench. A race
// with another process is possible but harmless here.
import { createServer } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
