// Usage: calls, tokens and cost from the usage ledger (UsageService.GetUsage), over a chosen
// range, grouped by endpoint, key, team, target or model. Admin only (the gateway decides).
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useQuery } from "@connectrpc/connect-query";
import { useMemo, useState } from "react";
import { UsageService } from "../../gen/modelgate/v1/usage_pb";
import { describeError } from "./transport";

const ranges = [
  { id: "1h", label: "Last hour", ms: 3_600_000 },
  { id: "24h", label: "Last 24 hours", ms: 86_400_000 },
  { id: "30d", label: "Last 30 days", ms: 30 * 86_400_000 },
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
    </section>
  );
}
