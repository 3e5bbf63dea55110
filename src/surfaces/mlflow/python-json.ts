// Request bodies read as Python's `json.loads` reads them (what FastAPI, and so MLflow's gateway,
// uses): JSON.parse first (fast); when it refuses, a small parser that follows CPython's
// json.decoder finds the first problem with Python's message and position (FastAPI's
// `json_invalid` error carries both), and accepts what Python accepts beyond JSON (NaN, Infinity,
// -Infinity).

export class PythonJsonError extends Error {
  constructor(
    readonly msg: string,
    readonly pos: number,
  ) {
    super(`${msg}: char ${pos}`);
    this.name = "PythonJsonError";
  }
}

/** Parses `text` as Python's json.loads does, or throws PythonJsonError (message and char index). */
export function loadsLikePython(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return new Parser(text).document();
  }
}

const ws = /[ \t\n\r]*/y;
const number = /(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?/y;

/** Thrown instead of recursing without bound on a deeply nested, malformed body. */
export class PythonJsonDepthError extends RangeError {}

const maxDepth = 256;

/** The one-character escapes JSON has, and what they stand for (made once, not per escape). */
const simpleEscapes: Readonly<Record<string, string | undefined>> = Object.assign(Object.create(null) as Record<string, string>, {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
});

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly s: string) {}

  document(): unknown {
    this.skip();
    const value = this.value();
    this.skip();
    if (this.i !== this.s.length) throw new PythonJsonError("Extra data", this.pos(this.i));
    return value;
  }

  /** Python counts characters (code points); JS strings count UTF-16 units. */
  private pos(i: number): number {
    let n = 0;
    for (let k = 0; k < i; k++) {
      const c = this.s.charCodeAt(k);
      if (c >= 0xd800 && c <= 0xdbff && k + 1 < i) {
        const d = this.s.charCodeAt(k + 1);
        if (d >= 0xdc00 && d <= 0xdfff) k++;
      }
      n++;
    }
    return n;
  }

  private skip(): void {
    ws.lastIndex = this.i;
    ws.exec(this.s);
    this.i = ws.lastIndex;
  }

  private value(): unknown {
    const s = this.s;
    const c = s[this.i];
    if (c === '"') return this.string();
    if (c === "{" || c === "[") {
      if (++this.depth > maxDepth) throw new PythonJsonDepthError(`the request body nests deeper than ${maxDepth} levels`);
      const v = c === "{" ? this.object() : this.array();
      this.depth--;
      return v;
    }
    for (const [word, v] of [
      ["null", null],
      ["true", true],
      ["false", false],
      ["NaN", NaN],
      ["Infinity", Infinity],
      ["-Infinity", -Infinity],
    ] as const) {
      if (s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    number.lastIndex = this.i;
    const m = number.exec(s);
    if (m) {
      this.i = number.lastIndex;
      return Number(m[0]);
    }
    throw new PythonJsonError("Expecting value", this.pos(this.i));
  }

  private string(): string {
    const s = this.s;
    const start = this.i;
    let i = start + 1;
    let out = "";
    for (;;) {
      if (i >= s.length) throw new PythonJsonError("Unterminated string starting at", this.pos(start));
      const c = s[i]!;
      if (c === '"') {
        this.i = i + 1;
        return out;
      }
      if (c === "\\") {
        const e = s[i + 1];
        if (e === undefined) throw new PythonJsonError("Unterminated string starting at", this.pos(start));
        const simple = simpleEscapes[e];
        if (simple !== undefined) {
          out += simple;
          i += 2;
          continue;
        }
        if (e === "u") {
          const hex = s.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new PythonJsonError("Invalid \\uXXXX escape", this.pos(i + 1));
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
          continue;
        }
        throw new PythonJsonError("Invalid \\escape", this.pos(i));
      }
      if (c < " ") throw new PythonJsonError("Invalid control character at", this.pos(i));
      out += c;
      i++;
    }
  }

  private object(): Record<string, unknown> {
    const s = this.s;
    const out: Record<string, unknown> = {};
    this.i++;
    this.skip();
    if (s[this.i] === "}") {
      this.i++;
      return out;
    }
    for (;;) {
      if (s[this.i] !== '"') throw new PythonJsonError("Expecting property name enclosed in double quotes", this.pos(this.i));
      const key = this.string();
      this.skip();
      if (s[this.i] !== ":") throw new PythonJsonError("Expecting ':' delimiter", this.pos(this.i));
      this.i++;
      this.skip();
      out[key] = this.value();
      this.skip();
      const c = s[this.i];
      this.i++;
      if (c === "}") return out;
      if (c !== ",") throw new PythonJsonError("Expecting ',' delimiter", this.pos(this.i - 1));
      this.skip();
    }
  }

  private array(): unknown[] {
    const s = this.s;
    const out: unknown[] = [];
    this.i++;
    this.skip();
    if (s[this.i] === "]") {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.skip();
      const c = s[this.i];
      this.i++;
      if (c === "]") return out;
      if (c !== ",") throw new PythonJsonError("Expecting ',' delimiter", this.pos(this.i - 1));
      this.skip();
    }
  }
}
