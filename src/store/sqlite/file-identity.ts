// Whether the database file this process opened is still the one at its path. Deleting it (or
// replacing it: a restore copied over, `mv` of another file) while the gateway runs raises no
// error: SQLite keeps writing keys and ledger rows into the open, now nameless file, and they are
// gone when the process stops. The store compares the path's device and inode with those it
// opened, so the gateway can say so (log, metric) while the rows can still be saved.
import { statSync } from "node:fs";
import { stat } from "node:fs/promises";

export interface FileIdentity {
  dev: number;
  ino: number;
}

/** The file's identity when it is opened (sync: once, at start-up, beside the open itself). */
export function identityOf(path: string): FileIdentity {
  const { dev, ino } = statSync(path);
  return { dev, ino };
}

/** What is wrong with the path now, or undefined while it is still the file opened. */
export async function fileProblem(path: string, opened: FileIdentity): Promise<string | undefined> {
  try {
    const now = await stat(path);
    if (now.dev === opened.dev && now.ino === opened.ino) return undefined;
    return `${path} was replaced by another file while open`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return `${path} was deleted while open`;
    return `${path} cannot be checked: ${(err as Error).message}`;
  }
}
