// Every provider the config may name, by `model.provider`.
import { echoFactory } from "./echo/index";
import { httpModelFactory, type ModelFactory } from "./model";
import { mlflowModelFactory } from "./mlflow-registry/registry-model";
import { httpProviders } from "./registry";

export const modelFactories: ReadonlyMap<string, ModelFactory> = new Map<string, ModelFactory>([
  [echoFactory.name, echoFactory],
  ...[...httpProviders.values()].map((p) => [p.name, httpModelFactory(p)] as const),
  // replaces the plain HTTP factory: registry names (models:/NAME@ALIAS) need a resolver
  ["mlflow-model-serving", mlflowModelFactory()],
]);
