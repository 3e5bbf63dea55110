// AWS Signature Version 4 for bedrock-runtime (signing name "bedrock"), with smithy's
// SignatureV4, the signer the AWS SDK for JavaScript uses.
//
// The upstream client calls `authorize(req, body)` with the request the translator built, not
// with the endpoint's config, so the translator attaches the config to that request object
// under a private symbol (non-enumerable: it is never serialised, and the request still
// compares equal to its fixture). One signer is made per endpoint config and reused: the config
// object lives as long as the endpoint, and a WeakMap lets a reloaded config's signers go.
import { Hash } from "@smithy/core/serde";
import { SignatureV4 } from "@smithy/signature-v4";
import { internal } from "../../errors";
import type { UpstreamRequest } from "../types";
import type { BedrockConfig } from "./config";

const signingConfig = Symbol("bedrock signing config");

type SignableRequest = UpstreamRequest & { readonly [signingConfig]?: BedrockConfig };

export function attachSigning(req: UpstreamRequest, config: BedrockConfig): UpstreamRequest {
  Object.defineProperty(req, signingConfig, { value: config, enumerable: false });
  return req;
}

const signers = new WeakMap<BedrockConfig, SignatureV4>();

/** The endpoint's one signer, made on first use. */
export function signerFor(config: BedrockConfig): SignatureV4 {
  let signer = signers.get(config);
  if (signer === undefined) {
    const { aws_access_key_id: accessKeyId, aws_secret_access_key: secretAccessKey } = config;
    if (accessKeyId === undefined || secretAccessKey === undefined) {
      throw internal("bedrock: SigV4 signing needs AWS access keys, and the config has none");
    }
    signer = new SignatureV4({
      service: "bedrock",
      region: config.aws_region,
      credentials: { accessKeyId, secretAccessKey, sessionToken: config.aws_session_token },
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
export async function signRequest(req: UpstreamRequest, body: string | undefined): Promise<Record<string, string>> {
  const config = (req as SignableRequest)[signingConfig];
  if (config === undefined) throw internal("bedrock: the request to sign was not built by the bedrock translator");
  if (config.bedrock_api_key !== undefined) return {};
  const url = new URL(req.url);
  // The host header undici derives from the URL (port included unless it is the default).
  const headers: Record<string, string> = { ...req.headers, host: url.host };
  const signed = await signerFor(config).sign({
    method: req.method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port === "" ? undefined : Number(url.port),
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers,
    body,
  });
  const added: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) {
    if (!(name in headers)) added[name] = value;
  }
  return added;
}
