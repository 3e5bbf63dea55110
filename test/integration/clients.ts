// Real clients for the integration tests: connect-node over each protocol, and @grpc/grpc-js
// with stubs loaded from our .proto files (what a polyglot gRPC client sees).
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

export type ProtocolName = "grpc" | "connect-json-h1" | "connect-binary-h2" | "grpc-web-h1";

export function transportFor(protocol: ProtocolName, baseUrl: string): Transport {
  switch (protocol) {
    case "grpc":
      return createGrpcTransport({ baseUrl });
    case "connect-json-h1":
      return createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false });
    case "connect-binary-h2":
      return createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true });
    case "grpc-web-h1":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
  }
}

export const protocols: ProtocolName[] = ["grpc", "connect-json-h1", "connect-binary-h2", "grpc-web-h1"];

export function clientFor<T extends DescService>(service: T, protocol: ProtocolName, baseUrl: string): Client<T> {
  return createClient(service, transportFor(protocol, baseUrl));
}

const protoDir = fileURLToPath(new URL("../../proto", import.meta.url));

/** grpc-js stubs for modelgate.v1, loaded from the .proto sources at run time. */
export function loadGrpcJsPackage(): grpc.GrpcObject {
  const definition = protoLoader.loadSync(
    ["modelgate/v1/chat.proto", "modelgate/v1/completions.proto", "modelgate/v1/embeddings.proto", "modelgate/v1/predict.proto", "modelgate/v1/endpoint.proto"],
    { includeDirs: [protoDir], keepCase: false, longs: String, enums: String, defaults: true, oneofs: true },
  );
  return grpc.loadPackageDefinition(definition);
}

export type GrpcJsClientCtor = new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client;

export function grpcJsClient(pkg: grpc.GrpcObject, service: string, port: number): grpc.Client {
  const v1 = (pkg["modelgate"] as grpc.GrpcObject)["v1"] as grpc.GrpcObject;
  const Ctor = v1[service] as unknown as GrpcJsClientCtor;
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}
