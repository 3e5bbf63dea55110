// OpenAI's error body, `ErrorResponse`: {"error": {"message", "type", "param", "code"}} (all four
// always present, param and code nullable), with the HTTP status of our one error table, so the
// openai SDKs raise their typed exceptions (BadRequestError, AuthenticationError,
// RateLimitError, ...). `code` uses OpenAI's values where one applies (invalid_api_key,
// model_not_found, rate_limit_exceeded, insufficient_quota, context_length_exceeded), else null
// as OpenAI does; `param` names the request field when the message does. Rate-limit refusals
// carry the x-ratelimit-* headers the quota layer put in the error's metadata.
import { Code, ConnectError } from "@connectrpc/connect";
import { httpStatusFor } from "../../errors";
import { isBodyTooLarge } from "../http";

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface OpenAIErrorResponse {
  status: number;
  body: OpenAIErrorBody;
  headers: Record<string, string>;
}

export function openaiErrorBody(message: string, type: string, param: string | null = null, code: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

// Upstream messages that mean the prompt does not fit the model (OpenAI, Anthropic, Gemini,
// Bedrock, vLLM wordings), and their context-window policy counterpart.
const contextLength = /context[ _-]?length|context window|maximum context|prompt is too long|input is too long|too many tokens/i;

/** Response headers of a refusal worth passing on: rate-limit state and when to come back. */
function passedHeaders(metadata: Headers): Record<string, string> {
  const headers: Record<string, string> = {};
  metadata.forEach((value, key) => {
    if (key === "retry-after" || key.startsWith("x-ratelimit-") || key === "ratelimit" || key === "ratelimit-policy") headers[key] = value;
  });
  return headers;
}

/** The kind of limit a RESOURCE_EXHAUSTED names (see src/quota/checks.ts `describe`). */
function rateLimitTypeAndCode(message: string): { type: string; code: string } {
  if (message.startsWith("budget of ")) return { type: "insufficient_quota", code: "insufficient_quota" };
  if (message.startsWith("token limit of ")) return { type: "tokens", code: "rate_limit_exceeded" };
  return { type: "requests", code: "rate_limit_exceeded" };
}

/** The NOT_FOUND messages of stored-responses.ts and conversations.ts: no model involved. */
const storedResponseNotFound = /^No (response|conversation) with id |^No item "/;

export function openaiError(err: unknown): OpenAIErrorResponse {
  const e = ConnectError.from(err);
  const message = e.rawMessage;
  const headers = passedHeaders(e.metadata);
  // A body over max_body_bytes: 413, which the openai SDKs do not retry (a 429 would have them
  // send a 5 MB body three more times).
  if (isBodyTooLarge(err)) {
    return { status: 413, body: openaiErrorBody(message, "invalid_request_error", null, "request_too_large"), headers };
  }
  const status = httpStatusFor(e.code);
  let type: string;
  let code: string | null = null;
  switch (e.code) {
    case Code.InvalidArgument:
    case Code.OutOfRange:
    case Code.FailedPrecondition:
      type = "invalid_request_error";
      if (contextLength.test(message)) code = "context_length_exceeded";
      break;
    case Code.NotFound:
      type = "invalid_request_error";
      // A stored response that is not there is no model (OpenAI answers it with a null code).
      code = storedResponseNotFound.test(message) ? null : "model_not_found";
      break;
    case Code.Unauthenticated:
      type = "invalid_request_error";
      code = "invalid_api_key";
      break;
    case Code.PermissionDenied:
      type = "permission_error";
      break;
    case Code.ResourceExhausted:
      ({ type, code } = rateLimitTypeAndCode(message));
      break;
    case Code.DeadlineExceeded:
      type = "timeout";
      break;
    case Code.Canceled:
      type = "invalid_request_error";
      break;
    default:
      type = "server_error";
  }
  const param = status >= 400 && status < 500 ? paramOf(message) : null;
  return { status, body: openaiErrorBody(message, type, param, code), headers };
}

/** 404 for a path under /v1/ that the surface does not serve, in OpenAI's words. */
export function openaiNotFound(method: string, path: string): OpenAIErrorResponse {
  return { status: 404, body: openaiErrorBody(`Invalid URL (${method} ${path})`, "invalid_request_error"), headers: {} };
}

/** 405 for a known path asked with another method (the router adds `allow`; `code` is null, as for 404). */
export function openaiMethodNotAllowed(method: string, path: string): OpenAIErrorResponse {
  return { status: 405, body: openaiErrorBody(`Invalid method for URL (${method} ${path})`, "invalid_request_error"), headers: {} };
}

// ------------------------------------------------------------------------------------------
// `param`: the request field a message names. Messages start with the field's path ("top_p:
// must be ...", "messages[1].role: invalid role ..."), possibly after the provider's name
// ("openai: messages[0].tool_call_id: ..."), or name an extra ("mistral: extras.logit_bias is
// not allowed ..."). Proto names are given as the REST body names them.

/** The body fields (and query parameters) of the OpenAI requests this surface serves (CreateChatCompletionRequest, CreateResponse, ...). */
const restFields = new Set([
  "model", "messages", "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens", "seed", "user",
  "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls", "response_format", "frequency_penalty",
  "presence_penalty", "logit_bias", "logprobs", "top_logprobs", "metadata", "store", "service_tier", "modalities",
  "audio", "prediction", "reasoning_effort", "verbosity", "web_search_options", "safety_identifier", "prompt_cache_key",
  "prompt_cache_retention", "prompt_cache_options", "moderation", "functions", "function_call", "prompt", "suffix",
  "echo", "best_of", "input", "encoding_format", "dimensions",
  // CreateResponse's own (/v1/responses)
  "instructions", "max_output_tokens", "text", "reasoning", "truncation", "include", "previous_response_id",
  "conversation", "background", "max_tool_calls", "context_management",
  // the Conversations API's bodies, and the item lists' query parameters
  "items", "limit", "order", "after",
]);

/** Proto field names that have another name in the REST body. */
const restNameOf: Readonly<Record<string, string>> = {
  endpoint: "model",
  inputs: "input",
  token_inputs: "input",
  prompts: "prompt",
  token_prompts: "prompt",
  max_tokens_field: "max_completion_tokens",
};

const pathAtStart = /^((?:extras\.)?[A-Za-z_]\w*(?:\[\d+\]|\.\w+)*)(?::|\s)/;

export function paramOf(message: string): string | null {
  const direct = fieldPath(message);
  if (direct !== null) return direct;
  // "<provider>: <path>: ..."
  const colon = message.indexOf(": ");
  return colon > 0 && colon < 64 ? fieldPath(message.slice(colon + 2)) : null;
}

function fieldPath(text: string): string | null {
  const m = pathAtStart.exec(text);
  if (m === null) return null;
  let path = m[1]!;
  if (path.startsWith("extras.")) path = path.slice("extras.".length);
  const root = /^[A-Za-z_]\w*/.exec(path)![0];
  const renamed = restNameOf[root];
  if (renamed !== undefined) path = renamed + path.slice(root.length);
  return restFields.has(renamed ?? root) ? path : null;
}
