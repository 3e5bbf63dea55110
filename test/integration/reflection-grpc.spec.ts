// Health and reflection on a real h2c server, checked with the real clients that rely on them:
// the buf CLI (`buf curl`, schema from reflection) and @grpc/grpc-js (health probes).
import { execFile } from "node:child_process";
import { once } from "node:events";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService, file_modelgate_v1_chat } from "../../gen/modelgate/v1/chat_pb";
import { file_modelgate_v1_completions } from "../../gen/modelgate/v1/completions_pb";
import { file_modelgate_v1_embeddings } from "../../gen/modelgate/v1/embeddings_pb";
import { file_modelgate_v1_endpoint } from "../../gen/modelgate/v1/endpoint_pb";
import { file_modelgate_v1_predict } from "../../gen/modelgate/v1/predict_pb";
import { HealthStatus, ServingStatus, registerHealth } from "../../src/server/health";
import { registerReflection } from "../../src/server/reflection";

const root = fileURLToPath(new URL("../../", import.meta.url));
const buf = `${root}node_modules/.bin/buf`;
const healthProto = `${root}node_modules/grpc-health-check/proto/health/v1/health.proto`;
const reflectionProto = `${root}node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto`;
const run = promisify(execFile);

/** Counts Watch streams that have ended on the server side. */
class ObservedHealthStatus extends HealthStatus {
  ended = 0;
  override async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus, void, undefined> {
    try {
      yield* super.watch(service, signal);
    } finally {
      this.ended++;
    }
  }
}

const health = new ObservedHealthStatus();
health.set("modelgate.v1.ChatService", ServingStatus.SERVING);

const server = http2.createServer(
  connectNodeAdapter({
    routes(router) {
      registerHealth(router, health);
      registerReflection(router, {
        files: [
          file_modelgate_v1_chat,
          file_modelgate_v1_completions,
          file_modelgate_v1_embeddings,
          file_modelgate_v1_predict,
          file_modelgate_v1_endpoint,
        ],
      });
      // A stand-in Chat, so buf curl can make a real call whose request (with a
      // google.protobuf.Struct) it encodes from the schema it got by reflection.
      router.service(ChatService, {
        chat(request) {
          return { id: "chat-1", model: `${request.endpoint}:${JSON.stringify(request.extras ?? null)}` };
        },
      });
    },
  }),
);
let base = "";

beforeAll(async () => {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.close();
  await once(server, "close");
});

interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `buf curl --protocol grpc --http2-prior-knowledge ...args`; never throws on a failed RPC. */
async function bufCurl(...args: string[]): Promise<CurlResult> {
  try {
    const { stdout, stderr } = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], {
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e: unknown) {
    const failure = e as { code?: unknown; stdout?: unknown; stderr?: unknown };
    if (typeof failure.code !== "number") {
      throw e;
    }
    return { code: failure.code, stdout: String(failure.stdout), stderr: String(failure.stderr) };
  }
}

const reflectProtocols = ["grpc-v1", "grpc-v1alpha"] as const;

