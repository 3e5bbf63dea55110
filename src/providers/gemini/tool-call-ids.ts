// Tool-call ids for Gemini. The Gemini API gives function calls no ids (generateContent fills
// FunctionCall.id only in some surfaces), so calls get stable positional ids, `call_<index>`.
// Gemini 3 models also attach a `thoughtSignature` to function-call parts and answer 400 when
// a replayed call lacks it (https://ai.google.dev/gemini-api/docs/thought-signatures). Our
// ToolCall has no field for it, so it rides inside the id, after THOUGHT_SEPARATOR, and comes
// back when the client replays the assistant message; the same convention LiteLLM uses for
// OpenAI-shaped clients.

export const THOUGHT_SEPARATOR = "__thought__";

/** `base` is the upstream's own call id when it sent one, else `call_<index>`. */
export function toolCallId(base: string, signature: string | undefined): string {
  return signature === undefined ? base : `${base}${THOUGHT_SEPARATOR}${signature}`;
}

/** The thought signature carried by one of our ids, if any. */
export function signatureOf(id: string): string | undefined {
  const at = id.indexOf(THOUGHT_SEPARATOR);
  return at === -1 ? undefined : id.slice(at + THOUGHT_SEPARATOR.length);
}
