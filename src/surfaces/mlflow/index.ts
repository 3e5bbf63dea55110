// The MLflow AI Gateway surface, a superset of MLflow 3.8.1's (mlflow/gateway/app.py), proven
// against the real one by test/mlflow-diff:
//   POST /gateway/{name}/invocations        MLflow 3's path (reported as endpoint_url)
//   POST /endpoints/{name}/invocations      the Deployments Server path (same handler)
//   GET  /api/2.0/endpoints/[{name}]        listing (paged by page_token) and one endpoint
//   GET  /api/2.0/gateway/routes/[{name}]   the legacy listing (route_type, route_url)
//   GET  /api/3.0/gateway/endpoint/{name}   and /api/3.0/gateway/route/{name}
//   GET|POST .../limits                     501, as MLflow answers
//   GET  /health, / (307 to /docs), /docs, /redoc, /openapi.json, /favicon.ico
// Payloads are validated as MLflow's FastAPI app validates them (422 with a `detail` list), then
// go through the same request path as every surface. predict endpoints (MLflow's scoring
// formats) are modelgate's extension.
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { EmbeddingPrecision } from "../../../gen/modelgate/v1/embeddings_pb";
import { PredictRequestSchema } from "../../../gen/modelgate/v1/predict_pb";
import { checkJsonDepth, MAX_JSON_DEPTH, callOptionsFor, isJsonContentType, readText, sendJson, streamSse, type SseStreaming } from "../http";
import { invalidArgument } from "../../errors";
import { parseBody } from "../../services/validate";
import type { NodeRequest, NodeResponse } from "../../server/one-port";
import { parseChatBody, toChatRequest } from "../openai/chat";
import { completionBody, toCompleteRequest } from "../openai/completions";
import { embeddingBody, toEmbedRequest } from "../openai/embeddings";
import { docsHtml, favicon, openApiDocument, redocHtml } from "../openapi";
import type { RestRoute, RestSurface } from "../router";
import type { ServiceClients } from "../services";
import { MlflowHttpError, mlflowError } from "./errors";
import { RequestValidationError, validate } from "./pydantic";
import { loadsLikePython, PythonJsonDepthError, PythonJsonError } from "./python-json";
import {
  chatChunkJson,
  chatJson,
  completionsChunkJson,
  completionsJson,
  embeddingsJson,
  endpointJson,
  legacyRouteJson,
} from "./render";
import { chatRequest, completionsRequest, embeddingsRequest, plainChatPayload, setLimitsRequest, templatedChatRequest, templatedCompletionsRequest } from "./schemas";

export { mlflowError } from "./errors";

/** MLflow's page size for both listings (MLFLOW_DEPLOYMENTS_LIST_ENDPOINTS_PAGE_SIZE). */
const PAGE_SIZE = 3000;

const modelRefused = "The parameter 'model' is not permitted to be passed. The route being queried already defines a model instance.";
const endpointMissing = (name: string) => `The endpoint '${name}' is not present or active on the server. Please verify the endpoint name.`;
const routeMissing = (name: string) => `The route '${name}' is not present or active on the server. Please verify the route name.`;

/**
 * The body as FastAPI hands it to the payload model: JSON for a JSON content type, else the raw
 * text (which then fails validation as "not a dictionary", as in MLflow); no body is "missing".
 */
async function readPayload(req: NodeRequest, maxBodyBytes: number): Promise<unknown> {
  const text = await readText(req, maxBodyBytes);
  if (text === "") throw new RequestValidationError([{ type: "missing", loc: ["body"], msg: "Field required", input: null }]);
  if (!isJsonContentType(req.headers["content-type"] ?? "")) return text;
  let value: unknown;
  try {
    value = loadsLikePython(text);
  } catch (err) {
    if (err instanceof PythonJsonError) {
      throw new RequestValidationError([{ type: "json_invalid", loc: ["body", err.pos], msg: "JSON decode error", input: {}, ctx: { error: err.msg } }]);
    }
    if (err instanceof PythonJsonDepthError) throw invalidArgument(err.message);
    throw err;
  }
  checkJsonDepth(value, MAX_JSON_DEPTH);
  return value;
}

/** MLflow's SearchRoutesToken: base64 of {"index": n}. */
function pageStart(url: string | undefined): number {
  const token = new URL(url ?? "/", "http://x").searchParams.get("page_token");
  if (token === null) return 0;
  let index: unknown;
  try {
    index = (JSON.parse(Buffer.from(token, "base64").toString("utf8")) as { index?: unknown }).index;
  } catch {
    index = undefined;
  }
  const n = typeof index === "number" ? index : typeof index === "string" ? Number(index) : NaN;
  if (!Number.isInteger(n)) {
    throw invalidArgument(`Invalid SearchRoutes token: ${token}. The index is not defined as a value that can be represented as a positive integer.`);
  }
  if (n < 0) throw invalidArgument(`Invalid SearchRoutes token: ${token}. The index cannot be negative.`);
  return n;
}

