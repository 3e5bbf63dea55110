// Endpoints: every endpoint from EndpointService.ListEndpoints with its type, model or targets,
// rate limit, and per target the breaker, canary standing, outlier ejection and latency EWMA.
// A "Last 10 s" column shows each endpoint's live figures (one StatsService.WatchStats stream for
// the whole list, every 2 s); each name opens the endpoint's live view (#/endpoints/<name>).
import { useQuery } from "@connectrpc/connect-query";
import { useEffect, useState } from "react";
import {
  EndpointService,
  EndpointTarget_BreakerState,
  EndpointTarget_CanaryStanding,
  type Endpoint,
  type EndpointTarget,
} from "../../gen/modelgate/v1/endpoint_pb";
import type { LiveStats } from "../../gen/modelgate/v1/stats_pb";
import { EndpointLive, ms, percent, rate } from "./EndpointLive";
import { useStatsStream } from "./live";
import { describeError } from "./transport";

const breakerLabel: Record<EndpointTarget_BreakerState, string> = {
  [EndpointTarget_BreakerState.UNSPECIFIED]: "—",
  [EndpointTarget_BreakerState.CLOSED]: "closed",
  [EndpointTarget_BreakerState.HALF_OPEN]: "half-open",
  [EndpointTarget_BreakerState.OPEN]: "open",
};
const canaryLabel: Record<EndpointTarget_CanaryStanding, string> = {
  [EndpointTarget_CanaryStanding.UNSPECIFIED]: "—",
  [EndpointTarget_CanaryStanding.NOT_CANARY]: "—",
  [EndpointTarget_CanaryStanding.RUNNING]: "canary running",
  [EndpointTarget_CanaryStanding.PROMOTED]: "canary promoted",
  [EndpointTarget_CanaryStanding.ROLLED_BACK]: "canary rolled back",
};

/** The endpoint named in the hash (#/endpoints/<name>), if any. */
function detailFromHash(): string | undefined {
  const match = /^#\/?endpoints\/(.+)$/.exec(window.location.hash);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

export function Endpoints() {
  const [detail, setDetail] = useState(detailFromHash);
  useEffect(() => {
    const onHash = () => setDetail(detailFromHash());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  return detail === undefined ? <EndpointList /> : <EndpointLive key={detail} name={detail} />;
}

function EndpointList() {
  const query = useQuery(EndpointService.method.listEndpoints, {});
  const [live, setLive] = useState<ReadonlyMap<string, LiveStats>>(() => new Map());
  const liveStatus = useStatsStream([], 2_000, 10, (snapshot) =>
    setLive(new Map(snapshot.endpoints.flatMap((e) => (e.stats ? [[e.endpoint, e.stats] as const] : [])))),
  );
  // A key that may watch nothing (or a gateway that refuses) shows the table without the column.
  const showLive = liveStatus.kind !== "refused";
  return (
    <section aria-labelledby="endpoints-title">
      <div className="row spread">
        <h1 id="endpoints-title">Endpoints</h1>
        <button type="button" onClick={() => void query.refetch()} disabled={query.isFetching}>
          Refresh
        </button>
      </div>
      {query.isPending && <p aria-live="polite">Loading endpoints…</p>}
      {query.error && (
        <p role="alert" className="error">
          {describeError(query.error)}
        </p>
      )}
      {query.data && query.data.endpoints.length === 0 && <p>This gateway has no endpoints configured.</p>}
      {query.data && query.data.endpoints.length > 0 && (
        <div className="scroll">
          <table className="endpoints">
            <caption className="sr-only">Configured endpoints and the state of their targets</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">Rate limit</th>
                <th scope="col">Targets</th>
                {showLive && <th scope="col">Last 10 s</th>}
              </tr>
            </thead>
            <tbody>
              {query.data.endpoints.map((e) => (
                <EndpointRow key={e.name} endpoint={e} live={showLive ? (live.get(e.name) ?? null) : undefined} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** `live`: the endpoint's figures, null before the first snapshot, undefined when the column is not shown. */
function EndpointRow({ endpoint, live }: { endpoint: Endpoint; live: LiveStats | null | undefined }) {
  return (
    <tr data-endpoint={endpoint.name}>
      <th scope="row">
        <a href={`#/endpoints/${encodeURIComponent(endpoint.name)}`} aria-label={`${endpoint.name} (live stats)`}>
          {endpoint.name}
        </a>
      </th>
      <td>
        <code>{endpoint.endpointType}</code>
      </td>
      <td>{endpoint.limit ? `${endpoint.limit.calls} / ${endpoint.limit.renewalPeriod}` : "none"}</td>
      <td>
        {endpoint.targets.length === 0 ? (
          <span>
            {endpoint.provider} · {endpoint.model}
          </span>
        ) : (
          <>
            {endpoint.routingStrategy && <span className="muted">{endpoint.routingStrategy.replace("_", " ")}</span>}
            <ul className="targets">
              {endpoint.targets.map((t) => (
                <li key={t.name}>
                  <TargetLine target={t} />
                </li>
              ))}
            </ul>
          </>
        )}
      </td>
      {live !== undefined && (
        <td data-testid="endpoint-live">
          {live === null ? (
            "—"
          ) : (
            <span>
              {rate(live.callsPerSecond)} calls/s · p95 {ms(live.p95LatencyMs)} · {percent(live.errorRate)} errors
              {live.activeStreams > 0 && ` · ${live.activeStreams} open stream${live.activeStreams === 1 ? "" : "s"}`}
            </span>
          )}
        </td>
      )}
    </tr>
  );
}

function TargetLine({ target }: { target: EndpointTarget }) {
  const states: string[] = [];
  if (target.weight !== undefined) states.push(target.weight > 0 ? `weight ${target.weight}` : "fallback only");
  states.push(`breaker ${breakerLabel[target.breaker]}`);
  const canary = canaryLabel[target.canary];
  if (canary !== "—") states.push(canary);
  if (target.outlier?.ejected) states.push("ejected (outlier)");
  if (target.latencyMs > 0) states.push(`${target.latencyMs.toFixed(0)} ms`);
  const healthy = target.breaker !== EndpointTarget_BreakerState.OPEN && !target.outlier?.ejected;
  return (
    <span>
      <span className={healthy ? "dot ok" : "dot bad"} aria-hidden="true" />
      <strong>{target.name}</strong> {target.provider} · {target.model}{" "}
      <span className="muted">({states.join(", ")})</span>
      <span className="sr-only">{healthy ? ", healthy" : ", unhealthy"}</span>
    </span>
  );
}
