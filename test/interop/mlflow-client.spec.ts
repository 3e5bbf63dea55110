// The real MLflow deployments client (Python, from PyPI) against the MLflow-compatible surface.
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { echoEndpoints, startGateway, type TestGateway } from "../integration/harness";
import { runPythonChecks, type CheckResult } from "./python-env";

const script = fileURLToPath(new URL("./python/mlflow_client_check.py", import.meta.url));
let gw: TestGateway;
let fake: FakeUpstream;
let results: Map<string, CheckResult>;

beforeAll(async () => {
  fake = await startFakeUpstream();
  gw = await startGateway(
    `endpoints:${echoEndpoints}
  - { name: churn, endpoint_type: predict, model: { provider: mlflow-model-serving, name: churn, config: { model_server_url: "${fake.url}" } } }
`,
  );
  results = await runPythonChecks(script, [gw.url]);
}, 300_000);
afterAll(async () => {
  await gw.close();
  await fake.close();
});

describe("mlflow.deployments client", () => {
  it.each([
    "list_endpoints",
    "get_endpoint",
    "predict_chat",
    "predict_completions",
    "predict_embeddings",
    "predict_model",
    "unknown_endpoint_error",
  ])("%s", (check) => {
    const r = results.get(check);
    expect(r, `the Python client printed no result for ${check}`).toBeDefined();
    expect(r?.ok, JSON.stringify(r?.detail)).toBe(true);
  });
});
