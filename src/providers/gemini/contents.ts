// Our messages as Gemini `contents` and `systemInstruction`
// (https://ai.google.dev/api/caching#Content): roles user / model, parts of text, inlineData
// {mimeType, data} for inline images, fileData {mimeType, fileUri} for https images,
// functionCall {name, args} for the assistant's tool calls and functionResponse {name,
// response} for tool results (https://ai.google.dev/gemini-api/docs/function-calling).
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
import { signatureOf } from "./tool-call-ids";

export interface Contents {
  systemInstruction?: JsonObject;
  contents: JsonObject[];
}

const mimeByExtension: ReadonlyMap<string, string> = new Map([
  ["png", "image/png"],
  ["jpg", "image/jpeg"],
  ["jpeg", "image/jpeg"],
  ["gif", "image/gif"],
  ["webp", "image/webp"],
]);

function imagePart(image: ImageRef): JsonObject {
  if (image.kind === "inline") return { inlineData: { mimeType: image.mimeType, data: image.base64 } };
  // fileData wants the media type; an https URL tells it only by its extension, if at all.
  const extension = /\.([a-z0-9]+)$/i.exec(new URL(image.url).pathname)?.[1]?.toLowerCase();
  const mimeType = extension === undefined ? undefined : mimeByExtension.get(extension);
  return { fileData: mimeType === undefined ? { fileUri: image.url } : { mimeType, fileUri: image.url } };
}

function partsOf(pieces: Piece[]): JsonObject[] {
  return pieces.map((piece) => (piece.kind === "text" ? { text: piece.text } : imagePart(piece.image)));
}

function modelParts(message: ChatMessage, path: string): JsonObject[] {
  const pieces = piecesOf(PROVIDER, message, path);
  if (pieces.some((p) => p.kind === "image")) {
    throw invalidArgument(`${PROVIDER}: ${path}: assistant messages cannot carry images`);
  }
  const calls = toolCallsOf(PROVIDER, message, path).map(({ id, name, arguments: args }): JsonObject => {
    const signature = signatureOf(id);
    return signature === undefined ? { functionCall: { name, args } } : { functionCall: { name, args }, thoughtSignature: signature };
  });
  return [...partsOf(pieces), ...calls];
}

/** The function a tool message answers: its own `name`, or the call it answers, looked up by id. */
function functionName(messages: ChatMessage[], at: number, path: string): string {
  const message = messages[at]!;
  if (message.name !== "") return message.name;
  if (message.toolCallId === "") {
    throw invalidArgument(`${PROVIDER}: ${path}: a tool message needs tool_call_id or name`);
  }
  // Positional ids repeat from turn to turn, so the nearest earlier call with the id is meant.
  for (let i = at - 1; i >= 0; i--) {
    const call = messages[i]!.toolCalls.find((c) => c.id === message.toolCallId);
    if (call?.function !== undefined && call.function.name !== "") return call.function.name;
  }
  throw invalidArgument(
    `${PROVIDER}: ${path}.tool_call_id "${message.toolCallId}" matches no earlier assistant tool call (set name to the function's name)`,
  );
}

/** Gemini wants an object; a JSON object result is passed as it is, anything else as {output}. */
function functionResponse(messages: ChatMessage[], at: number, path: string): JsonObject {
  const name = functionName(messages, at, path);
  const result = parseJsonOrText(textOf(PROVIDER, messages[at]!, path));
  const response = typeof result === "object" && result !== null && !Array.isArray(result) ? result : { output: result };
  return { functionResponse: { name, response } };
}

export function toContents(messages: ChatMessage[]): Contents {
  const system: JsonObject[] = [];
  const contents: JsonObject[] = [];
  // The user turn collecting consecutive tool results: every response of one model turn
  // goes into the next user turn, in order.
  let results: JsonObject[] | undefined;
  messages.forEach((message, i) => {
    const path = `messages[${i}]`;
    rejectName(PROVIDER, message, path);
    rejectMisplacedToolFields(PROVIDER, message, path);
    const { role } = message;
    if (role === "tool") {
      if (results === undefined) {
        results = [];
        contents.push({ role: "user", parts: results });
      }
      results.push(functionResponse(messages, i, path));
      return;
    }
    results = undefined;
    if (role === "system") {
      // Gemini refuses empty text parts; an empty system message says nothing anyway.
      const text = textOf(PROVIDER, message, path);
      if (text !== "") system.push({ text });
      return;
    }
    let parts: JsonObject[];
    if (role === "user") parts = partsOf(piecesOf(PROVIDER, message, path));
    else if (role === "assistant") parts = modelParts(message, path);
    else throw invalidArgument(`${PROVIDER}: ${path}: unknown role "${role}" (use system, user, assistant or tool)`);
    // Gemini refuses a content without parts.
    if (parts.length === 0) throw invalidArgument(`${PROVIDER}: ${path} is empty (no content, parts or tool calls)`);
    contents.push({ role: role === "assistant" ? "model" : "user", parts });
  });
  if (contents.length === 0) throw invalidArgument(`${PROVIDER}: needs at least one user or assistant message`);
  return system.length === 0 ? { contents } : { systemInstruction: { parts: system }, contents };
}
