// `modelgate responses ...`: the Responses API's stored responses and conversations in the
// configured store, for operators (no running gateway needed): remove everything a key or a team
// stored (offboarding, an erasure request), or the expired responses now.
import { parseArgs } from "node:util";
import { ConnectError } from "@connectrpc/connect";
import { purgeExpiredResponses } from "../store/response-shared";
import type { Store } from "../store/types";

export const responsesHelp = `Usage: modelgate responses <command> [--config FILE] [options]

Commands:
  delete --key ID     remove every stored response and conversation the key made (ID as
                      \`keys list\` shows it, config:NAME for a config key, jwt:SUBJECT for a
                      token's subject)
  delete --team T     remove every stored response and conversation the team's keys made
  purge               remove the expired responses now (the gateway also does, every ten
                      minutes; conversations do not expire)

Options:
  -c, --config FILE   the gateway's config (its store.database_url), or $MODELGATE_CONFIG
      --json          machine-readable output
  -h, --help          show this help
`;

export interface ResponsesDeps {
  store: Store;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  now?: () => Date;
}

/** Runs a responses subcommand; returns the exit code (0 ok, 1 the store failed, 2 bad arguments). */
export async function runResponsesCommand(argv: string[], deps: ResponsesDeps): Promise<number> {
  const fail = (message: string): number => {
    deps.err.write(`modelgate responses: ${message}\nRun "modelgate responses --help" for the options.\n`);
    return 2;
  };
  const [command, ...rest] = argv;
  let values;
  try {
    values = parseArgs({
      args: rest,
      options: { key: { type: "string" }, team: { type: "string" }, json: { type: "boolean" } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    return fail((e as Error).message);
  }
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  try {
    switch (command) {
      case "delete": {
        if ((values.key === undefined) === (values.team === undefined)) return fail("delete needs one of --key ID or --team T");
        const owner = values.key !== undefined ? { keyId: values.key } : { team: values.team! };
        const name = "keyId" in owner ? owner.keyId : owner.team;
        if (name === "") return fail(`${"keyId" in owner ? "--key" : "--team"} must not be empty`);
        const responses = await deps.store.responses.deleteOwned(owner);
        const conversations = await deps.store.conversations.deleteOwned(owner);
        deps.out.write(
          values.json
            ? `${JSON.stringify({ responses, conversations })}\n`
            : `removed ${plural(responses, "stored response")} and ${plural(conversations, "conversation")} of ${"keyId" in owner ? "key" : "team"} ${name}\n`,
        );
        return 0;
      }
      case "purge": {
        if (values.key !== undefined || values.team !== undefined) return fail("purge takes no --key or --team (it removes what has expired)");
        const responses = await purgeExpiredResponses(deps.store.responses, (deps.now ?? (() => new Date()))());
        deps.out.write(values.json ? `${JSON.stringify({ responses })}\n` : `removed ${plural(responses, "stored response")} that had expired\n`);
        return 0;
      }
      default:
        return fail(command === undefined ? "a command is needed (delete or purge)" : `unknown command ${JSON.stringify(command)} (delete or purge)`);
    }
  } catch (err) {
    deps.err.write(`modelgate responses: ${ConnectError.from(err).rawMessage}\n`);
    return 1;
  }
}
