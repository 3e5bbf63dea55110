// A fake Gemini API (https://ai.google.dev/api) on loopback, speaking its real wire format:
//
//   POST /v1beta/models/{model}:generateContent               GenerateContentResponse
//   POST /v1beta/models/{model}:streamGenerateContent?alt=sse  SSE, one GenerateContentResponse
//        per `data:` (CRLF-separated), no terminal event: the last chunk has the finishReason
//   POST /v1beta/models/{model}:batchEmbedContents            {embeddings: [{values}]}
//
// The key goes in `x-goog-api-key` (missing: 403 PERMISSION_DENIED); errors are
// {"error": {"code", "message", "status"}}. Behaviour, as fake-upstream.ts:
//   - the reply is fakeReplyText(last user text), streamed in splitIntoChunks() pieces, capped
//     by generationConfig.maxOutputTokens (MAX_TOKENS), cut at stopSequences (STOP), one per
//     candidateCount. Usage: promptTokenCount = words of every text part (system instruction
//     and function responses included), candidatesTokenCount = words of the reply per candidate
//     (for a function call: its argument fragments, splitToolArguments()).
//   - tools: when the request declares functions, the mode is not NONE and the last user text
//     starts with `#tool`, the answer is one functionCall of the first function (or the first
//     allowedFunctionNames) with args fakeToolArguments(text), finishReason STOP, and the part
//     carries thoughtSignature FAKE_THOUGHT_SIGNATURE, as Gemini 3 does. When the last content
//     holds functionResponse parts, the reply is "echo: " + the JSON of their responses,
//     joined by " ", and the model turn before them must replay the signature (else 400, as
//     the real API) and have as many functionCall parts as there are responses.
//   - embeddings: fakeEmbedding(text) per request; each request's model must be the path's.
//   - directives (parseDirectives) in the last user text / the first input, applied by
//     FakeHttpServer; #stream-error sends an {"error": {... INTERNAL}} chunk.
import { countWords, fakeEmbedding, fakeToolArguments, parseDirectives, splitToolArguments } from "./fake-upstream";
import type { FakeUpstream, JsonObject, JsonValue } from "./fake-upstream";
import { type FakeCtx, FakeHttpServer, type Route, fakeReply, isObject, positiveInt, stringList } from "./fake-http";

export const FAKE_THOUGHT_SIGNATURE = Buffer.from("fake-gemini-thought-signature").toString("base64");

const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

