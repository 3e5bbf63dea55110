// The floor: a minimal connect-node server that implements modelgate.v1.ChatService by
// forwarding to an OpenAI-compatible upstream through one undici Agent and mapping the JSON.
// No interceptors, no validation, no logging, no config, no one-port sniffing: what
// connect-node + protobuf-es + undici cost on their own, to compare the gateway against.
//
// Usage: tsx bench/bare-passthrough.ts --upstream http://127.0.0.1:FAKEPORT/v1
//          [--port N] [--grpc-port N] [--plain-port N] [--model NAME] [--api-key KEY]
// Three servers (ports default to 0 = any free port):
//   --port        node:http  with the connect-node handler (HTTP/1.1: Connect JSON / binary, gRPC-Web)
//   --grpc-port   node:http2 cleartext with the same handler (gRPC, Connect over h2)
//   --plain-port  node:http  WITHOUT connect-node: POST /modelgate.v1.ChatService/Chat with a JSON
//                 body, forwarded and mapped by hand. An even lower floor: the cost of the extra
//                 hop itself (node:http + undici + JSON), so the connect-node share can be told apart.
// Prints one line once all listen:
//   listening http://127.0.0.1:H1PORT h2c http://127.0.0.1:H2PORT plain http://127.0.0.1:PLAINPORT
// Exits on SIGTERM / SIGINT.
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createParser } from "eventsource-parser";
import { Agent, request } from "undici";
import {
  ChatService,
  type ChatResponseSchema,
  type StreamChatResponseSchema,
} from "../gen/modelgate/v1/chat_pb";

/** The parts of OpenAI's chat.completion / chat.completion.chunk we map. */
interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}
interface OpenAIChatCompletion {
  id: string;
  model: string;
  choices: { index: number; message: { role: string; content: string | null }; finish_reason: string | null }[];
  usage?: OpenAIUsage | null;
}
interface OpenAIChatChunk {
  id: string;
  model: string;
  choices: { index: number; delta: { role?: string; content?: string | null }; finish_reason: string | null }[] | null;
  usage?: OpenAIUsage | null;
}

type ChatResponseInit = MessageInitShape<typeof ChatResponseSchema>;
type StreamChatResponseInit = MessageInitShape<typeof StreamChatResponseSchema>;

function usageOf(u: OpenAIUsage | null | undefined): ChatResponseInit["usage"] {
  return u ? { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, totalTokens: u.total_tokens } : undefined;
}

interface BarePassthroughOptions {
  /** OpenAI-compatible base URL, e.g. http://127.0.0.1:1234/v1 */
  upstream: string;
  model: string;
  apiKey?: string;
}

type Post = (body: object, signal?: AbortSignal) => ReturnType<typeof request>;

/** One undici Agent (keep-alive pool) for every upstream call. */
function upstreamPost(opts: BarePassthroughOptions): Post {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const url = opts.upstream.replace(/\/+$/, "") + "/chat/completions";
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.apiKey !== undefined) headers["authorization"] = `Bearer ${opts.apiKey}`;
  return async (body, signal) => {
    const res = await request(url, { dispatcher: agent, method: "POST", headers, body: JSON.stringify(body), signal });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new ConnectError(`upstream answered ${res.statusCode}`, Code.Unavailable);
    }
    return res;
  };
}

