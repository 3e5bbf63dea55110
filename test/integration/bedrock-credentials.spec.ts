// Amazon Bedrock credentials as MLflow's gateway takes them, from the AWS SDK's own providers:
// an assumed role (aws_config.aws_role_arn: STS AssumeRole through fromTemporaryCredentials,
// against a fake STS on loopback named by the SDK's standard AWS_ENDPOINT_URL_STS), the default
// credential chain (fromNodeProviderChain: here its environment link), and the refresh of
// temporary credentials before they expire. The fake Bedrock verifies every SigV4 signature.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeBedrock, type FakeBedrock } from "../fakes/fake-bedrock";
import { startGateway, type TestGateway } from "./harness";

const haiku = "anthropic.claude-3-haiku-20240307-v1:0";
/** What the environment link of the default chain finds (and what calls STS for a role). */
const envKeys = { id: "AKIAENVIRONMENT00001", secret: "environment/Secret+Key/00000000000000000" };
/** What the fake STS hands out for an assumed role. */
const roleKeys = { id: "ASIAASSUMEDROLE00001", secret: "assumed/role/Secret+Key/000000000000000", token: "FwoGZXIvYXdzEASSUMEDROLETOKEN0001" };
const staticKeys = { id: "AKIASTATICMASTER0001", secret: "static/master/Secret+Key/00000000000000" };

interface StsCall {
  params: URLSearchParams;
  /** The access key id the STS request was signed with. */
  signedBy: string | undefined;
}

/** A fake STS: AssumeRole answers roleKeys; roles ending in /short expire in 2 minutes, /denied are refused. */
async function startFakeSts(): Promise<{ url: string; calls: StsCall[]; close(): Promise<void> }> {
  const calls: StsCall[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const params = new URLSearchParams(Buffer.concat(parts).toString("utf8"));
      const signedBy = /Credential=([^/]+)\//.exec(req.headers.authorization ?? "")?.[1];
      calls.push({ params, signedBy });
      const role = params.get("RoleArn") ?? "";
      if (params.get("Action") !== "AssumeRole" || role.endsWith("/denied")) {
        res.writeHead(403, { "content-type": "text/xml" });
        res.end(
          `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole on resource: ${role}</Message></Error><RequestId>r1</RequestId></ErrorResponse>`,
        );
        return;
      }
      // Relative to now: an hour (cached), or 2 minutes (inside the SDK's 5-minute refresh window).
      const expiration = new Date(Date.now() + (role.endsWith("/short") ? 120_000 : 3_600_000)).toISOString();
      res.writeHead(200, { "content-type": "text/xml" });
      res.end(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><AssumedRoleId>AROA00000000000000001:${params.get("RoleSessionName")}</AssumedRoleId><Arn>${role}</Arn></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${roleKeys.id}</AccessKeyId>
      <SecretAccessKey>${roleKeys.secret}</SecretAccessKey>
      <SessionToken>${roleKeys.token}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata>
</AssumeRoleResponse>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let sts: Awaited<ReturnType<typeof startFakeSts>>;
let asRole: FakeBedrock;
let asEnv: FakeBedrock;
let gw: TestGateway;

beforeAll(async () => {
  sts = await startFakeSts();
  // The SDK's own settings (this test file runs in a process of its own): where STS is, the
  // environment's keys, and no shared files or instance metadata to find instead.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_STS: sts.url,
    AWS_ACCESS_KEY_ID: envKeys.id,
    AWS_SECRET_ACCESS_KEY: envKeys.secret,
    AWS_CONFIG_FILE: "/nonexistent/aws-config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/aws-credentials",
    AWS_EC2_METADATA_DISABLED: "true",
  });
  delete process.env["AWS_SESSION_TOKEN"];
  delete process.env["AWS_PROFILE"];
  asRole = await startFakeBedrock({ credentials: { accessKeyId: roleKeys.id, secretAccessKey: roleKeys.secret, sessionToken: roleKeys.token } });
  asEnv = await startFakeBedrock({ credentials: { accessKeyId: envKeys.id, secretAccessKey: envKeys.secret } });
  const endpoint = (name: string, base: string, awsConfig: string) => `
  - name: ${name}
    endpoint_type: llm/v1/chat
    model: { provider: bedrock, name: "${haiku}", config: { bedrock_api_base: "${base}", aws_config: ${awsConfig} } }`;
  gw = await startGateway(`endpoints:${[
    endpoint("role", asRole.url, "{ aws_region: us-east-1, aws_role_arn: 'arn:aws:iam::123456789012:role/bedrock', session_length_seconds: 1800 }"),
    endpoint("short-role", asRole.url, "{ aws_region: us-east-1, aws_role_arn: 'arn:aws:iam::123456789012:role/short' }"),
    endpoint(
      "role-from-keys",
      asRole.url,
      `{ aws_region: us-east-1, aws_role_arn: 'arn:aws:iam::123456789012:role/bedrock', aws_access_key_id: ${staticKeys.id}, aws_secret_access_key: '${staticKeys.secret}' }`,
    ),
    endpoint("denied-role", asRole.url, "{ aws_region: us-east-1, aws_role_arn: 'arn:aws:iam::123456789012:role/denied' }"),
    endpoint("default-chain", asEnv.url, "{ aws_region: us-east-1 }"),
  ].join("")}
`);
});
afterAll(async () => {
  await gw?.close();
  await Promise.all([sts?.close(), asRole?.close(), asEnv?.close()]);
});
beforeEach(() => {
  sts.calls.length = 0;
  asRole.reset();
  asEnv.reset();
});

const ask = (endpoint: string, text = "hello") =>
  fetch(`${gw.url}/gateway/${endpoint}/invocations`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: text }] }),
  });

