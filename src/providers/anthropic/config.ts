// Anthropic endpoint config and the request envelope of the Messages API.
import type { JsonObject } from "@bufbuild/protobuf";
import { z } from "zod";
import { httpUrl, joinUrl, configOf } from "../request-builder";
import type { ModelTarget, UpstreamRequest } from "../types";

export const PROVIDER = "anthropic";

export const anthropicConfigSchema = z.strictObject({
  anthropic_api_key: z.string().min(1),
  anthropic_api_base: httpUrl().default("https://api.anthropic.com/v1"),
  anthropic_version: z.string().min(1).default("2023-06-01"),
});

export type AnthropicConfig = z.output<typeof anthropicConfigSchema>;

export function messagesPost(target: ModelTarget, body: JsonObject): UpstreamRequest {
  const config = configOf<AnthropicConfig>(target);
  return {
    method: "POST",
    url: joinUrl(config.anthropic_api_base, "/messages"),
    headers: {
      "x-api-key": config.anthropic_api_key,
      "anthropic-version": config.anthropic_version,
      "content-type": "application/json",
    },
    body,
  };
}
