// Policies are part of the runtime state: a config reload swaps them (a call that began keeps the
// state it began with), and an endpoint that drops its `policies:` block runs none.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "./harness";

let fake: FakeUpstream;
let gw: TestGateway;
let sdk: OpenAI;

const config = (policies: string) => `
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream, openai_api_base: "${fake.url}/v1" } }
${policies}
`;

beforeAll(async () => {
  fake = await startFakeUpstream();
  gw = await startGateway(config(`    policies: { guardrails: { input: [{ type: deny_list, terms: [zeus], reason: zeus }] } }`));
  sdk = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.close();
  await fake?.close();
});

describe("policies on reload", () => {
  it("a reload swaps the endpoint's policies", async () => {
    const ask = () => sdk.chat.completions.create({ model: "chat", messages: [{ role: "user", content: "about zeus and a@b.io" }] });
    await expect(ask()).rejects.toMatchObject({ status: 400, message: expect.stringContaining("guardrail blocked the input (reason: zeus)") });
    expect(fake.requests.length).toBe(0);

    gw.gateway.reload(parseConfig(config(`    policies: { guardrails: { input: [{ type: pii, kinds: [email] }] } }`), "test.yaml", modelFactories, {}));
    expect((await ask()).choices[0]?.message.content).toBe("echo: about zeus and [REDACTED:pii.email]");

    gw.gateway.reload(parseConfig(config(""), "test.yaml", modelFactories, {}));
    expect((await ask()).choices[0]?.message.content).toBe("echo: about zeus and a@b.io");
    expect(fake.requests.length).toBe(2);
  });
});
