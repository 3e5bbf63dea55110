// What the SQLite store's two worker threads (writes.ts, reads.ts) share: how an error crosses
// from the worker as plain data and is rebuilt with SQLite's fields, and a timer that does not
// keep the process alive.

/** An error as a worker describes it: structured clone keeps data, not an Error's own fields. */
export interface WorkerError<Phase extends string = string> {
  phase: Phase;
  message: string;
  code?: unknown;
  errcode?: unknown;
  errstr?: unknown;
}

/** The worker side of WorkerError, as source for the eval'd workers: `describe(err, phase)`. */
export const describeErrorSource = `
function describe(err, phase) {
  const e = typeof err === "object" && err !== null ? err : {};
  return { phase, message: typeof e.message === "string" ? e.message : String(err), code: e.code, errcode: e.errcode, errstr: e.errstr };
}
`;

/**
 * An SQLite error as node:sqlite throws it (message, code, errcode, errstr), from the worker's
 * description: isBusy, isContentError and the rest classify it as if it had been thrown here.
 */
export function rebuildSqliteError(e: WorkerError): Error {
  return Object.assign(new Error(e.message), {
    ...(typeof e.code === "string" && { code: e.code }),
    ...(typeof e.errcode === "number" && { errcode: e.errcode }),
    ...(typeof e.errstr === "string" && { errstr: e.errstr }),
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
