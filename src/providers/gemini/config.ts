// Gemini API (Google AI Studio) endpoint config and the request envelope of its REST calls:
// POST {base}/models/{model}:{method} with the key in `x-goog-api-key`
// (https://ai.google.dev/api/generate-content, https://ai.google.dev/api/embeddings).
// `gemini_api_base` holds the API version (`.../v1beta`, the default); the Google GenAI SDKs
// take the bare origin and add the version themselves, and MLflow's base ends in `/models`:
// the base is read in all three forms.
import type { JsonObject } from "@bufbuild/protobuf";
import { z } from "zod";
import { httpUrl, joinUrl, withLastSegment, withoutLastSegment } from "../request-builder";
import type { ModelTarget } from "../types";
import type { UpstreamRequest } from "../../upstream/wire";

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

/**
 * The base ending in its API version (v1beta, v1, v1alpha ...): a trailing `/models` is dropped
 * (we add the model's resource name), and a base without a version gets `/v1beta`, as the SDKs do.
 */
export function geminiBase(base: string): string {
  return withLastSegment(withoutLastSegment(base, /^models$/), "v1beta", /^v\d+(?:alpha|beta)?\d*$/);
}

/** `method` is the part after the colon: generateContent, streamGenerateContent?alt=sse, ... */
export function geminiPost(target: ModelTarget<GeminiConfig>, method: string, body: JsonObject): UpstreamRequest {
  const config = target.config;
  return {
    method: "POST",
    url: joinUrl(geminiBase(config.gemini_api_base), `/${modelResource(target.name)}:${method}`),
    headers: { "x-goog-api-key": config.gemini_api_key, "content-type": "application/json" },
    body,
  };
}
