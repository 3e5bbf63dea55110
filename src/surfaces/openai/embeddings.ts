// POST /v1/embeddings onto EmbeddingsService. The openai SDKs ask for base64 by default
// (little-endian float32), so both encodings are served.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { z } from "zod";
import type { EmbedRequestSchema, EmbedResponse } from "../../../gen/modelgate/v1/embeddings_pb";
import { assertNoTokenArrays, extrasOf } from "./chat";

export const embeddingBody = z
  .object({
    model: z.string().min(1, "model is required (the endpoint name)"),
    input: z.union([z.string(), z.array(z.unknown())]),
    encoding_format: z.enum(["float", "base64"]).optional(),
    user: z.string().optional(),
  })
  .catchall(z.unknown());

const typedKeys = new Set(Object.keys(embeddingBody.shape));

export function toEmbedRequest(body: z.infer<typeof embeddingBody>): MessageInitShape<typeof EmbedRequestSchema> {
  assertNoTokenArrays(body.input, "input");
  return {
    endpoint: body.model,
    inputs: typeof body.input === "string" ? [body.input] : (body.input as string[]),
    user: body.user ?? "",
    extras: extrasOf(body, typedKeys),
  };
}

export function embeddingsJson(res: EmbedResponse, encoding: "float" | "base64") {
  return {
    object: "list",
    data: res.data.map((d) => ({
      object: "embedding",
      index: d.index,
      embedding: encoding === "base64" ? Buffer.from(new Float32Array(d.values).buffer).toString("base64") : d.values,
    })),
    model: res.model,
    usage: { prompt_tokens: res.usage?.promptTokens ?? 0, total_tokens: res.usage?.totalTokens ?? 0 },
  };
}
