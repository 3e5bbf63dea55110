// The CLI's store: the config file's `store.database_url` (MODELGATE_DATABASE_URL overrides),
// read without loading the whole config, so managing keys needs no provider secrets.
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { openStore } from "../store/open";
import type { Store } from "../store/types";

export async function storeFromConfig(configPath: string, env: Readonly<Record<string, string | undefined>>): Promise<Store> {
  let url = env["MODELGATE_DATABASE_URL"];
  // With the URL from the environment the file is only asked for the read budget: one that
  // cannot be read then leaves the default, as before this setting existed.
  const raw = (await readConfig(configPath).catch((err: unknown) => {
    if (url) return null;
    throw err;
  })) as { store?: { database_url?: unknown; sqlite?: { read_timeout_ms?: unknown } } } | null;
  if (!url) {
    const configured = raw?.store?.database_url;
    url = typeof configured === "string" ? configured : "sqlite:.modelgate/modelgate.db";
  }
  // The gateway's budget for a usage read, so `modelgate usage` answers what the gateway would.
  const readTimeout = raw?.store?.sqlite?.read_timeout_ms;
  const store = await openStore(url, {
    ...(Number.isSafeInteger(readTimeout) && (readTimeout as number) >= 1 && { sqliteReadTimeoutMs: readTimeout as number }),
  });
  await store.migrate();
  return store;
}

async function readConfig(path: string): Promise<unknown> {
  return parse(await readFile(path, "utf8"));
}
