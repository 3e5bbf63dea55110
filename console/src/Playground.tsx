// Playground: pick a chat endpoint, send messages, and watch the answer stream in over
// ChatService.StreamChat (connect-web, fetch streaming). When it ends: usage, latency, time to
// first token and the target that answered (the stream's last message), and the call's cost from
// the usage ledger (UsageService.ExportUsage, found by the x-request-id this page sent). Cancel
// aborts the fetch; the gateway then aborts its upstream request.
import { createClient } from "@connectrpc/connect";
import { useQuery, useTransport } from "@connectrpc/connect-query";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { EndpointService } from "../../gen/modelgate/v1/endpoint_pb";
import { UsageService } from "../../gen/modelgate/v1/usage_pb";
import { describeError } from "./transport";

interface Turn {
  role: "user" | "assistant";
  content: string;
}

interface Outcome {
  status: "done" | "cancelled" | "failed";
  error?: string;
  requestId: string;
  latencyMs: number;
  ttftMs: number | null;
  promptTokens?: number;
  completionTokens?: number;
  totalTokens?: number;
  target?: string;
  attempts?: number;
  finishReason?: string;
  model?: string;
}

type Cost = { state: "looking" } | { state: "known"; usd: string } | { state: "unknown"; why: string };

export function Playground() {
  const endpoints = useQuery(EndpointService.method.listEndpoints, {});
  const transport = useTransport();
  const chatEndpoints = (endpoints.data?.endpoints ?? []).filter((e) => e.endpointType === "llm/v1/chat");
  const [endpoint, setEndpoint] = useState("");
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState("");
  const [streaming, setStreaming] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [cost, setCost] = useState<Cost | null>(null);
  const abortRef = useRef<AbortController | null>(null);

  useEffect(() => {
    if (endpoint === "" && chatEndpoints[0]) setEndpoint(chatEndpoints[0].name);
  }, [endpoint, chatEndpoints]);
  // Leaving the view cancels a running call.
  useEffect(() => () => abortRef.current?.abort(), []);

  async function send(event: FormEvent) {
    event.preventDefault();
    const text = draft.trim();
    if (text === "" || endpoint === "" || abortRef.current) return;
    const history: Turn[] = [...turns, { role: "user", content: text }];
    setTurns(history);
    setDraft("");
    setOutcome(null);
    setCost(null);
    setStreaming("");
    const abort = new AbortController();
    abortRef.current = abort;
    const requestId = crypto.randomUUID();
    const started = performance.now();
    let ttftMs: number | null = null;
    let answer = "";
    const result: Outcome = { status: "done", requestId, latencyMs: 0, ttftMs: null };
    try {
      const client = createClient(ChatService, transport);
      const stream = client.streamChat(
        { endpoint, messages: history.map((t) => ({ role: t.role, content: t.content })) },
        { signal: abort.signal, headers: { "x-request-id": requestId }, timeoutMs: 300_000 },
      );
      for await (const chunk of stream) {
        for (const choice of chunk.choices) {
          if (choice.index !== 0) continue;
          const piece = choice.delta?.content ?? "";
          if (piece !== "") {
            if (ttftMs === null) ttftMs = performance.now() - started;
            answer += piece;
            setStreaming(answer);
          }
          if (choice.finishReason) result.finishReason = choice.finishReason;
        }
        if (chunk.model) result.model = chunk.model;
        if (chunk.usage) {
          result.promptTokens = chunk.usage.promptTokens;
          result.completionTokens = chunk.usage.completionTokens;
          result.totalTokens = chunk.usage.totalTokens;
        }
        if (chunk.routing) {
          result.target = chunk.routing.target;
          result.attempts = chunk.routing.attempts;
        }
      }
    } catch (err) {
      if (abort.signal.aborted) result.status = "cancelled";
      else {
        result.status = "failed";
        result.error = describeError(err);
      }
    } finally {
      abortRef.current = null;
    }
    result.latencyMs = performance.now() - started;
    result.ttftMs = ttftMs;
    setStreaming(null);
    setTurns([...history, { role: "assistant", content: answer }]);
    setOutcome(result);
    if (result.status === "done") void lookUpCost(requestId, new Date(Date.now() - 120_000));
  }

  /** The call's cost from the ledger, which the gateway writes in the background: a few tries. */
  async function lookUpCost(requestId: string, since: Date) {
    setCost({ state: "looking" });
    const usage = createClient(UsageService, transport);
    let why = "the ledger has no row for this call yet";
    for (let attempt = 0; attempt < 6; attempt++) {
      try {
        let csv = "";
        for await (const part of usage.exportUsage(
          { startTime: timestampFromDate(since), endTime: timestampFromDate(new Date(Date.now() + 60_000)) },
          { timeoutMs: 10_000 },
        )) {
          csv += part.csv;
        }
        const found = findCost(csv, requestId);
        if (found !== null) {
          setCost(found === "" ? { state: "unknown", why: "no price known for this model" } : { state: "known", usd: found });
          return;
        }
      } catch (err) {
        setCost({ state: "unknown", why: describeError(err) });
        return;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    setCost({ state: "unknown", why });
  }

  function cancel() {
    abortRef.current?.abort();
  }

  const busy = streaming !== null;
  return (
    <section aria-labelledby="playground-title" className="playground">
      <h1 id="playground-title">Playground</h1>
      {endpoints.error && (
        <p role="alert" className="error">
          {describeError(endpoints.error)}
        </p>
      )}
      <div className="row">
        <label htmlFor="pg-endpoint">Chat endpoint</label>
        <select id="pg-endpoint" value={endpoint} onChange={(e) => setEndpoint(e.target.value)} disabled={busy}>
          {chatEndpoints.length === 0 && <option value="">no chat endpoints</option>}
          {chatEndpoints.map((e) => (
            <option key={e.name} value={e.name}>
              {e.name}
            </option>
          ))}
        </select>
        <button
          type="button"
          disabled={busy || turns.length === 0}
          onClick={() => {
            setTurns([]);
            setOutcome(null);
            setCost(null);
          }}
        >
          Clear conversation
        </button>
      </div>
      <ol className="transcript" aria-label="Conversation">
        {turns.map((t, i) => (
          <li key={i} className={t.role} data-role={t.role}>
            <span className="who">{t.role === "user" ? "You" : "Assistant"}</span>
            <p>{t.content}</p>
          </li>
        ))}
        {streaming !== null && (
          <li className="assistant streaming" data-role="assistant-streaming">
            <span className="who">Assistant</span>
            <p data-testid="streaming-text" aria-live="polite" aria-busy="true">
              {streaming}
            </p>
          </li>
        )}
      </ol>
      <form onSubmit={(e) => void send(e)} className="composer">
        <label htmlFor="pg-message">Message</label>
        <textarea
          id="pg-message"
          rows={3}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) e.currentTarget.form?.requestSubmit();
          }}
        />
        <div className="row">
          <button type="submit" disabled={busy || draft.trim() === "" || endpoint === ""}>
            Send
          </button>
          <button type="button" onClick={cancel} disabled={!busy}>
            Cancel
          </button>
          <span className="muted">Ctrl+Enter sends</span>
        </div>
      </form>
      {outcome && <OutcomePanel outcome={outcome} cost={cost} />}
    </section>
  );
}

