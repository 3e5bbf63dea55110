// The HTTP providers, by the name the config uses (`model.provider`). Adding one is adding a
// folder with an index.ts and a line here.
import { anthropicProvider } from "./anthropic/index";
import { mlflowModelServingProvider } from "./mlflow-model-serving/index";
import { openaiProvider } from "./openai/index";
import type { Provider } from "./types";

export const httpProviders: ReadonlyMap<string, Provider> = new Map(
  [openaiProvider, anthropicProvider, mlflowModelServingProvider].map((p) => [p.name, p]),
);
