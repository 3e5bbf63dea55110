// What the stored-responses and conversations specs share: a gateway with keys in two teams, an
// admin and two keys without a team, whose endpoints are the fake OpenAI upstream (`gpt`: what
// the model is sent shows in fake.requests) and the echo provider (`echo-chat`).
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "./harness";

export const stateKeys = {
  app: "sk-state-app-0123456789",
  mate: "sk-state-mate-0123456789",
  other: "sk-state-other-0123456789",
  admin: "sk-state-admin-0123456789",
  solo: "sk-state-solo-0123456789",
  soloTwo: "sk-state-solo2-0123456789",
};

/** The two endpoints, for a config of a test's own. */
export const stateEndpoints = (fakeUrl: string) => `
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream, openai_api_base: "${fakeUrl}/v1" } } }
  - { name: echo-chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
`;

/** The fake upstream and the gateway with auth: app and mate in team search, other in ads, admin, solo and solo2 in none. */
export async function startStateGateway(): Promise<{ gw: TestGateway; fake: FakeUpstream }> {
  const fake = await startFakeUpstream();
  const gw = await startGateway(
    `
auth:
  enabled: true
  keys:
    - { name: app, key: $APP, team: search }
    - { name: mate, key: $MATE, team: search }
    - { name: other, key: $OTHER, team: ads }
    - { name: admin, key: $ADMIN, roles: [admin] }
    - { name: solo, key: $SOLO }
    - { name: solo2, key: $SOLO2 }
${stateEndpoints(fake.url)}`,
    { APP: stateKeys.app, MATE: stateKeys.mate, OTHER: stateKeys.other, ADMIN: stateKeys.admin, SOLO: stateKeys.solo, SOLO2: stateKeys.soloTwo },
  );
  return { gw, fake };
}

/** The official SDK on a gateway, never retrying (a test sees each answer). */
export const openaiClient = (key: string, url: string) => new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });

/** The chat messages the fake upstream was sent by the n-th recorded request. */
export const sentMessages = (fake: FakeUpstream, n: number) => (fake.requests[n]?.body as { messages: unknown[] }).messages;

/**
 * The spec's gateway and fake upstream: started before its tests (handed to `use`), closed after,
 * the fake's recorded requests forgotten before each test.
 */
export function withStateGateway(use: (started: { gw: TestGateway; fake: FakeUpstream }) => void): void {
  let started: { gw: TestGateway; fake: FakeUpstream } | undefined;
  beforeAll(async () => {
    started = await startStateGateway();
    use(started);
  });
  afterAll(async () => {
    await started?.gw.close();
    await started?.fake.close();
  });
  beforeEach(() => started?.fake.reset());
}
