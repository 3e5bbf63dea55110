// The MLflow AI Gateway / Deployments Server surface: what `mlflow.deployments.get_deploy_client`
// calls. /endpoints/{name}/invocations takes MLflow's chat, completions and embeddings payloads
// (OpenAI-shaped, without `model`) and, for predict endpoints, MLflow's scoring formats.
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Endpoint } from "../../../gen/modelgate/v1/endpoint_pb";
import { PredictRequestSchema } from "../../../gen/modelgate/v1/predict_pb";
import { httpStatusFor, invalidArgument } from "../../errors";
import { parseBody } from "../../services/validate";
import type { NodeResponse } from "../../server/one-port";
import { callOptionsFor, readJson, sendJson, streamSse } from "../http";
import { chatChunkJson, chatCompletionBody, chatCompletionJson, toChatRequest } from "../openai/chat";
import { completionBody, completionChunkJson, completionJson, toCompleteRequest } from "../openai/completions";
import { embeddingBody, embeddingsJson, toEmbedRequest } from "../openai/embeddings";
import type { RestSurface } from "../router";
import type { ServiceClients } from "../services";

/** MLflow's error body (FastAPI style) with our status table. */
export function mlflowError(err: unknown) {
  const e = ConnectError.from(err);
  const headers: Record<string, string> = {};
  const retryAfter = e.metadata.get("retry-after");
  if (retryAfter) headers["retry-after"] = retryAfter;
  return { status: httpStatusFor(e.code), body: { detail: e.rawMessage, error_code: Code[e.code] }, headers };
}

function endpointJson(ep: Endpoint) {
  return {
    name: ep.name,
    endpoint_type: ep.endpointType,
    model: { name: ep.model, provider: ep.provider },
    endpoint_url: `/endpoints/${encodeURIComponent(ep.name)}/invocations`,
    limit: ep.limit ? { calls: ep.limit.calls, renewal_period: ep.limit.renewalPeriod } : null,
  };
}

/**
 * `endpointType` reads the current config, so an invocation needs no extra call to learn which
 * payload to expect; an unknown name goes through GetEndpoint for the proper (authenticated) error.
 */
export function mlflowSurface(clients: ServiceClients, maxBodyBytes: number, endpointType: (name: string) => string | undefined): RestSurface {
  // MLflow's gateway ends its streams without a terminator.
  const sse = <T>(res: NodeResponse, stream: AsyncIterable<T>, headersOut: Record<string, string>, toJson: (c: T) => unknown) =>
    streamSse(res, stream, headersOut, toJson, { errorBody: (err) => mlflowError(err).body });

  return {
    renderError: mlflowError,
    routes: [
      {
        method: "GET",
        path: "/health",
        async handler(_req, res) {
          sendJson(res, 200, { status: "OK" });
        },
      },
      {
        method: "GET",
        path: "/api/2.0/endpoints",
        async handler(req, res) {
          const headersOut: Record<string, string> = {};
          const out = await clients.endpoints.listEndpoints({}, callOptionsFor(req, res, headersOut));
          sendJson(res, 200, { endpoints: out.endpoints.map(endpointJson) }, headersOut);
        },
      },
      {
        method: "GET",
        path: "/api/2.0/endpoints/{name}",
        async handler(req, res, params) {
          const headersOut: Record<string, string> = {};
          const out = await clients.endpoints.getEndpoint({ name: params["name"] ?? "" }, callOptionsFor(req, res, headersOut));
          sendJson(res, 200, endpointJson(out.endpoint!), headersOut);
        },
      },
      {
        method: "POST",
        path: "/endpoints/{name}/invocations",
        async handler(req, res, params) {
          const name = params["name"] ?? "";
          const headersOut: Record<string, string> = {};
          const call = callOptionsFor(req, res, headersOut);
          const raw = await readJson(req, maxBodyBytes);
          if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw invalidArgument("the request body must be a JSON object");
          const type = endpointType(name) ?? (await clients.endpoints.getEndpoint({ name }, call)).endpoint?.endpointType;
          const created = Math.floor(Date.now() / 1000);
          const body = { ...(raw as Record<string, unknown>), model: name };
          switch (type) {
            case "llm/v1/chat": {
              const parsed = parseBody(chatCompletionBody, body);
              const request = toChatRequest(parsed);
              if (!parsed.stream) return sendJson(res, 200, chatCompletionJson(await clients.chat.chat(request, call), created), headersOut);
              return sse(res, clients.chat.streamChat(request, call), headersOut, (c) => chatChunkJson(c, created, true));
            }
            case "llm/v1/completions": {
              const parsed = parseBody(completionBody, body);
              const request = toCompleteRequest(parsed);
              if (!parsed.stream) return sendJson(res, 200, completionJson(await clients.completions.complete(request, call), created), headersOut);
              return sse(res, clients.completions.streamComplete(request, call), headersOut, (c) => completionChunkJson(c, created, true));
            }
            case "llm/v1/embeddings": {
              // MLflow's older clients send `text` instead of `input`.
              const { text, ...rest } = body as { text?: unknown };
              const parsed = parseBody(embeddingBody, text !== undefined && !("input" in rest) ? { ...rest, input: text } : body);
              return sendJson(res, 200, embeddingsJson(await clients.embeddings.embed(toEmbedRequest(parsed), call), "float"), headersOut);
            }
            case "predict": {
              const request = predictRequest(name, raw as Record<string, unknown>);
              const out = await clients.predict.predict(request, call);
              const predictions: JsonValue = out.predictions ? toJson(ValueSchema, out.predictions) : null;
              return sendJson(res, 200, { predictions, model: out.model, ...(out.modelVersion ? { model_version: out.modelVersion } : {}) }, headersOut);
            }
            default:
              throw new ConnectError(`endpoint "${name}" has an unknown type`, Code.Internal);
          }
        },
      },
    ],
  };
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