function errorBody(status: number, message?: string): string {
  const name = STATUS_NAMES[status] ?? (status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT");
  return JSON.stringify({ error: { code: status, message: message ?? `fake gemini: ${name}`, status: name } });
}

const sse = (chunk: JsonValue): string => `data: ${JSON.stringify(chunk)}\r\n\r\n`;

function textOfParts(parts: JsonValue | undefined): string {
  if (!Array.isArray(parts)) return "";
  return parts.map((p) => (isObject(p) && typeof p.text === "string" ? p.text : "")).join("");
}

/** Words of every text and function response in the prompt. */
function promptWords(body: JsonObject): number {
  let words = 0;
  const count = (parts: JsonValue | undefined) => {
    if (!Array.isArray(parts)) return;
    for (const p of parts) {
      if (!isObject(p)) continue;
      if (typeof p.text === "string") words += countWords(p.text);
      if (isObject(p.functionResponse)) words += countWords(JSON.stringify(p.functionResponse.response ?? {}));
    }
  };
  if (isObject(body.systemInstruction)) count(body.systemInstruction.parts);
  if (Array.isArray(body.contents)) for (const c of body.contents) if (isObject(c)) count(c.parts);
  return words;
}

function functionParts(content: JsonValue | undefined, key: "functionCall" | "functionResponse"): JsonObject[] {
  if (!isObject(content) || !Array.isArray(content.parts)) return [];
  return content.parts.filter((p): p is JsonObject => isObject(p) && isObject(p[key]));
}

class FakeGemini {
  readonly server: FakeHttpServer;
  private seq = 0;

  constructor() {
    this.server = new FakeHttpServer({ errorBody, streamContentType: "text/event-stream" }, (path, method) =>
      this.route(path, method),
    );
  }

  private route(path: string, method: string): Route | undefined {
    const m = /^\/v1beta\/((?:models|tunedModels)\/[^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)$/.exec(path);
    if (m === null || method !== "POST") return undefined;
    const [, model = "", action] = m;
    return (ctx, body) => {
      if (!ctx.req.headers["x-goog-api-key"]) {
        return this.server.sendError(ctx, 403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
      }
      if (!isObject(body)) return this.server.sendError(ctx, 400, "Invalid JSON payload received.");
      if (action === "batchEmbedContents") return this.embed(ctx, model, body);
      if (action === "streamGenerateContent" && ctx.query.get("alt") !== "sse") {
        return this.server.sendError(ctx, 400, "fake gemini: only alt=sse streams are served");
      }
      this.generate(ctx, model.replace(/^(models|tunedModels)\//, ""), body, action === "streamGenerateContent");
    };
  }

  private generate(ctx: FakeCtx, model: string, body: JsonObject, stream: boolean): void {
    const contents = body.contents;
    if (!Array.isArray(contents) || contents.length === 0) {
      return this.server.sendError(ctx, 400, "* GenerateContentRequest.contents: contents is not specified\n");
    }
    for (let i = 0; i < contents.length; i++) {
      const c = contents[i];
      if (!isObject(c) || (c.role !== "user" && c.role !== "model")) {
        return this.server.sendError(ctx, 400, `Please use a valid role: user, model. (contents[${i}])`);
      }
      if (!Array.isArray(c.parts) || c.parts.length === 0) {
        return this.server.sendError(ctx, 400, `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.\n`);
      }
    }
    const last = contents[contents.length - 1];
    const responses = functionParts(last, "functionResponse");
    let answerText: string;
    let lastUserText = "";
    if (responses.length > 0) {
      // A function-response turn: the model turn before it must be replayed faithfully.
      const calls = functionParts(contents[contents.length - 2], "functionCall");
      if (calls.length !== responses.length) {
        return this.server.sendError(ctx, 400, "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.");
      }
      if (calls[0]?.thoughtSignature !== FAKE_THOUGHT_SIGNATURE) {
        const name = isObject(calls[0]?.functionCall) ? String(calls[0].functionCall.name) : "?";
        return this.server.sendError(ctx, 400, `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call \`default_api:${name}\` , position ${contents.length - 1}.`);
      }
      answerText = responses.map((p) => JSON.stringify(isObject(p.functionResponse) ? p.functionResponse.response ?? {} : {})).join(" ");
    } else {
      for (const c of contents) if (isObject(c) && c.role === "user") lastUserText = textOfParts(c.parts);
      answerText = lastUserText;
    }
    const config = isObject(body.generationConfig) ? body.generationConfig : {};
    const n = positiveInt(config.candidateCount) ?? 1;
    const d = parseDirectives(lastUserText);
    const call = this.toolCall(body, lastUserText);
    const seq = ++this.seq;
    const prompt = promptWords(body);
    this.server.act(ctx, d, stream, () => {
      const responseId = `fakeResp${String(seq).padStart(8, "0")}`;
      const envelope = (candidates: JsonValue[], usage: JsonObject): JsonObject => ({
        candidates,
        usageMetadata: usage,
        modelVersion: model,
        responseId,
      });
      const promptUsage = { promptTokenCount: prompt, totalTokenCount: prompt, promptTokensDetails: [{ modality: "TEXT", tokenCount: prompt }] };
      if (call !== undefined) {
        const output = splitToolArguments(call.arguments).length;
        const usage = { ...promptUsage, candidatesTokenCount: output, totalTokenCount: prompt + output };
        const part = { functionCall: { name: call.name, args: JSON.parse(call.arguments) as JsonValue }, thoughtSignature: FAKE_THOUGHT_SIGNATURE };
        if (!stream) {
          return this.server.send(ctx.res, 200, JSON.stringify(envelope([{ content: { parts: [part], role: "model" }, finishReason: "STOP", index: 0 }], usage)));
        }
        // Gemini streams a function call whole, in one chunk; the finish comes with the usage.
        return this.server.sendStream(ctx, d, {
          head: [],
          body: [sse(envelope([{ content: { parts: [part], role: "model" }, index: 0 }], promptUsage))],
          tail: [sse(envelope([{ content: { parts: [{ text: "" }], role: "model" }, finishReason: "STOP", index: 0 }], usage))],
          error: sse({ error: { code: 500, message: "An internal error has occurred.", status: "INTERNAL" } }),
          garbage: 'data: {"candidates": [{"content": {"par\r\n\r\n',
        });
      }
      const reply = fakeReply(answerText, d.slow, positiveInt(config.maxOutputTokens), stringList(config.stopSequences));
      const finishReason = reply.finish === "length" ? "MAX_TOKENS" : "STOP";
      const output = reply.pieces.length * n;
      const usage = { ...promptUsage, candidatesTokenCount: output, totalTokenCount: prompt + output };
      if (!stream) {
        const candidates = Array.from({ length: n }, (_, index) => ({
          content: { parts: [{ text: reply.text }], role: "model" },
          finishReason,
          index,
        }));
        return this.server.send(ctx.res, 200, JSON.stringify(envelope(candidates, usage)));
      }
      this.server.sendStream(ctx, d, {
        head: [],
        body: reply.pieces.map((text) => sse(envelope([{ content: { parts: [{ text }], role: "model" }, index: 0 }], promptUsage))),
        tail: [sse(envelope([{ content: { parts: [{ text: "" }], role: "model" }, finishReason, index: 0 }], usage))],
        error: sse({ error: { code: 500, message: "An internal error has occurred.", status: "INTERNAL" } }),
        garbage: 'data: {"candidates": [{"content": {"par\r\n\r\n',
      });
    });
  }

  /** The call a `#tool` message gets, when functions are declared and allowed. */
  private toolCall(body: JsonObject, lastUserText: string): { name: string; arguments: string } | undefined {
    if (!lastUserText.startsWith("#tool") || !Array.isArray(body.tools)) return undefined;
    const declarations = body.tools.flatMap((t) => (isObject(t) && Array.isArray(t.functionDeclarations) ? t.functionDeclarations : []));
    const config = isObject(body.toolConfig) && isObject(body.toolConfig.functionCallingConfig) ? body.toolConfig.functionCallingConfig : {};
    if (config.mode === "NONE") return undefined;
    const allowed = stringList(config.allowedFunctionNames);
    const first = declarations.find((f) => isObject(f) && typeof f.name === "string" && (allowed.length === 0 || allowed.includes(f.name)));
    if (!isObject(first) || typeof first.name !== "string") return undefined;
    return { name: first.name, arguments: fakeToolArguments(lastUserText) };
  }

  private embed(ctx: FakeCtx, model: string, body: JsonObject): void {
    const requests = body.requests;
    if (!Array.isArray(requests) || requests.length === 0) {
      return this.server.sendError(ctx, 400, "* BatchEmbedContentsRequest.requests: requests is not specified\n");
    }
    const texts: string[] = [];
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i];
      if (!isObject(r) || r.model !== model) {
        return this.server.sendError(ctx, 400, `* BatchEmbedContentsRequest.requests[${i}].model: model must be ${model}\n`);
      }
      texts.push(isObject(r.content) ? textOfParts(r.content.parts) : "");
    }
    this.server.act(ctx, parseDirectives(texts[0] ?? ""), false, () =>
      this.server.send(ctx.res, 200, JSON.stringify({ embeddings: texts.map((t) => ({ values: fakeEmbedding(t) })) })),
    );
  }
}

/** Starts the fake Gemini API on a free port of 127.0.0.1; its base URL is `${url}/v1beta`. */
export async function startFakeGemini(): Promise<FakeUpstream> {
  const fake = new FakeGemini();
  await fake.server.listen();
  return fake.server;
}
