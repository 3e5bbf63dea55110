// The browser client of test/browser/connect-web.spec.ts: @connectrpc/connect-web, as a web app
// uses it, calls the gateway named by `?base=` over Connect JSON, Connect binary and gRPC-Web, and
// writes what it saw as JSON into <pre id="result">. The page is served from another origin, so
// every call goes through the browser's CORS checks.
// snippet:begin browser-imports
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { ChatService } from "../../../gen/modelgate/v1/chat_pb";
import type { Usage } from "../../../gen/modelgate/v1/common_pb";
// snippet:end
import { runOfficialGrpcWeb, type OfficialFormat } from "./grpc-web-official";

// The project's tsconfig has no DOM lib (server code must not lean on DOM types), so the page
// names the two DOM pieces it uses.
interface PageGlobals {
  location: { search: string };
  document: { getElementById(id: string): { textContent: string | null } | null };
}
const page = globalThis as unknown as PageGlobals;

export type ProtocolName = "connect-json" | "connect-binary" | "grpc-web";

export interface UsageJson {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface ErrorJson {
  /** The Code's name, e.g. "NotFound". */
  code: string;
  rawMessage: string;
  /** The name of the underlying error, e.g. "TypeError" for a fetch the browser refused. */
  causeName: string | null;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ErrorJson };

export interface ChatJson {
  model: string;
  content: string;
  role: string;
  finishReason: string;
  usage: UsageJson | null;
  /** The response's x-request-id as the page could read it (needs CORS expose-headers). */
  requestIdHeader: string | null;
}

export interface StreamMessageJson {
  role: string;
  content: string;
  finishReason: string;
  usage: UsageJson | null;
}

export interface ProtocolResults {
  chat: Outcome<ChatJson>;
  stream: Outcome<StreamMessageJson[]>;
  unknownEndpoint: Outcome<ChatJson>;
}

export type PageResults =
  | { ok: true; protocols: Record<ProtocolName, ProtocolResults>; officialGrpcWeb: Record<OfficialFormat, ProtocolResults> }
  | { ok: false; fatal: string };

/**
 * The x-request-id each chat call sends: a custom header, so CORS allow-headers must list it.
 * (The spec imports only types from this file: importing a value would run the page in Node.)
 */
const requestIdFor = (protocol: ProtocolName) => `browser-${protocol}`;

function usageJson(usage: Usage | undefined): UsageJson | null {
  if (!usage) return null;
  return { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, totalTokens: usage.totalTokens };
}

// snippet:begin browser-calls
function errorJson(err: unknown): ErrorJson {
  const error = ConnectError.from(err);
  const cause: unknown = error.cause;
  return { code: Code[error.code], rawMessage: error.rawMessage, causeName: cause instanceof Error ? cause.name : null };
}

async function outcome<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (err) {
    return { ok: false, error: errorJson(err) };
  }
}

async function chat(transport: Transport, protocol: ProtocolName, endpoint: string, text: string): Promise<ChatJson> {
  const client = createClient(ChatService, transport);
  let requestIdHeader: string | null = null;
  const res = await client.chat(
    { endpoint, messages: [{ role: "user", content: text }] },
    { headers: { "x-request-id": requestIdFor(protocol) }, onHeader: (headers) => (requestIdHeader = headers.get("x-request-id")) },
  );
  const choice = res.choices[0];
  return {
    model: res.model,
    content: choice?.message?.content ?? "",
    role: choice?.message?.role ?? "",
    finishReason: choice?.finishReason ?? "",
    usage: usageJson(res.usage),
    requestIdHeader,
  };
}

async function streamChat(transport: Transport, text: string): Promise<StreamMessageJson[]> {
  const client = createClient(ChatService, transport);
  const messages: StreamMessageJson[] = [];
  for await (const res of client.streamChat({ endpoint: "chat", messages: [{ role: "user", content: text }] })) {
    const delta = res.choices[0];
    messages.push({
      role: delta?.delta?.role ?? "",
      content: delta?.delta?.content ?? "",
      finishReason: delta?.finishReason ?? "",
      usage: usageJson(res.usage),
    });
  }
  return messages;
}
// snippet:end

async function runProtocol(protocol: ProtocolName, transport: Transport): Promise<ProtocolResults> {
  return {
    chat: await outcome(() => chat(transport, protocol, "chat", `hello from ${protocol}`)),
    stream: await outcome(() => streamChat(transport, "one two three")),
    unknownEndpoint: await outcome(() => chat(transport, protocol, "no-such-endpoint", "hi")),
  };
}

async function runAll(baseUrl: string): Promise<PageResults> {
  // snippet:begin browser-transports
  const transports: Record<ProtocolName, Transport> = {
    "connect-json": createConnectTransport({ baseUrl, useBinaryFormat: false }),
    "connect-binary": createConnectTransport({ baseUrl, useBinaryFormat: true }),
    "grpc-web": createGrpcWebTransport({ baseUrl }),
  };
  // snippet:end
  return {
    ok: true,
    protocols: {
      "connect-json": await runProtocol("connect-json", transports["connect-json"]),
      "connect-binary": await runProtocol("connect-binary", transports["connect-binary"]),
      "grpc-web": await runProtocol("grpc-web", transports["grpc-web"]),
    },
    // Google's grpc-web client, in its default text mode and in binary mode (grpc-web-official.ts).
    officialGrpcWeb: { text: await runOfficialGrpcWeb(baseUrl, "text"), binary: await runOfficialGrpcWeb(baseUrl, "binary") },
  };
}

async function main(): Promise<void> {
  const target = page.document.getElementById("result");
  if (!target) throw new Error('the page has no <pre id="result">');
  let results: PageResults;
  try {
    const baseUrl = new URLSearchParams(page.location.search).get("base");
    if (!baseUrl) throw new Error("the page needs ?base=<gateway URL>");
    results = await runAll(baseUrl);
  } catch (err) {
    results = { ok: false, fatal: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
  target.textContent = JSON.stringify(results);
}

void main();
