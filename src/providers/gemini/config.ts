// Gemini API (Google AI Studio) endpoint config and the request envelope of its REST calls:
// POST {base}/models/{model}:{method} with the key in `x-goog-api-key`
// (https://ai.google.dev/api/generate-content, https://ai.google.dev/api/embeddings).
import type { JsonObject } from "@bufbuild/protobuf";
import { z } from "zod";
import { configOf, httpUrl, joinUrl } from "../request-builder";
import type { ModelTarget, UpstreamRequest } from "../types";

export const PROVIDER = "gemini";

export const geminiConfigSchema = z.strictObject({
  gemini_api_key: z.string().min(1),
  gemini_api_base: httpUrl().default("https://generativelanguage.googleapis.com/v1beta"),
});

export type GeminiConfig = z.output<typeof geminiConfigSchema>;

/**
 * The model's resource name: a bare name gets the `models/` prefix; names that already carry
 * a collection (`models/...`, `tunedModels/...`) are used as they are.
 */
export function modelResource(name: string): string {
  return name.includes("/") ? name : `models/${name}`;
}

/** `method` is the part after the colon: generateContent, streamGenerateContent?alt=sse, ... */
export function geminiPost(target: ModelTarget, method: string, body: JsonObject): UpstreamRequest {
  const config = configOf<GeminiConfig>(target);
  return {
    method: "POST",
    url: joinUrl(config.gemini_api_base, `/${modelResource(target.name)}:${method}`),
    headers: { "x-goog-api-key": config.gemini_api_key, "content-type": "application/json" },
    body,
  };
}
