import type { Endpoint } from "../../../gen/modelgate/v1/endpoint_pb";

/** An endpoint as an OpenAI model object (`id` is what clients pass as `model`). */
export function describeEndpointJson(ep: Endpoint) {
  return { id: ep.name, object: "model", created: 0, owned_by: ep.provider, endpoint_type: ep.endpointType, model: ep.model };
}
