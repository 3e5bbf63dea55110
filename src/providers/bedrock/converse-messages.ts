// Our messages as a Converse conversation. Shapes from the Converse API reference
// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Message.html and
// ContentBlock, ImageBlock, ToolUseBlock, ToolResultBlock, SystemContentBlock):
//   system messages      -> top-level `system: [{text}]`
//   user text and images -> {text} and {image: {format, source: {bytes: <base64>}}} blocks
//   assistant tool calls -> {toolUse: {toolUseId, name, input}} blocks
//   tool messages        -> {toolResult: {toolUseId, content: [{json} | {text} | {image}]}}
//                           blocks in a user turn (Converse has no tool role)
// Converse wants the roles to alternate, so consecutive turns of one role (several tool
// results, or tool results followed by the user's next words) become one message.
import type { JsonObject } from "@bufbuild/protobuf";
import type { ChatMessage } from "../../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../../errors";
import {
  type ImageRef,
  type Piece,
  parseJsonOrText,
  piecesOf,
  rejectMisplacedToolFields,
  rejectName,
  textOf,
  toolCallsOf,
} from "../chat-content";
import { PROVIDER } from "./config";

export interface Conversation {
  system: JsonObject[];
  messages: JsonObject[];
  /** Whether any message holds a toolUse or toolResult block (Converse then needs toolConfig). */
  hasToolBlocks: boolean;
}

/** The image's bytes: Bedrock does not fetch URLs, so https images cannot be sent. */
function imageBlock(image: ImageRef, path: string): JsonObject {
  if (image.kind === "url") {
    throw invalidArgument(
      `${PROVIDER}: ${path}: Bedrock needs the image bytes and cannot fetch an https URL; send a base64 data: URL or image data instead`,
    );
  }
  // image/png -> png; the media types chat-content accepts are exactly Bedrock's formats.
  return { image: { format: image.mimeType.slice("image/".length), source: { bytes: image.base64 } } };
}

function blocksOf(pieces: Piece[], path: string): JsonObject[] {
  return pieces.map((piece) => (piece.kind === "text" ? { text: piece.text } : imageBlock(piece.image, path)));
}

function assistantBlocks(message: ChatMessage, path: string): JsonObject[] {
  const pieces = piecesOf(PROVIDER, message, path);
  if (pieces.some((p) => p.kind === "image")) {
    throw invalidArgument(`${PROVIDER}: ${path}: assistant messages cannot carry images`);
  }
  const toolUses = toolCallsOf(PROVIDER, message, path).map(
    ({ id, name, arguments: input }): JsonObject => ({ toolUse: { toolUseId: id, name, input } }),
  );
  return [...blocksOf(pieces, path), ...toolUses];
}

/** A JSON object result goes as {json}, so the model gets structure; anything else as text. */
function toolResultContent(piece: Piece, path: string): JsonObject {
  if (piece.kind === "image") return imageBlock(piece.image, path);
  const value = parseJsonOrText(piece.text);
  return typeof value === "object" && value !== null && !Array.isArray(value) ? { json: value } : { text: piece.text };
}

function toolResultBlock(message: ChatMessage, path: string): JsonObject {
  if (message.toolCallId === "") throw invalidArgument(`${PROVIDER}: ${path}.tool_call_id is required for role "tool"`);
  const content = piecesOf(PROVIDER, message, path).map((piece) => toolResultContent(piece, path));
  return { toolResult: { toolUseId: message.toolCallId, content } };
}

export function toConversation(messages: ChatMessage[]): Conversation {
  const conversation: Conversation = { system: [], messages: [], hasToolBlocks: false };
  let last: { role: string; content: JsonObject[] } | undefined;
  const append = (role: "user" | "assistant", blocks: JsonObject[], path: string) => {
    if (blocks.length === 0) throw invalidArgument(`${PROVIDER}: ${path} has no content`);
    if (last !== undefined && last.role === role) {
      last.content.push(...blocks);
      return;
    }
    last = { role, content: blocks };
    conversation.messages.push(last);
  };
  messages.forEach((message, i) => {
    const path = `messages[${i}]`;
    rejectName(PROVIDER, message, path);
    rejectMisplacedToolFields(PROVIDER, message, path);
    switch (message.role) {
      case "system":
        conversation.system.push({ text: textOf(PROVIDER, message, path) });
        return;
      case "user":
        append("user", blocksOf(piecesOf(PROVIDER, message, path), path), path);
        return;
      case "assistant": {
        const blocks = assistantBlocks(message, path);
        if (message.toolCalls.length > 0) conversation.hasToolBlocks = true;
        append("assistant", blocks, path);
        return;
      }
      case "tool":
        conversation.hasToolBlocks = true;
        append("user", [toolResultBlock(message, path)], path);
        return;
      default:
        throw invalidArgument(`${PROVIDER}: ${path}: unknown role "${message.role}" (use system, user, assistant or tool)`);
    }
  });
  if (conversation.messages.length === 0) {
    throw invalidArgument(`${PROVIDER}: needs at least one user or assistant message`);
  }
  return conversation;
}
