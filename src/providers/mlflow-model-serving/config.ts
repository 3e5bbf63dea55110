// MLflow scoring server config: only where the model server is.
import { z } from "zod";
import { httpUrl } from "../request-builder";

export const PROVIDER = "mlflow-model-serving";

export const mlflowConfigSchema = z.strictObject({
  model_server_url: httpUrl(),
});

export type MlflowConfig = z.output<typeof mlflowConfigSchema>;
