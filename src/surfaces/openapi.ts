// The OpenAPI document of the REST surfaces (served at /openapi.json, read by the /docs and
// /redoc pages), generated from the zod schemas the surfaces validate with: nothing here is kept
// by hand but the list of paths and which schema each one takes and answers. The gRPC / Connect
// API is described by its .proto files (and server reflection), not here.
import { z } from "zod";
import * as openaiChat from "./openai/chat";
import { completionBody } from "./openai/completions";
import { embeddingBody } from "./openai/embeddings";
import { responsesBody } from "./openai/responses";
import { jsonSchemaOf } from "./mlflow/pydantic";
import * as mlflow from "./mlflow/schemas";

/** OpenAI's error body (the OpenAI surface's renderError writes it). */
const openaiErrorResponse = z.object({
  error: z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string().nullable() }),
});
const openaiModel = z.object({ id: z.string(), object: z.literal("model"), created: z.number().int(), owned_by: z.string() }).loose();
const openaiModelList = z.object({ object: z.literal("list"), data: z.array(openaiModel) });

/** The body /v1/chat/completions validates with (the strict one, where the module has two). */
function openaiChatBody(): z.ZodType {
  const strict = (openaiChat as Record<string, unknown>)["openaiChatCompletionBody"];
  return (strict as z.ZodType | undefined) ?? openaiChat.chatCompletionBody;
}

/** Every schema the document names, by component name. */
const components: Record<string, z.ZodType> = {
  MlflowChatRequest: mlflow.chatRequest,
  MlflowCompletionsRequest: mlflow.completionsRequest,
  MlflowEmbeddingsRequest: mlflow.embeddingsRequest,
  MlflowPredictRequest: mlflow.predictRequest,
  MlflowChatResponse: mlflow.chatResponse,
  MlflowChatChunk: mlflow.chatChunk,
  MlflowCompletionsResponse: mlflow.completionsResponse,
  MlflowCompletionsChunk: mlflow.completionsChunk,
  MlflowEmbeddingsResponse: mlflow.embeddingsResponse,
  MlflowPredictResponse: mlflow.predictResponse,
  Endpoint: mlflow.endpoint,
  ListEndpointsResponse: mlflow.listEndpointsResponse,
  LegacyRoute: mlflow.legacyRoute,
  LegacySearchRoutesResponse: mlflow.legacySearchRoutesResponse,
  SetLimitsModel: mlflow.setLimitsRequest,
  HealthResponse: mlflow.healthResponse,
  HTTPValidationError: mlflow.httpValidationError,
  HTTPError: mlflow.httpError,
  RateLimitExceeded: mlflow.rateLimitError,
  ChatCompletionRequest: openaiChatBody(),
  CompletionRequest: completionBody,
  CreateResponse: responsesBody,
  EmbeddingRequest: embeddingBody,
  ModelList: openaiModelList,
  Model: openaiModel,
  ErrorResponse: openaiErrorResponse,
};

const ref = (name: keyof typeof components) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ "application/json": { schema } });
const nameParam = (name: string, description: string) => ({ name, in: "path", required: true, schema: { type: "string" }, description });

const mlflowErrors = {
  "404": { description: "Unknown endpoint", content: json(ref("HTTPError")) },
  "422": { description: "Validation Error (FastAPI's detail list)", content: json(ref("HTTPValidationError")) },
};

function invocations(deprecatedPath: boolean) {
  return {
    post: {
      tags: ["MLflow"],
      summary: deprecatedPath ? "Query an endpoint (Deployments Server path)" : "Query an endpoint",
      description:
        "The payload follows the endpoint's type (llm/v1/chat, llm/v1/completions, llm/v1/embeddings, or modelgate's predict). " +
        "With `stream: true` the answer is Server-Sent Events, one chunk per `data:` line.",
      parameters: [nameParam("name", "The endpoint's name.")],
      requestBody: {
        required: true,
        content: json({ oneOf: [ref("MlflowChatRequest"), ref("MlflowCompletionsRequest"), ref("MlflowEmbeddingsRequest"), ref("MlflowPredictRequest")] }),
      },
      responses: {
        "200": {
          description: "The answer",
          content: {
            ...json({ oneOf: [ref("MlflowChatResponse"), ref("MlflowCompletionsResponse"), ref("MlflowEmbeddingsResponse"), ref("MlflowPredictResponse")] }),
            "text/event-stream": { schema: { oneOf: [ref("MlflowChatChunk"), ref("MlflowCompletionsChunk")] } },
          },
        },
        ...mlflowErrors,
        "429": { description: "The endpoint's rate limit (retry-after and x-ratelimit-* headers)", content: json(ref("RateLimitExceeded")) },
      },
    },
  };
}

const getJson = (tags: string[], summary: string, schema: keyof typeof components, extra: object = {}) => ({
  get: { tags, summary, ...extra, responses: { "200": { description: "OK", content: json(ref(schema)) }, ...mlflowErrors } },
});

