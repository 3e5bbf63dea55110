// OpenAI endpoint config, with MLflow's Azure keys, and where each call goes.
//
// `openai_api_type` picks the flavour, as in MLflow's OpenAIConfig (case-insensitive):
//   openai   {openai_api_base}/chat/completions, `Authorization: Bearer openai_api_key`
//            (the key may be left out for OpenAI-compatible servers such as vLLM or Ollama);
//            `openai_api_version`, if set, is sent as `?api-version=`, as MLflow does.
//   azure    {openai_api_base}/openai/deployments/{openai_deployment_name}/chat/completions
//            ?api-version={openai_api_version}, `api-key: openai_api_key`
//   azuread  the same URL, `Authorization: Bearer openai_api_key`, where the key is a
//            Microsoft Entra ID access token obtained outside the gateway (as in MLflow).
// For both Azure types the base, deployment, version and key are required, the body carries no
// `model` (the deployment names it), and `openai_organization` is refused; the openai type
// refuses a deployment name. The `azure-openai` provider is the same config with the type
// defaulting to azure (see index.ts).
import { z } from "zod";
import { httpUrl, joinUrl } from "../request-builder";
import type { ModelTarget } from "../types";
import type { OpenAIConnection, OpenAIPath } from "./dialect";

export const PROVIDER = "openai";
export const OPENAI_API_BASE = "https://api.openai.com/v1";

export const apiTypes = ["openai", "azure", "azuread"] as const;
export type ApiType = (typeof apiTypes)[number];

const apiType = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(apiTypes, { error: `must be one of ${apiTypes.join(", ")}` }));

const fields = z.strictObject({
  openai_api_key: z.string().min(1).optional(),
  openai_api_type: apiType.optional(),
  openai_api_base: httpUrl().optional(),
  openai_api_version: z.string().min(1).optional(),
  openai_deployment_name: z.string().min(1).optional(),
  openai_organization: z.string().min(1).optional(),
});

type Fields = z.output<typeof fields>;

/** The parsed config: the type is left out for plain OpenAI, and the base is always set. */
export type OpenAIConfig = Fields & { openai_api_base: string };

/** Checks the keys that depend on the API type, reporting each problem at its key. */
function checkApiType(config: Fields, ctx: z.RefinementCtx, type: ApiType): void {
  const problem = (key: keyof Fields, message: string) => ctx.addIssue({ code: "custom", path: [key], message });
  if (type === "openai") {
    if (config.openai_deployment_name !== undefined) {
      problem("openai_deployment_name", "only allowed when openai_api_type is azure or azuread");
    }
    return;
  }
  const required: (keyof Fields)[] = ["openai_api_key", "openai_api_base", "openai_deployment_name", "openai_api_version"];
  for (const key of required) {
    if (config[key] === undefined) problem(key, `required when openai_api_type is ${type}`);
  }
  if (config.openai_organization !== undefined) {
    problem("openai_organization", "only allowed when openai_api_type is openai");
  }
}

/** The `openai` provider's config: MLflow's OpenAIConfig keys. */
export const openaiConfigSchema = fields
  .superRefine((config, ctx) => checkApiType(config, ctx, config.openai_api_type ?? "openai"))
  .transform((config): OpenAIConfig => ({ ...config, openai_api_base: config.openai_api_base ?? OPENAI_API_BASE }));

/**
 * The `azure-openai` provider's config: the same keys, the type defaulting to azure (and
 * written into the parsed config, so a call never has to guess).
 */
export const azureOpenaiConfigSchema = fields
  .superRefine((config, ctx) => {
    if (config.openai_api_type === "openai") {
      ctx.addIssue({ code: "custom", path: ["openai_api_type"], message: "must be azure or azuread (use provider openai for OpenAI)" });
      return;
    }
    checkApiType(config, ctx, config.openai_api_type ?? "azure");
  })
  // The refinement guarantees the base; the fallback only satisfies the type.
  .transform((config): OpenAIConfig => ({
    ...config,
    openai_api_type: config.openai_api_type ?? "azure",
    openai_api_base: config.openai_api_base ?? "",
  }));

const query = (version: string) => `?api-version=${encodeURIComponent(version)}`;

/** Where an OpenAI or Azure OpenAI call goes, and its credentials. */
export function connectOpenAI(target: ModelTarget<OpenAIConfig>, path: OpenAIPath): OpenAIConnection {
  const config = target.config;
  const type = config.openai_api_type ?? "openai";
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (type === "openai") {
    if (config.openai_api_key !== undefined) headers.authorization = `Bearer ${config.openai_api_key}`;
    if (config.openai_organization !== undefined) headers["openai-organization"] = config.openai_organization;
    const version = config.openai_api_version === undefined ? "" : query(config.openai_api_version);
    return { url: joinUrl(config.openai_api_base, path) + version, headers, modelInBody: true };
  }
  // The schema made these present for both Azure types.
  const key = config.openai_api_key ?? "";
  if (type === "azure") headers["api-key"] = key;
  else headers.authorization = `Bearer ${key}`;
  const deployment = encodeURIComponent(config.openai_deployment_name ?? "");
  const url = joinUrl(config.openai_api_base, `/openai/deployments/${deployment}${path}`);
  return { url: url + query(config.openai_api_version ?? ""), headers, modelInBody: false };
}
