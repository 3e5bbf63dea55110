// Schema-checked Predict against a real `mlflow server` from PyPI (the venv of
// `bash test/otel/setup.sh mlflow`): test/mlflow-registry/log-churn-model.py registers two
// versions of a pyfunc model with signatures (v1: age, plan, visits?; v2 renamed age to years;
// alias champion -> 2). The gateway reads each version's MLmodel through the tracking server and
// checks inputs before the fake scoring server (test/fakes/fake-upstream.ts, /churn/N/invocations)
// is called; an endpoint's transformation lets clients keep sending `age` to version 2. On gRPC
// (connect-node) and the MLflow REST surface.
import { fileURLToPath } from "node:url";
import { fromJson } from "@bufbuild/protobuf";
import { ListValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PredictService } from "../../gen/modelgate/v1/predict_pb";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startMlflowServer, type MlflowServer } from "../support/mlflow-server";
import { clientFor } from "./clients";
import { eventually, failure, startGateway, type TestGateway } from "./harness";

let scoring: FakeUpstream;
let mlflow: MlflowServer | undefined;
let mlflowUrl: string;
let gw: TestGateway;
let predict: ReturnType<typeof clientFor<typeof PredictService>>;

beforeAll(async () => {
  scoring = await startFakeUpstream();
  mlflow = await startMlflowServer();
  mlflowUrl = mlflow.url;
  mlflow.pythonScript(fileURLToPath(new URL("../mlflow-registry/log-churn-model.py", import.meta.url)), [mlflowUrl], { MLFLOW_HTTP_REQUEST_MAX_RETRIES: "2" });
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
  await mlflow?.stop();
  await scoring?.close();
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
    const reads = () => mlflow!.output().match(/GET \/model-versions\/get-artifact\?path=MLmodel&name=churn&version=1 /g)?.length ?? 0;
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