describe.each(reflectProtocols)("buf curl with --reflect-protocol %s", (reflectProtocol) => {
  it("lists our services", async () => {
    const result = await bufCurl("--reflect-protocol", reflectProtocol, "--list-services", base);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout.trim().split("\n")).toEqual([
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

  it("lists our methods (which needs every file and its imports)", async () => {
    const result = await bufCurl("--reflect-protocol", reflectProtocol, "--list-methods", base);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    const methods = result.stdout.trim().split("\n");
    expect(methods).toEqual(
      expect.arrayContaining([
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.health.v1.Health/List",
        "modelgate.v1.ChatService/Chat",
        "modelgate.v1.ChatService/StreamChat",
        "modelgate.v1.CompletionsService/StreamComplete",
        "modelgate.v1.EmbeddingsService/Embed",
        "modelgate.v1.PredictService/Predict",
        "modelgate.v1.EndpointService/ListEndpoints",
      ]),
    );
  });

  it("checks health", async () => {
    const result = await bufCurl(
      "--reflect-protocol",
      reflectProtocol,
      "-d",
      '{"service":""}',
      `${base}/grpc.health.v1.Health/Check`,
    );
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(result.stdout)).toEqual({ status: "SERVING" });
  });

  it("reports an unknown service as NotFound (exit code 5 << 3)", async () => {
    const result = await bufCurl(
      "--reflect-protocol",
      reflectProtocol,
      "-d",
      '{"service":"no.such.Service"}',
      `${base}/grpc.health.v1.Health/Check`,
    );
    expect(result.code).toBe(5 << 3);
    expect(result.stderr).toContain("unknown service: no.such.Service");
  });

  it("calls a modelgate method whose request uses google.protobuf.Struct", async () => {
    const result = await bufCurl(
      "--reflect-protocol",
      reflectProtocol,
      "-d",
      '{"endpoint":"chat","messages":[{"role":"user","content":"hi"}],"extras":{"a":[1,"b"]}}',
      `${base}/modelgate.v1.ChatService/Chat`,
    );
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(result.stdout)).toEqual({ id: "chat-1", model: 'chat:{"a":[1,"b"]}' });
  });
});

interface HealthCheckRequest {
  service: string;
}

interface HealthCheckReply {
  status: string;
}

describe("@grpc/grpc-js health client", () => {
  // Loaded from grpc-health-check's own proto, as a grpc-js user would.
  const definition = protoLoader.loadSync(healthProto, { keepCase: true, enums: String, defaults: true });
  const Health = definition["grpc.health.v1.Health"] as grpc.ServiceDefinition;
  const Check = Health["Check"] as grpc.MethodDefinition<HealthCheckRequest, HealthCheckReply>;
  const Watch = Health["Watch"] as grpc.MethodDefinition<HealthCheckRequest, HealthCheckReply>;
  let client: grpc.Client;

  beforeAll(() => {
    client = new grpc.Client(base.replace("http://", ""), grpc.credentials.createInsecure());
  });

  afterAll(() => client.close());

  function check(service: string): Promise<HealthCheckReply> {
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        Check.path,
        Check.requestSerialize,
        Check.responseDeserialize,
        { service },
        (error: grpc.ServiceError | null, reply?: HealthCheckReply) => {
          if (error || !reply) {
            reject(error ?? new Error("no reply"));
          } else {
            resolve(reply);
          }
        },
      );
    });
  }

  it("Check of the whole server is SERVING", async () => {
    expect(await check("")).toEqual({ status: "SERVING" });
  });

  it("Check of an unknown service fails with status 5 (NOT_FOUND)", async () => {
    const error = await check("no.such.Service").then(
      () => expect.fail("Check of an unknown service succeeded"),
      (e: unknown) => e as grpc.ServiceError,
    );
    expect(error.code).toBe(grpc.status.NOT_FOUND);
    // connect-es percent-encodes grpc-message with encodeURIComponent (":" -> "%3A") and
    // grpc-js decodes it with decodeURI, which leaves reserved characters encoded.
    expect(error.details).toBe("unknown service%3A no.such.Service");
    expect(decodeURIComponent(error.details)).toBe("unknown service: no.such.Service");
  });

  it("Check of an unknown service with a 70,000-character name: NOT_FOUND, the name clipped in the message", async () => {
    const long = "s".repeat(70_000);
    const error = await check(long).then(
      () => expect.fail("Check of an unknown service succeeded"),
      (e: unknown) => e as grpc.ServiceError,
    );
    expect(error.code).toBe(grpc.status.NOT_FOUND);
    expect(decodeURIComponent(error.details)).toBe(`unknown service: ${"s".repeat(200)}…`);
  });

  it("Watch streams changes, and a cancel ends it on the server", async () => {
    const call = client.makeServerStreamRequest(Watch.path, Watch.requestSerialize, Watch.responseDeserialize, {
      service: "modelgate.v1.EmbeddingsService",
    });
    call.on("error", () => {}); // the cancel below surfaces as a CANCELLED error event
    const seen: string[] = [];
    await new Promise<void>((resolve) => {
      call.on("data", (reply: HealthCheckReply) => {
        seen.push(reply.status);
        if (seen.length === 1) {
          health.set("modelgate.v1.EmbeddingsService", ServingStatus.NOT_SERVING);
        }
        if (seen.length === 2) {
          resolve();
        }
      });
    });
    expect(seen).toEqual(["SERVICE_UNKNOWN", "NOT_SERVING"]);
    const endedBefore = health.ended;
    call.cancel();
    for (let i = 0; i < 200 && health.ended === endedBefore; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(health.ended).toBe(endedBefore + 1);
  });
});

interface ReflectionReply {
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

describe("@grpc/grpc-js reflection client (what grpcurl describe reads)", () => {
  // Loaded from @grpc/reflection's own proto: a client independent of our generated code.
  const definition = protoLoader.loadSync(reflectionProto, { keepCase: true, defaults: true, oneofs: true });
  const Reflection = definition["grpc.reflection.v1.ServerReflection"] as grpc.ServiceDefinition;
  const Info = Reflection["ServerReflectionInfo"] as grpc.MethodDefinition<object, ReflectionReply>;

  function fileContainingSymbol(symbol: string): Promise<ReflectionReply> {
    const client = new grpc.Client(base.replace("http://", ""), grpc.credentials.createInsecure());
    return new Promise<ReflectionReply>((resolve, reject) => {
      const call = client.makeBidiStreamRequest(Info.path, Info.requestSerialize, Info.responseDeserialize);
      call.on("data", (reply: ReflectionReply) => {
        resolve(reply);
        call.end();
      });
      call.on("error", reject);
      call.write({ file_containing_symbol: symbol });
    }).finally(() => client.close());
  }

  it("serves chat.proto with its field comments in source_code_info", async () => {
    const reply = await fileContainingSymbol("modelgate.v1.ChatRequest");
    const files = (reply.file_descriptor_response?.file_descriptor_proto ?? []).map((b) => fromBinary(FileDescriptorProtoSchema, b));
    const chat = files.find((f) => f.name === "modelgate/v1/chat.proto");
    expect(chat, JSON.stringify(reply.error_response)).toBeDefined();
    const message = chat!.messageType.findIndex((m) => m.name === "ChatRequest");
    const field = chat!.messageType[message]!.field.findIndex((f) => f.name === "endpoint");
    // path: FileDescriptorProto.message_type (4), index, DescriptorProto.field (2), index
    const location = chat!.sourceCodeInfo?.location.find((l) => l.path.join(".") === `4.${message}.2.${field}`);
    expect(location?.leadingComments).toBe(" The name of a configured endpoint (see EndpointService).\n");
  });
});
