// What only OpenAI's format can carry, reduced (or refused) for the providers that speak another
// one: the `developer` role, refusals, deprecated function calling, audio in history, token-id
// inputs and several prompts per request. Each non-OpenAI translator passes its input through
// here first, so every provider says no in the same words and nothing is dropped silently.
import type { ChatMessage } from "../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../errors";
import type { CompleteParams, EmbedParams } from "./types";

/**
 * The messages as a provider without OpenAI's extras takes them: `developer` becomes `system`
 * (the same instructions under the older name), an assistant refusal becomes the assistant's
 * text (what it said), and what has no equivalent is refused with the field's path.
 */
export function portableMessages(provider: string, messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.map((message, i) => {
    const path = `messages[${i}]`;
    if (message.role === "function") {
      throw invalidArgument(
        `${provider}: ${path}: role "function" (deprecated function calling) is not supported by ${provider}; use tools and a role "tool" message`,
      );
    }
    if (message.functionCall !== undefined) {
      throw invalidArgument(`${provider}: ${path}.function_call (deprecated function calling) is not supported by ${provider}; use tool_calls`);
    }
    if (message.audio !== undefined) {
      throw invalidArgument(`${provider}: ${path}.audio: audio answers in history are not supported by ${provider}`);
    }
    let out = message;
    if (message.role === "developer") out = { ...out, role: "system" };
    if (message.refusal !== "") {
      if (message.role !== "assistant") throw invalidArgument(`${provider}: ${path}.refusal is only allowed on assistant messages`);
      if (message.content !== "" || message.parts.length > 0) {
        throw invalidArgument(`${provider}: ${path}: an assistant message carries content or a refusal, not both`);
      }
      out = { ...out, content: message.refusal, refusal: "" };
    }
    return out;
  });
}

/** The embedding inputs as text; token ids are refused (only OpenAI-format servers take them). */
export function textInputs(provider: string, params: EmbedParams): string[] {
  if ((params.tokenInputs?.length ?? 0) > 0) {
    throw invalidArgument(`${provider}: token_inputs: inputs given as token ids are not supported by ${provider}; send the text`);
  }
  return params.inputs;
}

/** The one text prompt; several prompts or token ids are refused (only OpenAI-format servers take them). */
export function singlePrompt(provider: string, params: CompleteParams): string {
  if ((params.tokenPrompts?.length ?? 0) > 0) {
    throw invalidArgument(`${provider}: token_prompts: prompts given as token ids are not supported by ${provider}; send the text`);
  }
  if ((params.prompts?.length ?? 0) > 0) {
    throw invalidArgument(`${provider}: prompts: several prompts in one request are not supported by ${provider}; send one request per prompt`);
  }
  return params.prompt;
}
