// Legacy text completions: POST {base}/completions (still what vLLM and instruct models serve).
// The prompt goes as the caller gave it: one text, several texts, or token ids (one list, or a
// list per prompt), where the server takes them (capabilities.tokenInputs).
import type { JsonValue } from "@bufbuild/protobuf";
import { badUpstreamResponse, invalidArgument } from "../../errors";
import { singlePrompt } from "../portable-input";
import type { CompleteParams, CompleteResult, CompleteTranslator } from "../types";
import { readTopLogprob } from "./chat-response";
import type { OpenAIDialect } from "./dialect";
import { openaiPost, ownedKeys, samplingBody } from "./sampling";
import { type OpenAIWire, openaiWire } from "./wire";

type Choice = CompleteResult["choices"][number];

/** The `prompt` field: a text, a list of texts, or token ids (flat for one prompt, nested for several). */
function promptOf(dialect: OpenAIDialect, params: CompleteParams): JsonValue {
  if (!dialect.capabilities.tokenInputs) return singlePrompt(dialect.provider, params);
  const tokenPrompts = params.tokenPrompts ?? [];
  const prompts = params.prompts ?? [];
  if (tokenPrompts.length > 0) {
    if (prompts.length > 0 || params.prompt !== "") {
      throw invalidArgument(`${dialect.provider}: token_prompts: send either text prompts or token ids, not both`);
    }
    const lists = tokenPrompts.map((t) => [...t.ids]);
    return lists.length === 1 ? lists[0]! : lists;
  }
  if (prompts.length > 0) {
    if (params.prompt !== "") throw invalidArgument(`${dialect.provider}: prompts: send either prompt or prompts, not both`);
    return prompts;
  }
  return params.prompt;
}

/** The legacy logprobs object: parallel lists, one entry per token. */
function readLogprobs(wire: OpenAIWire, value: unknown, path: string): Choice["logprobs"] {
  if (value === undefined || value === null) return undefined;
  const { read } = wire;
  const lp = read.object(value, path);
  const tokens = read.array(lp.tokens ?? [], `${path}.tokens`);
  const list = (v: unknown, at: string) => (v === undefined || v === null ? [] : read.array(v, at));
  const tokenLogprobs = list(lp.token_logprobs, `${path}.token_logprobs`);
  const tops = list(lp.top_logprobs, `${path}.top_logprobs`);
  const offsets = list(lp.text_offset, `${path}.text_offset`);
  for (const [name, l] of [["token_logprobs", tokenLogprobs], ["top_logprobs", tops], ["text_offset", offsets]] as const) {
    if (l.length !== 0 && l.length !== tokens.length) {
      throw badUpstreamResponse(wire.provider, `${path}.${name}: ${l.length} entries for ${tokens.length} tokens`);
    }
  }
  return {
    tokens: tokens.map((t, i) => {
      const logprob = tokenLogprobs[i];
      const top = tops[i];
      return {
        token: read.string(t, `${path}.tokens[${i}]`),
        ...(logprob === undefined || logprob === null ? {} : { logprob: read.number(logprob, `${path}.token_logprobs[${i}]`) }),
        topLogprobs:
          top === undefined || top === null
            ? []
            : Object.entries(read.object(top, `${path}.top_logprobs[${i}]`)).map(([token, lp]) =>
                readTopLogprob(wire, { token, logprob: lp }, `${path}.top_logprobs[${i}].${token}`),
              ),
        textOffset: offsets[i] === undefined ? 0 : read.count(offsets[i], `${path}.text_offset[${i}]`),
      };
    }),
  };
}

function readChoices(wire: OpenAIWire, values: unknown[], prefix: string): CompleteResult["choices"] {
  const { read } = wire;
  return values.map((value, i) => {
    const path = `${prefix}[${i}]`;
    const choice = read.object(value, path);
    const logprobs = readLogprobs(wire, choice.logprobs, `${path}.logprobs`);
    return {
      index: read.count(choice.index, `${path}.index`),
      text: read.string(choice.text, `${path}.text`),
      finishReason: read.stringOrEmpty(choice.finish_reason, `${path}.finish_reason`),
      ...(logprobs === undefined ? {} : { logprobs }),
    };
  });
}

export function openaiCompleteTranslator(dialect: OpenAIDialect): CompleteTranslator {
  const wire = openaiWire(dialect.provider);
  const { read } = wire;
  const owned = ownedKeys(dialect, "prompt");
  return {
    request(params, target, stream) {
      const body = samplingBody(dialect, { model: target.name, prompt: promptOf(dialect, params) }, params, stream, owned);
      return openaiPost(dialect, target, "/completions", body);
    },

    response(body): CompleteResult {
      const root = wire.readBody(body);
      const { serviceTier: _, ...metadata } = wire.readMetadata(root, "");
      return {
        id: read.string(root.id, "id"),
        model: read.string(root.model, "model"),
        ...metadata,
        choices: readChoices(wire, read.array(root.choices, "choices"), "choices"),
        usage: wire.readOptionalUsage(root.usage, "usage"),
      };
    },

    streamDecoder() {
      return wire.streamDecoder((event, choices) => {
        const { serviceTier: _, ...metadata } = wire.readMetadata(event, "stream event.");
        return {
          id: read.string(event.id, "stream event.id"),
          model: read.string(event.model, "stream event.model"),
          ...metadata,
          choices: readChoices(wire, choices, "stream event.choices"),
        };
      });
    },
  };
}
