import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AdminService, KeyLimits as KeyLimitsMessage } from "../../gen/modelgate/v1/admin_pb";
import type { KeyAdmin } from "../auth/key-admin";
import { invalidArgument } from "../errors";
import type { KeyLimits, KeyRecord } from "../store/types";

/** A stored key as the API shows it: never the secret or its hash. */
export function apiKeyJson(k: KeyRecord) {
  return {
    id: k.id,
    name: k.name,
    team: k.team,
    roles: k.roles,
    endpoints: k.endpoints,
    limits: { rpm: k.limits.rpm, tpm: k.limits.tpm === undefined ? undefined : BigInt(k.limits.tpm), budgetUsd: k.limits.budgetUsd, budgetPeriod: k.limits.budgetPeriod },
    prefix: k.prefix,
    createTime: timestampFromDate(k.createdAt),
    expireTime: k.expiresAt && timestampFromDate(k.expiresAt),
    revokeTime: k.revokedAt && timestampFromDate(k.revokedAt),
  };
}

function limitsFromMessage(l: KeyLimitsMessage | undefined): KeyLimits {
  const period = l?.budgetPeriod || "month";
  if (period !== "day" && period !== "month") throw invalidArgument('limits.budget_period: "day" or "month"');
  return { rpm: l?.rpm, tpm: l?.tpm === undefined ? undefined : Number(l.tpm), budgetUsd: l?.budgetUsd, budgetPeriod: period };
}

/**
 * `changed` runs after a key is created, rotated or revoked (the gateway refreshes its key cache):
 * on this replica the change holds as soon as the answer is out, not a cache poll later (a new
 * key was refused "invalid API key" for up to store.key_refresh_ms; a revoked one kept working).
 * Other replicas see it at their next poll.
 */
export function adminService(admin: KeyAdmin, changed: () => Promise<void> = async () => {}): ServiceImpl<typeof AdminService> {
  return {
    async createKey(req) {
      const { key, secret } = await admin.create({
        name: req.name,
        team: req.team,
        roles: req.roles,
        endpoints: req.endpoints,
        limits: limitsFromMessage(req.limits),
        ttlMs: req.ttlSeconds > 0n ? Number(req.ttlSeconds) * 1000 : undefined,
      });
      await changed();
      return { key: apiKeyJson(key), secret };
    },
    async listKeys(req) {
      const keys = await admin.list({ team: req.team || undefined, includeRevoked: req.includeRevoked });
      return { keys: keys.map(apiKeyJson) };
    },
    async rotateKey(req) {
      const { key, secret } = await admin.rotate(req.id);
      await changed();
      return { key: apiKeyJson(key), secret };
    },
    async revokeKey(req) {
      const key = await admin.revoke(req.id);
      await changed();
      return { key: apiKeyJson(key) };
    },
  };
}

