// Streaming time to first token: N sequential streamed chats, timed from just before the call
// until the first piece of content arrives (the role-only first chunk does not count), with
// each stream read to its end before the next starts. Used by bench/run.ts.
//   direct:  undici POST {fake}/v1/chat/completions with stream: true; first `data:` event
//            whose choices[].delta.content is non-empty
//            (the same client against modelgate's OpenAI REST surface: `model` = the endpoint)
//   gRPC:    a connect-node gRPC client (one HTTP/2 session, reused) calling
//            ChatService.StreamChat; first message with a non-empty choices[].delta.content
//   Connect: the same with a connect-node Connect transport (JSON) over HTTP/1.1 (keep-alive)
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Agent, request } from "undici";
import { ChatService } from "../gen/modelgate/v1/chat_pb";

export interface TtftSample {
  /** Milliseconds until the first content. */
  ttft: number;
  /** Milliseconds until the stream ended. */
  total: number;
}

export interface ChatInput {
  model: string;
  endpoint: string;
  messages: { role: string; content: string }[];
}

/** Runs `once` `warmup` times unmeasured, then `n` times; returns the samples. */
async function sample(n: number, warmup: number, once: () => Promise<TtftSample>): Promise<TtftSample[]> {
  for (let i = 0; i < warmup; i++) await once();
  const out: TtftSample[] = [];
  for (let i = 0; i < n; i++) out.push(await once());
  return out;
}

interface OpenAIChunkView {
  choices?: { delta?: { content?: string | null } }[] | null;
}

/**
 * OpenAI SSE through one undici Agent (keep-alive): the fake's endpoint directly, or modelgate's
 * OpenAI REST surface when `model` is given (the endpoint's name).
 */
export async function ttftDirect(
  baseUrl: string,
  input: ChatInput,
  n: number,
  warmup: number,
  model = input.model,
  headers: Record<string, string> = {},
): Promise<TtftSample[]> {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const url = baseUrl.replace(/\/+$/, "") + "/v1/chat/completions";
  const body = JSON.stringify({
    model,
    messages: input.messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  const once = async (): Promise<TtftSample> => {
    const t0 = performance.now();
    const res = await request(url, {
      dispatcher: agent,
      method: "POST",
      headers: { ...headers, "content-type": "application/json", accept: "text/event-stream" },
      body,
    });
    if (res.statusCode !== 200) throw new Error(`SSE stream from ${url}: HTTP ${res.statusCode}: ${(await res.body.text()).slice(0, 200)}`);
    let ttft = -1;
    let buffered = "";
    let done = false;
    const utf8 = new TextDecoder();
    for await (const bytes of res.body) {
      buffered += utf8.decode(bytes as Uint8Array, { stream: true });
      // Events are separated by a blank line; keep an incomplete tail for the next read.
      let cut: number;
      while ((cut = buffered.indexOf("\n\n")) !== -1) {
        const event = buffered.slice(0, cut);
        buffered = buffered.slice(cut + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") {
          done = true;
          continue;
        }
        if (ttft < 0) {
          const chunk = JSON.parse(data) as OpenAIChunkView;
          if ((chunk.choices ?? []).some((c) => (c.delta?.content ?? "") !== "")) ttft = performance.now() - t0;
        }
      }
    }
    if (ttft < 0 || !done) throw new Error(`SSE stream from ${url}: no content or no [DONE]`);
    return { ttft, total: performance.now() - t0 };
  };
  try {
    return await sample(n, warmup, once);
  } finally {
    await agent.close();
  }
}

/** Through a ChatService server over gRPC (h2c), with a connect-node client; `headers` go with every call. */
export function ttftGrpc(baseUrl: string, input: ChatInput, n: number, warmup: number, headers: Record<string, string> = {}): Promise<TtftSample[]> {
  return ttftStreamChat(createGrpcTransport({ baseUrl }), baseUrl, input, n, warmup, headers);
}

/** Through a ChatService server over the Connect protocol (JSON, HTTP/1.1), with a connect-node client. */
export function ttftConnect(baseUrl: string, input: ChatInput, n: number, warmup: number, headers: Record<string, string> = {}): Promise<TtftSample[]> {
  return ttftStreamChat(createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }), baseUrl, input, n, warmup, headers);
}

async function ttftStreamChat(
  transport: Transport,
  baseUrl: string,
  input: ChatInput,
  n: number,
  warmup: number,
  headers: Record<string, string>,
): Promise<TtftSample[]> {
  const client = createClient(ChatService, transport);
  const req = { endpoint: input.endpoint, messages: input.messages };
  const once = async (): Promise<TtftSample> => {
    const t0 = performance.now();
    let ttft = -1;
    let sawUsage = false;
    for await (const chunk of client.streamChat(req, { headers })) {
      if (ttft < 0 && chunk.choices.some((c) => (c.delta?.content ?? "") !== "")) ttft = performance.now() - t0;
      if (chunk.usage) sawUsage = true;
    }
    if (ttft < 0 || !sawUsage) throw new Error(`StreamChat from ${baseUrl}: no content or no usage`);
    return { ttft, total: performance.now() - t0 };
  };
  return sample(n, warmup, once);
}
