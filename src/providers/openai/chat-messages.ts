// Our ChatMessage -> an OpenAI chat message: multimodal parts become the `content` array,
// assistant tool calls become `tool_calls`, tool results carry `tool_call_id`; the assistant's
// refusal, audio and deprecated function_call, and role `developer` and `function`, go as they
// came where the server takes them (see OpenAICapabilities; else portableMessages).
// Shapes: https://platform.openai.com/docs/api-reference/chat/create (messages).
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { ChatMessage, ContentPart, ToolCall } from "../../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../../errors";
import { portableMessages } from "../portable-input";
import type { OpenAIDialect } from "./dialect";
import { alnum9ToolCallId } from "./tool-call-ids";

const imageMimeTypes = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
const imageDetails = new Set(["low", "high", "auto"]);
const imageUrlScheme = /^(https?:|data:)/i;

export function openaiMessages(dialect: OpenAIDialect, messages: readonly ChatMessage[]): JsonValue[] {
  const { provider, capabilities } = dialect;
  // Servers without OpenAI's history fields get refusals as text (and refuse the rest) first.
  const sent = capabilities.openaiHistory ? messages : portableMessages(provider, messages);
  return sent.map((message, i) => openaiMessage(dialect, message, `messages[${i}]`));
}

function openaiMessage(dialect: OpenAIDialect, message: ChatMessage, path: string): JsonObject {
  const { provider, capabilities } = dialect;
  const fail = (detail: string) => invalidArgument(`${provider}: ${path}.${detail}`);
  const { role } = message;
  const mapId = capabilities.toolCallIds === "alnum9" ? alnum9ToolCallId : (id: string) => id;
  const wireRole = role === "developer" && !capabilities.developerRole ? "system" : role;
  const out: JsonObject = { role: wireRole, content: openaiContent(dialect, message, path) };

  if (message.toolCalls.length > 0) {
    if (role !== "assistant") throw fail(`tool_calls: only assistant messages carry tool calls`);
    out.tool_calls = message.toolCalls.map((call, j) => openaiToolCall(call, mapId, (d) => fail(`tool_calls[${j}].${d}`)));
  }
  if (message.functionCall !== undefined) {
    if (role !== "assistant") throw fail(`function_call: only assistant messages carry a function call`);
    const { name, arguments: args } = message.functionCall;
    if (name === "") throw fail("function_call.name: required");
    out.function_call = { name, arguments: args };
  }
  if (message.refusal !== "") {
    if (role !== "assistant") throw fail(`refusal: only assistant messages carry a refusal`);
    out.refusal = message.refusal;
  }
  if (message.audio !== undefined) {
    if (role !== "assistant") throw fail(`audio: only assistant messages carry audio`);
    if (message.audio.id === "") throw fail("audio.id: required (the id of the earlier audio answer)");
    out.audio = { id: message.audio.id };
  }
  // Annotations (URL citations) of an answer sent back in history: OpenAI's SDKs send them when
  // a response message is appended to the conversation.
  if (message.annotations.length > 0 && capabilities.openaiHistory) {
    out.annotations = message.annotations.map((a) => {
      const annotation: JsonObject = { type: a.type };
      if (a.urlCitation !== undefined) {
        const { startIndex, endIndex, url, title } = a.urlCitation;
        annotation.url_citation = { start_index: startIndex, end_index: endIndex, url, title };
      }
      return annotation;
    });
  }
  // OpenAI takes a null content beside tool calls, a function call, a refusal or audio; "" would
  // be an empty text turn.
  const hasOther = message.toolCalls.length > 0 || out.function_call !== undefined || out.refusal !== undefined || out.audio !== undefined;
  if (role === "assistant" && hasOther && message.content === "" && message.parts.length === 0) out.content = null;

  if (role === "tool") {
    if (message.toolCallId === "") throw fail("tool_call_id: required for role tool");
    out.tool_call_id = mapId(message.toolCallId);
    // The tool message has no `name` on this API: tool_call_id identifies the call.
  } else if (role === "function") {
    // Deprecated function calling: the result of the function `name`.
    if (message.name === "") throw fail("name: required for role function (the function's name)");
    if (message.toolCallId !== "") throw fail("tool_call_id: only allowed for role tool");
    out.name = message.name;
  } else {
    if (message.toolCallId !== "") throw fail("tool_call_id: only allowed for role tool");
    if (message.name !== "") {
      if (!capabilities.messageName) throw fail(`name: not supported by ${provider}`);
      out.name = message.name;
    }
  }
  return out;
}

/** A plain string, or with parts the array form: the message text first, then each part. */
function openaiContent(dialect: OpenAIDialect, message: ChatMessage, path: string): JsonValue {
  if (message.parts.length === 0) return message.content;
  const parts: JsonValue[] = message.content === "" ? [] : [{ type: "text", text: message.content }];
  message.parts.forEach((part, j) => parts.push(openaiPart(dialect, message.role, part, `${path}.parts[${j}]`)));
  return parts;
}

function openaiPart(dialect: OpenAIDialect, role: string, part: ContentPart, path: string): JsonObject {
  const { provider, capabilities } = dialect;
  const fail = (detail: string) => invalidArgument(`${provider}: ${path}${detail}`);
  const { part: p } = part;
  if (p.case === "text") return { type: "text", text: p.value };
  if (p.case === undefined) throw fail(": empty content part (set text, image_url or image)");
  // OpenAI accepts images in user messages only (system, assistant and tool content is text).
  if (role !== "user") throw fail(`: images are only allowed in user messages`);
  if (!capabilities.images) throw fail(`: images are not supported by ${provider}`);
  if (p.case === "imageUrl") {
    const { url, detail } = p.value;
    if (!imageUrlScheme.test(url)) throw fail(".image_url.url: must be an http(s) or data: URL");
    const imageUrl: JsonObject = { url };
    if (detail !== "") {
      if (!imageDetails.has(detail)) throw fail(`.image_url.detail: must be low, high or auto`);
      imageUrl.detail = detail;
    }
    return { type: "image_url", image_url: imageUrl };
  }
  const { data, mimeType } = p.value;
  if (!imageMimeTypes.has(mimeType)) {
    throw fail(`.image.mime_type: must be one of ${[...imageMimeTypes].join(", ")}`);
  }
  if (data.length === 0) throw fail(".image.data: empty");
  return { type: "image_url", image_url: { url: `data:${mimeType};base64,${Buffer.from(data).toString("base64")}` } };
}

function openaiToolCall(call: ToolCall, mapId: (id: string) => string, fail: (detail: string) => Error): JsonObject {
  if (call.type !== "" && call.type !== "function") throw fail(`type: must be function`);
  if (call.id === "") throw fail("id: required");
  const fn = call.function;
  if (fn === undefined || fn.name === "") throw fail("function.name: required");
  if (!isJsonObjectText(fn.arguments)) throw fail("function.arguments: must be a JSON object as text");
  return { id: mapId(call.id), type: "function", function: { name: fn.name, arguments: fn.arguments } };
}

function isJsonObjectText(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
