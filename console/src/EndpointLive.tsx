// One endpoint, live: StatsService.WatchStats streams a snapshot every second (no polling: one
// server stream for as long as the view is open), shown as figures for the endpoint and each
// target, and as two small charts of the last two minutes. The stream is reopened (with a
// growing pause) when it breaks; a refusal (no access, unknown endpoint) is shown and not retried.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useQuery } from "@connectrpc/connect-query";
import { useMemo, useState } from "react";
import { EndpointService } from "../../gen/modelgate/v1/endpoint_pb";
import type { EndpointStats, LiveStats } from "../../gen/modelgate/v1/stats_pb";
import { Chart } from "./Chart";
import { useStatsStream, type StreamStatus } from "./live";

const INTERVAL_MS = 1_000;
const WINDOW_SECONDS = 10;
/** Snapshots kept for the charts: two minutes at one a second. */
const HISTORY = 120;

interface Point {
  at: number;
  callsPerSecond: number;
  errorsPerSecond: number;
  p50: number | null;
  p95: number | null;
}

function useLiveStats(name: string): { status: StreamStatus; latest: EndpointStats | undefined; history: Point[] } {
  const [latest, setLatest] = useState<EndpointStats | undefined>();
  const [history, setHistory] = useState<Point[]>([]);
  const status = useStatsStream([name], INTERVAL_MS, WINDOW_SECONDS, (snapshot) => {
    const ep = snapshot.endpoints.find((e) => e.endpoint === name);
    if (!ep?.stats) return;
    const s = ep.stats;
    const at = snapshot.time ? timestampDate(snapshot.time).getTime() / 1000 : Date.now() / 1000;
    const errorsPerSecond = s.calls > 0n ? (s.callsPerSecond * Number(s.errors)) / Number(s.calls) : 0;
    setLatest(ep);
    setHistory((h) => [...h.slice(-(HISTORY - 1)), { at, callsPerSecond: s.callsPerSecond, errorsPerSecond, p50: s.p50LatencyMs ?? null, p95: s.p95LatencyMs ?? null }]);
  });
  return { status, latest, history };
}

export const ms = (v: number | undefined) => (v === undefined ? "—" : `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms`);
export const rate = (v: number) => (v === 0 ? "0" : v < 10 ? v.toFixed(2) : v.toFixed(1));
export const percent = (v: number | undefined) => (v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);

export function EndpointLive({ name }: { name: string }) {
  const described = useQuery(EndpointService.method.getEndpoint, { name });
  const { status, latest, history } = useLiveStats(name);
  const x = useMemo(() => history.map((p) => p.at), [history]);
  const trafficSeries = useMemo(
    () => [
      { label: "calls/s", values: history.map((p) => p.callsPerSecond) },
      { label: "errors/s", values: history.map((p) => p.errorsPerSecond) },
    ],
    [history],
  );
  const latencySeries = useMemo(
    () => [
      { label: "p50 latency", values: history.map((p) => p.p50) },
      { label: "p95 latency", values: history.map((p) => p.p95) },
    ],
    [history],
  );
  const endpoint = described.data?.endpoint;
  const stats = latest?.stats;
  return (
    <section aria-labelledby="live-title" className="live">
      <p>
        <a href="#/endpoints">← All endpoints</a>
      </p>
      <div className="row spread">
        <h1 id="live-title">{name}</h1>
        <p className="status" role="status" data-status={status.kind}>
          <span className={status.kind === "live" ? "dot ok" : "dot bad"} aria-hidden="true" />
          {status.kind === "live" && `Live: updated every second, figures over the last ${WINDOW_SECONDS} s`}
          {status.kind === "connecting" && "Connecting…"}
          {status.kind === "paused" && "Paused while this tab is hidden"}
          {status.kind === "retrying" && `Disconnected (${status.error}); reconnecting in ${status.inSeconds} s`}
        </p>
      </div>
      {status.kind === "refused" && (
        <p role="alert" className="error">
          {status.error}
        </p>
      )}
      {endpoint && (
        <p className="muted">
          <code>{endpoint.endpointType}</code> · {endpoint.targets.length} target{endpoint.targets.length === 1 ? "" : "s"}
          {endpoint.routingStrategy && ` · ${endpoint.routingStrategy.replace("_", " ")}`}
        </p>
      )}
      {stats && <Figures stats={stats} />}
      {history.length > 0 && (
        <div className="charts">
          <Chart
            title="Calls and errors per second"
            summary={`last ${history.length} seconds; now ${rate(stats?.callsPerSecond ?? 0)} calls/s`}
            x={x}
            series={trafficSeries}
            leftLabel="per second"
            height={200}
            xTicks="seconds"
            testId="live-traffic-chart"
          />
          <Chart
            title="Latency (ms)"
            summary={`p50 and p95 over the last ${history.length} seconds; now p50 ${ms(stats?.p50LatencyMs)}, p95 ${ms(stats?.p95LatencyMs)}`}
            x={x}
            series={latencySeries}
            leftLabel="ms"
            height={200}
            xTicks="seconds"
            testId="live-latency-chart"
          />
        </div>
      )}
      {latest && latest.targets.length > 0 && <Targets targets={latest.targets} />}
    </section>
  );
}

function Figures({ stats }: { stats: LiveStats }) {
  const items: [string, string, string][] = [
    ["Calls/s", rate(stats.callsPerSecond), "live-calls-per-second"],
    ["Error rate", percent(stats.errorRate), "live-error-rate"],
    ["p50 latency", ms(stats.p50LatencyMs), "live-p50"],
    ["p95 latency", ms(stats.p95LatencyMs), "live-p95"],
    ["p50 time to first token", ms(stats.p50TtftMs), "live-ttft"],
    ["Tokens/s", rate(stats.tokensPerSecond), "live-tokens-per-second"],
    ["Open streams", String(stats.activeStreams), "live-streams"],
    [`Calls (last ${WINDOW_SECONDS} s)`, String(stats.calls), "live-calls"],
    ["Calls since start", String(stats.totalCalls), "live-total"],
  ];
  return (
    <dl className="figures">
      {items.map(([label, value, id]) => (
        <div key={id}>
          <dt>{label}</dt>
          <dd data-testid={id}>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function Targets({ targets }: { targets: EndpointStats["targets"] }) {
  return (
    <div className="scroll" tabIndex={0} role="region" aria-label="Per target figures">
      <table className="keys live-targets">
        <caption>Per target (calls each target answered)</caption>
        <thead>
          <tr>
            <th scope="col">Target</th>
            <th scope="col">Calls/s</th>
            <th scope="col">Error rate</th>
            <th scope="col">p50</th>
            <th scope="col">p95</th>
            <th scope="col">p50 TTFT</th>
            <th scope="col">Tokens/s</th>
            <th scope="col">Open streams</th>
            <th scope="col">Calls since start</th>
          </tr>
        </thead>
        <tbody>
          {targets.map((t) => (
            <tr key={t.target} data-target={t.target}>
              <th scope="row">{t.target}</th>
              <td>{rate(t.stats?.callsPerSecond ?? 0)}</td>
              <td>{percent(t.stats?.errorRate)}</td>
              <td>{ms(t.stats?.p50LatencyMs)}</td>
              <td>{ms(t.stats?.p95LatencyMs)}</td>
              <td>{ms(t.stats?.p50TtftMs)}</td>
              <td>{rate(t.stats?.tokensPerSecond ?? 0)}</td>
              <td>{t.stats?.activeStreams ?? 0}</td>
              <td data-testid="target-total">{String(t.stats?.totalCalls ?? 0n)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
