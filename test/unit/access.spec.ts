import { describe, expect, it } from "vitest";
import {
  checkAccess,
  checkRole,
  compileGrants,
  hasRole,
  requireAccess,
  sourceOfKeyId,
  type AccessPrincipal,
  type CompiledGrants,
} from "../../src/auth/access";
import { accessConfigProblems, accessSchema, jwtConfigSchema, type AccessConfig } from "../../src/auth/config";
import { Code, ConnectError } from "../../src/errors";

function grants(config: unknown): CompiledGrants {
  return compileGrants(accessSchema.parse(config).grants);
}

const jwt = (team: string | undefined, roles: string[] = []): AccessPrincipal => ({ source: "jwt", team, roles });
const storeKey = (team: string, endpoints: string[] = [], roles: string[] = []): AccessPrincipal => ({
  source: "store",
  team,
  roles,
  endpoints: new Set(endpoints),
});
const configKey = (endpoints?: string[]): AccessPrincipal => ({
  source: "config",
  roles: [],
  endpoints: endpoints && new Set(endpoints),
});

describe("checkAccess with grants", () => {
  const g = grants({
    grants: [
      { endpoints: ["chat", "embed"], teams: ["search"] },
      { endpoints: ["chat"], teams: ["ml"], roles: ["scientist"] },
      { endpoints: ["fraud"], teams: ["risk"], roles: ["analyst", "auditor"] },
      { endpoints: ["public-echo"] },
      { endpoints: ["ranker"], teams: ["secret-team"] },
    ],
  });
  // The same, plus a platform role that may call everything.
  const withPlatform = grants({
    grants: [
      { endpoints: ["fraud"], teams: ["risk"], roles: ["analyst", "auditor"] },
      { endpoints: ["fraud"], teams: ["other-team"], roles: ["other-role"] },
      { endpoints: ["*"], roles: ["platform"] },
      { endpoints: ["public-echo"] },
    ],
  });

  it("allows a caller whose team has a grant for the endpoint", () => {
    expect(checkAccess(jwt("search"), "chat", g)).toEqual({ allowed: true });
    expect(checkAccess(jwt("search"), "embed", g)).toEqual({ allowed: true });
  });

  it("refuses another team, naming the endpoint and the caller's team only", () => {
    const decision = checkAccess(jwt("search"), "ranker", g);
    expect(decision).toEqual({ allowed: false, missing: 'needs a grant for endpoint "ranker" for team "search"' });
    expect(JSON.stringify(decision)).not.toContain("secret-team");
  });

  it("needs one of the grant's roles when it lists roles", () => {
    expect(checkAccess(jwt("ml"), "chat", g)).toEqual({ allowed: false, missing: 'needs role "scientist" for endpoint "chat"' });
    expect(checkAccess(jwt("ml", ["scientist"]), "chat", g)).toEqual({ allowed: true });
    expect(checkAccess(jwt("ml", ["scientist"]), "embed", g)).toEqual({
      allowed: false,
      missing: 'needs a grant for endpoint "embed" for team "ml"',
    });
    expect(checkAccess(jwt("risk", ["viewer"]), "fraud", g)).toEqual({
      allowed: false,
      missing: 'needs one of roles "analyst", "auditor" for endpoint "fraud"',
    });
    expect(checkAccess(jwt("risk", ["viewer", "auditor"]), "fraud", g).allowed).toBe(true);
  });

  it("names only the roles that would admit this caller, not other teams' roles", () => {
    const decision = checkAccess(jwt("search"), "fraud", withPlatform);
    // The only grant for fraud that can apply to team "search" is the "*" one for role platform.
    expect(decision).toEqual({ allowed: false, missing: 'needs role "platform" for endpoint "fraud"' });
  });

  it('"*" endpoints and grants without teams apply to everyone they name', () => {
    expect(checkAccess(jwt("anything", ["platform"]), "ranker", withPlatform).allowed).toBe(true);
    expect(checkAccess(jwt(undefined, ["platform"]), "fraud", withPlatform).allowed).toBe(true);
    expect(checkAccess(jwt("risk", ["platform"]), "fraud", withPlatform).allowed).toBe(true);
    expect(checkAccess(jwt("risk"), "fraud", withPlatform)).toEqual({
      allowed: false,
      missing: 'needs one of roles "analyst", "auditor", "platform" for endpoint "fraud"',
    });
    expect(checkAccess(jwt(undefined), "public-echo", g).allowed).toBe(true);
    expect(checkAccess(jwt("nobody"), "public-echo", g).allowed).toBe(true);
  });

  it("refuses a caller without a team where every grant names teams", () => {
    expect(checkAccess(jwt(undefined), "chat", g)).toEqual({
      allowed: false,
      missing: 'needs a grant for endpoint "chat" for callers without a team',
    });
  });

  it("does not match team or role names loosely", () => {
    expect(checkAccess(jwt("Search"), "chat", g).allowed).toBe(false);
    expect(checkAccess(jwt("search "), "chat", g).allowed).toBe(false);
    expect(checkAccess(jwt("*"), "chat", g).allowed).toBe(false);
    expect(checkAccess(jwt("ml", ["Scientist"]), "chat", g).allowed).toBe(false);
    expect(checkAccess(jwt("search"), "*", g).allowed).toBe(false);
  });

  it("narrows further by a key's own endpoint list", () => {
    expect(checkAccess(storeKey("search", ["chat"]), "chat", g)).toEqual({ allowed: true });
    expect(checkAccess(storeKey("search", ["chat"]), "embed", g)).toEqual({
      allowed: false,
      missing: `needs endpoint "embed" in this key's endpoint list`,
    });
    // A list never widens what the grants allow.
    expect(checkAccess(storeKey("search", ["ranker"]), "ranker", g).allowed).toBe(false);
    // An empty list on a store key means "whatever the team's grants allow".
    expect(checkAccess(storeKey("search", []), "embed", g)).toEqual({ allowed: true });
  });

  it("holds config-file keys to the grants once access is configured", () => {
    expect(checkAccess(configKey(), "chat", g).allowed).toBe(false);
    expect(checkAccess(configKey(), "public-echo", g).allowed).toBe(true);
    expect(checkAccess({ ...configKey(["chat"]), team: "search" }, "chat", g).allowed).toBe(true);
    expect(checkAccess({ ...configKey(["chat"]), team: "search" }, "embed", g).allowed).toBe(false);
  });

  it("refuses everything with an empty grant list", () => {
    const none = grants({ grants: [] });
    expect(checkAccess(configKey(), "chat", none).allowed).toBe(false);
    expect(checkAccess(jwt("search", ["admin"]), "chat", none).allowed).toBe(false);
  });
});

