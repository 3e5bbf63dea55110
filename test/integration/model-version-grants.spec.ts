// Access grants can name which registry model versions a team may reach behind a predict
// endpoint: when the alias moves to a version the team has no grant for, it gets PERMISSION_DENIED.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PredictService } from "../../gen/modelgate/v1/predict_pb";
import { startFakeMlflowTracking, type FakeMlflowTracking } from "../fakes/fake-mlflow-tracking";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { failure, startGateway, type TestGateway } from "./harness";

const keyA = "sk-team-analytics-0123456789";
let scoring: FakeUpstream;
let tracking: FakeMlflowTracking;
let gw: TestGateway;

beforeAll(async () => {
  scoring = await startFakeUpstream();
  tracking = await startFakeMlflowTracking();
  tracking.setAlias("churn", "champion", 3);
  tracking.addVersion("churn", 4);
  gw = await startGateway(
    `
auth: { enabled: true, keys: [{ name: analytics, key: $KEY_A, team: analytics }] }
access:
  grants: [{ endpoints: [churn], teams: [analytics], model_versions: ["3"] }]
endpoints:
  - name: churn
    endpoint_type: predict
    model:
      provider: mlflow-model-serving
      name: "models:/churn@champion"
      config: { model_server_url: "${scoring.url}/{name}/{version}", mlflow_tracking_uri: "${tracking.url}", registry_cache_ttl_ms: 100 }
`,
    { KEY_A: keyA },
  );
});
afterAll(async () => {
  await gw.close();
  await scoring.close();
  await tracking.close();
});

const predict = () =>
  createClient(PredictService, createGrpcTransport({ baseUrl: gw.url })).predict(
    { endpoint: "churn", input: { case: "instances", value: { values: [{ kind: { case: "numberValue", value: 1 } }] } } },
    { headers: { authorization: `Bearer ${keyA}` } },
  );

describe("model version grants", () => {
  it("a granted version answers; after the alias moves to an ungranted one, PERMISSION_DENIED", async () => {
    expect((await predict()).modelVersion).toBe("3");
    tracking.setAlias("churn", "champion", 4);
    await new Promise((r) => setTimeout(r, 150));
    scoring.reset();
    const err = await failure(predict());
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.rawMessage).toBe('needs a grant for version 4 of model "churn"');
    expect(scoring.requests).toHaveLength(0); // refused before the model server is called
  });
});
