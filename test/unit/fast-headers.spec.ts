// FastHeaders against Node's own Headers: the same operations, the same answers (differential),
// and the same refusals for what Headers refuses.
import { describe, expect, it } from "vitest";
import { FastHeaders } from "../../src/server/fast-headers";

type Op = [op: "append" | "set" | "delete", name: string, value?: string];

/** Everything a reader can see of a Headers. */
function view(h: Headers) {
  const names = ["x-request-id", "X-Request-Id", "content-type", "set-cookie", "ratelimit", "x-a", "absent"];
  const each: [string, string][] = [];
  h.forEach((v, k) => each.push([k, v]));
  return {
    entries: [...h.entries()],
    iterated: [...h],
    keys: [...h.keys()],
    values: [...h.values()],
    each,
    got: names.map((n) => h.get(n)),
    has: names.map((n) => h.has(n)),
    cookies: h.getSetCookie(),
  };
}

const byName = (a: [string, string], b: [string, string]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);

describe("FastHeaders", () => {
  it("answers as Headers does after the same operations", () => {
    const scripts: Op[][] = [
      [["set", "X-Request-Id", "abc"], ["set", "content-type", "application/json"], ["append", "x-a", "1"], ["append", "X-A", "2"]],
      [["append", "set-cookie", "a=1"], ["append", "Set-Cookie", "b=2"], ["set", "ratelimit", "limit=5, remaining=4, reset=60"]],
      [["set", "x-a", "  padded\t"], ["set", "x-a", "again"], ["delete", "X-A"], ["append", "zz", ""], ["append", "aa", "é"]],
      [["append", "set-cookie", "a=1"], ["delete", "set-cookie"], ["set", "set-cookie", "c=3"], ["append", "x-request-id", "1"], ["append", "x-request-id", "2"]],
    ];
    for (const script of scripts) {
      const ours = new FastHeaders();
      const theirs = new Headers();
      for (const [op, name, value] of script) {
        if (op === "delete") {
          ours.delete(name);
          theirs.delete(name);
        } else {
          ours[op](name, value!);
          theirs[op](name, value!);
        }
      }
      expect(view(ours), JSON.stringify(script)).toEqual(view(theirs));
      // forEachUnordered: what forEach gives, in the order names were first set.
      const unordered: [string, string][] = [];
      ours.forEachUnordered((v, k) => unordered.push([k, v]));
      expect([...unordered].sort(byName), JSON.stringify(script)).toEqual(view(theirs).each.sort(byName));
    }
  });

  it("forEachUnordered goes in the order names were first set", () => {
    const h = new FastHeaders();
    h.set("x-request-id", "r1");
    h.append("set-cookie", "a=1");
    h.set("content-type", "text/plain");
    h.append("set-cookie", "b=2");
    h.append("x-request-id", "r2");
    const seen: string[] = [];
    h.forEachUnordered((v, k) => seen.push(`${k}: ${v}`));
    expect(seen).toEqual(["x-request-id: r1, r2", "set-cookie: a=1", "set-cookie: b=2", "content-type: text/plain"]);
  });

  it("is made from what Headers is made from: a record, pairs, a Headers, a FastHeaders", () => {
    const record = { "X-Request-Id": "r1", "content-type": " text/plain " };
    const pairs: [string, string][] = [["x-a", "1"], ["X-A", "2"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]];
    expect(view(new FastHeaders(record))).toEqual(view(new Headers(record)));
    expect(view(new FastHeaders(pairs))).toEqual(view(new Headers(pairs)));
    expect(view(new FastHeaders(new Headers(pairs)))).toEqual(view(new Headers(pairs)));
    expect(view(new FastHeaders(new FastHeaders(pairs)))).toEqual(view(new Headers(pairs)));
    expect(Object.prototype.toString.call(new FastHeaders())).toBe("[object Headers]");
  });

  it("takes Node's parsed request headers as they are (pseudo-headers left out), answering as Headers built from them", () => {
    const incoming = {
      ":path": "/modelgate.v1.ChatService/Chat",
      ":method": "POST",
      "content-type": "application/json",
      authorization: "Bearer mg-0123",
      "x-request-id": "abc",
      "set-cookie": ["a=1", "b=2"],
      accept: "a, b",
      absent: undefined,
    };
    const theirs = new Headers();
    for (const [k, v] of Object.entries(incoming)) {
      if (k.startsWith(":") || v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) theirs.append(k, one);
    }
    expect(view(FastHeaders.fromIncoming(incoming))).toEqual(view(theirs));
  });

  it("refuses the names and values Headers refuses, with a TypeError", () => {
    const bad: [string, string][] = [
      ["bad name", "v"],
      ["", "v"],
      ["x:y", "v"],
      ["x-ok", "line\r\nx-injected: 1"],
      ["x-ok", "nul\0"],
      ["x-ok", "new\nline"],
      ["x-ok", "模型"],
    ];
    for (const [name, value] of bad) {
      expect(() => new Headers().set(name, value), `${name}=${value}`).toThrow(TypeError);
      expect(() => new FastHeaders().set(name, value), `${name}=${value}`).toThrow(TypeError);
      expect(() => new FastHeaders().append(name, value)).toThrow(TypeError);
      expect(() => new FastHeaders([[name, value]])).toThrow(TypeError);
    }
    expect(() => new FastHeaders([["only-a-name"]] as unknown as [string, string][])).toThrow(TypeError);
  });
});
