// MLflow model serving config: where the scoring server is, and, for registry models
// (`model.name: models:/NAME@ALIAS` or `models:/NAME/VERSION`), where the tracking server is and
// how each served version is reached.
import { z } from "zod";
import { httpUrl } from "../request-builder";

export const PROVIDER = "mlflow-model-serving";

/** The placeholders `model_server_url` may hold, filled from the resolved registry model. */
export const urlPlaceholders = ["name", "version"] as const;
export type UrlPlaceholder = (typeof urlPlaceholders)[number];

const placeholderPattern = /\{([^{}]*)\}/g;

/** The placeholders a URL template uses, in order of first use. */
export function placeholdersIn(template: string): string[] {
  return [...new Set([...template.matchAll(placeholderPattern)].map((m) => m[1] ?? ""))];
}

/** Fills `{name}` and `{version}`; values are percent-encoded, as they land in a URL path. */
export function fillUrl(template: string, values: Record<UrlPlaceholder, string>): string {
  return template.replace(placeholderPattern, (_, key: string) => encodeURIComponent(values[key as UrlPlaceholder]));
}

const isHttpUrl = (text: string) =>
  URL.canParse(text) && ["http:", "https:"].includes(new URL(text).protocol);

/**
 * An http(s) URL that may hold `{name}` and `{version}`. The check fills them with sample
 * values, so a placeholder is accepted wherever a path segment or a host label could stand.
 */
const serverUrlTemplate = z.string().superRefine((template, ctx) => {
  const unknown = placeholdersIn(template).filter((p) => !(urlPlaceholders as readonly string[]).includes(p));
  if (unknown.length > 0) {
    ctx.addIssue({
      code: "custom",
      message: `unknown placeholder(s) ${unknown.map((p) => `{${p}}`).join(", ")} (use {name} and {version})`,
    });
  } else if (!isHttpUrl(fillUrl(template, { name: "model", version: "1" }))) {
    ctx.addIssue({ code: "custom", message: "must be an http(s) URL" });
  }
});

export const mlflowConfigSchema = z.strictObject({
  /**
   * Base URL of the scoring server (`mlflow models serve`); requests go to `{url}/invocations`.
   * For a registry model it may hold `{name}` and `{version}`, filled with the registered model's
   * name and the resolved version, e.g. `http://127.0.0.1:5001/{name}/{version}`: that is how
   * each served version is reached. A `models:/NAME@ALIAS` model needs `{version}` in it, so that
   * moving the alias moves the traffic.
   */
  model_server_url: serverUrlTemplate,
  /**
   * Base URL of the MLflow tracking server, whose model registry resolves `models:/NAME@ALIAS`
   * (`GET {uri}/api/2.0/mlflow/registered-models/alias`). Required for alias names; a pinned
   * `models:/NAME/VERSION` needs no lookup.
   */
  mlflow_tracking_uri: httpUrl().optional(),
  /** Bearer token for the tracking server, normally a `$ENV` reference. Never logged. */
  mlflow_tracking_token: z.string().min(1).optional(),
  /**
   * How long a resolved alias is used before it is looked up again. Moving the alias switches
   * traffic within this time, without a restart. While the tracking server cannot be reached,
   * the last resolved version stays in use.
   */
  registry_cache_ttl_ms: z.number().int().min(0).max(86_400_000).default(30_000),
});

export type MlflowConfig = z.output<typeof mlflowConfigSchema>;
