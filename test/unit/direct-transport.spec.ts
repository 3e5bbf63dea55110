// The direct in-process transport (src/server/direct-transport.ts): the REST surfaces' way into
// the services, with the interceptors and without encoding. What the wire used to guarantee
// (conforming values, own copies, the stream head, error metadata) and what it did not (a stream
// that is pulled, not pumped into a buffer) are checked here with real service code paths:
// connect's own createClient over the transport, implementations registered on a router.
import { Code, ConnectError, createClient, createContextKey, createContextValues, type ConnectRouter, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ChatRequestSchema, ChatService, type ChatRequest } from "../../gen/modelgate/v1/chat_pb";
import { EmbeddingsService, type EmbedRequest } from "../../gen/modelgate/v1/embeddings_pb";
import { PredictService } from "../../gen/modelgate/v1/predict_pb";
import { createDirectTransport, DIRECT_PROTOCOL } from "../../src/server/direct-transport";
import { MAX_MESSAGE_DEPTH } from "../../src/server/message-conform";

const seenKey = createContextKey<string[]>([], { description: "interceptors seen" });

/** Records the interceptors' order in a context value, and sets a header, as the real chain does. */
function recording(name: string): Interceptor {
  return (next) => async (req) => {
    req.contextValues.set(seenKey, [...req.contextValues.get(seenKey), name]);
    const res = await next(req);
    res.header.set(`x-seen-${name}`, "1");
    return res;
  };
}

/** Resolves when `signal` aborts (with its reason), or rejects after `ms` (a test safety net). */
function aborted(signal: AbortSignal, ms = 5_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve(signal.reason);
    const timer = setTimeout(() => reject(new Error("never aborted")), ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(signal.reason);
    });
  });
}

/** The ConnectError a call fails with; fails the test if it succeeds. */
async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

function chatResponse(text: string) {
  return { model: "m", choices: [{ index: 0, message: { role: "assistant", content: text } }] };
}

