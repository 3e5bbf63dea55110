// POST /v1/completions (legacy text completions) onto CompletionsService. The prompt may be a
// text, a list of texts, token ids, or a list of token-id lists, as OpenAI's spec allows.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { z } from "zod";
import type {
  CompleteRequest,
  CompleteRequestSchema,
  CompleteResponse,
  CompletionLogprobs,
  StreamCompleteResponse,
} from "../../../gen/modelgate/v1/completions_pb";
import {
  type StreamState,
  countField,
  createdOf,
  extrasOf,
  templateVariablesField,
  finishReasonJson,
  seedField,
  streamBase,
  streamState,
  usageChunkJson,
  usageJson,
} from "./chat";

const completionFinishReasons = new Set(["stop", "length", "content_filter"]);

const tokenId = z.number().int().min(0).max(4_294_967_295);

export const completionBody = z
  .object({
    model: z.string().min(1, "model is required (the endpoint name)"),
    prompt: z.union(
      [
        z.string(),
        z.array(z.string()).min(1),
        z.array(tokenId).min(1),
        z.array(z.array(tokenId).min(1)).min(1),
      ],
      { error: "must be a string, a list of strings, a list of token ids or a list of token-id lists" },
    )
      // Absent only with template_variables (the endpoint's template is the prompt): the service checks.
      .optional(),
    temperature: z.number().nullish(),
    top_p: z.number().nullish(),
    max_tokens: countField,
    stop: z.union([z.string(), z.array(z.string())]).nullish(),
    n: countField,
    seed: seedField,
    user: z.string().optional(),
    stream: z.boolean().nullish(),
    stream_options: z.strictObject({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() }).nullish(),
    template_variables: templateVariablesField,
  })
  .catchall(z.unknown());

const typedKeys = new Set(Object.keys(completionBody.shape));

type PromptFields = Pick<CompleteRequestInit, "prompt" | "prompts" | "tokenPrompts">;
type CompleteRequestInit = Exclude<MessageInitShape<typeof CompleteRequestSchema>, CompleteRequest>;

/** One text stays `prompt` (a list of one text too); several texts are `prompts`; ids are `token_prompts`. */
function promptFields(prompt: z.infer<typeof completionBody>["prompt"]): PromptFields {
  if (prompt === undefined) return {};
  if (typeof prompt === "string") return { prompt };
  if (prompt.every((p) => typeof p === "string")) return prompt.length === 1 ? { prompt: prompt[0] } : { prompts: prompt };
  if (prompt.every((p) => typeof p === "number")) return { tokenPrompts: [{ ids: prompt }] };
  return { tokenPrompts: (prompt as number[][]).map((ids) => ({ ids })) };
}

export function toCompleteRequest(body: z.infer<typeof completionBody>): CompleteRequestInit {
  return {
    endpoint: body.model,
    ...promptFields(body.prompt),
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    maxTokens: body.max_tokens ?? undefined,
    stop: body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop,
    n: body.n ?? undefined,
    seed: body.seed == null ? undefined : BigInt(body.seed),
    user: body.user ?? "",
    extras: extrasOf(body, typedKeys),
    templateVariables: body.template_variables,
  };
}

/** The legacy logprobs object: parallel lists (null entries for an echoed prompt's first token). */
function logprobsJson(lp: CompletionLogprobs | undefined) {
  if (lp === undefined) return null;
  return {
    tokens: lp.tokens.map((t) => t.token),
    token_logprobs: lp.tokens.map((t) => t.logprob ?? null),
    top_logprobs: lp.tokens.map((t) =>
      t.logprob === undefined && t.topLogprobs.length === 0 ? null : Object.fromEntries(t.topLogprobs.map((top) => [top.token, top.logprob])),
    ),
    text_offset: lp.tokens.map((t) => t.textOffset),
  };
}

function choicesJson(choices: CompleteResponse["choices"]) {
  return choices.map((c) => ({
    index: c.index,
    text: c.text,
    logprobs: logprobsJson(c.logprobs),
    finish_reason: finishReasonJson(c.finishReason, completionFinishReasons),
  }));
}

export function completionJson(res: CompleteResponse, created: number) {
  return {
    id: res.id,
    object: "text_completion",
    created: createdOf(res.created, created),
    model: res.model,
    choices: choicesJson(res.choices),
    usage: usageJson(res.usage),
    ...(res.systemFingerprint ? { system_fingerprint: res.systemFingerprint } : {}),
  };
}

/**
 * One streamed text_completion, or undefined for our closing usage-only message. Unlike chat
 * chunks, the spec gives completion chunks no `usage: null`: only the last one has usage.
 */
export function completionChunkJson(chunk: StreamCompleteResponse, state: StreamState | number, includeUsage: boolean) {
  const base = streamBase(chunk, "text_completion", streamState(state));
  if (chunk.choices.length === 0) return usageChunkJson(base, chunk.usage, includeUsage);
  return { ...base, choices: choicesJson(chunk.choices) };
}
