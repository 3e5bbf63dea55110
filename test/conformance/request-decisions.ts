// What the OpenAI surface does with each field of OpenAI's request schemas, when the endpoint's
// upstream speaks OpenAI's format: it reaches the upstream unchanged, in an equivalent form, is
// handled by the gateway, or is refused with a message naming it. request-fidelity.spec.ts
// sends each sample through the gateway and checks the decision, and fails for a field of the
// vendored spec that has no decision here; the README's table is rendered from this list.

export type Outcome =
  /** The body field reaches the upstream exactly as sent. */
  | { kind: "unchanged" }
  /** It reaches the upstream as `upstream` (the same meaning in another JSON form). */
  | { kind: "equivalent"; upstream: unknown }
  /** The gateway acts on it; `upstream` is what the upstream body then holds for the field. */
  | { kind: "gateway"; upstream: unknown }
  /** A 400 whose message and `param` name the field. */
  | { kind: "refused"; message: RegExp };

export interface Decision {
  field: string;
  /** A spec-valid value for the field. */
  sample: unknown;
  outcome: Outcome;
  /** Why, for the README. */
  note: string;
  /** Other body fields the sample needs (e.g. tools for tool_choice). */
  with?: Record<string, unknown>;
}

const unchanged = { kind: "unchanged" } as const;
const extra = "passed on as an extra (no typed field needed)";
const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: {} } } }];

/** CreateChatCompletionRequest, field by field (several samples where a field has several forms). */
export const chatDecisions: Decision[] = [
  { field: "model", sample: "oa-chat", outcome: { kind: "gateway", upstream: "gpt-4o" }, note: "names the endpoint; the endpoint's configured model goes upstream" },
  { field: "messages", sample: [{ role: "user", content: "hi" }], outcome: unchanged, note: "every role and message field: see the message table" },
  { field: "temperature", sample: 0.2, outcome: unchanged, note: "typed field" },
  { field: "top_p", sample: 0, outcome: unchanged, note: "typed field; 0 is valid" },
  { field: "n", sample: 2, outcome: unchanged, note: "typed field (quota reserves max_tokens × n)" },
  { field: "stop", sample: ["\n", "END"], outcome: unchanged, note: "typed field" },
  { field: "stop", sample: "END", outcome: { kind: "equivalent", upstream: ["END"] }, note: "a single stop string is sent as a list of one" },
  { field: "max_tokens", sample: 50, outcome: unchanged, note: "typed field" },
  {
    field: "max_completion_tokens",
    sample: 50,
    outcome: unchanged,
    note: "typed field (max_tokens with max_tokens_field MAX_COMPLETION_TOKENS); servers without it get max_tokens",
  },
  { field: "seed", sample: 42, outcome: unchanged, note: "typed field" },
  { field: "user", sample: "user-1234", outcome: unchanged, note: "typed field" },
  { field: "stream", sample: true, outcome: { kind: "gateway", upstream: true }, note: "the gateway streams; SSE chunks as OpenAI sends them" },
  {
    field: "stream_options",
    sample: { include_usage: false, include_obfuscation: false },
    with: { stream: true },
    outcome: { kind: "gateway", upstream: { include_usage: true } },
    note: "include_usage decides the client's usage chunk; the upstream is always asked for usage (billing); no obfuscation padding is sent",
  },
  { field: "tools", sample: tools, outcome: unchanged, note: "typed field (function tools)" },
  {
    field: "tools",
    sample: [{ type: "custom", custom: { name: "grammar" } }],
    outcome: { kind: "refused", message: /custom tools are not supported/ },
    note: "custom tools are refused",
  },
  { field: "tool_choice", sample: "required", with: { tools }, outcome: unchanged, note: "typed field" },
  { field: "tool_choice", sample: { type: "function", function: { name: "get_weather" } }, with: { tools }, outcome: unchanged, note: "typed field" },
  {
    field: "tool_choice",
    sample: { type: "allowed_tools", allowed_tools: { mode: "auto", tools: [{ type: "function", function: { name: "get_weather" } }] } },
    with: { tools },
    outcome: { kind: "refused", message: /allowed_tools and custom tools are not supported/ },
    note: "allowed_tools and custom tool choices are refused",
  },
  { field: "parallel_tool_calls", sample: false, with: { tools }, outcome: unchanged, note: "typed field" },
  { field: "response_format", sample: { type: "json_object" }, outcome: unchanged, note: "typed field" },
  {
    field: "response_format",
    sample: { type: "json_schema", json_schema: { name: "answer", schema: { type: "object", properties: { a: { type: "string" } } }, strict: true } },
    outcome: unchanged,
    note: "typed field",
  },
  { field: "frequency_penalty", sample: 0.5, outcome: unchanged, note: extra },
  { field: "presence_penalty", sample: -0.5, outcome: unchanged, note: extra },
  { field: "logit_bias", sample: { "50256": -100 }, outcome: unchanged, note: extra },
  { field: "logprobs", sample: true, outcome: unchanged, note: `${extra}; logprobs come back typed (ChatLogprobs)` },
  { field: "top_logprobs", sample: 3, with: { logprobs: true }, outcome: unchanged, note: extra },
  { field: "metadata", sample: { team: "search" }, outcome: unchanged, note: extra },
  { field: "store", sample: false, outcome: unchanged, note: extra },
  { field: "service_tier", sample: "flex", outcome: unchanged, note: `${extra}; the tier that served comes back typed` },
  { field: "modalities", sample: ["text", "audio"], with: { audio: { voice: "alloy", format: "wav" } }, outcome: unchanged, note: `${extra}; audio answers come back typed (ChatAudio)` },
  { field: "audio", sample: { voice: "alloy", format: "wav" }, with: { modalities: ["text", "audio"] }, outcome: unchanged, note: extra },
  { field: "prediction", sample: { type: "content", content: "the old text" }, outcome: unchanged, note: `${extra}; prediction token counts come back in usage` },
  { field: "reasoning_effort", sample: "low", outcome: unchanged, note: `${extra}; reasoning tokens come back in usage` },
  { field: "verbosity", sample: "low", outcome: unchanged, note: extra },
  { field: "web_search_options", sample: { search_context_size: "low" }, outcome: unchanged, note: `${extra}; URL citations come back typed (annotations)` },
  { field: "safety_identifier", sample: "hashed-user-1", outcome: unchanged, note: extra },
  { field: "prompt_cache_key", sample: "tenant-1", outcome: unchanged, note: `${extra}; cached tokens come back in usage and are billed at the cached price` },
  { field: "prompt_cache_retention", sample: "24h", outcome: unchanged, note: extra },
  { field: "prompt_cache_options", sample: { ttl: "24h" }, outcome: unchanged, note: extra },
  { field: "moderation", sample: { model: "omni-moderation-latest" }, outcome: unchanged, note: extra },
  {
    field: "functions",
    sample: [{ name: "get_weather", parameters: { type: "object", properties: {} } }],
    outcome: unchanged,
    note: `${extra} (deprecated); function_call answers come back typed`,
  },
  { field: "function_call", sample: "auto", with: { functions: [{ name: "f", parameters: { type: "object", properties: {} } }] }, outcome: unchanged, note: `${extra} (deprecated)` },
];

