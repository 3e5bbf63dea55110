// Amazon Bedrock endpoint config and the request envelope of the bedrock-runtime API.
// Keys follow MLflow's AI Gateway: `aws_config: {aws_region, aws_access_key_id,
// aws_secret_access_key, aws_session_token}` (mlflow/gateway/config.py, AWSIdAndKey), also
// accepted flat beside `bedrock_api_base`; or a Bedrock API key (`bedrock_api_key`, sent as
// `Authorization: Bearer`, https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-use.html)
// instead of SigV4 keys.
import type { JsonObject } from "@bufbuild/protobuf";
import { z } from "zod";
import { configOf, httpUrl, joinUrl } from "../request-builder";
import type { ModelTarget, UpstreamRequest } from "../types";
import { attachSigning } from "./signing";

export const PROVIDER = "bedrock";

// us-east-1, eu-central-2, ap-southeast-4, us-gov-west-1, cn-north-1 ...
const awsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, "must be an AWS region such as us-east-1");
const secret = z.string().min(1);

const credentialKeys = {
  aws_region: awsRegion.optional(),
  aws_access_key_id: secret.optional(),
  aws_secret_access_key: secret.optional(),
  aws_session_token: secret.optional(),
};
type CredentialKey = keyof typeof credentialKeys;

const awsConfig = z.strictObject({
  ...credentialKeys,
  // MLflow's AWSRole: accepted here only to refuse it with a useful message below.
  aws_role_arn: z.string().optional(),
  session_length_seconds: z.number().optional(),
});

const rawConfig = z.strictObject({
  ...credentialKeys,
  aws_config: awsConfig.optional(),
  bedrock_api_key: secret.optional(),
  bedrock_api_base: httpUrl().optional(),
});

/** The validated config: one region, one base URL, and either SigV4 keys or an API key. */
export interface BedrockConfig {
  aws_region: string;
  bedrock_api_base: string;
  aws_access_key_id?: string;
  aws_secret_access_key?: string;
  aws_session_token?: string;
  bedrock_api_key?: string;
  [key: string]: unknown;
}

export const bedrockConfigSchema = rawConfig
  .superRefine((raw, ctx) => {
    const nested = raw.aws_config ?? {};
    const issue = (message: string, path: (string | number)[] = []) => ctx.addIssue({ code: "custom", message, path });
    for (const key of Object.keys(credentialKeys) as CredentialKey[]) {
      if (raw[key] !== undefined && nested[key] !== undefined) {
        issue(`given both here and in aws_config; keep one`, [key]);
      }
    }
    if (raw.aws_config?.aws_role_arn !== undefined) {
      issue(
        "assuming a role (STS AssumeRole) is not supported; give aws_access_key_id and aws_secret_access_key (with aws_session_token for temporary keys), or bedrock_api_key",
        ["aws_config", "aws_role_arn"],
      );
      return;
    }
    const pick = (key: CredentialKey) => raw[key] ?? nested[key];
    if (pick("aws_region") === undefined) issue("aws_region is required (here or in aws_config)");
    const keyId = pick("aws_access_key_id");
    const secretKey = pick("aws_secret_access_key");
    if ((keyId === undefined) !== (secretKey === undefined)) {
      issue("aws_access_key_id and aws_secret_access_key go together: give both or neither");
    }
    if (pick("aws_session_token") !== undefined && keyId === undefined) {
      issue("aws_session_token needs aws_access_key_id and aws_secret_access_key");
    }
    if (raw.bedrock_api_key !== undefined && keyId !== undefined) {
      issue("give either bedrock_api_key or AWS access keys, not both");
    }
    if (raw.bedrock_api_key === undefined && keyId === undefined) {
      issue("credentials are required: aws_access_key_id and aws_secret_access_key (SigV4), or bedrock_api_key");
    }
  })
  .transform((raw): BedrockConfig => {
    const nested = raw.aws_config ?? {};
    const region = (raw.aws_region ?? nested.aws_region)!;
    const config: BedrockConfig = {
      aws_region: region,
      bedrock_api_base: raw.bedrock_api_base ?? `https://bedrock-runtime.${region}.amazonaws.com`,
    };
    for (const key of ["aws_access_key_id", "aws_secret_access_key", "aws_session_token"] as const) {
      const value = raw[key] ?? nested[key];
      if (value !== undefined) config[key] = value;
    }
    if (raw.bedrock_api_key !== undefined) config.bedrock_api_key = raw.bedrock_api_key;
    return config;
  });

/**
 * `/model/{modelId}/{operation}`. Model ids hold `:` (anthropic.claude-3-haiku-20240307-v1:0)
 * and ARNs hold `/` too, so the id is one encoded path segment, as the AWS SDKs send it.
 */
export function modelPath(modelId: string, operation: "converse" | "converse-stream" | "invoke"): string {
  return `/model/${encodeURIComponent(modelId)}/${operation}`;
}

/** A bedrock-runtime POST. SigV4 headers are added by the provider's authorize hook. */
export function bedrockPost(target: ModelTarget, path: string, body: JsonObject): UpstreamRequest {
  const config = configOf<BedrockConfig>(target);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (config.bedrock_api_key !== undefined) headers.authorization = `Bearer ${config.bedrock_api_key}`;
  return attachSigning({ method: "POST", url: joinUrl(config.bedrock_api_base, path), headers, body }, config);
}