describe("unary calls", () => {
  it("run the implementation through the interceptors, with headers, trailers and context values", async () => {
    let received: ChatRequest | undefined;
    let protocol = "";
    const routes = (router: ConnectRouter) =>
      router.service(
        ChatService,
        {
          chat(req, ctx: HandlerContext) {
            received = req;
            protocol = ctx.protocolName;
            ctx.responseHeader.set("x-modelgate-target", "t1");
            ctx.responseTrailer.set("x-trailer", "yes");
            expect(ctx.requestHeader.get("authorization")).toBe("Bearer k");
            expect(ctx.values.get(seenKey)).toEqual(["outer", "inner"]);
            return chatResponse(`echo ${req.messages.length}`);
          },
        },
        { interceptors: [recording("outer"), recording("inner")] },
      );
    const client = createClient(ChatService, createDirectTransport(routes));
    const input = { endpoint: "e", messages: [{ role: "user", content: "hi" }], maxTokens: 5 };
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const contextValues = createContextValues();
    const out = await client.chat(input, {
      headers: { authorization: "Bearer k" },
      contextValues,
      onHeader: (h) => (header = h),
      onTrailer: (t) => (trailer = t),
    });
    expect(out.choices[0]?.message?.content).toBe("echo 1");
    expect(out.$typeName).toBe("modelgate.v1.ChatResponse");
    expect(protocol).toBe(DIRECT_PROTOCOL);
    expect(header?.get("x-modelgate-target")).toBe("t1");
    expect(header?.get("x-seen-outer")).toBe("1");
    expect(trailer?.get("x-trailer")).toBe("yes");
    // The service got its own message, not the caller's object.
    expect(received?.$typeName).toBe("modelgate.v1.ChatRequest");
    expect(received).not.toBe(input);
    expect(received?.messages).not.toBe(input.messages);
  });

  it("apply each method's interceptors once, not per call; concurrent calls each get their own context", async () => {
    let applied = 0;
    const counting: Interceptor = (next) => {
      applied++;
      return (req) => next(req);
    };
    const routes = (router: ConnectRouter) =>
      router.service(
        ChatService,
        {
          async chat(req, ctx) {
            // Each call answers after the others started: a context shared by mistake would mix them.
            await new Promise((resolve) => setTimeout(resolve, 20));
            ctx.responseHeader.set("x-call", req.endpoint);
            return chatResponse(`${req.endpoint} ${ctx.requestHeader.get("x-call")}`);
          },
          async *streamChat(req, ctx) {
            await new Promise((resolve) => setTimeout(resolve, 20));
            ctx.responseHeader.set("x-call", req.endpoint);
            yield { model: "m", choices: [{ index: 0, delta: { content: `${req.endpoint} ${ctx.requestHeader.get("x-call")}` } }] };
          },
        },
        { interceptors: [counting] },
      );
    const client = createClient(ChatService, createDirectTransport(routes));
    const names = ["a", "b", "c", "d"];
    const unary = await Promise.all(
      names.map(async (name) => {
        let header: Headers | undefined;
        const out = await client.chat({ endpoint: name, messages: [] }, { headers: { "x-call": name }, onHeader: (h) => (header = h) });
        return [out.choices[0]?.message?.content, header?.get("x-call")];
      }),
    );
    expect(unary).toEqual(names.map((name) => [`${name} ${name}`, name]));
    const streamed = await Promise.all(
      names.map(async (name) => {
        let header: Headers | undefined;
        const out: string[] = [];
        for await (const chunk of client.streamChat({ endpoint: name, messages: [] }, { headers: { "x-call": name }, onHeader: (h) => (header = h) })) {
          out.push(chunk.choices[0]?.delta?.content ?? "");
        }
        return [out.join(""), header?.get("x-call")];
      }),
    );
    expect(streamed).toEqual(names.map((name) => [`${name} ${name}`, name]));
    // Once for Chat, once for StreamChat: eight calls.
    expect(applied).toBe(2);
  });

  it("give the service a copy: what it changes does not reach the caller's objects", async () => {
    const routes = (router: ConnectRouter) =>
      router.service(ChatService, {
        chat(req) {
          req.messages[0]!.content = "changed";
          req.messages.push({ ...req.messages[0]! });
          (req.extras as Record<string, unknown>)["added"] = 1;
          return chatResponse("ok");
        },
      });
    const client = createClient(ChatService, createDirectTransport(routes));
    const input = { endpoint: "e", messages: [{ role: "user", content: "hi" }], extras: { a: 1 } };
    await client.chat(input);
    expect(input).toEqual({ endpoint: "e", messages: [{ role: "user", content: "hi" }], extras: { a: 1 } });
  });

  it("keep a ConnectError's code and metadata, adding the call's response headers; other errors are INTERNAL", async () => {
    let fail: unknown;
    const routes = (router: ConnectRouter) =>
      router.service(ChatService, {
        chat(_req, ctx) {
          ctx.responseHeader.set("x-modelgate-target", "t2");
          throw fail;
        },
      });
    const client = createClient(ChatService, createDirectTransport(routes));
    fail = new ConnectError("slow down", Code.ResourceExhausted, { "retry-after": "3" });
    const e1 = await failure(client.chat({ endpoint: "e" }));
    expect(e1).toBeInstanceOf(ConnectError);
    expect(e1.code).toBe(Code.ResourceExhausted);
    expect(e1.rawMessage).toBe("slow down");
    expect(e1.metadata.get("retry-after")).toBe("3");
    expect(e1.metadata.get("x-modelgate-target")).toBe("t2");
    fail = new TypeError("boom");
    const e2 = await failure(client.chat({ endpoint: "e" }));
    expect(e2.code).toBe(Code.Internal);
    expect(e2.rawMessage).toBe("internal error");
    expect(e2.cause).toBe(fail);
  });

  it("cancel the implementation when the caller's signal aborts, and time out with the deadline", async () => {
    let reason: unknown;
    const routes = (router: ConnectRouter) =>
      router.service(ChatService, {
        async chat(_req, ctx) {
          reason = await aborted(ctx.signal);
          throw ConnectError.from(reason);
        },
      });
    const shutdown = new AbortController();
    const client = createClient(ChatService, createDirectTransport(routes, { shutdownSignal: shutdown.signal }));
    const caller = new AbortController();
    const call = client.chat({ endpoint: "e" }, { signal: caller.signal });
    caller.abort(new ConnectError("the client closed the connection", Code.Canceled));
    const e1 = await failure(call);
    expect(e1.code).toBe(Code.Canceled);
    expect(ConnectError.from(reason).rawMessage).toBe("the client closed the connection");

    const e2 = await failure(client.chat({ endpoint: "e" }, { timeoutMs: 20 }));
    expect(e2.code).toBe(Code.DeadlineExceeded);

    // Every running call (one listener on the shutdown signal for all of them), and any call after.
    const running = [client.chat({ endpoint: "e" }), client.chat({ endpoint: "e" }), client.chat({ endpoint: "e" })];
    shutdown.abort(new ConnectError("the gateway is shutting down", Code.Unavailable));
    for (const call3 of running) expect((await failure(call3)).code).toBe(Code.Unavailable);
    expect((await failure(client.chat({ endpoint: "e" }))).rawMessage).toBe("the gateway is shutting down");
  });

  it("refuse a method that no route registered with UNIMPLEMENTED", async () => {
    const client = createClient(EmbeddingsService, createDirectTransport(() => {}));
    const err = await failure(client.embed({ endpoint: "e" }));
    expect(err.code).toBe(Code.Unimplemented);
  });
});