function page<T>(items: T[], start: number): { items: T[]; next_page_token: string | null } {
  const end = start + PAGE_SIZE;
  return {
    items: items.slice(start, end),
    next_page_token: items.length > end ? Buffer.from(JSON.stringify({ index: end })).toString("base64") : null,
  };
}

/**
 * `endpointType` reads the current config, so an invocation needs no extra call to learn which
 * payload to expect; an unknown name goes through GetEndpoint for the proper (authenticated) error.
 */
export function mlflowSurface(
  clients: ServiceClients,
  maxBodyBytes: number,
  endpointType: (name: string) => string | undefined,
  streaming: SseStreaming = {},
): RestSurface {
  // MLflow's gateway ends its streams without a terminator.
  const sse = <T>(res: NodeResponse, stream: AsyncIterable<T>, headersOut: Record<string, string>, toJson: (c: T) => unknown) =>
    streamSse(res, stream, headersOut, toJson, { errorBody: (err) => mlflowError(err).body, ...streaming });

  /** An endpoint by name; a NOT_FOUND becomes `missing` (MLflow's wording for that path). */
  async function getEndpoint(req: NodeRequest, res: NodeResponse, name: string, headersOut: Record<string, string>, missing: () => MlflowHttpError) {
    try {
      return (await clients.endpoints.getEndpoint({ name }, callOptionsFor(req, res, headersOut))).endpoint!;
    } catch (err) {
      if (ConnectError.from(err).code === Code.NotFound) throw missing();
      throw err;
    }
  }

  async function listEndpoints(req: NodeRequest, res: NodeResponse, headersOut: Record<string, string>) {
    const start = pageStart(req.url);
    return page((await clients.endpoints.listEndpoints({}, callOptionsFor(req, res, headersOut))).endpoints, start);
  }

  async function invoke(req: NodeRequest, res: NodeResponse, params: Record<string, string>): Promise<void> {
    const name = params["name"] ?? "";
    const headersOut: Record<string, string> = {};
    const call = callOptionsFor(req, res, headersOut);
    // MLflow has one route per endpoint: an unknown name is a path it does not serve.
    const type = endpointType(name) ?? (await getEndpoint(req, res, name, headersOut, () => new MlflowHttpError(404, "Not Found"))).endpointType;
    const raw = await readPayload(req, maxBodyBytes);
    const created = Math.floor(Date.now() / 1000);
    const noModel = (body: Record<string, unknown>) => {
      if (body["model"] !== undefined && body["model"] !== null) throw new MlflowHttpError(422, modelRefused);
      const { model: _, ...rest } = body;
      return { ...rest, model: name };
    };
    switch (type) {
      case "llm/v1/chat": {
        const payload = hasTemplateVariables(raw) ? validate(templatedChatRequest, raw) : (plainChatPayload(raw) ?? validate(chatRequest, raw));
        const request = toChatRequest(parseChatBody(noModel(payload), false));
        if (!payload.stream) return sendJson(res, 200, chatJson(await clients.chat.chat(request, call), created), headersOut);
        const includeUsage = payload.stream_options?.["include_usage"] === true;
        return sse(res, clients.chat.streamChat(request, call), headersOut, (c) => chatChunkJson(c, created, includeUsage));
      }
      case "llm/v1/completions": {
        const payload = validate(hasTemplateVariables(raw) ? templatedCompletionsRequest : completionsRequest, raw);
        const request = toCompleteRequest(parseBody(completionBody, noModel(payload)));
        if (!payload.stream) return sendJson(res, 200, completionsJson(await clients.completions.complete(request, call), created), headersOut);
        const includeUsage = payload.stream_options?.["include_usage"] === true;
        return sse(res, clients.completions.streamComplete(request, call), headersOut, (c) => completionsChunkJson(c, created, includeUsage));
      }
      case "llm/v1/embeddings": {
        // MLflow's older clients sent `text` instead of `input` (modelgate still reads it).
        const body = raw !== null && typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;
        const input = body && !("input" in body) && "text" in body ? (({ text, ...rest }) => ({ ...rest, input: text }))(body) : raw;
        const payload = validate(embeddingsRequest, input);
        // FLOAT64: the upstream's numbers exactly, as MLflow passes them on.
        const request = { ...toEmbedRequest(parseBody(embeddingBody, noModel(payload))), precision: EmbeddingPrecision.FLOAT64 };
        return sendJson(res, 200, embeddingsJson(await clients.embeddings.embed(request, call)), headersOut);
      }
      case "predict": {
        if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw invalidArgument("the request body must be a JSON object");
        const out = await clients.predict.predict(predictRequest(name, raw as Record<string, unknown>), call);
        const predictions: JsonValue = out.predictions ? toJson(ValueSchema, out.predictions) : null;
        return sendJson(res, 200, { predictions, model: out.model, ...(out.modelVersion ? { model_version: out.modelVersion } : {}) }, headersOut);
      }
      default:
        throw new ConnectError(`endpoint "${name}" has an unknown type`, Code.Internal);
    }
  }

  const get = (path: string, handler: RestRoute["handler"]): RestRoute => ({ method: "GET", path, handler });
  const notAvailable = (what: string) => async () => {
    throw new MlflowHttpError(501, `The ${what} API is not available yet.`);
  };
  const setLimits = async (req: NodeRequest) => {
    validate(setLimitsRequest, await readPayload(req, maxBodyBytes));
    throw new MlflowHttpError(501, "The set_limits API is not available yet.");
  };
  const exists = (params: Record<string, string>) => endpointType(params["name"] ?? "") !== undefined;

  return {
    renderError: mlflowError,
    prefixes: ["/api/2.0/", "/api/3.0/", "/endpoints/", "/gateway/"],
    renderNotFound: () => ({ status: 404, body: { detail: "Not Found" }, headers: {} }),
    renderMethodNotAllowed: () => ({ status: 405, body: { detail: "Method Not Allowed" }, headers: {} }),
    routes: [
      get("/health", async (_req, res) => sendJson(res, 200, { status: "OK" })),
      get("/api/2.0/endpoints", async (req, res) => {
        const headersOut: Record<string, string> = {};
        const { items, next_page_token } = await listEndpoints(req, res, headersOut);
        sendJson(res, 200, { endpoints: items.map(endpointJson), next_page_token }, headersOut);
      }),
      get("/api/2.0/endpoints/{name}", async (req, res, params) => {
        const name = params["name"] ?? "";
        const headersOut: Record<string, string> = {};
        sendJson(res, 200, endpointJson(await getEndpoint(req, res, name, headersOut, () => new MlflowHttpError(404, endpointMissing(name)))), headersOut);
      }),
      get("/api/2.0/gateway/routes", async (req, res) => {
        const headersOut: Record<string, string> = {};
        const { items, next_page_token } = await listEndpoints(req, res, headersOut);
        sendJson(res, 200, { routes: items.map(legacyRouteJson), next_page_token }, headersOut);
      }),
      get("/api/2.0/gateway/routes/{name}", async (req, res, params) => {
        const name = params["name"] ?? "";
        const headersOut: Record<string, string> = {};
        sendJson(res, 200, legacyRouteJson(await getEndpoint(req, res, name, headersOut, () => new MlflowHttpError(404, routeMissing(name)))), headersOut);
      }),
      get("/api/3.0/gateway/endpoint/{name}", async (req, res, params) => {
        const name = params["name"] ?? "";
        const headersOut: Record<string, string> = {};
        sendJson(res, 200, endpointJson(await getEndpoint(req, res, name, headersOut, () => new MlflowHttpError(404, endpointMissing(name)))), headersOut);
      }),
      // MLflow 3's traffic routes by name: modelgate serves a route as an endpoint of its own.
      get("/api/3.0/gateway/route/{name}", async (_req, _res, params) => {
        throw new MlflowHttpError(404, routeMissing(params["name"] ?? ""));
      }),
      get("/api/2.0/endpoints/limits/{endpoint}", notAvailable("get_limits")),
      get("/api/2.0/gateway/limits/{endpoint}", notAvailable("get_limits")),
      { method: "POST", path: "/api/2.0/endpoints/limits", handler: setLimits },
      { method: "POST", path: "/api/2.0/gateway/limits", handler: setLimits },
      { method: "POST", path: "/gateway/{name}/invocations", handler: invoke, exists },
      { method: "POST", path: "/endpoints/{name}/invocations", handler: invoke, exists },
      get("/", async (_req, res) => {
        res.writeHead(307, { location: "/docs", "content-length": "0" });
        res.end();
      }),
      get("/docs", async (_req, res) => sendHtml(res, docsHtml())),
      get("/redoc", async (_req, res) => sendHtml(res, redocHtml())),
      get("/openapi.json", async (_req, res) => sendJson(res, 200, openApiDocument())),
      get("/favicon.ico", async (_req, res) => {
        const icon = favicon();
        res.writeHead(200, { "content-type": "image/vnd.microsoft.icon", "content-length": String(icon.length), "cache-control": "public, max-age=86400" });
        res.end(icon);
      }),
    ],
  };
}

function sendHtml(res: NodeResponse, html: string): void {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": String(Buffer.byteLength(html)) });
  res.end(html);
}

/** MLflow's scoring formats map one to one onto PredictRequest (proto JSON names). */
function predictRequest(endpoint: string, body: Record<string, unknown>) {
  const formats = ["dataframe_split", "dataframe_records", "instances", "inputs"].filter((k) => k in body);
  if (formats.length !== 1) {
    throw invalidArgument("send exactly one of dataframe_split, dataframe_records, instances or inputs");
  }
  try {
    return fromJson(PredictRequestSchema, { ...(body as Record<string, JsonValue>), endpoint });
  } catch (err) {
    throw invalidArgument(`invalid predict input: ${(err as Error).message}`);
  }
}

/** A payload that sends `template_variables` (for the endpoint's prompt template, modelgate's extension). */
function hasTemplateVariables(raw: unknown): boolean {
  return raw !== null && typeof raw === "object" && !Array.isArray(raw) && (raw as Record<string, unknown>)["template_variables"] != null;
}
