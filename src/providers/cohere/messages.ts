// Our messages as Cohere v2 chat messages (https://docs.cohere.com/v2/docs/chat-api,
// https://docs.cohere.com/v2/docs/tool-use-overview, https://docs.cohere.com/docs/image-inputs):
// roles system / user / assistant / tool; user content as a string or text and image_url
// items; assistant tool_calls {id, type, function: {name, arguments}} with the text before
// them as `tool_plan`; tool results as {role: "tool", tool_call_id, content}.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { ChatMessage } from "../../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../../errors";
import { piecesOf, rejectMisplacedToolFields, rejectName, textOf, toolCallsOf } from "../chat-content";
import { PROVIDER } from "./config";

function userContent(message: ChatMessage, path: string): JsonValue {
  const pieces = piecesOf(PROVIDER, message, path);
  if (pieces.length === 0) throw invalidArgument(`${PROVIDER}: ${path} is empty (no content or parts)`);
  if (pieces.every((p) => p.kind === "text")) return pieces.map((p) => (p.kind === "text" ? p.text : "")).join("");
  return pieces.map((piece): JsonObject => {
    if (piece.kind === "text") return { type: "text", text: piece.text };
    const { image } = piece;
    // Cohere takes inline images as data: URLs.
    const url = image.kind === "url" ? image.url : `data:${image.mimeType};base64,${image.base64}`;
    return { type: "image_url", image_url: { url } };
  });
}

function assistantMessage(message: ChatMessage, path: string): JsonObject {
  const text = textOf(PROVIDER, message, path);
  const calls = toolCallsOf(PROVIDER, message, path);
  if (calls.length === 0) {
    if (text === "") throw invalidArgument(`${PROVIDER}: ${path} is empty (no content or tool calls)`);
    return { role: "assistant", content: text };
  }
  // With tool calls, Cohere's text is the plan that led to them (what its answer calls tool_plan).
  const out: JsonObject = {
    role: "assistant",
    tool_calls: calls.map(({ id, name, arguments: args }) => ({
      id,
      type: "function",
      function: { name, arguments: JSON.stringify(args) },
    })),
  };
  if (text !== "") out.tool_plan = text;
  return out;
}

export function toCohereMessages(messages: ChatMessage[]): JsonObject[] {
  if (!messages.some((m) => m.role !== "system")) {
    throw invalidArgument(`${PROVIDER}: needs at least one user or assistant message`);
  }
  return messages.map((message, i) => {
    const path = `messages[${i}]`;
    rejectName(PROVIDER, message, path);
    rejectMisplacedToolFields(PROVIDER, message, path);
    switch (message.role) {
      case "system":
        return { role: "system", content: textOf(PROVIDER, message, path) };
      case "user":
        return { role: "user", content: userContent(message, path) };
      case "assistant":
        return assistantMessage(message, path);
      case "tool":
        if (message.toolCallId === "") {
          throw invalidArgument(`${PROVIDER}: ${path}.tool_call_id is required for role "tool"`);
        }
        return { role: "tool", tool_call_id: message.toolCallId, content: textOf(PROVIDER, message, path) };
      default:
        throw invalidArgument(`${PROVIDER}: ${path}: unknown role "${message.role}" (use system, user, assistant or tool)`);
    }
  });
}