describe("values the proto cannot carry (what the binary encoding enforced)", () => {
  let seen: ChatRequest | undefined;
  const client = createClient(
    ChatService,
    createDirectTransport((router) =>
      router.service(ChatService, {
        chat(req) {
          seen = req;
          return chatResponse("ok");
        },
      }),
    ),
  );
  const refusal = (init: Record<string, unknown>) => client.chat(init as never).then(() => undefined, (e: unknown) => ConnectError.from(e));

  it("refuses out-of-range integers with INVALID_ARGUMENT naming the field", async () => {
    for (const [init, field] of [
      [{ maxTokens: 2 ** 32 }, "max_tokens"],
      [{ maxTokens: -1 }, "max_tokens"],
      [{ maxTokens: 1.5 }, "max_tokens"],
      [{ n: Number.NaN }, "n"],
      [{ seed: 2n ** 63n }, "seed"],
      [{ seed: 1.5 }, "seed"],
      [{ endpoint: 5 }, "endpoint"],
      [{ messages: [{ role: "user", content: "x" }, "not a message"] }, "messages[1]"],
    ] as const) {
      const err = await refusal(init);
      expect(err?.code, field).toBe(Code.InvalidArgument);
      expect(err?.rawMessage).toContain(field);
    }
  });

  it("names the exact place of a refused value: nested fields, list indexes, map keys, Struct keys", async () => {
    for (const [init, message] of [
      [{ messages: [{ role: "user", content: "x" }, "not a message"] }, "invalid ChatRequest: messages[1]: must be a message object"],
      [{ messages: [{ role: "user", content: 5 }] }, "invalid ChatRequest: messages[0].content: 5 is not a string"],
      [{ messages: "x" }, "invalid ChatRequest: messages: must be a list"],
      [{ templateVariables: { 'a"b': 3 } }, 'invalid ChatRequest: template_variables["a\\"b"]: 3 is not a string'],
      [{ templateVariables: [] }, "invalid ChatRequest: template_variables: must be a map object"],
      [{ extras: [1] }, "invalid ChatRequest: extras: must be a JSON object"],
      [{ maxTokens: -1 }, "invalid ChatRequest: max_tokens: -1 is out of range for uint32"],
    ] as const) {
      expect((await refusal(init))?.rawMessage).toBe(message);
    }
  });

  it("refuses the nesting protobuf-es's decoder refuses, and only that, naming the place", async () => {
    // ChatRequest is level 1, extras (a Struct) 2, its "a" (a Value) 3, and each list or object
    // below adds two (a ListValue or Struct, then a Value): with 48 of them the innermost Value is
    // at 99, with 49 at 101, past the decoder's 100. The decoder itself is asked each time.
    const outcomes: boolean[] = [];
    for (let levels = 45; levels <= 52; levels++) {
      let deep: unknown = 1;
      for (let i = 0; i < levels; i++) deep = i % 2 ? { k: deep } : [deep];
      const init = { endpoint: "e", extras: { a: deep } };
      let wireCarries = true;
      try {
        fromBinary(ChatRequestSchema, toBinary(ChatRequestSchema, create(ChatRequestSchema, init as never)));
      } catch {
        wireCarries = false;
      }
      const err = await refusal(init);
      expect(err === undefined, `${levels} levels`).toBe(wireCarries);
      if (err) expect(err.rawMessage).toMatch(new RegExp(`^invalid ChatRequest: extras\\.a(\\[0\\]|\\.k)+: nests deeper than ${MAX_MESSAGE_DEPTH} messages$`));
      outcomes.push(wireCarries);
    }
    expect(outcomes).toEqual([true, true, true, true, false, false, false, false]); // 45..48 carried, 49..52 not
  });

  it("converts what the encoding converted: int64 to bigint, lone surrogates to U+FFFD, Struct values to JSON", async () => {
    await client.chat({
      endpoint: "e\ud800",
      seed: 7 as unknown as bigint,
      temperature: 0.1,
      messages: [{ role: "user", content: "a\udc00b" }],
      extras: { u: undefined, big: 10n, nested: { "k\ud800": ["x\udfff", undefined] }, inf: Infinity } as never,
    });
    expect(seen?.endpoint).toBe("e\ufffd");
    expect(seen?.seed).toBe(7n);
    expect(seen?.temperature).toBe(0.1); // double: exactly
    expect(seen?.messages[0]?.content).toBe("a\ufffdb");
    expect(seen?.extras).toEqual({ u: null, big: null, nested: { "k\ufffd": ["x\ufffd", null] }, inf: Infinity });
  });

  it("keeps a __proto__ key in a Struct as a plain key", async () => {
    await client.chat({ endpoint: "e", extras: JSON.parse('{"__proto__": {"polluted": true}}') as never });
    expect(Object.keys(seen?.extras ?? {})).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    expect(Object.getPrototypeOf(seen?.extras)).toBe(Object.prototype);
  });

  it("refuses nesting deeper than any real message instead of overflowing the stack", async () => {
    let deep: unknown = {};
    for (let i = 0; i < MAX_MESSAGE_DEPTH + 10; i++) deep = { d: deep };
    const err = await refusal({ endpoint: "e", extras: deep });
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toMatch(/deeper than/);
  });

  it("carries Value/ListValue messages (predict) through, and checks the answer: a bad value is INTERNAL", async () => {
    const predict = createClient(
      PredictService,
      createDirectTransport((router) =>
        router.service(PredictService, {
          predict(req) {
            const params = req.params as Record<string, unknown>;
            return { model: String(params["model"]), predictions: { kind: { case: "numberValue", value: 3 } } };
          },
        }),
      ),
    );
    const out = await predict.predict({ endpoint: "p", params: { model: "m1" } });
    expect(out.predictions?.kind).toEqual({ case: "numberValue", value: 3 });
    const bad = createClient(
      EmbeddingsService,
      createDirectTransport((router) =>
        router.service(EmbeddingsService, {
          embed(req: EmbedRequest) {
            return { model: req.endpoint, data: [{ index: -1, values: [0.1] }] };
          },
        }),
      ),
    );
    const err = await failure(bad.embed({ endpoint: "e" }));
    expect(err.code).toBe(Code.Internal);
    expect(err.rawMessage).toContain("data[0].index");
  });

  it("rounds float fields to float32 in an answer, as the encoding did, and keeps doubles exact", async () => {
    const embed = createClient(
      EmbeddingsService,
      createDirectTransport((router) =>
        router.service(EmbeddingsService, {
          embed: () => ({ model: "m", data: [{ index: 0, values: [0.1], doubleValues: [0.1, 1e-300] }] }),
        }),
      ),
    );
    const out = await embed.embed({ endpoint: "e" });
    expect(out.data[0]?.values).toEqual([Math.fround(0.1)]);
    expect(out.data[0]?.doubleValues).toEqual([0.1, 1e-300]);
  });
});

