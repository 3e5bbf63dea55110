// Budgets survive a restart without Redis: a budget counter that does not exist yet starts from
// what the ledger recorded in the period.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AdminService } from "../../gen/modelgate/v1/admin_pb";
import { create } from "@bufbuild/protobuf";
import { ChatRequestSchema, ChatService } from "../../gen/modelgate/v1/chat_pb";
import { reservationForRequest } from "../../src/usage/tokens";
import { failure, startGateway } from "./harness";

const adminKey = "sk-admin-budget-0123456789";

describe("spend budget across a restart (SQLite store, memory counters)", () => {
  it("the second process refuses what the first already spent", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mg-budget-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const db = join(dir, "gw.db");
    const yaml = `
store: { database_url: "sqlite:${db}", key_refresh_ms: 100 }
auth: { enabled: true, keys: [{ name: ops, key: $ADMIN_KEY, roles: [admin] }] }
access: { grants: [{ endpoints: ["*"], teams: [t] }] }
prices: [{ provider: echo, model: echo-1, input_per_mtok: 1000000, output_per_mtok: 1000000 }]
endpoints: [{ name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }]
`;
    const words = Array.from({ length: 8 }, (_, i) => `w${i}`).join(" ");
    const request = { endpoint: "chat", messages: [{ role: "user", content: words }], maxTokens: 9 };
    // At $1 a token: a call reserves R = its prompt estimate + 9 and spends 17 (8 prompt + 9
    // completion words, echo's usage). A budget of 16 + R admits the first call, not a second.
    const r = reservationForRequest(create(ChatRequestSchema, request), 1024);
    const budget = 16 + r.promptTokens + r.maxCompletionTokens;
    const first = await startGateway(yaml, { ADMIN_KEY: adminKey });
    const t1 = createGrpcTransport({ baseUrl: first.url });
    const made = await createClient(AdminService, t1).createKey(
      { name: "b", team: "t", limits: { budgetUsd: budget, budgetPeriod: "month" } },
      { headers: { authorization: `Bearer ${adminKey}` } },
    );
    await new Promise((r) => setTimeout(r, 300));
    const auth = { headers: { authorization: `Bearer ${made.secret}` } };
    await createClient(ChatService, t1).chat(request, auth);
    await first.close(); // flushes the ledger
    const second = await startGateway(yaml, { ADMIN_KEY: adminKey });
    const err = await failure(
      createClient(ChatService, createGrpcTransport({ baseUrl: second.url })).chat(request, auth),
    );
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(new RegExp(`^budget of \\$${budget} per month for key "b" reached`));
    await second.close();
  });
});
