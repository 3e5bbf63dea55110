// One StatsService.WatchStats server stream for as long as a view is mounted and the tab is
// visible (a hidden tab closes it and reopens it when shown again): each snapshot is handed to
// the view; a broken stream is reopened after a growing pause (1 s, 2 s, … 30 s); a refusal (no
// access, unknown endpoint, bad request, signed out) is reported and not retried.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { useTransport } from "@connectrpc/connect-query";
import { useEffect, useRef, useState } from "react";
import { StatsService, type WatchStatsResponse } from "../../gen/modelgate/v1/stats_pb";
import { describeError } from "./transport";

export type StreamStatus =
  | { kind: "connecting" }
  | { kind: "paused" }
  | { kind: "live" }
  | { kind: "retrying"; error: string; inSeconds: number }
  | { kind: "refused"; error: string; code: Code };

/** Whether the page is visible (document.visibilityState), following its changes. */
function useVisible(): boolean {
  const [visible, setVisible] = useState(() => document.visibilityState !== "hidden");
  useEffect(() => {
    const onChange = () => setVisible(document.visibilityState !== "hidden");
    document.addEventListener("visibilitychange", onChange);
    return () => document.removeEventListener("visibilitychange", onChange);
  }, []);
  return visible;
}

const finalCodes = new Set([Code.PermissionDenied, Code.NotFound, Code.InvalidArgument, Code.Unauthenticated]);

/**
 * Watches `endpoints` (empty: every endpoint the caller may call), a snapshot every `intervalMs`
 * over the last `windowSeconds`; `onSnapshot` gets each one.
 */
export function useStatsStream(endpoints: readonly string[], intervalMs: number, windowSeconds: number, onSnapshot: (s: WatchStatsResponse) => void): StreamStatus {
  const transport = useTransport();
  const [status, setStatus] = useState<StreamStatus>({ kind: "connecting" });
  const handler = useRef(onSnapshot);
  handler.current = onSnapshot;
  const names = endpoints.join("\n");
  const visible = useVisible();
  useEffect(() => {
    if (!visible) {
      setStatus({ kind: "paused" });
      return;
    }
    const controller = new AbortController();
    const client = createClient(StatsService, transport);
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        controller.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    setStatus({ kind: "connecting" });
    void (async () => {
      let retryMs = 1_000;
      while (!controller.signal.aborted) {
        let error = "the gateway ended the stream";
        try {
          const request = { endpoints: names === "" ? [] : names.split("\n"), intervalMs, windowSeconds };
          for await (const snapshot of client.watchStats(request, { signal: controller.signal })) {
            retryMs = 1_000;
            setStatus((s) => (s.kind === "live" ? s : { kind: "live" }));
            handler.current(snapshot);
          }
        } catch (err) {
          if (controller.signal.aborted) return;
          const e = ConnectError.from(err);
          if (finalCodes.has(e.code)) {
            setStatus({ kind: "refused", error: describeError(e), code: e.code });
            return;
          }
          error = describeError(e);
        }
        if (controller.signal.aborted) return;
        setStatus({ kind: "retrying", error, inSeconds: Math.round(retryMs / 1000) });
        await pause(retryMs);
        retryMs = Math.min(retryMs * 2, 30_000);
      }
    })();
    return () => controller.abort();
  }, [transport, names, intervalMs, windowSeconds, visible]);
  return status;
}
