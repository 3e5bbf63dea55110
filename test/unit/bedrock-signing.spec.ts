// Bedrock's SigV4 signing, checked against an independent implementation of the algorithm
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html) written here
// with node:crypto: canonical request (each path segment URI-encoded twice, as for every
// service but S3), string to sign, derived key, signature.
import { createHash, createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type BedrockConfig, bedrockConfigSchema, bedrockPost, modelPath } from "../../src/providers/bedrock/config";
import { signRequest, signerFor } from "../../src/providers/bedrock/signing";

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const hmac = (key: string | Buffer, s: string) => createHmac("sha256", key).update(s, "utf8").digest();
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function expectedAuthorization(opts: {
  method: string;
  host: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  amzDate: string;
  region: string;
  keyId: string;
  secret: string;
}): string {
  const headers: Record<string, string> = { ...opts.headers, host: opts.host, "x-amz-date": opts.amzDate, "x-amz-content-sha256": sha256(opts.body) };
  const names = Object.keys(headers).map((n) => n.toLowerCase()).sort();
  const canonicalUri = opts.path.split("/").map(rfc3986).join("/");
  const canonicalRequest = [
    opts.method,
    canonicalUri,
    "",
    names.map((n) => `${n}:${headers[n]!.trim()}\n`).join(""),
    names.join(";"),
    sha256(opts.body),
  ].join("\n");
  const day = opts.amzDate.slice(0, 8);
  const scope = `${day}/${opts.region}/bedrock/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", opts.amzDate, scope, sha256(canonicalRequest)].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${opts.secret}`, day), opts.region), "bedrock"), "aws4_request");
  const signature = createHmac("sha256", key).update(stringToSign, "utf8").digest("hex");
  return `AWS4-HMAC-SHA256 Credential=${opts.keyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
}

const keyId = "AKIDEXAMPLE";
const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const config = (extra: Record<string, string> = {}) =>
  bedrockConfigSchema.parse({ aws_region: "eu-west-3", aws_access_key_id: keyId, aws_secret_access_key: secret, ...extra }) as BedrockConfig;
const body = JSON.stringify({ messages: [{ role: "user", content: [{ text: "Grüße" }] }] });

describe("bedrock SigV4 signing", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date("2025-03-09T23:59:58Z"), toFake: ["Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([
    ["a foundation model id", "anthropic.claude-3-haiku-20240307-v1:0", "https://bedrock-runtime.eu-west-3.amazonaws.com", "bedrock-runtime.eu-west-3.amazonaws.com"],
    ["an inference profile ARN", "arn:aws:bedrock:eu-west-3:123456789012:inference-profile/eu.amazon.nova-pro-v1:0", "https://bedrock-runtime.eu-west-3.amazonaws.com", "bedrock-runtime.eu-west-3.amazonaws.com"],
    ["a base URL with a port", "amazon.titan-embed-text-v2:0", "http://127.0.0.1:4566/", "127.0.0.1:4566"],
  ])("signs a request for %s as the SigV4 algorithm says", async (_what, modelId, base, host) => {
    const target = { name: modelId, config: config({ bedrock_api_base: base }) };
    const req = bedrockPost(target, modelPath(modelId, "converse"), JSON.parse(body));
    const headers = await signRequest(req, body, target.config);
    const path = new URL(req.url).pathname;
    expect(path).toBe(`/model/${encodeURIComponent(modelId)}/converse`);
    expect(headers).toEqual({
      "x-amz-date": "20250309T235958Z",
      "x-amz-content-sha256": sha256(body),
      authorization: expectedAuthorization({
        method: "POST", host, path, headers: { "content-type": "application/json" }, body,
        amzDate: "20250309T235958Z", region: "eu-west-3", keyId, secret,
      }),
    });
  });

  it("signs the session token of temporary credentials", async () => {
    const token = "FwoGZXIvYXdzEXAMPLE//token+with/slashes=";
    const target = { name: "m", config: config({ aws_session_token: token }) };
    const req = bedrockPost(target, modelPath("m", "converse"), JSON.parse(body));
    const headers = await signRequest(req, body, target.config);
    expect(headers["x-amz-security-token"]).toBe(token);
    expect(headers.authorization).toBe(
      expectedAuthorization({
        method: "POST", host: "bedrock-runtime.eu-west-3.amazonaws.com", path: "/model/m/converse",
        headers: { "content-type": "application/json", "x-amz-security-token": token }, body,
        amzDate: "20250309T235958Z", region: "eu-west-3", keyId, secret,
      }),
    );
  });

  it("adds nothing with a Bedrock API key (the bearer header is already on the request)", async () => {
    const apiKeyConfig = bedrockConfigSchema.parse({ aws_region: "us-east-1", bedrock_api_key: "ABSK-test" }) as BedrockConfig;
    const req = bedrockPost({ name: "m", config: apiKeyConfig }, modelPath("m", "converse"), {});
    expect(req.headers.authorization).toBe("Bearer ABSK-test");
    expect(await signRequest(req, "{}", apiKeyConfig)).toEqual({});
  });

  it("makes one signer per endpoint config and reuses it", () => {
    const a = config();
    const b = config();
    expect(signerFor(a)).toBe(signerFor(a));
    expect(signerFor(a)).not.toBe(signerFor(b));
  });

  it("signs with the config it is given (the endpoint target's), nothing carried on the request", async () => {
    const req = bedrockPost({ name: "m", config: config() }, modelPath("m", "converse"), JSON.parse(body));
    expect(Object.getOwnPropertySymbols(req)).toEqual([]);
    const headers = await signRequest(req, body, config({ aws_region: "us-west-2" }));
    expect(headers.authorization).toContain("/us-west-2/bedrock/aws4_request");
  });

  it("keeps the signing config out of the serialised request", () => {
    const req = bedrockPost({ name: "m", config: config() }, modelPath("m", "converse"), {});
    expect(JSON.stringify(req)).not.toContain(secret);
    expect(Object.keys(req)).toEqual(["method", "url", "headers", "body"]);
  });
});