describe("checkAccess without grants (access not configured)", () => {
  it("keeps config-file keys as they were: their list, or every endpoint", () => {
    expect(checkAccess(configKey(), "chat", undefined)).toEqual({ allowed: true });
    expect(checkAccess(configKey(["chat"]), "chat", undefined)).toEqual({ allowed: true });
    expect(checkAccess(configKey(["chat"]), "embed", undefined)).toEqual({
      allowed: false,
      missing: `needs endpoint "embed" in this key's endpoint list`,
    });
    expect(checkAccess(configKey([]), "chat", undefined).allowed).toBe(false);
  });

  it("gives store keys exactly their own list, and nothing without one", () => {
    expect(checkAccess(storeKey("search", ["chat"]), "chat", undefined)).toEqual({ allowed: true });
    expect(checkAccess(storeKey("search", ["chat"]), "embed", undefined).allowed).toBe(false);
    expect(checkAccess(storeKey("search", []), "chat", undefined)).toEqual({
      allowed: false,
      missing: 'needs a grant for endpoint "chat" for team "search"',
    });
    expect(checkAccess({ source: "store", team: "search", roles: ["admin"] }, "chat", undefined).allowed).toBe(false);
  });

  it("gives JWT callers nothing, whatever their roles", () => {
    expect(checkAccess(jwt("search", ["admin", "platform"]), "chat", undefined)).toEqual({
      allowed: false,
      missing: 'needs a grant for endpoint "chat" for team "search"',
    });
    expect(checkAccess({ ...jwt("search"), endpoints: new Set<string>() }, "chat", undefined).allowed).toBe(false);
  });
});

