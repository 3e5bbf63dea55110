// Playgrounds, one per kind of endpoint, each on the gateway's own typed API:
// - Chat: send messages, the answer streams in over ChatService.StreamChat.
// - Completions: a prompt, the text streams in over CompletionsService.StreamComplete.
// - Embeddings: inputs (one per line) through EmbeddingsService.Embed; each vector's dimensions
//   and L2 norm.
// - Predict: a JSON dataframe (records or split, or an MLflow body with instances/inputs) through
//   PredictService.Predict; the predictions.
// Every call ends with its latency (and time to first token for streams), tokens, the target that
// answered, and its cost and trace id from the usage ledger (UsageService.ListCalls by the
// x-request-id the page sent, which any key may ask about its own calls). Cancel aborts the fetch;
// the gateway then aborts its upstream request. Leaving a playground cancels its running call.
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { createClient, type Transport } from "@connectrpc/connect";
import { useQuery, useTransport } from "@connectrpc/connect-query";
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import type { Routing, Usage } from "../../gen/modelgate/v1/common_pb";
import { CompletionsService } from "../../gen/modelgate/v1/completions_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { EndpointService } from "../../gen/modelgate/v1/endpoint_pb";
import { PredictRequestSchema, PredictService } from "../../gen/modelgate/v1/predict_pb";
import { UsageService } from "../../gen/modelgate/v1/usage_pb";
import { describeError } from "./transport";
import "./views.css";

const kinds = [
  { id: "chat", label: "Chat", type: "llm/v1/chat" },
  { id: "completions", label: "Completions", type: "llm/v1/completions" },
  { id: "embeddings", label: "Embeddings", type: "llm/v1/embeddings" },
  { id: "predict", label: "Predict", type: "predict" },
] as const;
type Kind = (typeof kinds)[number]["id"];

/** How long a call may take before the page gives up on it. */
const CALL_TIMEOUT_MS = 300_000;

export function Playground() {
  const [kind, setKind] = useState<Kind>("chat");
  return (
    <section aria-labelledby="playground-title" className="playground">
      <h1 id="playground-title">Playground</h1>
      <div className="kinds" role="group" aria-label="Kind of endpoint">
        {kinds.map((k) => (
          <button key={k.id} type="button" aria-pressed={kind === k.id} onClick={() => setKind(k.id)}>
            {k.label}
          </button>
        ))}
      </div>
      {kind === "chat" ? <ChatPlayground /> : kind === "completions" ? <CompletionsPlayground /> : kind === "embeddings" ? <EmbeddingsPlayground /> : <PredictPlayground />}
    </section>
  );
}

// ---------------------------------------------------------------------------------------------
// What every playground shares: the endpoint picker, one call's outcome, its cost from the ledger.

/** The endpoints of one type, and the one picked (the first until the user picks another). */
function useEndpoints(type: string) {
  const endpoints = useQuery(EndpointService.method.listEndpoints, {});
  const names = (endpoints.data?.endpoints ?? []).filter((e) => e.endpointType === type).map((e) => e.name);
  const [picked, setPicked] = useState("");
  const endpoint = names.includes(picked) ? picked : (names[0] ?? "");
  return { names, endpoint, setEndpoint: setPicked, error: endpoints.error };
}

