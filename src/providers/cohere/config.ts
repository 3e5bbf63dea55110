// Cohere endpoint config and the request envelope of its v2 API: POST {base}/v2/chat and
// /v2/embed with a Bearer key (https://docs.cohere.com/v2/reference/chat,
// https://docs.cohere.com/v2/reference/embed).
// `cohere_api_base` is the origin, as the Cohere SDKs take it (CO_API_URL); a base written
// with a version (`.../v2`, or MLflow's `https://api.cohere.ai/v1`) has it dropped, since the
// paths carry /v2 themselves.
import type { JsonObject } from "@bufbuild/protobuf";
import { z } from "zod";
import { httpUrl, joinUrl, withoutLastSegment } from "../request-builder";
import type { ModelTarget } from "../types";
import type { UpstreamRequest } from "../../upstream/wire";
import { isRecord } from "../upstream-reader";

export const PROVIDER = "cohere";

export const cohereConfigSchema = z.strictObject({
  cohere_api_key: z.string().min(1),
  cohere_api_base: httpUrl().default("https://api.cohere.com"),
});

export type CohereConfig = z.output<typeof cohereConfigSchema>;

export function coherePost(target: ModelTarget<CohereConfig>, path: string, body: JsonObject): UpstreamRequest {
  const config = target.config;
  return {
    method: "POST",
    url: joinUrl(withoutLastSegment(config.cohere_api_base, /^v[12]$/), path),
    headers: { authorization: `Bearer ${config.cohere_api_key}`, "content-type": "application/json" },
    body,
  };
}

/** Cohere's errors are `{"id"?, "message": "..."}`. */
export function cohereErrorMessage(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  return typeof body.message === "string" && body.message !== "" ? body.message : undefined;
}