describe("model versions for predict", () => {
  const g = grants({
    grants: [
      { endpoints: ["fraud"], teams: ["risk"], model_versions: [3, "004"] },
      { endpoints: ["fraud"], teams: ["risk"], roles: ["lead"], model_versions: ["5"] },
      { endpoints: ["fraud"], teams: ["ops"], roles: ["sre"] },
      { endpoints: ["fraud"], teams: ["ops"], model_versions: ["1"] },
    ],
  });

  it("says which versions the matching grants allow, and checks a version once known", () => {
    expect(checkAccess(jwt("risk"), "fraud", g)).toEqual({ allowed: true, modelVersions: new Set(["3", "4"]) });
    expect(checkAccess(jwt("risk"), "fraud", g, "3")).toEqual({ allowed: true, modelVersions: new Set(["3", "4"]) });
    expect(checkAccess(jwt("risk"), "fraud", g, "5")).toEqual({
      allowed: false,
      missing: 'needs a grant for version "5" of endpoint "fraud" for team "risk"',
    });
    expect(checkAccess(jwt("risk", ["lead"]), "fraud", g, "5")).toEqual({
      allowed: true,
      modelVersions: new Set(["3", "4", "5"]),
    });
  });

  it("a grant without versions allows every version", () => {
    expect(checkAccess(jwt("ops", ["sre"]), "fraud", g, "42")).toEqual({ allowed: true });
    expect(checkAccess(jwt("ops"), "fraud", g, "42").allowed).toBe(false);
    expect(checkAccess(jwt("ops"), "fraud", g, "1").allowed).toBe(true);
  });
});

describe("roles for admin APIs", () => {
  it("hasRole and checkRole need the exact role", () => {
    expect(hasRole(jwt("x", ["admin"]), "admin")).toBe(true);
    expect(hasRole(jwt("x", ["administrator", "Admin"]), "admin")).toBe(false);
    expect(checkRole(jwt("x", ["user"]), "admin")).toEqual({ allowed: false, missing: 'needs role "admin"' });
    expect(checkRole(storeKey("x", [], ["admin"]), "admin")).toEqual({ allowed: true });
  });

  it("grants never imply admin, and admin never implies endpoints", () => {
    const g = grants({ grants: [{ endpoints: ["*"] }] });
    expect(checkAccess(jwt("x"), "chat", g).allowed).toBe(true);
    expect(checkRole(jwt("x"), "admin").allowed).toBe(false);
    expect(checkAccess(jwt("x", ["admin"]), "chat", grants({ grants: [] })).allowed).toBe(false);
  });
});

describe("principals shaped like the runtime's", () => {
  const g = grants({ grants: [{ endpoints: ["chat"], teams: ["ml"], roles: ["scientist"] }, { endpoints: ["echo"] }] });

  it("takes roles as a set and an empty team as no team", () => {
    const p: AccessPrincipal = { source: "jwt", team: "ml", roles: new Set(["scientist"]) };
    expect(checkAccess(p, "chat", g).allowed).toBe(true);
    expect(hasRole({ roles: new Set(["admin"]) }, "admin")).toBe(true);
    expect(checkRole({ roles: new Set(["user"]) }, "admin").allowed).toBe(false);
    expect(checkAccess({ source: "store", team: "", roles: new Set() }, "chat", g)).toEqual({
      allowed: false,
      missing: 'needs a grant for endpoint "chat" for callers without a team',
    });
    expect(checkAccess({ source: "store", team: "", roles: new Set() }, "echo", g).allowed).toBe(true);
  });

  it("tells the source from the ledger key id", () => {
    expect(sourceOfKeyId("config:local")).toBe("config");
    expect(sourceOfKeyId("jwt:user-1")).toBe("jwt");
    expect(sourceOfKeyId("key_0123456789abcdef")).toBe("store");
    expect(sourceOfKeyId("something-else")).toBe("store");
  });
});

