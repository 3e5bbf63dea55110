// The MLflow registry resolver in routing (src/routing/registry-*.ts): models:/ name parsing,
// the alias cache (TTL, single-flight, stale-while-error, cancellation) on a fake clock, and the
// registry target clients against fake MLflow tracking and scoring servers through the real
// upstream client.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { fromJson } from "@bufbuild/protobuf";
import { ChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import { PredictRequestSchema } from "../../gen/modelgate/v1/predict_pb";
import { AliasCache } from "../../src/routing/registry-alias-cache";
import { parseModelUri } from "../../src/routing/registry-model-uri";
import { targetClient } from "../../src/routing/registry-targets";
import { mlflowConfigSchema } from "../../src/providers/mlflow-model-serving/config";
import { mlflowModelServingProvider } from "../../src/providers/mlflow-model-serving/index";
import { httpModelFactory, type ModelClient } from "../../src/providers/model";
import type { UpstreamCall } from "../../src/upstream/client";
import { UpstreamClient } from "../../src/upstream/client";
import { startFakeMlflowTracking, type FakeMlflowTracking } from "../fakes/fake-mlflow-tracking";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { failure } from "../integration/harness";

describe("parseModelUri", () => {
  it.each([
    ["models:/churn@champion", { kind: "alias", uri: "models:/churn@champion", name: "churn", alias: "champion" }],
    ["models:/churn/3", { kind: "version", uri: "models:/churn/3", name: "churn", version: "3" }],
    ["models:/churn/007", { kind: "version", uri: "models:/churn/007", name: "churn", version: "7" }],
    ["models:/prod.ml.churn@challenger", { kind: "alias", uri: "models:/prod.ml.churn@challenger", name: "prod.ml.churn", alias: "challenger" }],
  ])("%s", (uri, expected) => {
    expect(parseModelUri(uri)).toEqual(expected);
  });

  it("leaves plain model names alone", () => {
    expect(parseModelUri("gpt-4o-mini")).toBeUndefined();
    expect(parseModelUri("churn")).toBeUndefined();
  });

  it.each(["models:/", "models:/churn", "models:/churn@", "models:/@champion", "models:/a/b/3", "models:/a@b@c", "models:/a/3@x"])(
    "refuses %s with the forms to use",
    (uri) => {
      expect(() => parseModelUri(uri)).toThrow(/use models:\/NAME@ALIAS or models:\/NAME\/VERSION/);
    },
  );

  it.each(["models:/churn/latest", "models:/churn/Production"])("refuses %s: stages and latest are not resolved", (uri) => {
    expect(() => parseModelUri(uri)).toThrow(/stages and "latest" are not supported, use an alias/);
  });
});

/** A lookup whose answers the test hands out one by one. */
function controlledLookup() {
  const pending: { resolve: (v: string) => void; reject: (e: unknown) => void; call: UpstreamCall }[] = [];
  return {
    pending,
    calls: () => pending.length,
    lookup: (call: UpstreamCall) =>
      new Promise<string>((resolve, reject) => {
        pending.push({ resolve, reject, call });
      }),
  };
}

const call = (signal = new AbortController().signal): UpstreamCall => ({ signal, requestId: "rid-1" });
const flush = () => new Promise((r) => setImmediate(r));

describe("AliasCache", () => {
  let clock: number;
  const now = () => clock;
  beforeEach(() => {
    clock = 1_000;
  });

  function cache(ttlMs: number, lookup: (call: UpstreamCall) => Promise<string>, onStale?: (err: unknown, version: string) => void) {
    return new AliasCache({ uri: "models:/churn@champion", ttlMs, now, lookup, onStale });
  }

  it("looks up once per TTL and re-resolves after it, following a moved alias", async () => {
    let version = "3";
    let lookups = 0;
    const c = cache(200, async () => {
      lookups++;
      return version;
    });
    expect(await c.version(call())).toBe("3");
    clock += 199;
    version = "4";
    expect(await c.version(call())).toBe("3");
    expect(lookups).toBe(1);
    clock += 1;
    expect(await c.version(call())).toBe("4");
    expect(lookups).toBe(2);
  });

  it("TTL 0 resolves on every call", async () => {
    let lookups = 0;
    const c = cache(0, async () => String(++lookups));
    expect(await c.version(call())).toBe("1");
    expect(await c.version(call())).toBe("2");
  });

  it("concurrent callers share one lookup (single-flight), and its request context", async () => {
    const l = controlledLookup();
    const c = cache(1_000, l.lookup);
    const answers = Promise.all([c.version(call()), c.version(call()), c.version(call())]);
    await flush();
    expect(l.calls()).toBe(1);
    expect(l.pending[0]?.call.requestId).toBe("rid-1");
    l.pending[0]!.resolve("5");
    expect(await answers).toEqual(["5", "5", "5"]);
    // and a refresh after the TTL is single-flight too
    clock += 1_000;
    const again = Promise.all([c.version(call()), c.version(call())]);
    await flush();
    expect(l.calls()).toBe(2);
    l.pending[1]!.resolve("6");
    expect(await again).toEqual(["6", "6"]);
  });

  it("keeps the known version while the registry fails (stale-while-error), retrying after another TTL", async () => {
    const l = controlledLookup();
    const stale: { err: string; version: string }[] = [];
    const c = cache(100, l.lookup, (err, version) => stale.push({ err: (err as Error).message, version }));
    const first = c.version(call());
    await flush();
    l.pending[0]!.resolve("3");
    expect(await first).toBe("3");

    clock += 100;
    const during = c.version(call());
    await flush();
    l.pending[1]!.reject(new Error("connect ECONNREFUSED"));
    expect(await during).toBe("3");
    // the failure is reported (the gateway logs it), not hidden behind the stale answers
    expect(stale).toEqual([{ err: "connect ECONNREFUSED", version: "3" }]);
    // the failure counts as a refresh: no new lookup until another TTL has passed
    clock += 99;
    expect(await c.version(call())).toBe("3");
    expect(l.calls()).toBe(2);
    clock += 1;
    const later = c.version(call());
    await flush();
    expect(l.calls()).toBe(3);
    l.pending[2]!.resolve("4");
    expect(await later).toBe("4");
  });

  it("with nothing known, a failed lookup is UNAVAILABLE naming the model and the reason", async () => {
    const c = cache(100, async () => {
      throw new ConnectError("mlflow-tracking: upstream connection failed (ECONNREFUSED)", Code.Unavailable);
    });
    const err = await failure(c.version(call()));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe(
      "mlflow-registry: cannot resolve models:/churn@champion: mlflow-tracking: upstream connection failed (ECONNREFUSED)",
    );
    // not cached: the next call tries again
    await expect(c.version(call())).rejects.toThrow(/cannot resolve/);
  });

  it("a caller that cancels stops waiting; the lookup goes on for the others", async () => {
    const l = controlledLookup();
    const c = cache(1_000, l.lookup);
    const leaving = new AbortController();
    const left = c.version(call(leaving.signal));
    const stays = c.version(call());
    await flush();
    leaving.abort(new ConnectError("cancelled by the client", Code.Canceled));
    const err = await failure(left);
    expect(err.code).toBe(Code.Canceled);
    expect(l.pending[0]?.call.signal.aborted).toBe(false);
    l.pending[0]!.resolve("3");
    expect(await stays).toBe("3");
  });

  it("when every caller has gone the lookup is aborted, and the next caller starts a new one", async () => {
    const l = controlledLookup();
    const c = cache(1_000, l.lookup);
    const a = new AbortController();
    const b = new AbortController();
    const calls = [c.version(call(a.signal)), c.version(call(b.signal))];
    await flush();
    a.abort(new ConnectError("gone", Code.Canceled));
    expect(l.pending[0]?.call.signal.aborted).toBe(false);
    b.abort(new ConnectError("gone", Code.DeadlineExceeded));
    expect(l.pending[0]?.call.signal.aborted).toBe(true);
    expect((await failure(calls[0]!)).code).toBe(Code.Canceled);
    expect((await failure(calls[1]!)).code).toBe(Code.DeadlineExceeded);

    const next = c.version(call());
    await flush();
    expect(l.calls()).toBe(2);
    l.pending[0]!.reject(new ConnectError("aborted", Code.Canceled));
    l.pending[1]!.resolve("3");
    expect(await next).toBe("3");
  });

  it("an already cancelled caller is refused without a lookup", async () => {
    const l = controlledLookup();
    const c = cache(1_000, l.lookup);
    const gone = new AbortController();
    gone.abort(new ConnectError("gone", Code.Canceled));
    expect((await failure(c.version(call(gone.signal)))).code).toBe(Code.Canceled);
  });
});

describe("registry targets (targetClient for mlflow-model-serving)", () => {
  const token = "mlflow-token-secret-0001";
  let tracking: FakeMlflowTracking;
  let scoring: FakeUpstream;
  let upstream: UpstreamClient;
  let clock = 0;
  const factory = httpModelFactory(mlflowModelServingProvider);

  beforeAll(async () => {
    tracking = await startFakeMlflowTracking({ token });
    scoring = await startFakeUpstream();
    upstream = new UpstreamClient({ timeoutMs: 2_000 });
  });
  afterAll(async () => {
    await upstream.close();
    await tracking.close();
    await scoring.close();
  });
  beforeEach(() => {
    tracking.reset();
    scoring.reset();
    tracking.setAlias("churn", "champion", 3);
    tracking.addVersion("churn", 2);
  });

  function model(name: string, config: Record<string, unknown>): ModelClient {
    return targetClient(factory, { name, config: mlflowConfigSchema.parse(config) }, upstream, { now: () => clock });
  }
  const registryConfig = () => ({
    model_server_url: `${scoring.url}/{name}/{version}`,
    mlflow_tracking_uri: tracking.url,
    mlflow_tracking_token: token,
    registry_cache_ttl_ms: 500,
  });
  const predictRequest = fromJson(PredictRequestSchema, { dataframe_split: { columns: ["x", "y"], data: [[1, 2]] } });
  const options = () => ({ signal: new AbortController().signal });

  it("a pinned version needs no lookup and reports its version", async () => {
    const res = await model("models:/churn/2", { model_server_url: `${scoring.url}/{name}/{version}` }).predict!(predictRequest, options());
    expect(res).toEqual({ predictions: [6], model: "churn", modelVersion: "2" });
    expect(scoring.requests[0]?.path).toBe("/churn/2/invocations");
    expect(tracking.requests).toEqual([]);
  });

  it("an alias is resolved with the token, cached for the TTL, and followed when it moves", async () => {
    const churn = model("models:/churn@champion", registryConfig());
    expect(await churn.predict!(predictRequest, options())).toEqual({ predictions: [9], model: "churn", modelVersion: "3" });
    expect(tracking.requests[0]).toMatchObject({
      method: "GET",
      path: "/api/2.0/mlflow/registered-models/alias",
      query: { name: "churn", alias: "champion" },
    });
    expect(tracking.requests[0]?.headers["authorization"]).toBe(`Bearer ${token}`);

    tracking.setAlias("churn", "champion", 4);
    clock += 499;
    expect((await churn.predict!(predictRequest, options())).modelVersion).toBe("3");
    clock += 1;
    expect(await churn.predict!(predictRequest, options())).toEqual({ predictions: [12], model: "churn", modelVersion: "4" });
    expect(scoring.requests.map((r) => r.path)).toEqual(["/churn/3/invocations", "/churn/3/invocations", "/churn/4/invocations"]);
    expect(tracking.aliasLookups()).toBe(2);
  });

  it("registry errors become UNAVAILABLE with the tracking server's words, never the token", async () => {
    const nosuch = model("models:/churn@nosuch", registryConfig());
    const err = await failure(nosuch.predict!(predictRequest, options()));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe(
      "mlflow-registry: cannot resolve models:/churn@nosuch: mlflow-tracking: upstream rejected the request (HTTP 400): " +
        "INVALID_PARAMETER_VALUE: Registered model alias nosuch not found.",
    );
    const unknownModel = await failure(model("models:/fraud@champion", registryConfig()).predict!(predictRequest, options()));
    expect(unknownModel.rawMessage).toMatch(/RESOURCE_DOES_NOT_EXIST: Registered Model with name=fraud not found$/);
    const badToken = await failure(
      model("models:/churn@champion", { ...registryConfig(), mlflow_tracking_token: "wrong-token-0000" }).predict!(predictRequest, options()),
    );
    expect(badToken.code).toBe(Code.Unavailable);
    expect(badToken.rawMessage).toMatch(/credentials were refused/);
    expect(badToken.rawMessage).not.toContain("wrong-token-0000");
  });

  it("a plain name keeps its URL and reports its own name", async () => {
    const res = await model("churn", { model_server_url: scoring.url }).predict!(predictRequest, options());
    expect(res).toEqual({ predictions: [3], model: "churn" });
    expect(scoring.requests[0]?.path).toBe("/invocations");
  });

  it("fills the model name the scoring server does not send", async () => {
    const llm = model("chat-bot", { model_server_url: `${scoring.url}/llm` });
    const res = await llm.chat!(fromJson(ChatRequestSchema, { messages: [{ role: "user", content: "hi" }] }), options());
    expect(res.model).toBe("chat-bot");
    expect(res.choices[0]?.message).toMatchObject({ role: "assistant", content: "echo: hi" });
  });

  it("refuses embeddings whose vector count does not match the inputs", async () => {
    // A model answering one number per input reads as a single vector.
    const numbers = model("not-an-embedder", { model_server_url: scoring.url });
    const err = await failure(numbers.embed!({ inputs: ["a", "b"], user: "" }, options()));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe("mlflow-model-serving: unexpected upstream response: predictions: expected 2 vector(s), one per input, got 1");
  });

  it.each([
    ["models:/churn@champion", { model_server_url: "http://127.0.0.1:1/{version}" }, /mlflow_tracking_uri is required to resolve an alias/],
    ["models:/churn@champion", { model_server_url: "http://127.0.0.1:1", mlflow_tracking_uri: "http://127.0.0.1:2" }, /model_server_url must contain \{version\}/],
    ["churn", { model_server_url: "http://127.0.0.1:1/{name}" }, /uses \{name\}, which only a registry model .* can fill/],
    ["models:/churn/latest", { model_server_url: "http://127.0.0.1:1" }, /stages and "latest" are not supported/],
  ])("refuses %s with %j when the endpoint is built", (name, config, message) => {
    expect(() => model(name, config)).toThrow(message);
  });
});
