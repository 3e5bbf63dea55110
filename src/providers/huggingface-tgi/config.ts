// Hugging Face Text Generation Inference (a TGI server, or an Inference Endpoint running it):
// MLflow's `huggingface-text-generation-inference` config, and where each call goes.
//   hf_server_url        the server's base URL (required: there is no public default); the
//                        `/v1` of the base TGI documents for OpenAI clients is dropped, since
//                        the native routes sit at the root and the chat path carries /v1
//   huggingface_api_key  sent as `Authorization: Bearer`; Inference Endpoints need it, a
//                        server of your own usually does not
import type { JsonObject } from "@bufbuild/protobuf";
import { z } from "zod";
import { httpUrl, joinUrl, withoutLastSegment } from "../request-builder";
import type { ModelTarget } from "../types";
import type { UpstreamRequest } from "../../upstream/wire";

/** MLflow's name for the provider; `huggingface-tgi` is accepted as a shorter alias. */
export const MLFLOW_NAME = "huggingface-text-generation-inference";
export const SHORT_NAME = "huggingface-tgi";

export const tgiConfigSchema = z.strictObject({
  hf_server_url: httpUrl(),
  huggingface_api_key: z.string().min(1).optional(),
});

export type TgiConfig = z.output<typeof tgiConfigSchema>;

export function tgiHeaders(target: ModelTarget<TgiConfig>): Record<string, string> {
  const config = target.config;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (config.huggingface_api_key !== undefined) headers.authorization = `Bearer ${config.huggingface_api_key}`;
  return headers;
}

/** `path` is a TGI route: /generate, /generate_stream or /v1/chat/completions. */
export function tgiUrl(target: ModelTarget<TgiConfig>, path: string): string {
  return joinUrl(withoutLastSegment(target.config.hf_server_url, /^v1$/), path);
}

export function tgiPost(target: ModelTarget<TgiConfig>, path: string, body: JsonObject): UpstreamRequest {
  return { method: "POST", url: tgiUrl(target, path), headers: tgiHeaders(target), body };
}
