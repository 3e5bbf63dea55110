// Usage: calls, tokens and cost from the usage ledger (UsageService.GetUsage), over a preset or a
// custom range, grouped by endpoint, key, team, target or model; below, the same over time per
// hour or day bucket (UsageService.GetUsageSeries, grouped the same way) as a uPlot chart with one
// line per group (calls, tokens or cost), the per-bucket totals as a table with a CSV download,
// and the top spenders of the range (GetUsage by key or team, by cost). Admin only (the gateway
// decides).
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { skipToken, useQuery } from "@connectrpc/connect-query";
import { useMemo, useState } from "react";
import { AdminService } from "../../gen/modelgate/v1/admin_pb";
import { UsageService, type UsagePoint, type UsageTotal } from "../../gen/modelgate/v1/usage_pb";
import { Chart, palette } from "./Chart";
import { describeError } from "./transport";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ranges = [
  { id: "1h", label: "Last hour", ms: HOUR, bucket: "hour" },
  { id: "24h", label: "Last 24 hours", ms: DAY, bucket: "hour" },
  { id: "7d", label: "Last 7 days", ms: 7 * DAY, bucket: "hour" },
  { id: "30d", label: "Last 30 days", ms: 30 * DAY, bucket: "day" },
  { id: "custom", label: "Custom…", ms: 0, bucket: "hour" },
] as const;
type RangeId = (typeof ranges)[number]["id"];
const groups = ["endpoint", "key", "team", "target", "model"] as const;
type Group = (typeof groups)[number];
const metrics = [
  { id: "calls", label: "Calls" },
  { id: "tokens", label: "Tokens" },
  { id: "cost", label: "Cost (USD)" },
] as const;
type Metric = (typeof metrics)[number]["id"];
/** Lines drawn at most; the smaller groups are added up as "other". */
const MAX_LINES = palette.length - 1;
const MAX_RANGE_DAYS = 366;

/** A Date as a datetime-local input's value (local time, minutes). */
function localInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

type Span = { start: Date; end: Date; bucket: "hour" | "day" } | { problem: string };

function spanOf(range: RangeId, asOf: number, from: string, to: string): Span {
  if (range !== "custom") {
    const preset = ranges.find((r) => r.id === range) ?? ranges[1];
    return { start: new Date(asOf - preset.ms), end: new Date(asOf), bucket: preset.bucket };
  }
  const start = new Date(from);
  const end = new Date(to);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) return { problem: "Enter both a start and an end." };
  if (start >= end) return { problem: "The start must be before the end." };
  if (end.getTime() - start.getTime() > MAX_RANGE_DAYS * DAY) return { problem: `A range spans at most ${MAX_RANGE_DAYS} days.` };
  // Hours for up to three days, days past that (at most 366 points per group either way).
  return { start, end, bucket: end.getTime() - start.getTime() <= 3 * DAY ? "hour" : "day" };
}

const tokensOf = (t: UsageTotal | undefined) => Number(t?.promptTokens ?? 0n) + Number(t?.completionTokens ?? 0n);
const metricOf = (t: UsageTotal | undefined, metric: Metric) => (metric === "calls" ? Number(t?.calls ?? 0n) : metric === "tokens" ? tokensOf(t) : (t?.costUsd ?? 0));

