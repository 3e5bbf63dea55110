// Ollama endpoint config and the request envelope of its native API.
// Ollama serves on http://127.0.0.1:11434 with no authentication; a key is only needed behind an
// authenticating proxy or for ollama.com's hosted API (which takes `Authorization: Bearer`).
// `ollama_api_base` is the server's origin, as OLLAMA_HOST and the Ollama SDKs take it; a base
// written with `/api` (the native prefix, which the paths carry) or `/v1` (the base Ollama
// documents for OpenAI clients) has it dropped.
import type { JsonObject } from "@bufbuild/protobuf";
import { z } from "zod";
import { httpUrl, joinUrl, withoutLastSegment } from "../request-builder";
import type { ModelTarget } from "../types";
import type { UpstreamRequest } from "../../upstream/wire";

export const PROVIDER = "ollama";

export const ollamaConfigSchema = z.strictObject({
  ollama_api_base: httpUrl().default("http://127.0.0.1:11434"),
  ollama_api_key: z.string().min(1).optional(),
});

export type OllamaConfig = z.output<typeof ollamaConfigSchema>;

export type OllamaPath = "/api/chat" | "/api/generate" | "/api/embed";

export function ollamaPost(target: ModelTarget<OllamaConfig>, path: OllamaPath, body: JsonObject): UpstreamRequest {
  const config = target.config;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (config.ollama_api_key !== undefined) headers.authorization = `Bearer ${config.ollama_api_key}`;
  return { method: "POST", url: joinUrl(withoutLastSegment(config.ollama_api_base, /^(?:api|v1)$/), path), headers, body };
}
