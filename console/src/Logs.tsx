// Logs: recent calls from the usage ledger (UsageService.ListCalls), newest first, filtered by
// endpoint, key, team, status, request id and time range (a preset, or from … to … in local
// time), a page at a time (the gateway's opaque page token; Newer goes back through the tokens
// already seen). Each row shows its trace id and opens the call's details, with the policy
// columns (template, cache, cost saved, guardrails) when the call had them. Any signed-in key
// may look: the gateway shows a key without the admin role only its own calls. Filters can come
// in the hash (#/logs/?request_id=…&endpoint=…), which is how the Playground links to the call
// it just made.
import { Code } from "@connectrpc/connect";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useQuery } from "@connectrpc/connect-query";
import { useMemo, useState, type FormEvent } from "react";
import { EndpointService } from "../../gen/modelgate/v1/endpoint_pb";
import { UsageService, type CallRecord } from "../../gen/modelgate/v1/usage_pb";
import { formatUsd } from "./Playground";
import { describeError } from "./transport";
import "./views.css";

const ranges = [
  { id: "15m", label: "Last 15 minutes", ms: 15 * 60_000 },
  { id: "1h", label: "Last hour", ms: 3_600_000 },
  { id: "24h", label: "Last 24 hours", ms: 86_400_000 },
  { id: "7d", label: "Last 7 days", ms: 7 * 86_400_000 },
  { id: "all", label: "All time", ms: 0 },
  { id: "custom", label: "From … to …", ms: 0 },
] as const;
type RangeId = (typeof ranges)[number]["id"];
const pageSizes = [25, 50, 100, 500] as const;
/** Status filters: any, ok, any failure, or one Connect code. */
const codeNames = Object.values(Code).filter((v): v is string => typeof v === "string");

interface Filters {
  endpoint: string;
  keyId: string;
  team: string;
  status: string;
  requestId: string;
  range: RangeId;
  /** A custom range's ends (datetime-local values, the browser's time zone); "" = open. */
  from: string;
  to: string;
  pageSize: number;
}

const noFilters: Filters = { endpoint: "", keyId: "", team: "", status: "", requestId: "", range: "24h", from: "", to: "", pageSize: 50 };

/** Filters named in the hash: #/logs/?endpoint=chat&status=error&request_id=… */
function filtersFromHash(): Filters {
  const query = window.location.hash.split("?")[1] ?? "";
  const params = new URLSearchParams(query);
  const range = params.get("range");
  const size = Number(params.get("page_size"));
  return {
    endpoint: params.get("endpoint") ?? "",
    keyId: params.get("key_id") ?? "",
    team: params.get("team") ?? "",
    status: params.get("status") ?? "",
    requestId: params.get("request_id") ?? "",
    // A link to one call finds it whenever it was made.
    range: ranges.some((r) => r.id === range) ? (range as RangeId) : params.has("request_id") ? "all" : noFilters.range,
    from: "",
    to: "",
    pageSize: (pageSizes as readonly number[]).includes(size) ? size : noFilters.pageSize,
  };
}

