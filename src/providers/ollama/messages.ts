// Our ChatMessages -> Ollama's: text in `content`, images as bare base64 in `images`, assistant
// tool calls with their arguments as an object, tool results as role "tool" with `tool_name`.
// Shapes: ollama/ollama docs/api.md ("Chat request (with images)", "(With history, with
// tools)") and api/types.go Message {role, content, images, tool_calls, tool_name}.
import type { JsonObject } from "@bufbuild/protobuf";
import type { ChatMessage } from "../../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../../errors";
import { piecesOf, rejectMisplacedToolFields, rejectName, toolCallsOf } from "../chat-content";
import { PROVIDER } from "./config";

export function ollamaMessages(messages: readonly ChatMessage[]): JsonObject[] {
  return messages.map((_message, i) => ollamaMessage(messages, i));
}

function ollamaMessage(messages: readonly ChatMessage[], i: number): JsonObject {
  const message = messages[i]!;
  const path = `messages[${i}]`;
  rejectName(PROVIDER, message, path);
  rejectMisplacedToolFields(PROVIDER, message, path);
  const out: JsonObject = { role: message.role, content: "" };
  const texts: string[] = [];
  const images: string[] = [];
  for (const piece of piecesOf(PROVIDER, message, path)) {
    if (piece.kind === "text") texts.push(piece.text);
    else if (piece.image.kind === "inline") images.push(piece.image.base64);
    else {
      throw invalidArgument(
        `${PROVIDER}: ${path}: Ollama takes images inline only; send the image as bytes or a base64 data: URL, not ${piece.image.url}`,
      );
    }
  }
  out.content = texts.join("");
  if (images.length > 0) out.images = images;
  if (message.toolCalls.length > 0) {
    // Ollama's calls carry no id: the tool message names the function instead (tool_name).
    out.tool_calls = toolCallsOf(PROVIDER, message, path).map((call) => ({
      function: { name: call.name, arguments: call.arguments },
    }));
  }
  if (message.role === "tool") out.tool_name = toolName(messages, i);
  return out;
}

/** The function a tool result answers: its `name`, else the earlier call with its tool_call_id. */
function toolName(messages: readonly ChatMessage[], i: number): string {
  const message = messages[i]!;
  if (message.name !== "") return message.name;
  const id = message.toolCallId;
  if (id === "") {
    throw invalidArgument(`${PROVIDER}: messages[${i}]: a tool message needs tool_call_id (or name, the function it answers)`);
  }
  // The nearest earlier assistant turn with that id: ids we synthesise may repeat across turns.
  for (let j = i - 1; j >= 0; j--) {
    const call = messages[j]!.toolCalls.find((c) => c.id === id);
    if (call?.function !== undefined && call.function.name !== "") return call.function.name;
  }
  throw invalidArgument(
    `${PROVIDER}: messages[${i}].tool_call_id "${id}" matches no earlier assistant tool call (set name to the function it answers)`,
  );
}
