// A tiny router for the REST surfaces: exact paths and `{param}` segments, per method. Each
// surface renders its own error body; the status always comes from the one error table.
import type { NodeRequest, NodeResponse } from "../server/one-port";
import { invalidArgument } from "../errors";
import { sendJson } from "./http";

export type RestHandler = (req: NodeRequest, res: NodeResponse, params: Record<string, string>) => Promise<void>;

export interface RestRoute {
  method: "GET" | "POST";
  /** e.g. "/v1/chat/completions" or "/endpoints/{name}/invocations" */
  path: string;
  handler: RestHandler;
}

export interface RestSurface {
  routes: RestRoute[];
  /** Renders a failure in the surface's own error format. */
  renderError(err: unknown): { status: number; body: unknown; headers: Record<string, string> };
}

interface Compiled {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: RestHandler;
  surface: RestSurface;
}

/** Returns a function that serves a request if a surface owns its path, and says whether it did. */
export function createRestRouter(surfaces: RestSurface[]): (req: NodeRequest, res: NodeResponse) => boolean {
  const exact = new Map<string, Compiled>();
  const patterns: Compiled[] = [];
  const knownPaths = new Map<string, string[]>();
  for (const surface of surfaces) {
    for (const route of surface.routes) {
      const names: string[] = [];
      const source = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
        names.push(name);
        return "([^/]+)";
      });
      const compiled = { method: route.method, pattern: new RegExp(`^${source}/?$`), names, handler: route.handler, surface };
      if (names.length === 0) exact.set(`${route.method} ${route.path}`, compiled);
      else patterns.push(compiled);
      knownPaths.set(route.path, [...(knownPaths.get(route.path) ?? []), route.method]);
    }
  }
  return (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const raw = q < 0 ? url : url.slice(0, q);
    // "/api/2.0/endpoints/" and "/api/2.0/endpoints" are the same resource (MLflow's client adds the slash).
    const path = raw.length > 1 && raw.endsWith("/") ? raw.slice(0, -1) : raw;
    const method = req.method ?? "GET";
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
    if (!match) {
      const allowed = knownPaths.get(path);
      if (allowed && !allowed.includes(method)) {
        sendJson(res, 405, { error: { message: `method ${method} not allowed on ${path}`, type: "invalid_request_error" } }, { allow: allowed.join(", ") });
        return true;
      }
      return false;
    }
    const { handler, surface, names } = match;
    const fail = (err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const { status, body, headers } = surface.renderError(err);
      sendJson(res, status, body, headers);
    };
    // Anything a handler throws, synchronously or not, becomes the surface's error response.
    try {
      handler(req, res, decodeParams(names, rawParams)).catch(fail);
    } catch (err) {
      fail(err);
    }
    return true;
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