describe("server streams", () => {
  it("are pulled: a caller that stops reading stops the implementation (no buffering ahead)", async () => {
    let produced = 0;
    let finished = false;
    const routes = (router: ConnectRouter) =>
      router.service(
        ChatService,
        {
          async *streamChat() {
            try {
              for (let i = 0; i < 10_000; i++) {
                produced++;
                yield { model: "m", choices: [{ index: 0, delta: { content: `w${i} ` } }] };
              }
            } finally {
              finished = true;
            }
          },
        },
        { interceptors: [recording("outer")] },
      );
    const client = createClient(ChatService, createDirectTransport(routes));
    const it = client.streamChat({ endpoint: "e" })[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    // Give a pumping transport every chance to run ahead: many turns of the event loop.
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(produced).toBeLessThanOrEqual(3);
    expect(finished).toBe(false);
  });

  it("answer the head once the first message is there: headers set before it, errors before it reject", async () => {
    let failFirst = false;
    const routes = (router: ConnectRouter) =>
      router.service(ChatService, {
        async *streamChat(_req, ctx) {
          ctx.responseHeader.set("x-modelgate-target", "late");
          if (failFirst) throw new ConnectError("no such endpoint", Code.NotFound);
          yield { model: "m" };
          ctx.responseTrailer.set("x-modelgate-attempts", "1");
          throw new ConnectError("upstream broke", Code.Unavailable, { "x-detail": "d" });
        },
      });
    const client = createClient(ChatService, createDirectTransport(routes));
    let header: Headers | undefined;
    const got: string[] = [];
    const err = await (async () => {
      for await (const m of client.streamChat({ endpoint: "e" }, { onHeader: (h) => (header = h) })) got.push(m.model);
    })().catch((e: unknown) => ConnectError.from(e));
    expect(header?.get("x-modelgate-target")).toBe("late");
    expect(got).toEqual(["m"]);
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.metadata.get("x-detail")).toBe("d");
    expect(err?.metadata.get("x-modelgate-attempts")).toBe("1");

    failFirst = true;
    const stream = client.streamChat({ endpoint: "e" }, { onHeader: () => expect.unreachable("no head on an early error") });
    const early = await failure(stream[Symbol.asyncIterator]().next());
    expect(early.code).toBe(Code.NotFound);
  });

  it("cancel the implementation when the caller's signal aborts mid-stream", async () => {
    let reason: unknown;
    const routes = (router: ConnectRouter) =>
      router.service(ChatService, {
        async *streamChat(_req, ctx) {
          yield { model: "first" };
          reason = await aborted(ctx.signal);
          throw ConnectError.from(reason);
        },
      });
    const client = createClient(ChatService, createDirectTransport(routes));
    const caller = new AbortController();
    const it = client.streamChat({ endpoint: "e" }, { signal: caller.signal })[Symbol.asyncIterator]();
    expect((await it.next()).value?.model).toBe("first");
    const pending = failure(it.next());
    caller.abort(new ConnectError("the client closed the connection", Code.Canceled));
    expect((await pending).code).toBe(Code.Canceled);
    expect(ConnectError.from(reason).code).toBe(Code.Canceled);
  });
});

