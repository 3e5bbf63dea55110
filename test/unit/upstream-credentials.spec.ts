// The credentials sent upstream are taken out of any message built from an upstream's text
// (src/upstream/credentials.ts): every credential header's value, whole and in its long pieces.
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { credentialsIn, redactCredentials, withoutCredentials } from "../../src/upstream/credentials";

const openaiKey = "sk-proj-abcdefghijklmnopqrstuvwxyz0123";
const awsAuth =
  "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261207/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024";

describe("credentialsIn", () => {
  it("takes the credential headers' values and their long pieces, nothing of the other headers", () => {
    const found = credentialsIn({
      authorization: `Bearer ${openaiKey}`,
      "x-api-key": "sk-ant-api03-0123456789abcdef",
      "api-key": "azure0123456789abcdef",
      "x-goog-api-key": "AIzaSyA0123456789abcdefghijklmnopqrstu",
      "x-amz-security-token": "IQoJb3JpZ2luX2VjEJr//////////session",
      "content-type": "application/json",
      "anthropic-version": "2023-06-01",
      "x-request-id": "0123456789abcdef0123456789abcdef",
    });
    expect(found).toContain(`Bearer ${openaiKey}`);
    expect(found).toContain(openaiKey);
    expect(found).toContain("sk-ant-api03-0123456789abcdef");
    expect(found).toContain("azure0123456789abcdef");
    expect(found).toContain("AIzaSyA0123456789abcdefghijklmnopqrstu");
    expect(found).toContain("IQoJb3JpZ2luX2VjEJr//////////session");
    expect(found).not.toContain("Bearer");
    expect(found.some((c) => c.includes("application/json") || c.includes("2023-06-01") || c.includes("0123456789abcdef0123456789abcdef"))).toBe(false);
    // Longest first: a whole value is replaced before the pieces inside it.
    expect([...found].sort((a, b) => b.length - a.length)).toEqual(found);
  });

  it("an AWS SigV4 Authorization: the whole value, its key id and its signature", () => {
    const found = credentialsIn({ authorization: awsAuth });
    expect(found).toContain(awsAuth);
    expect(found).toContain("AKIAIOSFODNN7EXAMPLE");
    expect(found).toContain("fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024");
    expect(found).not.toContain("us-east-1");
  });
});

describe("credentialsIn, the URL", () => {
  it("a query parameter named as a credential (raw and as the URL carries it) and a password", () => {
    const found = credentialsIn({}, "https://user:p%40ss-0123456789abcdef@proxy.example/v1/chat?api-key=k%2Fey-0123456789abcdef&api-version=2024-10-21");
    expect(found).toContain("k/ey-0123456789abcdef");
    expect(found).toContain("k%2Fey-0123456789abcdef");
    expect(found).toContain("p%40ss-0123456789abcdef");
    expect(found).toContain("p@ss-0123456789abcdef");
    expect(found).not.toContain("2024-10-21");
    expect(found.some((c) => c.includes("proxy.example"))).toBe(false);
  });

  it("a URL without a query or a password, or no URL at all: nothing", () => {
    expect(credentialsIn({}, "https://api.openai.com/v1/chat/completions")).toEqual([]);
    expect(credentialsIn({}, "not a url ?key=x")).toEqual([]);
    expect(credentialsIn({})).toEqual([]);
  });
});

describe("redactCredentials and withoutCredentials", () => {
  it("replaces every occurrence, quoted whole or in part", () => {
    const creds = credentialsIn({ authorization: `Bearer ${openaiKey}` });
    expect(redactCredentials(`Incorrect API key provided: Bearer ${openaiKey}. Also ${openaiKey}!`, creds)).toBe(
      "Incorrect API key provided: [redacted]. Also [redacted]!",
    );
    expect(redactCredentials("nothing secret here", creds)).toBe("nothing secret here");
  });

  it("changes the error in place: same object, same code, the message without the key", () => {
    const err = new ConnectError(`openai: upstream failed (HTTP 500): bad key Bearer ${openaiKey}`, Code.Unavailable);
    const out = withoutCredentials(err, { authorization: `Bearer ${openaiKey}` });
    expect(out).toBe(err);
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe("openai: upstream failed (HTTP 500): bad key [redacted]");
    expect(err.message).toBe("[unavailable] openai: upstream failed (HTTP 500): bad key [redacted]");
  });

  it("leaves other errors and errors without a credential alone", () => {
    const plain = new Error(`has ${openaiKey}`);
    expect(withoutCredentials(plain, { authorization: `Bearer ${openaiKey}` })).toBe(plain);
    expect(plain.message).toBe(`has ${openaiKey}`);
    const clean = new ConnectError("openai: upstream timed out", Code.Unavailable);
    withoutCredentials(clean, { authorization: `Bearer ${openaiKey}` });
    expect(clean.rawMessage).toBe("openai: upstream timed out");
  });
});
