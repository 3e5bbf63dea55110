// The CLI's store: the config file's `store.database_url` (MODELGATE_DATABASE_URL overrides),
// read without loading the whole config, so managing keys needs no provider secrets.
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { openStore } from "../store/open";
import type { Store } from "../store/types";

export async function storeFromConfig(configPath: string, env: Readonly<Record<string, string | undefined>>): Promise<Store> {
  let url = env["MODELGATE_DATABASE_URL"];
  if (!url) {
    const raw = parse(await readFile(configPath, "utf8")) as { store?: { database_url?: unknown } } | null;
    const configured = raw?.store?.database_url;
    url = typeof configured === "string" ? configured : "sqlite:.modelgate/modelgate.db";
  }
  const store = await openStore(url);
  await store.migrate();
  return store;
}