/** The connect-node routes: ChatService.Chat and StreamChat, forwarded as-is. */
function bareRoutes(opts: BarePassthroughOptions, post: Post): (router: ConnectRouter) => void {
  return (router) => {
    router.service(ChatService, {
      async chat(req, ctx): Promise<ChatResponseInit> {
        const messages = req.messages.map((m) => ({ role: m.role, content: m.content }));
        const res = await post({ model: opts.model, messages }, ctx.signal);
        const j = (await res.body.json()) as OpenAIChatCompletion;
        return {
          id: j.id,
          model: j.model,
          choices: j.choices.map((c) => ({
            index: c.index,
            message: { role: c.message.role, content: c.message.content ?? "" },
            finishReason: c.finish_reason ?? "",
          })),
          usage: usageOf(j.usage),
        };
      },
      async *streamChat(req, ctx): AsyncGenerator<StreamChatResponseInit> {
        const messages = req.messages.map((m) => ({ role: m.role, content: m.content }));
        const res = await post(
          { model: opts.model, messages, stream: true, stream_options: { include_usage: true } },
          ctx.signal,
        );
        const pending: string[] = [];
        const parser = createParser({ onEvent: (e) => pending.push(e.data) });
        const utf8 = new TextDecoder();
        try {
          for await (const bytes of res.body) {
            parser.feed(utf8.decode(bytes as Uint8Array, { stream: true }));
            for (const data of pending) {
              if (data === "[DONE]") return;
              const c = JSON.parse(data) as OpenAIChatChunk;
              yield {
                id: c.id,
                model: c.model,
                choices: (c.choices ?? []).map((ch) => ({
                  index: ch.index,
                  delta: { role: ch.delta.role ?? "", content: ch.delta.content ?? "" },
                  finishReason: ch.finish_reason ?? "",
                })),
                usage: usageOf(c.usage),
              };
            }
            pending.length = 0;
          }
        } finally {
          if (!res.body.destroyed) res.body.destroy();
        }
      },
    });
  };
}

/**
 * No framework: node:http, read the JSON body, forward, answer the Connect JSON shape by hand
 * (proto3 JSON: zero values left out). Only unary Chat; anything else is a 404.
 */
function plainHandler(opts: BarePassthroughOptions, post: Post): http.RequestListener {
  return (req, res) => {
    if (req.method !== "POST" || req.url !== "/modelgate.v1.ChatService/Chat") {
      res.writeHead(404).end();
      return;
    }
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (raw += chunk));
    req.on("end", () => {
      const answer = async (): Promise<string> => {
        const { messages } = JSON.parse(raw) as { messages?: { role?: string; content?: string }[] };
        const upstream = await post({
          model: opts.model,
          messages: (messages ?? []).map((m) => ({ role: m.role ?? "", content: m.content ?? "" })),
        });
        const j = (await upstream.body.json()) as OpenAIChatCompletion;
        const u = j.usage;
        return JSON.stringify({
          id: j.id,
          model: j.model,
          choices: j.choices.map((c) => ({
            ...(c.index !== 0 && { index: c.index }),
            message: { role: c.message.role, content: c.message.content ?? "" },
            ...(c.finish_reason && { finishReason: c.finish_reason }),
          })),
          ...(u && { usage: { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, totalTokens: u.total_tokens } }),
        });
      };
      answer().then(
        (body) => {
          res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
          res.end(body);
        },
        (err: unknown) => {
          const body = JSON.stringify({ code: "unavailable", message: err instanceof Error ? err.message : String(err) });
          res.writeHead(503, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
          res.end(body);
        },
      );
    });
  };
}

function listen(server: http.Server | http2.Http2Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function portArg(value: string | undefined, name: string): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`invalid ${name}: ${value}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      upstream: { type: "string" },
      port: { type: "string" },
      "grpc-port": { type: "string" },
      "plain-port": { type: "string" },
      model: { type: "string", default: "gpt-4o-mini" },
      "api-key": { type: "string" },
    },
    strict: true,
  });
  if (values.upstream === undefined) throw new Error("--upstream URL is required (e.g. http://127.0.0.1:1234/v1)");
  const opts: BarePassthroughOptions = { upstream: values.upstream, model: values.model, apiKey: values["api-key"] };
  const post = upstreamPost(opts);
  const handler = connectNodeAdapter({ routes: bareRoutes(opts, post) });
  const h1 = http.createServer({ keepAliveTimeout: 5_000, noDelay: true }, handler);
  const h2 = http2.createServer({}, handler);
  const plain = http.createServer({ keepAliveTimeout: 5_000, noDelay: true }, plainHandler(opts, post));
  const h1Port = await listen(h1, portArg(values.port, "--port"));
  const h2Port = await listen(h2, portArg(values["grpc-port"], "--grpc-port"));
  const plainPort = await listen(plain, portArg(values["plain-port"], "--plain-port"));
  process.stdout.write(
    `listening http://127.0.0.1:${h1Port} h2c http://127.0.0.1:${h2Port} plain http://127.0.0.1:${plainPort}\n`,
  );
  const stop = (): void => {
    for (const server of [h1, plain]) {
      server.closeAllConnections();
      server.close();
    }
    h2.close();
    setTimeout(() => process.exit(0), 100).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`bare passthrough failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
