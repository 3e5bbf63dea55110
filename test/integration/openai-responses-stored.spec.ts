// Stored responses (store: true, OpenAI's default) through the official `openai` npm SDK:
// responses.retrieve, responses.delete, responses.inputItems.list and previous_response_id, on a
// gateway with auth (who may read what), against the fake OpenAI upstream (what the model is sent
// when a conversation continues). Also: the size bound, expiry, and a restart on a SQLite file.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import type { Response, ResponseStreamEvent } from "openai/resources/responses/responses";
import { describe, expect, it } from "vitest";
import type { FakeUpstream } from "../fakes/fake-upstream";
import { startTestPostgres } from "../support/postgres";
import { startGateway, type TestGateway } from "./harness";
import { openaiClient, sentMessages as sentMessagesOf, stateEndpoints, stateKeys, withStateGateway } from "./responses-state";

const keys = { ...stateKeys, appMate: stateKeys.mate };
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

describe("retrieve", () => {
  it("answers the Response as it was created (store defaults to true)", async () => {
    const created = await client.responses.create({ model: "gpt", instructions: "be brief", input: "hello", metadata: { app: "t" } });
    const retrieved = await client.responses.retrieve(created.id);
    expect(retrieved).toEqual(created);
    expect(retrieved.output_text).toBe("echo: hello");
  });

  it("a streamed answer is stored before response.completed goes out, as that event has it", async () => {
    const stream = await client.responses.create({ model: "gpt", input: "streamed hello", stream: true });
    let completed: Response | undefined;
    for await (const event of stream as AsyncIterable<ResponseStreamEvent>) if (event.type === "response.completed") completed = event.response;
    expect(completed?.status).toBe("completed");
    const retrieved = await client.responses.retrieve(completed!.id);
    const { output_text: _text, ...stored } = retrieved;
    expect(stored).toEqual(completed);
  });

  it("store: false keeps nothing", async () => {
    const created = await client.responses.create({ model: "echo-chat", input: "x", store: false });
    await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("an unknown id: 404 invalid_request_error with a null code (not model_not_found)", async () => {
    const res = await fetch(`${gw.url}/v1/responses/resp_nope`, { headers: { authorization: `Bearer ${keys.app}` } });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { message: expect.stringContaining('No response with id "resp_nope"'), type: "invalid_request_error", param: null, code: null } });
  });

  it("stream=true and include are refused by name", async () => {
    const created = await client.responses.create({ model: "echo-chat", input: "x" });
    const streamed = await fetch(`${gw.url}/v1/responses/${created.id}?stream=true`, { headers: { authorization: `Bearer ${keys.app}` } });
    expect(streamed.status).toBe(400);
    expect(((await streamed.json()) as { error: { param: string } }).error.param).toBe("stream");
    const include = await fetch(`${gw.url}/v1/responses/${created.id}?include=message.output_text.logprobs`, { headers: { authorization: `Bearer ${keys.app}` } });
    expect(include.status).toBe(400);
    expect(((await include.json()) as { error: { param: string } }).error.param).toBe("include");
  });
});

