// The REST surfaces call the same services, through the same interceptors, as gRPC and Connect
// clients do: typed clients over the direct in-process transport (src/server/direct-transport.ts),
// which hands the message objects to the implementations without encoding them. One request path.
import { createClient, type Client, type ConnectRouter } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { CompletionsService } from "../../gen/modelgate/v1/completions_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { EndpointService } from "../../gen/modelgate/v1/endpoint_pb";
import { PredictService } from "../../gen/modelgate/v1/predict_pb";
import { createDirectTransport, type DirectTransportOptions } from "../server/direct-transport";

export interface ServiceClients {
  chat: Client<typeof ChatService>;
  completions: Client<typeof CompletionsService>;
  embeddings: Client<typeof EmbeddingsService>;
  predict: Client<typeof PredictService>;
  endpoints: Client<typeof EndpointService>;
}

export function inProcessClients(routes: (router: ConnectRouter) => void, options: DirectTransportOptions = {}): ServiceClients {
  const transport = createDirectTransport(routes, options);
  return {
    chat: createClient(ChatService, transport),
    completions: createClient(CompletionsService, transport),
    embeddings: createClient(EmbeddingsService, transport),
    predict: createClient(PredictService, transport),
    endpoints: createClient(EndpointService, transport),
  };
}