export interface MessageDecision {
  /** The spec's message schema and the field (or content part type) this row is about. */
  schema: string;
  field: string;
  /** The whole message as sent (after a user message). */
  message: Record<string, unknown>;
  outcome: Outcome;
  note: string;
}

const audioPart = { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } };
const filePart = { type: "file", file: { file_id: "file-abc123" } };

/** Each message schema's fields (and content part types), on an OpenAI-format upstream. */
export const messageDecisions: MessageDecision[] = [
  { schema: "ChatCompletionRequestDeveloperMessage", field: "role", message: { role: "developer", content: "Be brief." }, outcome: unchanged, note: "kept (system only for providers without it)" },
  { schema: "ChatCompletionRequestDeveloperMessage", field: "content", message: { role: "developer", content: [{ type: "text", text: "Be brief." }] }, outcome: unchanged, note: "text or text parts" },
  { schema: "ChatCompletionRequestDeveloperMessage", field: "name", message: { role: "developer", content: "Be brief.", name: "ops" }, outcome: unchanged, note: "kept" },
  { schema: "ChatCompletionRequestSystemMessage", field: "role", message: { role: "system", content: "Be brief." }, outcome: unchanged, note: "kept" },
  { schema: "ChatCompletionRequestSystemMessage", field: "content", message: { role: "system", content: [{ type: "text", text: "Be brief." }] }, outcome: unchanged, note: "text or text parts" },
  { schema: "ChatCompletionRequestSystemMessage", field: "name", message: { role: "system", content: "Be brief.", name: "ops" }, outcome: unchanged, note: "kept" },
  { schema: "ChatCompletionRequestUserMessage", field: "role", message: { role: "user", content: "Hi" }, outcome: unchanged, note: "kept" },
  {
    schema: "ChatCompletionRequestUserMessage",
    field: "content",
    message: { role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image_url", image_url: { url: "https://example.com/cat.png", detail: "low" } }] },
    outcome: unchanged,
    note: "text and image_url parts",
  },
  {
    schema: "ChatCompletionRequestUserMessage",
    field: "content (input_audio part)",
    message: { role: "user", content: [audioPart] },
    outcome: { kind: "refused", message: /input_audio and file parts are not supported/ },
    note: "refused: no typed field for audio input",
  },
  {
    schema: "ChatCompletionRequestUserMessage",
    field: "content (file part)",
    message: { role: "user", content: [filePart] },
    outcome: { kind: "refused", message: /input_audio and file parts are not supported/ },
    note: "refused: no typed field for file input",
  },
  { schema: "ChatCompletionRequestUserMessage", field: "name", message: { role: "user", content: "Hi", name: "alice" }, outcome: unchanged, note: "kept" },
  { schema: "ChatCompletionRequestAssistantMessage", field: "role", message: { role: "assistant", content: "Hello." }, outcome: unchanged, note: "kept" },
  { schema: "ChatCompletionRequestAssistantMessage", field: "content", message: { role: "assistant", content: [{ type: "text", text: "Hello." }] }, outcome: unchanged, note: "text or text parts" },
  {
    schema: "ChatCompletionRequestAssistantMessage",
    field: "content (refusal part)",
    message: { role: "assistant", content: [{ type: "refusal", refusal: "I can't." }] },
    outcome: { kind: "equivalent", upstream: { role: "assistant", content: null, refusal: "I can't." } },
    note: "a refusal part is sent as the refusal field",
  },
  {
    schema: "ChatCompletionRequestAssistantMessage",
    field: "refusal",
    message: { role: "assistant", content: null, refusal: "I can't." },
    outcome: unchanged,
    note: "kept (providers without refusals get it as the assistant's text)",
  },
  { schema: "ChatCompletionRequestAssistantMessage", field: "name", message: { role: "assistant", content: "Hello.", name: "bot" }, outcome: unchanged, note: "kept" },
  {
    schema: "ChatCompletionRequestAssistantMessage",
    field: "audio",
    message: { role: "assistant", content: null, audio: { id: "audio_abc123" } },
    outcome: unchanged,
    note: "kept (refused by providers without audio)",
  },
  {
    schema: "ChatCompletionRequestAssistantMessage",
    field: "tool_calls",
    message: { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{}" } }] },
    outcome: unchanged,
    note: "kept (ids mapped for Mistral)",
  },
  {
    schema: "ChatCompletionRequestAssistantMessage",
    field: "function_call",
    message: { role: "assistant", content: null, function_call: { name: "get_weather", arguments: "{}" } },
    outcome: unchanged,
    note: "kept, deprecated (refused by providers without it)",
  },
  { schema: "ChatCompletionRequestToolMessage", field: "role", message: { role: "tool", content: "21", tool_call_id: "call_1" }, outcome: unchanged, note: "kept" },
  { schema: "ChatCompletionRequestToolMessage", field: "content", message: { role: "tool", content: [{ type: "text", text: "21" }], tool_call_id: "call_1" }, outcome: unchanged, note: "text or text parts" },
  { schema: "ChatCompletionRequestToolMessage", field: "tool_call_id", message: { role: "tool", content: "21", tool_call_id: "call_1" }, outcome: unchanged, note: "kept" },
  { schema: "ChatCompletionRequestFunctionMessage", field: "role", message: { role: "function", name: "get_weather", content: "21" }, outcome: unchanged, note: "kept, deprecated (refused by providers without it)" },
  { schema: "ChatCompletionRequestFunctionMessage", field: "content", message: { role: "function", name: "get_weather", content: "21" }, outcome: unchanged, note: "kept" },
  { schema: "ChatCompletionRequestFunctionMessage", field: "name", message: { role: "function", name: "get_weather", content: "21" }, outcome: unchanged, note: "kept" },
];

/** CreateCompletionRequest. */
export const completionDecisions: Decision[] = [
  { field: "model", sample: "oa-text", outcome: { kind: "gateway", upstream: "gpt-3.5-turbo-instruct" }, note: "names the endpoint" },
  { field: "prompt", sample: "Say this", outcome: unchanged, note: "typed field" },
  { field: "prompt", sample: ["Say this", "Say that"], outcome: unchanged, note: "typed field (prompts)" },
  { field: "prompt", sample: ["Say this"], outcome: { kind: "equivalent", upstream: "Say this" }, note: "a list of one prompt is sent as that prompt" },
  { field: "prompt", sample: [1212, 318, 257], outcome: unchanged, note: "typed field (token_prompts)" },
  { field: "prompt", sample: [[1212, 318], [257]], outcome: unchanged, note: "typed field (token_prompts)" },
  { field: "best_of", sample: 3, outcome: { kind: "refused", message: /best_of is not allowed/ }, note: "refused: it generates (and bills) more than quota reserved; use n" },
  { field: "echo", sample: true, outcome: unchanged, note: extra },
  { field: "frequency_penalty", sample: 0.5, outcome: unchanged, note: extra },
  { field: "presence_penalty", sample: 0.5, outcome: unchanged, note: extra },
  { field: "logit_bias", sample: { "50256": -100 }, outcome: unchanged, note: extra },
  { field: "logprobs", sample: 2, outcome: unchanged, note: `${extra}; logprobs come back typed` },
  { field: "max_tokens", sample: 20, outcome: unchanged, note: "typed field" },
  { field: "n", sample: 2, outcome: unchanged, note: "typed field" },
  { field: "seed", sample: 7, outcome: unchanged, note: "typed field" },
  { field: "stop", sample: ["\n"], outcome: unchanged, note: "typed field" },
  { field: "stream", sample: true, outcome: { kind: "gateway", upstream: true }, note: "the gateway streams" },
  { field: "stream_options", sample: { include_usage: true }, with: { stream: true }, outcome: { kind: "gateway", upstream: { include_usage: true } }, note: "as for chat" },
  { field: "suffix", sample: "end.", outcome: unchanged, note: extra },
  { field: "temperature", sample: 0, outcome: unchanged, note: "typed field" },
  { field: "top_p", sample: 0, outcome: unchanged, note: "typed field; 0 is valid" },
  { field: "user", sample: "user-1234", outcome: unchanged, note: "typed field" },
];

/** CreateEmbeddingRequest. */
export const embeddingDecisions: Decision[] = [
  { field: "model", sample: "oa-embed", outcome: { kind: "gateway", upstream: "text-embedding-3-small" }, note: "names the endpoint" },
  { field: "input", sample: ["a", "b"], outcome: unchanged, note: "typed field" },
  { field: "input", sample: "a", outcome: { kind: "equivalent", upstream: ["a"] }, note: "one text is sent as a list of one" },
  { field: "input", sample: [1212, 318], outcome: unchanged, note: "typed field (token_inputs)" },
  { field: "input", sample: [[1212, 318], [257]], outcome: unchanged, note: "typed field (token_inputs)" },
  {
    field: "encoding_format",
    sample: "base64",
    outcome: { kind: "gateway", upstream: undefined },
    note: "the gateway reads float vectors (exactly, as float64) and encodes base64 itself",
  },
  { field: "dimensions", sample: 256, outcome: unchanged, note: extra },
  { field: "user", sample: "user-1234", outcome: unchanged, note: "typed field" },
];

function outcomeText(o: Outcome): string {
  switch (o.kind) {
    case "unchanged":
      return "unchanged";
    case "equivalent":
      return `as ${JSON.stringify(o.upstream)}`;
    case "gateway":
      return "gateway";
    case "refused":
      return "refused (400)";
  }
}

const cell = (text: string) => text.replace(/\|/g, "\\|");

/** The README's tables, rendered from the decisions above. */
export function decisionTables(): string {
  const rows = (title: string, decisions: Decision[]) => [
    `| ${title} field | sample | upstream gets | why |`,
    "| --- | --- | --- | --- |",
    ...decisions.map((d) => `| \`${d.field}\` | \`${cell(JSON.stringify(d.sample))}\` | ${cell(outcomeText(d.outcome))} | ${cell(d.note)} |`),
  ];
  const messages = [
    "| message | field | upstream gets | why |",
    "| --- | --- | --- | --- |",
    ...messageDecisions.map((d) => `| ${d.schema.replace("ChatCompletionRequest", "")} | \`${d.field}\` | ${cell(outcomeText(d.outcome))} | ${cell(d.note)} |`),
  ];
  return [
    ...rows("`/v1/chat/completions`", chatDecisions),
    "",
    ...messages,
    "",
    ...rows("`/v1/completions`", completionDecisions),
    "",
    ...rows("`/v1/embeddings`", embeddingDecisions),
  ].join("\n");
}
