// Amazon Bedrock: chat and completions over Converse / ConverseStream (one request shape for
// every Bedrock text model, streamed as AWS event-stream frames), embeddings over InvokeModel
// (Titan and Cohere), signed with SigV4 or sent with a Bedrock API key. MLflow's AI Gateway
// names this provider "bedrock" and "amazon-bedrock"; both names work.
import type { Provider } from "../types";
import { isRecord } from "../upstream-reader";
import { bedrockChat } from "./chat";
import { bedrockComplete } from "./completions";
import { PROVIDER, bedrockConfigSchema, type BedrockConfig } from "./config";
import { bedrockEmbed } from "./embeddings";
import { signRequest } from "./signing";

/**
 * Bedrock's error body is `{"message": "..."}` beside an `x-amzn-errortype` header
 * (ValidationException, ThrottlingException ...); some services spell it `Message`.
 */
export function bedrockErrorMessage(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  const message = body.message ?? body.Message;
  return typeof message === "string" && message !== "" ? message : undefined;
}

export const bedrockProvider: Provider<BedrockConfig> = {
  name: PROVIDER,
  configSchema: bedrockConfigSchema,
  chat: bedrockChat,
  complete: bedrockComplete,
  embed: bedrockEmbed,
  authorize: (req, body, target) => signRequest(req, body, target.config),
  errorMessage: bedrockErrorMessage,
};

/** MLflow's other name for the same provider. */
export const amazonBedrockProvider: Provider<BedrockConfig> = { ...bedrockProvider, name: "amazon-bedrock" };

/** Both names, for the registry. */
export const bedrockProviders: readonly Provider[] = [bedrockProvider, amazonBedrockProvider];