const pageToken = { name: "page_token", in: "query", required: false, schema: { type: "string" }, description: "next_page_token of the previous page" };

const openaiPost = (
  summary: string,
  request: keyof typeof components,
  description = "`model` is the name of a configured endpoint. With `stream: true` the answer is Server-Sent Events ending with `data: [DONE]`.",
) => ({
  post: {
    tags: ["OpenAI"],
    summary,
    description,
    requestBody: { required: true, content: json(ref(request)) },
    responses: {
      "200": { description: "OpenAI's response object (or its stream)" },
      default: { description: "An error", content: json(ref("ErrorResponse")) },
    },
  },
});

/** A stored response's route: readable by the keys of the team that created it (its key, without a team) and admins; 404 for anyone else. */
const storedResponseRoute = (summary: string, ok: string, query: object[] = []) => ({
  tags: ["OpenAI"],
  summary,
  description: "Readable by the keys of the team that stored it (the key itself when it has no team) and by admins; anyone else gets a 404.",
  parameters: [nameParam("response_id", "The response's id (resp_...)."), ...query],
  responses: { "200": { description: ok }, default: { description: "An error", content: json(ref("ErrorResponse")) } },
});

/** A Conversations API route: the conversation's team's keys (its key, without a team) and admins; 404 for anyone else. */
const conversationRoute = (summary: string, ok: string, extra: object[] = [], inPath = true) => ({
  tags: ["OpenAI"],
  summary,
  description: "Conversations belong to the team of the key that created them (the key itself when it has no team); admins see all; anyone else gets a 404.",
  parameters: [...(inPath ? [nameParam("conversation_id", "The conversation's id (conv_...).")] : []), ...extra],
  responses: { "200": { description: ok }, default: { description: "An error", content: json(ref("ErrorResponse")) } },
});

let document: object | undefined;

/** The document (built once: the schemas do not change while the process runs). */
export function openApiDocument(): object {
  document ??= {
    openapi: "3.1.0",
    info: {
      title: "modelgate",
      description: "The REST surfaces of modelgate: MLflow AI Gateway compatible (/gateway, /endpoints, /api) and OpenAI compatible (/v1).",
      version: "1",
    },
    paths: {
      "/health": getJson(["MLflow"], "Health", "HealthResponse"),
      "/api/2.0/endpoints/": getJson(["MLflow"], "List endpoints", "ListEndpointsResponse", { parameters: [pageToken] }),
      "/api/2.0/endpoints/{name}": getJson(["MLflow"], "Get an endpoint", "Endpoint", { parameters: [nameParam("name", "The endpoint's name.")] }),
      "/gateway/{name}/invocations": invocations(false),
      "/endpoints/{name}/invocations": invocations(true),
      "/api/2.0/gateway/routes/": getJson(["MLflow"], "List endpoints (legacy routes shape)", "LegacySearchRoutesResponse", { parameters: [pageToken], deprecated: true }),
      "/api/2.0/gateway/routes/{name}": getJson(["MLflow"], "Get an endpoint (legacy route shape)", "LegacyRoute", {
        parameters: [nameParam("name", "The endpoint's name.")],
        deprecated: true,
      }),
      "/api/3.0/gateway/endpoint/{name}": getJson(["MLflow"], "Get an endpoint (MLflow 3)", "Endpoint", { parameters: [nameParam("name", "The endpoint's name.")] }),
      "/api/2.0/endpoints/limits/": {
        post: {
          tags: ["MLflow"],
          summary: "Set limits (not available, as in MLflow)",
          requestBody: { required: true, content: json(ref("SetLimitsModel")) },
          responses: { "501": { description: "Not available", content: json(ref("HTTPError")) }, "422": mlflowErrors["422"] },
        },
      },
      "/v1/chat/completions": openaiPost("Chat completion", "ChatCompletionRequest"),
      "/v1/responses": openaiPost(
        "Create a response (Responses API)",
        "CreateResponse",
        "`model` is the name of a configured chat endpoint; the call goes through ChatService. With `store` true (the default) the " +
          "answer is kept (store.responses) for the routes below and for `previous_response_id`, which continues its conversation. " +
          "`conversation`, `background` and built-in tools are refused. With `stream: true` the answer is the Responses API's " +
          "Server-Sent Events (`event: response.created` ... `event: response.completed`), with no `[DONE]`.",
      ),
      "/v1/responses/{response_id}": {
        get: storedResponseRoute("Retrieve a stored response", "The Response as it was answered."),
        delete: storedResponseRoute("Delete a stored response", "`{id, object: \"response\", deleted: true}`."),
      },
      "/v1/responses/{response_id}/input_items": {
        get: storedResponseRoute(
          "List a stored response's input items",
          "The items it was generated from (earlier turns of its conversation included), each with an id: `{object: \"list\", data, first_id, last_id, has_more}`.",
          [
            { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 100, default: 20 } },
            { name: "order", in: "query", required: false, schema: { type: "string", enum: ["asc", "desc"], default: "desc" } },
            { name: "after", in: "query", required: false, schema: { type: "string" }, description: "An item id: the items after it." },
          ],
        ),
      },
      "/v1/conversations": {
        post: conversationRoute("Create a conversation", "`{metadata?, items?}` (up to 20 items); answers the conversation `{id, object, created_at, metadata}`.", [], false),
      },
      "/v1/conversations/{conversation_id}": {
        get: conversationRoute("Retrieve a conversation", "The conversation."),
        post: conversationRoute("Update a conversation's metadata", "`{metadata}`; answers the conversation."),
        delete: conversationRoute("Delete a conversation and its items", "`{id, object: \"conversation.deleted\", deleted: true}`."),
      },
      "/v1/conversations/{conversation_id}/items": {
        post: conversationRoute("Add items to a conversation", "`{items}` (1 to 20); answers the added items as a list."),
        get: conversationRoute("List a conversation's items", "`{object: \"list\", data, first_id, last_id, has_more}`, newest first unless `order=asc`.", [
          { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 100, default: 20 } },
          { name: "order", in: "query", required: false, schema: { type: "string", enum: ["asc", "desc"], default: "desc" } },
          { name: "after", in: "query", required: false, schema: { type: "string" }, description: "An item id: the items after it." },
        ]),
      },
      "/v1/conversations/{conversation_id}/items/{item_id}": {
        get: conversationRoute("Retrieve one item of a conversation", "The item.", [nameParam("item_id", "The item's id.")]),
        delete: conversationRoute("Delete one item of a conversation", "The conversation.", [nameParam("item_id", "The item's id.")]),
      },
      "/v1/completions": openaiPost("Text completion (legacy)", "CompletionRequest"),
      "/v1/embeddings": openaiPost("Embeddings", "EmbeddingRequest"),
      "/v1/models": { get: { tags: ["OpenAI"], summary: "List models (the endpoints)", responses: { "200": { description: "OK", content: json(ref("ModelList")) } } } },
      "/v1/models/{model}": {
        get: {
          tags: ["OpenAI"],
          summary: "Get a model (an endpoint)",
          parameters: [nameParam("model", "The endpoint's name.")],
          responses: { "200": { description: "OK", content: json(ref("Model")) }, default: { description: "An error", content: json(ref("ErrorResponse")) } },
        },
      },
    },
    components: {
      schemas: Object.fromEntries(
        Object.entries(components).map(([name, schema]) => {
          const { $schema: _, ...rest } = jsonSchemaOf(schema);
          return [name, rest];
        }),
      ),
    },
  };
  return document;
}

