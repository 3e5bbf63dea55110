import { clone, fromBinary } from "@bufbuild/protobuf";
import type { DescFile } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  type FileDescriptorProto,
  file_google_protobuf_cpp_features,
  file_google_protobuf_java_features,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb";
import { ServerReflection as ServerReflectionV1Alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb";
import { file_modelgate_v1_chat } from "../../gen/modelgate/v1/chat_pb";
import { file_modelgate_v1_completions } from "../../gen/modelgate/v1/completions_pb";
import { file_modelgate_v1_embeddings } from "../../gen/modelgate/v1/embeddings_pb";
import { file_modelgate_v1_endpoint } from "../../gen/modelgate/v1/endpoint_pb";
import { file_modelgate_v1_predict } from "../../gen/modelgate/v1/predict_pb";
import { generatedSourceInfo, registerReflection } from "../../src/server/reflection";

const modelgateFiles = [
  file_modelgate_v1_chat,
  file_modelgate_v1_completions,
  file_modelgate_v1_embeddings,
  file_modelgate_v1_predict,
  file_modelgate_v1_endpoint,
];

/** The leading comment of a field, read from a file descriptor's source_code_info. */
function fieldComment(file: FileDescriptorProto | undefined, message: string, field: string): string | undefined {
  const m = file?.messageType.findIndex((t) => t.name === message) ?? -1;
  const f = m < 0 ? -1 : (file?.messageType[m]?.field.findIndex((x) => x.name === field) ?? -1);
  // FileDescriptorProto.message_type = 4, DescriptorProto.field = 2.
  const location = file?.sourceCodeInfo?.location.find((l) => l.path.join(".") === `4.${m}.2.${f}`);
  return location?.leadingComments;
}

/** A reflection request as the tests write it; fits both versions' request init shape. */
type Question =
  | { host?: string; messageRequest: { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string } }
  | { host?: string; messageRequest: { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } } }
  | { host?: string; messageRequest: { case: undefined } };

/** What the tests read from a response of either version. */
interface Answer {
  validHost: string;
  originalRequest?: { host: string; messageRequest: { case: string | undefined; value?: unknown } } | undefined;
  messageResponse:
    | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
    | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
    | { case: "listServicesResponse"; value: { service: { name: string }[] } }
    | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } }
    | { case: undefined; value?: undefined };
}

async function* each<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of stream) {
    all.push(item);
  }
  return all;
}

/** One ServerReflectionInfo stream per call, over the in-memory transport, for either version. */
type Ask = (questions: Question[], files?: DescFile[]) => Promise<Answer[]>;

const versions: { name: string; ask: Ask }[] = [
  {
    name: "grpc.reflection.v1",
    ask: (questions, files = modelgateFiles) => {
      const transport = createRouterTransport((router) => registerReflection(router, { files }));
      return collect(createClient(ServerReflectionV1, transport).serverReflectionInfo(each(questions)));
    },
  },
  {
    name: "grpc.reflection.v1alpha",
    ask: (questions, files = modelgateFiles) => {
      const transport = createRouterTransport((router) => registerReflection(router, { files }));
      return collect(createClient(ServerReflectionV1Alpha, transport).serverReflectionInfo(each(questions)));
    },
  },
];

