// buf curl against the running gateway, schema from server reflection only (no .proto files).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoEndpoints, startGateway, type TestGateway } from "../integration/harness";

const run = promisify(execFile);
const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));
let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway(`endpoints:${echoEndpoints}`);
});
afterAll(() => gw.close());

async function bufCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(buf, ["curl", ...args], { cwd: "/tmp" });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const grpc = ["--protocol", "grpc", "--http2-prior-knowledge"];

describe("buf curl via reflection", () => {
  it.each(["grpc-v1", "grpc-v1alpha"])("lists our services (%s)", async (reflect) => {
    const res = await bufCurl([...grpc, "--reflect-protocol", reflect, "--list-services", gw.url]);
    expect(res.code).toBe(0);
    for (const s of ["ChatService", "CompletionsService", "EmbeddingsService", "PredictService", "EndpointService"]) {
      expect(res.stdout).toContain(`modelgate.v1.${s}`);
    }
  });

  it("calls Chat over gRPC with no schema at hand", async () => {
    const res = await bufCurl([...grpc, "-d", '{"endpoint":"chat","messages":[{"role":"user","content":"hi buf"}]}', `${gw.url}/modelgate.v1.ChatService/Chat`]);
    expect(res.stderr).toBe("");
    expect(JSON.parse(res.stdout)).toMatchObject({ model: "echo-1", choices: [{ message: { role: "assistant", content: "echo: hi buf" } }] });
  });

  it("encodes google.protobuf.Struct extras from the reflected schema (echo refuses them by name)", async () => {
    const res = await bufCurl([...grpc, "-d", '{"endpoint":"chat","messages":[{"role":"user","content":"x"}],"extras":{"top_k":1}}', `${gw.url}/modelgate.v1.ChatService/Chat`]);
    expect(res.code).toBe(3 << 3);
    expect(res.stderr).toContain("echo: unsupported extras: top_k");
  });

  it("streams StreamChat over gRPC: one JSON per message, usage last", async () => {
    const res = await bufCurl([...grpc, "-d", '{"endpoint":"chat","messages":[{"role":"user","content":"a b c"}]}', `${gw.url}/modelgate.v1.ChatService/StreamChat`]);
    expect(res.code).toBe(0);
    const messages = res.stdout.trim().split(/\n(?=\{)/).map((m) => JSON.parse(m) as { choices?: { delta?: { content?: string } }[]; usage?: { totalTokens: number } });
    expect(messages.map((m) => m.choices?.[0]?.delta?.content ?? "").join("")).toBe("echo: a b c");
    expect(messages.at(-1)?.usage?.totalTokens).toBe(7);
  });

  it("calls Chat over Connect JSON on HTTP/1.1 on the same port", async () => {
    const res = await bufCurl(["--protocol", "connect", "-d", '{"endpoint":"chat","messages":[{"role":"user","content":"h1"}]}', `${gw.url}/modelgate.v1.ChatService/Chat`]);
    expect(JSON.parse(res.stdout).choices[0].message.content).toBe("echo: h1");
  });

  it("reports an error code as buf curl's exit status (NOT_FOUND = 5 << 3)", async () => {
    const res = await bufCurl([...grpc, "-d", '{"endpoint":"nope","messages":[{"role":"user","content":"x"}]}', `${gw.url}/modelgate.v1.ChatService/Chat`]);
    expect(res.code).toBe(5 << 3);
    expect(res.stderr).toContain('unknown endpoint \\"nope\\"');
  });

  it("health Check answers SERVING", async () => {
    const res = await bufCurl([...grpc, "-d", '{"service":"modelgate.v1.ChatService"}', `${gw.url}/grpc.health.v1.Health/Check`]);
    expect(JSON.parse(res.stdout)).toEqual({ status: "SERVING" });
  });
});
