// CLI entry: modelgate [--config FILE] [--host H] [--port N], modelgate keys|usage|responses ...
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, ConfigFileNotFoundError, loadConfigFile, type LoadedConfig } from "./config/load";
import { ConfigReloader } from "./config/reload";
import { modelFactories } from "./providers/catalog";
import { createLogger } from "./observability/logger";
import { Gateway } from "./server/gateway";
import { limitHeapGrowth } from "./server/heap-growth";
import { scheduleStartupCollection } from "./server/startup-gc";
import { keysUsage, runKeysCommand } from "./cli/keys";
import { storeFromConfig } from "./cli/store-from-config";
import { runUsageCommand, usageHelp } from "./cli/usage";
import { responsesHelp, runResponsesCommand } from "./cli/responses";

const usage = `Usage: modelgate [--config FILE] [--host HOST] [--port PORT]
       modelgate keys ...        manage API keys in the store (modelgate keys --help)
       modelgate usage ...       usage report from the ledger (modelgate usage --help)
       modelgate responses ...   stored Responses API answers: a key's or team's deleted, or
                                 the expired ones purged (modelgate responses --help)

Starts the modelgate gateway: gRPC, Connect, gRPC-Web and the REST surfaces on one port.
The config is reloaded on SIGHUP and when its file changes (an invalid file is refused and
logged; the running config stays in force).

Options:
  -c, --config FILE   the YAML config (default: $MODELGATE_CONFIG, else config/default.yaml,
                      relative to the working directory)
      --host HOST     address to bind (default: server.host from the config, 127.0.0.1)
  -p, --port PORT     port to bind (default: $PORT, else server.port from the config, 8080);
                      0 picks a free port
  -h, --help          show this help

Environment:
  MODELGATE_CONFIG    config file when --config is not given
  PORT                port when --port is not given
  LOG_LEVEL           overrides logging.level from the config (reloads then keep it)
`;

/** Exit code 2 and what to do, for a config file that is not there. */
function configNotFound(path: string): number {
  process.stderr.write(`modelgate: config file "${path}" not found (give --config FILE or set MODELGATE_CONFIG)\n`);
  return 2;
}

/** `keys`, `usage` and `responses` work on the configured store directly; no running gateway is needed. */
async function subcommand(name: "keys" | "usage" | "responses", argv: string[]): Promise<number> {
  const rest = [...argv];
  let configPath = process.env["MODELGATE_CONFIG"] ?? "config/default.yaml";
  for (const flag of ["--config", "-c"]) {
    const i = rest.indexOf(flag);
    if (i >= 0) {
      configPath = rest[i + 1] ?? configPath;
      rest.splice(i, 2);
    }
  }
  const eq = rest.findIndex((a) => a.startsWith("--config="));
  if (eq >= 0) configPath = rest.splice(eq, 1)[0]!.slice("--config=".length);
  if (rest.includes("--help") || rest.includes("-h") || (name !== "usage" && rest.length === 0)) {
    process.stdout.write(name === "keys" ? keysUsage : name === "usage" ? usageHelp : responsesHelp);
    return 0;
  }
  // The store's URL comes from the file unless MODELGATE_DATABASE_URL names it.
  if (!process.env["MODELGATE_DATABASE_URL"] && !existsSync(configPath)) return configNotFound(configPath);
  const store = await storeFromConfig(configPath, process.env);
  try {
    const io = { store, out: process.stdout, err: process.stderr };
    if (name === "keys") return await runKeysCommand(rest, io);
    if (name === "responses") return await runResponsesCommand(rest, io);
    return await runUsageCommand(rest, { ...io, now: () => new Date() });
  } finally {
    await store.close();
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "keys" || argv[0] === "usage" || argv[0] === "responses") return subcommand(argv[0], argv.slice(1));
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: "string", short: "c" },
        host: { type: "string" },
        port: { type: "string", short: "p" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`modelgate: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(usage);
    return 0;
  }
  const configPath = args.config ?? process.env["MODELGATE_CONFIG"] ?? "config/default.yaml";
  const portText = args.port ?? process.env["PORT"];
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    process.stderr.write(`modelgate: invalid port "${portText}" (expected 0-65535)\n`);
    return 2;
  }

  let config;
  try {
    config = await loadConfigFile(configPath, modelFactories);
  } catch (err) {
    if (err instanceof ConfigFileNotFoundError) return configNotFound(configPath);
    if (err instanceof ConfigError) {
      process.stderr.write(`modelgate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }

  const logger = createLogger(process.env["LOG_LEVEL"] ?? config.file.logging.level);
  const heapGrowingPercent = limitHeapGrowth();
  logger.debug({ heapGrowingPercent: heapGrowingPercent ?? "as given to node" }, "V8 heap growth per full collection");
  const gateway = await Gateway.open({ config, factories: modelFactories, logger });
  const address = await gateway.listen(args.host, port);
  for (const ep of gateway.runtimeState.endpoints.values()) {
    logger.info({ endpoint: ep.name, type: ep.type, provider: ep.provider, model: ep.model }, "endpoint loaded");
  }
  logger.info(
    { address: address.address, port: address.port, auth: config.file.auth.enabled, config: configPath },
    `modelgate listening on http://${address.address}:${address.port}`,
  );

  const cancelCollection = scheduleStartupCollection({
    calls: () => gateway.calls,
    onDone: (r) =>
      r.ran
        ? logger.debug({ heapUsedMb: [mb(r.beforeBytes), mb(r.afterBytes)], pauseMs: Math.round(r.pauseMs) }, "start-up garbage collected")
        : logger.debug({ reason: r.reason }, "start-up garbage collection skipped"),
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    cancelCollection();
    logger.info({ signal }, "shutting down: finishing running calls");
    gateway.shutdown().then(
      () => {
        logger.info("stopped");
        logger.flush();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // Hot reload: on SIGHUP and when the file changes; an invalid file is refused, the running config stays.
  // logging.level is applied too, unless $LOG_LEVEL pins it: an operator turns on debug lines, or
  // quiets the call lines, without a restart.
  const pinnedLevel = process.env["LOG_LEVEL"] !== undefined;
  const apply = (c: LoadedConfig) => {
    gateway.reload(c);
    const level = c.file.logging.level;
    if (pinnedLevel || level === logger.level) return;
    // Said at the more verbose of the two levels, so a change to "silent" is on record too.
    const line = { from: logger.level, to: level };
    const quieter = logger.levels.values[level]! > logger.levelVal;
    if (quieter) logger.info(line, "log level changed");
    logger.level = level;
    if (!quieter) logger.info(line, "log level changed");
  };
  const reloader = (await new ConfigReloader({ path: configPath, factories: modelFactories, apply, log: logger }).primed()).watch();
  process.on("SIGHUP", () => void reloader.reload("SIGHUP"));
  return -1;
}

/** Bytes as MB with one decimal, for log lines. */
const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`modelgate: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
