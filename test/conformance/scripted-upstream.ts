// An OpenAI-format upstream on loopback that answers what each test scripts: the next answer
// for a path is queued before the call, so a test can put any shape the real API sends (refusal,
// logprobs, audio, deprecated function_call ...) in front of the gateway. Every request is
// recorded, so request-fidelity checks can compare what reached the upstream.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type Answer =
  | { status?: number; json: unknown; headers?: Record<string, string> }
  /** SSE `data:` events, each JSON-serialised, then `data: [DONE]`. */
  | { sse: unknown[]; done?: boolean };

export interface Recorded {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface ScriptedUpstream {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  requests: Recorded[];
  /** Queues the answer to the next request for `path` (e.g. "/v1/chat/completions"). */
  next(path: string, answer: Answer): void;
  close(): Promise<void>;
}

/** With nothing queued, a path answers a minimal valid body of its kind. */
function defaultAnswer(path: string, body: unknown): Answer {
  const model = (body as { model?: string } | null)?.model ?? "model";
  const stream = (body as { stream?: boolean } | null)?.stream === true;
  if (path.endsWith("/embeddings")) {
    return { json: { object: "list", data: [{ object: "embedding", index: 0, embedding: [0.1, 0.2] }], model, usage: { prompt_tokens: 1, total_tokens: 1 } } };
  }
  if (path.endsWith("/completions") && !path.endsWith("/chat/completions")) {
    const choice = { index: 0, text: "ok", logprobs: null, finish_reason: "stop" };
    const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
    if (stream) return { sse: [{ id: "cmpl-default", object: "text_completion", created: 1700000000, model, choices: [choice] }, { id: "cmpl-default", object: "text_completion", created: 1700000000, model, choices: [], usage }] };
    return { json: { id: "cmpl-default", object: "text_completion", created: 1700000000, model, choices: [choice], usage } };
  }
  const message = { role: "assistant", content: "ok", refusal: null, annotations: [] };
  const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
  if (stream) {
    const base = { id: "chatcmpl-default", object: "chat.completion.chunk", created: 1700000000, model };
    return {
      sse: [
        { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "ok" }, logprobs: null, finish_reason: null }] },
        { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }] },
        { ...base, choices: [], usage },
      ],
    };
  }
  return { json: { id: "chatcmpl-default", object: "chat.completion", created: 1700000000, model, choices: [{ index: 0, message, logprobs: null, finish_reason: "stop" }], usage } };
}

export async function startScriptedUpstream(): Promise<ScriptedUpstream> {
  const queues = new Map<string, Answer[]>();
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const text = Buffer.concat(parts).toString("utf8");
      let body: unknown;
      try {
        body = text === "" ? undefined : (JSON.parse(text) as unknown);
      } catch {
        body = text;
      }
      requests.push({ path, headers: req.headers, body });
      const answer = queues.get(path)?.shift() ?? defaultAnswer(path, body);
      if ("sse" in answer) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        for (const event of answer.sse) res.write(`data: ${JSON.stringify(event)}\n\n`);
        if (answer.done !== false) res.write("data: [DONE]\n\n");
        res.end();
        return;
      }
      const json = JSON.stringify(answer.json);
      res.writeHead(answer.status ?? 200, { "content-type": "application/json", ...answer.headers });
      res.end(json);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    next(path, answer) {
      const q = queues.get(path) ?? [];
      q.push(answer);
      queues.set(path, q);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
