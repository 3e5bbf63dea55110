// A fake OpenAI embeddings upstream (POST /v1/embeddings, OpenAI's request and answer JSON) whose
// vectors the test controls: each input gets the vector of the first rule whose pattern it
// contains (case-insensitive), else `fallback`. For the semantic cache's specs, where a
// paraphrase must land near (or far from) an earlier prompt on purpose. `failing` answers 500
// with OpenAI's error JSON. Records each request's inputs and Authorization header.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface EmbeddingRule {
  /** Matched as a lower-case substring of the input. */
  contains: string;
  vector: number[];
}

export interface FakeEmbeddings {
  url: string;
  rules: EmbeddingRule[];
  fallback: number[];
  /** While true, every request answers 500. */
  failing: boolean;
  /** Inputs of every request, in order. */
  readonly requests: { inputs: string[]; authorization: string | undefined }[];
  reset(): void;
  close(): Promise<void>;
}

export async function startFakeEmbeddings(rules: EmbeddingRule[] = [], fallback: number[] = [0, 0, 0, 1]): Promise<FakeEmbeddings> {
  const requests: FakeEmbeddings["requests"][number][] = [];
  const state = { rules, fallback, failing: false };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.method !== "POST" || req.url !== "/v1/embeddings") return send(404, { error: { message: "not found", type: "invalid_request_error" } });
      let body: { input?: unknown; model?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
      } catch {
        return send(400, { error: { message: "invalid JSON", type: "invalid_request_error" } });
      }
      const inputs = typeof body.input === "string" ? [body.input] : Array.isArray(body.input) ? body.input.filter((s): s is string => typeof s === "string") : [];
      requests.push({ inputs, authorization: req.headers.authorization });
      if (state.failing) return send(500, { error: { message: "The server had an error while processing your request.", type: "server_error" } });
      if (inputs.length === 0) return send(400, { error: { message: "'$.input' is invalid.", type: "invalid_request_error", param: "input" } });
      const data = inputs.map((text, index) => {
        const rule = state.rules.find((r) => text.toLowerCase().includes(r.contains.toLowerCase()));
        return { object: "embedding", index, embedding: rule?.vector ?? state.fallback };
      });
      const tokens = inputs.reduce((n, t) => n + t.split(/\s+/).filter(Boolean).length, 0);
      send(200, { object: "list", data, model: typeof body.model === "string" ? body.model : "", usage: { prompt_tokens: tokens, total_tokens: tokens } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get rules() {
      return state.rules;
    },
    set rules(r) {
      state.rules = r;
    },
    get fallback() {
      return state.fallback;
    },
    set fallback(v) {
      state.fallback = v;
    },
    get failing() {
      return state.failing;
    },
    set failing(v) {
      state.failing = v;
    },
    requests,
    reset() {
      requests.length = 0;
      state.failing = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
