// Whether a gateway's CPU per call stays flat as it serves more calls: one gateway as `npm start`
// runs it (the bundle), on issue 11's full path (auth with a key, team and endpoint request
// quotas, the SQLite ledger, logging info to /dev/null, metrics), and batches of 20,000 unary
// calls (h2load, HTTP/1.1, 32 connections) one after another; after each batch it prints the
// process's CPU per call, each thread's (main, V8 workers, the SQLite write worker), RPS and RSS.
//   npx tsx bench/cpu-drift.ts [--surface connect|openai|mlflow] [--batches 8]
// A figure that climbs batch after batch is state that grows with the calls served (it found the
// FeedbackBook's Map trimmed from its front: +150 µs a call after 50k calls).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: opt } = parseArgs({
  options: { surface: { type: "string", default: "connect" }, batches: { type: "string", default: "8" } },
  strict: true,
});
const KEY = "mg-bench-0123456789abcdef";
const message = [{ role: "user", content: "Write one sentence about the sea." }];
const surfaces: Record<string, [string, unknown]> = {
  connect: ["/modelgate.v1.ChatService/Chat", { endpoint: "chat", messages: message }],
  openai: ["/v1/chat/completions", { model: "chat", messages: message }],
  mlflow: ["/gateway/chat/invocations", { messages: message }],
};
const surface = surfaces[opt.surface];
if (!surface) throw new Error(`--surface: one of ${Object.keys(surfaces).join(", ")}`);
const tmp = mkdtempSync(path.join(os.tmpdir(), "modelgate-cpu-drift-"));
const bodyFile = path.join(tmp, "body.json");
writeFileSync(bodyFile, JSON.stringify(surface[1]));

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });

const fake = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(root, "bench/fake-upstream-main.ts")], { stdio: ["ignore", "pipe", "inherit"] });
const fakeUrl = await new Promise<string>((resolve) =>
  fake.stdout.on("data", (b: Buffer) => {
    const m = /listening (\S+)/.exec(b.toString());
    if (m) resolve(m[1]!);
  }),
);
writeFileSync(
  path.join(tmp, "config.yaml"),
  `auth:
  enabled: true
  keys:
    - { name: bench, key: ${KEY}, team: bench, roles: [user] }
logging: { level: info }
store: { database_url: "sqlite:${tmp}/modelgate.db" }
teams:
  bench: { rpm: 1000000000 }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-bench, openai_api_base: ${fakeUrl}/v1 } }
    limit: { renewal_period: minute, calls: 1000000000 }
`,
);
const port = await freePort();
const gw = spawn(process.execPath, ["--max-semi-space-size=8", path.join(root, "bin/modelgate.mjs"), "--config", path.join(tmp, "config.yaml"), "--port", String(port)], {
  stdio: ["ignore", openSync("/dev/null", "w"), "inherit"],
  env: { ...process.env, LOG_LEVEL: "info" },
});
const stop = () => {
  gw.kill("SIGTERM");
  fake.kill("SIGTERM");
};
process.on("exit", stop);

/** CPU ticks (utime + stime) per thread name of `pid` (the main thread marked "main"). */
function threads(pid: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const name = t === String(pid) ? "main" : s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      m.set(name, (m.get(name) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return m;
}
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const h2load = (n: number) =>
  execFileSync("h2load", ["--h1", "-c", String(Math.min(32, n)), "-t", "1", "-n", String(n), "-d", bodyFile, "-H", "content-type: application/json", "-H", `authorization: Bearer ${KEY}`, `http://127.0.0.1:${port}${surface[0]}`], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

for (let ready = false, tries = 0; !ready; tries++) {
  if (tries > 100) throw new Error("the gateway did not answer within 20 s");
  await new Promise((r) => setTimeout(r, 200));
  ready = /1 succeeded/.test(h2load(1));
}
await new Promise((r) => setTimeout(r, 4_000)); // the tokenizer's background build
const HZ = 100;
const BATCH = 20_000;
process.stdout.write(`| calls served | CPU µs/call | main thread | other threads | RPS | RSS MB |\n| ---: | ---: | ---: | --- | ---: | ---: |\n`);
for (let b = 1; b <= Number(opt.batches); b++) {
  const before = threads(gw.pid!);
  const out = h2load(BATCH);
  const after = threads(gw.pid!);
  const ok = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  const rps = /finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1] ?? "?";
  const per = (name: string) => (((after.get(name) ?? 0) - (before.get(name) ?? 0)) * (1e6 / HZ)) / Math.max(1, ok);
  const total = [...after.keys()].reduce((n, k) => n + per(k), 0);
  const others = [...after.keys()].filter((k) => k !== "main" && per(k) >= 1).map((k) => `${k} ${per(k).toFixed(0)}`).join(", ");
  process.stdout.write(`| ${b * BATCH} | ${total.toFixed(0)} | ${per("main").toFixed(0)} | ${others} | ${Number(rps).toFixed(0)} | ${rssMb(gw.pid!).toFixed(0)} |\n`);
}
stop();
rmSync(tmp, { recursive: true, force: true });
process.exit(0);
