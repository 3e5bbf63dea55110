// The Conversations API through the official `openai` npm SDK (client.conversations.*, and
// responses.create with `conversation`), on a gateway with auth, against the fake OpenAI
// upstream (what the model is sent when a response continues a conversation).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import type { ResponseStreamEvent } from "openai/resources/responses/responses";
import { describe, expect, it } from "vitest";
import type { FakeUpstream } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "./harness";
import { openaiClient, sentMessages as sentMessagesOf, stateEndpoints, stateKeys, withStateGateway } from "./responses-state";

const keys = stateKeys;
let gw: TestGateway;
let fake: FakeUpstream;
const clientFor = (key: string, url = gw.url) => openaiClient(key, url);
let client: OpenAI;
const endpoints = stateEndpoints;

withStateGateway((started) => {
  ({ gw, fake } = started);
  client = clientFor(keys.app);
});

const sentMessages = (n: number) => sentMessagesOf(fake, n);
const authed = (key = keys.app) => ({ authorization: `Bearer ${key}`, "content-type": "application/json" });

describe("conversations", () => {
  it("create, retrieve, update and delete, as OpenAI answers them", async () => {
    const created = await client.conversations.create({ metadata: { topic: "demo" }, items: [{ type: "message", role: "user", content: "Hello!" }] });
    expect(created).toEqual({ id: expect.stringMatching(/^conv_[0-9a-f]{24}$/), object: "conversation", created_at: expect.any(Number), metadata: { topic: "demo" } });
    expect(await client.conversations.retrieve(created.id)).toEqual(created);
    const updated = await client.conversations.update(created.id, { metadata: { topic: "other", lang: "fr" } });
    expect(updated).toEqual({ ...created, metadata: { topic: "other", lang: "fr" } });
    expect(await client.conversations.delete(created.id)).toEqual({ id: created.id, object: "conversation.deleted", deleted: true });
    await expect(client.conversations.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.conversations.items.list(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect(gw.logs).toContainEqual(expect.objectContaining({ msg: "conversation deleted", conversationId: created.id, keyId: "config:app" }));
  });

  it("an empty create: no items, metadata {}", async () => {
    const created = await client.conversations.create();
    expect(created.metadata).toEqual({});
    const page = await client.conversations.items.list(created.id);
    expect(page.data).toEqual([]);
  });

  it("items: add, list (newest first by default; limit, after, order), retrieve and delete one", async () => {
    const conv = await client.conversations.create({ items: [{ type: "message", role: "user", content: "one" }] });
    const added = await client.conversations.items.create(conv.id, {
      items: [
        { type: "message", role: "assistant", content: "two" },
        { type: "message", role: "user", content: [{ type: "input_text", text: "three" }] },
      ],
    });
    expect(added.data.map((i) => i.type)).toEqual(["message", "message"]);
    expect(added.has_more).toBe(false);
    const page = await client.conversations.items.list(conv.id);
    const texts = page.data.map((i) => ((i as { content: { text: string }[] }).content[0]!.text));
    expect(texts).toEqual(["three", "two", "one"]);
    expect(page.data[1]).toEqual({ type: "message", id: expect.stringMatching(/^msg_/), role: "assistant", status: "completed", content: [{ type: "output_text", text: "two", annotations: [], logprobs: [] }] });
    const asc: string[] = [];
    for await (const item of client.conversations.items.list(conv.id, { order: "asc", limit: 1 })) asc.push(item.id!);
    expect(asc).toEqual([...page.data.map((i) => i.id)].reverse());
    const one = await client.conversations.items.retrieve(asc[1]!, { conversation_id: conv.id });
    expect(one).toEqual(page.data[1]);
    const after = await client.conversations.items.delete(asc[1]!, { conversation_id: conv.id });
    expect(after.id).toBe(conv.id);
    expect((await client.conversations.items.list(conv.id, { order: "asc" })).data.map((i) => i.id)).toEqual([asc[0], asc[2]]);
    await expect(client.conversations.items.retrieve(asc[1]!, { conversation_id: conv.id })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.conversations.items.delete(asc[1]!, { conversation_id: conv.id })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("bad bodies and parameters: 400 naming the field", async () => {
    const conv = await client.conversations.create();
    const cases: [string, string, unknown, string][] = [
      ["POST", "/v1/conversations", { items: Array.from({ length: 21 }, () => ({ role: "user", content: "x" })) }, "items"],
      ["POST", "/v1/conversations", { metadata: { k: "v".repeat(513) } }, "metadata.k"],
      ["POST", "/v1/conversations", { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) }, "metadata"],
      ["POST", "/v1/conversations", { items: [{ type: "web_search_call" }] }, "items[0].type"],
      ["POST", `/v1/conversations/${conv.id}`, {}, "metadata"],
      ["POST", `/v1/conversations/${conv.id}/items`, { items: [] }, "items"],
      ["GET", `/v1/conversations/${conv.id}/items?limit=0`, undefined, "limit"],
      ["GET", `/v1/conversations/${conv.id}/items?order=up`, undefined, "order"],
      ["GET", `/v1/conversations/${conv.id}/items?after=msg_nope`, undefined, "after"],
    ];
    for (const [method, path, body, param] of cases) {
      const res = await fetch(`${gw.url}${path}`, { method, headers: authed(), body: body === undefined ? undefined : JSON.stringify(body) });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param, `${method} ${path}`).toBe(param);
    }
  });

  it("its team's keys and admins may use it; to another team it does not exist; no key: 401", async () => {
    const conv = await client.conversations.create({ items: [{ role: "user", content: "team secret" }] });
    const other = clientFor(keys.other);
    await expect(other.conversations.retrieve(conv.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(other.conversations.items.list(conv.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(other.conversations.items.create(conv.id, { items: [{ role: "user", content: "x" }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(other.conversations.delete(conv.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const chained = await other.responses.create({ model: "echo-chat", conversation: conv.id, input: "x" }).catch((e: unknown) => e);
    expect(chained).toBeInstanceOf(OpenAI.BadRequestError);
    expect((chained as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("conversation");
    expect((await clientFor(keys.mate).conversations.retrieve(conv.id)).id).toBe(conv.id);
    expect((await clientFor(keys.admin).conversations.items.list(conv.id)).data).toHaveLength(1);
    const res = await fetch(`${gw.url}/v1/conversations/${conv.id}`);
    expect(res.status).toBe(401);
  });
});

describe("responses.create with conversation", () => {
  it("the model gets the conversation's items, then the input; both turns are added to it", async () => {
    const conv = await client.conversations.create({ items: [{ role: "user", content: "first" }, { type: "message", role: "assistant", content: "echo: first" }] });
    const res = await client.responses.create({ model: "gpt", instructions: "be brief", conversation: conv.id, input: "second" });
    expect(res.output_text).toBe("echo: second");
    expect(res.conversation).toEqual({ id: conv.id });
    expect(sentMessages(0)).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "first" },
      { role: "assistant", content: "echo: first" },
      { role: "user", content: "second" },
    ]);
    const items = [];
    for await (const item of client.conversations.items.list(conv.id, { order: "asc" })) items.push(item);
    expect(items).toMatchObject([
      { role: "user", content: [{ type: "input_text", text: "first" }] },
      { role: "assistant", content: [{ type: "output_text", text: "echo: first" }] },
      { role: "user", content: [{ type: "input_text", text: "second" }] },
      { role: "assistant", id: res.output[0]!.id, content: [{ type: "output_text", text: "echo: second" }] },
    ]);
    // The stored response holds its own turn only (the conversation keeps the rest).
    expect((await client.responses.retrieve(res.id)).output_text).toBe("echo: second");
    expect((await client.responses.inputItems.list(res.id)).data).toMatchObject([{ role: "user", content: [{ type: "input_text", text: "second" }] }]);
    // The next turn ({id} form this time) sees all of it; the instructions did not stay.
    await client.responses.create({ model: "gpt", conversation: { id: conv.id }, input: "third" });
    expect(sentMessages(1)).toHaveLength(5);
    expect(sentMessages(1)[0]).toEqual({ role: "user", content: "first" });
  });

  it("streamed: the turn is added before response.completed; store: false still adds it (the conversation is the state)", async () => {
    const conv = await client.conversations.create();
    const stream = await client.responses.create({ model: "gpt", conversation: conv.id, input: "streamed", stream: true, store: false });
    const types: string[] = [];
    for await (const event of stream as AsyncIterable<ResponseStreamEvent>) types.push(event.type);
    expect(types.at(-1)).toBe("response.completed");
    const page = await client.conversations.items.list(conv.id, { order: "asc" });
    expect(page.data.map((i) => (i as { role: string }).role)).toEqual(["user", "assistant"]);
  });

  it("refused: conversation with previous_response_id, an unknown or deleted conversation (the model is not called)", async () => {
    const first = await client.responses.create({ model: "gpt", input: "x" });
    const conv = await client.conversations.create();
    await client.conversations.delete(conv.id);
    fake.reset();
    for (const body of [
      { conversation: "conv_x", previous_response_id: first.id },
      { conversation: conv.id },
      { conversation: "conv_never" },
      { conversation: { id: "" } },
    ]) {
      const err = await client.responses.create({ model: "gpt", input: "y", ...body } as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(body)).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).param, JSON.stringify(body)).toBe("conversation");
    }
    expect(fake.requests).toHaveLength(0);
  });

  it("a conversation over store.responses.max_bytes is refused by name before the model is called", async () => {
    const small = await startGateway(`
store:
  database_url: "sqlite::memory:"
  responses: { max_bytes: 2048 }
${endpoints(fake.url)}`);
    try {
      const c = clientFor("anything", small.url);
      const conv = await c.conversations.create({ items: [{ role: "user", content: "x".repeat(3000) }] });
      fake.reset();
      const err = await c.responses.create({ model: "gpt", conversation: conv.id, input: "y", store: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as Error).message).toMatch(/more than store\.responses\.max_bytes/);
      expect(fake.requests).toHaveLength(0);
    } finally {
      await small.close();
    }
  });
});

describe("a burst on one conversation, SQLite file store", () => {
  it("80 concurrent turns (half streamed) and item adds: all answered, every turn kept, ids unique", async () => {
    const dir = mkdtempSync(join(tmpdir(), "modelgate-conv-burst-"));
    const burst = await startGateway(`
store:
  database_url: "sqlite:${join(dir, "db.sqlite")}"
${stateEndpoints(fake.url)}`);
    try {
      const c = openaiClient("anything", burst.url);
      const conv = await c.conversations.create();
      const turns = Array.from({ length: 60 }, (_, i) =>
        i % 2 === 0
          ? c.responses.stream({ model: "echo-chat", conversation: conv.id, input: `turn ${i}` }).finalResponse()
          : c.responses.create({ model: "echo-chat", conversation: conv.id, input: `turn ${i}` }),
      );
      const adds = Array.from({ length: 20 }, (_, i) => c.conversations.items.create(conv.id, { items: [{ role: "user", content: `added ${i}` }] }));
      const settled = await Promise.allSettled([...turns, ...adds]);
      expect(settled.filter((r) => r.status === "rejected")).toEqual([]);
      const items = [];
      for await (const item of c.conversations.items.list(conv.id, { order: "asc", limit: 100 })) items.push(item);
      expect(items).toHaveLength(60 * 2 + 20);
      expect(new Set(items.map((i) => i.id)).size).toBe(items.length);
      const texts = items.map((i) => (i as { content: { text: string }[] }).content[0]!.text);
      for (let i = 0; i < 60; i++) expect(texts.indexOf(`echo: turn ${i}`), `turn ${i}`).toBeGreaterThan(texts.indexOf(`turn ${i}`));
    } finally {
      await burst.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
