// A SQLite store's file deleted or replaced under a running gateway: SQLite raises no error (it
// writes on into the open, nameless file, lost at stop), so the gateway says so itself: one
// error log line naming the file and the fix, and modelgate_store_problem 1; back to 0 (and an
// info line) once the file opened is at its path again. Calls are served throughout.
import { linkSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { clientFor } from "./clients";
import { eventually, startGateway, type TestGateway } from "./harness";

const dir = mkdtempSync(join(tmpdir(), "modelgate-store-watch-"));
const db = join(dir, "modelgate.db");
let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway(`
store: { database_url: "sqlite:${db}", key_refresh_ms: 50 }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
`);
});
afterAll(async () => {
  await gw.close();
  rmSync(dir, { recursive: true, force: true });
});

const problemGauge = async () => /\nmodelgate_store_problem (\d)\n/.exec(await (await fetch(`${gw.url}/metrics`)).text())?.[1];
const errorLines = () => gw.logs.filter((l) => l.level === 50 && typeof l.msg === "string" && l.msg.startsWith("sqlite store: "));
const hi = () => clientFor(ChatService, "grpc", gw.url).chat({ endpoint: "chat", messages: [{ role: "user", content: "hi" }] });

describe("the SQLite file under a running gateway", () => {
  it("deleted: one error line naming it and the fix, the gauge at 1; put back: the gauge at 0; calls served all along", async () => {
    expect(await problemGauge()).toBe("0");
    const kept = join(dir, "kept.db");
    linkSync(db, kept); // a second name for the same file, to put it back with
    unlinkSync(db);
    await eventually(() => errorLines().length === 1, 10_000);
    expect(errorLines()[0]!.msg).toBe(
      `sqlite store: ${db} was deleted while open: keys and usage written since go to the file this process still has open ` +
        "(or wait in memory, if its write worker has to open it again), and are lost when it stops; " +
        "put the file back (or stop the gateway to start afresh)",
    );
    expect(await problemGauge()).toBe("1");
    expect((await hi()).choices[0]?.message?.content).toBe("echo: hi");
    // Polls go on; the line is not repeated.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(errorLines()).toHaveLength(1);
    linkSync(kept, db);
    await eventually(() => gw.logs.some((l) => l.msg === "store: its storage is sound again"), 10_000);
    expect(await problemGauge()).toBe("0");
  });

  it("replaced by another file: says so", async () => {
    const other = join(dir, "other.db");
    writeFileSync(other, "");
    const kept = join(dir, "kept2.db");
    linkSync(db, kept);
    renameSync(other, db);
    await eventually(() => errorLines().some((l) => String(l.msg).startsWith(`sqlite store: ${db} was replaced by another file while open`)), 10_000);
    expect(await problemGauge()).toBe("1");
    renameSync(kept, db);
    await expect.poll(problemGauge, { timeout: 10_000, interval: 50 }).toBe("0");
    expect((await hi()).choices[0]?.message?.content).toBe("echo: hi");
  });
});
