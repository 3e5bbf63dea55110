// Tool-call ids for servers that constrain them. Mistral takes only ids of exactly nine letters
// or digits (its own look like "D681PevKs"); a conversation that began on OpenAI ("call_…"),
// Anthropic ("toolu_…") or Gemini carries others. Each such id is mapped to nine characters
// derived from its SHA-256, so the assistant's tool_calls[].id and the tool message's
// tool_call_id that answers it map to the same id in every request, without state. Ids that
// already fit pass unchanged, so Mistral's own ids go back to it as they came.
import { createHash } from "node:crypto";

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const alnum9 = /^[A-Za-z0-9]{9}$/;

/** `id` as Mistral takes it: unchanged when it fits, else its nine-character digest (62^9 ids). */
export function alnum9ToolCallId(id: string): string {
  if (alnum9.test(id)) return id;
  const digest = createHash("sha256").update(id, "utf8").digest();
  let out = "";
  // 9 characters from 9 bytes: the modulo bias (256 % 62) is irrelevant for ids.
  for (let i = 0; i < 9; i++) out += alphabet[(digest[i] ?? 0) % alphabet.length];
  return out;
}
