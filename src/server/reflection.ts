// gRPC server reflection (grpc.reflection.v1 and v1alpha), so buf curl, grpcurl and Postman can
// call the gateway with no .proto files at hand. Answers come from a protobuf-es registry of the
// descriptors compiled into our generated code. Behaviour follows grpc-go's reflection server.
// The files served carry their source_code_info (the .proto comments), so `grpcurl describe` and
// `buf curl` show the API documentation: protoc-gen-es embeds descriptors without it, so
// `buf generate` also writes gen/<dir>/source_info.ts (scripts/protoc-gen-source-info.ts), and a
// file with a matching descriptor there is served from it.
import { clearField, clone, create, createFileRegistry, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescFile, FileRegistry } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import { file_health_v1_health } from "../../gen/health/v1/health_pb";
import {
  ServerReflection as ServerReflectionV1,
  file_grpc_reflection_v1_reflection,
} from "../../gen/grpc/reflection/v1/reflection_pb";
import {
  ServerReflection as ServerReflectionV1Alpha,
  file_grpc_reflection_v1alpha_reflection,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb";
import { fileDescriptorSetBase64 as reflectionV1SourceInfo } from "../../gen/grpc/reflection/v1/source_info";
import { fileDescriptorSetBase64 as reflectionV1AlphaSourceInfo } from "../../gen/grpc/reflection/v1alpha/source_info";
import { fileDescriptorSetBase64 as healthSourceInfo } from "../../gen/health/v1/source_info";
import { fileDescriptorSetBase64 as modelgateSourceInfo } from "../../gen/modelgate/v1/source_info";
import { invalidArgument } from "../errors";

export interface ReflectionOptions {
  /** Router options for both reflection services (e.g. the errors interceptor). */
  serviceOptions?: Parameters<ConnectRouter["service"]>[2];
  /**
   * The files whose services the server serves. Their imports are found through the files
   * themselves; health and both reflection files are always added.
   */
  files: DescFile[];
  /**
   * The same files with source_code_info, by file name (default: the generated source_info.ts
   * sets). A file is served from here only when it matches the compiled descriptor apart from
   * source info, so a stale set can never describe a different schema than the one served.
   */
  sourceInfo?: ReadonlyMap<string, FileDescriptorProto>;
}

/** The generated FileDescriptorSets with source info: our API, health and both reflections. */
export function generatedSourceInfo(): ReadonlyMap<string, FileDescriptorProto> {
  const files = new Map<string, FileDescriptorProto>();
  for (const base64 of [modelgateSourceInfo, healthSourceInfo, reflectionV1SourceInfo, reflectionV1AlphaSourceInfo]) {
    for (const file of fromBinary(FileDescriptorSetSchema, Buffer.from(base64, "base64")).file) {
      files.set(file.name, file);
    }
  }
  return files;
}

/**
 * Serves grpc.reflection.v1.ServerReflection and grpc.reflection.v1alpha.ServerReflection.
 * Both versions share one implementation: their messages have the same shape.
 */
export function registerReflection(router: ConnectRouter, opts: ReflectionOptions): void {
  const reflector = new Reflector(
    [...opts.files, file_health_v1_health, file_grpc_reflection_v1_reflection, file_grpc_reflection_v1alpha_reflection],
    opts.sourceInfo ?? generatedSourceInfo(),
  );
  const serverReflectionInfo = (requests: AsyncIterable<ReflectionRequest>) => reflector.answer(requests);
  router.service(ServerReflectionV1, { serverReflectionInfo });
  router.service(ServerReflectionV1Alpha, { serverReflectionInfo });
}

/**
 * A ServerReflectionRequest of either version, as a plain shape. The generated v1 and v1alpha
 * messages differ only in their `$typeName`, so both are assignable to it.
 */
interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

/** A ServerReflectionResponse of either version, as an init shape (no `$typeName`). */
interface ReflectionResponse {
  validHost: string;
  originalRequest: ReflectionRequest;
  messageResponse: ReflectionAnswer;
}

type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** Everything reflection needs, computed once from the registry. */
class Reflector {
  private readonly registry: FileRegistry;
  /** Fully-qualified name of every symbol a file declares -> the file. */
  private readonly fileBySymbol = new Map<string, DescFile>();
  /** Serialized FileDescriptorProto by file name. */
  private readonly encoded = new Map<string, Uint8Array>();
  private readonly serviceNames: string[];

  constructor(files: DescFile[], sourceInfo: ReadonlyMap<string, FileDescriptorProto>) {
    // A FileDescriptorSet in dependency order gives a registry holding every file we may be
    // asked for, imports included (google/protobuf/struct.proto and the like).
    const protos = withDependencies(files).map((file) => file.proto);
    this.registry = createFileRegistry(create(FileDescriptorSetSchema, { file: protos }));
    const services: string[] = [];
    for (const file of this.registry.files) {
      const documented = withSourceInfo(file.proto, sourceInfo.get(file.proto.name));
      this.encoded.set(file.proto.name, toBinary(FileDescriptorProtoSchema, documented));
      for (const name of declaredNames(file.proto)) {
        this.fileBySymbol.set(name, file);
      }
      services.push(...file.services.map((service) => service.typeName));
    }
    this.serviceNames = services.sort();
  }

  /** Answers each request of one ServerReflectionInfo stream, in order. */
  async *answer(requests: AsyncIterable<ReflectionRequest>): AsyncGenerator<ReflectionResponse, void, undefined> {
    // Files already sent on this stream are not sent again as dependencies (the spec allows it
    // and grpc-go does it); the requested file itself is always sent.
    const sent = new Set<string>();
    for await (const request of requests) {
      yield {
        validHost: request.host,
        originalRequest: copyRequest(request),
        messageResponse: this.answerOne(request, sent),
      };
    }
  }

  private answerOne(request: ReflectionRequest, sent: Set<string>): ReflectionAnswer {
    const message = request.messageRequest;
    switch (message.case) {
      case "listServices":
        return {
          case: "listServicesResponse",
          value: { service: this.serviceNames.map((name) => ({ name })) },
        };
      case "fileByFilename": {
        const file = this.registry.getFile(message.value);
        return file
          ? this.filesResponse(file, sent)
          : notFoundAnswer(`file not found: ${message.value}`);
      }
      case "fileContainingSymbol": {
        const symbol = stripLeadingDot(message.value);
        const file = this.fileBySymbol.get(symbol);
        return file ? this.filesResponse(file, sent) : notFoundAnswer(`symbol not found: ${symbol}`);
      }
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = message.value;
        const typeName = stripLeadingDot(containingType);
        const extendee = this.registry.getMessage(typeName);
        const extension = extendee && this.registry.getExtensionFor(extendee, extensionNumber);
        return extension
          ? this.filesResponse(extension.file, sent)
          : notFoundAnswer(`extension not found: ${typeName} field ${extensionNumber}`);
      }
      case "allExtensionNumbersOfType": {
        const typeName = stripLeadingDot(message.value);
        if (!this.registry.getMessage(typeName)) {
          return notFoundAnswer(`message type not found: ${typeName}`);
        }
        const numbers: number[] = [];
        for (const type of this.registry) {
          if (type.kind === "extension" && type.extendee.typeName === typeName) {
            numbers.push(type.number);
          }
        }
        return {
          case: "allExtensionNumbersResponse",
          value: { baseTypeName: typeName, extensionNumber: numbers.sort((a, b) => a - b) },
        };
      }
      case undefined:
        // A request with nothing in it is a broken client, not a question; grpc-go ends the stream.
        throw invalidArgument("server reflection request has no message_request set");
    }
  }

  /** The file first, then its imports not yet sent on this stream, breadth first (as grpc-go). */
  private filesResponse(file: DescFile, sent: Set<string>): ReflectionAnswer {
    const fileDescriptorProto: Uint8Array[] = [];
    const queue = [file];
    for (let current = queue.shift(); current; current = queue.shift()) {
      const name = current.proto.name;
      const bytes = this.encoded.get(name);
      if (bytes && (fileDescriptorProto.length === 0 || !sent.has(name))) {
        sent.add(name);
        fileDescriptorProto.push(bytes);
      }
      queue.push(...current.dependencies);
    }
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto } };
  }
}

