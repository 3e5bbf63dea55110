// POST /v1/embeddings onto EmbeddingsService. The openai SDKs ask for base64 by default
// (little-endian float32), so both encodings are served. `input` may be a text, a list of
// texts, token ids or a list of token-id lists (LangChain's OpenAIEmbeddings sends token ids).
// Vectors are asked for in FLOAT64, so float answers carry the upstream's numbers exactly.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { z } from "zod";
import type { EmbedRequestSchema, EmbedResponse } from "../../../gen/modelgate/v1/embeddings_pb";
import { extrasOf } from "./chat";

const tokenId = z.number().int().min(0).max(4_294_967_295);

export const embeddingBody = z
  .object({
    model: z.string().min(1, "model is required (the endpoint name)"),
    input: z.union(
      [z.string(), z.array(z.string()).min(1), z.array(tokenId).min(1), z.array(z.array(tokenId).min(1)).min(1)],
      { error: "must be a string, a list of strings, a list of token ids or a list of token-id lists" },
    ),
    encoding_format: z.enum(["float", "base64"]).optional(),
    user: z.string().optional(),
  })
  .catchall(z.unknown());

const typedKeys = new Set(Object.keys(embeddingBody.shape));

type EmbedInit = MessageInitShape<typeof EmbedRequestSchema>;

function inputFields(input: z.infer<typeof embeddingBody>["input"]): Pick<EmbedInit, "inputs" | "tokenInputs"> {
  if (typeof input === "string") return { inputs: [input] };
  if (input.every((i) => typeof i === "string")) return { inputs: input };
  if (input.every((i) => typeof i === "number")) return { tokenInputs: [{ ids: input }] };
  return { tokenInputs: (input as number[][]).map((ids) => ({ ids })) };
}

export function toEmbedRequest(body: z.infer<typeof embeddingBody>): EmbedInit {
  return {
    endpoint: body.model,
    ...inputFields(body.input),
    user: body.user ?? "",
    extras: extrasOf(body, typedKeys),
  };
}

/** An embedding's numbers: the exact ones (precision FLOAT64), else the float32 ones. */
export function embeddingValues(d: EmbedResponse["data"][number]): number[] {
  return d.doubleValues.length > 0 ? d.doubleValues : d.values;
}

export function embeddingsJson(res: EmbedResponse, encoding: "float" | "base64") {
  return {
    object: "list",
    data: res.data.map((d) => ({
      object: "embedding",
      index: d.index,
      embedding: encoding === "base64" ? Buffer.from(new Float32Array(embeddingValues(d)).buffer).toString("base64") : embeddingValues(d),
    })),
    model: res.model,
    usage: { prompt_tokens: res.usage?.promptTokens ?? 0, total_tokens: res.usage?.totalTokens ?? 0 },
  };
}
