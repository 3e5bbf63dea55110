// AWS Signature Version 4 for bedrock-runtime (signing name "bedrock"), with smithy's
// SignatureV4, the signer the AWS SDK for JavaScript uses. Its credentials: the config's static
// keys; or an assumed role (fromTemporaryCredentials: STS AssumeRole, from the config's keys or
// the default chain); or the AWS SDK's default chain (fromNodeProviderChain). Temporary
// credentials are cached and fetched again five minutes before they expire by the SDK's own
// memoizeIdentityProvider (what every AWS SDK client does with its credentials).
//
// The provider's authorize hook gets the request the translator built and the endpoint target
// with its typed config (src/providers/model.ts binds the target). One signer is made per
// endpoint config and reused: the config object lives as long as the endpoint, and a WeakMap
// lets a reloaded config's signers go.
import { fromNodeProviderChain, fromTemporaryCredentials } from "@aws-sdk/credential-providers";
import { doesIdentityRequireRefresh, isIdentityExpired, memoizeIdentityProvider } from "@smithy/core";
import { Hash } from "@smithy/core/serde";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { ConnectError } from "@connectrpc/connect";
import { internal, unavailable } from "../../errors";
import type { UpstreamRequest } from "../../upstream/wire";
import type { BedrockConfig } from "./config";

const signers = new WeakMap<BedrockConfig, SignatureV4>();

/** MLflow's session name for the role it assumes (mlflow/gateway/providers/bedrock.py). */
export const ROLE_SESSION_NAME = "ai-gateway-bedrock";

/** Where the endpoint's SigV4 credentials come from (the config was validated: one of these holds). */
export function credentialsFor(config: BedrockConfig): AwsCredentialIdentity | AwsCredentialIdentityProvider {
  const { aws_access_key_id: accessKeyId, aws_secret_access_key: secretAccessKey, aws_session_token: sessionToken } = config;
  const keys = accessKeyId !== undefined && secretAccessKey !== undefined ? { accessKeyId, secretAccessKey, sessionToken } : undefined;
  let provider: AwsCredentialIdentityProvider;
  if (config.aws_role_arn !== undefined) {
    provider = fromTemporaryCredentials({
      params: { RoleArn: config.aws_role_arn, RoleSessionName: ROLE_SESSION_NAME, DurationSeconds: config.session_length_seconds },
      // The keys beside the role, else the default chain, call STS.
      ...(keys ? { masterCredentials: keys } : {}),
      clientConfig: { region: config.aws_region },
    });
  } else if (keys) {
    return keys;
  } else {
    provider = fromNodeProviderChain();
  }
  return memoizeIdentityProvider(provider, isIdentityExpired, doesIdentityRequireRefresh)!;
}

/** The endpoint's one signer, made on first use. */
export function signerFor(config: BedrockConfig): SignatureV4 {
  let signer = signers.get(config);
  if (signer === undefined) {
    if (config.bedrock_api_key !== undefined) throw internal("bedrock: an endpoint with a Bedrock API key signs nothing");
    signer = new SignatureV4({
      service: "bedrock",
      region: config.aws_region,
      credentials: credentialsFor(config),
      sha256: Hash.bind(null, "sha256"),
    });
    signers.set(config, signer);
  }
  return signer;
}

/**
 * The SigV4 headers for a bedrock-runtime request: authorization, x-amz-date,
 * x-amz-content-sha256 and, with temporary keys, x-amz-security-token. The signature covers
 * the method, path, host, content-type and the exact body bytes the client will send. With a
 * Bedrock API key the bearer header is already on the request and nothing is added.
 */
export async function signRequest(req: UpstreamRequest, body: string | undefined, config: BedrockConfig): Promise<Record<string, string>> {
  if (config.bedrock_api_key !== undefined) return {};
  const url = new URL(req.url);
  // The host header undici derives from the URL (port included unless it is the default).
  const headers: Record<string, string> = { ...req.headers, host: url.host };
  let signed: Awaited<ReturnType<SignatureV4["sign"]>>;
  try {
    signed = await signerFor(config).sign({
      method: req.method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port === "" ? undefined : Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
    });
  } catch (err) {
    if (err instanceof ConnectError) throw err;
    // No credentials in the chain, STS refused the role, the metadata service is unreachable...:
    // the gateway's credentials, an operator problem (the message names no secret).
    throw unavailable(`bedrock: no AWS credentials to sign with: ${(err as Error).message}`);
  }
  const added: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) {
    if (!(name in headers)) added[name] = value;
  }
  return added;
}
