// Text completion over TGI's native routes: POST /generate, and /generate_stream (SSE).
import type { CompleteTranslator } from "../types";
import { tgiPost, type TgiConfig } from "./config";
import { generateBody } from "./generate-request";
import { generateStreamDecoder, readGenerate } from "./generate-response";

export function tgiComplete(provider: string): CompleteTranslator<TgiConfig> {
  return {
    request: (params, target, stream) =>
      tgiPost(target, stream ? "/generate_stream" : "/generate", generateBody(provider, params, stream)),
    response: (body) => readGenerate(provider, body),
    streamDecoder: () => generateStreamDecoder(provider),
  };
}
