// The immutable runtime state built from a loaded config: endpoints with their model clients,
// API keys, limits. Built once per config (re)load; calls hold the state they began with.
import { createHash } from "node:crypto";
import type { LoadedConfig } from "./config/load";
import type { EndpointType, RenewalPeriod } from "./config/schema";
import { renewalPeriods } from "./config/schema";
import type { ModelClient, ModelFactory } from "./providers/model";
import type { UpstreamClient } from "./upstream/client";
import type { KeyLimits } from "./store/types";
import { compileGrants, type CompiledGrants } from "./auth/access";
import { createJwtVerifier, type JwtVerifier } from "./auth/jwt";
import { compilePrices, type PriceTable } from "./usage/prices";

export interface RuntimeEndpoint {
  name: string;
  type: EndpointType;
  provider: string;
  model: string;
  limit?: { renewalPeriod: RenewalPeriod; calls: number; tokens?: number; windowMs: number };
  client: ModelClient;
}

/** Who is calling, once authenticated. */
export interface Principal {
  /** "config:<name>" for config keys, the store's "key_…" id, "jwt:<subject>", or "" when auth is off. */
  keyId: string;
  /** A label for logs (never the secret). */
  keyName: string;
  team: string;
  roles: ReadonlySet<string>;
  /** Endpoints this principal may call at most; undefined = no key-level narrowing. */
  endpoints?: ReadonlySet<string>;
  /** The key's own limits. */
  limits?: KeyLimits;
}

/** Who calls when auth is off: local use, everything allowed. */
export const anonymous: Principal = { keyId: "", keyName: "", team: "", roles: new Set(["user", "admin"]) };

export interface RuntimeState {
  endpoints: ReadonlyMap<string, RuntimeEndpoint>;
  auth: {
    enabled: boolean;
    keysBySha256: ReadonlyMap<string, Principal>;
    /** Verifies bearer JWTs, when `auth.jwt` is configured. */
    jwt?: JwtVerifier;
    /** Compiled `access` grants; undefined = the defaults in src/auth/access.ts. */
    grants?: CompiledGrants;
  };
  /** Team limits and budgets by team name. */
  teams: ReadonlyMap<string, KeyLimits>;
  /** Completion tokens reserved for a call that sets no max_tokens. */
  defaultMaxTokens: number;
  prices: PriceTable;
}

export function limitsFromConfig(l: { rpm?: number; tpm?: number; budget_usd?: number; budget_period: "day" | "month" }): KeyLimits {
  return { rpm: l.rpm, tpm: l.tpm, budgetUsd: l.budget_usd, budgetPeriod: l.budget_period };
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
        tokens: ep.limit.tokens,
        windowMs: renewalPeriods[ep.limit.renewal_period],
      },
      client: factory.create({ name: ep.model.name, config: providerConfig }, { upstream }),
    });
  }
  const keysBySha256 = new Map<string, Principal>();
  for (const key of config.file.auth.keys) {
    const hash = key.sha256 ?? sha256Hex(key.key!);
    keysBySha256.set(hash, {
      keyId: `config:${key.name}`,
      keyName: key.name,
      team: key.team,
      roles: new Set(key.roles),
      endpoints: key.endpoints && new Set(key.endpoints),
      limits: key.limits && limitsFromConfig(key.limits),
    });
  }
  const teams = new Map(Object.entries(config.file.teams).map(([name, l]) => [name, limitsFromConfig(l)]));
  return {
    endpoints,
    auth: {
      enabled: config.file.auth.enabled,
      keysBySha256,
      jwt: config.file.auth.jwt && createJwtVerifier(config.file.auth.jwt),
      grants: config.file.access && compileGrants(config.file.access.grants),
    },
    teams,
    defaultMaxTokens: config.file.quota.default_max_tokens,
    prices: compilePrices(config.file.prices),
  };
}
