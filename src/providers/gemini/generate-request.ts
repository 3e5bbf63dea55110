// Builds a generateContent body (https://ai.google.dev/api/generate-content#request-body):
// contents, systemInstruction, generationConfig, tools and toolConfig.
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { functionsOf, responseFormatOf, toolChoiceOf } from "../chat-content";
import { checkSamplingExtras, normalizeKey } from "../extras";
import { mergeExtras, setIfDefined } from "../request-builder";
import type { ChatParams } from "../types";
import { isRecord } from "../upstream-reader";
import { PROVIDER } from "./config";
import { toContents } from "./contents";
import { portableMessages } from "../portable-input";

const ownedKeys: ReadonlyMap<string, string> = new Map([
  ["contents", "the gateway sets it from the messages"],
  ["systemInstruction", "send a message with role system instead"],
  ["tools", "use the tools field instead"],
  ["toolConfig", "use the tool_choice field instead"],
]);

/** generationConfig keys the typed fields own; the rest may come in extras.generationConfig. */
const ownedGenerationKeys: ReadonlyMap<string, string> = new Map([
  ["temperature", "use the temperature field instead"],
  ["topP", "use the top_p field instead"],
  ["maxOutputTokens", "use the max_tokens field instead"],
  ["stopSequences", "use the stop field instead"],
  ["candidateCount", "use the n field instead"],
  ["seed", "use the seed field instead"],
  ["responseMimeType", "use the response_format field instead"],
  ["responseSchema", "use the response_format field instead"],
  ["responseJsonSchema", "use the response_format field instead"],
]);

const INT32_MAX = 2 ** 31 - 1;

/** Gemini's seed is an int32. */
function seedOf(seed: bigint): number {
  if (seed < -BigInt(INT32_MAX) - 1n || seed > BigInt(INT32_MAX)) {
    throw invalidArgument(`${PROVIDER}: seed must be a 32-bit integer (between ${-INT32_MAX - 1} and ${INT32_MAX})`);
  }
  return Number(seed);
}

function generationConfig(params: ChatParams, stream: boolean): JsonObject {
  const config: JsonObject = {};
  setIfDefined(config, "temperature", params.temperature);
  setIfDefined(config, "topP", params.topP);
  setIfDefined(config, "maxOutputTokens", params.maxTokens);
  if (params.stop.length > 0) config.stopSequences = params.stop;
  if (params.n !== undefined) {
    // A stream has no end marker per candidate (see generate-stream.ts), so it carries one.
    if (stream && params.n > 1) throw invalidArgument(`${PROVIDER}: n > 1 is only supported by the unary Chat call`);
    config.candidateCount = params.n;
  }
  if (params.seed !== undefined) config.seed = seedOf(params.seed);
  const format = responseFormatOf(PROVIDER, params);
  if (format !== undefined) config.responseMimeType = "application/json";
  // responseJsonSchema takes JSON Schema as it is; responseSchema is an OpenAPI subset.
  if (format?.type === "json_schema") config.responseJsonSchema = format.schema;
  const extra = params.extras?.generationConfig;
  if (extra !== undefined) {
    if (!isRecord(extra)) throw invalidArgument(`${PROVIDER}: extras.generationConfig must be an object`);
    for (const [key, value] of Object.entries(extra as JsonObject)) {
      const instead = ownedGenerationKeys.get(key);
      if (instead !== undefined) {
        throw invalidArgument(`${PROVIDER}: extras.generationConfig.${key} is not allowed: ${instead}`);
      }
      config[key] = value;
    }
  }
  return config;
}

/** tools + toolConfig (https://ai.google.dev/api/caching#Tool, #ToolConfig). */
function toolFields(params: ChatParams): JsonObject {
  const functions = functionsOf(PROVIDER, params.tools);
  const choice = toolChoiceOf(PROVIDER, params, functions);
  if (functions.length === 0) return {};
  if (params.parallelToolCalls === false && !(choice !== undefined && "mode" in choice && choice.mode === "none")) {
    throw invalidArgument(`${PROVIDER} cannot turn off parallel tool calls; leave parallel_tool_calls unset`);
  }
  // `strict` has no Gemini counterpart per function; parametersJsonSchema is followed as given.
  const functionDeclarations = functions.map((fn) => {
    const declaration: JsonObject = { name: fn.name, parametersJsonSchema: fn.parameters };
    if (fn.description !== "") declaration.description = fn.description;
    return declaration;
  });
  const fields: JsonObject = { tools: [{ functionDeclarations }] };
  if (choice !== undefined) {
    fields.toolConfig = {
      functionCallingConfig:
        "functionName" in choice
          ? { mode: "ANY", allowedFunctionNames: [choice.functionName] }
          : { mode: choice.mode === "required" ? "ANY" : choice.mode.toUpperCase() },
    };
  }
  return fields;
}

/**
 * Gemini takes snake_case field names too: `generation_config` would land beside our
 * generationConfig and escape the checks on it, so only the camelCase name is taken.
 */
function checkExtras(extras: JsonObject | undefined): void {
  for (const key of Object.keys(extras ?? {})) {
    if (key !== "generationConfig" && normalizeKey(key) === "generationconfig") {
      throw invalidArgument(`${PROVIDER}: extras.${key} is not allowed: write it as extras.generationConfig`);
    }
  }
  checkSamplingExtras(PROVIDER, extras, { owned: ownedKeys, nested: { generationConfig: ownedGenerationKeys } });
}

export function generateBody(params: ChatParams, stream: boolean): JsonObject {
  if (params.user !== "") {
    throw invalidArgument(`${PROVIDER} has no end-user field; leave user unset`);
  }
  checkExtras(params.extras);
  const body: JsonObject = { ...toContents(portableMessages(PROVIDER, params.messages)), ...toolFields(params) };
  const config = generationConfig(params, stream);
  if (Object.keys(config).length > 0) body.generationConfig = config;
  // extras.generationConfig was merged into generationConfig above; the rest is top level
  // (safetySettings, cachedContent, ...).
  const extras: JsonObject = { ...params.extras };
  delete extras.generationConfig;
  mergeExtras(PROVIDER, body, extras, ownedKeys);
  return body;
}
