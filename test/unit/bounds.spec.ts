// The identifier bounds walk (src/interceptors/bounds.ts): which fields it checks, with paths
// named as the proto spells them, oneof members and nested lists included.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CreateKeyRequestSchema } from "../../gen/modelgate/v1/admin_pb";
import { ChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import { GetUsageRequestSchema } from "../../gen/modelgate/v1/usage_pb";
import { checkIdentifiers, MAX_IDENTIFIER_CHARS, MAX_IDENTIFIER_ENTRIES } from "../../src/interceptors/bounds";

const errorOf = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

describe("checkIdentifiers", () => {
  const chat = (init: Parameters<typeof create<typeof ChatRequestSchema>>[1]) => create(ChatRequestSchema, { endpoint: "chat", ...init });

  it("passes ordinary requests, whatever the content", () => {
    expect(errorOf(() => checkIdentifiers(ChatRequestSchema, chat({ messages: [{ role: "user", content: "a\u0000b\n".repeat(10_000) }] })))).toBeUndefined();
  });

  it.each([
    ["endpoint", chat({ endpoint: "e".repeat(MAX_IDENTIFIER_CHARS + 1) }), `endpoint: longer than ${MAX_IDENTIFIER_CHARS} characters`],
    ["user", chat({ user: "u\u0000" }), "user: contains a control character"],
    ["a message's name", chat({ messages: [{ role: "user" }, { role: "user", name: "\u007f" }] }), "messages[1].name: contains a control character"],
    ["a tool call's id", chat({ messages: [{ role: "assistant", toolCalls: [{ id: "x\ny" }] }] }), "messages[0].tool_calls[0].id: contains a control character"],
    ["a oneof member (tool_choice.function_name)", chat({ toolChoice: { choice: { case: "functionName", value: "f\u0000" } } }), "tool_choice.function_name: contains a control character"],
  ])("refuses a bad %s, naming the field", (_name, message, expected) => {
    expect(errorOf(() => checkIdentifiers(ChatRequestSchema, message))).toBe(`[invalid_argument] ${expected}`);
  });

  it("bounds repeated identifiers and admin fields", () => {
    const roles = Array.from({ length: MAX_IDENTIFIER_ENTRIES + 1 }, (_, i) => `r${i}`);
    expect(errorOf(() => checkIdentifiers(CreateKeyRequestSchema, create(CreateKeyRequestSchema, { name: "k", roles })))).toBe(
      `[invalid_argument] roles: more than ${MAX_IDENTIFIER_ENTRIES} entries`,
    );
    expect(errorOf(() => checkIdentifiers(CreateKeyRequestSchema, create(CreateKeyRequestSchema, { name: "k", team: "t\u0000" })))).toBe(
      "[invalid_argument] team: contains a control character",
    );
    expect(errorOf(() => checkIdentifiers(GetUsageRequestSchema, create(GetUsageRequestSchema, { keyId: "\u0000" })))).toBe(
      "[invalid_argument] key_id: contains a control character",
    );
  });
});
