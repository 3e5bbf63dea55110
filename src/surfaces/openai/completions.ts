// POST /v1/completions (legacy text completions) onto CompletionsService.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { z } from "zod";
import type { CompleteRequest, CompleteRequestSchema, CompleteResponse, StreamCompleteResponse } from "../../../gen/modelgate/v1/completions_pb";
import { invalidArgument } from "../../errors";
import { assertNoTokenArrays, countField, extrasOf, seedField, usageChunkJson, usageJson } from "./chat";

export const completionBody = z
  .object({
    model: z.string().min(1, "model is required (the endpoint name)"),
    prompt: z.union([z.string(), z.array(z.unknown())]),
    temperature: z.number().nullish(),
    top_p: z.number().nullish(),
    max_tokens: countField,
    stop: z.union([z.string(), z.array(z.string())]).nullish(),
    n: countField,
    seed: seedField,
    user: z.string().optional(),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  })
  .catchall(z.unknown());

const typedKeys = new Set(Object.keys(completionBody.shape));

export function toCompleteRequest(body: z.infer<typeof completionBody>): Exclude<MessageInitShape<typeof CompleteRequestSchema>, CompleteRequest> {
  assertNoTokenArrays(body.prompt, "prompt");
  let prompt: string;
  if (typeof body.prompt === "string") prompt = body.prompt;
  else if (body.prompt.length === 1) prompt = body.prompt[0] as string;
  else throw invalidArgument("prompt: send one prompt per request");
  return {
    endpoint: body.model,
    prompt,
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    maxTokens: body.max_tokens ?? undefined,
    stop: body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop,
    n: body.n ?? undefined,
    seed: body.seed == null ? undefined : BigInt(body.seed),
    user: body.user ?? "",
    extras: extrasOf(body, typedKeys),
  };
}

export function completionJson(res: CompleteResponse, created: number) {
  return {
    id: res.id,
    object: "text_completion",
    created,
    model: res.model,
    choices: res.choices.map((c) => ({ index: c.index, text: c.text, logprobs: null, finish_reason: c.finishReason || null })),
    usage: usageJson(res.usage),
  };
}

export function completionChunkJson(chunk: StreamCompleteResponse, created: number, includeUsage: boolean) {
  const base = { id: chunk.id, object: "text_completion", created, model: chunk.model };
  if (chunk.choices.length === 0) return usageChunkJson(base, chunk.usage, includeUsage);
  return {
    ...base,
    choices: chunk.choices.map((c) => ({ index: c.index, text: c.text, logprobs: null, finish_reason: c.finishReason || null })),
    ...(includeUsage ? { usage: null } : {}),
  };
}
