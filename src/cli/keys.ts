// `modelgate keys ...`: manage API keys in the configured store directly (no running gateway
// needed, which is also how the first admin key is made). Secrets are printed once.
import { parseArgs } from "node:util";
import { ConnectError } from "@connectrpc/connect";
import { KeyAdmin, parseDuration } from "../auth/key-admin";
import type { KeyRecord, Store } from "../store/types";

export const keysUsage = `Usage: modelgate keys <command> [--config FILE] [options]

Commands:
  create --name N [--team T] [--role user|admin]... [--endpoints a,b]
         [--rpm N] [--tpm N] [--budget-usd X] [--budget-period day|month] [--expires 30d]
                      make a key; prints its secret once
  list [--team T] [--all]
                      list keys (never secrets); --all includes revoked ones
  rotate ID           replace a key's secret; prints the new secret once
  revoke ID           disable a key (every replica stops accepting it within a second)

Options:
  -c, --config FILE   the gateway's config (its store.database_url), or $MODELGATE_CONFIG
      --json          machine-readable output
  -h, --help          show this help
`;

export interface KeysDeps {
  store: Store;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

function describe(k: KeyRecord): Record<string, unknown> {
  return {
    id: k.id,
    name: k.name,
    team: k.team,
    roles: k.roles,
    endpoints: k.endpoints,
    limits: k.limits,
    prefix: k.prefix,
    created: k.createdAt.toISOString(),
    expires: k.expiresAt?.toISOString() ?? null,
    revoked: k.revokedAt?.toISOString() ?? null,
  };
}

/** Runs a keys subcommand; returns the exit code. `argv` is what follows `keys` (config options already removed). */
export async function runKeysCommand(argv: string[], deps: KeysDeps): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      team: { type: "string", default: "" },
      role: { type: "string", multiple: true },
      endpoints: { type: "string" },
      rpm: { type: "string" },
      tpm: { type: "string" },
      "budget-usd": { type: "string" },
      "budget-period": { type: "string", default: "month" },
      expires: { type: "string" },
      all: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const admin = new KeyAdmin(deps.store.keys);
  const print = (obj: unknown, text: string) => deps.out.write(values.json ? `${JSON.stringify(obj)}\n` : text);
  const num = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag}: expected a positive number, got "${v}"`);
    return n;
  };
  try {
    switch (command) {
      case "create": {
        if (!values.name) throw new Error("--name is required");
        const period = values["budget-period"];
        if (period !== "day" && period !== "month") throw new Error('--budget-period: "day" or "month"');
        const { key, secret } = await admin.create({
          name: values.name,
          team: values.team ?? "",
          roles: values.role ?? ["user"],
          endpoints: values.endpoints ? values.endpoints.split(",").map((e) => e.trim()).filter(Boolean) : [],
          limits: { rpm: num("rpm", values.rpm), tpm: num("tpm", values.tpm), budgetUsd: num("budget-usd", values["budget-usd"]), budgetPeriod: period },
          ttlMs: values.expires === undefined ? undefined : parseDuration(values.expires),
        });
        print({ key: describe(key), secret }, `created ${key.id} (${key.name}, team "${key.team}")\nsecret (shown once): ${secret}\n`);
        return 0;
      }
      case "list": {
        const keys = await admin.list({ team: values.team || undefined, includeRevoked: values.all ?? false });
        const rows = keys.map(describe);
        print(rows, rows.map((k) => `${k["id"]}  ${k["prefix"]}…  ${k["name"]}  team=${k["team"] || "-"}  roles=${(k["roles"] as string[]).join(",")}${k["revoked"] ? `  revoked ${k["revoked"]}` : ""}\n`).join("") || "no keys\n");
        return 0;
      }
      case "rotate": {
        const id = positionals[0];
        if (!id) throw new Error("rotate needs a key id");
        const { key, secret } = await admin.rotate(id);
        print({ key: describe(key), secret }, `rotated ${key.id}\nnew secret (shown once): ${secret}\n`);
        return 0;
      }
      case "revoke": {
        const id = positionals[0];
        if (!id) throw new Error("revoke needs a key id");
        const key = await admin.revoke(id);
        print({ key: describe(key) }, `revoked ${key.id} at ${key.revokedAt?.toISOString()}\n`);
        return 0;
      }
      default:
        deps.err.write(command ? `modelgate keys: unknown command "${command}"\n\n${keysUsage}` : keysUsage);
        return 2;
    }
  } catch (err) {
    deps.err.write(`modelgate keys: ${err instanceof ConnectError ? err.rawMessage : (err as Error).message}\n`);
    return 1;
  }
}