describe("previous_response_id", () => {
  it("continues the conversation: the model gets the earlier turns (not the earlier instructions), then the new input", async () => {
    const first = await client.responses.create({ model: "gpt", instructions: "be brief", input: "first" });
    const second = await client.responses.create({ model: "gpt", previous_response_id: first.id, input: "second" });
    expect(second.previous_response_id).toBe(first.id);
    expect(second.output_text).toBe("echo: second");
    expect(sentMessages(1)).toEqual([
      { role: "user", content: "first" },
      { role: "assistant", content: "echo: first" },
      { role: "user", content: "second" },
    ]);
    // A third turn reads one stored row: the whole conversation so far.
    await client.responses.create({ model: "gpt", instructions: "now in French", previous_response_id: second.id, input: [{ role: "user", content: "third" }] });
    expect(sentMessages(2)).toEqual([
      { role: "system", content: "now in French" },
      { role: "user", content: "first" },
      { role: "assistant", content: "echo: first" },
      { role: "user", content: "second" },
      { role: "assistant", content: "echo: second" },
      { role: "user", content: "third" },
    ]);
  });

  it("function calls and their outputs carry over as chat tool turns", async () => {
    const first = await client.responses.create({
      model: "gpt",
      input: [
        { role: "user", content: "weather in Paris?" },
        { type: "function_call", call_id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
        { type: "function_call_output", call_id: "call_1", output: "sunny" },
      ],
    });
    await client.responses.create({ model: "gpt", previous_response_id: first.id, input: "thanks" });
    expect(sentMessages(1)).toMatchObject([
      { role: "user", content: "weather in Paris?" },
      { role: "assistant", tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
      { role: "tool", tool_call_id: "call_1", content: "sunny" },
      { role: "assistant", content: "echo: sunny" },
      { role: "user", content: "thanks" },
    ]);
  });

  it("a streamed turn continues a conversation too, and can be continued", async () => {
    const first = await client.responses.create({ model: "gpt", input: "one" });
    const stream = client.responses.stream({ model: "gpt", previous_response_id: first.id, input: "two" });
    const second = await stream.finalResponse();
    expect(second.output_text).toBe("echo: two");
    await client.responses.create({ model: "gpt", previous_response_id: second.id, input: "three" });
    expect(sentMessages(2)).toEqual([
      { role: "user", content: "one" },
      { role: "assistant", content: "echo: one" },
      { role: "user", content: "two" },
      { role: "assistant", content: "echo: two" },
      { role: "user", content: "three" },
    ]);
  });

  it("an unknown or deleted one: BadRequestError naming previous_response_id, and the model is not called", async () => {
    const first = await client.responses.create({ model: "gpt", input: "x" });
    await client.responses.delete(first.id);
    fake.reset();
    for (const id of [first.id, "resp_never"]) {
      const err = await client.responses.create({ model: "gpt", previous_response_id: id, input: "y" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("previous_response_id");
    }
    expect(fake.requests).toHaveLength(0);
  });
});

describe("input_items", () => {
  it("lists the items the answer was generated from, with ids, newest first by default; pages with limit and after", async () => {
    const created = await client.responses.create({
      model: "echo-chat",
      input: [
        { role: "user", content: "a" },
        { type: "message", id: "msg_mine", status: "completed", role: "assistant", content: [{ type: "output_text", text: "b", annotations: [] }] },
        { role: "user", content: [{ type: "input_text", text: "c" }] },
      ],
    });
    const page = await client.responses.inputItems.list(created.id);
    expect(page.data.map((i) => i.id)).toEqual([expect.stringMatching(/_in2$/), "msg_mine", expect.stringMatching(/_in0$/)]);
    expect(page.data[2]).toEqual({ type: "message", id: page.data[2]!.id, role: "user", status: "completed", content: [{ type: "input_text", text: "a" }] });
    expect(page.data[1]).toMatchObject({ role: "assistant", content: [{ type: "output_text", text: "b", annotations: [] }] });
    // The SDK follows has_more/after itself.
    const asc: string[] = [];
    for await (const item of client.responses.inputItems.list(created.id, { order: "asc", limit: 1 })) asc.push(item.id!);
    expect(asc).toEqual([...page.data.map((i) => i.id)].reverse());
    const raw = (await (await fetch(`${gw.url}/v1/responses/${created.id}/input_items?order=asc&limit=2`, { headers: { authorization: `Bearer ${keys.app}` } })).json()) as Record<string, unknown>;
    expect(raw).toMatchObject({ object: "list", has_more: true, first_id: asc[0], last_id: asc[1] });
  });

  it("a continued conversation's items include the earlier turns and answers", async () => {
    const first = await client.responses.create({ model: "echo-chat", input: "one" });
    const second = await client.responses.create({ model: "echo-chat", previous_response_id: first.id, input: "two" });
    const items = [];
    for await (const item of client.responses.inputItems.list(second.id, { order: "asc" })) items.push(item);
    expect(items).toMatchObject([
      { type: "message", role: "user", content: [{ type: "input_text", text: "one" }] },
      { type: "message", role: "assistant", id: first.output[0]!.id, content: [{ type: "output_text", text: "echo: one" }] },
      { type: "message", role: "user", content: [{ type: "input_text", text: "two" }] },
    ]);
  });

  it("bad paging parameters: 400 naming the parameter", async () => {
    const created = await client.responses.create({ model: "echo-chat", input: "x" });
    for (const [query, param] of [
      ["limit=0", "limit"],
      ["limit=101", "limit"],
      ["limit=abc", "limit"],
      ["order=sideways", "order"],
      ["after=msg_unknown", "after"],
    ]) {
      const res = await fetch(`${gw.url}/v1/responses/${created.id}/input_items?${query}`, { headers: { authorization: `Bearer ${keys.app}` } });
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param, query).toBe(param);
    }
  });
});

describe("delete", () => {
  it("removes it: the answer OpenAI gives, then 404 on every route", async () => {
    const created = await client.responses.create({ model: "echo-chat", input: "x" });
    const res = await fetch(`${gw.url}/v1/responses/${created.id}`, { method: "DELETE", headers: { authorization: `Bearer ${keys.app}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: created.id, object: "response", deleted: true });
    // Who removed which response is in the log (an audit trail; the key's id, never its secret).
    expect(gw.logs).toContainEqual(expect.objectContaining({ msg: "stored response deleted", responseId: created.id, keyId: "config:app", team: "search" }));
    expect(JSON.stringify(gw.logs)).not.toContain(keys.app);
    await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.inputItems.list(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("cancel: a stored response was never a background one (400); an unknown one is 404", async () => {
    const created = await client.responses.create({ model: "echo-chat", input: "x" });
    await expect(client.responses.cancel(created.id)).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(client.responses.cancel("resp_nope")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe("who may read a stored response", () => {
  it("its team's keys and admins; to another team it does not exist (retrieve, input_items, delete, chaining)", async () => {
    const created = await client.responses.create({ model: "echo-chat", input: "team secret" });
    const other = clientFor(keys.other);
    await expect(other.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(other.responses.inputItems.list(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(other.responses.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const chained = await other.responses.create({ model: "echo-chat", previous_response_id: created.id, input: "x" }).catch((e: unknown) => e);
    expect(chained).toBeInstanceOf(OpenAI.BadRequestError);
    expect((chained as Error).message).not.toContain("team secret");
    // The other team's delete removed nothing.
    expect((await clientFor(keys.appMate).responses.retrieve(created.id)).id).toBe(created.id);
    expect((await clientFor(keys.admin).responses.retrieve(created.id)).id).toBe(created.id);
  });

  it("a key without a team: only that key (and admins)", async () => {
    const created = await clientFor(keys.solo).responses.create({ model: "echo-chat", input: "mine" });
    await expect(clientFor(keys.soloTwo).responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect((await clientFor(keys.solo).responses.retrieve(created.id)).id).toBe(created.id);
  });

  it("no key or a wrong key: 401 before anything is looked up", async () => {
    const created = await client.responses.create({ model: "echo-chat", input: "x" });
    for (const headers of [{}, { authorization: "Bearer sk-wrong-000000000000" }, { authorization: "Basic abc" }] as Record<string, string>[]) {
      for (const [method, suffix] of [["GET", ""], ["DELETE", ""], ["GET", "/input_items"], ["POST", "/cancel"]]) {
        const res = await fetch(`${gw.url}/v1/responses/${created.id}${suffix}`, { method, headers });
        expect(res.status, `${method} ${suffix} ${JSON.stringify(headers)}`).toBe(401);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key");
      }
    }
    expect((await client.responses.retrieve(created.id)).id).toBe(created.id);
  });
});

describe("bounds, expiry, restarts", () => {
  it("store.responses.max_bytes: refused before the model is called when the input alone is over; a conversation that would grow over it, by previous_response_id", async () => {
    const small = await startGateway(`
store:
  database_url: "sqlite::memory:"
  responses: { max_bytes: 4096 }
${endpoints(fake.url)}`);
    try {
      const c = clientFor("anything", small.url);
      fake.reset();
      const big = await c.responses.create({ model: "gpt", input: "x".repeat(5000) }).catch((e: unknown) => e);
      expect(big).toBeInstanceOf(OpenAI.BadRequestError);
      expect((big as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("input");
      expect(fake.requests).toHaveLength(0);
      // store: false is not bounded by it.
      expect((await c.responses.create({ model: "gpt", input: "x".repeat(5000), store: false })).status).toBe("completed");
      const first = await c.responses.create({ model: "gpt", input: "a" });
      const grown = await c.responses.create({ model: "gpt", previous_response_id: first.id, input: "b".repeat(3900) }).catch((e: unknown) => e);
      expect(grown).toBeInstanceOf(OpenAI.BadRequestError);
      expect((grown as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("previous_response_id");
      // Input under the bound whose answer takes the stored row over it: the call fails saying so.
      const over = await c.responses.create({ model: "gpt", input: "c".repeat(1800) }).catch((e: unknown) => e);
      expect(over).toBeInstanceOf(OpenAI.BadRequestError);
      expect((over as Error).message).toMatch(/was not stored/);
      // Streamed: the deltas went out, then response.failed instead of response.completed.
      const stream = await c.responses.create({ model: "gpt", input: "c".repeat(1800), stream: true });
      const types: string[] = [];
      let failed: Response | undefined;
      for await (const event of stream as AsyncIterable<ResponseStreamEvent>) {
        types.push(event.type);
        if (event.type === "response.failed") failed = event.response;
      }
      expect(types).toContain("response.output_text.delta");
      expect(types).not.toContain("response.completed");
      expect(types.at(-1)).toBe("response.failed");
      expect(failed?.error?.message).toMatch(/was not stored/);
      await expect(c.responses.retrieve(failed!.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      // Each kept answer and each refusal is counted.
      const metrics = await (await fetch(`${small.url}/metrics`)).text();
      expect(metrics).toContain('modelgate_stored_responses_total{event="too_large"} 4');
      expect(metrics).toContain('modelgate_stored_responses_total{event="stored"} 1');
    } finally {
      await small.close();
    }
  });

  it("store.responses.enabled: false: nothing kept, previous_response_id refused", async () => {
    const off = await startGateway(`
store:
  database_url: "sqlite::memory:"
  responses: { enabled: false }
${endpoints(fake.url)}`);
    try {
      const c = clientFor("anything", off.url);
      const created = await c.responses.create({ model: "echo-chat", input: "x" });
      await expect(c.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      const err = await c.responses.create({ model: "echo-chat", previous_response_id: created.id, input: "y" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as Error).message).toMatch(/store\.responses\.enabled is false/);
    } finally {
      await off.close();
    }
  });

  it("store.responses.ttl_hours: an expired response is gone", async () => {
    // 0.0002 h = 0.72 s; the check waits well past it (only the "gone" side is asserted).
    const short = await startGateway(`
store:
  database_url: "sqlite::memory:"
  responses: { ttl_hours: 0.0002 }
${endpoints(fake.url)}`);
    try {
      const c = clientFor("anything", short.url);
      const created = await c.responses.create({ model: "echo-chat", input: "x" });
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await expect(c.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    } finally {
      await short.close();
    }
  });

  it("kept across a restart on a SQLite file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "modelgate-stored-"));
    const yaml = `
store:
  database_url: "sqlite:${join(dir, "db.sqlite")}"
${endpoints(fake.url)}`;
    try {
      const before = await startGateway(yaml);
      const created = await clientFor("anything", before.url).responses.create({ model: "gpt", input: "remember me" });
      // Written by the write worker, read by the read worker: there as soon as the answer is.
      expect(await clientFor("anything", before.url).responses.retrieve(created.id)).toEqual(created);
      await before.close();
      const after = await startGateway(yaml);
      try {
        const c = clientFor("anything", after.url);
        expect(await c.responses.retrieve(created.id)).toEqual(created);
        fake.reset();
        await c.responses.create({ model: "gpt", previous_response_id: created.id, input: "again" });
        expect(sentMessages(0)).toEqual([
          { role: "user", content: "remember me" },
          { role: "assistant", content: "echo: remember me" },
          { role: "user", content: "again" },
        ]);
      } finally {
        await after.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("PostgreSQL: a response stored through one replica is read, continued and deleted through another", async () => {
    const postgres = await startTestPostgres();
    try {
      const yaml = `
store:
  database_url: "${await postgres.createDatabase()}"
${endpoints(fake.url)}`;
      const [one, two] = [await startGateway(yaml), await startGateway(yaml)];
      try {
        const created = await clientFor("anything", one.url).responses.create({ model: "gpt", input: "via one" });
        const c = clientFor("anything", two.url);
        expect(await c.responses.retrieve(created.id)).toEqual(created);
        fake.reset();
        const next = await c.responses.create({ model: "gpt", previous_response_id: created.id, input: "via two" });
        expect(sentMessages(0)).toEqual([
          { role: "user", content: "via one" },
          { role: "assistant", content: "echo: via one" },
          { role: "user", content: "via two" },
        ]);
        await clientFor("anything", one.url).responses.delete(next.id);
        await expect(c.responses.retrieve(next.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      } finally {
        await one.close();
        await two.close();
      }
    } finally {
      await postgres.stop();
    }
  }, 120_000);
});
