// Issue 8, item 16: the repository names no package-mirror host. Installs go through each
// client's configured registry (npm, pip, go, apt as the machine is set up), and the test set-up
// derives Debian's archive from the machine's own apt sources.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

// Spelled in pieces so this file does not name them either.
const hosts = [
  ["deb", "debian", "org"],
  ["security", "debian", "org"],
  ["archive", "ubuntu", "com"],
  ["files", "pythonhosted", "org"],
  ["pypi", "org/simple"],
  ["registry", "npmjs", "org"],
  ["registry", "yarnpkg", "com"],
  ["proxy", "golang", "org"],
  ["repo1", "maven", "org"],
  ["repo", "maven", "apache", "org"],
].map((parts) => parts.join("."));

describe("package-mirror hosts", () => {
  it("appear in no tracked file", () => {
    const files = execFileSync("git", ["ls-files", "-z"], { encoding: "utf8" }).split("\0").filter(Boolean);
    const found: string[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch {
        continue; // deleted in the work tree
      }
      for (const host of hosts) if (text.includes(host)) found.push(`${file}: ${host}`);
    }
    expect(found).toEqual([]);
  });
});
