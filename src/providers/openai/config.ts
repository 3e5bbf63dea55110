// OpenAI endpoint config and the request envelope every OpenAI call shares. OpenAI-compatible
// servers (vLLM, Ollama, LM Studio) use the same provider with their own base URL and no key.
import type { JsonObject } from "@bufbuild/protobuf";
import { z } from "zod";
import { httpUrl, joinUrl, configOf } from "../request-builder";
import type { ModelTarget, UpstreamRequest } from "../types";

export const PROVIDER = "openai";

export const openaiConfigSchema = z.strictObject({
  openai_api_key: z.string().min(1).optional(),
  openai_api_base: httpUrl().default("https://api.openai.com/v1"),
  openai_organization: z.string().min(1).optional(),
});

export type OpenAIConfig = z.output<typeof openaiConfigSchema>;

export function openaiPost(target: ModelTarget, path: string, body: JsonObject): UpstreamRequest {
  const config = configOf<OpenAIConfig>(target);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (config.openai_api_key !== undefined) headers.authorization = `Bearer ${config.openai_api_key}`;
  if (config.openai_organization !== undefined) headers["openai-organization"] = config.openai_organization;
  return { method: "POST", url: joinUrl(config.openai_api_base, path), headers, body };
}
