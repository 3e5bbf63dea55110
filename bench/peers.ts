// `npm run bench -- --peers [--rounds 3 --duration 10 --warmup 3]`: modelgate against other
// gateways and the floors, on the same fake OpenAI upstream and the same chat (see bench/README.md).
//
// Installs the peers once into a cache folder outside the project ($MODELGATE_BENCH_CACHE, else
// ~/.cache/modelgate-bench): Portkey's gateway (npm), LiteLLM's proxy and MLflow's gateway (PyPI,
// one venv each). Then measures every (surface, system) cell at c=1 and c=32, system after system
// within a round and round after round, so a noisy machine skews all systems alike; each figure
// is the median over the rounds. CPU per request comes from /proc/<pid>/stat of each server's
// process tree (utime + stime, children included: uvicorn / gunicorn workers).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
}

export interface PeerChild {
  name: string;
  proc: { pid?: number | undefined; exitCode: number | null };
  stderr: string;
}

/** What bench/run.ts lends: its process handling, load tools and the fake's bodies. */
export interface PeersContext {
  tmp: string;
  root: string;
  duration: number;
  warmup: number;
  rounds: number;
  model: string;
  apiKey: string;
  endpoint: string;
  messages: readonly { role: string; content: string }[];
  expectedReply: string;
  grpcBodyFile: string;
  clkTck: number;
  log: (line: string) => void;
  spawnCmd: (name: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdout: "pipe" | "ignore" }) => PeerChild;
  waitForLine: (child: PeerChild, re: RegExp, timeoutMs?: number) => Promise<RegExpExecArray>;
  stopChild: (child: PeerChild) => Promise<void>;
  startFake: () => Promise<{ url: string }>;
  startBare: (fakeUrl: string) => Promise<{ child: PeerChild; h1Url: string; h2Url: string; plainUrl: string }>;
  startGateway: (name: string, configFile: string, logLevel: string) => Promise<{ child: PeerChild; url: string }>;
  gatewayConfig: (fakeUrl: string) => string;
  /** Headers every call to modelgate carries (its API key on the full path). */
  gatewayHeaders: Record<string, string>;
  /** The same as h2load `-H` arguments. */
  gatewayH2loadHeaders: readonly string[];
  /** What modelgate runs and how it is started, for the report's header. */
  pathDescription: string;
  checkGrpc: (url: string, what: string, headers?: Record<string, string>) => Promise<number>;
  wrkScript: (name: string, body: string, headers: Record<string, string>) => string;
  wrk: (url: string, script: string, conc: 1 | 32, seconds: number) => Promise<LoadResult>;
  h2load: (url: string, conc: 1 | 32, seconds: number, expectedData: number, measure: boolean, headers?: readonly string[]) => Promise<LoadResult>;
}

// ---------------------------------------------------------------------------------------------
// Installing the peers

const PORTKEY = "@portkey-ai/gateway@1.15.2";
const LITELLM = "litellm[proxy]";
const MLFLOW = "mlflow[gateway]";

function cacheDir(): string {
  return process.env["MODELGATE_BENCH_CACHE"] ?? path.join(os.homedir(), ".cache", "modelgate-bench");
}

