// What each model-aware policy adds to a call (issue 14): one gateway with an endpoint per policy,
// all on the same fake OpenAI upstream, called one call at a time (Connect JSON unary chat over
// HTTP/1.1 keep-alive), the endpoints interleaved block by block so a noisy machine skews all alike.
// Prints p50/p99 per endpoint and the difference to the endpoint with no policies.
//
//   npx tsx bench/policies.ts [--calls N] [--rounds R] [--smoke]
//
// Endpoints: none (no policies block); template (a two-part config template, variables sent);
// context (window check with drop_oldest: the request's tokens counted); guard-local (PII redact
// in and out, a regex and a deny list); guard-webhook and guard-moderation (a remote check on the
// input, on loopback fakes that allow); cache-hit (exact cache, the same request every call);
// semantic-hit (exact misses that embed to the same vector: case and spaces differ, the
// normalised text does not); semantic-miss (a new prompt every call: embedding, scan, upstream).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startFakeUpstream } from "../test/fakes/fake-upstream";
import { startFakeGuard } from "../test/fakes/fake-guard";
import { freePort } from "../test/support/free-port";

const { values: opt } = parseArgs({
  options: {
    calls: { type: "string", default: "400" },
    rounds: { type: "string", default: "5" },
    smoke: { type: "boolean", default: false },
  },
  strict: true,
});
const CALLS = opt.smoke ? 40 : Number(opt.calls);
const ROUNDS = opt.smoke ? 2 : Number(opt.rounds);
if (!Number.isInteger(CALLS) || CALLS < 2 || !Number.isInteger(ROUNDS) || ROUNDS < 1) {
  process.stderr.write("bench/policies: --calls must be an integer ≥ 2, --rounds ≥ 1\n");
  process.exit(2);
}
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const log = (s: string) => process.stderr.write(`[policies] ${s}\n`);

const QUESTION = "What is the tallest mountain on Earth and how tall is it?";

interface Case {
  endpoint: string;
  what: string;
  /** The request body for call i (Connect JSON). */
  body(i: number): unknown;
}

const plain = (endpoint: string) => () => ({
  endpoint,
  messages: [{ role: "user", content: QUESTION }],
  temperature: 0,
});

/** A variant of QUESTION whose exact key differs (letter case, by the bits of i) and normalised text does not. */
function caseVariant(i: number): string {
  let bit = 0;
  return QUESTION.replace(/[a-z]/g, (ch) => ((i >> bit++ % 30) & 1 ? ch.toUpperCase() : ch));
}

const cases: Case[] = [
  { endpoint: "none", what: "no policies", body: plain("none") },
  {
    endpoint: "template",
    what: "config template (system + user parts, 2 variables)",
    body: () => ({ endpoint: "template", messages: [], templateVariables: { question: QUESTION, product: "maps" }, temperature: 0 }),
  },
  { endpoint: "context", what: "context window check (tokens counted), drop_oldest", body: plain("context") },
  { endpoint: "guard-local", what: "PII redact in + out, regex, deny list", body: plain("guard-local") },
  { endpoint: "guard-webhook", what: "input webhook on loopback (allows)", body: plain("guard-webhook") },
  { endpoint: "guard-moderation", what: "input moderation call on loopback (not flagged)", body: plain("guard-moderation") },
  { endpoint: "cache-hit", what: "exact cache, every call a hit", body: plain("cache-hit") },
  {
    endpoint: "semantic-hit",
    what: "semantic cache hit (exact miss, embedding call, scan, hit)",
    body: (i) => ({ endpoint: "semantic-hit", messages: [{ role: "user", content: caseVariant(i + 1) }], temperature: 0 }),
  },
  {
    endpoint: "semantic-miss",
    what: "semantic cache miss (embedding call, scan, upstream, store)",
    body: (i) => ({ endpoint: "semantic-miss", messages: [{ role: "user", content: `${QUESTION} #${i}-${Math.random()}` }], temperature: 0 }),
  },
];

function config(upstream: string, guard: string): string {
  const model = `{ provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-bench, openai_api_base: "${upstream}/v1" } }`;
  const ep = (name: string, policies?: string) =>
    `  - name: ${name}\n    endpoint_type: llm/v1/chat\n    model: ${model}\n${policies ? `    policies: ${policies}\n` : ""}`;
  return `templates:
  bench:
    versions:
      - version: 1
        system: "You answer questions about {{product}} in at most {{max_words}} words."
        user: "Question: {{question}}"
        variables:
          product: { type: string, default: modelgate }
          question: { type: string }
          max_words: { type: number, default: 50 }
endpoints:
  - name: embed
    endpoint_type: llm/v1/embeddings
    model: { provider: openai, name: text-embedding-3-small, config: { openai_api_key: sk-bench, openai_api_base: "${upstream}/v1" } }
${ep("none")}${ep("template", "{ template: bench }")}${ep("context", "{ context: { on_overflow: drop_oldest } }")}${ep(
    "guard-local",
    `{ guardrails: { input: [{ type: pii, action: redact }, { type: regex, pattern: "ignore (all|previous) instructions", action: block }, { type: deny_list, terms: [forbidden-term] }], output: [{ type: pii, action: redact }] } }`,
  )}${ep("guard-webhook", `{ guardrails: { input: [{ type: webhook, url: "${guard}/hook", timeout_ms: 2000, on_error: block }] } }`)}${ep(
    "guard-moderation",
    `{ guardrails: { input: [{ type: moderation, api_base: "${guard}/v1", api_key: sk-bench, timeout_ms: 2000, on_error: block }] } }`,
  )}${ep("cache-hit", "{ cache: { ttl_ms: 600000 } }")}${ep(
    "semantic-hit",
    "{ cache: { ttl_ms: 600000, semantic: { embeddings_endpoint: embed, threshold: 0.99 } } }",
  )}${ep("semantic-miss", "{ cache: { ttl_ms: 600000, semantic: { embeddings_endpoint: embed, threshold: 0.99999 } } }")}`;
}

