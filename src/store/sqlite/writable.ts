// Start-up check that this process can write everything SQLite writes: the database file, its
// -wal and -shm files (WAL mode) and their directory (where SQLite creates and deletes the -wal
// and -shm). A file this process cannot write (left by another user: the gateway once run as
// root, a `modelgate keys` run by someone else; a read-only mount; an immutable file) otherwise
// shows up later, and worse: SQLite opens a -shm it cannot write read-only and every write then
// fails with "attempt to write a readonly database", so the ledger queue fills and calls are
// refused. Refused here instead, naming the file and what to do.
//
// access(2) rather than open(2): opening and closing a database file from this process would
// drop the POSIX locks another connection in this process holds on it (that is how a -shm gets
// truncated under a live mapping: SIGBUS). access() answers for root too: root may write a 0444
// file (and SQLite, as root, does), while a read-only mount (EROFS) or an immutable file (EPERM)
// are refused to root as well.
import { accessSync, constants, statSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, resolve } from "node:path";

export function checkSqliteWritable(path: string): void {
  const file = resolve(path);
  const dir = dirname(file);
  if (isDirectory(file)) throw new Error(`sqlite store: ${file} is a directory, not a database file`);
  for (const candidate of [file, `${file}-wal`, `${file}-shm`]) {
    const code = accessCode(candidate, constants.R_OK | constants.W_OK);
    if (code === undefined || code === "ENOENT") continue;
    throw new Error(refusal(candidate, code, dir));
  }
  const code = accessCode(dir, constants.W_OK | constants.X_OK);
  if (code !== undefined) throw new Error(refusal(dir, code, dir));
}

function accessCode(path: string, mode: number): string | undefined {
  try {
    accessSync(path, mode);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? "EACCES";
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function refusal(path: string, code: string, dir: string): string {
  const who = currentUser();
  const what = path === dir ? "the database's directory" : path.endsWith("-shm") || path.endsWith("-wal") ? "a file of the database" : "the database file";
  let fix: string;
  if (code === "EROFS") {
    fix = "it is on a read-only file system: put the database on a writable one (store.database_url)";
  } else if (code === "EPERM") {
    fix = `it is marked immutable or append-only: lsattr ${path}; chattr -i ${path}`;
  } else {
    fix =
      `give ${who} write access (e.g. chown ${who.name} ${path}, or chmod u+w ${path}), or run modelgate as its owner. ` +
      "The database file, its -wal and -shm files and its directory must all be writable";
    if (path.endsWith("-shm")) fix += `; a stale -shm may also be deleted while no process has the database open`;
  }
  return `sqlite store: cannot write ${what} ${path} (${code}): ${fix}.`;
}

function currentUser(): { name: string; toString(): string } {
  let name = String(process.getuid?.() ?? "this user");
  try {
    name = userInfo().username;
  } catch {
    // a uid without a passwd entry (containers): the number it is
  }
  const uid = process.getuid?.();
  return { name, toString: () => (uid === undefined ? name : `user ${name} (uid ${uid})`) };
}
