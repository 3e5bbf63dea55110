// Text completion over Converse: the prompt is sent as one user message, as the Converse API
// is the one request shape every Bedrock text model takes.
import type { BedrockConfig } from "./config";
import { create } from "@bufbuild/protobuf";
import { ChatMessageSchema } from "../../../gen/modelgate/v1/common_pb";
import type { CompleteChunk, CompleteResult, CompleteTranslator } from "../types";
import { PROVIDER, bedrockPost, modelPath } from "./config";
import { converseBody } from "./converse-request";
import { readConverse } from "./converse-response";
import { type StreamPart, converseStreamDecoder } from "./converse-stream";
import { singlePrompt } from "../portable-input";

function completeChunk(part: StreamPart): CompleteChunk | undefined {
  // A completion has no role, and without tools there are no tool calls.
  if (part.kind === "text") return { id: "", model: "", choices: [{ index: 0, text: part.text, finishReason: "" }] };
  if (part.kind === "finish") return { id: "", model: "", choices: [{ index: 0, text: "", finishReason: part.finishReason }] };
  return undefined;
}

export const bedrockComplete: CompleteTranslator<BedrockConfig> = {
  request(params, target, stream) {
    const messages = [create(ChatMessageSchema, { role: "user", content: singlePrompt(PROVIDER, params) })];
    const body = converseBody({ ...params, messages, tools: [] });
    return bedrockPost(target, modelPath(target.name, stream ? "converse-stream" : "converse"), body);
  },

  response(body): CompleteResult {
    const reply = readConverse(body);
    return { id: "", model: "", choices: [{ index: 0, text: reply.text, finishReason: reply.finishReason }], usage: reply.usage };
  },

  streamDecoder: () => converseStreamDecoder(completeChunk),
};