export function Logs() {
  const [draft, setDraft] = useState<Filters>(() => filtersFromHash());
  const [applied, setApplied] = useState<{ filters: Filters; asOf: number }>(() => ({ filters: draft, asOf: Date.now() }));
  // Tokens of the pages before the current one (Newer pops), and the current page's token.
  const [tokens, setTokens] = useState<string[]>([]);
  const [pageToken, setPageToken] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const endpoints = useQuery(EndpointService.method.listEndpoints, {});

  const request = useMemo(() => {
    const { filters, asOf } = applied;
    const ms = ranges.find((r) => r.id === filters.range)?.ms ?? 0;
    const custom = filters.range === "custom";
    const from = custom ? localTime(filters.from) : undefined;
    const to = custom ? localTime(filters.to) : undefined;
    return {
      ...(ms > 0 && { startTime: timestampFromDate(new Date(asOf - ms)) }),
      ...(from && { startTime: timestampFromDate(from) }),
      // Up to a minute ahead: clocks differ, and the newest calls belong on the first page.
      endTime: timestampFromDate(to ?? new Date(asOf + 60_000)),
      endpoint: filters.endpoint,
      keyId: filters.keyId.trim(),
      team: filters.team.trim(),
      status: filters.status,
      requestId: filters.requestId.trim(),
      pageSize: filters.pageSize,
      pageToken,
    };
  }, [applied, pageToken]);
  const calls = useQuery(UsageService.method.listCalls, request);

  function apply(filters: Filters) {
    setApplied({ filters, asOf: Date.now() });
    setTokens([]);
    setPageToken("");
    setOpen(null);
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    apply(draft);
  }

  const rows = calls.data?.calls ?? [];
  const next = calls.data?.nextPageToken ?? "";
  const page = tokens.length + 1;
  const set = <K extends keyof Filters>(key: K, value: Filters[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const opened = rows.find((c) => rowKey(c) === open);

  return (
    <section aria-labelledby="logs-title">
      <h1 id="logs-title">Logs</h1>
      <form className="filters" onSubmit={submit} aria-label="Filters">
        <div className="field">
          <label htmlFor="logs-endpoint">Endpoint</label>
          <select id="logs-endpoint" value={draft.endpoint} onChange={(e) => set("endpoint", e.target.value)}>
            <option value="">any</option>
            {(endpoints.data?.endpoints ?? []).map((e) => (
              <option key={e.name} value={e.name}>
                {e.name}
              </option>
            ))}
            {draft.endpoint !== "" && !endpoints.data?.endpoints.some((e) => e.name === draft.endpoint) && <option value={draft.endpoint}>{draft.endpoint}</option>}
          </select>
        </div>
        <div className="field">
          <label htmlFor="logs-status">Status</label>
          <select id="logs-status" value={draft.status} onChange={(e) => set("status", e.target.value)}>
            <option value="">any</option>
            <option value="ok">ok</option>
            <option value="error">any error</option>
            {codeNames.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="logs-time-range">Time range</label>
          <select id="logs-time-range" value={draft.range} onChange={(e) => set("range", e.target.value as RangeId)}>
            {ranges.map((r) => (
              <option key={r.id} value={r.id}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        {draft.range === "custom" && (
          <>
            <div className="field">
              <label htmlFor="logs-from">From</label>
              <input id="logs-from" type="datetime-local" step={1} value={draft.from} onChange={(e) => set("from", e.target.value)} />
            </div>
            <div className="field">
              <label htmlFor="logs-to">To</label>
              <input id="logs-to" type="datetime-local" step={1} value={draft.to} onChange={(e) => set("to", e.target.value)} />
            </div>
          </>
        )}
        <div className="field">
          <label htmlFor="logs-key-id">Key id</label>
          <input id="logs-key-id" value={draft.keyId} onChange={(e) => set("keyId", e.target.value)} maxLength={256} placeholder="any" spellCheck={false} />
        </div>
        <div className="field">
          <label htmlFor="logs-team">Team</label>
          <input id="logs-team" value={draft.team} onChange={(e) => set("team", e.target.value)} maxLength={256} placeholder="any" spellCheck={false} />
        </div>
        <div className="field">
          <label htmlFor="logs-request-id">Request id</label>
          <input id="logs-request-id" value={draft.requestId} onChange={(e) => set("requestId", e.target.value)} maxLength={128} placeholder="any" spellCheck={false} />
        </div>
        <div className="field">
          <label htmlFor="logs-per-page">Per page</label>
          <select id="logs-per-page" value={draft.pageSize} onChange={(e) => set("pageSize", Number(e.target.value))}>
            {pageSizes.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        <div className="actions">
          <button type="submit">Apply</button>
          <button
            type="button"
            onClick={() => {
              setDraft(noFilters);
              apply(noFilters);
            }}
          >
            Reset
          </button>
        </div>
      </form>
      {calls.error && (
        <p role="alert" className="error">
          {describeError(calls.error)}
        </p>
      )}
      <p className="status" aria-live="polite" data-testid="logs-status">
        {calls.isPending ? "Loading calls…" : calls.data ? `Page ${page}: ${rows.length} call${rows.length === 1 ? "" : "s"}${next === "" ? "" : ", more older"}` : ""}
      </p>
      {calls.data && rows.length === 0 && <p>No calls match.</p>}
      {rows.length > 0 && (
        <div className="scroll">
          <table className="keys calls">
            <caption className="sr-only">Calls, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Endpoint</th>
                <th scope="col">Status</th>
                <th scope="col">Key</th>
                <th scope="col">Target</th>
                <th scope="col">Tokens in/out</th>
                <th scope="col">Cost (USD)</th>
                <th scope="col">Latency</th>
                <th scope="col">Trace id</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((c) => {
                const key = rowKey(c);
                return (
                  <tr key={key} data-request-id={c.requestId} data-endpoint={c.endpoint} data-status={c.status}>
                    <td>
                      <button type="button" className="link" aria-expanded={open === key} onClick={() => setOpen(open === key ? null : key)} aria-label={`Details of the call at ${timeLabel(c)} to ${c.endpoint}`}>
                        {timeLabel(c)}
                      </button>
                    </td>
                    <td>{c.endpoint}</td>
                    <td className={c.status === "ok" ? "status-ok" : "status-error"}>{c.status}</td>
                    <td>{c.keyId || "—"}</td>
                    <td>{c.target || "—"}</td>
                    <td className="num">
                      {String(c.promptTokens)} / {String(c.completionTokens)}
                    </td>
                    <td className="num">{c.costUsd === undefined ? "—" : formatUsd(c.costUsd)}</td>
                    <td className="num">{c.latencyMs.toFixed(0)} ms</td>
                    <td>
                      <code data-testid="trace-id" title={c.traceId}>
                        {c.traceId === "" ? "—" : c.traceId}
                      </code>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <div className="pager">
        <button
          type="button"
          disabled={tokens.length === 0 || calls.isFetching}
          onClick={() => {
            setPageToken(tokens[tokens.length - 1] ?? "");
            setTokens(tokens.slice(0, -1));
            setOpen(null);
          }}
        >
          Newer
        </button>
        <button
          type="button"
          disabled={next === "" || calls.isFetching}
          onClick={() => {
            setTokens([...tokens, pageToken]);
            setPageToken(next);
            setOpen(null);
          }}
        >
          Older
        </button>
        <button type="button" onClick={() => apply(applied.filters)} disabled={calls.isFetching}>
          Refresh
        </button>
      </div>
      {opened && <CallDetail call={opened} />}
    </section>
  );
}

/** A datetime-local value as a time (the browser's zone); undefined when empty or not a time. */
function localTime(value: string): Date | undefined {
  if (value === "") return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Request ids are the caller's to choose and may repeat: the time makes a row's key. */
function rowKey(c: CallRecord): string {
  return `${c.requestId}@${c.time ? timestampDate(c.time).getTime() : 0}`;
}

function timeLabel(c: CallRecord): string {
  if (!c.time) return "—";
  const iso = timestampDate(c.time).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

function CallDetail({ call }: { call: CallRecord }) {
  const fields: [string, string][] = [
    ["Time (UTC)", timeLabel(call)],
    ["Request id", call.requestId],
    ["Trace id", call.traceId || "—"],
    ["Endpoint", call.endpoint],
    ["Status", call.status],
    ["Key", call.keyId || "— (auth off)"],
    ["Team", call.team || "—"],
    ["Provider", call.provider],
    ["Model", call.model + (call.modelVersion ? ` (version ${call.modelVersion})` : "")],
    ["Target", call.target || "— (no target answered)"],
    ["Prompt tokens", `${call.promptTokens}${call.cachedPromptTokens > 0n ? ` (${call.cachedPromptTokens} from the provider's cache)` : ""}`],
    ["Completion tokens", `${call.completionTokens}${call.reasoningTokens > 0n ? ` (${call.reasoningTokens} reasoning)` : ""}`],
    ["Cost", call.costUsd === undefined ? "unknown (no price for the model)" : `$${formatUsd(call.costUsd)}`],
    ["Latency", `${call.latencyMs.toFixed(1)} ms`],
    ["Streamed", call.streamed ? "yes" : "no"],
  ];
  // The policy columns, when the call had them.
  if (call.template) fields.push(["Prompt template", call.template]);
  if (call.cache) fields.push(["Response cache", call.cache.replace("_", " ")]);
  if (call.costSavedUsd !== undefined) fields.push(["Cost saved by the cache", `$${formatUsd(call.costSavedUsd)}`]);
  if (call.guardrails) fields.push(["Guardrails", call.guardrails]);
  return (
    <section className="detail" aria-labelledby="call-detail-title" data-testid="call-detail">
      <h2 id="call-detail-title">Call {call.requestId}</h2>
      <dl>
        {fields.map(([name, value]) => (
          <div key={name} className="contents">
            <dt>{name}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
