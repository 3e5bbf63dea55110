// Cost of the pre-call token estimate: estimateReservation for a ~2,000-token chat (system +
// user messages, and a variant with two tool definitions), in µs per call; and countTokens on a
// 100,000-letter run with no space (BPE is quadratic in one pre-token: it is counted in slices). Every iteration uses
// a different text so the tokenizer's merge cache only helps as much as a real vocabulary would.
//   npx tsx bench/tokens.ts [iterations]
import { create } from "@bufbuild/protobuf";
import { ChatRequestSchema, type ChatRequest } from "../gen/modelgate/v1/chat_pb";
import { countTokens, estimateReservation } from "../src/usage/tokens";

const iterations = Number(process.argv[2] ?? 2_000);

// A deterministic pseudo-language: 3,000 words from syllables, mixed with digits and punctuation.
let seed = 42;
const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
const syllables = ["ka", "lo", "mer", "tin", "qua", "zo", "pre", "ex", "ion", "ard", "vel", "sto", "rum", "bi", "neth", "or", "us", "an"];
const vocabulary = Array.from({ length: 3_000 }, () =>
  Array.from({ length: 1 + Math.floor(rand() * 4) }, () => syllables[Math.floor(rand() * syllables.length)]).join(""),
);
/** About `tokens` tokens of text (counted per added word, which is within a few tokens of the whole). */
function text(tokens: number): string {
  const words: string[] = [];
  let counted = 0;
  while (counted < tokens) {
    const w = vocabulary[Math.floor(rand() * vocabulary.length)]!;
    const word = rand() < 0.05 ? `${w} ${Math.floor(rand() * 10_000)},` : rand() < 0.08 ? `${w}.` : w;
    words.push(word);
    counted += countTokens(` ${word}`);
  }
  return words.join(" ");
}

function chat(withTools: boolean): ChatRequest {
  return create(ChatRequestSchema, {
    endpoint: "chat",
    messages: [
      { role: "system", content: text(150) },
      { role: "user", content: text(1_850) },
    ],
    maxTokens: 512,
    tools: withTools
      ? ["get_weather", "search_docs"].map((name) => ({
          type: "function",
          function: {
            name,
            description: text(20),
            parameters: { type: "object", properties: { q: { type: "string", description: text(10) }, limit: { type: "integer" } }, required: ["q"] },
          },
        }))
      : [],
  });
}

function measure(label: string, withTools: boolean): void {
  const inputs = Array.from({ length: iterations }, () => chat(withTools));
  const samples: number[] = [];
  let promptTokens = 0;
  for (const req of inputs) {
    const t0 = process.hrtime.bigint();
    promptTokens = estimateReservation(req, 1_024).promptTokens;
    samples.push(Number(process.hrtime.bigint() - t0) / 1_000);
  }
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!.toFixed(0);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  console.log(
    `${label}: ~${promptTokens} prompt tokens, ${iterations} estimates: mean ${mean.toFixed(0)} µs, p50 ${q(0.5)} µs, p99 ${q(0.99)} µs`,
  );
}

const t0 = performance.now();
countTokens("build"); // the first count builds the counter (warmTokenizer() does it 2 s after start)
console.log(`counter built in ${(performance.now() - t0).toFixed(0)} ms (once per process)`);
measure("chat", false);
measure("chat + 2 tools", true);

const run = "a".repeat(100_000);
const t1 = performance.now();
const runTokens = countTokens(run);
console.log(`100,000 letters with no space: ${runTokens} tokens in ${(performance.now() - t1).toFixed(1)} ms`);
