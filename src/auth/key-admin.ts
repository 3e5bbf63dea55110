// Creating, rotating and revoking API keys: shared by AdminService and the `modelgate keys` CLI.
// A secret is shown once and stored only as its SHA-256. What a key is made of is checked here
// against the same identifier bounds a call's fields are (src/interceptors/bounds.ts): the CLI
// reaches the store without a call, and a key's names end up in every log line and ledger row
// of the calls made with it.
import { randomBytes } from "node:crypto";
import { invalidArgument, notFound } from "../errors";
import { checkIdentifier, checkIdentifierList } from "../interceptors/bounds";
import { sha256Hex } from "../runtime";
import type { KeyLimits, KeyRecord, KeyStore } from "../store/types";

export const knownRoles = ["user", "admin"] as const;

export interface NewKey {
  name: string;
  team: string;
  roles: string[];
  endpoints: string[];
  limits: KeyLimits;
  /** Lifetime; undefined = no expiry. */
  ttlMs?: number;
}

/** "mg_" + 32 random bytes, base64url: 256 bits, safe in headers and shells. */
export function newSecret(): string {
  return `mg_${randomBytes(32).toString("base64url")}`;
}

export function secretPrefix(secret: string): string {
  return secret.slice(0, 10);
}

export class KeyAdmin {
  constructor(
    private readonly keys: KeyStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(spec: NewKey): Promise<{ key: KeyRecord; secret: string }> {
    checkIdentifier(spec.name, "name");
    if (!spec.name.trim()) throw invalidArgument("name: a key needs a name");
    checkIdentifier(spec.team, "team");
    checkIdentifierList(spec.roles, "roles");
    checkIdentifierList(spec.endpoints, "endpoints");
    const roles = spec.roles.length > 0 ? spec.roles : ["user"];
    const unknown = roles.filter((r) => !(knownRoles as readonly string[]).includes(r));
    if (unknown.length > 0) throw invalidArgument(`roles: unknown role(s) ${unknown.join(", ")} (known: ${knownRoles.join(", ")})`);
    if (spec.ttlMs !== undefined && !(spec.ttlMs > 0)) throw invalidArgument("ttl: must be positive");
    if (spec.ttlMs !== undefined && spec.ttlMs > MAX_KEY_TTL_MS) throw invalidArgument(`ttl: at most ${MAX_KEY_TTL_MS / 1000} seconds (100 years)`);
    checkLimits(spec.limits);
    const secret = newSecret();
    const at = this.now();
    const key: KeyRecord = {
      id: `key_${randomBytes(8).toString("hex")}`,
      name: spec.name,
      team: spec.team,
      roles,
      endpoints: spec.endpoints,
      hash: sha256Hex(secret),
      prefix: secretPrefix(secret),
      limits: spec.limits,
      createdAt: at,
      expiresAt: spec.ttlMs === undefined ? undefined : new Date(at.getTime() + spec.ttlMs),
      updatedAt: at,
    };
    await this.keys.insert(key);
    return { key, secret };
  }

  async list(filter: { team?: string; includeRevoked: boolean }): Promise<KeyRecord[]> {
    if (filter.team !== undefined) checkIdentifier(filter.team, "team");
    return this.keys.list(filter);
  }

  async rotate(id: string): Promise<{ key: KeyRecord; secret: string }> {
    checkIdentifier(id, "id");
    const secret = newSecret();
    const key = await this.keys.rotate(id, sha256Hex(secret), secretPrefix(secret), this.now());
    if (!key) throw notFound(`no active key with id "${id}"`);
    return { key, secret };
  }

  async revoke(id: string): Promise<KeyRecord> {
    checkIdentifier(id, "id");
    const key = await this.keys.revoke(id, this.now());
    if (!key) throw notFound(`no key with id "${id}"`);
    return key;
  }
}

/** A key's lifetime at most: its expiry must stay a time every store and the API can carry. */
const MAX_KEY_TTL_MS = 100 * 365 * 86_400_000;

/**
 * What a key's limits may hold: what the API's types carry (rpm a uint32, tpm a uint64 kept as
 * a JS number, so whole and at most 2^53 - 1) and a positive budget. A limit outside them would
 * be stored, then fail every ListKeys answer that includes the key.
 */
const limitRanges = { rpm: 0xffffffff, tpm: Number.MAX_SAFE_INTEGER } as const;

function checkLimits(limits: KeyLimits): void {
  for (const name of ["rpm", "tpm"] as const) {
    const value = limits[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0 && value <= limitRanges[name])) {
      throw invalidArgument(`limits.${name}: must be a whole number from 1 to ${limitRanges[name]}`);
    }
  }
  const budget = limits.budgetUsd;
  if (budget !== undefined && !(Number.isFinite(budget) && budget > 0)) throw invalidArgument("limits.budget_usd: must be a positive number");
  if (limits.budgetPeriod !== "day" && limits.budgetPeriod !== "month") {
    throw invalidArgument('limits.budget_period: "day" or "month"');
  }
}

/** Parses "30d", "12h", "90m", "3600s" into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (!m) throw invalidArgument(`invalid duration "${text}" (use e.g. 30d, 12h, 90m)`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}
