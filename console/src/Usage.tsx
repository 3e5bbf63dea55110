// Usage: calls, tokens and cost from the usage ledger (UsageService.GetUsage), over a chosen
// range, grouped by endpoint, key, team, target or model; below, the same over time per hour or
// day bucket (UsageService.GetUsageSeries) as CSS bars, with a CSV download of that series.
// Admin only (the gateway decides).
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useQuery } from "@connectrpc/connect-query";
import { useMemo, useState } from "react";
import { UsageService, type UsagePoint } from "../../gen/modelgate/v1/usage_pb";
import { describeError } from "./transport";

const ranges = [
  { id: "1h", label: "Last hour", ms: 3_600_000, bucket: "hour" },
  { id: "24h", label: "Last 24 hours", ms: 86_400_000, bucket: "hour" },
  { id: "30d", label: "Last 30 days", ms: 30 * 86_400_000, bucket: "day" },
] as const;
const groups = ["endpoint", "key", "team", "target", "model"] as const;

export function Usage() {
  const [range, setRange] = useState<(typeof ranges)[number]["id"]>("24h");
  const [group, setGroup] = useState<(typeof groups)[number]>("endpoint");
  const [asOf, setAsOf] = useState(() => Date.now());
  const request = useMemo(() => {
    const ms = ranges.find((r) => r.id === range)?.ms ?? 86_400_000;
    return { startTime: timestampFromDate(new Date(asOf - ms)), endTime: timestampFromDate(new Date(asOf)), groupBy: [group] };
  }, [range, group, asOf]);
  const usage = useQuery(UsageService.method.getUsage, request);
  const seriesRequest = useMemo(() => {
    const bucket = ranges.find((r) => r.id === range)?.bucket ?? "hour";
    return { startTime: request.startTime, endTime: request.endTime, bucket };
  }, [range, request]);
  const series = useQuery(UsageService.method.getUsageSeries, seriesRequest);
  const totals = usage.data?.totals ?? [];
  const maxCalls = Math.max(1, ...totals.map((t) => Number(t.calls)));

  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      <div className="row">
        <label htmlFor="usage-range">Range</label>
        <select id="usage-range" value={range} onChange={(e) => setRange(e.target.value as typeof range)}>
          {ranges.map((r) => (
            <option key={r.id} value={r.id}>
              {r.label}
            </option>
          ))}
        </select>
        <label htmlFor="usage-group">Group by</label>
        <select id="usage-group" value={group} onChange={(e) => setGroup(e.target.value as typeof group)}>
          {groups.map((g) => (
            <option key={g} value={g}>
              {g}
            </option>
          ))}
        </select>
        <button type="button" onClick={() => setAsOf(Date.now())} disabled={usage.isFetching}>
          Refresh
        </button>
      </div>
      {usage.error && (
        <p role="alert" className="error">
          {describeError(usage.error)}
        </p>
      )}
      {usage.isPending && <p aria-live="polite">Loading usage…</p>}
      {usage.data && totals.length === 0 && <p>No calls in this range.</p>}
      {totals.length > 0 && (
        <div className="scroll">
          <table className="keys usage">
            <caption className="sr-only">Usage totals by {group}</caption>
            <thead>
              <tr>
                <th scope="col">{group}</th>
                <th scope="col">Calls</th>
                <th scope="col">Errors</th>
                <th scope="col">Prompt tokens</th>
                <th scope="col">Completion tokens</th>
                <th scope="col">Cost (USD)</th>
              </tr>
            </thead>
            <tbody>
              {totals.map((t) => {
                const name = t.group[group] || "(none)";
                return (
                  <tr key={name} data-group={name}>
                    <th scope="row">{name}</th>
                    <td>
                      <span className="bar" aria-hidden="true">
                        <span className={`fill w${Math.round((Number(t.calls) / maxCalls) * 10)}`} />
                      </span>
                      <span data-testid="calls">{String(t.calls)}</span>
                    </td>
                    <td>{String(t.errorCalls)}</td>
                    <td>{String(t.promptTokens)}</td>
                    <td>{String(t.completionTokens)}</td>
                    <td>
                      {t.costUsd.toFixed(4)}
                      {t.unknownCostCalls > 0n && <span className="muted"> (+{String(t.unknownCostCalls)} unpriced)</span>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <UsageSeries points={series.data?.points ?? []} bucket={seriesRequest.bucket} error={series.error} pending={series.isPending} />
    </section>
  );
}

interface SeriesPoint {
  start: Date;
  calls: number;
  tokens: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

/** Width class (w0 … w10) of a bar showing `value` against the largest value `max`. */
function width(value: number, max: number): string {
  return `fill w${max > 0 ? Math.round((value / max) * 10) : 0}`;
}

function seriesCsv(points: readonly SeriesPoint[]): string {
  const lines = ["bucket_start,calls,prompt_tokens,completion_tokens,cost_usd"];
  for (const p of points) lines.push(`${p.start.toISOString()},${p.calls},${p.promptTokens},${p.completionTokens},${p.costUsd}`);
  return `${lines.join("\r\n")}\r\n`;
}

function downloadCsv(points: readonly SeriesPoint[], bucket: string): void {
  const url = URL.createObjectURL(new Blob([seriesCsv(points)], { type: "text/csv" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = `usage-by-${bucket}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function UsageSeries(props: {
  points: readonly UsagePoint[];
  bucket: string;
  error: Error | null;
  pending: boolean;
}) {
  const points: SeriesPoint[] = props.points.map((p) => {
    const promptTokens = Number(p.total?.promptTokens ?? 0n);
    const completionTokens = Number(p.total?.completionTokens ?? 0n);
    return {
      start: p.bucketStart ? timestampDate(p.bucketStart) : new Date(0),
      calls: Number(p.total?.calls ?? 0n),
      promptTokens,
      completionTokens,
      tokens: promptTokens + completionTokens,
      costUsd: p.total?.costUsd ?? 0,
    };
  });
  const max = {
    calls: Math.max(0, ...points.map((p) => p.calls)),
    tokens: Math.max(0, ...points.map((p) => p.tokens)),
    cost: Math.max(0, ...points.map((p) => p.costUsd)),
  };
  const label = (d: Date) => (props.bucket === "day" ? d.toISOString().slice(0, 10) : `${d.toISOString().slice(0, 13).replace("T", " ")}:00 UTC`);
  return (
    <section aria-labelledby="usage-series-title">
      <h2 id="usage-series-title">Over time (per {props.bucket})</h2>
      {props.error && (
        <p role="alert" className="error">
          {describeError(props.error)}
        </p>
      )}
      {props.pending && <p aria-live="polite">Loading usage over time…</p>}
      {!props.pending && !props.error && points.length === 0 && <p>No calls in this range.</p>}
      {points.length > 0 && (
        <>
          <button type="button" onClick={() => downloadCsv(points, props.bucket)}>
            Download CSV
          </button>
          <div className="scroll">
            <table className="keys usage series">
              <caption className="sr-only">Calls, tokens and cost per {props.bucket}</caption>
              <thead>
                <tr>
                  <th scope="col">{props.bucket === "day" ? "Day" : "Hour"}</th>
                  <th scope="col">Calls</th>
                  <th scope="col">Tokens</th>
                  <th scope="col">Cost (USD)</th>
                </tr>
              </thead>
              <tbody>
                {points.map((p) => (
                  <tr key={p.start.toISOString()} data-bucket={p.start.toISOString()}>
                    <th scope="row">{label(p.start)}</th>
                    <td>
                      <span className="bar" aria-hidden="true" data-testid="calls-bar">
                        <span className={width(p.calls, max.calls)} />
                      </span>
                      <span data-testid="series-calls">{p.calls}</span>
                    </td>
                    <td>
                      <span className="bar" aria-hidden="true">
                        <span className={width(p.tokens, max.tokens)} />
                      </span>
                      <span data-testid="series-tokens">{p.tokens}</span>
                    </td>
                    <td>
                      <span className="bar" aria-hidden="true">
                        <span className={width(p.costUsd, max.cost)} />
                      </span>
                      <span data-testid="series-cost">{p.costUsd.toFixed(4)}</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
