// The body of TGI's native POST /generate and /generate_stream: `{inputs, parameters}`
// (router/src/lib.rs GenerateRequest, GenerateParameters; docs "Consuming TGI").
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { checkSamplingExtras } from "../extras";
import { mergeExtras, seedToNumber, setIfDefined } from "../request-builder";
import type { CompleteParams } from "../types";
import { singlePrompt } from "../portable-input";

/** Parameters the gateway writes; extras (top_k, repetition_penalty, truncate ...) may not. */
const ownedParameters: ReadonlyMap<string, string> = new Map([
  ["max_new_tokens", "use the max_tokens field instead"],
  ["temperature", "use the temperature field instead"],
  ["do_sample", "set temperature instead (0 means greedy decoding)"],
  ["top_p", "use the top_p field instead"],
  ["stop", "use the stop field instead"],
  ["seed", "use the seed field instead"],
  ["details", "the gateway always asks for details (they carry the token counts)"],
  ["decoder_input_details", "the gateway sets it (it carries the prompt token count)"],
]);

/** Refuses what /generate cannot do rather than answering something else. */
function checkSupported(provider: string, params: CompleteParams): void {
  if (params.n !== undefined && params.n > 1) {
    throw invalidArgument(`${provider} does not support n > 1 (it returns one completion per request)`);
  }
  if (params.user !== "") {
    throw invalidArgument(`${provider} does not support user (it has no end-user field); leave it unset`);
  }
  if (params.seed !== undefined && params.seed < 0n) {
    throw invalidArgument(`${provider}: seed must be >= 0 (TGI takes an unsigned seed)`);
  }
}

/**
 * Sampling follows TGI's own OpenAI-compatible routes: temperature 0 means greedy decoding
 * (`do_sample: false` and no temperature, which TGI refuses unless > 0), anything else samples.
 * Under greedy decoding top_p cannot change the answer, and TGI would take it as a reason to
 * sample, so it is left out; top_p 1 keeps every token, and TGI refuses values >= 1.
 * Unary calls ask for `decoder_input_details`, whose prefill lists the prompt tokens (the only
 * prompt count /generate reports); streams may not ask for it and get `input_length` instead.
 */
export function generateBody(provider: string, params: CompleteParams, stream: boolean): JsonObject {
  checkSupported(provider, params);
  const parameters: JsonObject = {};
  setIfDefined(parameters, "max_new_tokens", params.maxTokens);
  const greedy = params.temperature === 0;
  parameters.do_sample = !greedy;
  if (!greedy) {
    setIfDefined(parameters, "temperature", params.temperature);
    if (params.topP !== undefined && params.topP < 1) parameters.top_p = params.topP;
  }
  if (params.stop.length > 0) parameters.stop = params.stop;
  if (params.seed !== undefined) parameters.seed = seedToNumber(params.seed);
  parameters.details = true;
  if (!stream) parameters.decoder_input_details = true;
  // Extras are `parameters` here: the central list applies to them directly.
  checkSamplingExtras(provider, params.extras, { owned: ownedParameters });
  mergeExtras(provider, parameters, params.extras, ownedParameters);
  return { inputs: singlePrompt(provider, params), parameters };
}
