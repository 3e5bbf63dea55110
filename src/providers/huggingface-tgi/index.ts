// Hugging Face Text Generation Inference: chat over its Messages API (OpenAI-compatible) and
// completions over its native /generate routes, both streamable. Registered under MLflow's
// name and a short alias; the two are the same provider.
import type { Provider } from "../types";
import type { TgiConfig } from "./config";
import { tgiChat } from "./chat";
import { tgiComplete } from "./completions";
import { MLFLOW_NAME, SHORT_NAME, tgiConfigSchema } from "./config";
import { tgiErrorMessage } from "./wire";

function tgiProvider(name: string): Provider<TgiConfig> {
  return {
    name,
    configSchema: tgiConfigSchema,
    chat: tgiChat(name),
    complete: tgiComplete(name),
    errorMessage: tgiErrorMessage,
  };
}

/** Both names, for the registry. */
export const huggingfaceTgiProviders: readonly Provider[] = [tgiProvider(MLFLOW_NAME), tgiProvider(SHORT_NAME)];