function EndpointPicker(props: { id: string; label: string; names: string[]; value: string; onChange: (name: string) => void; disabled: boolean; error: Error | null }) {
  return (
    <>
      {props.error && (
        <p role="alert" className="error">
          {describeError(props.error)}
        </p>
      )}
      <label htmlFor={props.id}>{props.label}</label>
      <select id={props.id} value={props.value} onChange={(e) => props.onChange(e.target.value)} disabled={props.disabled}>
        {props.names.length === 0 && <option value="">none of this type</option>}
        {props.names.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </>
  );
}

interface Outcome {
  status: "done" | "cancelled" | "failed";
  error?: string;
  requestId: string;
  latencyMs: number;
  /** Streams only: when the first text arrived (null: none did). */
  ttftMs?: number | null;
  usage?: Usage;
  routing?: Routing;
  finishReason?: string;
  model?: string;
}

type Ledger = { state: "looking" } | { state: "found"; costUsd: number | undefined; traceId: string } | { state: "unknown"; why: string };

/** A call made from a playground: its request id, abort, timing, and the ledger look-up after it. */
function useCall(transport: Transport) {
  const abortRef = useRef<AbortController | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [ledger, setLedger] = useState<Ledger | null>(null);
  // Leaving the playground cancels a running call.
  useEffect(() => () => abortRef.current?.abort(), []);

  /** Runs `body` as one call; its result's fields join the outcome. */
  async function run(body: (call: { signal: AbortSignal; headers: Record<string, string>; started: number }) => Promise<Partial<Outcome>>) {
    if (abortRef.current) return;
    const abort = new AbortController();
    abortRef.current = abort;
    const requestId = crypto.randomUUID();
    const started = performance.now();
    setBusy(true);
    setOutcome(null);
    setLedger(null);
    let result: Outcome = { status: "done", requestId, latencyMs: 0 };
    try {
      result = { ...result, ...(await body({ signal: abort.signal, headers: { "x-request-id": requestId }, started })) };
    } catch (err) {
      result = abort.signal.aborted ? { ...result, status: "cancelled" } : { ...result, status: "failed", error: describeError(err) };
    } finally {
      abortRef.current = null;
    }
    result.latencyMs = performance.now() - started;
    setBusy(false);
    setOutcome(result);
    if (result.status !== "cancelled") void lookUp(requestId);
  }

  /** The call's ledger row (cost, trace id), which the gateway writes in the background: a few tries. */
  async function lookUp(requestId: string) {
    setLedger({ state: "looking" });
    const usage = createClient(UsageService, transport);
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        const { calls } = await usage.listCalls({ requestId, pageSize: 1 }, { timeoutMs: 10_000 });
        const row = calls[0];
        if (row) {
          setLedger({ state: "found", costUsd: row.costUsd, traceId: row.traceId });
          return;
        }
      } catch (err) {
        setLedger({ state: "unknown", why: describeError(err) });
        return;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    setLedger({ state: "unknown", why: "the ledger has no row for this call yet" });
  }

  return {
    busy,
    outcome,
    ledger,
    run,
    cancel: () => abortRef.current?.abort(),
    clear: () => {
      setOutcome(null);
      setLedger(null);
    },
  };
}

function OutcomePanel({ outcome, ledger, children }: { outcome: Outcome; ledger: Ledger | null; children?: ReactNode }) {
  const { usage, routing } = outcome;
  return (
    <section aria-label="Last call" className="outcome" data-status={outcome.status} role="status">
      <h2>{outcome.status === "done" ? "Answered" : outcome.status === "cancelled" ? "Cancelled" : "Failed"}</h2>
      {outcome.error && <p className="error">{outcome.error}</p>}
      {children}
      <dl>
        <dt>Latency</dt>
        <dd data-testid="latency">{outcome.latencyMs.toFixed(0)} ms</dd>
        {outcome.ttftMs !== undefined && (
          <>
            <dt>Time to first token</dt>
            <dd data-testid="ttft">{outcome.ttftMs === null ? "—" : `${outcome.ttftMs.toFixed(0)} ms`}</dd>
          </>
        )}
        {usage && (
          <>
            <dt>Tokens</dt>
            <dd data-testid="usage">
              {usage.promptTokens} prompt + {usage.completionTokens} completion = {usage.totalTokens}
            </dd>
          </>
        )}
        {routing && (
          <>
            <dt>Target</dt>
            <dd data-testid="target">
              {routing.target} ({routing.attempts} upstream request{routing.attempts === 1 ? "" : "s"}){routing.cacheHit ? ", from the cache" : ""}
            </dd>
          </>
        )}
        {outcome.model && (
          <>
            <dt>Model</dt>
            <dd data-testid="model">{outcome.model}</dd>
          </>
        )}
        {outcome.finishReason && (
          <>
            <dt>Finish reason</dt>
            <dd>{outcome.finishReason}</dd>
          </>
        )}
        {ledger && (
          <>
            <dt>Cost</dt>
            <dd data-testid="cost">
              {ledger.state === "looking"
                ? "looking it up…"
                : ledger.state === "unknown"
                  ? `unknown (${ledger.why})`
                  : ledger.costUsd === undefined
                    ? "unknown (no price known for this model)"
                    : `$${formatUsd(ledger.costUsd)}`}
            </dd>
          </>
        )}
        {ledger?.state === "found" && ledger.traceId !== "" && (
          <>
            <dt>Trace id</dt>
            <dd>
              <code data-testid="trace-id">{ledger.traceId}</code>
            </dd>
          </>
        )}
        <dt>Request id</dt>
        <dd>
          <code>{outcome.requestId}</code>
          {ledger?.state === "found" && (
            <>
              {" "}
              <a href={`#/logs/?request_id=${encodeURIComponent(outcome.requestId)}`}>in Logs</a>
            </>
          )}
        </dd>
      </dl>
    </section>
  );
}

/** Dollars with enough digits for a fraction of a cent, without trailing zeros. */
export function formatUsd(usd: number): string {
  if (usd === 0) return "0";
  return usd.toFixed(usd >= 0.01 ? 4 : 8).replace(/\.?0+$/, "");
}

// ---------------------------------------------------------------------------------------------
// Chat

interface Turn {
  role: "user" | "assistant";
  content: string;
}

function ChatPlayground() {
  const transport = useTransport();
  const { names, endpoint, setEndpoint, error } = useEndpoints("llm/v1/chat");
  const call = useCall(transport);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState("");
  const [streaming, setStreaming] = useState<string | null>(null);

  async function send(event: FormEvent) {
    event.preventDefault();
    const text = draft.trim();
    if (text === "" || endpoint === "" || call.busy) return;
    const history: Turn[] = [...turns, { role: "user", content: text }];
    setTurns(history);
    setDraft("");
    setStreaming("");
    let answer = "";
    await call.run(async ({ signal, headers, started }) => {
      const out: Partial<Outcome> = { ttftMs: null };
      const stream = createClient(ChatService, transport).streamChat(
        { endpoint, messages: history.map((t) => ({ role: t.role, content: t.content })) },
        { signal, headers, timeoutMs: CALL_TIMEOUT_MS },
      );
      for await (const chunk of stream) {
        for (const choice of chunk.choices) {
          if (choice.index !== 0) continue;
          const piece = choice.delta?.content ?? "";
          if (piece !== "") {
            if (out.ttftMs === null) out.ttftMs = performance.now() - started;
            answer += piece;
            setStreaming(answer);
          }
          if (choice.finishReason) out.finishReason = choice.finishReason;
        }
        if (chunk.model) out.model = chunk.model;
        if (chunk.usage) out.usage = chunk.usage;
        if (chunk.routing) out.routing = chunk.routing;
      }
      return out;
    });
    setStreaming(null);
    setTurns([...history, { role: "assistant", content: answer }]);
  }

  const busy = streaming !== null;
  return (
    <>
      <div className="row">
        <EndpointPicker id="pg-endpoint" label="Chat endpoint" names={names} value={endpoint} onChange={setEndpoint} disabled={busy} error={error} />
        <button
          type="button"
          disabled={busy || turns.length === 0}
          onClick={() => {
            setTurns([]);
            call.clear();
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
          <button type="button" onClick={call.cancel} disabled={!busy}>
            Cancel
          </button>
          <span className="muted">Ctrl+Enter sends</span>
        </div>
      </form>
      {call.outcome && <OutcomePanel outcome={call.outcome} ledger={call.ledger} />}
    </>
  );
}

// ---------------------------------------------------------------------------------------------
// Completions

function CompletionsPlayground() {
  const transport = useTransport();
  const { names, endpoint, setEndpoint, error } = useEndpoints("llm/v1/completions");
  const call = useCall(transport);
  const [prompt, setPrompt] = useState("");
  const [maxTokens, setMaxTokens] = useState("");
  const [text, setText] = useState<string | null>(null);
  const maxTokensValue = maxTokens.trim() === "" ? undefined : Number(maxTokens);
  const maxTokensValid = maxTokensValue === undefined || (Number.isInteger(maxTokensValue) && maxTokensValue >= 1 && maxTokensValue <= 1_000_000);

  async function complete(event: FormEvent) {
    event.preventDefault();
    if (prompt.trim() === "" || endpoint === "" || call.busy || !maxTokensValid) return;
    setText("");
    let answer = "";
    await call.run(async ({ signal, headers, started }) => {
      const out: Partial<Outcome> = { ttftMs: null };
      const stream = createClient(CompletionsService, transport).streamComplete(
        { endpoint, prompt, ...(maxTokensValue !== undefined && { maxTokens: maxTokensValue }) },
        { signal, headers, timeoutMs: CALL_TIMEOUT_MS },
      );
      for await (const chunk of stream) {
        for (const choice of chunk.choices) {
          if (choice.index !== 0) continue;
          if (choice.text !== "") {
            if (out.ttftMs === null) out.ttftMs = performance.now() - started;
            answer += choice.text;
            setText(answer);
          }
          if (choice.finishReason) out.finishReason = choice.finishReason;
        }
        if (chunk.model) out.model = chunk.model;
        if (chunk.usage) out.usage = chunk.usage;
        if (chunk.routing) out.routing = chunk.routing;
      }
      return out;
    });
  }

  return (
    <form onSubmit={(e) => void complete(e)} className="composer" aria-label="Completion">
      <div className="row">
        <EndpointPicker id="pg-completions-endpoint" label="Completions endpoint" names={names} value={endpoint} onChange={setEndpoint} disabled={call.busy} error={error} />
        <label htmlFor="pg-max-tokens">Max tokens</label>
        <input
          id="pg-max-tokens"
          className="narrow"
          inputMode="numeric"
          value={maxTokens}
          onChange={(e) => setMaxTokens(e.target.value)}
          aria-invalid={!maxTokensValid}
          aria-describedby="pg-max-tokens-help"
          disabled={call.busy}
        />
        <span id="pg-max-tokens-help" className="muted">
          {maxTokensValid ? "empty: the endpoint's default" : "a whole number from 1"}
        </span>
      </div>
      <label htmlFor="pg-prompt">Prompt</label>
      <textarea id="pg-prompt" rows={4} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
      <div className="row">
        <button type="submit" disabled={call.busy || prompt.trim() === "" || endpoint === "" || !maxTokensValid}>
          Complete
        </button>
        <button type="button" onClick={call.cancel} disabled={!call.busy}>
          Cancel
        </button>
      </div>
      {text !== null && (
        <div className="completion">
          <h2 id="pg-completion-title">Completion</h2>
          <p data-testid="completion-text" aria-labelledby="pg-completion-title" aria-live="polite" aria-busy={call.busy}>
            {text}
          </p>
        </div>
      )}
      {call.outcome && <OutcomePanel outcome={call.outcome} ledger={call.ledger} />}
    </form>
  );
}

// ---------------------------------------------------------------------------------------------
// Embeddings

interface Vector {
  input: string;
  dimensions: number;
  norm: number;
  head: number[];
}

/** The Euclidean (L2) norm of a vector. */
export function l2norm(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v * v;
  return Math.sqrt(sum);
}

/** Most inputs one Embed call from the page sends (the gateway has its own limit). */
const MAX_INPUTS = 256;

function EmbeddingsPlayground() {
  const transport = useTransport();
  const { names, endpoint, setEndpoint, error } = useEndpoints("llm/v1/embeddings");
  const call = useCall(transport);
  const [inputs, setInputs] = useState("");
  const [vectors, setVectors] = useState<Vector[] | null>(null);
  const lines = inputs.split("\n").filter((l) => l.trim() !== "");

  async function embed(event: FormEvent) {
    event.preventDefault();
    if (lines.length === 0 || lines.length > MAX_INPUTS || endpoint === "" || call.busy) return;
    setVectors(null);
    const sent = [...lines];
    await call.run(async ({ signal, headers }) => {
      const res = await createClient(EmbeddingsService, transport).embed({ endpoint, inputs: sent }, { signal, headers, timeoutMs: CALL_TIMEOUT_MS });
      setVectors(
        res.data.map((e) => {
          const values = e.doubleValues.length > 0 ? e.doubleValues : e.values;
          return { input: sent[e.index] ?? "", dimensions: values.length, norm: l2norm(values), head: values.slice(0, 4) };
        }),
      );
      return { model: res.model, ...(res.usage && { usage: res.usage }), ...(res.routing && { routing: res.routing }) };
    });
  }

  return (
    <form onSubmit={(e) => void embed(e)} className="composer" aria-label="Embeddings">
      <div className="row">
        <EndpointPicker id="pg-embeddings-endpoint" label="Embeddings endpoint" names={names} value={endpoint} onChange={setEndpoint} disabled={call.busy} error={error} />
      </div>
      <label htmlFor="pg-inputs">Inputs (one per line)</label>
      <textarea id="pg-inputs" rows={4} value={inputs} onChange={(e) => setInputs(e.target.value)} aria-describedby="pg-inputs-help" />
      <p id="pg-inputs-help" className="help">
        {lines.length} input{lines.length === 1 ? "" : "s"}
        {lines.length > MAX_INPUTS ? ` (at most ${MAX_INPUTS} at once)` : ""}
      </p>
      <div className="row">
        <button type="submit" disabled={call.busy || lines.length === 0 || lines.length > MAX_INPUTS || endpoint === ""}>
          Embed
        </button>
      </div>
      {vectors && (
        <div className="scroll">
          <table className="keys vectors">
            <caption>Vectors</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Input</th>
                <th scope="col">Dimensions</th>
                <th scope="col">L2 norm</th>
                <th scope="col">First values</th>
              </tr>
            </thead>
            <tbody>
              {vectors.map((v, i) => (
                <tr key={i} data-vector={i}>
                  <th scope="row">{i}</th>
                  <td className="clip">{v.input}</td>
                  <td data-testid="dimensions">{v.dimensions}</td>
                  <td data-testid="norm">{v.norm.toFixed(6)}</td>
                  <td className="muted">
                    <code>{v.head.map((x) => x.toFixed(4)).join(", ")}{v.dimensions > v.head.length ? ", …" : ""}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {call.outcome && <OutcomePanel outcome={call.outcome} ledger={call.ledger} />}
    </form>
  );
}

// ---------------------------------------------------------------------------------------------
// Predict

/** The MLflow input formats PredictRequest carries, by their JSON (and proto) names. */
const predictFormats = ["dataframe_split", "dataframe_records", "instances", "inputs"] as const;
type PredictFormat = (typeof predictFormats)[number];

const examples: Record<"records" | "split", string> = {
  records: JSON.stringify(
    [
      { age: 42, tenure: 3, plan: 2 },
      { age: 25, tenure: 1, plan: 1 },
    ],
    null,
    2,
  ),
  split: JSON.stringify({ columns: ["age", "tenure", "plan"], data: [[42, 3, 2], [25, 1, 1]] }, null, 2),
};

/**
 * What the pasted JSON is: a list of records (dataframe_records), an object with columns and data
 * (dataframe_split), or an MLflow scoring body naming its format. Returns the request's input or
 * why it is not one.
 */
export function parsePredictInput(text: string): { format: PredictFormat; value: JsonValue; rows: number } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { error: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const isObject = (v: unknown): v is Record<string, JsonValue> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (Array.isArray(json)) {
    if (json.length === 0) return { error: "no records: the list is empty" };
    if (!json.every(isObject)) return { error: "a list must hold records: one JSON object per row" };
    return { format: "dataframe_records", value: json as JsonValue, rows: json.length };
  }
  if (!isObject(json)) return { error: "expected records (a list of objects) or a split dataframe ({columns, data})" };
  const named = predictFormats.filter((f) => f in json);
  if (named.length > 1) return { error: `name one input format, not ${named.join(" and ")}` };
  if (named.length === 1) {
    const format = named[0]!;
    const value = json[format]!;
    if (format === "dataframe_split") return checkSplit(value);
    if (format === "dataframe_records" && !(Array.isArray(value) && value.every(isObject))) return { error: "dataframe_records must be a list of objects" };
    if (format === "instances" && !Array.isArray(value)) return { error: "instances must be a list" };
    return { format, value, rows: Array.isArray(value) ? value.length : 1 };
  }
  if ("data" in json) return checkSplit(json);
  return { error: "expected records (a list of objects) or a split dataframe ({columns, data})" };

  function checkSplit(value: JsonValue): { format: PredictFormat; value: JsonValue; rows: number } | { error: string } {
    if (!isObject(value) || !Array.isArray(value["data"]) || !value["data"].every(Array.isArray)) return { error: "a split dataframe needs data: a list of rows, each a list" };
    const columns = value["columns"];
    if (columns !== undefined && !(Array.isArray(columns) && columns.every((c) => typeof c === "string"))) return { error: "columns must be a list of names" };
    return { format: "dataframe_split", value, rows: value["data"].length };
  }
}

function PredictPlayground() {
  const transport = useTransport();
  const { names, endpoint, setEndpoint, error } = useEndpoints("predict");
  const call = useCall(transport);
  const [input, setInput] = useState(examples.records);
  const [predictions, setPredictions] = useState<{ value: JsonValue; version: string } | null>(null);
  const parsed = parsePredictInput(input);

  async function predict(event: FormEvent) {
    event.preventDefault();
    if ("error" in parsed || endpoint === "" || call.busy) return;
    setPredictions(null);
    await call.run(async ({ signal, headers }) => {
      const request = fromJson(PredictRequestSchema, { endpoint, [parsed.format]: parsed.value });
      const res = await createClient(PredictService, transport).predict(request, { signal, headers, timeoutMs: CALL_TIMEOUT_MS });
      setPredictions({ value: res.predictions ? toJson(ValueSchema, res.predictions) : null, version: res.modelVersion });
      return { model: res.model, ...(res.routing && { routing: res.routing }) };
    });
  }

  const list = predictions && Array.isArray(predictions.value) ? predictions.value : null;
  return (
    <form onSubmit={(e) => void predict(e)} className="composer" aria-label="Prediction">
      <div className="row">
        <EndpointPicker id="pg-predict-endpoint" label="Predict endpoint" names={names} value={endpoint} onChange={setEndpoint} disabled={call.busy} error={error} />
        <button type="button" onClick={() => setInput(examples.records)} disabled={call.busy}>
          Example: records
        </button>
        <button type="button" onClick={() => setInput(examples.split)} disabled={call.busy}>
          Example: split
        </button>
      </div>
      <label htmlFor="pg-dataframe">Input (JSON dataframe: records or split)</label>
      <textarea id="pg-dataframe" className="code" rows={8} spellCheck={false} value={input} onChange={(e) => setInput(e.target.value)} aria-invalid={"error" in parsed} aria-describedby="pg-dataframe-help" />
      <p id="pg-dataframe-help" className={"error" in parsed ? "help error" : "help"} data-testid="predict-format">
        {"error" in parsed ? parsed.error : `${parsed.format}, ${parsed.rows} row${parsed.rows === 1 ? "" : "s"}`}
      </p>
      <div className="row">
        <button type="submit" disabled={call.busy || "error" in parsed || endpoint === ""}>
          Predict
        </button>
      </div>
      {predictions && (
        <div className="predictions">
          <h2>Predictions{predictions.version ? ` (model version ${predictions.version})` : ""}</h2>
          {list ? (
            <ol data-testid="predictions" start={0}>
              {list.map((p, i) => (
                <li key={i}>
                  <code>{typeof p === "string" ? p : JSON.stringify(p)}</code>
                </li>
              ))}
            </ol>
          ) : (
            <pre data-testid="predictions">{JSON.stringify(predictions.value, null, 2)}</pre>
          )}
        </div>
      )}
      {call.outcome && <OutcomePanel outcome={call.outcome} ledger={call.ledger} />}
    </form>
  );
}
