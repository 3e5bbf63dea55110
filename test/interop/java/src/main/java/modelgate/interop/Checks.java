package modelgate.interop;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import modelgate.v1.Chat.ChatRequest;
import modelgate.v1.Chat.ChatResponse;
import modelgate.v1.Chat.StreamChatRequest;
import modelgate.v1.Chat.StreamChatResponse;
import modelgate.v1.ChatServiceGrpc;
import modelgate.v1.Common.ChatMessage;
import modelgate.v1.Common.Usage;
import modelgate.v1.Embeddings.EmbedRequest;
import modelgate.v1.Embeddings.EmbedResponse;
import modelgate.v1.Embeddings.Embedding;
import modelgate.v1.EmbeddingsServiceGrpc;
import modelgate.v1.EndpointOuterClass.Endpoint;
import modelgate.v1.EndpointOuterClass.ListEndpointsRequest;
import modelgate.v1.EndpointServiceGrpc;

/** The interop checks, in the order and with the names of ../../../../../go/checks.go. */
final class Checks {
  /**
   * The slow endpoint streams one word every SLOW_DELAY_MS (echo's stream_delay_ms), so its reply
   * to SLOW_PROMPT takes SLOW_WORDS * SLOW_DELAY_MS in full: deadlines and cancels land mid-stream.
   */
  static final String SLOW_PROMPT = "one two three four five six seven";

  static final int SLOW_WORDS = 8; // "echo:" and the seven words
  static final long SLOW_DELAY_MS = 500;
  static final long DEADLINE_MS = 1500; // room for the connection and the first word on a loaded machine
  static final long CALL_TIMEOUT_MS = 10_000;
  static final String WRONG_API_KEY = "sk-wrong-key-000000000";
  /**
   * What the README example prints against the echo provider: the reply, the streamed reply and
   * its usage (1 prompt + 2 completion tokens), and the NOT_FOUND message.
   */
  static final String EXAMPLE_OUTPUT = "echo: hi\necho: hi\n3 tokens\nnot found: unknown endpoint \"no-such-endpoint\"\n";