async function answer(endpoint: string): Promise<string> {
  const res = await ask(endpoint);
  const body = (await res.json()) as { choices?: { message: { content: string } }[]; detail?: unknown };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.choices![0]!.message.content;
}

describe("Bedrock credentials from the AWS SDK's providers", () => {
  it("aws_role_arn: STS AssumeRole (MLflow's session name and length), signed with the role's keys", async () => {
    expect(await answer("role")).toBe("echo: hello");
    expect(sts.calls).toHaveLength(1);
    const call = sts.calls[0]!;
    expect(Object.fromEntries(call.params)).toMatchObject({
      Action: "AssumeRole",
      RoleArn: "arn:aws:iam::123456789012:role/bedrock",
      RoleSessionName: "ai-gateway-bedrock",
      DurationSeconds: "1800",
    });
    // The default chain (its environment link) called STS.
    expect(call.signedBy).toBe(envKeys.id);
    const signed = asRole.requests[0]!;
    expect(signed.auth).toBe("sigv4");
    expect(signed.authError).toBeUndefined();
    expect(signed.headers["x-amz-security-token"]).toBe(roleKeys.token);
  });

  it("the assumed role's keys are reused until five minutes before they expire", async () => {
    for (let i = 0; i < 3; i++) await answer("role");
    // An hour of validity (the first test may have fetched them already): no new AssumeRole.
    expect(sts.calls.length).toBeLessThanOrEqual(1);
    // Keys that expire within the SDK's refresh window are fetched again before each use.
    const short = () => sts.calls.filter((c) => c.params.get("RoleArn")?.endsWith("/short")).length;
    for (let i = 0; i < 3; i++) {
      const before = short();
      await answer("short-role");
      expect(short()).toBeGreaterThan(before);
    }
  });

  it("keys beside the role call STS with them (MLflow would use the default chain)", async () => {
    await answer("role-from-keys");
    expect(sts.calls.map((c) => c.signedBy)).toEqual([staticKeys.id]);
  });

  it("aws_config with a region only: the default credential chain signs", async () => {
    expect(await answer("default-chain")).toBe("echo: hello");
    expect(sts.calls).toHaveLength(0);
    expect(asEnv.requests[0]?.headers.authorization).toContain(`Credential=${envKeys.id}/`);
    expect(asEnv.requests[0]?.authError).toBeUndefined();
  });

  it("a role STS refuses: the call fails as the gateway's credentials problem, naming no secret", async () => {
    const res = await ask("denied-role");
    const body = (await res.json()) as { detail: string };
    expect(res.status).toBe(503);
    expect(body.detail).toMatch(/^bedrock: no AWS credentials to sign with: .*not authorized/);
    for (const secret of [envKeys.secret, roleKeys.secret, staticKeys.secret]) expect(body.detail).not.toContain(secret);
    expect(asRole.requests).toHaveLength(0);
  });
});
