// Schema-checked Predict against a real `mlflow server` from PyPI (the venv of
// `bash test/otel/setup.sh mlflow`): test/mlflow-registry/log-churn-model.py registers two
// versions of a pyfunc model with signatures (v1: age, plan, visits?; v2 renamed age to years;
// alias champion -> 2). The gateway reads each version's MLmodel through the tracking server and
// checks inputs before the fake scoring server (test/fakes/fake-upstream.ts, /churn/N/invocations)
// is called; an endpoint's transformation lets clients keep sending `age` to version 2. On gRPC
// (connect-node) and the MLflow REST surface.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromJson } from "@bufbuild/protobuf";
import { ListValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PredictService } from "../../gen/modelgate/v1/predict_pb";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { buildOnce } from "../support/build-once";
import { freePort } from "../support/free-port";
import { clientFor } from "./clients";
import { eventually, failure, startGateway, type TestGateway } from "./harness";

/** The venv test/otel/setup.sh builds (the same hash of its requirements line). */
function mlflowVenv(): string {
  const requirements = "mlflow==3.8.1 SQLAlchemy==2.0.58";
  const hash = createHash("sha256").update(`${requirements}\n`).digest("hex").slice(0, 16);
  const cache = process.env["MODELGATE_MLFLOW_SERVER_CACHE"] ?? join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "modelgate-mlflow-server");
  return join(cache, hash, "venv");
}

const venv = mlflowVenv();
let scoring: FakeUpstream;
let mlflow: ChildProcess;
let output = "";
let mlflowUrl: string;
let gw: TestGateway;
let dir: string;
let predict: ReturnType<typeof clientFor<typeof PredictService>>;

