// OpenAI's error body: {"error": {"message", "type", "param", "code"}} with the HTTP status of
// our one error table, so the openai SDKs raise their typed exceptions (BadRequestError,
// AuthenticationError, RateLimitError, ...).
import { Code, ConnectError } from "@connectrpc/connect";
import { httpStatusFor } from "../../errors";

const typeByCode: Partial<Record<Code, string>> = {
  [Code.InvalidArgument]: "invalid_request_error",
  [Code.NotFound]: "invalid_request_error",
  [Code.Unauthenticated]: "authentication_error",
  [Code.PermissionDenied]: "permission_error",
  [Code.ResourceExhausted]: "rate_limit_error",
};

export function openaiError(err: unknown): { status: number; body: { error: { message: string; type: string; param: null; code: string } }; headers: Record<string, string> } {
  const e = ConnectError.from(err);
  const headers: Record<string, string> = {};
  const retryAfter = e.metadata.get("retry-after");
  if (retryAfter) headers["retry-after"] = retryAfter;
  const code = e.code === Code.NotFound ? "model_not_found" : Code[e.code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
  return {
    status: httpStatusFor(e.code),
    body: { error: { message: e.rawMessage, type: typeByCode[e.code] ?? "api_error", param: null, code } },
    headers,
  };
}
