// Our messages as a Messages API conversation: system messages lifted into `system`, content
// parts as content blocks, assistant tool calls as tool_use blocks and tool messages as
// tool_result blocks in a user turn. Shapes: https://docs.anthropic.com/en/api/messages
// (ImageBlockParam with base64 / url sources, ToolUseBlockParam, ToolResultBlockParam).
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { ChatMessage } from "../../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../../errors";
import {
  type ImageRef,
  type Piece,
  piecesOf,
  rejectMisplacedToolFields,
  rejectName,
  textOf,
  toolCallsOf,
} from "../chat-content";
import { PROVIDER } from "./config";

export interface Conversation {
  system: string[];
  turns: JsonObject[];
}

function imageBlock(image: ImageRef): JsonObject {
  const source: JsonObject =
    image.kind === "inline"
      ? { type: "base64", media_type: image.mimeType, data: image.base64 }
      : { type: "url", url: image.url };
  return { type: "image", source };
}

function blocksOf(pieces: Piece[]): JsonObject[] {
  return pieces.map((piece) => (piece.kind === "text" ? { type: "text", text: piece.text } : imageBlock(piece.image)));
}

/** Plain text stays a string (the common case, and what the API shows first); anything else is blocks. */
function userContent(pieces: Piece[]): JsonValue {
  if (pieces.every((p) => p.kind === "text")) return pieces.map((p) => (p.kind === "text" ? p.text : "")).join("");
  return blocksOf(pieces);
}

function assistantContent(message: ChatMessage, path: string): JsonValue {
  const pieces = piecesOf(PROVIDER, message, path);
  if (pieces.some((p) => p.kind === "image")) {
    throw invalidArgument(`${PROVIDER}: ${path}: assistant messages cannot carry images`);
  }
  const calls = toolCallsOf(PROVIDER, message, path);
  if (calls.length === 0) return userContent(pieces);
  const toolUses = calls.map(({ id, name, arguments: input }): JsonObject => ({ type: "tool_use", id, name, input }));
  return [...blocksOf(pieces), ...toolUses];
}

function toolResult(message: ChatMessage, path: string): JsonObject {
  if (message.toolCallId === "") throw invalidArgument(`${PROVIDER}: ${path}.tool_call_id is required for role "tool"`);
  const block: JsonObject = { type: "tool_result", tool_use_id: message.toolCallId };
  const pieces = piecesOf(PROVIDER, message, path);
  if (pieces.length > 0) block.content = userContent(pieces);
  return block;
}

export function toConversation(messages: ChatMessage[]): Conversation {
  const conversation: Conversation = { system: [], turns: [] };
  // The user turn that collects consecutive tool results: Anthropic wants every result of
  // one assistant turn in the next user turn.
  let results: JsonObject[] | undefined;
  messages.forEach((message, i) => {
    const path = `messages[${i}]`;
    rejectName(PROVIDER, message, path);
    rejectMisplacedToolFields(PROVIDER, message, path);
    const { role } = message;
    if (role === "tool") {
      if (results === undefined) {
        results = [];
        conversation.turns.push({ role: "user", content: results });
      }
      results.push(toolResult(message, path));
      return;
    }
    const pendingResults = results;
    results = undefined;
    if (role === "system") {
      conversation.system.push(textOf(PROVIDER, message, path));
    } else if (role === "user") {
      const pieces = piecesOf(PROVIDER, message, path);
      // A user message right after tool results joins their turn, after the results, as
      // Anthropic asks; otherwise it is its own turn.
      if (pendingResults !== undefined) pendingResults.push(...blocksOf(pieces));
      else conversation.turns.push({ role, content: userContent(pieces) });
    } else if (role === "assistant") {
      conversation.turns.push({ role, content: assistantContent(message, path) });
    } else {
      throw invalidArgument(`${PROVIDER}: ${path}: unknown role "${role}" (use system, user, assistant or tool)`);
    }
  });
  if (conversation.turns.length === 0) {
    throw invalidArgument(`${PROVIDER}: needs at least one user or assistant message`);
  }
  return conversation;
}
