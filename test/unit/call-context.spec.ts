// The per-call context (src/interceptors/call-info.ts): typed values each set once by one layer.
// callContext reads a server stream's message once and hands the next interceptor a new request
// replaying it (the request objects are not rewritten); bounds resolves the endpoint the request
// names once, on the call's state, and services use that resolution. Through a real Connect
// router (in-memory transport) so the requests are the ones connect-es builds.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createContextValues, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ChatService, ChatResponseSchema, StreamChatResponseSchema } from "../../gen/modelgate/v1/chat_pb";
import { boundsInterceptor } from "../../src/interceptors/bounds";
import { callContextInterceptor } from "../../src/interceptors/call-context";
import { callIdsKey, getCallEndpoint, getCallScope, setOnce, type CallEndpoint, type CallScope } from "../../src/interceptors/call-info";
import type { RuntimeEndpoint, RuntimeState } from "../../src/runtime";
import { beginEndpointCall } from "../../src/services/endpoint-call";

/** An endpoint map that counts its look-ups. */
class CountingMap extends Map<string, RuntimeEndpoint> {
  lookups = 0;
  override get(name: string): RuntimeEndpoint | undefined {
    this.lookups++;
    return super.get(name);
  }
}

function stateWith(model: string): { state: RuntimeState; endpoints: CountingMap; endpoint: RuntimeEndpoint } {
  const endpoint = { name: "chat", type: "llm/v1/chat", provider: "openai", model, client: {}, targetName: model, targets: [] } as unknown as RuntimeEndpoint;
  const endpoints = new CountingMap([["chat", endpoint]]);
  return { state: { endpoints } as unknown as RuntimeState, endpoints, endpoint };
}

interface Seen {
  outerReq?: unknown;
  outerMessage?: unknown;
  innerReq?: unknown;
  scope?: CallScope;
  called?: CallEndpoint;
  served?: RuntimeEndpoint;
  handlerEndpointField?: string;
}

/** callContext, a probe, bounds, a probe, and a Chat service that begins its endpoint call. */
function gateway(getState: () => RuntimeState, onService?: () => void) {
  const seen: Seen = {};
  const outer: Interceptor = (next) => (req) => {
    seen.outerReq = req;
    seen.outerMessage = req.message;
    return next(req);
  };
  const inner: Interceptor = (next) => (req) => {
    seen.innerReq = req;
    seen.scope = getCallScope(req.contextValues);
    seen.called = getCallEndpoint(req.contextValues);
    return next(req);
  };
  const deps = { getState };
  const transport = createRouterTransport(
    (router) =>
      router.service(ChatService, {
        chat(req, ctx) {
          onService?.();
          seen.served = beginEndpointCall(deps, ctx, req.endpoint, "llm/v1/chat").endpoint;
          return create(ChatResponseSchema, {});
        },
        async *streamChat(req, ctx) {
          onService?.();
          seen.handlerEndpointField = req.endpoint;
          seen.served = beginEndpointCall(deps, ctx, req.endpoint, "llm/v1/chat").endpoint;
          yield create(StreamChatResponseSchema, {});
        },
      }),
    { router: { interceptors: [outer, callContextInterceptor(getState), boundsInterceptor(), inner] } },
  );
  return { client: createClient(ChatService, transport), seen };
}

describe("per-call context", () => {
  it("a server stream's message is read once: the next interceptor gets a new request replaying it, the caller's request is left as it was", async () => {
    const { state, endpoint } = stateWith("m-1");
    const { client, seen } = gateway(() => state);
    for await (const _ of client.streamChat({ endpoint: "chat", messages: [{ role: "user", content: "hi" }] })) void _;
    expect(seen.innerReq).not.toBe(seen.outerReq);
    expect((seen.outerReq as { message: unknown }).message).toBe(seen.outerMessage);
    expect((seen.scope?.message as { endpoint?: string }).endpoint).toBe("chat");
    expect(seen.scope?.streamed).toBe(true);
    // The service still got the one message, replayed.
    expect(seen.handlerEndpointField).toBe("chat");
    expect(seen.served).toBe(endpoint);
  });

  it("the endpoint is resolved once, on the state the call started with, even if the state is swapped before the service runs", async () => {
    const first = stateWith("m-1");
    const second = stateWith("m-2");
    let current = first.state;
    const { client, seen } = gateway(
      () => current,
      () => (current = second.state), // a config reload while the call runs
    );
    await client.chat({ endpoint: "chat", messages: [{ role: "user", content: "hi" }] });
    expect(seen.called).toEqual({ name: "chat", endpoint: first.endpoint });
    expect(seen.served).toBe(first.endpoint);
    expect(first.endpoints.lookups).toBe(1);
    expect(second.endpoints.lookups).toBe(0);
  });

  it("a name bounds refuses never becomes the call's endpoint", async () => {
    const { state, endpoints } = stateWith("m-1");
    const { client, seen } = gateway(() => state);
    const err = await client.chat({ endpoint: "x".repeat(300), messages: [{ role: "user", content: "hi" }] }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toBe("endpoint: longer than 256 characters");
    expect(seen.called).toBeUndefined();
    expect(endpoints.lookups).toBe(0);
  });

  it("an unknown endpoint is resolved (to nothing) once and refused by the service as NOT_FOUND", async () => {
    const { state, endpoints } = stateWith("m-1");
    const { client, seen } = gateway(() => state);
    const err = await client.chat({ endpoint: "nope", messages: [] }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.NotFound);
    expect(seen.called).toEqual({ name: "nope", endpoint: undefined });
    expect(endpoints.lookups).toBe(1);
  });

  it("a per-call value set twice is a bug in the chain, not something a request can cause", () => {
    const values = createContextValues();
    setOnce(values, callIdsKey, { requestId: "r1", traceparent: "" });
    expect(() => setOnce(values, callIdsKey, { requestId: "r2", traceparent: "" })).toThrow('per-call value "modelgate call ids" set twice');
    expect(values.get(callIdsKey)?.requestId).toBe("r1");
  });
});
