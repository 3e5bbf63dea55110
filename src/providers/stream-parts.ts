// Streams whose events come in content blocks (Anthropic Messages, Bedrock ConverseStream) are
// first read into these parts; one function turns a part into our chat delta.

export type StreamPart =
  | { kind: "start" }
  | { kind: "text"; text: string }
  /** `index` counts tool calls in the message (0, 1, ...), not content blocks. */
  | { kind: "tool_start"; index: number; id: string; name: string }
  | { kind: "tool_args"; index: number; fragment: string }
  | { kind: "finish"; finishReason: string };

export function chatDelta(part: StreamPart) {
  switch (part.kind) {
    case "start":
      return { role: "assistant", content: "" };
    case "text":
      return { role: "", content: part.text };
    case "tool_start":
      // The call's id and name come first; its arguments follow as tool_args fragments.
      return {
        role: "",
        content: "",
        toolCalls: [{ index: part.index, id: part.id, type: "function", function: { name: part.name, arguments: "" } }],
      };
    case "tool_args":
      return { role: "", content: "", toolCalls: [{ index: part.index, function: { arguments: part.fragment } }] };
    case "finish":
      return { role: "", content: "" };
  }
}
