// What an OpenAI-compatible answer's `usage` becomes: counts, breakdowns when reported, and an
// precise error (UNAVAILABLE, an unexpected upstream response) (with the field's path) for a value that is not a count.
import { describe, expect, it } from "vitest";
import { openaiWire } from "../../src/providers/openai/wire";

const wire = openaiWire("openai");

describe("openaiWire.readUsage", () => {
  it("reads the counts and the breakdowns the server reports", () => {
    expect(
      wire.readUsage(
        {
          prompt_tokens: 20,
          completion_tokens: 12,
          total_tokens: 32,
          prompt_tokens_details: { cached_tokens: 8, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 4, audio_tokens: null, accepted_prediction_tokens: 1, rejected_prediction_tokens: 2 },
        },
        "body.usage",
      ),
    ).toEqual({
      promptTokens: 20,
      completionTokens: 12,
      totalTokens: 32,
      cachedPromptTokens: 8,
      promptAudioTokens: 0,
      reasoningTokens: 4,
      acceptedPredictionTokens: 1,
      rejectedPredictionTokens: 2,
    });
  });

  it("sums a missing total, takes a missing or null completion count as 0, and ignores breakdowns that are not objects", () => {
    expect(wire.readUsage({ prompt_tokens: 5, completion_tokens: 3 }, "u")).toEqual({ promptTokens: 5, completionTokens: 3, totalTokens: 8 });
    expect(wire.readUsage({ prompt_tokens: 5, completion_tokens: null, total_tokens: null, prompt_tokens_details: null }, "u")).toEqual({
      promptTokens: 5,
      completionTokens: 0,
      totalTokens: 5,
    });
  });

  it("refuses what is not a count, naming the field", () => {
    const bad: [unknown, string][] = [
      [{ completion_tokens: 1 }, "body.usage.prompt_tokens: expected a non-negative integer, got nothing"],
      [{ prompt_tokens: -1 }, "body.usage.prompt_tokens: expected a non-negative integer"],
      [{ prompt_tokens: 1, completion_tokens: 1.5 }, "body.usage.completion_tokens: expected a non-negative integer"],
      [{ prompt_tokens: 1, total_tokens: "3" }, "body.usage.total_tokens: expected a non-negative integer"],
      [{ prompt_tokens: 1, prompt_tokens_details: { cached_tokens: "8" } }, "body.usage.prompt_tokens_details.cached_tokens: expected a non-negative integer"],
      [{ prompt_tokens: 1, completion_tokens_details: { reasoning_tokens: -2 } }, "body.usage.completion_tokens_details.reasoning_tokens: expected a non-negative integer"],
      [{ prompt_tokens: 2 ** 32 }, "body.usage.prompt_tokens: expected a non-negative integer, got 4294967296 (at most 4294967295)"],
      [{ prompt_tokens: 1, completion_tokens_details: { reasoning_tokens: 1e20 } }, "body.usage.completion_tokens_details.reasoning_tokens: expected a non-negative integer, got 100000000000000000000 (at most 4294967295)"],
      ["12", "body.usage: expected an object"],
    ];
    for (const [usage, message] of bad) expect(() => wire.readUsage(usage, "body.usage"), JSON.stringify(usage)).toThrow(message);
  });
});