function sh(ctx: PeersContext, what: string, cmd: string, args: string[], cwd: string): void {
  ctx.log(`installing ${what}: ${cmd} ${args.join(" ")} (in ${cwd})`);
  const r = spawnSync(cmd, args, { cwd, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${what}: ${cmd} ${args.join(" ")} failed (${String(r.status)})\n${(r.stderr ?? "").slice(-2000)}`);
}

interface Installed {
  portkeyScript?: string;
  litellmBin?: string;
  mlflowBin?: string;
  versions: Record<string, string>;
  missing: string[];
}

/** Installs what is missing (each step once; a failed peer is left out, not fatal). */
function installPeers(ctx: PeersContext): Installed {
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const out: Installed = { versions: {}, missing: [] };
  const tryStep = (name: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      ctx.log(`WARNING ${name} left out: ${(err as Error).message.split("\n")[0]}`);
      out.missing.push(name);
    }
  };
  tryStep("Portkey", () => {
    const pk = path.join(dir, "portkey");
    const script = path.join(pk, "node_modules", "@portkey-ai", "gateway", "build", "start-server.js");
    if (!existsSync(script)) {
      mkdirSync(pk, { recursive: true });
      if (!existsSync(path.join(pk, "package.json"))) writeFileSync(path.join(pk, "package.json"), '{ "name": "modelgate-bench-peers", "private": true }\n');
      sh(ctx, "Portkey", "npm", ["install", "--no-audit", "--no-fund", PORTKEY], pk);
    }
    out.portkeyScript = script;
    out.versions["Portkey"] = (JSON.parse(readFileSync(path.join(pk, "node_modules", "@portkey-ai", "gateway", "package.json"), "utf8")) as { version: string }).version;
  });
  const venv = (name: string, spec: string, bin: string, pkg: string): string => {
    const v = path.join(dir, name);
    const exe = path.join(v, "bin", bin);
    if (!existsSync(exe)) {
      if (!existsSync(path.join(v, "bin", "pip"))) sh(ctx, name, "python3", ["-m", "venv", v], dir);
      sh(ctx, name, path.join(v, "bin", "pip"), ["install", "-q", spec], dir);
    }
    const show = spawnSync(path.join(v, "bin", "pip"), ["show", pkg], { encoding: "utf8" });
    out.versions[name] = /^Version: (\S+)/m.exec(show.stdout ?? "")?.[1] ?? "?";
    return exe;
  };
  tryStep("LiteLLM", () => (out.litellmBin = venv("litellm", LITELLM, "litellm", "litellm")));
  tryStep("MLflow", () => (out.mlflowBin = venv("mlflow", MLFLOW, "mlflow", "mlflow")));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Starting the peers

async function waitHttp(child: PeerChild, url: string, init: RequestInit, ok: (status: number, text: string) => boolean, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited (${child.proc.exitCode}) before it was ready\n${child.stderr}`);
    try {
      const res = await fetch(url, init);
      const text = await res.text();
      if (ok(res.status, text)) return;
      if (Date.now() > until) throw new Error(`${child.name}: HTTP ${res.status} ${text.slice(0, 300)}`);
    } catch (err) {
      if (Date.now() > until) throw new Error(`${child.name} not ready after ${timeoutMs / 1000} s: ${(err as Error).message}\n${child.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---------------------------------------------------------------------------------------------
// CPU of a process tree, from /proc

function treeTicks(root: number): number {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(name), Number(f[1]));
      ticks.set(Number(name), Number(f[11]) + Number(f[12]));
    } catch {
      // gone
    }
  }
  let total = 0;
  for (const [pid, t] of ticks) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        total += t;
        break;
      }
    }
  }
  return total;
}

function treeRssMb(root: number): number {
  let kb = 0;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      let p = Number(name);
      let ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      let inTree = p === root;
      while (!inTree && ppid > 1) {
        if (ppid === root) inTree = true;
        p = ppid;
        const s = readFileSync(`/proc/${p}/stat`, "utf8");
        ppid = Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]);
      }
      if (inTree) kb += Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, "utf8"))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

// ---------------------------------------------------------------------------------------------
// The matrix

type Surface = "OpenAI REST" | "MLflow REST" | "Connect JSON" | "gRPC";
interface Cell {
  surface: Surface;
  system: string;
  pid: number;
  /** runs `conc` load for `seconds`; `measure`: percentiles wanted */
  load: (conc: 1 | 32, seconds: number, measure: boolean) => Promise<LoadResult>;
  runs: { 1: (LoadResult & { cpuMs: number })[]; 32: (LoadResult & { cpuMs: number })[] };
}

const median = (xs: readonly number[]): number => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.ceil(s.length / 2) - 1]!;
};
const fInt = (x: number) => (Number.isNaN(x) ? "–" : Math.round(x).toLocaleString("en-US"));
const f2 = (x: number) => (Number.isNaN(x) ? "–" : x.toFixed(2));
const f3 = (x: number) => (Number.isNaN(x) ? "–" : x.toFixed(3));

export async function runPeers(ctx: PeersContext): Promise<string> {
  const installed = installPeers(ctx);
  const fake = await ctx.startFake();
  ctx.log(`fake upstream ${fake.url}`);
  const bare = await ctx.startBare(fake.url);
  const configFile = path.join(ctx.tmp, "modelgate.yaml");
  writeFileSync(configFile, ctx.gatewayConfig(fake.url));
  const gw = await ctx.startGateway("modelgate", configFile, "info");
  ctx.log(`modelgate ${gw.url}, bare ${bare.h1Url} / ${bare.h2Url} / ${bare.plainUrl}`);
  const systems: { name: string; child: PeerChild; url: string }[] = [];
  const free = async () => {
    const net = await import("node:net");
    return new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
  };
  const chatBody = (model: string) => JSON.stringify({ model, messages: ctx.messages });
  const okChat = (status: number, text: string) => status === 200 && text.includes(ctx.expectedReply);

  const portkeyHeaders = {
    "Content-Type": "application/json",
    Authorization: `Bearer ${ctx.apiKey}`,
    "x-portkey-provider": "openai",
    "x-portkey-custom-host": `${fake.url}/v1`,
  };
  if (installed.portkeyScript) {
    const port = await free();
    const child = ctx.spawnCmd("Portkey", process.execPath, [installed.portkeyScript, `--port=${port}`, "--headless"], {
      cwd: path.dirname(path.dirname(path.dirname(path.dirname(installed.portkeyScript)))),
      stdout: "ignore",
    });
    const url = `http://127.0.0.1:${port}`;
    await waitHttp(child, `${url}/v1/chat/completions`, { method: "POST", headers: portkeyHeaders, body: chatBody(ctx.model) }, okChat);
    systems.push({ name: "Portkey", child, url });
  }
  if (installed.litellmBin) {
    const port = await free();
    const cfg = path.join(ctx.tmp, "litellm.yaml");
    writeFileSync(
      cfg,
      `model_list:\n  - model_name: ${ctx.model}\n    litellm_params:\n      model: openai/${ctx.model}\n      api_base: ${fake.url}/v1\n      api_key: ${ctx.apiKey}\n`,
    );
    const child = ctx.spawnCmd("LiteLLM", installed.litellmBin, ["--config", cfg, "--host", "127.0.0.1", "--port", String(port), "--num_workers", "1"], {
      // Loopback only, no master key: LiteLLM refuses to start without one unless told this.
      env: { ...process.env, LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY: "true", LITELLM_LOG: "ERROR" },
      stdout: "ignore",
    });
    const url = `http://127.0.0.1:${port}`;
    await waitHttp(child, `${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: chatBody(ctx.model) }, okChat);
    systems.push({ name: "LiteLLM", child, url });
  }
  if (installed.mlflowBin) {
    const port = await free();
    const cfg = path.join(ctx.tmp, "mlflow-gateway.yaml");
    writeFileSync(
      cfg,
      `endpoints:\n  - name: ${ctx.endpoint}\n    endpoint_type: llm/v1/chat\n    model:\n      provider: openai\n      name: ${ctx.model}\n      config:\n        openai_api_key: ${ctx.apiKey}\n        openai_api_base: ${fake.url}/v1\n`,
    );
    const child = ctx.spawnCmd("MLflow gateway", installed.mlflowBin, ["gateway", "start", "--config-path", cfg, "--host", "127.0.0.1", "--port", String(port), "--workers", "1"], {
      stdout: "ignore",
    });
    const url = `http://127.0.0.1:${port}`;
    await waitHttp(child, `${url}/gateway/${ctx.endpoint}/invocations`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages: ctx.messages }) }, okChat);
    systems.push({ name: "MLflow gateway", child, url });
  }

  const gwPid = gw.child.proc.pid!;
  const barePid = bare.child.proc.pid!;
  const mlflowBody = JSON.stringify({ messages: ctx.messages });
  const connectBody = JSON.stringify({ endpoint: ctx.endpoint, messages: ctx.messages });
  const json = { "Content-Type": "application/json" };
  const gwJson = { ...json, ...ctx.gatewayHeaders };
  const s = {
    gwOpenai: ctx.wrkScript("gw-openai", chatBody(ctx.endpoint), gwJson),
    peerOpenai: ctx.wrkScript("peer-openai", chatBody(ctx.model), json),
    portkey: ctx.wrkScript("portkey", chatBody(ctx.model), portkeyHeaders),
    gwMlflow: ctx.wrkScript("gw-mlflow", mlflowBody, gwJson),
    mlflow: ctx.wrkScript("mlflow", mlflowBody, json),
    gwConnect: ctx.wrkScript("gw-connect", connectBody, gwJson),
    connect: ctx.wrkScript("connect", connectBody, json),
  };
  // the plain node:http proxy answers this one path whatever the body's other fields
  const plainPath = `${bare.plainUrl}/modelgate.v1.ChatService/Chat`;
  const gwGrpcData = await ctx.checkGrpc(gw.url, "modelgate (gRPC)", ctx.gatewayHeaders);
  const bareGrpcData = await ctx.checkGrpc(bare.h2Url, "bare (gRPC)");
  await (await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: gwJson, body: chatBody(ctx.endpoint) })).text().then((t) => {
    if (!t.includes(ctx.expectedReply)) throw new Error(`modelgate OpenAI REST: unexpected answer ${t.slice(0, 300)}`);
  });
  await (await fetch(`${gw.url}/gateway/${ctx.endpoint}/invocations`, { method: "POST", headers: gwJson, body: mlflowBody })).text().then((t) => {
    if (!t.includes(ctx.expectedReply)) throw new Error(`modelgate MLflow REST: unexpected answer ${t.slice(0, 300)}`);
  });

  const cells: Cell[] = [];
  const cell = (surface: Surface, system: string, pid: number, load: Cell["load"]) =>
    cells.push({ surface, system, pid, load, runs: { 1: [], 32: [] } });
  const wrkOn = (url: string, script: string): Cell["load"] => (c, sec) => ctx.wrk(url, script, c, sec);
  const peer = (name: string) => systems.find((x) => x.name === name);

  cell("OpenAI REST", "modelgate", gwPid, wrkOn(`${gw.url}/v1/chat/completions`, s.gwOpenai));
  const pk = peer("Portkey");
  if (pk) cell("OpenAI REST", `Portkey ${installed.versions["Portkey"]}`, pk.child.proc.pid!, wrkOn(`${pk.url}/v1/chat/completions`, s.portkey));
  const ll = peer("LiteLLM");
  if (ll) cell("OpenAI REST", `LiteLLM ${installed.versions["litellm"]} (1 worker)`, ll.child.proc.pid!, wrkOn(`${ll.url}/v1/chat/completions`, s.peerOpenai));
  cell("OpenAI REST", "bare node:http + undici proxy", barePid, wrkOn(plainPath, s.peerOpenai));
  cell("MLflow REST", "modelgate", gwPid, wrkOn(`${gw.url}/gateway/${ctx.endpoint}/invocations`, s.gwMlflow));
  const ml = peer("MLflow gateway");
  if (ml) cell("MLflow REST", `MLflow gateway ${installed.versions["mlflow"]} (1 worker)`, ml.child.proc.pid!, wrkOn(`${ml.url}/gateway/${ctx.endpoint}/invocations`, s.mlflow));
  cell("MLflow REST", "bare node:http + undici proxy", barePid, wrkOn(plainPath, s.mlflow));
  cell("Connect JSON", "modelgate", gwPid, wrkOn(`${gw.url}/modelgate.v1.ChatService/Chat`, s.gwConnect));
  cell("Connect JSON", "bare connect-node passthrough", barePid, wrkOn(`${bare.h1Url}/modelgate.v1.ChatService/Chat`, s.connect));
  cell("Connect JSON", "bare node:http + undici proxy", barePid, wrkOn(plainPath, s.connect));
  cell("gRPC", "modelgate", gwPid, (c, sec, m) => ctx.h2load(gw.url, c, sec, gwGrpcData, m, ctx.gatewayH2loadHeaders));
  cell("gRPC", "bare connect-node passthrough", barePid, (c, sec, m) => ctx.h2load(bare.h2Url, c, sec, bareGrpcData, m));

  // One row per process: the bare connect-node passthrough and the bare node:http proxy share one.
  const processName = (pid: number) => {
    const names = [...new Set(cells.filter((c) => c.pid === pid).map((c) => c.system))];
    return names.length > 1 ? `${names.join(" + ")} (one process)` : names[0]!;
  };
  const idleRss = new Map<string, number>();
  for (const c of cells) if (!idleRss.has(processName(c.pid))) idleRss.set(processName(c.pid), treeRssMb(c.pid));

  for (let round = 1; round <= ctx.rounds; round++) {
    for (const c of cells) {
      for (const conc of [1, 32] as const) {
        ctx.log(`round ${round}/${ctx.rounds} · ${c.surface} · ${c.system} · c=${conc}: ${ctx.warmup} s warm-up, ${ctx.duration} s`);
        await c.load(conc, ctx.warmup, false);
        const t0 = treeTicks(c.pid);
        const r = await c.load(conc, ctx.duration, true);
        const cpuMs = ((treeTicks(c.pid) - t0) * 1000) / ctx.clkTck / Math.max(1, r.requests);
        if (r.errors > r.requests / 100) ctx.log(`WARNING ${c.system} ${c.surface} c=${conc}: ${r.errors} of ${r.requests} failed`);
        c.runs[conc].push({ ...r, cpuMs });
      }
    }
  }
  const afterRss = new Map<string, number>();
  for (const c of cells) if (!afterRss.has(processName(c.pid))) afterRss.set(processName(c.pid), treeRssMb(c.pid));

  // --- report ---
  const fig = (c: Cell, conc: 1 | 32, k: "rps" | "p50" | "p99" | "cpuMs") => median(c.runs[conc].map((r) => r[k]));
  const out: string[] = [
    `## modelgate and its peers — ${new Date().toISOString()}`,
    "",
    `${os.cpus().length} CPUs shared by the load tool, the fake upstream and every server (and by whatever else runs on the machine). ` +
      `${ctx.rounds} rounds, each cell ${ctx.duration} s after ${ctx.warmup} s of warm-up, systems interleaved within each round; figures are medians over the rounds. ` +
      `c=1: wrk -t1 -c1 / h2load -c1 -m1; c=32: wrk -t2 -c32 / h2load -c1 -m32. ` +
      `modelgate: ${ctx.pathDescription}. ` +
      `The peers run their own defaults: Portkey ${"`"}--headless${"`"} (no auth, provider and upstream from request headers); ` +
      `LiteLLM's proxy with one worker, no master key (auth off), LITELLM_LOG=ERROR; MLflow's gateway with one worker (no auth). ` +
      `CPU ms/req: utime+stime of the server's process tree during the measured run ÷ requests.`,
  ];
  if (installed.missing.length > 0) out.push("", `Left out (install failed): ${installed.missing.join(", ")}.`);
  const surfaces: Surface[] = ["OpenAI REST", "MLflow REST", "Connect JSON", "gRPC"];
  for (const surface of surfaces) {
    const rowsOf = cells.filter((c) => c.surface === surface);
    out.push(
      "",
      `### ${surface}`,
      "",
      "| system | c=1 RPS | c=1 p50 ms | c=1 p99 ms | c=32 RPS | c=32 p50 ms | c=32 p99 ms | CPU ms/req c=32 | errors |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const c of rowsOf) {
      const errors = [...c.runs[1], ...c.runs[32]].reduce((a, r) => a + r.errors, 0);
      out.push(
        `| ${c.system} | ${fInt(fig(c, 1, "rps"))} | ${f3(fig(c, 1, "p50"))} | ${f3(fig(c, 1, "p99"))} | ${fInt(fig(c, 32, "rps"))} | ${f3(fig(c, 32, "p50"))} | ${f3(fig(c, 32, "p99"))} | ${f3(fig(c, 32, "cpuMs"))} | ${errors} |`,
      );
    }
    const mg = rowsOf.find((c) => c.system === "modelgate")!;
    const ratios: string[] = [];
    const find = (prefix: string, sur: Surface = surface) => cells.find((c) => c.surface === sur && c.system.startsWith(prefix));
    if (surface === "OpenAI REST" || surface === "MLflow REST") {
      const portkey = find("Portkey", "OpenAI REST");
      const plain = find("bare node:http");
      const other = surface === "MLflow REST" ? find("MLflow gateway") : undefined;
      const via = surface === "MLflow REST" ? " (Portkey on OpenAI REST)" : "";
      if (portkey) {
        ratios.push(`modelgate ÷ Portkey RPS c=32${via}: **${f2(fig(mg, 32, "rps") / fig(portkey, 32, "rps"))}×** (goal ≥ 3)`);
        ratios.push(`modelgate ÷ Portkey p50 c=1${via}: **${f2(fig(mg, 1, "p50") / fig(portkey, 1, "p50"))}** (goal ≤ 0.4)`);
      }
      if (plain) ratios.push(`modelgate ÷ bare Node proxy RPS c=32: **${f2(fig(mg, 32, "rps") / fig(plain, 32, "rps"))}** (goal ≥ 0.5)`);
      if (other) ratios.push(`modelgate ÷ MLflow gateway RPS c=32: **${f2(fig(mg, 32, "rps") / fig(other, 32, "rps"))}×**`);
      const lite = surface === "OpenAI REST" ? find("LiteLLM") : undefined;
      if (lite) ratios.push(`modelgate ÷ LiteLLM RPS c=32: **${f2(fig(mg, 32, "rps") / fig(lite, 32, "rps"))}×**`);
    } else {
      const floor = find("bare connect-node");
      if (floor) {
        ratios.push(`modelgate ÷ bare connect-node RPS c=32: **${f2(fig(mg, 32, "rps") / fig(floor, 32, "rps"))}** (goal ≥ 0.85)`);
        ratios.push(`modelgate − bare connect-node p50 c=1: **${(fig(mg, 1, "p50") - fig(floor, 1, "p50")).toFixed(3)} ms** (goal ≤ 0.1)`);
      }
    }
    if (ratios.length > 0) out.push("", ...ratios.map((r) => `- ${r}`));
  }
  out.push("", "### Memory (RSS of each server's process tree, MB)", "", "| system | idle (after the start checks) | after all rounds |", "| --- | ---: | ---: |");
  for (const [name, idle] of idleRss) out.push(`| ${name} | ${idle.toFixed(0)} | ${(afterRss.get(name) ?? Number.NaN).toFixed(0)} |`);
  for (const sys of systems) await ctx.stopChild(sys.child);
  return out.join("\n") + "\n";
}