  static final Metadata.Key<String> REQUEST_ID = Metadata.Key.of("x-request-id", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  /** A failed expectation, as opposed to an RPC error the check did not expect. */
  static final class CheckFailed extends RuntimeException {
    CheckFailed(String message) {
      super(message);
    }
  }

  record Check(String name, Runnable run) {}

  private final Channel channel;
  private final Channel authChannel;
  private final String authAddr;
  private final String apiKey;

  Checks(Channel channel, Channel authChannel, String authAddr, String apiKey) {
    this.channel = channel;
    this.authChannel = authChannel;
    this.authAddr = authAddr;
    this.apiKey = apiKey;
  }

  List<Check> all() {
    return List.of(
        new Check("chat_unary", this::chatUnary),
        new Check("stream_chat", this::streamChat),
        new Check("embed", this::embed),
        new Check("list_endpoints", this::listEndpoints),
        new Check("not_found", this::notFound),
        new Check("invalid_argument", this::invalidArgument),
        new Check("unauthenticated", this::unauthenticated),
        new Check("authenticated", this::authenticated),
        new Check("deadline_exceeded", this::deadlineExceeded),
        new Check("cancelled", this::cancelled),
        new Check("far_deadline", this::farDeadline),
        new Check("health", this::health),
        new Check("unimplemented", this::unimplemented));
  }

  static void expectEqual(Object actual, Object expected, String what) {
    if (!Objects.equals(actual, expected)) {
      throw new CheckFailed(what + ": expected " + expected + ", got " + actual);
    }
  }

  /** Runs call, which must fail with the given code and exact message. */
  static void expectStatus(Runnable call, Status.Code code, String message) {
    try {
      call.run();
    } catch (StatusRuntimeException e) {
      expectEqual(e.getStatus().getCode(), code, "status code");
      expectEqual(e.getStatus().getDescription(), message, "status message");
      return;
    }
    throw new CheckFailed("expected the call to fail with " + code + ", it succeeded");
  }

  /** The x-request-id (and an API key, if given) of one check's calls. */
  static Metadata metadata(String check, String apiKey) {
    Metadata md = new Metadata();
    md.put(REQUEST_ID, "java-" + check);
    if (apiKey != null) {
      md.put(AUTHORIZATION, "Bearer " + apiKey);
    }
    return md;
  }

  ChatServiceGrpc.ChatServiceBlockingStub chat(String check) {
    return ChatServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(metadata(check, null)))
        .withDeadlineAfter(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
  }

  static List<ChatMessage> user(String text) {
    return List.of(ChatMessage.newBuilder().setRole("user").setContent(text).build());
  }

  static List<Integer> usageOf(Usage u) {
    return List.of(u.getPromptTokens(), u.getCompletionTokens(), u.getTotalTokens());
  }

  void chatUnary() {
    AtomicReference<Metadata> headers = new AtomicReference<>();
    AtomicReference<Metadata> trailers = new AtomicReference<>();
    ChatServiceGrpc.ChatServiceBlockingStub stub = ChatServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(metadata("chat_unary", null)),
            MetadataUtils.newCaptureMetadataInterceptor(headers, trailers))
        .withDeadlineAfter(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
    ChatResponse res = stub.chat(ChatRequest.newBuilder()
        .setEndpoint("chat")
        .addMessages(ChatMessage.newBuilder().setRole("user").setContent("hello there"))
        .build());
    String reply = res.getChoices(0).getMessage().getContent();
    expectEqual(res.getChoicesCount(), 1, "number of choices");
    expectEqual(res.getModel(), "echo-1", "model");
    expectEqual(res.getChoices(0).getMessage().getRole(), "assistant", "role");
    expectEqual(reply, "echo: hello there", "content");
    expectEqual(res.getChoices(0).getFinishReason(), "stop", "finish_reason");
    expectEqual(res.hasUsage(), true, "usage present");
    expectEqual(usageOf(res.getUsage()), List.of(2, 3, 5), "usage (prompt, completion, total)");
    expectEqual(headers.get() == null ? null : headers.get().get(REQUEST_ID), "java-chat_unary", "x-request-id response header");
  }

  void streamChat() {
    List<StreamChatResponse> chunks = new ArrayList<>();
    Iterator<StreamChatResponse> stream = chat("stream_chat").streamChat(StreamChatRequest.newBuilder()
        .setEndpoint("chat")
        .addAllMessages(user("one two three"))
        .build());
    StringBuilder text = new StringBuilder();
    while (stream.hasNext()) {
      StreamChatResponse chunk = stream.next();
      chunk.getChoicesList().forEach(choice -> text.append(choice.getDelta().getContent()));
      chunks.add(chunk); // the last message carries the usage
    }
    if (chunks.size() <= 4) {
      throw new CheckFailed("expected a message per word, got " + chunks.size() + " messages");
    }
    boolean stopped = false;
    List<Integer> withUsage = new ArrayList<>();
    for (int i = 0; i < chunks.size(); i++) {
      for (var choice : chunks.get(i).getChoicesList()) {
        stopped = stopped || choice.getFinishReason().equals("stop");
      }
      if (chunks.get(i).hasUsage()) {
        withUsage.add(i);
      }
    }
    if (chunks.get(0).getChoicesCount() == 0) {
      throw new CheckFailed("the first message has no delta");
    }
    expectEqual(text.toString(), "echo: one two three", "joined deltas");
    expectEqual(chunks.get(0).getChoices(0).getDelta().getRole(), "assistant", "first delta's role");
    expectEqual(stopped, true, "some delta has finish_reason stop");
    expectEqual(withUsage, List.of(chunks.size() - 1), "indexes of the messages that carry usage");
    expectEqual(usageOf(chunks.get(chunks.size() - 1).getUsage()), List.of(3, 4, 7), "usage (prompt, completion, total)");
  }

  /**
   * The echo provider's deterministic embedding (src/providers/echo/index.ts): the sum of UTF-16
   * code units over 128 per dimension, normalised.
   */
  static float[] echoEmbedding(String text, int dimensions) {
    double[] v = new double[dimensions];
    for (int i = 0; i < text.length(); i++) {
      v[i % dimensions] += text.charAt(i) / 128.0;
    }
    double norm = Math.sqrt(Arrays.stream(v).map(x -> x * x).sum());
    if (norm == 0) {
      norm = 1;
    }
    float[] out = new float[dimensions];
    for (int i = 0; i < dimensions; i++) {
      out[i] = (float) (v[i] / norm);
    }
    return out;
  }

  void embed() {
    List<String> inputs = List.of("abc", "de");
    EmbedResponse res = EmbeddingsServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(metadata("embed", null)))
        .withDeadlineAfter(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS)
        .embed(EmbedRequest.newBuilder().setEndpoint("embeddings").addAllInputs(inputs).build());
    expectEqual(res.getModel(), "echo-embed-1", "model");
    expectEqual(res.getDataList().stream().map(Embedding::getIndex).toList(), List.of(0, 1), "indexes");
    for (int i = 0; i < res.getDataCount(); i++) {
      float[] want = echoEmbedding(inputs.get(i), 8);
      List<Float> got = res.getData(i).getValuesList();
      if (got.size() != want.length) {
        throw new CheckFailed("dimensions of \"" + inputs.get(i) + "\": expected " + want.length + ", got " + got.size());
      }
      for (int j = 0; j < want.length; j++) {
        if (Math.abs(got.get(j) - want[j]) > 1e-6) {
          throw new CheckFailed("vector of \"" + inputs.get(i) + "\": expected " + Arrays.toString(want) + ", got " + got);
        }
      }
    }
    expectEqual(res.getUsage().getPromptTokens(), 2, "usage.prompt_tokens");
  }