beforeAll(async () => {
  await buildOnce(join(venv, ".complete"), fileURLToPath(new URL("../otel/setup.sh", import.meta.url)), ["mlflow"]);
  scoring = await startFakeUpstream();
  dir = mkdtempSync(join(tmpdir(), "modelgate-mlflow-schema-"));
  const port = await freePort();
  mlflowUrl = `http://127.0.0.1:${port}`;
  // Its own process group: `mlflow server` runs uvicorn as a child, stopped with it.
  mlflow = spawn(
    join(venv, "bin", "mlflow"),
    ["server", "--host", "127.0.0.1", "--port", String(port), "--workers", "1", "--backend-store-uri", `sqlite:///${join(dir, "mlflow.db")}`, "--default-artifact-root", join(dir, "artifacts")],
    { stdio: ["ignore", "pipe", "pipe"], detached: true, cwd: dir, env: { ...process.env, MLFLOW_TRACKING_URI: "" } },
  );
  mlflow.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  mlflow.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  const until = Date.now() + 110_000;
  for (;;) {
    if (mlflow.exitCode !== null) throw new Error(`mlflow server exited (${mlflow.exitCode}): ${output.slice(-2000)}`);
    const ok = await fetch(`${mlflowUrl}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > until) throw new Error(`mlflow server not ready in time: ${output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const logged = spawnSync(join(venv, "bin", "python"), [fileURLToPath(new URL("../mlflow-registry/log-churn-model.py", import.meta.url)), mlflowUrl], {
    encoding: "utf8",
    cwd: dir,
    timeout: 180_000,
    env: { ...process.env, MLFLOW_HTTP_REQUEST_MAX_RETRIES: "2" },
  });
  if (logged.status !== 0) throw new Error(`log-churn-model.py failed (${logged.status}): ${logged.stderr.slice(-2000)}`);
  const registry = (name: string) =>
    `{ provider: mlflow-model-serving, name: "${name}", config: { model_server_url: "${scoring.url}/{name}/{version}", mlflow_tracking_uri: "${mlflowUrl}" } }`;
  gw = await startGateway(`
endpoints:
  - name: churn-v1
    endpoint_type: predict
    model: ${registry("models:/churn/1")}
    policies: { predict_schema: {} }
  - name: churn-champion
    endpoint_type: predict
    model: ${registry("models:/churn@champion")}
    policies:
      predict_schema:
        transform: { rename: { age: years }, cast: { visits: long }, defaults: { plan: basic } }
  - name: churn-unchecked
    endpoint_type: predict
    model: ${registry("models:/churn/1")}
  - name: churn-v9-open
    endpoint_type: predict
    model: ${registry("models:/churn/9")}
    policies: { predict_schema: {} }
  - name: churn-v9-closed
    endpoint_type: predict
    model: ${registry("models:/churn/9")}
    policies: { predict_schema: { on_unavailable: block } }
`);
  predict = clientFor(PredictService, "grpc", gw.url);
}, 960_000);

afterAll(async () => {
  await gw?.close();
  if (mlflow?.pid !== undefined && mlflow.exitCode === null) {
    const exited = new Promise((resolve) => mlflow.once("exit", resolve));
    process.kill(-mlflow.pid, "SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (mlflow.exitCode === null) process.kill(-mlflow.pid, "SIGKILL");
  }
  await scoring?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

beforeEach(() => scoring.reset());

const records = (rows: Record<string, unknown>[]) => ({ case: "dataframeRecords" as const, value: fromJson(ListValueSchema, rows as never) });
const rest = (name: string, body: unknown) =>
  fetch(`${gw.url}/endpoints/${name}/invocations`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("Predict checked against the registered version's signature (real MLflow tracking server)", () => {
  it("calls the model with a matching input; a wrong column is refused by name before the model server is called (gRPC)", async () => {
    const ok = await predict.predict({ endpoint: "churn-v1", input: records([{ age: 30, plan: "pro", visits: 2 }]), params: { threshold: 0.7 } });
    expect(ok.modelVersion).toBe("1");
    expect(scoring.requests.map((r) => r.path)).toEqual(["/churn/1/invocations"]);
    scoring.reset();
    const err = await failure(predict.predict({ endpoint: "churn-v1", input: records([{ customer_age: 30, plan: "pro" }]) }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe('input: unknown column "customer_age" for model churn version 1 (its columns: age, plan, visits)');
    const missing = await failure(predict.predict({ endpoint: "churn-v1", input: records([{ age: 30 }]) }));
    expect(missing.rawMessage).toBe('input: column "plan" is required by model churn version 1');
    const mistyped = await failure(predict.predict({ endpoint: "churn-v1", input: records([{ age: "thirty", plan: "pro" }]) }));
    expect(mistyped.rawMessage).toBe('input: column "age", row 0: expected a number (double), got "thirty"');
    const param = await failure(predict.predict({ endpoint: "churn-v1", input: records([{ age: 30, plan: "pro" }]), params: { limit: 1 } }));
    expect(param.rawMessage).toBe('params: unknown parameter "limit" for model churn version 1 (its parameters: threshold)');
    expect(scoring.requests.length).toBe(0);
    // Five calls, one read of version 1's MLmodel (the server's access log).
    const reads = () => output.match(/GET \/model-versions\/get-artifact\?path=MLmodel&name=churn&version=1 /g)?.length ?? 0;
    await eventually(() => reads() > 0, 5_000);
    expect(reads()).toBe(1);
  });

  it("refuses on the MLflow REST surface with 400 and the column's name, and the unchecked endpoint passes it on", async () => {
    const refused = await rest("churn-v1", { dataframe_split: { columns: ["age", "tier"], data: [[30, "pro"]] } });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(await refused.json())).toContain('unknown column \\"tier\\"');
    expect(scoring.requests.length).toBe(0);
    const passed = await rest("churn-unchecked", { dataframe_split: { columns: ["age", "tier"], data: [[30, 5]] } });
    expect(passed.status).toBe(200);
    expect(scoring.requests.length).toBe(1);
  });

  it("transforms the client's columns for version 2 (the alias's), which then pass its signature: what the model server got (REST and gRPC)", async () => {
    const res = await rest("churn-champion", { dataframe_records: [{ age: 41, visits: "3" }] });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ predictions: [88], model: "churn", model_version: "2" });
    expect(scoring.requests[0]?.path).toBe("/churn/2/invocations");
    expect(scoring.requests[0]?.body).toEqual({ dataframe_records: [{ years: 41, visits: 3, plan: "basic" }] });
    const typed = await predict.predict({
      endpoint: "churn-champion",
      input: { case: "dataframeSplit", value: { columns: ["age", "plan"], data: [fromJson(ListValueSchema, [50, "pro"])] } },
    });
    expect(typed.modelVersion).toBe("2");
    expect(scoring.requests[1]?.body).toEqual({ dataframe_split: { columns: ["years", "plan"], data: [[50, "pro"]] } });
    // Without the rename, version 2's signature names what is missing.
    const err = await failure(predict.predict({ endpoint: "churn-champion", input: records([{ years: "old" }]) }));
    expect(err.rawMessage).toBe('input: column "years", row 0: expected a number (double), got "old"');
    expect(scoring.requests.length).toBe(2);
  });

  it("a version whose MLmodel cannot be read: called unchecked (logged) by default, UNAVAILABLE with on_unavailable: block", async () => {
    const open = await predict.predict({ endpoint: "churn-v9-open", input: records([{ anything: 1 }]) });
    expect(open.modelVersion).toBe("9");
    expect(scoring.requests.map((r) => r.path)).toEqual(["/churn/9/invocations"]);
    const warned = gw.logs.find((l) => l.msg === "predict signature unavailable: calling unchecked");
    expect(warned?.policy).toMatchObject({ endpoint: "churn-v9-open", model: "churn", version: "9" });
    const closed = await failure(predict.predict({ endpoint: "churn-v9-closed", input: records([{ anything: 1 }]) }));
    expect(closed.code).toBe(Code.Unavailable);
    expect(closed.rawMessage).toMatch(/^predict: the signature of churn version 9 cannot be read: /);
    expect(scoring.requests.length).toBe(1);
  });

  it("refuses a predict_schema that cannot be checked at load, naming the path", async () => {
    await expect(
      startGateway(`
endpoints:
  - name: plain
    endpoint_type: predict
    model: { provider: mlflow-model-serving, name: churn, config: { model_server_url: "${scoring.url}" } }
    policies: { predict_schema: {} }
`),
    ).rejects.toThrow(/endpoints\[0\]\.model: predict_schema\.validate reads the signature from the MLflow registry/);
  });
});
