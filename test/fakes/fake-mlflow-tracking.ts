// A fake MLflow tracking server: the model registry's REST API on loopback, in its real shapes
// (mlflow/protos/model_registry.proto; errors as MLflow's {"error_code", "message"}), for the
// gateway's alias resolution. One plain node:http server serves:
//
//   GET    /api/2.0/mlflow/registered-models/alias?name=&alias=   {"model_version": {...}}
//   POST   /api/2.0/mlflow/registered-models/alias  {name, alias, version}  -> {}
//   DELETE /api/2.0/mlflow/registered-models/alias?name=&alias=   {}
//   GET    /api/2.0/mlflow/model-versions/get?name=&version=      {"model_version": {...}}
//   GET    /api/2.0/mlflow/registered-models/get?name=            {"registered_model": {...}}
//
// Errors as MLflow answers them: unknown model -> 404 RESOURCE_DOES_NOT_EXIST "Registered Model
// with name=X not found"; unknown alias -> 400 INVALID_PARAMETER_VALUE "Registered model alias
// X not found."; unknown version -> 404 RESOURCE_DOES_NOT_EXIST; missing parameter -> 400
// INVALID_PARAMETER_VALUE. With `token` set, a request without `authorization: Bearer <token>`
// gets 401 UNAUTHENTICATED.
//
// Test controls: setAlias() moves an alias (creating the model and version as needed);
// setOutage("503" | "hang" | false) makes every request fail with 503 TEMPORARILY_UNAVAILABLE
// or never answer; setDelay(ms) delays every answer (to overlap concurrent lookups).
// `requests` records every request; aliasLookups() counts the alias GETs.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface TrackingRequest {
  method: string;
  /** Path without the query, e.g. "/api/2.0/mlflow/registered-models/alias". */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
}

export interface FakeMlflowTrackingOptions {
  /** When set, every request must carry `authorization: Bearer <token>`. */
  token?: string;
}

export type Outage = "503" | "hang" | false;

export interface FakeMlflowTracking {
  /** e.g. "http://127.0.0.1:43211" (no trailing slash). */
  readonly url: string;
  readonly requests: TrackingRequest[];
  /** Points `alias` of model `name` at `version`, registering both if new. */
  setAlias(name: string, alias: string, version: number | string): void;
  /** Registers a model version (no alias). */
  addVersion(name: string, version: number | string): void;
  setOutage(outage: Outage): void;
  setDelay(ms: number): void;
  /** How many GETs of registered-models/alias arrived (for a given name and alias, if given). */
  aliasLookups(name?: string, alias?: string): number;
  /** Clears `requests`. */
  reset(): void;
  close(): Promise<void>;
}

const ALIAS_PATH = "/api/2.0/mlflow/registered-models/alias";
const VERSION_PATH = "/api/2.0/mlflow/model-versions/get";
const MODEL_PATH = "/api/2.0/mlflow/registered-models/get";
/** A fixed clock for timestamps, so answers are deterministic. */
const EPOCH_MS = 1_700_000_000_000;

interface RegisteredModel {
  versions: Set<string>;
  aliases: Map<string, string>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

class MlflowError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
  ) {}
}

