// A fake OpenAI upstream whose streams stay open: for the streams-memory part of the bench.
// POST /v1/chat/completions with `stream: true` answers 200 text/event-stream, writes the
// role-only chunk and one content chunk ("hold"), then holds the stream open (no more events,
// no [DONE]) until the client goes away. Without `stream` it answers a one-word completion.
// Anything else is a 404.
//
// Usage: tsx bench/hold-upstream.ts [--port N]   (default 0 = any free port)
// Prints "listening http://127.0.0.1:PORT" once ready. Exits on SIGTERM / SIGINT.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string", default: "0" } }, strict: true });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`hold upstream: invalid --port ${values.port}\n`);
  process.exit(2);
}

let seq = 0;

function chunk(id: string, model: string, delta: object): string {
  const c = { id, object: "chat.completion.chunk", created: 0, model, choices: [{ index: 0, delta, finish_reason: null }] };
  return `data: ${JSON.stringify(c)}\n\n`;
}

const server = http.createServer({ keepAliveTimeout: 30_000, noDelay: true }, (req, res) => {
  if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"message":"not found"}}');
    return;
  }
  let raw = "";
  req.setEncoding("utf8");
  req.on("data", (s: string) => (raw += s));
  req.on("end", () => {
    let body: { model?: unknown; stream?: unknown };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      res.writeHead(400, { "content-type": "application/json" }).end('{"error":{"message":"body is not JSON"}}');
      return;
    }
    const model = typeof body.model === "string" ? body.model : "hold-1";
    const id = `chatcmpl-hold${++seq}`;
    if (body.stream !== true) {
      const answer = JSON.stringify({
        id,
        object: "chat.completion",
        created: 0,
        model,
        choices: [{ index: 0, message: { role: "assistant", content: "hold" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(answer) }).end(answer);
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
    res.write(chunk(id, model, { role: "assistant", content: "" }) + chunk(id, model, { content: "hold" }));
  });
});

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
const stop = (): void => {
  server.closeAllConnections();
  server.close();
  setTimeout(() => process.exit(0), 100).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
