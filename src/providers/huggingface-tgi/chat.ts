// Chat over TGI's OpenAI-compatible Messages API, POST {hf_server_url}/v1/chat/completions:
// the shared OpenAI translators with TGI's dialect and the adjustments in messages-api.ts.
import type { TgiConfig } from "./config";
import { openaiChatTranslator } from "../openai/chat";
import type { OpenAIDialect } from "../openai/dialect";
import type { ChatTranslator } from "../types";
import { tgiHeaders, tgiUrl } from "./config";
import {
  adaptParams,
  adaptRequest,
  adaptResult,
  adaptStreamEvent,
  chunkAdapter,
  messagesApiCapabilities,
} from "./messages-api";

export function tgiChat(provider: string): ChatTranslator<TgiConfig> {
  const dialect: OpenAIDialect<TgiConfig> = {
    provider,
    capabilities: messagesApiCapabilities,
    connect: (target, path) => ({ url: tgiUrl(target, `/v1${path}`), headers: tgiHeaders(target), modelInBody: true }),
  };
  const messagesApi = openaiChatTranslator(dialect);
  return {
    request: (params, target, stream) => adaptRequest(messagesApi.request(adaptParams(params), target, stream)),
    response: (body) => adaptResult(messagesApi.response(body)),
    streamDecoder() {
      const decoder = messagesApi.streamDecoder();
      const adaptChunk = chunkAdapter();
      return {
        get done() {
          return decoder.done;
        },
        usage: () => decoder.usage(),
        push: (event) => decoder.push(adaptStreamEvent(provider, event)).map(adaptChunk),
      };
    },
  };
}