async function call(url: string, body: unknown): Promise<string> {
  const res = await fetch(`${url}/modelgate.v1.ChatService/Chat`, {
    method: "POST",
    headers: { "content-type": "application/json", "connect-protocol-version": "1" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${res.status}: ${text.slice(0, 300)}`);
  return res.headers.get("x-modelgate-cache") ?? "";
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const ms = (v: number) => v.toFixed(3);
const signed = (v: number) => `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(3)}`;

async function main(): Promise<void> {
  const upstream = await startFakeUpstream({ record: false });
  const guard = await startFakeGuard();
  const tmp = mkdtempSync(path.join(os.tmpdir(), "mg-bench-policies-"));
  const configFile = path.join(tmp, "config.yaml");
  writeFileSync(configFile, config(upstream.url, guard.url));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--config", configFile, "--port", String(port)], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: "info", MODELGATE_DATABASE_URL: `sqlite:${path.join(tmp, "ledger.db")}` },
    stdio: ["ignore", "ignore", "inherit"],
  });
  try {
    const until = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}) before it was ready`);
      try {
        await call(url, cases[0]!.body(0));
        break;
      } catch (err) {
        if (Date.now() > until) throw new Error(`the gateway is not ready after 60 s: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    log(`gateway ${url}, fake upstream ${upstream.url}, fake guard ${guard.url}; ${CALLS} calls × ${ROUNDS} rounds per endpoint`);
    // Warm-up (and the first answer of each cache), then check each endpoint does what it says.
    const n = new Map(cases.map((c) => [c.endpoint, 0]));
    const next = (c: Case) => {
      const i = n.get(c.endpoint)!;
      n.set(c.endpoint, i + 1);
      return c.body(i);
    };
    for (const c of cases) for (let i = 0; i < 30; i++) await call(url, next(c));
    const expectCache: Record<string, string> = { "cache-hit": "hit", "semantic-hit": "semantic-hit", "semantic-miss": "miss" };
    for (const [endpoint, want] of Object.entries(expectCache)) {
      const got = await call(url, next(cases.find((c) => c.endpoint === endpoint)!));
      if (got !== want) throw new Error(`${endpoint}: x-modelgate-cache is "${got}", expected "${want}": the bench would not measure what it says`);
    }
    const samples = new Map<string, number[]>(cases.map((c) => [c.endpoint, []]));
    const block = Math.max(1, Math.floor(CALLS / 10));
    for (let r = 0; r < ROUNDS; r++) {
      for (let done = 0; done < CALLS; done += block) {
        for (const c of cases) {
          const list = samples.get(c.endpoint)!;
          for (let i = 0; i < Math.min(block, CALLS - done); i++) {
            const body = next(c);
            const t0 = performance.now();
            await call(url, body);
            list.push(performance.now() - t0);
          }
        }
      }
    }
    const base = [...samples.get("none")!].sort((a, b) => a - b);
    const lines = [
      "## Policies: what each adds to a call",
      "",
      `${os.cpus().length} CPUs, Node ${process.version}. One call at a time, Connect JSON unary chat over HTTP/1.1 keep-alive (fetch), ${CALLS * ROUNDS} calls per endpoint in ${ROUNDS} interleaved rounds; log info, SQLite ledger, auth off.`,
      "",
      "| endpoint | policy | p50 ms | p99 ms | Δ p50 vs none ms | Δ p99 vs none ms |",
      "| --- | --- | ---: | ---: | ---: | ---: |",
    ];
    for (const c of cases) {
      const s = [...samples.get(c.endpoint)!].sort((a, b) => a - b);
      const delta = c.endpoint === "none" ? ["–", "–"] : [signed(quantile(s, 0.5) - quantile(base, 0.5)), signed(quantile(s, 0.99) - quantile(base, 0.99))];
      lines.push(`| ${c.endpoint} | ${c.what} | ${ms(quantile(s, 0.5))} | ${ms(quantile(s, 0.99))} | ${delta[0]} | ${delta[1]} |`);
    }
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    child.kill("SIGTERM");
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) resolve();
      else child.once("exit", () => resolve());
      setTimeout(() => {
        child.kill("SIGKILL");
        resolve();
      }, 10_000).unref();
    });
    await Promise.all([upstream.close(), guard.close()]);
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/policies failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
