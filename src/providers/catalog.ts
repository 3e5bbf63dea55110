// Every provider the config may name, by `model.provider`. (Registry names of mlflow-model-serving
// targets, models:/NAME@ALIAS, are resolved by routing: src/routing/registry-targets.ts.)
import { echoFactory } from "./echo/index";
import { httpModelFactory, type ModelFactory } from "./model";
import { httpProviders } from "./registry";

export const modelFactories: ReadonlyMap<string, ModelFactory> = new Map<string, ModelFactory>([
  [echoFactory.name, echoFactory],
  ...[...httpProviders.values()].map((p) => [p.name, httpModelFactory(p)] as const),
]);
