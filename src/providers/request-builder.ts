// Helpers for building upstream request bodies and URLs, shared by the HTTP providers.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { z } from "zod";
import { invalidArgument } from "../errors";

/** Joins a configured base URL and an API path; a trailing slash on the base is tolerated. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}${path}`;
}

/** `base` without trailing slashes, split into the origin and its last path segment ("" for none). */
function lastSegment(base: string): { trimmed: string; segment: string } {
  const trimmed = base.replace(/\/+$/, "");
  const path = trimmed.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "");
  return { trimmed, segment: path.slice(path.lastIndexOf("/") + 1) };
}

/**
 * A base URL without a last path segment the translator adds itself, so the form a provider's
 * own SDK or docs use and the form with the API prefix both work: Cohere's
 * `https://api.cohere.com` and `https://api.cohere.com/v2` give the same `/v2/chat`. Trailing
 * slashes are dropped. `segment` matches one whole segment, e.g. /^v[12]$/.
 */
export function withoutLastSegment(base: string, segment: RegExp): string {
  const { trimmed, segment: last } = lastSegment(base);
  return last !== "" && segment.test(last) ? trimmed.slice(0, -last.length - 1) : trimmed;
}

/**
 * A base URL that ends in the API's version segment: `/${segment}` is appended unless the last
 * path segment matches `present`. Anthropic's SDK takes `https://api.anthropic.com` and adds
 * `/v1` itself; MLflow's config writes `https://api.anthropic.com/v1`: both give `/v1/messages`.
 */
export function withLastSegment(base: string, segment: string, present: RegExp): string {
  const { trimmed, segment: last } = lastSegment(base);
  return present.test(last) ? trimmed : `${trimmed}/${segment}`;
}

/** Sets `key` only when a value was given, so absent optional params stay absent upstream. */
export function setIfDefined(body: JsonObject, key: string, value: JsonValue | undefined): void {
  if (value !== undefined) body[key] = value;
}

/**
 * Merges the caller's provider-specific extras into the body. `owned` lists every key the
 * translator writes itself (structural ones like `model` and the typed sampling fields): an
 * extra may not replace them, so there is exactly one way to set each, and the typed field's
 * validation cannot be bypassed. Chat and completion builders also call checkSamplingExtras
 * (extras.ts), the central list of keys that set the output's length or count.
 */
export function mergeExtras(
  provider: string,
  body: JsonObject,
  extras: JsonObject | undefined,
  owned: ReadonlyMap<string, string>,
): void {
  if (extras === undefined) return;
  for (const [key, value] of Object.entries(extras)) {
    const instead = owned.get(key);
    if (instead !== undefined) {
      throw invalidArgument(`${provider}: extras.${key} is not allowed: ${instead}`);
    }
    body[key] = value;
  }
}

/** int64 seed to a JSON number; beyond 2^53 the value would silently change, so refuse it. */
export function seedToNumber(seed: bigint): number {
  const value = Number(seed);
  if (!Number.isSafeInteger(value)) {
    throw invalidArgument(`seed must be between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}`);
  }
  return value;
}

/** An http(s) URL; other schemes cannot be reached by the upstream client anyway. */
export const httpUrl = () =>
  z.url({
    protocol: /^https?$/,
    // only a malformed URL gets this message; a missing one keeps zod's "expected string"
    error: (issue) => (issue.code === "invalid_format" ? "must be an http(s) URL" : undefined),
  });