describe("a server stream's request", () => {
  it("is conformed before the interceptors run: a value the proto cannot carry is INVALID_ARGUMENT and no call starts", async () => {
    let intercepted = 0;
    const count: Interceptor = (next) => (req) => {
      intercepted++;
      return next(req);
    };
    const client = createClient(
      ChatService,
      createDirectTransport((router) =>
        router.service(
          ChatService,
          {
            async *streamChat() {
              yield { model: "m" };
            },
          },
          { interceptors: [count] },
        ),
      ),
    );
    const err = await failure(client.streamChat({ endpoint: "e", n: -1 })[Symbol.asyncIterator]().next());
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("n: -1 is out of range for uint32");
    expect(intercepted).toBe(0);
    const ok = await client.streamChat({ endpoint: "e", n: 1 })[Symbol.asyncIterator]().next();
    expect(ok.value?.model).toBe("m");
    expect(intercepted).toBe(1);
  });
});

describe("the REST surfaces' clients (inProcessClients)", () => {
  // They replace connect-es's server-streaming client with their own (ServerStreamCall): every
  // observable step must be what connect-es's client gives over the same transport.
  type Step = string;
  async function observe(streamChat: (req: { endpoint: string }, opts: object) => AsyncIterable<{ model: string }>, endpoint: string): Promise<Step[]> {
    const steps: Step[] = [];
    const caller = new AbortController();
    const opts = {
      signal: caller.signal,
      onHeader: (h: Headers) => steps.push(`header ${h.get("x-modelgate-target")}`),
      onTrailer: (t: Headers) => steps.push(`trailer ${t.get("x-modelgate-attempts")}`),
    };
    const it = streamChat({ endpoint }, opts)[Symbol.asyncIterator]();
    try {
      for (let r = await it.next(); r.done !== true; r = await it.next()) {
        steps.push(`message ${r.value.model}`);
        if (r.value.model === "cancel-me") caller.abort(new ConnectError("the client closed the connection", Code.Canceled));
      }
      steps.push("end");
      steps.push(`after end: ${JSON.stringify(await it.next())}`);
    } catch (err) {
      const e = ConnectError.from(err);
      steps.push(`error ${Code[e.code]} ${e.rawMessage} ${e.metadata.get("x-modelgate-attempts")}`);
    }
    return steps;
  }

  it("give what connect-es's client gives: head, messages, trailers, errors early and midway, cancellation", async () => {
    const { inProcessClients } = await import("../../src/surfaces/services");
    const routes = (router: ConnectRouter) =>
      router.service(ChatService, {
        async *streamChat(req, ctx) {
          ctx.responseHeader.set("x-modelgate-target", req.endpoint);
          if (req.endpoint === "early") throw new ConnectError("no such endpoint", Code.NotFound);
          yield { model: "a" };
          if (req.endpoint === "cancel") {
            yield { model: "cancel-me" };
            await aborted(ctx.signal);
            throw ConnectError.from(ctx.signal.reason);
          }
          yield { model: "b" };
          ctx.responseTrailer.set("x-modelgate-attempts", "2");
          if (req.endpoint === "midway") throw new ConnectError("upstream broke", Code.Unavailable);
        },
      });
    const connectClient = createClient(ChatService, createDirectTransport(routes));
    const ours = inProcessClients(routes).chat;
    for (const endpoint of ["ok", "early", "midway", "cancel"]) {
      const expected = await observe((r, o) => connectClient.streamChat(r, o), endpoint);
      expect(await observe((r, o) => ours.streamChat(r, o), endpoint), endpoint).toEqual(expected);
    }
    // The four cases took the paths they name.
    expect(await observe((r, o) => ours.streamChat(r, o), "ok")).toEqual(["header ok", "message a", "message b", "trailer 2", "end", 'after end: {"done":true}']);
    expect((await observe((r, o) => ours.streamChat(r, o), "early"))[0]).toBe("error NotFound no such endpoint null");
  });
});
