// Who may call which endpoint (and which registry versions of a predict endpoint). Grants are
// compiled once into maps keyed by endpoint and team, so a call costs a handful of lookups
// whatever the number of grants. A refusal names what was missing, never who has it.
//
// Defaults, least privilege without breaking local use:
//   - `access` configured: a call needs a grant matching its endpoint, the caller's team (or a
//     grant without `teams`) and, when the grant lists roles, one of the caller's roles. A key's
//     own endpoint list narrows that further. This holds for every kind of caller, config keys
//     included: once an operator writes grants, the grants are the policy.
//   - `access` absent (grants undefined):
//       * config-file keys keep today's behaviour: their `endpoints` list, or every endpoint
//         when they have none. The file is the operator's own trust, and local use needs it;
//       * store keys (created by the CLI / AdminService) get exactly their own endpoint list,
//         and nothing when it is empty: a key minted without `--endpoints` on a gateway with no
//         grants is a key for nothing, not a key for everything;
//       * JWT callers get nothing: a token says who someone is, not what they may call here.
//         (The config loader refuses `auth.jwt` without `access` for that reason.)
//   - Admin APIs need role "admin" (hasRole / checkRole) whatever the grants say; grants never
//     imply admin, and admin never implies endpoints.
import { permissionDenied } from "../errors";
import type { GrantConfig } from "./config";

export type PrincipalSource = "config" | "store" | "jwt";

/**
 * The source of a principal from its ledger key id ("config:<name>", "jwt:<subject>", "key_…").
 * Anything else counts as a store key: without grants that gets only its own endpoint list.
 */
export function sourceOfKeyId(keyId: string): PrincipalSource {
  if (keyId.startsWith("config:")) return "config";
  if (keyId.startsWith("jwt:")) return "jwt";
  return "store";
}

/** What access control needs to know about a caller. */
export interface AccessPrincipal {
  source: PrincipalSource;
  /** undefined or "" = the caller has no team. */
  team?: string | undefined;
  roles: ReadonlySet<string> | readonly string[];
  /**
   * The key's own endpoint list. undefined = no list of its own. For config keys a set, even an
   * empty one, is the exact list (today's behaviour); for store keys an empty set is the same as
   * undefined (KeyRecord: "empty = whatever its team's grants allow").
   */
  endpoints?: ReadonlySet<string> | undefined;
}

export type AccessDecision =
  | {
      allowed: true;
      /** Predict: registry versions the matching grants allow; undefined = any version. */
      modelVersions?: ReadonlySet<string>;
    }
  | { allowed: false; missing: string };

/** undefined = any version. */
type Versions = ReadonlySet<string> | undefined;

/** The grants for one (endpoint, team) cell: open to every role, or per role. */
interface Cell {
  /** Set when a grant needs no role: the versions it allows (undefined inside = any). */
  open?: { versions: Versions };
  byRole: Map<string, Versions>;
}

/** The cells for one endpoint (or "*"): for every team, and per team. */
interface TeamIndex {
  anyTeam?: Cell;
  byTeam: Map<string, Cell>;
}

/** Grants compiled for lookups; build once per config with compileGrants(). */
export interface CompiledGrants {
  readonly anyEndpoint: TeamIndex;
  readonly byEndpoint: ReadonlyMap<string, TeamIndex>;
}

export function compileGrants(grants: readonly GrantConfig[]): CompiledGrants {
  const anyEndpoint: TeamIndex = { byTeam: new Map() };
  const byEndpoint = new Map<string, TeamIndex>();
  for (const grant of grants) {
    const versions: Versions = grant.model_versions && new Set(grant.model_versions);
    for (const endpoint of new Set(grant.endpoints)) {
      let index = endpoint === "*" ? anyEndpoint : byEndpoint.get(endpoint);
      if (!index) byEndpoint.set(endpoint, (index = { byTeam: new Map() }));
      const cells: Cell[] = [];
      if (grant.teams === undefined) cells.push((index.anyTeam ??= { byRole: new Map() }));
      else {
        for (const team of new Set(grant.teams)) {
          let cell = index.byTeam.get(team);
          if (!cell) index.byTeam.set(team, (cell = { byRole: new Map() }));
          cells.push(cell);
        }
      }
      for (const cell of cells) {
        if (grant.roles === undefined) cell.open = { versions: union(cell.open, versions) };
        else {
          for (const role of grant.roles) {
            cell.byRole.set(role, union(cell.byRole.has(role) ? { versions: cell.byRole.get(role) } : undefined, versions));
          }
        }
      }
    }
  }
  return { anyEndpoint, byEndpoint };
}

/** Versions allowed by two grants together: any version wins over a list. */
function union(existing: { versions: Versions } | undefined, added: Versions): Versions {
  if (existing === undefined) return added;
  if (existing.versions === undefined || added === undefined) return undefined;
  return new Set([...existing.versions, ...added]);
}

/**
 * May `principal` call `endpoint`? `grants` is undefined when `access` is not configured (see
 * the defaults at the top). For predict, pass the registry `modelVersion` once it is known: the
 * version must be one the matching grants allow. Without it the answer is about the endpoint,
 * and `modelVersions` on the result says which versions a later check will accept.
 */
