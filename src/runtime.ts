// The immutable runtime state built from a loaded config: endpoints with their model clients,
// API keys, limits. Built once per config (re)load; calls hold the state they began with.
import { hash } from "node:crypto";
import type { LoadedConfig } from "./config/load";
import type { EndpointType, RenewalPeriod } from "./config/schema";
import { renewalPeriods } from "./config/schema";
import type { ModelClient, ModelFactory } from "./providers/model";
import type { UpstreamClient } from "./upstream/client";
import type { KeyLimits } from "./store/types";
import { compileGrants, type CompiledGrants } from "./auth/access";
import { createJwtVerifier, type JwtVerifier } from "./auth/jwt";
import { compilePrices, type PriceTable } from "./usage/prices";
import { routingSchema } from "./routing/config";
import { EndpointRouter, type RoutedTarget, type RouterHooks } from "./routing/router";
import { TargetHealthRegistry, type TargetHealth } from "./routing/target-health";
import { targetClient } from "./routing/registry-targets";
import { compilePolicies, type EndpointPolicies } from "./policies/pipeline";
import { TemplateRegistry } from "./policies/templates";

/** The routing of an endpoint without a `routing:` block: fallback in listed order, no retries. */
const defaultRouting = routingSchema.parse({});

export interface RuntimeEndpoint {
  name: string;
  type: EndpointType;
  provider: string;
  model: string;
  limit?: { renewalPeriod: RenewalPeriod; calls: number; tokens?: number; windowMs: number };
  /** The first target's client (the only one of a one-target endpoint). */
  client: ModelClient;
  /** The first target's name, for the x-modelgate-target header of a one-target endpoint. */
  targetName: string;
  /** Every target, in config order (one for `model:`). */
  targets: readonly RoutedTarget[];
  /**
   * Routes calls over the targets: set for several targets or a `routing:` block. A one-target
   * endpoint without one calls `client` directly, as before routing existed.
   */
  router?: EndpointRouter;
  /** Prompts and completions go on this endpoint's trace spans (`telemetry.capture_content`). */
  captureContent?: boolean;
  /** Guardrails, context window and response cache (src/policies), when the endpoint has `policies:`. */
  policies?: EndpointPolicies;
  /** The routing strategy and each target's weight (in `targets` order), when `router` is set. */
  routing?: { strategy: "weighted" | "fallback" | "least_latency"; weights: readonly number[] };
}

/** What routing keeps across reloads (breakers) and reports to (metrics). */
export interface RoutingDeps {
  health: TargetHealthRegistry;
  hooks?: RouterHooks;
  /** A registry alias lookup failed and the target keeps its last known version (stale-while-error). */
  onRegistryStale?: (stale: { endpoint: string; target: string; uri: string; version: string; err: unknown }) => void;
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

/** Every canary target's standing, for metrics (0 running, 1 promoted, -1 rolled back). */
export function* canaryStandings(state: RuntimeState): Iterable<{ endpoint: string; target: string; level: number }> {
  for (const ep of state.endpoints.values()) {
    for (const t of ep.targets) {
      if (!t.canary) continue;
      const s = t.health.canary;
      yield { endpoint: ep.name, target: t.name, level: s === "promoted" ? 1 : s === "rolled_back" ? -1 : 0 };
    }
  }
}

/**
 * Whether calls on this state may count tokens before they are answered: a token or spend limit
 * (endpoint, team or config key), a context-window policy, or auth on (store keys and JWT callers
 * may carry limits). Then the tokenizer (~6 MB, ~120 ms to build) is built in the background at
 * start; otherwise it is loaded on first use (settling a stream that ended without usage).
 */
export function countsTokensUpFront(state: RuntimeState): boolean {
  const limited = (l: KeyLimits | undefined) => l !== undefined && (l.tpm !== undefined || l.budgetUsd !== undefined);
  if (state.auth.enabled) return true;
  for (const ep of state.endpoints.values()) if (ep.limit?.tokens !== undefined || ep.policies?.context !== undefined) return true;
  for (const l of state.teams.values()) if (limited(l)) return true;
  for (const p of state.auth.keysBySha256.values()) if (limited(p.limits)) return true;
  return false;
}

export function limitsFromConfig(l: { rpm?: number; tpm?: number; budget_usd?: number; budget_period: "day" | "month" }): KeyLimits {
  return { rpm: l.rpm, tpm: l.tpm, budgetUsd: l.budget_usd, budgetPeriod: l.budget_period };
}

export function sha256Hex(secret: string): string {
  return hash("sha256", secret, "hex"); // one-shot: no Hash object per call
}

export function buildRuntimeState(
  config: LoadedConfig,
  factories: ReadonlyMap<string, ModelFactory>,
  upstream: UpstreamClient,
  routing: RoutingDeps = { health: new TargetHealthRegistry() },
): RuntimeState {
  const endpoints = new Map<string, RuntimeEndpoint>();
  const health = new Map<string, TargetHealth>();
  const prices = compilePrices(config.file.prices);
  const templates = new TemplateRegistry(config.file.templates, upstream);
  for (const ep of config.file.endpoints) {
    const configs = config.targetConfigs.get(ep.name);
    const policy = ep.routing ?? defaultRouting;
    // Every target's window keeps what the canary guards (the stable arm's too) or the outlier
    // ejection judge; none when neither is configured.
    const windowCalls = Math.max(0, policy.outlier_ejection?.window_calls ?? 0, ...ep.targets.map((t) => t.canary?.window_calls ?? 0));
    const targets = ep.targets.map((t, i): RoutedTarget => {
      const factory = factories.get(t.model.provider);
      const providerConfig = configs?.[i];
      // The loader already validated both; a miss here is a programming error.
      if (!factory || !providerConfig) throw new Error(`endpoint ${ep.name} was not validated`);
      return {
        name: t.name,
        provider: t.model.provider,
        model: t.model.name,
        client: targetClient(factory, { name: t.model.name, config: providerConfig }, upstream, {
          onStale: routing.onRegistryStale && ((stale) => routing.onRegistryStale?.({ endpoint: ep.name, target: t.name, ...stale })),
        }),
        health: routing.health.get(
          ep.name,
          t.name,
          [t.model.provider, t.model.name, providerConfig, t.canary ?? null],
          { breaker: policy.breaker, windowCalls },
          health,
        ),
        canary: t.canary,
      };
    });
    const first = targets[0]!;
    // A weighted split without weights is even; with some weights, a target without one is only a fallback.
    const weighted = ep.targets.some((t) => t.weight !== undefined);
    const weights = ep.targets.map((t) => t.weight ?? (weighted ? 0 : 1));
    endpoints.set(ep.name, {
      name: ep.name,
      type: ep.endpoint_type,
      provider: first.provider,
      model: first.model,
      limit: ep.limit && {
        renewalPeriod: ep.limit.renewal_period,
        calls: ep.limit.calls,
        tokens: ep.limit.tokens,
        windowMs: renewalPeriods[ep.limit.renewal_period],
      },
      client: first.client,
      targetName: first.name,
      targets,
      captureContent: ep.telemetry?.capture_content === true,
      policies: compilePolicies(ep, prices, upstream, templates),
      router: targets.length > 1 || ep.routing ? new EndpointRouter(ep.name, targets, weights, policy, routing.hooks) : undefined,
      routing: targets.length > 1 || ep.routing ? { strategy: policy.strategy, weights } : undefined,
    });
  }
  routing.health.retain(health);
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
    prices,
  };
}
