// The README's TypeScript example ("Calling modelgate from your language");
// test/interop/readme-snippets.spec.ts runs it against a gateway with auth on.

// snippet:begin typescript
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../../gen/modelgate/v1/chat_pb";

/** Asks once, streams a reply with its token usage, and handles an error status. */
export async function chatExample(baseUrl: string, apiKey: string, print: (text: string) => void): Promise<void> {
  // gRPC here; createConnectTransport and createGrpcWebTransport reach the same port.
  const chat = createClient(ChatService, createGrpcTransport({ baseUrl }));
  const options = { headers: { authorization: `Bearer ${apiKey}` }, timeoutMs: 10_000 };
  const messages = [{ role: "user", content: "hi" }];

  const res = await chat.chat({ endpoint: "chat", messages }, options);
  print(`${res.choices[0]?.message?.content}\n`);

  for await (const chunk of chat.streamChat({ endpoint: "chat", messages }, options)) {
    for (const choice of chunk.choices) print(choice.delta?.content ?? "");
    if (chunk.usage) print(`\n${chunk.usage.totalTokens} tokens\n`); // only the last message carries it
  }

  try {
    await chat.chat({ endpoint: "no-such-endpoint", messages }, options);
  } catch (err) {
    const error = ConnectError.from(err);
    if (error.code !== Code.NotFound) throw error;
    print(`not found: ${error.rawMessage}\n`);
  }
}
// snippet:end