function fileNames(answer: Answer | undefined): string[] {
  expect(answer?.messageResponse.case).toBe("fileDescriptorResponse");
  if (answer?.messageResponse.case !== "fileDescriptorResponse") {
    return [];
  }
  return answer.messageResponse.value.fileDescriptorProto.map(
    (bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name,
  );
}

function error(answer: Answer | undefined): { errorCode: number; errorMessage: string } | undefined {
  if (answer?.messageResponse.case !== "errorResponse") {
    return undefined;
  }
  const { errorCode, errorMessage } = answer.messageResponse.value;
  return { errorCode, errorMessage };
}

const symbol = (value: string): Question => ({ messageRequest: { case: "fileContainingSymbol", value } });

describe.each(versions)("$name ServerReflectionInfo", ({ ask }) => {
  it("lists our services, health and both reflection services, sorted", async () => {
    const [answer] = await ask([{ messageRequest: { case: "listServices", value: "*" } }]);
    expect(answer?.messageResponse.case).toBe("listServicesResponse");
    const names = answer?.messageResponse.case === "listServicesResponse"
      ? answer.messageResponse.value.service.map((s) => s.name)
      : [];
    expect(names).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "modelgate.v1.ChatService",
      "modelgate.v1.CompletionsService",
      "modelgate.v1.EmbeddingsService",
      "modelgate.v1.EndpointService",
      "modelgate.v1.PredictService",
    ]);
  });

  it("echoes the host and the original request", async () => {
    const [answer] = await ask([{ host: "gateway.local", messageRequest: { case: "listServices", value: "" } }]);
    expect(answer?.validHost).toBe("gateway.local");
    expect(answer?.originalRequest?.host).toBe("gateway.local");
    expect(answer?.originalRequest?.messageRequest).toMatchObject({ case: "listServices", value: "" });
  });

  it("file_by_filename sends the file first, then its transitive imports", async () => {
    const [answer] = await ask([{ messageRequest: { case: "fileByFilename", value: "modelgate/v1/chat.proto" } }]);
    expect(fileNames(answer)).toEqual([
      "modelgate/v1/chat.proto",
      "google/protobuf/struct.proto",
      "modelgate/v1/common.proto",
    ]);
  });

  it("sends descriptors a client can build a schema from", async () => {
    const [answer] = await ask([{ messageRequest: { case: "fileByFilename", value: "modelgate/v1/chat.proto" } }]);
    if (answer?.messageResponse.case !== "fileDescriptorResponse") {
      throw new Error("expected a file descriptor response");
    }
    const [chat] = answer.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
    expect(chat?.package).toBe("modelgate.v1");
    expect(chat?.dependency).toEqual(["google/protobuf/struct.proto", "modelgate/v1/common.proto"]);
    expect(chat?.service.map((s) => s.name)).toEqual(["ChatService"]);
    expect(chat?.service[0]?.method.map((m) => [m.name, m.serverStreaming])).toEqual([
      ["Chat", false],
      ["StreamChat", true],
    ]);
  });

  it("sends the files with their .proto comments (source_code_info), for our API, health and reflection", async () => {
    const [chat, health] = await ask([symbol("modelgate.v1.ChatRequest"), symbol("grpc.health.v1.Health")]);
    if (chat?.messageResponse.case !== "fileDescriptorResponse" || health?.messageResponse.case !== "fileDescriptorResponse") {
      throw new Error("expected file descriptor responses");
    }
    const [chatFile, , common] = chat.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
    expect(fieldComment(chatFile, "ChatRequest", "endpoint")).toBe(" The name of a configured endpoint (see EndpointService).\n");
    expect(common?.name).toBe("modelgate/v1/common.proto");
    expect(common?.sourceCodeInfo?.location.some((l) => l.leadingComments.trim().length > 0)).toBe(true);
    const healthFile = fromBinary(FileDescriptorProtoSchema, health.messageResponse.value.fileDescriptorProto[0]!);
    expect(healthFile.sourceCodeInfo?.location.length).toBeGreaterThan(0);
  });

  it("does not resend imports already sent on the same stream, but always the requested file", async () => {
    const answers = await ask([
      { messageRequest: { case: "fileByFilename", value: "modelgate/v1/chat.proto" } },
      { messageRequest: { case: "fileByFilename", value: "modelgate/v1/completions.proto" } },
      { messageRequest: { case: "fileByFilename", value: "modelgate/v1/common.proto" } },
    ]);
    expect(fileNames(answers[0])).toHaveLength(3);
    expect(fileNames(answers[1])).toEqual(["modelgate/v1/completions.proto"]);
    expect(fileNames(answers[2])).toEqual(["modelgate/v1/common.proto"]);
  });

  it("file_by_filename of an unknown file is NOT_FOUND", async () => {
    const [answer] = await ask([{ messageRequest: { case: "fileByFilename", value: "nope.proto" } }]);
    expect(error(answer)).toEqual({ errorCode: Code.NotFound, errorMessage: "file not found: nope.proto" });
  });

  it.each([
    ["a service", "modelgate.v1.ChatService", "modelgate/v1/chat.proto"],
    ["a service with a leading dot", ".modelgate.v1.ChatService", "modelgate/v1/chat.proto"],
    ["a method", "modelgate.v1.ChatService.StreamChat", "modelgate/v1/chat.proto"],
    ["a message", "modelgate.v1.ChatRequest", "modelgate/v1/chat.proto"],
    ["a message from an import", "modelgate.v1.Usage", "modelgate/v1/common.proto"],
    ["a field", "modelgate.v1.ChatRequest.extras", "modelgate/v1/chat.proto"],
    ["a well-known type", "google.protobuf.Struct", "google/protobuf/struct.proto"],
    ["an enum", "google.protobuf.NullValue", "google/protobuf/struct.proto"],
    ["an enum value (scoped beside its enum)", "google.protobuf.NULL_VALUE", "google/protobuf/struct.proto"],
    ["a nested enum", "grpc.health.v1.HealthCheckResponse.ServingStatus", "health/v1/health.proto"],
    ["a nested enum value", "grpc.health.v1.HealthCheckResponse.SERVING", "health/v1/health.proto"],
    ["a nested map entry", "grpc.health.v1.HealthListResponse.StatusesEntry", "health/v1/health.proto"],
    ["a oneof", "grpc.reflection.v1.ServerReflectionRequest.message_request", "grpc/reflection/v1/reflection.proto"],
    ["the health service", "grpc.health.v1.Health.Watch", "health/v1/health.proto"],
    ["the v1alpha reflection service", "grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto"],
  ])("file_containing_symbol finds %s", async (_, name, file) => {
    const [answer] = await ask([symbol(name)]);
    expect(fileNames(answer)[0]).toBe(file);
  });

  it("file_containing_symbol of an unknown symbol is NOT_FOUND with a message, and the stream goes on", async () => {
    const answers = await ask([
      symbol("modelgate.v1.NoSuchService"),
      symbol("modelgate.v1.ChatService.NoSuchMethod"),
      symbol("modelgate.v1"),
      symbol("modelgate.v1.ChatService"),
    ]);
    expect(error(answers[0])).toEqual({ errorCode: 5, errorMessage: "symbol not found: modelgate.v1.NoSuchService" });
    expect(error(answers[1])?.errorCode).toBe(Code.NotFound);
    expect(error(answers[2])?.errorCode).toBe(Code.NotFound);
    expect(fileNames(answers[3])[0]).toBe("modelgate/v1/chat.proto");
  });

  it("file_containing_extension finds the file declaring an extension", async () => {
    const files = [...modelgateFiles, file_google_protobuf_cpp_features, file_google_protobuf_java_features];
    const [answer] = await ask(
      [{ messageRequest: { case: "fileContainingExtension", value: { containingType: "google.protobuf.FeatureSet", extensionNumber: 1000 } } }],
      files,
    );
    expect(fileNames(answer)).toEqual(["google/protobuf/cpp_features.proto", "google/protobuf/descriptor.proto"]);
  });

  it("file_containing_extension with no such extension is NOT_FOUND", async () => {
    const answers = await ask([
      { messageRequest: { case: "fileContainingExtension", value: { containingType: "modelgate.v1.ChatRequest", extensionNumber: 100 } } },
      { messageRequest: { case: "fileContainingExtension", value: { containingType: "no.Such", extensionNumber: 1 } } },
    ]);
    expect(error(answers[0])).toEqual({
      errorCode: Code.NotFound,
      errorMessage: "extension not found: modelgate.v1.ChatRequest field 100",
    });
    expect(error(answers[1])?.errorCode).toBe(Code.NotFound);
  });

  it("all_extension_numbers_of_type lists the extension numbers of a type", async () => {
    const files = [...modelgateFiles, file_google_protobuf_cpp_features, file_google_protobuf_java_features];
    const [withExtensions, without] = await ask(
      [
        { messageRequest: { case: "allExtensionNumbersOfType", value: ".google.protobuf.FeatureSet" } },
        { messageRequest: { case: "allExtensionNumbersOfType", value: "modelgate.v1.ChatRequest" } },
      ],
      files,
    );
    expect(withExtensions?.messageResponse).toMatchObject({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "google.protobuf.FeatureSet", extensionNumber: [1000, 1001] },
    });
    expect(without?.messageResponse).toMatchObject({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "modelgate.v1.ChatRequest", extensionNumber: [] },
    });
  });

  it("all_extension_numbers_of_type of an unknown type is NOT_FOUND", async () => {
    const [answer] = await ask([{ messageRequest: { case: "allExtensionNumbersOfType", value: "no.Such" } }]);
    expect(error(answer)).toEqual({ errorCode: Code.NotFound, errorMessage: "message type not found: no.Such" });
  });

  it("ends the stream with INVALID_ARGUMENT on a request with nothing in it", async () => {
    const failure = await ask([{ messageRequest: { case: undefined } }]).catch((e: unknown) => ConnectError.from(e));
    expect(failure).toBeInstanceOf(ConnectError);
    expect((failure as ConnectError).code).toBe(Code.InvalidArgument);
  });
});

