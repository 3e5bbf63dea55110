// src/server/interceptor-chain.ts: each method's interceptors applied once, the call's context
// found through its context values (CallValues, connect-es's createContextValues as a class).
// The chain through real service code is in direct-transport.spec ("apply each method's
// interceptors once"); these are the pieces' own contracts.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, createContextValues, createMethodImplSpec, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import { ChatRequestSchema, ChatService } from "../../gen/modelgate/v1/chat_pb";
import { callContext } from "../../src/server/handler-context";
import { CallValues, invokeUnary } from "../../src/server/interceptor-chain";

describe("CallValues", () => {
  it("behaves as connect-es's createContextValues: a key's default until set, the value after, the default again once deleted", () => {
    const key = createContextKey<string[]>(["default"], { description: "k" });
    const other = createContextKey<number | undefined>(undefined);
    for (const values of [new CallValues(), createContextValues()]) {
      expect(values.get(key)).toEqual(["default"]);
      expect(values.set(key, ["set"])).toBe(values);
      expect(values.get(key)).toEqual(["set"]);
      // A value that is undefined is still set (`in`, not a truthiness check).
      values.set(other, undefined);
      expect(values.get(other)).toBeUndefined();
      expect(values.delete(key)).toBe(values);
      expect(values.get(key)).toEqual(["default"]);
    }
  });
});

describe("invokeUnary", () => {
  const chat = ChatService.method.chat;

  function contextFor(values = new CallValues()) {
    return callContext({
      method: chat,
      protocolName: "test",
      url: "http://localhost/modelgate.v1.ChatService/Chat",
      timeoutMs: undefined,
      requestSignal: undefined,
      shutdownSignal: undefined,
      requestHeader: new Headers({ "x-caller": "c1" }),
      responseHeader: new Headers(),
      contextValues: values,
    });
  }

  it("runs the implementation with the call's own context, and copies the response's headers and trailers into it", async () => {
    let seen: HandlerContext | undefined;
    const spec = createMethodImplSpec(chat, (_req, ctx) => {
      seen = ctx;
      ctx.responseHeader.set("x-answer", "1");
      ctx.responseTrailer.set("x-trailer", "2");
      return { model: "m" };
    });
    const addsHeader: Interceptor = (next) => async (req) => {
      const res = await next(req);
      res.header.set("x-interceptor", "3");
      return res;
    };
    const context = contextFor();
    const out = await invokeUnary(spec as never, context, create(ChatRequestSchema, { endpoint: "e" }), [addsHeader]);
    expect(out).toMatchObject({ $typeName: "modelgate.v1.ChatResponse", model: "m" });
    expect(seen?.requestHeader.get("x-caller")).toBe("c1");
    expect(seen?.values).toBe(context.values);
    expect(context.responseHeader.get("x-answer")).toBe("1");
    expect(context.responseHeader.get("x-interceptor")).toBe("3");
    expect(context.responseTrailer.get("x-trailer")).toBe("2");
  });

  it("an interceptor that hands on other context values (no call context in them) fails the call with INTERNAL, not a crash", async () => {
    const spec = createMethodImplSpec(chat, () => ({ model: "m" }));
    const replacesValues: Interceptor = (next) => (req) => next({ ...req, contextValues: createContextValues() });
    const err = await invokeUnary(spec as never, contextFor(), create(ChatRequestSchema, {}), [replacesValues]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Internal);
    expect((err as ConnectError).rawMessage).toMatch(/call context missing/);
  });

  it("rebuilds a method's chain when it is called with another list of interceptors", async () => {
    const spec = createMethodImplSpec(chat, () => ({ model: "m" }));
    const applied: string[] = [];
    const named =
      (name: string): Interceptor =>
      (next) => {
        applied.push(name);
        return next;
      };
    const first = [named("a")];
    await invokeUnary(spec as never, contextFor(), create(ChatRequestSchema, {}), first);
    await invokeUnary(spec as never, contextFor(), create(ChatRequestSchema, {}), first);
    await invokeUnary(spec as never, contextFor(), create(ChatRequestSchema, {}), [named("b")]);
    expect(applied).toEqual(["a", "b"]);
  });
});

describe("callContext: finish and abort", () => {
  const chat = ChatService.method.chat;
  const over = new ConnectError("over", Code.Canceled);

  function linked(timeoutMs: number | undefined) {
    const request = new AbortController();
    const shutdown = new AbortController();
    const context = callContext({
      method: chat,
      protocolName: "test",
      url: "/modelgate.v1.ChatService/Chat",
      timeoutMs,
      requestSignal: request.signal,
      shutdownSignal: shutdown.signal,
      requestHeader: new Headers(),
      responseHeader: new Headers(),
      contextValues: undefined,
    });
    return { request, shutdown, context };
  }

  it("finish with nothing listening leaves the signal as it is and unlinks it: the caller, the shutdown and the deadline no longer reach it", () => {
    vi.useFakeTimers();
    try {
      const { request, shutdown, context } = linked(1_000);
      context.finish(over);
      expect(context.signal.aborted).toBe(false);
      request.abort(new Error("the client went away"));
      shutdown.abort(new Error("shutting down"));
      vi.advanceTimersByTime(5_000);
      expect(context.signal.aborted).toBe(false);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("finish aborts the signal with its reason when something still listens, once", () => {
    const { context } = linked(undefined);
    const reasons: unknown[] = [];
    context.signal.addEventListener("abort", () => reasons.push(context.signal.reason));
    context.finish(over);
    context.finish(new Error("again"));
    expect(reasons).toEqual([over]);
  });

  it("abort aborts with its reason whether or not anything listens, and finish after it changes nothing", () => {
    const { context } = linked(undefined);
    const failed = new ConnectError("failed", Code.Unavailable);
    context.abort(failed);
    context.finish(over);
    expect(context.signal.aborted).toBe(true);
    expect(context.signal.reason).toBe(failed);
  });

  it("a caller that goes away before finish still aborts the signal with its reason", () => {
    const { request, context } = linked(undefined);
    const gone = new Error("the client went away");
    request.abort(gone);
    context.finish(over);
    expect(context.signal.reason).toBe(gone);
  });
});
