package modelgate.interop;

// The README's Java example ("Calling modelgate from your language"); the authenticated check runs
// it against the gateway with auth on.

// snippet:begin java
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.io.PrintStream;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import modelgate.v1.Chat.ChatRequest;
import modelgate.v1.Chat.ChatResponse;
import modelgate.v1.Chat.StreamChatRequest;
import modelgate.v1.Chat.StreamChatResponse;
import modelgate.v1.ChatServiceGrpc;
import modelgate.v1.Common.ChatMessage;

/** Asks once, streams a reply with its token usage, and handles an error status. */
final class Example {
  static void chat(String addr, String apiKey, PrintStream out) throws InterruptedException {
    ManagedChannel channel = ManagedChannelBuilder.forTarget(addr).usePlaintext().build();
    try {
      Metadata auth = new Metadata();
      auth.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + apiKey);
      ChatServiceGrpc.ChatServiceBlockingStub chat = ChatServiceGrpc.newBlockingStub(channel)
          .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth))
          .withDeadlineAfter(10, TimeUnit.SECONDS);
      ChatMessage question = ChatMessage.newBuilder().setRole("user").setContent("hi").build();

      ChatResponse res = chat.chat(ChatRequest.newBuilder().setEndpoint("chat").addMessages(question).build());
      out.println(res.getChoices(0).getMessage().getContent());

      Iterator<StreamChatResponse> stream =
          chat.streamChat(StreamChatRequest.newBuilder().setEndpoint("chat").addMessages(question).build());
      while (stream.hasNext()) {
        StreamChatResponse chunk = stream.next();
        chunk.getChoicesList().forEach(choice -> out.print(choice.getDelta().getContent()));
        if (chunk.hasUsage()) { // only the last message carries it
          out.println("\n" + chunk.getUsage().getTotalTokens() + " tokens");
        }
      }

      try {
        chat.chat(ChatRequest.newBuilder().setEndpoint("no-such-endpoint").addMessages(question).build());
      } catch (StatusRuntimeException err) {
        if (err.getStatus().getCode() != Status.Code.NOT_FOUND) {
          throw err;
        }
        out.println("not found: " + err.getStatus().getDescription());
      }
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
// snippet:end
