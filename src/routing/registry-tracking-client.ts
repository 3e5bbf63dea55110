// Asks an MLflow tracking server which version an alias points to, through the shared upstream
// client (its pool, timeouts and the caller's cancellation). REST API, model registry:
// GET /api/2.0/mlflow/registered-models/alias?name=NAME&alias=ALIAS
//   -> {"model_version": {"name": "churn", "version": "3", "aliases": ["champion"], ...}}
// (mlflow/protos/model_registry.proto, GetModelVersionByAlias). An unknown alias is HTTP 400
// INVALID_PARAMETER_VALUE "Registered model alias champion not found.", an unknown model 404
// RESOURCE_DOES_NOT_EXIST.
import { badUpstreamResponse } from "../errors";
import { joinUrl } from "../providers/request-builder";
import { isRecord, upstreamReader } from "../providers/upstream-reader";
import type { UpstreamCall, UpstreamClient } from "../upstream/client";
import type { UpstreamPeer } from "../upstream/wire";

export const TRACKING = "mlflow-tracking";

const read = upstreamReader(TRACKING);

/** The tracking server as the upstream client sees it: its name and how to read an error body. */
const trackingServer: UpstreamPeer = {
  name: TRACKING,
  errorMessage(body) {
    if (!isRecord(body) || typeof body.message !== "string" || body.message === "") return undefined;
    return typeof body.error_code === "string" ? `${body.error_code}: ${body.message}` : body.message;
  },
};

export interface TrackingServer {
  /** Base URL, e.g. http://mlflow:5000 */
  uri: string;
  /** Sent as a Bearer token; never part of an error message. */
  token?: string;
}

/** The version `alias` of registered model `name` points to now. */
export async function versionByAlias(
  upstream: UpstreamClient,
  server: TrackingServer,
  name: string,
  alias: string,
  call: UpstreamCall,
): Promise<string> {
  const query = new URLSearchParams({ name, alias });
  const headers: Record<string, string> = {};
  if (server.token !== undefined) headers.authorization = `Bearer ${server.token}`;
  const url = joinUrl(server.uri, `/api/2.0/mlflow/registered-models/alias?${query}`);
  const body = read.object(await upstream.json({ method: "GET", url, headers }, trackingServer, call), "body");
  const modelVersion = read.object(body.model_version, "model_version");
  const version = read.string(modelVersion.version, "model_version.version");
  if (!/^[0-9]+$/.test(version)) {
    throw badUpstreamResponse(TRACKING, `model_version.version: expected a version number, got ${JSON.stringify(version.slice(0, 40))}`);
  }
  return version;
}

/** One registered model version as the registry describes it: its number and its tags. */
export interface RegistryVersion {
  version: string;
  tags: ReadonlyMap<string, string>;
}

/**
 * A version of registered model `name`, by alias or by number, with its tags (MLflow 3's prompt
 * registry keeps a prompt's text in the version tag `mlflow.prompt.text`):
 * GET /api/2.0/mlflow/registered-models/alias?name=NAME&alias=ALIAS, or
 * GET /api/2.0/mlflow/model-versions/get?name=NAME&version=N
 *   -> {"model_version": {"version": "3", "tags": [{"key": "...", "value": "..."}], ...}}
 */
export async function registryVersion(
  upstream: UpstreamClient,
  server: TrackingServer,
  name: string,
  at: { alias: string } | { version: string },
  call: UpstreamCall,
): Promise<RegistryVersion> {
  const [path, query] =
    "alias" in at
      ? ["/api/2.0/mlflow/registered-models/alias", new URLSearchParams({ name, alias: at.alias })]
      : ["/api/2.0/mlflow/model-versions/get", new URLSearchParams({ name, version: at.version })];
  const headers: Record<string, string> = {};
  if (server.token !== undefined) headers.authorization = `Bearer ${server.token}`;
  const url = joinUrl(server.uri, `${path}?${query}`);
  const body = read.object(await upstream.json({ method: "GET", url, headers }, trackingServer, call), "body");
  const modelVersion = read.object(body.model_version, "model_version");
  const version = read.string(modelVersion.version, "model_version.version");
  if (!/^[0-9]+$/.test(version)) {
    throw badUpstreamResponse(TRACKING, `model_version.version: expected a version number, got ${JSON.stringify(version.slice(0, 40))}`);
  }
  const tags = new Map<string, string>();
  const list = modelVersion.tags === undefined ? [] : read.array(modelVersion.tags, "model_version.tags");
  list.forEach((tag, i) => {
    const t = read.object(tag, `model_version.tags[${i}]`);
    tags.set(read.string(t.key, `model_version.tags[${i}].key`), t.value === undefined ? "" : read.string(t.value, `model_version.tags[${i}].value`));
  });
  return { version, tags };
}