describe("source info", () => {
  const ask = (sourceInfo: ReadonlyMap<string, FileDescriptorProto>) => {
    const transport = createRouterTransport((router) => registerReflection(router, { files: modelgateFiles, sourceInfo }));
    return collect(
      createClient(ServerReflectionV1, transport).serverReflectionInfo(
        each([{ messageRequest: { case: "fileByFilename" as const, value: "modelgate/v1/chat.proto" } }]),
      ),
    );
  };
  const chatFile = async (sourceInfo: ReadonlyMap<string, FileDescriptorProto>) => {
    const [answer] = await ask(sourceInfo);
    if (answer?.messageResponse.case !== "fileDescriptorResponse") throw new Error("expected a file descriptor response");
    return fromBinary(FileDescriptorProtoSchema, answer.messageResponse.value.fileDescriptorProto[0]!);
  };

  it("the generated sets hold every modelgate.v1 file with comments", () => {
    const files = generatedSourceInfo();
    for (const file of modelgateFiles) {
      expect(files.get(file.proto.name)?.sourceCodeInfo?.location.length, file.proto.name).toBeGreaterThan(0);
    }
  });

  it("a file without a documented descriptor is served as compiled", async () => {
    const served = await chatFile(new Map());
    expect(served.sourceCodeInfo).toBeUndefined();
    expect(served.messageType.map((m) => m.name)).toEqual(file_modelgate_v1_chat.proto.messageType.map((m) => m.name));
  });

  it("a documented descriptor that differs from the compiled schema (stale) is not served", async () => {
    const stale = clone(FileDescriptorProtoSchema, generatedSourceInfo().get("modelgate/v1/chat.proto")!);
    stale.messageType[0]!.field.pop();
    const served = await chatFile(new Map([[stale.name, stale]]));
    expect(served.sourceCodeInfo).toBeUndefined();
    expect(served.messageType[0]?.field).toHaveLength(file_modelgate_v1_chat.proto.messageType[0]!.field.length);
  });
});