  void listEndpoints() {
    var res = EndpointServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(metadata("list_endpoints", null)))
        .withDeadlineAfter(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS)
        .listEndpoints(ListEndpointsRequest.getDefaultInstance());
    List<List<String>> got = new ArrayList<>();
    for (Endpoint e : res.getEndpointsList()) {
      got.add(List.of(e.getName(), e.getEndpointType(), e.getProvider(), e.getModel()));
    }
    List<List<String>> want = List.of(
        List.of("chat", "llm/v1/chat", "echo", "echo-1"),
        List.of("completions", "llm/v1/completions", "echo", "echo-1"),
        List.of("embeddings", "llm/v1/embeddings", "echo", "echo-embed-1"),
        List.of("slow", "llm/v1/chat", "echo", "echo-1"));
    expectEqual(got, want, "endpoints (name, type, provider, model)");
  }

  void notFound() {
    try {
      chat("not_found").chat(ChatRequest.newBuilder().setEndpoint("nope").addAllMessages(user("x")).build());
    } catch (StatusRuntimeException e) {
      // NOT_FOUND: unknown endpoint "nope"
      expectEqual(e.getStatus().getCode(), Status.Code.NOT_FOUND, "status code");
      expectEqual(e.getStatus().getDescription(), "unknown endpoint \"nope\"", "status message");
      return;
    }
    throw new CheckFailed("expected the call to fail with NOT_FOUND, it succeeded");
  }

  void invalidArgument() {
    expectStatus(
        () -> chat("invalid_argument").chat(ChatRequest.newBuilder().setEndpoint("chat").build()),
        Status.Code.INVALID_ARGUMENT,
        "messages: at least one message is required");
  }

  ChatServiceGrpc.ChatServiceBlockingStub authChat(String check, String key) {
    Channel withKey = ClientInterceptors.intercept(authChannel,
        MetadataUtils.newAttachHeadersInterceptor(metadata(check, key)));
    return ChatServiceGrpc.newBlockingStub(withKey).withDeadlineAfter(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
  }

  void unauthenticated() {
    ChatRequest req = ChatRequest.newBuilder().setEndpoint("chat").addAllMessages(user("hi")).build();
    expectStatus(() -> authChat("unauthenticated", WRONG_API_KEY).chat(req), Status.Code.UNAUTHENTICATED, "invalid API key");
    expectStatus(
        () -> authChat("unauthenticated", null).chat(req),
        Status.Code.UNAUTHENTICATED,
        "missing API key: send \"Authorization: Bearer <key>\"");
  }

  void authenticated() {
    ChatResponse res = authChat("authenticated", apiKey)
        .chat(ChatRequest.newBuilder().setEndpoint("chat").addAllMessages(user("with a key")).build());
    if (res.getChoicesCount() == 0) {
      throw new CheckFailed("no choices");
    }
    expectEqual(res.getChoices(0).getMessage().getContent(), "echo: with a key", "content");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      Example.chat(authAddr, apiKey, new PrintStream(out, true, StandardCharsets.UTF_8));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CheckFailed("interrupted");
    }
    expectEqual(out.toString(StandardCharsets.UTF_8), EXAMPLE_OUTPUT, "the README example's output");
  }

  /** Fails when a call cut short by a deadline or a cancel ran most of the full stream. */
  static void tookTooLong(long startedNanos) {
    long elapsedMs = (System.nanoTime() - startedNanos) / 1_000_000;
    long fullMs = SLOW_WORDS * SLOW_DELAY_MS;
    if (elapsedMs >= fullMs * 3 / 4) {
      throw new CheckFailed("the call took " + elapsedMs + "ms; the full stream takes " + fullMs + "ms");
    }
  }

  void deadlineExceeded() {
    long started = System.nanoTime();
    StreamChatRequest req = StreamChatRequest.newBuilder().setEndpoint("slow").addAllMessages(user(SLOW_PROMPT)).build();
    Iterator<StreamChatResponse> stream = ChatServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(metadata("deadline_exceeded", null)))
        .withDeadlineAfter(DEADLINE_MS, TimeUnit.MILLISECONDS)
        .streamChat(req);
    int received = 0;
    StatusRuntimeException error = null;
    try {
      while (stream.hasNext()) {
        stream.next();
        received++;
      }
    } catch (StatusRuntimeException e) {
      error = e;
    }
    if (error == null) {
      throw new CheckFailed("the stream ended normally after " + received + " messages despite a " + DEADLINE_MS + "ms deadline");
    }
    expectEqual(error.getStatus().getCode(), Status.Code.DEADLINE_EXCEEDED, "status code");
    if (received < 1 || received >= SLOW_WORDS) {
      throw new CheckFailed("expected part of the stream before the deadline, got " + received + " messages");
    }
    tookTooLong(started);
  }

  void cancelled() {
    long started = System.nanoTime();
    StreamChatRequest req = StreamChatRequest.newBuilder().setEndpoint("slow").addAllMessages(user(SLOW_PROMPT)).build();
    Context.CancellableContext call = Context.current().withCancellation();
    Context previous = call.attach();
    try {
      Iterator<StreamChatResponse> stream = chat("cancelled").streamChat(req);
      StreamChatResponse first = stream.next();
      if (first.getChoicesCount() == 0) {
        throw new CheckFailed("the first message has no delta");
      }
      expectEqual(first.getChoices(0).getDelta().getContent(), "echo:", "first delta");
      call.cancel(null); // sends RST_STREAM(CANCEL): the gateway aborts the upstream call
      try {
        stream.hasNext();
        throw new CheckFailed("the stream went on after the cancel");
      } catch (StatusRuntimeException e) {
        expectEqual(e.getStatus().getCode(), Status.Code.CANCELLED, "status code after cancel");
      }
    } finally {
      call.detach(previous);
    }
    tookTooLong(started);
  }

  void health() {
    HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel)
        .withDeadlineAfter(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
    HealthCheckResponse whole = health.check(HealthCheckRequest.newBuilder().setService("").build());
    expectEqual(whole.getStatus(), HealthCheckResponse.ServingStatus.SERVING, "health of the whole server");
    HealthCheckResponse chatService = health.check(HealthCheckRequest.newBuilder().setService("modelgate.v1.ChatService").build());
    expectEqual(chatService.getStatus(), HealthCheckResponse.ServingStatus.SERVING, "health of modelgate.v1.ChatService");
    expectStatus(
        () -> health.check(HealthCheckRequest.newBuilder().setService("no.such.Service").build()),
        Status.Code.NOT_FOUND,
        "unknown service: no.such.Service");
  }

  /**
   * A 30-day deadline, which grpc-java sends as grpc-timeout "2592000S", past what a Node timer
   * holds (2^31-1 ms): the stream must run to its end, not fail at once.
   */
  void farDeadline() {
    ChatServiceGrpc.ChatServiceBlockingStub far = ChatServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(metadata("far_deadline", null)))
        .withDeadlineAfter(30, TimeUnit.DAYS);
    StringBuilder text = new StringBuilder();
    Iterator<StreamChatResponse> stream = far.streamChat(StreamChatRequest.newBuilder().setEndpoint("slow").addAllMessages(user("one")).build());
    while (stream.hasNext()) {
      for (var choice : stream.next().getChoicesList()) {
        text.append(choice.getDelta().getContent());
      }
    }
    expectEqual(text.toString(), "echo: one", "joined deltas");
  }

  /** A method the gateway does not serve: its trailers-only UNIMPLEMENTED, as grpc-java reads it. */
  void unimplemented() {
    MethodDescriptor<ChatRequest, ChatResponse> nope =
        ChatServiceGrpc.getChatMethod().toBuilder().setFullMethodName("modelgate.v1.ChatService/Nope").build();
    Channel withId = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(metadata("unimplemented", null)));
    CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
    expectStatus(
        () -> ClientCalls.blockingUnaryCall(withId, nope, options, ChatRequest.getDefaultInstance()),
        Status.Code.UNIMPLEMENTED,
        "unknown method /modelgate.v1.ChatService/Nope");
  }
}
