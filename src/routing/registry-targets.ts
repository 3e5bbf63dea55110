// Registry-aware targets: an `mlflow-model-serving` target whose model is a registry name is
// resolved here, in routing, so the provider stays a pure translator (src/providers/mlflow-
// model-serving) and never looks anything up:
//   - `models:/NAME/VERSION` is fixed at load; `models:/NAME@ALIAS` is resolved through the
//     tracking server and cached per target (AliasCache: TTL, single-flight, stale-while-error).
//     The resolved name and version fill `{name}` / `{version}` in model_server_url, so each call
//     goes to the server of the version the alias points to now, and moving the alias moves the
//     traffic within the TTL, without a restart;
//   - the caller's model-version grants (src/auth/access.ts) are checked once the version is
//     known, before any request reaches it;
//   - what the scoring server does not say: the model name (taken from the endpoint: NAME for a
//     registry model) and, for predict, the version that answered.
import { badUpstreamResponse } from "../errors";
import { requireModelVersion } from "../auth/access";
import type { CallOptions, ModelClient, ModelFactory } from "../providers/model";
import type { ModelTarget } from "../providers/types";
import { PROVIDER, fillUrl, placeholdersIn, type MlflowConfig } from "../providers/mlflow-model-serving/config";
import type { UpstreamClient } from "../upstream/client";
import { AliasCache } from "./registry-alias-cache";
import { parseModelUri } from "./registry-model-uri";
import { versionByAlias } from "./registry-tracking-client";

/** Where one call goes: the client for the resolved server, and what to report as the model. */
interface Resolved {
  client: ModelClient;
  name: string;
  version?: string;
  /** The tracking server of a registry model, when the config names one (signatures are read there). */
  tracking?: { uri: string; token?: string };
}

type Resolve = (call: CallOptions) => Promise<Resolved>;

export interface RegistryTargetOptions {
  /** Milliseconds clock for the alias cache (tests pass a fake one). */
  now?: () => number;
  /** An alias lookup failed and the last known version keeps serving (see AliasCache.onStale). */
  onStale?: (stale: { uri: string; version: string; err: unknown }) => void;
}

/**
 * The client for one endpoint target: the provider factory's own, except for an
 * `mlflow-model-serving` target, which goes through the registry resolution above.
 */
export function targetClient(factory: ModelFactory, target: ModelTarget, upstream: UpstreamClient, options: RegistryTargetOptions = {}): ModelClient {
  if (factory.name !== PROVIDER) return factory.create(target, { upstream });
  return registryModel(resolverFor(target, factory, upstream, options.now ?? (() => performance.now()), options.onStale));
}

/**
 * Checks the name against the config (both were valid alone) and returns how each call finds
 * its server. A mismatch is a configuration error, thrown when the endpoint is built.
 */
function resolverFor(
  target: ModelTarget,
  inner: ModelFactory,
  upstream: UpstreamClient,
  now: () => number,
  onStale: RegistryTargetOptions["onStale"],
): Resolve {
  // The loader validated the config with this provider's schema (Provider<MlflowConfig>).
  const config = target.config as MlflowConfig;
  const placeholders = placeholdersIn(config.model_server_url);
  const registry = parseModelUri(target.name);
  const fail = (problem: string) => new Error(`${PROVIDER}: model "${target.name}": ${problem}`);
  const tracking = config.mlflow_tracking_uri === undefined ? undefined : { uri: config.mlflow_tracking_uri, token: config.mlflow_tracking_token };
  const clientFor = (name: string, version: string) =>
    inner.create({ name, config: { ...config, model_server_url: fillUrl(config.model_server_url, { name, version }) } }, { upstream });

  if (registry === undefined) {
    if (placeholders.length > 0) {
      throw fail(
        `model_server_url uses ${placeholders.map((p) => `{${p}}`).join(", ")}, which only a registry model ` +
          "(models:/NAME@ALIAS or models:/NAME/VERSION) can fill",
      );
    }
    const fixed: Resolved = { client: inner.create(target, { upstream }), name: target.name };
    return async () => fixed;
  }

  if (registry.kind === "version") {
    const fixed: Resolved = { client: clientFor(registry.name, registry.version), name: registry.name, version: registry.version, tracking };
    return async () => fixed;
  }

  const trackingUri = config.mlflow_tracking_uri;
  if (trackingUri === undefined) throw fail("mlflow_tracking_uri is required to resolve an alias");
  if (!placeholders.includes("version")) {
    throw fail(
      "model_server_url must contain {version} (e.g. http://host:5001/{name}/{version}), so that each version " +
        "the alias points to is reached at its own server",
    );
  }
  const server = { uri: trackingUri, token: config.mlflow_tracking_token };
  const cache = new AliasCache({
    uri: registry.uri,
    ttlMs: config.registry_cache_ttl_ms,
    now,
    lookup: (call) => versionByAlias(upstream, server, registry.name, registry.alias, call),
    onStale: onStale && ((err, version) => onStale({ uri: registry.uri, version, err })),
  });
  const clients = new Map<string, ModelClient>();
  return async (call) => {
    const version = await cache.version(call);
    let client = clients.get(version);
    if (client === undefined) {
      client = clientFor(registry.name, version);
      clients.set(version, client);
    }
    return { client, name: registry.name, version, tracking };
  };
}

/** A method the translator-backed client lacks: every MLflow endpoint type has one, so a bug. */
function need<T>(method: T | undefined, what: string): T {
  if (method === undefined) throw new Error(`${PROVIDER}: no ${what} method`);
  return method;
}

/** Results and chunks carry no model name from the scoring server; the endpoint's is used. */
function named<T extends { model: string }>(result: T, name: string): T {
  return result.model === "" ? { ...result, model: name } : result;
}

function registryModel(resolve: Resolve): ModelClient {
  return {
    async chat(params, call) {
      const { client, name } = await resolve(call);
      return named(await need(client.chat, "chat")(params, call), name);
    },
    async *streamChat(params, call) {
      const { client, name } = await resolve(call);
      for await (const chunk of need(client.streamChat, "streamChat")(params, call)) yield named(chunk, name);
    },
    async complete(params, call) {
      const { client, name } = await resolve(call);
      return named(await need(client.complete, "complete")(params, call), name);
    },
    async *streamComplete(params, call) {
      const { client, name } = await resolve(call);
      for await (const chunk of need(client.streamComplete, "streamComplete")(params, call)) yield named(chunk, name);
    },
    async embed(params, call) {
      const { client, name } = await resolve(call);
      const res = named(await need(client.embed, "embed")(params, call), name);
      // Vectors are matched to inputs by position, so a short or long answer would mislabel them.
      if (res.data.length !== params.inputs.length) {
        throw badUpstreamResponse(PROVIDER, `predictions: expected ${params.inputs.length} vector(s), one per input, got ${res.data.length}`);
      }
      return res;
    },
    async predict(params, call) {
      const { client, name, version, tracking } = await resolve(call);
      if (version !== undefined) requireModelVersion(call.allowedModelVersions, name, version);
      if (version !== undefined && call.checkPredictInput) params = await call.checkPredictInput({ name, version, tracking }, params, call);
      const res = await need(client.predict, "predict")(params, call);
      return version === undefined ? { ...res, model: name } : { ...res, model: name, modelVersion: version };
    },
  };
}
