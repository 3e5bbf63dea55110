import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { fromUpstreamStatus, httpStatusFor, resourceExhausted } from "../../src/errors";

describe("upstream status mapping", () => {
  it.each([
    [400, Code.InvalidArgument],
    [401, Code.Unavailable],
    [403, Code.Unavailable],
    [404, Code.Unavailable],
    [408, Code.Unavailable],
    [413, Code.InvalidArgument],
    [422, Code.InvalidArgument],
    [424, Code.Unavailable],
    [429, Code.ResourceExhausted],
    [500, Code.Unavailable],
    [502, Code.Unavailable],
    [503, Code.Unavailable],
  ])("HTTP %i -> %s", (status, code) => {
    expect(fromUpstreamStatus("openai", status, "upstream says no").code).toBe(code);
  });

  it("keeps the upstream message for 400s but never for credential failures", () => {
    expect(fromUpstreamStatus("openai", 400, "max_tokens is too large").rawMessage).toBe(
      "openai: upstream rejected the request (HTTP 400): max_tokens is too large",
    );
    expect(fromUpstreamStatus("openai", 401, "Incorrect API key provided: sk-abc***").rawMessage).not.toContain("sk-abc");
  });

  it("carries retry-after in whole seconds, at least 1", () => {
    expect(resourceExhausted("x", 1_200).metadata.get("retry-after")).toBe("2");
    expect(resourceExhausted("x", 0).metadata.get("retry-after")).toBe("1");
    expect(fromUpstreamStatus("anthropic", 429, undefined, 7_000).metadata.get("retry-after")).toBe("7");
  });

  it("maps codes to REST statuses per the design table", () => {
    expect([Code.InvalidArgument, Code.Unauthenticated, Code.PermissionDenied, Code.NotFound, Code.ResourceExhausted, Code.Unavailable, Code.DeadlineExceeded, Code.Internal].map(httpStatusFor)).toEqual([
      400, 401, 403, 404, 429, 503, 504, 500,
    ]);
  });
});
