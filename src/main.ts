// CLI entry: modelgate --config FILE [--host H] [--port N]
import { parseArgs } from "node:util";
import { pino } from "pino";
import { ConfigError, loadConfigFile } from "./config/load";
import { modelFactories } from "./providers/catalog";
import { Gateway } from "./server/gateway";

const usage = `Usage: modelgate --config FILE [--host HOST] [--port PORT]

Starts the modelgate gateway: gRPC, Connect, gRPC-Web on one port.

Options:
  -c, --config FILE   the YAML config (default: $MODELGATE_CONFIG, else config/default.yaml)
      --host HOST     address to bind (default: server.host from the config, 127.0.0.1)
  -p, --port PORT     port to bind (default: $PORT, else server.port from the config, 8080);
                      0 picks a free port
  -h, --help          show this help

Environment:
  MODELGATE_CONFIG    config file when --config is not given
  PORT                port when --port is not given
  LOG_LEVEL           overrides logging.level from the config
`;

async function main(argv: string[]): Promise<number> {
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
    if (err instanceof ConfigError) {
      process.stderr.write(`modelgate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }

  const logger = pino({
    level: process.env["LOG_LEVEL"] ?? config.file.logging.level,
    base: undefined,
    redact: { paths: ["*.authorization", "*.headers.authorization", "*.key", "*.api_key"], censor: "[redacted]" },
  });
  const gateway = await Gateway.open({ config, factories: modelFactories, logger });
  const address = await gateway.listen(args.host, port);
  for (const ep of gateway.runtimeState.endpoints.values()) {
    logger.info({ endpoint: ep.name, type: ep.type, provider: ep.provider, model: ep.model }, "endpoint loaded");
  }
  logger.info(
    { address: address.address, port: address.port, auth: config.file.auth.enabled, config: configPath },
    `modelgate listening on http://${address.address}:${address.port}`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
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
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`modelgate: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
