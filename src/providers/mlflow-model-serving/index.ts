// Models served by MLflow (`mlflow models serve`, MLServer, Databricks-style scoring servers).
import type { Provider } from "../types";
import { isRecord } from "../upstream-reader";
import { PROVIDER, mlflowConfigSchema } from "./config";
import { mlflowPredict } from "./predict";

export const mlflowModelServingProvider: Provider = {
  name: PROVIDER,
  configSchema: mlflowConfigSchema,
  predict: mlflowPredict,
  /** MLflow errors are `{"error_code": "BAD_REQUEST", "message": "...", "stack_trace"?: "..."}`. */
  errorMessage(body) {
    return isRecord(body) && typeof body.message === "string" && body.message !== "" ? body.message : undefined;
  },
};
