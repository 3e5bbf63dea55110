// Anthropic endpoint config and the request envelope of the Messages API.
// `anthropic_api_base` may be written as MLflow does (`https://api.anthropic.com/v1`, the
// default) or as the Anthropic SDKs take it (ANTHROPIC_BASE_URL, `https://api.anthropic.com`,
// to which they add `/v1`): both reach {origin}/v1/messages.
import type { JsonObject } from "@bufbuild/protobuf";
import { z } from "zod";
import { httpUrl, joinUrl, withLastSegment } from "../request-builder";
import type { ModelTarget } from "../types";
import type { UpstreamRequest } from "../../upstream/wire";

export const PROVIDER = "anthropic";

export const anthropicConfigSchema = z.strictObject({
  anthropic_api_key: z.string().min(1),
  anthropic_api_base: httpUrl().default("https://api.anthropic.com/v1"),
  anthropic_version: z.string().min(1).default("2023-06-01"),
});

export type AnthropicConfig = z.output<typeof anthropicConfigSchema>;

/** The base with its `/v1`, added when the SDK form (without it) was written. */
export function anthropicBase(base: string): string {
  return withLastSegment(base, "v1", /^v1$/);
}

export function messagesPost(target: ModelTarget<AnthropicConfig>, body: JsonObject): UpstreamRequest {
  const config = target.config;
  return {
    method: "POST",
    url: joinUrl(anthropicBase(config.anthropic_api_base), "/messages"),
    headers: {
      "x-api-key": config.anthropic_api_key,
      "anthropic-version": config.anthropic_version,
      "content-type": "application/json",
    },
    body,
  };
}