export function Usage() {
  const [range, setRange] = useState<RangeId>("24h");
  const [group, setGroup] = useState<Group>("endpoint");
  const [asOf, setAsOf] = useState(() => Date.now());
  const [from, setFrom] = useState(() => localInput(new Date(Date.now() - DAY)));
  const [to, setTo] = useState(() => localInput(new Date(Date.now() + 60_000)));
  const span = useMemo(() => spanOf(range, asOf, from, to), [range, asOf, from, to]);
  const within = "problem" in span ? undefined : { startTime: timestampFromDate(span.start), endTime: timestampFromDate(span.end) };
  const usage = useQuery(UsageService.method.getUsage, within ? { ...within, groupBy: [group] } : skipToken);
  const bucket = "problem" in span ? "hour" : span.bucket;
  const series = useQuery(UsageService.method.getUsageSeries, within ? { ...within, bucket, groupBy: [group] } : skipToken);
  // Key names for the chart and the top spenders (the same request as the shell's admin probe: answered from the cache).
  const keys = useQuery(AdminService.method.listKeys, {});
  const names = useMemo(() => new Map((keys.data?.keys ?? []).map((k) => [k.id, k.name])), [keys.data]);
  const totals = usage.data?.totals ?? [];
  const maxCalls = Math.max(1, ...totals.map((t) => Number(t.calls)));

  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      <div className="row">
        <label htmlFor="usage-range">Range</label>
        <select id="usage-range" value={range} onChange={(e) => setRange(e.target.value as RangeId)}>
          {ranges.map((r) => (
            <option key={r.id} value={r.id}>
              {r.label}
            </option>
          ))}
        </select>
        {range === "custom" && (
          <>
            <label htmlFor="usage-from">From</label>
            <input id="usage-from" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
            <label htmlFor="usage-to">To</label>
            <input id="usage-to" type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
            <span className="muted">(local time)</span>
          </>
        )}
        <label htmlFor="usage-group">Group by</label>
        <select id="usage-group" value={group} onChange={(e) => setGroup(e.target.value as Group)}>
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
      {"problem" in span && (
        <p role="alert" className="error">
          {span.problem}
        </p>
      )}
      {usage.error && (
        <p role="alert" className="error">
          {describeError(usage.error)}
        </p>
      )}
      {usage.isPending && within && <p aria-live="polite">Loading usage…</p>}
      {usage.data && totals.length === 0 && <p>No calls in this range.</p>}
      {totals.length > 0 && (
        <div className="scroll" tabIndex={0} role="region" aria-label={`Usage totals by ${group}`}>
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
                    <th scope="row">{group === "key" ? keyLabel(t.group[group] ?? "", names) : name}</th>
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
      {!("problem" in span) && (
        <>
          <UsageSeries points={series.data?.points ?? []} group={group} span={span} names={names} error={series.error} pending={series.isPending} />
          <TopSpenders within={within} names={names} />
        </>
      )}
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

/** The grouped points added up per bucket (buckets without calls are not in the answer). */
function bucketTotals(points: readonly UsagePoint[]): SeriesPoint[] {
  const byStart = new Map<number, SeriesPoint>();
  for (const p of points) {
    const start = p.bucketStart ? timestampDate(p.bucketStart) : new Date(0);
    let total = byStart.get(start.getTime());
    if (!total) byStart.set(start.getTime(), (total = { start, calls: 0, tokens: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 }));
    const promptTokens = Number(p.total?.promptTokens ?? 0n);
    const completionTokens = Number(p.total?.completionTokens ?? 0n);
    total.calls += Number(p.total?.calls ?? 0n);
    total.promptTokens += promptTokens;
    total.completionTokens += completionTokens;
    total.tokens += promptTokens + completionTokens;
    total.costUsd += p.total?.costUsd ?? 0;
  }
  return [...byStart.values()].sort((a, b) => a.start.getTime() - b.start.getTime());
}

/**
 * The chart's data: every bucket of the range (0 where a group had no calls), one line per
 * group, the largest first, the rest added up as "other".
 */
function chartData(
  points: readonly UsagePoint[],
  group: Group,
  metric: Metric,
  span: { start: Date; end: Date; bucket: "hour" | "day" },
  names: ReadonlyMap<string, string>,
) {
  const size = span.bucket === "day" ? DAY : HOUR;
  const first = Math.floor(span.start.getTime() / size) * size;
  const starts: number[] = [];
  for (let t = first; t < span.end.getTime(); t += size) starts.push(t);
  const index = new Map(starts.map((t, i) => [t, i]));
  const byGroup = new Map<string, number[]>();
  for (const p of points) {
    const at = p.bucketStart ? timestampDate(p.bucketStart).getTime() : 0;
    const i = index.get(at);
    if (i === undefined) continue;
    const value = p.total?.group[group] ?? "";
    const name = group === "key" ? keyLabel(value, names) : value || "(none)";
    let values = byGroup.get(name);
    if (!values) byGroup.set(name, (values = new Array<number>(starts.length).fill(0)));
    values[i]! += metricOf(p.total, metric);
  }
  const ranked = [...byGroup.entries()].map(([label, values]) => ({ label, values, sum: values.reduce((a, b) => a + b, 0) })).sort((a, b) => b.sum - a.sum || (a.label < b.label ? -1 : 1));
  const shown = ranked.length > MAX_LINES + 1 ? ranked.slice(0, MAX_LINES) : ranked;
  const rest = ranked.slice(shown.length);
  const lines = shown.map(({ label, values }) => ({ label, values: values as (number | null)[] }));
  if (rest.length > 0) lines.push({ label: `other (${rest.length})`, values: starts.map((_, i) => rest.reduce((a, r) => a + r.values[i]!, 0)) });
  return { x: starts.map((t) => t / 1000), lines, top: ranked[0] };
}

function UsageSeries(props: {
  points: readonly UsagePoint[];
  group: Group;
  span: { start: Date; end: Date; bucket: "hour" | "day" };
  names: ReadonlyMap<string, string>;
  error: Error | null;
  pending: boolean;
}) {
  const [metric, setMetric] = useState<Metric>("calls");
  const { bucket } = props.span;
  const points = useMemo(() => bucketTotals(props.points), [props.points]);
  const chart = useMemo(() => chartData(props.points, props.group, metric, props.span, props.names), [props.points, props.group, metric, props.span, props.names]);
  const max = {
    calls: Math.max(0, ...points.map((p) => p.calls)),
    tokens: Math.max(0, ...points.map((p) => p.tokens)),
    cost: Math.max(0, ...points.map((p) => p.costUsd)),
  };
  const label = (d: Date) => (bucket === "day" ? d.toISOString().slice(0, 10) : `${d.toISOString().slice(0, 13).replace("T", " ")}:00 UTC`);
  const metricLabel = metrics.find((m) => m.id === metric)?.label ?? metric;
  const fmt = (v: number) => (metric === "cost" ? `$${v.toFixed(4)}` : String(v));
  return (
    <section aria-labelledby="usage-series-title">
      <h2 id="usage-series-title">Over time (per {bucket})</h2>
      {props.error && (
        <p role="alert" className="error">
          {describeError(props.error)}
        </p>
      )}
      {props.pending && <p aria-live="polite">Loading usage over time…</p>}
      {!props.pending && !props.error && points.length === 0 && <p>No calls in this range.</p>}
      {points.length > 0 && (
        <>
          <div className="row">
            <label htmlFor="usage-metric">Chart</label>
            <select id="usage-metric" value={metric} onChange={(e) => setMetric(e.target.value as Metric)}>
              {metrics.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.label}
                </option>
              ))}
            </select>
            <span className="muted">one line per {props.group}</span>
          </div>
          <Chart
            title={`${metricLabel} per ${bucket} by ${props.group}`}
            summary={`${chart.lines.length} ${props.group} line${chart.lines.length === 1 ? "" : "s"} over ${chart.x.length} ${bucket}s; the largest is ${chart.top?.label ?? "none"} with ${fmt(chart.top?.sum ?? 0)} in all`}
            x={chart.x}
            series={chart.lines}
            leftLabel={metricLabel}
            testId="usage-chart"
          />
          <button type="button" onClick={() => downloadCsv(points, bucket)}>
            Download CSV
          </button>
          <div className="scroll" tabIndex={0} role="region" aria-label={`Usage per ${bucket}`}>
            <table className="keys usage series">
              <caption className="sr-only">Calls, tokens and cost per {bucket}</caption>
              <thead>
                <tr>
                  <th scope="col">{bucket === "day" ? "Day" : "Hour"}</th>
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

const TOP_SPENDERS = 10;

/** A ledger key id for people: the key's name when the gateway lists it, a config key's name, else the id. */
function keyLabel(id: string, names: ReadonlyMap<string, string>): string {
  if (id === "") return "(no key: auth off)";
  const named = names.get(id);
  if (named) return named;
  return id.startsWith("config:") ? `${id.slice("config:".length)} (config key)` : id;
}

function TopSpenders(props: {
  within: { startTime: ReturnType<typeof timestampFromDate>; endTime: ReturnType<typeof timestampFromDate> } | undefined;
  names: ReadonlyMap<string, string>;
}) {
  const { within, names } = props;
  const [by, setBy] = useState<"key" | "team">("key");
  const spend = useQuery(UsageService.method.getUsage, within ? { ...within, groupBy: [by] } : skipToken);
  const top = [...(spend.data?.totals ?? [])]
    .sort((a, b) => b.costUsd - a.costUsd || Number(b.calls - a.calls))
    .slice(0, TOP_SPENDERS);
  return (
    <section aria-labelledby="spenders-title">
      <h2 id="spenders-title">Top spenders</h2>
      <div className="row">
        <label htmlFor="spenders-by">Spenders by</label>
        <select id="spenders-by" value={by} onChange={(e) => setBy(e.target.value as "key" | "team")}>
          <option value="key">key</option>
          <option value="team">team</option>
        </select>
      </div>
      {spend.error && (
        <p role="alert" className="error">
          {describeError(spend.error)}
        </p>
      )}
      {spend.data && top.length === 0 && <p>No calls in this range.</p>}
      {top.length > 0 && (
        <div className="scroll" tabIndex={0} role="region" aria-label="Top spenders table">
          <table className="keys spenders">
            <caption className="sr-only">
              The {top.length} {by === "key" ? "keys" : "teams"} that spent most in this range, by cost
            </caption>
            <thead>
              <tr>
                <th scope="col">Rank</th>
                <th scope="col">{by === "key" ? "Key" : "Team"}</th>
                <th scope="col">Cost (USD)</th>
                <th scope="col">Calls</th>
                <th scope="col">Tokens</th>
              </tr>
            </thead>
            <tbody>
              {top.map((t, i) => {
                const id = t.group[by] ?? "";
                const name = by === "key" ? keyLabel(id, names) : id || "(no team)";
                return (
                  <tr key={id} data-spender={name}>
                    <td>{i + 1}</td>
                    <th scope="row">{name}</th>
                    <td data-testid="spender-cost">
                      {t.costUsd.toFixed(4)}
                      {t.unknownCostCalls > 0n && <span className="muted"> (+{String(t.unknownCostCalls)} unpriced)</span>}
                    </td>
                    <td>{String(t.calls)}</td>
                    <td>{tokensOf(t)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