class FakeTrackingServer implements FakeMlflowTracking {
  url = "";
  readonly requests: TrackingRequest[] = [];
  private readonly server: Server;
  private readonly models = new Map<string, RegisteredModel>();
  private outage: Outage = false;
  private delayMs = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly token: string | undefined) {
    this.server = createServer({ keepAlive: true }, (req, res) => this.onRequest(req, res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve());
    });
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  setAlias(name: string, alias: string, version: number | string): void {
    this.addVersion(name, version);
    this.model(name).aliases.set(alias, String(version));
  }

  addVersion(name: string, version: number | string): void {
    let model = this.models.get(name);
    if (model === undefined) {
      model = { versions: new Set(), aliases: new Map() };
      this.models.set(name, model);
    }
    model.versions.add(String(version));
  }

  setOutage(outage: Outage): void {
    this.outage = outage;
  }

  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  aliasLookups(name?: string, alias?: string): number {
    return this.requests.filter(
      (r) =>
        r.method === "GET" &&
        r.path === ALIAS_PATH &&
        (name === undefined || r.query["name"] === name) &&
        (alias === undefined || r.query["alias"] === alias),
    ).length;
  }

  reset(): void {
    this.requests.length = 0;
  }

  close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // --- plumbing --------------------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (raw += chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const record: TrackingRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
      };
      this.requests.push(record);
      if (this.outage === "hang") return;
      const answer = () => {
        if (this.outage === "503") {
          return this.send(res, new MlflowError(503, "TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable."));
        }
        this.send(res, this.answerTo(record, raw));
      };
      if (this.delayMs === 0) return answer();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        answer();
      }, this.delayMs);
      this.timers.add(timer);
    });
  }

  private send(res: ServerResponse, result: Json | MlflowError): void {
    if (res.destroyed) return;
    const status = result instanceof MlflowError ? result.status : 200;
    const body = JSON.stringify(result instanceof MlflowError ? { error_code: result.code, message: result.message } : result);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  /** The answer, with an MlflowError thrown anywhere while handling turned into its error body. */
  private answerTo(req: TrackingRequest, raw: string): Json | MlflowError {
    try {
      return this.handle(req, raw);
    } catch (err) {
      if (err instanceof MlflowError) return err;
      throw err;
    }
  }

  private handle(req: TrackingRequest, raw: string): Json | MlflowError {
    if (this.token !== undefined && req.headers["authorization"] !== `Bearer ${this.token}`) {
      return new MlflowError(401, "UNAUTHENTICATED", "You are not authenticated. Please provide a valid token.");
    }
    const route = `${req.method} ${req.path}`;
    switch (route) {
      case `GET ${ALIAS_PATH}`: {
        const name = required(req.query, "name");
        const alias = required(req.query, "alias");
        const version = this.model(name).aliases.get(alias);
        if (version === undefined) return new MlflowError(400, "INVALID_PARAMETER_VALUE", `Registered model alias ${alias} not found.`);
        return { model_version: this.versionJson(name, version) };
      }
      case `POST ${ALIAS_PATH}`: {
        const body = parseBody(raw);
        const name = required(body, "name");
        const version = required(body, "version");
        this.versionOf(name, version);
        this.model(name).aliases.set(required(body, "alias"), version);
        return {};
      }
      case `DELETE ${ALIAS_PATH}`:
        this.model(required(req.query, "name")).aliases.delete(required(req.query, "alias"));
        return {};
      case `GET ${VERSION_PATH}`: {
        const name = required(req.query, "name");
        return { model_version: this.versionJson(name, this.versionOf(name, required(req.query, "version"))) };
      }
      case `GET ${MODEL_PATH}`: {
        const name = required(req.query, "name");
        const model = this.model(name);
        return {
          registered_model: {
            name,
            creation_timestamp: EPOCH_MS,
            last_updated_timestamp: EPOCH_MS,
            aliases: [...model.aliases].map(([alias, version]) => ({ alias, version })),
          },
        };
      }
      default:
        return new MlflowError(404, "ENDPOINT_NOT_FOUND", `No API endpoint for ${route}`);
    }
  }

  private model(name: string): RegisteredModel {
    const model = this.models.get(name);
    if (model === undefined) throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", `Registered Model with name=${name} not found`);
    return model;
  }

  private versionOf(name: string, version: string): string {
    if (!this.model(name).versions.has(version)) {
      throw new MlflowError(404, "RESOURCE_DOES_NOT_EXIST", `Model Version (name=${name}, version=${version}) not found`);
    }
    return version;
  }

  /** A ModelVersion as the registry serialises it. */
  private versionJson(name: string, version: string): Json {
    const aliases = [...this.model(name).aliases].filter(([, v]) => v === version).map(([a]) => a);
    const n = Number(version);
    return {
      name,
      version,
      creation_timestamp: EPOCH_MS + n,
      last_updated_timestamp: EPOCH_MS + n,
      current_stage: "None",
      description: "",
      source: `models:/m-fake${String(n).padStart(4, "0")}`,
      run_id: `run${String(n).padStart(8, "0")}`,
      status: "READY",
      tags: [],
      run_link: "",
      aliases,
    };
  }
}

function required(from: Record<string, unknown>, key: string): string {
  const value = from[key];
  if (typeof value === "string" && value !== "") return value;
  if (typeof value === "number") return String(value);
  throw new MlflowError(
    400,
    "INVALID_PARAMETER_VALUE",
    `Missing value for required parameter '${key}'. See the API docs for more information about request parameters.`,
  );
}

function parseBody(raw: string): Record<string, unknown> {
  try {
    const body = JSON.parse(raw) as unknown;
    if (typeof body === "object" && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // falls through to the error below
  }
  throw new MlflowError(400, "MALFORMED_REQUEST", "Malformed request body: expected a JSON object.");
}

export async function startFakeMlflowTracking(options: FakeMlflowTrackingOptions = {}): Promise<FakeMlflowTracking> {
  const fake = new FakeTrackingServer(options.token);
  await fake.listen();
  return fake;
}
