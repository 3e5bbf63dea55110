// Amazon Bedrock endpoint config and the request envelope of the bedrock-runtime API.
// Credentials, as MLflow's AI Gateway takes them (mlflow/gateway/config.py, AmazonBedrockConfig):
//   - `aws_config: {aws_region, aws_access_key_id, aws_secret_access_key, aws_session_token}`
//     (AWSIdAndKey), also accepted flat beside `bedrock_api_base`: static keys;
//   - `aws_config: {aws_region, aws_role_arn, session_length_seconds}` (AWSRole): the role is
//     assumed with STS AssumeRole (session "ai-gateway-bedrock", as MLflow names it), from the
//     default credential chain, or from the keys given beside it;
//   - `aws_config: {aws_region}` alone (AWSBaseConfig): the AWS SDK's default credential chain
//     (environment, shared config and SSO profiles, web identity, container and instance roles);
//   - or a Bedrock API key (`bedrock_api_key`, sent as `Authorization: Bearer`,
//     https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-use.html) instead of SigV4.
// Temporary credentials come from the AWS SDK's own providers and are refreshed before they
// expire (src/providers/bedrock/signing.ts).
import type { JsonObject } from "@bufbuild/protobuf";
import { z } from "zod";
import { httpUrl, joinUrl } from "../request-builder";
import type { ModelTarget } from "../types";
import type { UpstreamRequest } from "../../upstream/wire";

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
  /** MLflow's AWSRole: the role to assume (STS AssumeRole) for every call. */
  aws_role_arn: z.string().min(1).optional(),
  /** How long each assumed-role session lasts (MLflow's default: 15 minutes). */
  session_length_seconds: z.number().int().positive().optional(),
});

const rawConfig = z.strictObject({
  ...credentialKeys,
  aws_config: awsConfig.optional(),
  bedrock_api_key: secret.optional(),
  bedrock_api_base: httpUrl().optional(),
});

/**
 * The validated config: one region, one base URL, and where the credentials come from: static
 * SigV4 keys, an assumed role, the default credential chain, or a Bedrock API key.
 */
export interface BedrockConfig {
  aws_region: string;
  bedrock_api_base: string;
  aws_access_key_id?: string;
  aws_secret_access_key?: string;
  aws_session_token?: string;
  aws_role_arn?: string;
  session_length_seconds?: number;
  bedrock_api_key?: string;
  [key: string]: unknown;
}

/** MLflow's AWSRole.session_length_seconds default. */
export const DEFAULT_SESSION_SECONDS = 15 * 60;

export const bedrockConfigSchema = rawConfig
  .superRefine((raw, ctx) => {
    const nested = raw.aws_config ?? {};
    const issue = (message: string, path: (string | number)[] = []) => ctx.addIssue({ code: "custom", message, path });
    for (const key of Object.keys(credentialKeys) as CredentialKey[]) {
      if (raw[key] !== undefined && nested[key] !== undefined) {
        issue(`given both here and in aws_config; keep one`, [key]);
      }
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
    const role = raw.aws_config?.aws_role_arn;
    if (raw.aws_config?.session_length_seconds !== undefined && role === undefined) {
      issue("session_length_seconds goes with aws_role_arn", ["aws_config", "session_length_seconds"]);
    }
    if (raw.bedrock_api_key !== undefined && (keyId !== undefined || role !== undefined)) {
      issue("give either bedrock_api_key or AWS credentials (keys or a role), not both");
    }
    // No keys, no role, no API key: the AWS SDK's default credential chain (as MLflow's boto3 does).
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
    if (raw.aws_config?.aws_role_arn !== undefined) {
      config.aws_role_arn = raw.aws_config.aws_role_arn;
      config.session_length_seconds = raw.aws_config.session_length_seconds ?? DEFAULT_SESSION_SECONDS;
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
export function bedrockPost(target: ModelTarget<BedrockConfig>, path: string, body: JsonObject): UpstreamRequest {
  const config = target.config;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (config.bedrock_api_key !== undefined) headers.authorization = `Bearer ${config.bedrock_api_key}`;
  return { method: "POST", url: joinUrl(config.bedrock_api_base, path), headers, body };
}
