// A tiny router for the REST surfaces: exact paths and `{param}` segments, per method. Each
// surface renders its own error bodies, so a REST path never answers in another surface's shape
// (nor in Connect's): a failure in a handler, a path under the surface's prefixes that no route
// matches (404) and a known path asked with the wrong method (405, with `allow`).
import type { NodeRequest, NodeResponse } from "../server/one-port";
import { invalidArgument, notFound } from "../errors";
import { sendJson } from "./http";

export type RestHandler = (req: NodeRequest, res: NodeResponse, params: Record<string, string>) => Promise<void>;

export interface RestRoute {
  method: "GET" | "POST" | "DELETE";
  /** e.g. "/v1/chat/completions" or "/endpoints/{name}/invocations" */
  path: string;
  handler: RestHandler;
  /**
   * For a path with parameters: whether the resource exists. A wrong method on a path whose
   * resource does not exist is a 404, not a 405 (as servers with one route per resource answer).
   */
  exists?: (params: Record<string, string>) => boolean;
}

export interface RenderedError {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

export interface RestSurface {
  routes: RestRoute[];
  /** Renders a failure in the surface's own error format. */
  renderError(err: unknown): RenderedError;
  /**
   * Path prefixes the surface owns (e.g. "/v1/"): a path under one that no route matches is
   * answered by renderNotFound instead of falling through to the Connect handler.
   */
  prefixes?: readonly string[];
  /** The 404 for an unknown path under `prefixes` (default: renderError of a NOT_FOUND). */
  renderNotFound?(method: string, path: string): RenderedError;
  /** The 405 for a known path asked with another method; the router adds `allow`. */
  renderMethodNotAllowed?(method: string, path: string, allowed: readonly string[]): RenderedError;
}

interface Compiled {
  method: string;
  pattern: RegExp;
  names: string[];
  route: RestRoute;
  surface: RestSurface;
}

/** Returns a function that serves a request if a surface owns its path, and says whether it did. */
export function createRestRouter(surfaces: RestSurface[]): (req: NodeRequest, res: NodeResponse) => boolean {
  const exact = new Map<string, Compiled>();
  const patterns: Compiled[] = [];
  const all: Compiled[] = [];
  for (const surface of surfaces) {
    for (const route of surface.routes) {
      const names: string[] = [];
      const source = route.path
        .split(/(\{\w+\})/)
        .map((part) => {
          const param = /^\{(\w+)\}$/.exec(part);
          if (!param) return part.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
          names.push(param[1]!);
          return "([^/]+)";
        })
        .join("");
      const compiled = { method: route.method, pattern: new RegExp(`^${source}/?$`), names, route, surface };
      if (names.length === 0) exact.set(`${route.method} ${normalise(route.path)}`, compiled);
      else patterns.push(compiled);
      all.push(compiled);
    }
  }
  const prefixed = surfaces.flatMap((surface) => (surface.prefixes ?? []).map((prefix) => ({ prefix, surface })));
  // Longest prefix first, so a more specific surface wins.
  prefixed.sort((a, b) => b.prefix.length - a.prefix.length);

  return (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    // "/api/2.0/endpoints/" and "/api/2.0/endpoints" are the same resource (MLflow's client adds the slash).
    const path = normalise(q < 0 ? url : url.slice(0, q));
    const asked = req.method ?? "GET";
    // HEAD is GET without the body (node leaves the body out), as Starlette and most servers answer.
    const method = asked === "HEAD" ? "GET" : asked;
    let match = exact.get(`${method} ${path}`);
    let rawParams: string[] = [];
    if (!match) {
      for (const p of patterns) {
        const m = p.method === method ? p.pattern.exec(path) : null;
        if (m) {
          match = p;
          rawParams = m.slice(1);
          break;
        }
      }
    }
    if (!match) return unmatched(res, asked, path);
    const { route, surface, names } = match;
    const fail = failWith(surface, res);
    // Anything a handler throws, synchronously or not, becomes the surface's error response.
    try {
      route.handler(req, res, decodeParams(names, rawParams)).catch(fail);
    } catch (err) {
      fail(err);
    }
    return true;
  };

  /** No route for this method: a 405 for a known path, a 404 under a surface's prefix, else not ours. */
  function unmatched(res: NodeResponse, method: string, path: string): boolean {
    const others = all.filter((c) => c.pattern.test(path));
    const existing = others.filter((c) => {
      if (!c.route.exists) return true;
      const m = c.pattern.exec(path)!;
      try {
        return c.route.exists(decodeParams(c.names, m.slice(1)));
      } catch {
        return false;
      }
    });
    if (existing.length > 0) {
      const surface = existing[0]!.surface;
      const allowed = [...new Set(existing.map((c) => c.method))];
      try {
        const r = surface.renderMethodNotAllowed?.(method, path, allowed) ?? defaultMethodNotAllowed(method, path);
        send(res, r, { allow: allowed.join(", ") });
      } catch (err) {
        failWith(surface, res)(err);
      }
      return true;
    }
    const owner = others[0]?.surface ?? prefixed.find((p) => path.startsWith(p.prefix) || `${path}/` === p.prefix)?.surface;
    if (!owner) return false;
    try {
      send(res, owner.renderNotFound?.(method, path) ?? owner.renderError(notFoundError(method, path)));
    } catch (err) {
      failWith(owner, res)(err);
    }
    return true;
  }
}

function failWith(surface: RestSurface, res: NodeResponse) {
  return (err: unknown) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    send(res, surface.renderError(err));
  };
}

function send(res: NodeResponse, r: RenderedError, extra: Record<string, string> = {}): void {
  sendJson(res, r.status, r.body, { ...r.headers, ...extra });
}

function normalise(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

function notFoundError(method: string, path: string) {
  return notFound(`no route for ${method} ${path}`);
}

function defaultMethodNotAllowed(method: string, path: string): RenderedError {
  return {
    status: 405,
    body: { error: { message: `method ${method} not allowed on ${path}`, type: "invalid_request_error", param: null, code: null } },
    headers: {},
  };
}

/** Path parameters, percent-decoded; a malformed escape (`%`, `%E0%A4`, `%FF`) is the caller's error. */
function decodeParams(names: readonly string[], raw: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  names.forEach((name, i) => {
    const value = raw[i] ?? "";
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      throw invalidArgument(`path parameter ${name}: malformed percent-encoding`);
    }
  });
  return params;
}
