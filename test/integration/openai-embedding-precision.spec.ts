// Embedding values as the upstream sent them: 0.1 must not come back as 0.10000000149011612
// (float32 printed as float64). REST surfaces ask for precision FLOAT64; Connect JSON prints the
// upstream's numbers in either field; the binary wire stays float32 (4 bytes a value) unless a
// client asks for FLOAT64 (double_values, 8 bytes a value).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddingPrecision, EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { type ScriptedUpstream, startScriptedUpstream } from "../conformance/scripted-upstream";
import { clientFor } from "./clients";
import { startGateway, type TestGateway } from "./harness";

const values = [0.1, -0.0023064255, 0.30000001192092896, 1e-7, 0.123456789012345];
let up: ScriptedUpstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startScriptedUpstream();
  gw = await startGateway(`
endpoints:
  - { name: emb, endpoint_type: llm/v1/embeddings, model: { provider: openai, name: text-embedding-3-small, config: { openai_api_key: sk-upstream-0000, openai_api_base: "${up.url}/v1" } } }
`);
});
afterAll(async () => {
  await gw?.close();
  await up?.close();
});

function answerWith(vector: number[]): void {
  up.next("/v1/embeddings", {
    json: { object: "list", data: [{ object: "embedding", index: 0, embedding: vector }], model: "text-embedding-3-small", usage: { prompt_tokens: 1, total_tokens: 1 } },
  });
}

describe("embedding precision", () => {
  it("OpenAI REST: the upstream's numbers exactly", async () => {
    answerWith(values);
    const res = await fetch(`${gw.url}/v1/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "emb", input: "x", encoding_format: "float" }),
    });
    expect(await res.text()).toContain(`"embedding":${JSON.stringify(values)}`);
  });

  it("Connect JSON: exact in values (default) and in double_values (FLOAT64)", async () => {
    for (const [precision, field] of [[undefined, "values"], ["EMBEDDING_PRECISION_FLOAT64", "doubleValues"]] as const) {
      answerWith(values);
      const res = await fetch(`${gw.url}/modelgate.v1.EmbeddingsService/Embed`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ endpoint: "emb", inputs: ["x"], ...(precision ? { precision } : {}) }),
      });
      expect(await res.text()).toContain(`"${field}":${JSON.stringify(values)}`);
    }
  });

  it("binary: float32 by default (compact), the exact doubles with FLOAT64", async () => {
    const client = clientFor(EmbeddingsService, "grpc", gw.url);
    answerWith(values);
    const compact = await client.embed({ endpoint: "emb", inputs: ["x"] });
    expect(compact.data[0]?.values).toEqual(values.map(Math.fround));
    expect(compact.data[0]?.doubleValues).toEqual([]);
    answerWith(values);
    const exact = await client.embed({ endpoint: "emb", inputs: ["x"], precision: EmbeddingPrecision.FLOAT64 });
    expect(exact.data[0]?.doubleValues).toEqual(values);
    expect(exact.data[0]?.values).toEqual([]);
  });
});
