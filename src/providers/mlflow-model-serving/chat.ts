// Chat with an LLM behind an MLflow scoring server, as MLflow AI Gateway does it: the one
// message's text as `{"inputs": [text], "params": {...}}`, each prediction string a choice.
// MLflow takes a single message ("MLflow chat models are only capable of processing a single
// query at a time") and sends its content only; the model reports no token usage.
import type { MlflowConfig } from "./config";
import type { ChatMessage } from "../../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../../errors";
import type { ChatParams, ChatResult, ChatTranslator } from "../types";
import { PROVIDER } from "./config";
import { invocationsRequest, notStreamable, samplingParams } from "./invocations";
import { readTexts } from "./predictions";
import { portableMessages } from "../portable-input";

/** Refuses what the scoring server cannot be told, rather than dropping it. */
function checkSupported(params: ChatParams): void {
  const unsupported = [
    params.tools.length > 0 && "tools",
    params.toolChoice !== undefined && "tool_choice",
    params.responseFormat !== undefined && "response_format",
    params.parallelToolCalls !== undefined && "parallel_tool_calls",
  ].filter((field) => field !== false);
  if (unsupported.length > 0) throw invalidArgument(`${PROVIDER} does not support ${unsupported.join(", ")}`);
  if (params.messages.length !== 1) {
    throw invalidArgument(
      `${PROVIDER}: a model behind an MLflow scoring server takes exactly one message per call; got ${params.messages.length}`,
    );
  }
}

/** The message's text: `content`, then any text parts. Only a user message fits, as MLflow sends no role. */
function messageText(message: ChatMessage): string {
  if (message.role !== "user") {
    throw invalidArgument(`${PROVIDER}: messages[0]: role "${message.role}" is not supported (MLflow sends only a user message's text)`);
  }
  if (message.toolCalls.length > 0 || message.toolCallId !== "" || message.name !== "") {
    throw invalidArgument(`${PROVIDER}: messages[0]: tool_calls, tool_call_id and name are not supported`);
  }
  let text = message.content;
  message.parts.forEach(({ part }, i) => {
    if (part.case !== "text") {
      throw invalidArgument(`${PROVIDER}: messages[0].parts[${i}]: only text parts are supported`);
    }
    text += part.value;
  });
  return text;
}

export const mlflowChat: ChatTranslator<MlflowConfig> = {
  request(params, target, stream) {
    if (stream) notStreamable("Chat", "StreamChat");
    checkSupported(params);
    return invocationsRequest(target, { inputs: [messageText(portableMessages(PROVIDER, params.messages)[0]!)], params: samplingParams(params) });
  },

  /** No id and no model in the answer: the model client fills the model from the endpoint. */
  response(body): ChatResult {
    return {
      id: "",
      model: "",
      choices: readTexts(body).map((content, index) => ({
        index,
        message: { role: "assistant", content },
        finishReason: "",
      })),
    };
  },

  streamDecoder() {
    return notStreamable("Chat", "StreamChat");
  },
};
