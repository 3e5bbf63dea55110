// The config file's shape (zod). Compatible with the MLflow AI Gateway file (`endpoints:` with
// name / endpoint_type / model / limit); our extensions (server, auth, logging) sit beside it.
import { z } from "zod";

export const endpointTypes = [
  "llm/v1/chat",
  "llm/v1/completions",
  "llm/v1/embeddings",
  "predict",
] as const;
export type EndpointType = (typeof endpointTypes)[number];

export const renewalPeriods = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
export type RenewalPeriod = keyof typeof renewalPeriods;

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "use letters, digits, '.', '_' or '-' (at most 128)");

export const limitSchema = z.strictObject({
  renewal_period: z.enum(Object.keys(renewalPeriods) as [RenewalPeriod, ...RenewalPeriod[]]),
  calls: z.number().int().positive(),
  /** MLflow's optional limit key; accepted for compatibility (limits are per endpoint). */
  key: z.string().optional(),
});

export const endpointSchema = z.strictObject({
  name,
  endpoint_type: z.enum(endpointTypes),
  model: z.strictObject({
    provider: z.string().min(1),
    name: z.string().min(1),
    /** Validated by the provider's own schema once `$ENV` references are resolved. */
    config: z.record(z.string(), z.unknown()).default({}),
  }),
  limit: limitSchema.optional(),
});

export const apiKeySchema = z
  .strictObject({
    /** A label for logs and errors; never the secret. */
    name,
    /** The key itself, normally as a `$ENV` reference. Hashed at load, never kept in clear. */
    key: z.string().min(16, "an API key needs at least 16 characters").optional(),
    /** Or the hex SHA-256 of the key, so the file holds no secret at all. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits").optional(),
    /** Endpoints this key may call; absent = all. */
    endpoints: z.array(name).optional(),
  })
  .refine((k) => (k.key === undefined) !== (k.sha256 === undefined), {
    message: "give exactly one of `key` or `sha256`",
  });

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default("127.0.0.1"),
      port: z.number().int().min(0).max(65535).default(8080),
      /** Largest request body accepted on any surface. */
      max_body_bytes: z.number().int().positive().default(4 * 1024 * 1024),
      /** How long running calls may take to finish on SIGTERM before they are cut. */
      shutdown_grace_ms: z.number().int().min(0).default(10_000),
      /** Origins allowed to call from a browser ("*" = any). */
      cors_origins: z.array(z.string().min(1)).default(["*"]),
      /** Timeout for one upstream call (headers and body idle time). */
      upstream_timeout_ms: z.number().int().positive().default(120_000),
    })
    .prefault({}),
  auth: z
    .strictObject({
      enabled: z.boolean(),
      keys: z.array(apiKeySchema).default([]),
    })
    .prefault({ enabled: false }),
  logging: z
    .strictObject({
      level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    })
    .prefault({}),
  endpoints: z.array(endpointSchema).min(1, "configure at least one endpoint"),
});

export type ConfigFile = z.infer<typeof configSchema>;
export type EndpointConfig = z.infer<typeof endpointSchema>;
export type ApiKeyConfig = z.infer<typeof apiKeySchema>;
