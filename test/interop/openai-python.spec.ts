// The official `openai` Python package (from PyPI) against the OpenAI-compatible surface.
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoEndpoints, startGateway, type TestGateway } from "../integration/harness";
import { runPythonChecks, type CheckResult } from "./python-env";

const script = fileURLToPath(new URL("./python/openai_client_check.py", import.meta.url));
const key = "sk-python-client-0123456789";
let gw: TestGateway;
let results: Map<string, CheckResult>;

beforeAll(async () => {
  gw = await startGateway(
    `auth: { enabled: true, keys: [{ name: py, key: $PY_KEY }] }
templates:
  greet: { versions: [{ version: 1, user: "Hello {{name}}, {{n}} times", variables: { name: {}, n: { type: number } } }] }
endpoints:${echoEndpoints}  - { name: greet, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 }, policies: { template: greet } }
`,
    { PY_KEY: key },
  );
  results = await runPythonChecks(script, [`${gw.url}/v1`, key]);
}, 300_000);
afterAll(() => gw.close());

describe("openai Python package", () => {
  it.each(["chat", "chat_stream_usage", "embeddings", "models", "template_variables", "not_found_error", "bad_request_error", "authentication_error"])("%s", (check) => {
    const r = results.get(check);
    expect(r, `the Python client printed no result for ${check}`).toBeDefined();
    expect(r?.ok, JSON.stringify(r?.detail)).toBe(true);
  });
});
