// Request validation at the service edge (zod): one precise INVALID_ARGUMENT per bad request,
// naming the field. The schemas check the generated messages in place; nothing is copied.
import { z } from "zod";
import { invalidArgument } from "../errors";

// "developer" (OpenAI's newer name for system) and "function" (deprecated function calling)
// reach OpenAI-format upstreams as they are; other providers map or refuse them (portable-input.ts).
export const chatRoles = ["system", "developer", "user", "assistant", "tool", "function"] as const;

const sampling = {
  temperature: z.number().min(0, "must be >= 0").max(2, "must be <= 2").optional(),
  // 0 is valid in OpenAI's spec (only the most likely token); providers that refuse it say so.
  topP: z.number().min(0, "must be >= 0").max(1, "must be <= 1").optional(),
  maxTokens: z.number().int().min(1, "must be >= 1").optional(),
  n: z.number().int().min(1, "must be >= 1").max(128, "must be <= 128").optional(),
  stop: z.array(z.string().min(1, "must not be empty")).max(16, "at most 16 stop sequences"),
};

/** Variables for the endpoint's prompt template, which then supplies the prompt (src/policies/templates.ts). */
const templateVariables = z.record(z.string(), z.string()).optional();
const hasVariables = (v: Record<string, string> | undefined) => v !== undefined && Object.keys(v).length > 0;

export const chatRequestSchema = z
  .object({
    messages: z.array(
      z.object({
        role: z.enum(chatRoles, { error: (i) => `invalid role ${JSON.stringify(i.input)} (expected ${chatRoles.join(", ")})` }),
        content: z.string(),
      }),
    ),
    templateVariables,
    ...sampling,
  })
  .refine((r) => r.messages.length > 0 || hasVariables(r.templateVariables), {
    path: ["messages"],
    message: "at least one message is required",
  });

const chatRoleSet: ReadonlySet<string> = new Set(chatRoles);

/** The fields of a ChatRequest or StreamChatRequest that chatRequestSchema checks. */
interface ChatRequestFields {
  messages: readonly { role: string; content: string }[];
  templateVariables?: Readonly<Record<string, string>>;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  n?: number;
  stop: readonly string[];
}

/**
 * Whether chatRequestSchema accepts `r`, decided by hand for the common request: true only where
 * zod would accept it too. zod checks the rest, and names what is wrong (its parse allocates a
 * payload object per key the schema declares). test/fuzz/chat-body-diff.spec.ts holds the two to
 * the same answers.
 */
export function plainChatRequest(r: ChatRequestFields): boolean {
  if (r.messages.length === 0) return false;
  for (const m of r.messages) if (!chatRoleSet.has(m.role) || typeof m.content !== "string") return false;
  const { temperature: t, topP: p, maxTokens: max, n, stop, templateVariables: vars } = r;
  if (t !== undefined && !(typeof t === "number" && t >= 0 && t <= 2)) return false;
  if (p !== undefined && !(typeof p === "number" && p >= 0 && p <= 1)) return false;
  if (max !== undefined && !(Number.isSafeInteger(max) && max >= 1)) return false;
  if (n !== undefined && !(Number.isSafeInteger(n) && n >= 1 && n <= 128)) return false;
  if (stop.length > 16) return false;
  for (const s of stop) if (typeof s !== "string" || s === "") return false;
  if (vars !== undefined) for (const key of Object.keys(vars)) if (typeof vars[key] !== "string") return false;
  return true;
}

const tokenIds = z.object({ ids: z.array(z.number()).min(1, "must hold at least one token id") });

export const completeRequestSchema = z
  .object({
    prompt: z.string(),
    prompts: z.array(z.string()).max(2048, "at most 2048 prompts"),
    tokenPrompts: z.array(tokenIds).max(2048, "at most 2048 prompts"),
    templateVariables,
    ...sampling,
  })
  .refine((r) => r.prompt !== "" || r.prompts.length > 0 || r.tokenPrompts.length > 0 || hasVariables(r.templateVariables), {
    path: ["prompt"],
    message: "a prompt is required",
  });

export const embedRequestSchema = z
  .object({
    inputs: z.array(z.string()).max(2048, "at most 2048 inputs"),
    tokenInputs: z.array(tokenIds).max(2048, "at most 2048 inputs"),
  })
  .refine((r) => r.inputs.length > 0 || r.tokenInputs.length > 0, { path: ["inputs"], message: "at least one input is required" });

/** Throws INVALID_ARGUMENT naming the first bad field, e.g. `messages[1].role: invalid role "bot" ...`. */
export function validate(schema: z.ZodType, value: unknown): void {
  const result = schema.safeParse(value);
  if (!result.success) throw issueError(result.error.issues[0]!, snakeCase);
}

/** Parses a REST body (whose field names are already snake_case) or throws INVALID_ARGUMENT. */
export function parseBody<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) throw issueError(result.error.issues[0]!, (p) => p);
  return result.data;
}

function issueError(issue: z.core.$ZodIssue, name: (path: string) => string) {
  const path = issue.path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join("");
  return invalidArgument(path ? `${name(path)}: ${issue.message}` : issue.message);
}

/** Field names as the proto spells them (top_p, max_tokens), which is what clients see. */
function snakeCase(path: string): string {
  return path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