function OutcomePanel({ outcome, cost }: { outcome: Outcome; cost: Cost | null }) {
  return (
    <section aria-label="Last call" className="outcome" data-status={outcome.status} role="status">
      <h2>
        {outcome.status === "done" ? "Answered" : outcome.status === "cancelled" ? "Cancelled" : "Failed"}
      </h2>
      {outcome.error && <p className="error">{outcome.error}</p>}
      <dl>
        <dt>Latency</dt>
        <dd data-testid="latency">{outcome.latencyMs.toFixed(0)} ms</dd>
        <dt>Time to first token</dt>
        <dd data-testid="ttft">{outcome.ttftMs === null ? "—" : `${outcome.ttftMs.toFixed(0)} ms`}</dd>
        {outcome.totalTokens !== undefined && (
          <>
            <dt>Tokens</dt>
            <dd data-testid="usage">
              {outcome.promptTokens} prompt + {outcome.completionTokens} completion = {outcome.totalTokens}
            </dd>
          </>
        )}
        {outcome.target !== undefined && (
          <>
            <dt>Target</dt>
            <dd data-testid="target">
              {outcome.target} ({outcome.attempts} upstream request{outcome.attempts === 1 ? "" : "s"})
            </dd>
          </>
        )}
        {outcome.model && (
          <>
            <dt>Model</dt>
            <dd>{outcome.model}</dd>
          </>
        )}
        {outcome.finishReason && (
          <>
            <dt>Finish reason</dt>
            <dd>{outcome.finishReason}</dd>
          </>
        )}
        {cost && (
          <>
            <dt>Cost</dt>
            <dd data-testid="cost">
              {cost.state === "looking" ? "looking it up…" : cost.state === "known" ? `$${cost.usd}` : `unknown (${cost.why})`}
            </dd>
          </>
        )}
        <dt>Request id</dt>
        <dd>
          <code>{outcome.requestId}</code>
        </dd>
      </dl>
    </section>
  );
}

/** The cost_usd cell of the ledger CSV row with this request id ("" = unknown cost), or null. */
function findCost(csv: string, requestId: string): string | null {
  const lines = csv.split(/\r?\n/);
  const header = parseCsvLine(lines[0] ?? "");
  const idColumn = header.indexOf("request_id");
  const costColumn = header.indexOf("cost_usd");
  if (idColumn < 0 || costColumn < 0) return null;
  for (const line of lines.slice(1)) {
    if (!line.includes(requestId)) continue;
    const cells = parseCsvLine(line);
    if (cells[idColumn] === requestId) return cells[costColumn] ?? "";
  }
  return null;
}

/** One RFC 4180 line (no embedded newlines in the ledger's cells that matter here). */
function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      out.push(cell);
      cell = "";
    } else cell += c;
  }
  out.push(cell);
  return out;
}
