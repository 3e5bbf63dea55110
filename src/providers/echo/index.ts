// A built-in provider that needs no key and no network: it answers "echo: <last user message>"
// (chat) or "echo: <prompt>" (completions), streamed word by word, with word-count usage, and
// deterministic embeddings. It makes the default config runnable on a fresh machine and is a
// zero-cost upstream for measuring the gateway's own overhead.
import { z } from "zod";
import type { ModelClient, ModelFactory } from "../model";
import type { ChatChunk, ChatParams, CompleteChunk, ModelTarget } from "../types";
import { deadlineExceeded, invalidArgument } from "../../errors";
import { ConnectError } from "@connectrpc/connect";
import { portableMessages, singlePrompt, textInputs } from "../portable-input";

const configSchema = z.strictObject({
  /** Delay between streamed words, to make streaming visible in a terminal. */
  stream_delay_ms: z.number().int().min(0).max(10_000).default(0),
  /** Dimension of the vectors returned for embeddings. */
  dimensions: z.number().int().min(1).max(4096).default(8),
});
type EchoConfig = z.infer<typeof configSchema>;

export const echoFactory: ModelFactory = {
  name: "echo",
  configSchema: configSchema as unknown as ModelFactory["configSchema"],
  supports: ["llm/v1/chat", "llm/v1/completions", "llm/v1/embeddings"],
  create: (target) => echoModel(target as ModelTarget<EchoConfig>),
};

let counter = 0;
const nextId = (prefix: string) => `${prefix}-echo-${(++counter).toString(36)}`;
const countWords = (text: string) => text.split(/\s+/).filter(Boolean).length;

/** Splits text into words with their leading space, so the parts join back to the text. */
function words(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [text];
}

function usage(prompt: string, completion: string) {
  const promptTokens = countWords(prompt);
  const completionTokens = countWords(completion);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

function truncate(text: string, maxTokens: number | undefined): { text: string; finishReason: string } {
  if (maxTokens === undefined) return { text, finishReason: "stop" };
  const parts = words(text);
  if (parts.length <= maxTokens) return { text, finishReason: "stop" };
  return { text: parts.slice(0, maxTokens).join(""), finishReason: "length" };
}

/** The answer to a chat: "echo: " and the last user message, cut at max_tokens words. */
function chatReply(params: ChatParams) {
  rejectUnsupported(params);
  const prompt = params.messages.map((m) => m.content).join(" ");
  const last = params.messages.findLast((m) => m.role === "user");
  return { prompt, ...truncate(`echo: ${last?.content ?? ""}`, params.maxTokens) };
}

/** echo answers text only: anything it would have to ignore is refused, never dropped. */
function rejectUnsupported(params: ChatParams): void {
  portableMessages("echo", params.messages);
  if (params.tools.length > 0) throw invalidArgument("echo: tools are not supported");
  if (params.toolChoice) throw invalidArgument("echo: tool_choice is not supported");
  if (params.responseFormat && params.responseFormat.type !== "text") throw invalidArgument("echo: response_format is not supported");
  if (params.messages.some((m) => m.parts.length > 0)) throw invalidArgument("echo: content parts (images) are not supported");
  if (params.extras && Object.keys(params.extras).length > 0) {
    throw invalidArgument(`echo: unsupported extras: ${Object.keys(params.extras).join(", ")}`);
  }
}

/** Deterministic unit vector for a text: the same input always gets the same embedding. */
export function echoEmbedding(text: string, dimensions: number): number[] {
  const v = new Array<number>(dimensions).fill(0);
  for (let i = 0; i < text.length; i++) v[i % dimensions]! += text.charCodeAt(i) / 128;
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => Math.fround(x / norm));
}

function echoModel(target: ModelTarget<EchoConfig>): ModelClient {
  const { stream_delay_ms: delayMs, dimensions } = target.config;
  const model = target.name;

  async function* streamText(text: string, finishReason: string, signal: AbortSignal) {
    for (const word of words(text)) {
      if (delayMs > 0) await sleep(delayMs, signal);
      if (signal.aborted) throw ConnectError.from(signal.reason);
      yield word;
    }
    return finishReason;
  }

  return {
    async chat(params) {
      const { prompt, text, finishReason } = chatReply(params);
      const choices = Array.from({ length: params.n ?? 1 }, (_, index) => ({
        index,
        message: { role: "assistant", content: text },
        finishReason,
      }));
      return { id: nextId("chat"), model, choices, usage: usage(prompt, text) };
    },
    async *streamChat(params, call) {
      const { prompt, text, finishReason } = chatReply(params);
      const id = nextId("chat");
      let first = true;
      const parts = streamText(text, finishReason, call.signal);
      for (;;) {
        const next = await parts.next();
        if (next.done) {
          yield { id, model, choices: [{ index: 0, delta: { role: "", content: "" }, finishReason: next.value }] } satisfies ChatChunk;
          break;
        }
        yield { id, model, choices: [{ index: 0, delta: { role: first ? "assistant" : "", content: next.value }, finishReason: "" }] } satisfies ChatChunk;
        first = false;
      }
      yield { id, model, choices: [], usage: usage(prompt, text) } satisfies ChatChunk;
    },
    async complete(params) {
      singlePrompt("echo", params);
      const { text, finishReason } = truncate(`echo: ${params.prompt}`, params.maxTokens);
      const choices = Array.from({ length: params.n ?? 1 }, (_, index) => ({ index, text, finishReason }));
      return { id: nextId("cmpl"), model, choices, usage: usage(params.prompt, text) };
    },
    async *streamComplete(params, call) {
      singlePrompt("echo", params);
      const { text, finishReason } = truncate(`echo: ${params.prompt}`, params.maxTokens);
      const id = nextId("cmpl");
      const parts = streamText(text, finishReason, call.signal);
      for (;;) {
        const next = await parts.next();
        if (next.done) {
          yield { id, model, choices: [{ index: 0, text: "", finishReason: next.value }] } satisfies CompleteChunk;
          break;
        }
        yield { id, model, choices: [{ index: 0, text: next.value, finishReason: "" }] } satisfies CompleteChunk;
      }
      yield { id, model, choices: [], usage: usage(params.prompt, text) } satisfies CompleteChunk;
    },
    async embed(params) {
      if (params.extras && Object.keys(params.extras).length > 0) {
        throw invalidArgument(`echo: unsupported extras: ${Object.keys(params.extras).join(", ")}`);
      }
      textInputs("echo", params);
      const data = params.inputs.map((text, index) => ({ index, values: echoEmbedding(text, dimensions) }));
      const promptTokens = params.inputs.reduce((n, t) => n + countWords(t), 0);
      return { model, data, usage: { promptTokens, completionTokens: 0, totalTokens: promptTokens } };
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(ConnectError.from(signal.reason ?? deadlineExceeded("deadline exceeded")));
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal.reason));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
