// Models served by MLflow (`mlflow models serve`, MLServer, Databricks-style scoring servers):
// classic ML models for predict, and LLMs for chat, completions and embeddings in the shapes
// MLflow AI Gateway uses for this provider. Registry names (models:/NAME@ALIAS) are resolved
// by routing (src/routing/registry-targets.ts), not here: translators stay pure.
import type { Provider } from "../types";
import type { MlflowConfig } from "./config";
import { isRecord } from "../upstream-reader";
import { mlflowChat } from "./chat";
import { mlflowComplete } from "./completions";
import { PROVIDER, mlflowConfigSchema } from "./config";
import { mlflowEmbed } from "./embeddings";
import { mlflowPredict } from "./predict";

export const mlflowModelServingProvider: Provider<MlflowConfig> = {
  name: PROVIDER,
  configSchema: mlflowConfigSchema,
  chat: mlflowChat,
  complete: mlflowComplete,
  embed: mlflowEmbed,
  predict: mlflowPredict,
  /** MLflow errors are `{"error_code": "BAD_REQUEST", "message": "...", "stack_trace"?: "..."}`. */
  errorMessage(body) {
    return isRecord(body) && typeof body.message === "string" && body.message !== "" ? body.message : undefined;
  },
};
