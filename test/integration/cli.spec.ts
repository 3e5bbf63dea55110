// The modelgate command as an operator runs it: --help, config errors, start-up, SIGTERM.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { MAX_IDENTIFIER_CHARS, MAX_IDENTIFIER_ENTRIES } from "../../src/interceptors/bounds";
import { clientFor } from "./clients";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = join(root, "bin/modelgate.mjs");
const dir = mkdtempSync(join(tmpdir(), "modelgate-cli-"));
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts bin/modelgate.mjs; `env` adds to this process's environment (an undefined value removes the variable). */
function start(args: string[], env: Record<string, string | undefined> = {}) {
  const merged = { ...process.env, ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: merged });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

function writeConfig(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function listening(proc: ReturnType<typeof start>): Promise<number> {
  for (let i = 0; i < 300; i++) {
    const m = /"port":(\d+)/.exec(proc.out());
    if (m && proc.out().includes("modelgate listening")) return Number(m[1]);
    if (proc.child.exitCode !== null) throw new Error(`exited: ${proc.err()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`did not start: ${proc.out()} ${proc.err()}`);
}

describe("modelgate CLI", () => {
  it("--help prints usage and exits 0", async () => {
    const p = start(["--help"]);
    expect(await p.exited).toBe(0);
    expect(p.out()).toMatch(/^Usage: modelgate \[--config FILE\] \[--host HOST\] \[--port PORT\]\n/);
    expect(p.out()).toContain("modelgate keys");
  });

  it("an unknown flag exits 2 with usage", async () => {
    const p = start(["--bogus"]);
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain("Unknown option '--bogus'");
  });

  it("a bad config exits 1 listing every problem with its path, and no secret", async () => {
    const path = writeConfig(
      "bad.yaml",
      `
endpoints:
  - name: a
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: m, config: { openai_api_key: "sk-very-secret-value-000", openai_api_bse: "x" } }
  - name: a
    endpoint_type: llm/v1/chatt
    model: { provider: nope, name: m }
  - name: c
    endpoint_type: llm/v1/chat
    model: { provider: anthropic, name: m, config: { anthropic_api_key: $MISSING_KEY_FOR_TEST } }
    limit: { renewal_period: week, calls: 1 }
auth:
  keys:
    - { name: k, key: $MISSING_CALLER_KEY_FOR_TEST }
`,
    );
    const p = start(["--config", path]);
    expect(await p.exited).toBe(1);
    const err = p.err();
    expect(err).toContain(`invalid config ${path}`);
    expect(err).toContain("endpoints[0].model.config: unknown key(s): openai_api_bse");
    expect(err).toContain("endpoints[1].endpoint_type");
    expect(err).toContain("endpoints[2].model.config.anthropic_api_key: environment variable MISSING_KEY_FOR_TEST is not set");
    expect(err).toContain("endpoints[2].limit.renewal_period");
    expect(err).toContain("auth.keys[0].key: environment variable MISSING_CALLER_KEY_FOR_TEST is not set");
    expect(err).not.toContain("sk-very-secret-value-000");
    // Only causes: a missing variable is not also a missing value, a missing key or a short key.
    expect(err).not.toContain("expected string");
    expect(err).not.toContain("exactly one of");
    expect(err.trim().split("\n")).toHaveLength(7);
  });

  it("keys create refuses limits the API could not show back (exit 1, naming the flag's field); keys list still answers", async () => {
    const env = { MODELGATE_DATABASE_URL: `sqlite:${join(dir, "keys-limits.db")}` };
    const config = writeConfig("keys-limits.yaml", "endpoints:\n  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }\n");
    const cases: [string[], string][] = [
      [["--tpm", "1e20"], "limits.tpm: must be a whole number from 1 to 9007199254740991"],
      [["--rpm", "1.5"], "limits.rpm: must be a whole number from 1 to 4294967295"],
      [["--expires", "40000d"], "ttl: at most 3153600000 seconds (100 years)"],
    ];
    for (const [flags, message] of cases) {
      const run = start(["keys", "create", "--config", config, "--name", "x", ...flags], env);
      expect(await run.exited, run.err()).toBe(1);
      expect(run.err()).toContain(message);
    }
    const made = start(["keys", "create", "--config", config, "--name", "ok", "--tpm", "9007199254740991", "--json"], env);
    expect(await made.exited, made.err()).toBe(0);
    const list = start(["keys", "list", "--config", config, "--json"], env);
    expect(await list.exited, list.err()).toBe(0);
    expect(list.out()).toContain("9007199254740991");
  });

  it("keys create/rotate/revoke hold names to the identifier bounds of a call (exit 1, the field and limit on stderr, no stack trace)", async () => {
    const env = { MODELGATE_DATABASE_URL: `sqlite:${join(dir, "keys-bounds.db")}` };
    const config = writeConfig("keys-bounds.yaml", "endpoints:\n  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }\n");
    const endpoints = Array.from({ length: MAX_IDENTIFIER_ENTRIES + 1 }, (_, i) => `e${i}`).join(",");
    const cases: [string[], string][] = [
      [["create", "--name", "bad\u0001name"], "name: contains a control character"],
      [["create", "--name", "n".repeat(MAX_IDENTIFIER_CHARS + 1)], `name: longer than ${MAX_IDENTIFIER_CHARS} characters`],
      [["create", "--name", "x", "--team", "t".repeat(MAX_IDENTIFIER_CHARS + 1)], `team: longer than ${MAX_IDENTIFIER_CHARS} characters`],
      [["create", "--name", "x", "--team", "we\u001bb"], "team: contains a control character"],
      [["create", "--name", "x", "--role", "r".repeat(MAX_IDENTIFIER_CHARS + 1)], `roles[0]: longer than ${MAX_IDENTIFIER_CHARS} characters`],
      [["create", "--name", "x", "--endpoints", endpoints], `endpoints: more than ${MAX_IDENTIFIER_ENTRIES} entries`],
      [["create", "--name", "x", "--endpoints", "chat,c\u007fhat"], "endpoints[1]: contains a control character"],
      [["revoke", "key_\u0001"], "id: contains a control character"],
      [["rotate", "k".repeat(MAX_IDENTIFIER_CHARS + 1)], `id: longer than ${MAX_IDENTIFIER_CHARS} characters`],
    ];
    for (const [args, message] of cases) {
      const run = start(["keys", ...args, "--config", config], env);
      expect(await run.exited, run.err()).toBe(1);
      expect(run.err()).toBe(`modelgate keys: ${message}\n`);
    }
    // At the bounds, a key is made.
    const made = start(["keys", "create", "--config", config, "--name", "n".repeat(MAX_IDENTIFIER_CHARS), "--team", "t".repeat(MAX_IDENTIFIER_CHARS), "--json"], env);
    expect(await made.exited, made.err()).toBe(0);
    const list = start(["keys", "list", "--config", config, "--json"], env);
    expect(await list.exited, list.err()).toBe(0);
    expect((JSON.parse(list.out()) as { name: string }[]).map((k) => k.name)).toEqual(["n".repeat(MAX_IDENTIFIER_CHARS)]);
  });

  it("a missing file says how to name one (exit 2), for the gateway and for keys/usage; invalid YAML is reported", async () => {
    const nope = join(dir, "nope.yaml");
    const message = `modelgate: config file "${nope}" not found (give --config FILE or set MODELGATE_CONFIG)\n`;
    const runs = [
      start(["--config", nope]),
      start([], { MODELGATE_CONFIG: nope }),
      start(["keys", "list", "--config", nope], { MODELGATE_DATABASE_URL: "" }),
      start(["usage", "--config", nope], { MODELGATE_DATABASE_URL: "" }),
    ];
    for (const run of runs) {
      expect(await run.exited).toBe(2);
      expect(run.err()).toBe(message);
    }
    const yaml = start(["--config", writeConfig("broken.yaml", "endpoints: [\n  - name: x\n")]);
    expect(await yaml.exited).toBe(1);
    expect(yaml.err()).toMatch(/invalid config .*broken\.yaml/);
  });

  it("starts on the default config, logs its endpoints, and stops on SIGTERM after a running stream ends", async () => {
    const p = start(["--config", "config/default.yaml", "--port", "0"]);
    const port = await listening(p);
    expect(p.out()).toContain('"endpoint":"chat"');
    const chat = clientFor(ChatService, "grpc", `http://127.0.0.1:${port}`);
    // 20 words at the default 20 ms per word: the stream is still running when SIGTERM arrives.
    const words = Array.from({ length: 20 }, (_, i) => `w${i}`).join(" ");
    let text = "";
    let sawUsage = false;
    // One SIGTERM (a second one means "exit now"); stdout is buffered, so "shutting down" may
    // reach us only later: do not wait for it before deciding whether to signal.
    let signalled = false;
    const streaming = (async () => {
      for await (const c of chat.streamChat({ endpoint: "chat", messages: [{ role: "user", content: words }] })) {
        text += c.choices.map((d) => d.delta?.content ?? "").join("");
        if (c.usage) sawUsage = true;
        if (text.length > 0 && !signalled) {
          signalled = true;
          p.child.kill("SIGTERM");
        }
      }
    })();
    await streaming;
    expect(text).toBe(`echo: ${words}`);
    expect(sawUsage).toBe(true);
    expect(await p.exited).toBe(0);
    expect(p.out()).toContain("shutting down");
    expect(p.out()).toContain('"msg":"stopped"');
  });

  it("writes every call's log line before it exits on SIGTERM (stdout is buffered, not lost)", async () => {
    const p = start(["--config", "config/default.yaml", "--port", "0"]);
    const port = await listening(p);
    const chat = clientFor(ChatService, "grpc", `http://127.0.0.1:${port}`);
    const calls = 300;
    await Promise.all(
      Array.from({ length: calls }, (_, i) =>
        chat.chat({ endpoint: "chat", messages: [{ role: "user", content: `n${i}` }] }, { headers: { "x-request-id": `flush-${i}` } }),
      ),
    );
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    const ids = new Set(p.out().split("\n").filter((l) => l.includes('"msg":"call"')).map((l) => (JSON.parse(l) as { requestId: string }).requestId));
    expect([...ids].filter((id) => id.startsWith("flush-"))).toHaveLength(calls);
    expect(p.out().trimEnd().endsWith('"msg":"stopped"}')).toBe(true);
  });

  it("a quiet gateway's call line reaches stdout without a stop (the log buffer is flushed on a timer)", async () => {
    const p = start(["--config", "config/default.yaml", "--port", "0"]);
    const port = await listening(p);
    const chat = clientFor(ChatService, "connect-json-h1", `http://127.0.0.1:${port}`);
    await chat.chat({ endpoint: "chat", messages: [{ role: "user", content: "one" }] }, { headers: { "x-request-id": "quiet-1" } });
    // One call line (~400 bytes) is far below the 8 KiB buffer: only the 250 ms flush timer writes it.
    for (let i = 0; i < 200 && !p.out().includes('"requestId":"quiet-1"'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(p.out()).toContain('"requestId":"quiet-1"');
    expect(p.child.exitCode).toBeNull();
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it("collects start-up's garbage once, ~5 s after listening while idle (said at debug), and serves on", async () => {
    const p = start(["--config", "config/default.yaml", "--port", "0"], { LOG_LEVEL: "debug" });
    const port = await listening(p);
    // A wide margin: the collection waits 5 s, then for a moment without calls.
    for (let i = 0; i < 600 && !p.out().includes("start-up garbage collected"); i++) await new Promise((r) => setTimeout(r, 50));
    const line = p.out().split("\n").find((l) => l.includes("start-up garbage collected"));
    expect(line).toBeDefined();
    // The heap's growth per full collection is limited at start (src/server/heap-growth.ts).
    const growth = p.out().split("\n").find((l) => l.includes("V8 heap growth per full collection"));
    expect((JSON.parse(growth!) as { heapGrowingPercent: unknown }).heapGrowingPercent).toBe(100);
    const logged = JSON.parse(line!) as { heapUsedMb: number[]; pauseMs: number };
    expect(logged.heapUsedMb).toHaveLength(2);
    expect(logged.heapUsedMb.every((n) => n > 0)).toBe(true);
    expect(logged.pauseMs).toBeGreaterThanOrEqual(0);
    const chat = clientFor(ChatService, "connect-json-h1", `http://127.0.0.1:${port}`);
    const res = await chat.chat({ endpoint: "chat", messages: [{ role: "user", content: "after" }] });
    expect(res.choices[0]?.message?.content).toBe("echo: after");
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it("a reload applies logging.level (call lines stop at warn and come back at info) unless $LOG_LEVEL pins it", async () => {
    const config = (level: string) => `logging: { level: ${level} }\nendpoints:\n  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }\n`;
    const until = async (p: ReturnType<typeof start>, what: (out: string) => boolean) => {
      for (let i = 0; i < 300 && !what(p.out()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(what(p.out())).toBe(true);
    };
    const reloadTo = async (p: ReturnType<typeof start>, file: string, level: string, expectChange: boolean) => {
      const changes = p.out().split('"msg":"log level changed"').length;
      const applied = p.out().split('"msg":"config reload applied"').length;
      writeConfig(file, config(level));
      p.child.kill("SIGHUP");
      if (expectChange) await until(p, (out) => out.split('"msg":"log level changed"').length > changes);
      else await until(p, (out) => out.split('"msg":"config reload applied"').length > applied);
    };
    const call = async (port: number, id: string) =>
      clientFor(ChatService, "connect-json-h1", `http://127.0.0.1:${port}`).chat({ endpoint: "chat", messages: [{ role: "user", content: id }] }, { headers: { "x-request-id": id } });

    const file = "level.yaml";
    const p = start(["--config", writeConfig(file, config("info")), "--port", "0"], { LOG_LEVEL: undefined });
    const port = await listening(p);
    await call(port, "lvl-1");
    await until(p, (out) => out.includes('"requestId":"lvl-1"'));
    await reloadTo(p, file, "warn", true);
    expect(p.out()).toContain('"from":"info","to":"warn"');
    await call(port, "lvl-2");
    await reloadTo(p, file, "info", true);
    await call(port, "lvl-3");
    // Lines are written in order: once lvl-3's is out, lvl-2's would have been before it.
    await until(p, (out) => out.includes('"requestId":"lvl-3"'));
    expect(p.out()).not.toContain('"requestId":"lvl-2"');
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);

    // Pinned by $LOG_LEVEL: the reload applies, the level stays.
    const pinned = start(["--config", writeConfig("pinned.yaml", config("info")), "--port", "0"], { LOG_LEVEL: "info" });
    const pinnedPort = await listening(pinned);
    await reloadTo(pinned, "pinned.yaml", "warn", false);
    await call(pinnedPort, "lvl-4");
    await until(pinned, (out) => out.includes('"requestId":"lvl-4"'));
    expect(pinned.out()).not.toContain('"msg":"log level changed"');
    pinned.child.kill("SIGTERM");
    expect(await pinned.exited).toBe(0);
  });

  it("usage --by target reports each routing target with its cached and reasoning tokens (table, CSV, rows)", async () => {
    // An OpenAI-compatible upstream on loopback whose answers report cached and reasoning tokens.
    const upstream = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const body = JSON.stringify({
          id: "chatcmpl-cli-1",
          object: "chat.completion",
          created: 1_700_000_000,
          model: "m-main",
          choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
          usage: {
            prompt_tokens: 40,
            completion_tokens: 9,
            total_tokens: 49,
            prompt_tokens_details: { cached_tokens: 30 },
            completion_tokens_details: { reasoning_tokens: 4 },
          },
        });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    try {
      const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
      const model = (url: string) => `{ provider: openai, name: m-main, config: { openai_api_key: sk-cli-test-0001, openai_api_base: "${url}" } }`;
      const config = writeConfig(
        "usage-targets.yaml",
        `store: { database_url: "sqlite:${join(dir, "usage-targets.db")}" }
endpoints:
  - { name: plain, endpoint_type: llm/v1/chat, model: ${model(base)} }
  - name: routed
    endpoint_type: llm/v1/chat
    targets: [{ name: dead, model: ${model("http://127.0.0.1:1/v1")} }, { name: backup, model: ${model(base)} }]
`,
      );
      const p = start(["--config", config, "--port", "0"]);
      const chat = clientFor(ChatService, "grpc", `http://127.0.0.1:${await listening(p)}`);
      for (const endpoint of ["plain", "routed", "routed"]) await chat.chat({ endpoint, messages: [{ role: "user", content: "hi" }] });
      p.child.kill("SIGTERM"); // the ledger is flushed before exit
      expect(await p.exited).toBe(0);

      // No price for m-main: the cost is unknown (0 known dollars, every call in unknown_cost_calls).
      const csv = start(["usage", "--config", config, "--by", "target,endpoint", "--csv", "--since", "1h"]);
      expect(await csv.exited, csv.err()).toBe(0);
      expect(csv.out()).toBe(
        "target,endpoint,calls,prompt_tokens,completion_tokens,cost_usd,unknown_cost_calls,error_calls,cached_prompt_tokens,reasoning_tokens\r\n" +
          "backup,routed,2,80,18,0,2,0,60,8\r\n" +
          "m-main,plain,1,40,9,0,1,0,30,4\r\n",
      );
      const table = start(["usage", "--config", config, "--by", "target", "--since", "1h"]);
      expect(await table.exited, table.err()).toBe(0);
      expect(table.out()).toMatch(/^target +calls +prompt tokens +cached +completion tokens +reasoning /m);
      expect(table.out()).toMatch(/^total +3 +120 +90 +27 +12 /m);
      const rows = start(["usage", "--config", config, "--rows", "--since", "1h"]);
      expect(await rows.exited, rows.err()).toBe(0);
      const lines = rows.out().trim().split("\r\n");
      expect(lines[0]).toMatch(/,streamed,target,cached_prompt_tokens,reasoning_tokens,template,cache,cost_saved_usd,guardrails$/);
      expect(lines.slice(1).map((l) => l.split(",").slice(-7, -4).join(",")).sort()).toEqual(["backup,30,4", "backup,30,4", "m-main,30,4"]);
    } finally {
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  it("responses delete removes a key's or a team's stored responses (from the gateway's file, while it runs); purge the expired", async () => {
    const config = writeConfig(
      "responses.yaml",
      `store: { database_url: "sqlite:${join(dir, "responses.db")}" }
auth:
  enabled: true
  keys:
    - { name: a1, key: sk-cli-responses-a1-0001, team: alpha }
    - { name: a2, key: sk-cli-responses-a2-0001, team: alpha }
    - { name: b1, key: sk-cli-responses-b1-0001, team: beta }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
`,
    );
    const p = start(["--config", config, "--port", "0"]);
    const url = `http://127.0.0.1:${await listening(p)}`;
    const call = (key: string, init: { method?: string; path?: string; body?: unknown } = {}) =>
      fetch(`${url}${init.path ?? "/v1/responses"}`, {
        method: init.method ?? "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
    const create = async (key: string) => ((await (await call(key, { body: { model: "chat", input: "hi" } })).json()) as { id: string }).id;
    const [a1, a1b, a2, b1] = [await create("sk-cli-responses-a1-0001"), await create("sk-cli-responses-a1-0001"), await create("sk-cli-responses-a2-0001"), await create("sk-cli-responses-b1-0001")];
    const conversation = ((await (await call("sk-cli-responses-a1-0001", { path: "/v1/conversations", body: {} })).json()) as { id: string }).id;
    const status = async (key: string, id: string) => (await call(key, { method: "GET", path: `/v1/responses/${id}` })).status;

    const byKey = start(["responses", "delete", "--key", "config:a1", "--config", config]);
    expect(await byKey.exited, byKey.err()).toBe(0);
    expect(byKey.out()).toBe("removed 2 stored responses and 1 conversation of key config:a1\n");
    expect([await status("sk-cli-responses-a2-0001", a1), await status("sk-cli-responses-a2-0001", a1b), await status("sk-cli-responses-a2-0001", a2)]).toEqual([404, 404, 200]);
    expect((await call("sk-cli-responses-a1-0001", { method: "GET", path: `/v1/conversations/${conversation}` })).status).toBe(404);
    const byTeam = start(["responses", "delete", "--team", "alpha", "--json", "--config", config]);
    expect(await byTeam.exited, byTeam.err()).toBe(0);
    expect(JSON.parse(byTeam.out())).toEqual({ responses: 1, conversations: 0 });
    expect([await status("sk-cli-responses-a2-0001", a2), await status("sk-cli-responses-b1-0001", b1)]).toEqual([404, 200]);
    const purge = start(["responses", "purge", "--config", config]);
    expect(await purge.exited, purge.err()).toBe(0);
    expect(purge.out()).toBe("removed 0 stored responses that had expired\n");
    for (const args of [["delete"], ["delete", "--key", "k", "--team", "t"], ["delete", "--team", ""], ["purge", "--team", "t"], ["nope"], ["delete", "--bogus"]]) {
      const bad = start(["responses", ...args, "--config", config]);
      expect(await bad.exited, args.join(" ")).toBe(2);
      expect(bad.err(), args.join(" ")).toMatch(/^modelgate responses: .*\nRun "modelgate responses --help"/);
    }
    const help = start(["responses", "--config", config]);
    expect(await help.exited).toBe(0);
    expect(help.out()).toMatch(/^Usage: modelgate responses <command>/);
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it("a start that rebuilds the bundle leaves no esbuild service process running beside the gateway", async () => {
    // A source newer than the bundle: bin/modelgate.mjs rebuilds it with esbuild before starting.
    const now = new Date();
    utimesSync(join(root, "src/main.ts"), now, now);
    const p = start(["--config", "config/default.yaml", "--port", "0"]);
    await listening(p);
    const children = readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .flatMap((d) => {
        try {
          // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after its ")".
          const stat = readFileSync(`/proc/${d}/stat`, "utf8");
          const [, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
          return Number(ppid) === p.child.pid ? [stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))] : [];
        } catch {
          return []; // the process ended while we looked
        }
      });
    expect(children).toEqual([]);
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it("takes the port from $PORT and the config from $MODELGATE_CONFIG", async () => {
    const p = start([], { MODELGATE_CONFIG: "config/default.yaml", PORT: "0" });
    const port = await listening(p);
    expect(port).toBeGreaterThan(0);
    p.child.kill("SIGINT");
    expect(await p.exited).toBe(0);
  });

  it("run with an older Node (node bin/modelgate.mjs), it re-runs itself on the Node 24 devDependency", async () => {
    // The machine's own node, found on PATH without node_modules/.bin (which npx and npm add).
    const path = (process.env["PATH"] ?? "").split(":").filter((p) => !p.includes("node_modules")).join(":");
    const which = spawnSync("sh", ["-c", "command -v node"], { env: { PATH: path }, encoding: "utf8" });
    const systemNode = which.stdout.trim();
    const version = systemNode ? spawnSync(systemNode, ["-p", "process.versions.node"], { encoding: "utf8" }).stdout.trim() : "";
    // Without an older node on this machine there is nothing to re-run; the help must still work.
    const node = systemNode || process.execPath;
    const help = spawnSync(node, [bin, "--help"], { cwd: root, encoding: "utf8", env: { ...process.env, PATH: path } });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: modelgate/);
    if (version && Number(version.split(".")[0]) < 24) {
      const p = spawn(node, [bin, "--config", "config/default.yaml", "--port", "0"], { cwd: root, env: { ...process.env, PATH: path } });
      children.push(p);
      let out = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => p.once("exit", (code) => resolve(code)));
      for (let i = 0; i < 300 && !out.includes("modelgate listening"); i++) await new Promise((r) => setTimeout(r, 50));
      expect(out).toContain("modelgate listening");
      // SIGTERM reaches the re-run gateway, which stops cleanly; the wrapper exits with its code.
      p.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(out).toContain('"msg":"stopped"');
    }
  });
});
