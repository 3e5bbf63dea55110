// The official gRPC-Web JavaScript client (npm `grpc-web`, Google's, what protoc-gen-grpc-web's
// stubs call) in its default text mode (`application/grpc-web-text`, base64 both ways; the mode
// protoc-gen-grpc-web documents for server streaming) and in its binary mode, making the same
// calls as the connect-web page. No generated stubs:
// a MethodDescriptor per method with protobuf-es doing the (de)serializing, which is all a
// generated stub adds.
import { Code } from "@connectrpc/connect";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { GrpcWebClientBase, MethodDescriptor, MethodType, type Metadata, type RpcError } from "grpc-web";
import { ChatRequestSchema, ChatResponseSchema, StreamChatRequestSchema, StreamChatResponseSchema, type ChatResponse } from "../../../gen/modelgate/v1/chat_pb";
import type { ChatJson, ErrorJson, Outcome, ProtocolResults, StreamMessageJson, UsageJson } from "./app";

function descriptor<I extends DescMessage, O extends DescMessage>(path: string, type: string, input: I, output: O) {
  // The request and response "types" only serve generated stubs' own typing.
  return new MethodDescriptor<MessageShape<I>, MessageShape<O>>(
    path,
    type,
    Object as unknown as new () => MessageShape<I>,
    Object as unknown as new () => MessageShape<O>,
    (message: MessageShape<I>) => toBinary(input, message),
    (bytes: Uint8Array) => fromBinary(output, bytes),
  );
}

const chatMethod = descriptor("/modelgate.v1.ChatService/Chat", MethodType.UNARY, ChatRequestSchema, ChatResponseSchema);
const streamMethod = descriptor("/modelgate.v1.ChatService/StreamChat", MethodType.SERVER_STREAMING, StreamChatRequestSchema, StreamChatResponseSchema);

function usageJson(usage: ChatResponse["usage"]): UsageJson | null {
  return usage ? { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, totalTokens: usage.totalTokens } : null;
}

function errorJson(err: RpcError): ErrorJson {
  return { code: Code[err.code] ?? String(err.code), rawMessage: err.message, causeName: null };
}

function chat(client: GrpcWebClientBase, baseUrl: string, endpoint: string, text: string, requestId: string): Promise<Outcome<ChatJson>> {
  return new Promise((resolve) => {
    let requestIdHeader: string | null = null;
    const request = create(ChatRequestSchema, { endpoint, messages: [{ role: "user", content: text }] });
    const call = client.rpcCall(baseUrl + chatMethod.getName(), request, { "x-request-id": requestId }, chatMethod, (err, res) => {
      if (err) {
        resolve({ ok: false, error: errorJson(err) });
        return;
      }
      const choice = res.choices[0];
      resolve({
        ok: true,
        value: {
          model: res.model,
          content: choice?.message?.content ?? "",
          role: choice?.message?.role ?? "",
          finishReason: choice?.finishReason ?? "",
          usage: usageJson(res.usage),
          requestIdHeader,
        },
      });
    });
    call.on("metadata", (headers: Metadata) => (requestIdHeader = headers["x-request-id"] ?? null));
  });
}

function streamChat(client: GrpcWebClientBase, baseUrl: string, text: string): Promise<Outcome<StreamMessageJson[]>> {
  return new Promise((resolve) => {
    const messages: StreamMessageJson[] = [];
    const request = create(StreamChatRequestSchema, { endpoint: "chat", messages: [{ role: "user", content: text }] });
    const stream = client.serverStreaming(baseUrl + streamMethod.getName(), request, {}, streamMethod);
    stream.on("data", (res) => {
      const delta = res.choices[0];
      messages.push({ role: delta?.delta?.role ?? "", content: delta?.delta?.content ?? "", finishReason: delta?.finishReason ?? "", usage: usageJson(res.usage) });
    });
    stream.on("error", (err) => resolve({ ok: false, error: errorJson(err) }));
    stream.on("end", () => resolve({ ok: true, value: messages }));
  });
}

/** The client's two wire formats: "text" (application/grpc-web-text, its default) and "binary" (application/grpc-web+proto). */
export type OfficialFormat = "text" | "binary";

export async function runOfficialGrpcWeb(baseUrl: string, format: OfficialFormat): Promise<ProtocolResults> {
  const client = new GrpcWebClientBase({ format });
  const requestId = `browser-grpc-web-${format}`;
  return {
    chat: await chat(client, baseUrl, "chat", `hello from grpc-web-${format}`, requestId),
    stream: await streamChat(client, baseUrl, "one two three"),
    unknownEndpoint: await chat(client, baseUrl, "no-such-endpoint", "hi", requestId),
  };
}