export function checkAccess(
  principal: AccessPrincipal,
  endpoint: string,
  grants: CompiledGrants | undefined,
  modelVersion?: string,
): AccessDecision {
  const own = ownEndpoints(principal);
  if (grants === undefined) {
    if (own !== undefined) return own.has(endpoint) ? { allowed: true } : missingFromKey(endpoint);
    if (principal.source === "config") return { allowed: true };
    return { allowed: false, missing: grantMissing(endpoint, teamOf(principal)) };
  }
  const found = matchGrants(principal, endpoint, grants);
  if (!found.matched) {
    const missing =
      found.neededRoles.size > 0
        ? `needs ${rolesText(found.neededRoles)} for endpoint "${endpoint}"`
        : grantMissing(endpoint, teamOf(principal));
    return { allowed: false, missing };
  }
  if (modelVersion !== undefined && found.versions !== undefined && !found.versions.has(modelVersion)) {
    return { allowed: false, missing: grantMissing(endpoint, teamOf(principal), modelVersion) };
  }
  if (own !== undefined && !own.has(endpoint)) return missingFromKey(endpoint);
  return found.versions === undefined ? { allowed: true } : { allowed: true, modelVersions: found.versions };
}

/** checkAccess that throws PERMISSION_DENIED (with the missing piece as the message). */
export function requireAccess(
  principal: AccessPrincipal,
  endpoint: string,
  grants: CompiledGrants | undefined,
  modelVersion?: string,
): void {
  const decision = checkAccess(principal, endpoint, grants, modelVersion);
  if (!decision.allowed) throw permissionDenied(decision.missing);
}

/**
 * Whether a caller may see an endpoint (its description, targets and health, its live figures):
 * with the "admin" role every endpoint, else one it may call. Refused names, known or not, get the
 * call path's answer, so a key learns nothing of the endpoints it may not call, not even whether
 * they exist.
 */
export function checkVisible(principal: AccessPrincipal, endpoint: string, grants: CompiledGrants | undefined): AccessDecision {
  return hasRole(principal, "admin") ? { allowed: true } : checkAccess(principal, endpoint, grants);
}

/**
 * The second half of a grant with `model_versions`: checkAccess let the call through with the
 * versions it allows (undefined = any); once routing knows the registry version a call would
 * reach (an alias resolved), a version outside them is PERMISSION_DENIED, before any request.
 */
export function requireModelVersion(allowed: ReadonlySet<string> | undefined, model: string, version: string): void {
  if (allowed !== undefined && !allowed.has(version)) throw permissionDenied(`needs a grant for version ${version} of model "${model}"`);
}

export function hasRole(principal: Pick<AccessPrincipal, "roles">, role: string): boolean {
  const roles = principal.roles;
  return "has" in roles ? roles.has(role) : roles.includes(role);
}

/** For admin APIs: `checkRole(p, "admin")`. */
export function checkRole(principal: Pick<AccessPrincipal, "roles">, role: string): AccessDecision {
  return hasRole(principal, role) ? { allowed: true } : { allowed: false, missing: `needs role "${role}"` };
}

function teamOf(principal: AccessPrincipal): string | undefined {
  return principal.team === "" ? undefined : principal.team;
}

function ownEndpoints(principal: AccessPrincipal): ReadonlySet<string> | undefined {
  const list = principal.endpoints;
  if (list === undefined) return undefined;
  // JWTs carry no list; a store key's empty list means "no list of its own".
  if (principal.source !== "config" && list.size === 0) return undefined;
  return list;
}

type Match = { matched: true; versions: Versions } | { matched: false; neededRoles: ReadonlySet<string> };

/** The four cells that can apply: (endpoint | *) x (team | every team). */
function matchGrants(principal: AccessPrincipal, endpoint: string, grants: CompiledGrants): Match {
  const cells: Cell[] = [];
  const team = teamOf(principal);
  for (const index of [grants.byEndpoint.get(endpoint), grants.anyEndpoint]) {
    if (!index) continue;
    if (index.anyTeam) cells.push(index.anyTeam);
    const teamCell = team === undefined ? undefined : index.byTeam.get(team);
    if (teamCell) cells.push(teamCell);
  }
  let matched: { versions: Versions } | undefined;
  const accept = (versions: Versions) => {
    matched = { versions: union(matched, versions) };
  };
  for (const cell of cells) {
    if (cell.open) accept(cell.open.versions);
    for (const role of principal.roles) {
      if (cell.byRole.has(role)) accept(cell.byRole.get(role));
    }
  }
  if (matched) return { matched: true, versions: matched.versions };
  const neededRoles = new Set<string>();
  for (const cell of cells) for (const role of cell.byRole.keys()) neededRoles.add(role);
  return { matched: false, neededRoles };
}

const maxRolesNamed = 5;

function rolesText(roles: ReadonlySet<string>): string {
  const sorted = [...roles].sort();
  if (sorted.length === 1) return `role "${sorted[0]}"`;
  const named = sorted.slice(0, maxRolesNamed).map((r) => `"${r}"`).join(", ");
  return `one of roles ${named}${sorted.length > maxRolesNamed ? ", ..." : ""}`;
}

function grantMissing(endpoint: string, team: string | undefined, modelVersion?: string): string {
  const what = modelVersion === undefined ? `endpoint "${endpoint}"` : `version "${modelVersion}" of endpoint "${endpoint}"`;
  return team === undefined ? `needs a grant for ${what} for callers without a team` : `needs a grant for ${what} for team "${team}"`;
}

function missingFromKey(endpoint: string): AccessDecision {
  return { allowed: false, missing: `needs endpoint "${endpoint}" in this key's endpoint list` };
}
