// The immutable runtime state built from a loaded config: endpoints with their model clients,
// API keys, limits. Built once per config (re)load; calls hold the state they began with.
import { createHash } from "node:crypto";
import type { LoadedConfig } from "./config/load";
import type { EndpointType, RenewalPeriod } from "./config/schema";
import { renewalPeriods } from "./config/schema";
import type { ModelClient, ModelFactory } from "./providers/model";
import type { UpstreamClient } from "./upstream/client";

export interface RuntimeEndpoint {
  name: string;
  type: EndpointType;
  provider: string;
  model: string;
  limit?: { renewalPeriod: RenewalPeriod; calls: number; windowMs: number };
  client: ModelClient;
}

/** Who is calling, once authenticated. */
export interface Principal {
  /** The key's name from the config (never the secret). */
  keyName: string;
  /** Endpoints this principal may call; undefined = all. */
  endpoints?: ReadonlySet<string>;
}

export interface RuntimeState {
  endpoints: ReadonlyMap<string, RuntimeEndpoint>;
  auth: { enabled: boolean; keysBySha256: ReadonlyMap<string, Principal> };
}

export function sha256Hex(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function buildRuntimeState(
  config: LoadedConfig,
  factories: ReadonlyMap<string, ModelFactory>,
  upstream: UpstreamClient,
): RuntimeState {
  const endpoints = new Map<string, RuntimeEndpoint>();
  for (const ep of config.file.endpoints) {
    const factory = factories.get(ep.model.provider);
    const providerConfig = config.providerConfigs.get(ep.name);
    // The loader already validated both; a miss here is a programming error.
    if (!factory || !providerConfig) throw new Error(`endpoint ${ep.name} was not validated`);
    endpoints.set(ep.name, {
      name: ep.name,
      type: ep.endpoint_type,
      provider: ep.model.provider,
      model: ep.model.name,
      limit: ep.limit && {
        renewalPeriod: ep.limit.renewal_period,
        calls: ep.limit.calls,
        windowMs: renewalPeriods[ep.limit.renewal_period],
      },
      client: factory.create({ name: ep.model.name, config: providerConfig }, { upstream }),
    });
  }
  const keysBySha256 = new Map<string, Principal>();
  for (const key of config.file.auth.keys) {
    const hash = key.sha256 ?? sha256Hex(key.key!);
    keysBySha256.set(hash, {
      keyName: key.name,
      endpoints: key.endpoints && new Set(key.endpoints),
    });
  }
  return { endpoints, auth: { enabled: config.file.auth.enabled, keysBySha256 } };
}
