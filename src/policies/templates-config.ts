// The top-level `templates:` block (prompt templates, name -> versions or an MLflow prompt) and
// an endpoint's `policies.template` reference to one; compiled by src/policies/templates.ts.
//
//   templates:
//     support:                        # versions kept in the config
//       versions:
//         - version: 1
//           system: "You answer questions about {{product}}."
//           user: "{{question}} (at most {{max_words}} words)"
//           variables:
//             product: { type: string, default: modelgate }
//             question: { type: string }                 # required: no default
//             max_words: { type: number, default: 100 }
//     triage:                         # MLflow's prompt registry, resolved like model aliases
//       mlflow: { uri: "prompts:/triage@production", tracking_uri: "http://mlflow:5000" }
//   endpoints:
//     - name: support
//       policies: { template: support }     # the highest version; "support@1" pins one
import { z } from "zod";
import type { ConfigProblem } from "../config/load";

/** `{{ name }}` in a template's text (MLflow's syntax; spaces inside the braces allowed). */
export const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]{0,63})\s*\}\}/g;

export const templateVariableTypes = ["string", "number", "bool"] as const;
export type TemplateVariableType = (typeof templateVariableTypes)[number];

const variableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, "use a letter or '_', then letters, digits, '_', '.' or '-' (at most 64)");
export const templateName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "use letters, digits, '.', '_' or '-' (at most 128)");

export const templateVariableSchema = z
  .strictObject({
    type: z.enum(templateVariableTypes).default("string"),
    /** Used when the caller leaves the variable out; a variable without one is required. */
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.default === undefined) return;
    const ok = v.type === "string" ? typeof v.default === "string" : v.type === "number" ? typeof v.default === "number" && Number.isFinite(v.default) : typeof v.default === "boolean";
    if (!ok) ctx.addIssue({ code: "custom", path: ["default"], input: v.default, message: `must be a ${v.type}` });
  });
export type TemplateVariableConfig = z.infer<typeof templateVariableSchema>;

const variablesSchema = z.record(variableName, templateVariableSchema).default({});

export const templateVersionSchema = z
  .strictObject({
    version: z.number().int().min(1).max(1_000_000),
    /** Sent as a system message before the caller's messages (chat), or first (completions). */
    system: z.string().max(100_000).optional(),
    /** Sent as a user message after the caller's messages (chat), or after `system` (completions). */
    user: z.string().max(100_000).optional(),
    variables: variablesSchema,
  })
  .superRefine((v, ctx) => {
    if (v.system === undefined && v.user === undefined) ctx.addIssue({ code: "custom", input: v, message: "give `system`, `user` or both" });
    const used = new Set([...(v.system ?? "").matchAll(PLACEHOLDER), ...(v.user ?? "").matchAll(PLACEHOLDER)].map((m) => m[1]!));
    for (const name of used) {
      if (!Object.hasOwn(v.variables, name)) ctx.addIssue({ code: "custom", path: ["variables"], input: v.variables, message: `{{${name}}} is used but not declared` });
    }
    for (const name of Object.keys(v.variables)) {
      if (!used.has(name)) ctx.addIssue({ code: "custom", path: ["variables", name], input: name, message: `declared but not used in system or user` });
    }
  });
export type TemplateVersionConfig = z.infer<typeof templateVersionSchema>;

/** `prompts:/NAME@ALIAS` or `prompts:/NAME/VERSION` (MLflow's prompt URIs). */
export const PROMPT_URI = /^prompts:\/([A-Za-z0-9][A-Za-z0-9._-]{0,255})(?:@([A-Za-z0-9_-]{1,255})|\/([1-9][0-9]{0,8}))$/;

export const mlflowTemplateSchema = z.strictObject({
  /** `prompts:/NAME@ALIAS` (followed: moving the alias changes the prompt within cache_ttl_ms) or `prompts:/NAME/VERSION`. */
  uri: z.string().regex(PROMPT_URI, "expected prompts:/NAME@ALIAS or prompts:/NAME/VERSION"),
  /** The MLflow tracking server, e.g. http://mlflow:5000 */
  tracking_uri: z.url({ protocol: /^https?$/ }),
  /** Sent as a Bearer token (normally a `$ENV` reference). */
  tracking_token: z.string().min(1).optional(),
  /** How long an alias's version is used before it is looked up again (stale-while-error after). */
  cache_ttl_ms: z.number().int().min(0).max(86_400_000).default(60_000),
  /**
   * Types and defaults for the prompt's `{{variables}}`; a variable not listed here is a required
   * string. A listed variable the prompt version does not use is accepted (its type checked) and
   * ignored, so callers sending it keep working when the alias moves to a version without it.
   */
  variables: variablesSchema,
});
export type MlflowTemplateConfig = z.infer<typeof mlflowTemplateSchema>;

export const templateSchema = z.union([
  z
    .strictObject({ versions: z.array(templateVersionSchema).min(1).max(1000) })
    .superRefine((t, ctx) => {
      const seen = new Set<number>();
      t.versions.forEach((v, i) => {
        if (seen.has(v.version)) ctx.addIssue({ code: "custom", path: ["versions", i, "version"], input: v.version, message: `duplicate version ${v.version}` });
        seen.add(v.version);
      });
    }),
  z.strictObject({ mlflow: mlflowTemplateSchema }),
]);
export type TemplateConfig = z.infer<typeof templateSchema>;

export const templatesSchema = z.record(templateName, templateSchema).default({});
export type TemplatesConfig = z.infer<typeof templatesSchema>;

/** An endpoint's `policies.template`: a template name, with `@VERSION` to pin a config version. */
export const templateRefSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(?:@[1-9][0-9]{0,6})?$/, "expected NAME or NAME@VERSION");

export function parseTemplateRef(ref: string): { name: string; version?: number } {
  const at = ref.lastIndexOf("@");
  return at < 0 ? { name: ref } : { name: ref.slice(0, at), version: Number(ref.slice(at + 1)) };
}

/** Endpoints naming a template that is not there, a version it does not have, or on a type without prompts. */
export function templateConfigProblems(
  templates: TemplatesConfig,
  endpoints: readonly { name: string; endpoint_type: string; policies?: { template?: string } }[],
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  endpoints.forEach((ep, i) => {
    const ref = ep.policies?.template;
    if (ref === undefined) return;
    const path = `endpoints[${i}].policies.template`;
    if (ep.endpoint_type !== "llm/v1/chat" && ep.endpoint_type !== "llm/v1/completions") {
      problems.push({ path, message: `prompt templates apply to llm/v1/chat and llm/v1/completions endpoints, not ${ep.endpoint_type}` });
      return;
    }
    const { name, version } = parseTemplateRef(ref);
    const template = Object.hasOwn(templates, name) ? templates[name] : undefined;
    if (template === undefined) {
      const known = Object.keys(templates);
      problems.push({ path, message: `unknown template "${name}" (${known.length > 0 ? `templates: ${known.join(", ")}` : "no `templates:` configured"})` });
      return;
    }
    if (version === undefined) return;
    if ("mlflow" in template) {
      problems.push({ path, message: `template "${name}" comes from MLflow (${template.mlflow.uri}): pin its version in the uri, not with @${version}` });
    } else if (!template.versions.some((v) => v.version === version)) {
      problems.push({ path, message: `template "${name}" has no version ${version} (versions: ${template.versions.map((v) => v.version).join(", ")})` });
    }
  });
  return problems;
}
