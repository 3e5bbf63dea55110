// `models:/` names as MLflow writes them (mlflow/store/artifact/utils/models.py): a registered
// model by alias, `models:/NAME@ALIAS`, or a pinned version, `models:/NAME/VERSION`.
export type RegistryModel =
  | { kind: "alias"; uri: string; name: string; alias: string }
  | { kind: "version"; uri: string; name: string; version: string };

const prefix = "models:/";

export const isRegistryName = (name: string) => name.startsWith(prefix);

/**
 * The registry model a `model.name` refers to, or undefined for a plain name. A malformed
 * `models:/` name, or a form the gateway does not resolve (`latest`, a stage), throws with
 * what to write instead.
 */
export function parseModelUri(uri: string): RegistryModel | undefined {
  if (!isRegistryName(uri)) return undefined;
  const path = uri.slice(prefix.length);
  const usage = `"${uri}" is not a registry model name the gateway resolves: use models:/NAME@ALIAS or models:/NAME/VERSION`;
  const at = path.split("@");
  if (at.length === 2) {
    const [name = "", alias = ""] = at;
    if (name.trim() === "" || alias.trim() === "" || name.includes("/") || alias.includes("/")) throw new Error(usage);
    return { kind: "alias", uri, name, alias };
  }
  const parts = path.split("/");
  if (at.length !== 1 || parts.length !== 2 || (parts[0] ?? "").trim() === "") throw new Error(usage);
  const [name = "", suffix = ""] = parts;
  if (!/^[0-9]+$/.test(suffix)) {
    // `latest` and stages (Production, Staging) are deprecated in MLflow in favour of aliases.
    throw new Error(`${usage} ("${suffix}" is not a version number; stages and "latest" are not supported, use an alias)`);
  }
  return { kind: "version", uri, name, version: suffix.replace(/^0+(?=[0-9])/, "") };
}
