// Helpers for building upstream request bodies and URLs, shared by the HTTP providers.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { z } from "zod";
import { invalidArgument } from "../errors";
import type { ModelTarget } from "./types";

/** Joins a configured base URL and an API path; a trailing slash on the base is tolerated. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}${path}`;
}

/** Sets `key` only when a value was given, so absent optional params stay absent upstream. */
export function setIfDefined(body: JsonObject, key: string, value: JsonValue | undefined): void {
  if (value !== undefined) body[key] = value;
}

/**
 * Merges the caller's provider-specific extras into the body. `owned` lists every key the
 * translator writes itself (structural ones like `model` and the typed sampling fields): an
 * extra may not replace them, so there is exactly one way to set each, and the typed field's
 * validation cannot be bypassed.
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

/**
 * The endpoint's provider config, typed. The config loader validated it with this provider's
 * `configSchema` and hands over the parsed output (defaults applied), so nothing is parsed
 * again on the request path.
 */
export function configOf<T>(target: ModelTarget): T {
  return target.config as T;
}

/** An http(s) URL; other schemes cannot be reached by the upstream client anyway. */
export const httpUrl = () =>
  z.url({
    protocol: /^https?$/,
    // only a malformed URL gets this message; a missing one keeps zod's "expected string"
    error: (issue) => (issue.code === "invalid_format" ? "must be an http(s) URL" : undefined),
  });
