// TGI's error shape, over HTTP and inside a stream: `{"error": "...", "error_type": "..."}`
// (router/src/lib.rs ErrorResponse). error_type is "validation" (HTTP 422), "overloaded"
// (429), "generation" (424) or "incomplete_generation" (500). A stream that fails after its
// 200, or whose request fails validation (TGI checks streamed requests after answering 200),
// sends it as one `data:` event and ends.
import type { ConnectError } from "@connectrpc/connect";
import { invalidArgument, resourceExhausted, unavailable } from "../../errors";
import { isRecord } from "../upstream-reader";

export function tgiErrorMessage(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  return typeof body.error === "string" && body.error !== "" ? body.error : undefined;
}

/** The error a stream event reports, mapped as its HTTP twin would be; undefined for other events. */
export function tgiStreamError(provider: string, event: unknown): ConnectError | undefined {
  const message = tgiErrorMessage(event);
  if (message === undefined || !isRecord(event)) return undefined;
  const type = typeof event.error_type === "string" ? event.error_type : "unknown";
  const text = `${provider}: upstream stream error (${type}): ${message}`;
  if (type === "validation") return invalidArgument(text);
  if (type === "overloaded") return resourceExhausted(text);
  return unavailable(text);
}
