// The HTTP providers, by the name the config uses (`model.provider`). Adding one is adding a
// folder with an index.ts and a line here.
import { anthropicProvider } from "./anthropic/index";
import { bedrockProviders } from "./bedrock/index";
import { cohereProvider } from "./cohere/index";
import { geminiProvider } from "./gemini/index";
import { huggingfaceTgiProviders } from "./huggingface-tgi/index";
import { mlflowModelServingProvider } from "./mlflow-model-serving/index";
import { ollamaProvider } from "./ollama/index";
import { openaiFamilyProviders } from "./openai/index";
import type { Provider } from "./types";

export const httpProviders: ReadonlyMap<string, Provider> = new Map(
  [...openaiFamilyProviders, anthropicProvider, mlflowModelServingProvider, ...huggingfaceTgiProviders, ollamaProvider, ...bedrockProviders, geminiProvider, cohereProvider].map((p) => [p.name, p]),
);
