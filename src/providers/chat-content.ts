// What chat translators share about the richer parts of a ChatRequest: content parts (text
// and images), tool definitions, tool choice, tool-call arguments and response formats. Each
// helper validates once and hands back a plain, provider-neutral shape, so every provider
// rejects the same bad input with the same words (prefixed by its own name).
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { ChatMessage, ContentPart } from "../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../errors";
import type { ChatParams } from "./types";

/** The image media types every provider we translate for accepts. */
export const imageMimeTypes: ReadonlySet<string> = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/** An image reduced to what providers can carry: inline base64 bytes, or an https URL. */
export type ImageRef = { kind: "inline"; mimeType: string; base64: string } | { kind: "url"; url: string };

/** One piece of a message's content, in order: the `content` text first, then `parts`. */
export type Piece = { kind: "text"; text: string } | { kind: "image"; image: ImageRef };

const dataUrl = /^data:([^;,]+);base64,(.*)$/s;

function checkMime(provider: string, path: string, mimeType: string): string {
  const mime = mimeType.toLowerCase();
  if (!imageMimeTypes.has(mime)) {
    throw invalidArgument(`${provider}: ${path}: unsupported image type "${mimeType}" (use ${[...imageMimeTypes].join(", ")})`);
  }
  return mime;
}

function imageRef(provider: string, path: string, part: ContentPart["part"]): ImageRef | undefined {
  if (part.case === "image") {
    if (part.value.data.length === 0) throw invalidArgument(`${provider}: ${path}.image.data is empty`);
    const mimeType = checkMime(provider, `${path}.image.mime_type`, part.value.mimeType);
    return { kind: "inline", mimeType, base64: Buffer.from(part.value.data).toString("base64") };
  }
  if (part.case !== "imageUrl") return undefined;
  const url = part.value.url;
  const data = dataUrl.exec(url);
  if (data !== null) {
    const mimeType = checkMime(provider, `${path}.image_url.url`, data[1] ?? "");
    const base64 = (data[2] ?? "").trim();
    if (base64 === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) {
      throw invalidArgument(`${provider}: ${path}.image_url.url: the data: URL does not hold base64 data`);
    }
    return { kind: "inline", mimeType, base64 };
  }
  if (url.startsWith("data:")) {
    throw invalidArgument(`${provider}: ${path}.image_url.url: only base64 data: URLs are supported (data:<type>;base64,...)`);
  }
  if (!URL.canParse(url) || new URL(url).protocol !== "https:") {
    throw invalidArgument(`${provider}: ${path}.image_url.url must be an https: or a base64 data: URL`);
  }
  // `detail` is a hint "for providers that support it" (common.proto); the others ignore it.
  return { kind: "url", url };
}

/** The message's content as ordered pieces. An empty part (no case set) is a client bug. */
export function piecesOf(provider: string, message: ChatMessage, path: string): Piece[] {
  const pieces: Piece[] = message.content === "" ? [] : [{ kind: "text", text: message.content }];
  message.parts.forEach(({ part }, i) => {
    const partPath = `${path}.parts[${i}]`;
    if (part.case === "text") pieces.push({ kind: "text", text: part.value });
    else {
      const image = imageRef(provider, partPath, part);
      if (image === undefined) throw invalidArgument(`${provider}: ${partPath} is empty (set text, image_url or image)`);
      pieces.push({ kind: "image", image });
    }
  });
  return pieces;
}

/** The text of a message that may only hold text (system, tool results where images do not fit). */
export function textOf(provider: string, message: ChatMessage, path: string): string {
  return piecesOf(provider, message, path)
    .map((piece) => {
      if (piece.kind === "text") return piece.text;
      throw invalidArgument(`${provider}: ${path}: role "${message.role}" cannot carry images`);
    })
    .join("");
}

/** Participant names exist only in OpenAI's API; elsewhere they would vanish, so refuse them. */
export function rejectName(provider: string, message: ChatMessage, path: string): void {
  if (message.name !== "" && message.role !== "tool") {
    throw invalidArgument(`${provider}: ${path}.name is not supported (${provider} has no participant names)`);
  }
}

/** Fields that belong to other roles, rejected rather than ignored. */
export function rejectMisplacedToolFields(provider: string, message: ChatMessage, path: string): void {
  if (message.toolCalls.length > 0 && message.role !== "assistant") {
    throw invalidArgument(`${provider}: ${path}.tool_calls is only allowed on assistant messages`);
  }
  if (message.toolCallId !== "" && message.role !== "tool") {
    throw invalidArgument(`${provider}: ${path}.tool_call_id is only allowed on tool messages`);
  }
}