/**
 * The documented descriptor when it describes exactly the compiled one (it differs only by its
 * source_code_info), else the compiled one: comments are a bonus, the schema must be right.
 */
function withSourceInfo(compiled: FileDescriptorProto, documented: FileDescriptorProto | undefined): FileDescriptorProto {
  if (!documented?.sourceCodeInfo) {
    return compiled;
  }
  const stripped = clone(FileDescriptorProtoSchema, documented);
  clearField(stripped, FileDescriptorProtoSchema.field.sourceCodeInfo);
  return equals(FileDescriptorProtoSchema, stripped, compiled) ? documented : compiled;
}

/** The files and all their imports, each once, every file after the files it imports. */
function withDependencies(files: Iterable<DescFile>): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.proto.name)) {
      return;
    }
    seen.add(file.proto.name);
    file.dependencies.forEach(visit);
    ordered.push(file);
  };
  for (const file of files) {
    visit(file);
  }
  return ordered;
}

/**
 * Every fully-qualified name a file declares: messages (map entries included), fields, oneofs,
 * enums, enum values, extensions, services and methods. Read from the descriptor proto, which
 * has all of them; protobuf-es descriptors fold map entries into their fields.
 */
function* declaredNames(file: FileDescriptorProto): Generator<string> {
  const qualify = (scope: string, name: string): string => (scope ? `${scope}.${name}` : name);
  function* enumNames(scope: string, enumType: EnumDescriptorProto): Generator<string> {
    yield qualify(scope, enumType.name);
    // Enum values are siblings of their enum, as in C++.
    for (const value of enumType.value) {
      yield qualify(scope, value.name);
    }
  }
  function* messageNames(scope: string, message: DescriptorProto): Generator<string> {
    const name = qualify(scope, message.name);
    yield name;
    for (const member of [...message.field, ...message.oneofDecl, ...message.extension]) {
      yield qualify(name, member.name);
    }
    for (const nested of message.nestedType) {
      yield* messageNames(name, nested);
    }
    for (const nested of message.enumType) {
      yield* enumNames(name, nested);
    }
  }
  const scope = file.package;
  for (const message of file.messageType) {
    yield* messageNames(scope, message);
  }
  for (const enumType of file.enumType) {
    yield* enumNames(scope, enumType);
  }
  for (const extension of file.extension) {
    yield qualify(scope, extension.name);
  }
  for (const service of file.service) {
    const name = qualify(scope, service.name);
    yield name;
    for (const method of service.method) {
      yield qualify(name, method.name);
    }
  }
}

function stripLeadingDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}

function notFoundAnswer(errorMessage: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage } };
}

/** The request as a plain init shape, so it can be echoed into either version's response. */
function copyRequest(request: ReflectionRequest): ReflectionRequest {
  const message = request.messageRequest;
  switch (message.case) {
    case "fileContainingExtension":
      return {
        host: request.host,
        messageRequest: {
          case: message.case,
          value: { containingType: message.value.containingType, extensionNumber: message.value.extensionNumber },
        },
      };
    case undefined:
      return { host: request.host, messageRequest: { case: undefined } };
    default:
      return { host: request.host, messageRequest: { case: message.case, value: message.value } };
  }
}
