// Builds a Messages API body from our chat or completion params.
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { mergeExtras, setIfDefined } from "../request-builder";
import type { ChatParams, ModelTarget, SamplingParams } from "../types";
import { PROVIDER } from "./config";

/** Anthropic requires max_tokens; this is what we ask for when the caller did not say. */
export const DEFAULT_MAX_TOKENS = 1024;

const ownedKeys: ReadonlyMap<string, string> = new Map([
  ["model", "the endpoint's model is used"],
  ["messages", "the gateway sets it from the request"],
  ["system", "send a message with role system instead"],
  ["stream", "call the streaming method instead"],
  ["max_tokens", "use the max_tokens field instead"],
  ["stop_sequences", "use the stop field instead"],
  ["temperature", "use the temperature field instead"],
  ["top_p", "use the top_p field instead"],
  ["metadata", "use the user field instead"],
]);

interface Conversation {
  system: string[];
  turns: JsonObject[];
}

/** Anthropic has no system role: system messages become the top-level `system` field. */
function splitSystem(messages: ChatParams["messages"]): Conversation {
  const conversation: Conversation = { system: [], turns: [] };
  messages.forEach(({ role, content }, i) => {
    if (role === "system") conversation.system.push(content);
    else if (role === "user" || role === "assistant") conversation.turns.push({ role, content });
    else if (role === "tool") throw invalidArgument(`${PROVIDER}: messages[${i}]: role "tool" is not supported yet`);
    else throw invalidArgument(`${PROVIDER}: messages[${i}]: unknown role "${role}" (use system, user or assistant)`);
  });
  if (conversation.turns.length === 0) {
    throw invalidArgument(`${PROVIDER}: needs at least one user or assistant message`);
  }
  return conversation;
}

/** Rejects what Anthropic cannot do, rather than silently answering something else. */
function checkSupported(params: SamplingParams): void {
  if (params.n !== undefined && params.n > 1) throw invalidArgument(`${PROVIDER} does not support n > 1`);
  if (params.seed !== undefined) {
    throw invalidArgument(`${PROVIDER} does not support seed (its sampling cannot be made deterministic); leave it unset`);
  }
}

export function messagesBody(
  target: ModelTarget,
  messages: ChatParams["messages"],
  params: SamplingParams,
  stream: boolean,
): JsonObject {
  checkSupported(params);
  const { system, turns } = splitSystem(messages);
  const body: JsonObject = {
    model: target.name,
    max_tokens: params.maxTokens ?? DEFAULT_MAX_TOKENS,
    messages: turns,
  };
  if (system.length > 0) body.system = system.join("\n\n");
  if (params.stop.length > 0) body.stop_sequences = params.stop;
  setIfDefined(body, "temperature", params.temperature);
  setIfDefined(body, "top_p", params.topP);
  if (params.user !== "") body.metadata = { user_id: params.user };
  mergeExtras(PROVIDER, body, params.extras, ownedKeys);
  if (stream) body.stream = true;
  return body;
}