/** Swagger UI on /openapi.json, as FastAPI's get_swagger_ui_html writes it (assets from the jsDelivr CDN). */
export function docsHtml(): string {
  return `<!DOCTYPE html>
<html>
<head>
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
<link rel="shortcut icon" href="/favicon.ico">
<title>modelgate</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>
const ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
</script>
</body>
</html>
`;
}

/** ReDoc on /openapi.json, as FastAPI's get_redoc_html writes it. */
export function redocHtml(): string {
  return `<!DOCTYPE html>
<html>
<head>
<title>modelgate - ReDoc</title>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="shortcut icon" href="/favicon.ico">
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<noscript>ReDoc requires Javascript to function. Please enable it to browse the documentation.</noscript>
<redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"></script>
</body>
</html>
`;
}

let icon: Buffer | undefined;

/** A 16×16 icon (ICO holding one 32-bit bitmap): a light ring on a dark square, drawn here. */
export function favicon(): Buffer {
  if (icon) return icon;
  const size = 16;
  const pixels = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - 7.5, y - 7.5);
      const ring = d > 3.5 && d < 6;
      // Rows bottom-up, BGRA.
      const at = ((size - 1 - y) * size + x) * 4;
      pixels.set(ring ? [0xf2, 0xe6, 0xd9, 0xff] : [0x3a, 0x2a, 0x1f, 0xff], at);
    }
  }
  const mask = Buffer.alloc(size * 4); // AND mask: 16 bits a row, padded to 32; all opaque
  const header = Buffer.alloc(40);
  header.writeUInt32LE(40, 0);
  header.writeInt32LE(size, 4);
  header.writeInt32LE(size * 2, 8); // XOR + AND masks
  header.writeUInt16LE(1, 12);
  header.writeUInt16LE(32, 14);
  header.writeUInt32LE(pixels.length + mask.length, 20);
  const image = Buffer.concat([header, pixels, mask]);
  const dir = Buffer.alloc(6 + 16);
  dir.writeUInt16LE(0, 0);
  dir.writeUInt16LE(1, 2); // icon
  dir.writeUInt16LE(1, 4); // one image
  dir.writeUInt8(size, 6);
  dir.writeUInt8(size, 7);
  dir.writeUInt16LE(1, 10);
  dir.writeUInt16LE(32, 12);
  dir.writeUInt32LE(image.length, 14);
  dir.writeUInt32LE(dir.length, 18);
  icon = Buffer.concat([dir, image]);
  return icon;
}