/** A function the model may call, checked. */
export interface FunctionSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments; `{type: "object", properties: {}}` when the tool takes none. */
  parameters: JsonObject;
  strict?: boolean;
}

export function functionsOf(provider: string, tools: ChatParams["tools"]): FunctionSpec[] {
  const names = new Set<string>();
  return tools.map((tool, i) => {
    const path = `tools[${i}]`;
    if (tool.type !== "" && tool.type !== "function") {
      throw invalidArgument(`${provider}: ${path}.type "${tool.type}" is not supported (only "function")`);
    }
    const fn = tool.function;
    if (fn === undefined || fn.name === "") throw invalidArgument(`${provider}: ${path}.function.name is required`);
    if (names.has(fn.name)) throw invalidArgument(`${provider}: ${path}: function "${fn.name}" is defined twice`);
    names.add(fn.name);
    const spec: FunctionSpec = {
      name: fn.name,
      description: fn.description,
      parameters: fn.parameters ?? { type: "object", properties: {} },
    };
    if (fn.strict !== undefined) spec.strict = fn.strict;
    return spec;
  });
}

export type ToolChoiceSpec = { mode: "auto" | "none" | "required" } | { functionName: string };

/** The tool choice, checked against the tools; undefined when the caller left it to the provider. */
export function toolChoiceOf(provider: string, params: ChatParams, functions: FunctionSpec[]): ToolChoiceSpec | undefined {
  const choice = params.toolChoice?.choice;
  if (choice === undefined || choice.case === undefined) return undefined;
  if (choice.case === "functionName") {
    if (!functions.some((f) => f.name === choice.value)) {
      throw invalidArgument(`${provider}: tool_choice.function_name "${choice.value}" is not one of the tools`);
    }
    return { functionName: choice.value };
  }
  const mode = choice.value;
  if (mode !== "auto" && mode !== "none" && mode !== "required") {
    throw invalidArgument(`${provider}: tool_choice.mode "${mode}" is not valid (use auto, none or required)`);
  }
  if (mode === "required" && functions.length === 0) {
    throw invalidArgument(`${provider}: tool_choice "required" needs at least one tool`);
  }
  return { mode };
}

/** An assistant tool call's arguments: JSON text that must hold an object. */
export function toolArguments(provider: string, path: string, text: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidArgument(`${provider}: ${path}.function.arguments is not valid JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidArgument(`${provider}: ${path}.function.arguments must be a JSON object`);
  }
  return value as JsonObject;
}

/** One assistant tool call, checked: id, name and parsed arguments. */
export interface CallSpec {
  id: string;
  name: string;
  arguments: JsonObject;
}

export function toolCallsOf(provider: string, message: ChatMessage, path: string): CallSpec[] {
  return message.toolCalls.map((call, j) => {
    const callPath = `${path}.tool_calls[${j}]`;
    if (call.type !== "" && call.type !== "function") {
      throw invalidArgument(`${provider}: ${callPath}.type "${call.type}" is not supported (only "function")`);
    }
    if (call.id === "") throw invalidArgument(`${provider}: ${callPath}.id is required`);
    const fn = call.function;
    if (fn === undefined || fn.name === "") throw invalidArgument(`${provider}: ${callPath}.function.name is required`);
    return { id: call.id, name: fn.name, arguments: toolArguments(provider, callPath, fn.arguments) };
  });
}

export type ResponseFormatSpec =
  | { type: "json_object" }
  | { type: "json_schema"; name: string; description: string; schema: JsonObject; strict?: boolean };

/** The structured-output request; undefined for plain text (unset or "text"). */
export function responseFormatOf(provider: string, params: ChatParams): ResponseFormatSpec | undefined {
  const format = params.responseFormat;
  if (format === undefined || format.type === "" || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  if (format.type !== "json_schema") {
    throw invalidArgument(`${provider}: response_format.type "${format.type}" is not valid (use text, json_object or json_schema)`);
  }
  const schema = format.jsonSchema?.schema;
  if (schema === undefined) throw invalidArgument(`${provider}: response_format.json_schema.schema is required`);
  const spec: ResponseFormatSpec = {
    type: "json_schema",
    name: format.jsonSchema?.name ?? "",
    description: format.jsonSchema?.description ?? "",
    schema,
  };
  if (format.jsonSchema?.strict !== undefined) spec.strict = format.jsonSchema.strict;
  return spec;
}

/** Tool results are text; a JSON object result stays an object where the provider wants one. */
export function parseJsonOrText(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}