describe("requireAccess", () => {
  it("throws PERMISSION_DENIED naming what was missing", () => {
    const g = grants({ grants: [{ endpoints: ["chat"], teams: ["a"] }] });
    expect(() => requireAccess(jwt("a"), "chat", g)).not.toThrow();
    let caught: unknown;
    try {
      requireAccess(jwt("b"), "chat", g);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConnectError);
    expect((caught as ConnectError).code).toBe(Code.PermissionDenied);
    expect((caught as ConnectError).rawMessage).toBe('needs a grant for endpoint "chat" for team "b"');
  });
});

describe("compiled grants", () => {
  it("answers from lookups, not by scanning the grants", () => {
    const many = Array.from({ length: 20_000 }, (_, i) => ({
      endpoints: [`ep-${i % 50}`],
      teams: [`team-${i}`],
      roles: [`role-${i % 7}`],
    }));
    const g = grants({ grants: many });
    expect(g.byEndpoint.size).toBe(50);
    expect(g.byEndpoint.get("ep-0")?.byTeam.size).toBe(400);
    let allowed = 0;
    for (let i = 0; i < 100_000; i++) {
      const n = i % 20_000;
      if (checkAccess(jwt(`team-${n}`, [`role-${n % 7}`]), `ep-${n % 50}`, g).allowed) allowed++;
    }
    // A scan would be 100k x 20k = 2e9 steps; the grants are indexed by endpoint and team (the
    // sizes above), so these are lookups. No clock assertion: a loaded machine is not a bug.
    expect(allowed).toBe(100_000);
  });
});

describe("access config", () => {
  it("normalises model versions", () => {
    const parsed = accessSchema.parse({ grants: [{ endpoints: ["fraud"], model_versions: [3, "007", "10"] }] });
    expect(parsed.grants[0]!.model_versions).toEqual(["3", "7", "10"]);
  });

  it.each([
    ["no endpoints", { endpoints: [] }, /endpoints/],
    ['"*" as a role', { endpoints: ["chat"], roles: ["*"] }, /leave the list out to allow every role/],
    ['"*" as a team', { endpoints: ["chat"], teams: ["*"] }, /leave the list out to allow every team/],
    ["an empty team list", { endpoints: ["chat"], teams: [] }, /leave `teams` out/],
    ["an empty role list", { endpoints: ["chat"], roles: [] }, /leave `roles` out/],
    ["a version that is not a number", { endpoints: ["fraud"], model_versions: ["champion"] }, /a model version is a number/],
    ["version 0", { endpoints: ["fraud"], model_versions: [0] }, /model_versions/],
    ["an unknown key", { endpoints: ["chat"], team: ["a"] }, /team/],
  ])("refuses a grant with %s", (_, grant, message) => {
    const result = accessSchema.safeParse({ grants: [grant] });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n")).toMatch(message);
  });

  const endpointTypes = new Map([
    ["chat", "llm/v1/chat"],
    ["fraud", "predict"],
  ]);

  it("reports grants naming unknown endpoints or misplaced model versions", () => {
    const access: AccessConfig = accessSchema.parse({
      grants: [
        { endpoints: ["chat", "nope"] },
        { endpoints: ["fraud", "chat"], model_versions: [1] },
        { endpoints: ["*"], model_versions: [1] },
        { endpoints: ["*", "fraud"], teams: ["a"] },
      ],
    });
    expect(accessConfigProblems({ access }, endpointTypes)).toEqual([
      { path: "access.grants[0].endpoints[1]", message: 'unknown endpoint "nope"' },
      { path: "access.grants[1].endpoints[1]", message: '`model_versions` applies to predict endpoints; "chat" is llm/v1/chat' },
      { path: "access.grants[2].endpoints[0]", message: 'with `model_versions`, name the predict endpoints instead of "*"' },
    ]);
  });

  it("refuses JWT auth without access grants", () => {
    const jwtConfig = jwtConfigSchema.parse({ issuer: "i", audience: "a", jwks_url: "https://id.example.test/jwks" });
    expect(accessConfigProblems({ jwt: jwtConfig }, endpointTypes)).toEqual([
      { path: "auth.jwt", message: "JWT callers need `access.grants` saying which teams and roles may call which endpoints" },
    ]);
    expect(accessConfigProblems({ jwt: jwtConfig, access: { grants: [] } }, endpointTypes)).toEqual([]);
  });
});
