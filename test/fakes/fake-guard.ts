// A fake guard service for the remote guardrails (src/policies/guardrails-remote.ts), on one
// node:http server on 127.0.0.1, recording every request:
//   POST /v1/moderations  OpenAI's moderation API: {"model", "input": string | string[]} ->
//                         {"id", "model", "results": [{"flagged", "categories",
//                         "category_scores", "category_applied_input_types"}]}, one result per
//                         input. A text is flagged for `violence` when it says "kill", for
//                         `harassment/threatening` when it says "threat", for `self-harm/intent`
//                         when it says "hurt myself" (scores 0.91; 0.3 for "maybe-violent"; 0.01
//                         otherwise). "#mod-500" in a text answers 500, "#mod-hang" never answers.
//   POST /hook            the webhook contract (version 1): a text with "forbidden" blocks
//                         (reason policy.forbidden), "ACME-[0-9]+" is redacted to "[customer]"
//                         (reason pii.customer_id), "borderline" is flagged; "#hook-500" answers
//                         500, "#hook-garbage" a body that is not JSON, "#hook-bad" an unknown
//                         action, "#hook-hang" never answers.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface GuardRequest {
  path: string;
  headers: IncomingMessage["headers"];
  body: unknown;
}

export interface FakeGuard {
  url: string;
  readonly requests: GuardRequest[];
  reset(): void;
  close(): Promise<void>;
}

const categories = [
  "sexual",
  "sexual/minors",
  "harassment",
  "harassment/threatening",
  "hate",
  "hate/threatening",
  "illicit",
  "illicit/violent",
  "self-harm",
  "self-harm/intent",
  "self-harm/instructions",
  "violence",
  "violence/graphic",
] as const;

function scores(text: string): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(categories.map((c) => [c, 0.01]));
  if (/\bkill/i.test(text)) out["violence"] = 0.91;
  else if (/maybe-violent/i.test(text)) out["violence"] = 0.3;
  if (/\bthreat/i.test(text)) out["harassment/threatening"] = 0.91;
  if (/hurt myself/i.test(text)) out["self-harm/intent"] = 0.91;
  return out;
}

function moderation(text: string): Record<string, unknown> {
  const s = scores(text);
  const flags = Object.fromEntries(Object.entries(s).map(([c, v]) => [c, v > 0.5]));
  return {
    flagged: Object.values(flags).some(Boolean),
    categories: flags,
    category_scores: s,
    category_applied_input_types: Object.fromEntries(categories.map((c) => [c, ["text"]])),
  };
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

export async function startFakeGuard(): Promise<FakeGuard> {
  const requests: GuardRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer({ keepAlive: true }, (req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(parts).toString("utf8"));
      } catch {
        send(res, 400, JSON.stringify({ error: { message: "body is not JSON", type: "invalid_request_error" } }));
        return;
      }
      const path = (req.url ?? "").split("?")[0] ?? "";
      requests.push({ path, headers: req.headers, body });
      const record = body as { input?: unknown; texts?: unknown };
      if (path === "/v1/moderations" && req.method === "POST") {
        const inputs = typeof record.input === "string" ? [record.input] : Array.isArray(record.input) ? record.input.map(String) : [];
        const all = inputs.join("\n");
        if (all.includes("#mod-hang")) return void hanging.add(res);
        if (all.includes("#mod-500")) return send(res, 500, JSON.stringify({ error: { message: "moderation down", type: "server_error" } }));
        send(res, 200, JSON.stringify({ id: `modr-${requests.length}`, model: "omni-moderation-2024-09-26", results: inputs.map(moderation) }));
        return;
      }
      if (path === "/hook" && req.method === "POST") {
        const texts = Array.isArray(record.texts) ? record.texts.map(String) : [];
        const all = texts.join("\n");
        if (all.includes("#hook-hang")) return void hanging.add(res);
        if (all.includes("#hook-500")) return send(res, 500, "hook down");
        if (all.includes("#hook-garbage")) return send(res, 200, "<html>not json");
        if (all.includes("#hook-bad")) return send(res, 200, JSON.stringify({ action: "maybe" }));
        if (/forbidden/i.test(all)) return send(res, 200, JSON.stringify({ action: "block", reason: "policy.forbidden" }));
        if (/ACME-\d+/.test(all)) {
          return send(res, 200, JSON.stringify({ action: "redact", reason: "pii.customer_id", texts: texts.map((t) => t.replace(/ACME-\d+/g, "[customer]")) }));
        }
        if (/borderline/i.test(all)) return send(res, 200, JSON.stringify({ action: "flag", reason: "review.borderline" }));
        return send(res, 200, JSON.stringify({ action: "allow" }));
      }
      send(res, 404, JSON.stringify({ error: { message: `no route ${path}` } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    reset: () => void (requests.length = 0),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
